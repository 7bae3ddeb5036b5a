"""Measuring a generator: FID with its real-vs-real floor, a classifier score, and memorisation.

The Inception network behind the usual FID and Inception Score was trained on photographs and
needs the internet to download; for 28x28 digits and clothes we use a small CNN trained on the
same dataset instead (a *domain classifier*, :mod:`aigc_course.classifier`, whose
:func:`get_classifier` and :func:`features` are also importable from here). Its penultimate
layer gives the features for the Fréchet distance, its softmax the class probabilities for the
classifier score. Numbers from this classifier are comparable with each other, not with FID
values published for ImageNet.

A score on its own says little, so :func:`evaluate_generator` always reports the same metric for
two sets of *real* images (the floor a perfect generator would reach at that sample size).

Why not the losses? The article's training loop "evaluates" its GAN by passing a single
argument, ``log D(x)``, to ``BinaryAccuracy.update_state``, which needs labels *and*
predictions (and its loss objects have no ``update_state`` at all). Even done right, GAN
losses and the discriminator's accuracy describe a two-player game that is meant to stay
balanced, not how good or varied the samples are; the metrics here do.
"""

from __future__ import annotations

import warnings

import numpy as np

from aigc_course.classifier import (
    _as_model_input,
    _check_shape,
    _features_and_probs,
    features,
    get_classifier,
)
from aigc_course.errors import ConfigError
from aigc_course.inference import latent_dim_of, latent_noise, run_batched
from aigc_course.validate import integer


def _as_unit_flat(images, what: str = "images") -> np.ndarray:
    """uint8 or [-1, 1] images (N, 28, 28[, 1]) -> float32 (N, 784) in [0, 1], the pixel space
    of the nearest-neighbour distances."""
    x = np.asarray(images)
    if x.dtype == np.uint8:  # exact, and skips the [-1, 1] detour
        _check_shape(x.shape, what)
        return x.reshape(len(x), -1).astype(np.float32) / 255.0
    return ((_as_model_input(x, what) + 1.0) / 2.0).reshape(len(x), -1)


def gaussian_frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet (2-Wasserstein squared) distance between N(mu1, sigma1) and N(mu2, sigma2).

    ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)``. Writing the cross term with
    the symmetric matrix ``S1^1/2 S2 S1^1/2`` (same eigenvalues as ``S1 S2``) lets us use
    ``eigh`` throughout: real eigenvalues, no complex round-off to discard.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = (
        np.atleast_2d(np.asarray(sigma1, np.float64)),
        np.atleast_2d(np.asarray(sigma2, np.float64)),
    )
    d = mu1.shape[-1] if mu1.ndim else 1
    if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(
            f"need two means of shape (D,) and two covariances of shape (D, D); got "
            f"{mu1.shape}, {s1.shape}, {mu2.shape}, {s2.shape}"
        )
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = root1 @ s2 @ root1
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    value = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * cross)
    return max(value, 0.0)  # round-off can leave -1e-12 for identical inputs


def frechet_distance(feats_a, feats_b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (rows are samples)."""
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(
            f"features must be 2-D (N, D) arrays with the same D, got {a.shape} and {b.shape}"
        )
    n = min(len(a), len(b))
    if n < 2:
        raise ValueError(f"need at least 2 samples per set to estimate a covariance, got {n}")
    if n <= a.shape[1]:
        warnings.warn(
            f"only {n} samples for {a.shape[1]}-dimensional features: the covariance is "
            f"singular and the distance is biased high; use at least {a.shape[1] + 1} "
            "(better ten times as many) images per set",
            stacklevel=2,
        )
    return gaussian_frechet_distance(
        a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    )


def fid(images_a, images_b, dataset: str = "mnist", *, classifier=None) -> float:
    """Fréchet Inception-style Distance between two image sets, in the classifier's features.

    Images are uint8 (N,28,28) or float in [-1,1] (N,28,28,1). Lower is better; compare it
    with the FID of two real sets of the same size (see :func:`evaluate_generator`), since
    the value shrinks with more images even for identical distributions.
    """
    fa = _features_and_probs(images_a, dataset, classifier, "images_a")[0]
    fb = _features_and_probs(images_b, dataset, classifier, "images_b")[0]
    return frechet_distance(fa, fb)


def classifier_score_from_probs(probs) -> float:
    """``exp(E_x KL(p(y|x) || p(y)))`` from rows of class probabilities.

    1 when every image gets the same prediction; the number of classes when predictions are
    confident and the classes are used equally. High means "clear and diverse".
    """
    p = np.asarray(probs, np.float64)
    if p.ndim != 2 or len(p) == 0:
        raise ValueError(f"probs must be a non-empty (N, classes) array, got shape {p.shape}")
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise ValueError("each row of probs must be a probability distribution (softmax output)")
    eps = 1e-12
    marginal = p.mean(axis=0)
    kl = np.sum(p * (np.log(p + eps) - np.log(marginal + eps)), axis=1)
    return float(np.exp(kl.mean()))


def classifier_score(images, dataset: str = "mnist", *, classifier=None) -> float:
    """Inception-Score-style classifier score of ``images`` (1 = worst, 10 = best for 10 classes)."""
    return classifier_score_from_probs(
        _features_and_probs(images, dataset, classifier, "images")[1]
    )


# --------------------------------------------------------------------------- memorisation


def nearest_neighbours(queries, train, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """For each query image, the L2 distance (pixels in [0,1]) to and index of its nearest
    training image. Works through both sets in blocks, so memory stays at a few MB."""
    q = _as_unit_flat(queries, "queries")
    t = np.asarray(train)
    if len(q) == 0 or len(t) == 0:
        raise ValueError("queries and train must each hold at least one image")
    best = np.full(len(q), np.inf, np.float32)
    index = np.zeros(len(q), np.int64)
    q_sq = np.sum(q * q, axis=1)
    for start in range(0, len(t), 4 * batch_size):
        block = _as_unit_flat(t[start : start + 4 * batch_size], "train")
        b_sq = np.sum(block * block, axis=1)
        for i in range(0, len(q), batch_size):
            d2 = (
                q_sq[i : i + batch_size, None] + b_sq[None, :] - 2 * q[i : i + batch_size] @ block.T
            )
            j = d2.argmin(axis=1)
            d = d2[np.arange(len(j)), j]
            better = d < best[i : i + batch_size]
            best[i : i + batch_size][better] = d[better]
            index[i : i + batch_size][better] = start + j[better]
    # the matrix trick loses digits (a copy comes out at ~1e-3); recompute the winners exactly
    nearest = _as_unit_flat(t[index], "train").astype(np.float64)
    return np.linalg.norm(q.astype(np.float64) - nearest, axis=1), index


def nearest_neighbour_distance(generated, train) -> float:
    """Mean distance from each generated image to its closest training image (pixels in [0,1]).

    Near 0 means the generator copies its training data. Compare it with the same number for
    held-out real images (``evaluate_generator`` reports both): real digits are not copies of
    the training set either, so that is what "new but realistic" looks like.
    """
    return float(nearest_neighbours(generated, train)[0].mean())


# --------------------------------------------------------------------------- everything at once


def split_real(images: np.ndarray, n: int, seed: int | np.random.Generator = 0):
    """Two disjoint random sets of ``n`` of the uint8 ``images`` (each in data-set order).

    FID is biased by the sample size, so a score means little alone: compare it with the
    *floor*, the FID between these two real sets, what a perfect generator would score.
    """
    images = np.asarray(images)
    n = integer("n", n, minimum=2)  # two images at least, to estimate a covariance
    if images.dtype != np.uint8 or images.ndim != 3 or len(images) < 2 * n:
        raise ConfigError(
            f"real images must be uint8 (N, 28, 28) with N >= 2 * n = {2 * n}, got "
            f"{images.dtype} {images.shape}; pass more images or a smaller n"
        )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    picks = rng.permutation(len(images))[: 2 * n]
    return images[np.sort(picks[:n])], images[np.sort(picks[n:])]


def _real_sets(dataset: str, n: int, rng: np.random.Generator):
    """(train, set A, set B, held-out test images, n), ``n`` shrunk if the data set is small."""
    from aigc_course.data import load_dataset

    train, _ = load_dataset(dataset, split="train", verbose=False)
    test, _ = load_dataset(dataset, split="test", verbose=False)
    if 2 * n > len(train):
        warnings.warn(
            f"{dataset} has {len(train)} training images, too few for two disjoint sets of "
            f"{n}: using n={len(train) // 2}",
            stacklevel=3,
        )
        n = len(train) // 2
    set_a, set_b = split_real(train, n, rng)
    held_out = test[np.sort(rng.permutation(len(test))[:n])]
    return train, set_a, set_b, held_out, n


def _scores(generated, dataset, real_sets, classifier, bar) -> dict[str, float]:
    train, set_a, set_b, held_out, n = real_sets
    f_gen, p_gen = _features_and_probs(generated, dataset, classifier, "generated images")
    f_a, _ = _features_and_probs(set_a, dataset, classifier, "training images")
    f_b, p_b = _features_and_probs(set_b, dataset, classifier, "training images")
    bar.update()
    nn_generated = nearest_neighbour_distance(generated, train)
    bar.update()
    nn_real = nearest_neighbour_distance(held_out, train)
    bar.update()
    return {
        "n": n,
        "fid": frechet_distance(f_gen, f_a),
        "fid_floor": frechet_distance(f_b, f_a),
        "classifier_score": classifier_score_from_probs(p_gen),
        "classifier_score_real": classifier_score_from_probs(p_b),
        "nn_distance": nn_generated,
        "nn_distance_real": nn_real,
    }


def evaluate_images(
    generated, dataset: str = "mnist", seed: int = 0, *, classifier=None, verbose: bool = True
) -> dict[str, float]:
    """Score generated images (uint8 or [-1, 1]) against ``dataset``, each score beside the
    value real data gets: the same dict as :func:`evaluate_generator`, with ``n`` the number of
    generated images. Any image family's evaluation (diffusion, VAE, ...) ends here."""
    from tqdm.auto import tqdm

    n = len(np.asarray(generated))
    classifier = classifier if classifier is not None else get_classifier(dataset, verbose=verbose)
    real_sets = _real_sets(dataset, n, np.random.default_rng(seed))
    generated = np.asarray(generated)[: real_sets[-1]]
    with tqdm(total=3, desc=f"evaluating on {dataset}", disable=not verbose, leave=False) as bar:
        return _scores(generated, dataset, real_sets, classifier, bar)


def evaluate_generator(
    generator,
    dataset: str = "mnist",
    n: int = 2000,
    latent_dim: int | None = None,
    seed: int = 0,
    *,
    classifier=None,
    verbose: bool = True,
) -> dict[str, float]:
    """Score ``generator`` against ``dataset`` and report each score next to real data's.

    Draws ``n`` latent vectors with ``seed`` and two disjoint random sets of ``n`` training
    images, A and B (:func:`split_real`). Returns a dict with

    * ``fid``: generated vs A; ``fid_floor``: B vs A, what a perfect generator would get
      with this many images (FID shrinks as ``n`` grows, so only compare equal ``n``);
    * ``classifier_score`` of the generated images and ``classifier_score_real`` of B;
    * ``nn_distance``: mean distance from a generated image to its nearest training image,
      and ``nn_distance_real``: the same for up to ``n`` test images, which the classifier
      and generator never saw (much smaller for generated images means copying).

    Same seed, same numbers. Takes ~10 s for MNIST and ~25 s for Fashion-MNIST (60,000
    training images to search) with ``n=2000``; ``verbose`` shows a progress bar meanwhile.
    """
    from tqdm.auto import tqdm

    n = integer("n", n, minimum=2)
    latent_dim = latent_dim_of(generator, latent_dim)
    classifier = classifier if classifier is not None else get_classifier(dataset, verbose=verbose)
    rng = np.random.default_rng(seed)
    real_sets = _real_sets(dataset, n, rng)
    z = latent_noise(real_sets[-1], latent_dim, rng)
    with tqdm(total=4, desc=f"evaluating on {dataset}", disable=not verbose, leave=False) as bar:
        generated = run_batched(generator, z)
        bar.update()
        return _scores(generated, dataset, real_sets, classifier, bar)


def format_scores(scores: dict[str, float]) -> str:
    """One line from :func:`evaluate_generator`'s dict, each score beside its real-data value."""
    missing = {"n", "fid", "fid_floor", "classifier_score", "classifier_score_real",
               "nn_distance", "nn_distance_real"} - set(scores)  # fmt: skip
    if missing:
        raise ValueError(f"not an evaluate_generator result: missing {sorted(missing)}")
    return (
        f"n={scores['n']}: FID {scores['fid']:.2f} (real-vs-real floor {scores['fid_floor']:.2f})"
        f" · classifier score {scores['classifier_score']:.2f} "
        f"(real {scores['classifier_score_real']:.2f})"
        f" · nearest-neighbour distance {scores['nn_distance']:.2f} "
        f"(real {scores['nn_distance_real']:.2f})"
    )


__all__ = [
    "get_classifier",
    "features",
    "gaussian_frechet_distance",
    "frechet_distance",
    "fid",
    "classifier_score_from_probs",
    "classifier_score",
    "nearest_neighbours",
    "nearest_neighbour_distance",
    "split_real",
    "evaluate_images",
    "evaluate_generator",
    "format_scores",
]
