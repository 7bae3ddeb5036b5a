"""Measuring a generator: FID with its real-vs-real floor, a classifier score, and memorisation.

The Inception network behind the usual FID and Inception Score was trained on photographs and
needs the internet to download; for 28x28 digits and clothes we use a small CNN trained on the
same dataset instead (a *domain classifier*). Its penultimate layer gives the features for the
Fréchet distance, its softmax the class probabilities for the classifier score. Numbers from
this classifier are comparable with each other, not with FID values published for ImageNet.

A score on its own says little, so :func:`evaluate_generator` always reports the same metric for
two sets of *real* images (the floor a perfect generator would reach at that sample size).

Why not the losses? The article's training loop "evaluates" its GAN by passing a single
argument, ``log D(x)``, to ``BinaryAccuracy.update_state``, which needs labels *and*
predictions (and its loss objects have no ``update_state`` at all). Even done right, GAN
losses and the discriminator's accuracy describe a two-player game that is meant to stay
balanced, not how good or varied the samples are; the metrics here do.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
import weakref
from pathlib import Path

import numpy as np

from aigc_course.atomic import atomic_path
from aigc_course.env import is_smoke
from aigc_course.plotting import _generate, _latent_dim

CACHE_VERSION = 1  # bump when the classifier's architecture or training recipe changes
FEATURE_LAYER = "features"
_SEED = 1234
_BATCH = 500
_memo: dict[tuple[str, bool], object] = {}  # (dataset, smoke) -> classifier, per process
_feature_models: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # classifier -> model


def _cache_dir() -> Path:
    env = os.environ.get("AIGC_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "aigc_course"


def _with_channel(images, what: str) -> np.ndarray:
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[1:] != (28, 28, 1):
        raise ValueError(
            f"{what} must have shape (N, 28, 28) or (N, 28, 28, 1), got {x.shape}; "
            "pass a batch of images, e.g. images[None] for a single one"
        )
    return x


def _as_model_input(images, what: str = "images") -> np.ndarray:
    """uint8 (N,28,28[,1]) or float in [-1,1] -> float32 (N,28,28,1) in [-1,1]."""
    x = _with_channel(images, what)
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 127.5 - 1.0
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(
            f"{what} must be uint8 (0..255) or float in [-1, 1], got dtype {x.dtype}; "
            "convert with .astype(np.uint8)"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what} contain NaN or infinite values: has the generator diverged?")
    if x.size and (x.min() < -1.001 or x.max() > 1.001):
        raise ValueError(
            f"float {what} must lie in [-1, 1] (a tanh generator's range), got values in "
            f"[{x.min():.3g}, {x.max():.3g}]; rescale 0..1 data with x * 2 - 1"
        )
    if len(x) >= 4 and x.min() >= 0 and x.max() > 0:  # a whole batch without a dark pixel
        warnings.warn(
            "float images have no negative values: they look like 0..1 data, but float "
            "images are read as [-1, 1] (a tanh generator's range); pass x * 2 - 1",
            stacklevel=3,
        )
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def _as_unit_flat(images, what: str = "images") -> np.ndarray:
    """Same inputs as above -> float32 (N, 784) in [0, 1] (pixel space for distances)."""
    x = _with_channel(images, what)
    if x.dtype == np.uint8:  # exact, and skips the [-1, 1] detour
        return x.reshape(len(x), -1).astype(np.float32) / 255.0
    return ((_as_model_input(x, what) + 1.0) / 2.0).reshape(len(x), -1)


# --------------------------------------------------------------------------- the classifier


def _build_classifier(smoke: bool):
    from aigc_course._tf import keras

    L = keras.layers
    c1, c2, dense = (8, 16, 32) if smoke else (16, 32, 128)

    def init(i: int):
        return keras.initializers.GlorotUniform(seed=_SEED + i)

    inputs = keras.Input((28, 28, 1), name="image")
    x = L.Conv2D(c1, 3, padding="same", activation="relu", kernel_initializer=init(0))(inputs)
    x = L.MaxPooling2D()(x)
    x = L.Conv2D(c2, 3, padding="same", activation="relu", kernel_initializer=init(1))(x)
    x = L.MaxPooling2D()(x)
    x = L.Flatten()(x)
    x = L.Dense(dense, activation="relu", kernel_initializer=init(2), name=FEATURE_LAYER)(x)
    x = L.Dropout(0.3, seed=_SEED)(x)
    outputs = L.Dense(10, activation="softmax", kernel_initializer=init(3), name="probs")(x)
    return keras.Model(inputs, outputs, name="domain_classifier")


def _train_classifier(images, labels, smoke: bool, verbose: bool):
    """Fit with a fixed seed; the batch order comes from NumPy, so no global RNG is touched."""
    from aigc_course._tf import keras, tf

    epochs, batch = (2, 32) if smoke else (3, 128)
    model = _build_classifier(smoke)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    rng = np.random.default_rng(_SEED)
    steps = len(images) // batch
    order = np.concatenate([rng.permutation(len(images))[: steps * batch] for _ in range(epochs)])
    pixels, targets = tf.constant(images), tf.constant(labels.astype(np.int32))

    def lookup(idx):
        x = tf.cast(tf.gather(pixels, idx), tf.float32) / 127.5 - 1.0
        return x[..., None], tf.gather(targets, idx)

    ds = tf.data.Dataset.from_tensor_slices(order).batch(batch).map(lookup).prefetch(2)
    model.fit(ds, epochs=epochs, steps_per_epoch=steps, shuffle=False, verbose=1 if verbose else 0)
    return model


def _fingerprint(images: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(images).data, digest_size=4).hexdigest()


def _accuracy(model, images, labels) -> float:
    probs = _features_and_probs(images, "", model, "test images")[1]
    return float(np.mean(probs.argmax(axis=1) == labels))


def get_classifier(dataset: str = "mnist", verbose: bool = True):
    """The evaluation classifier for ``dataset``: trained once (about a minute), then cached.

    The cache file lives in ``AIGC_CACHE_DIR`` (default ``~/.cache/aigc_course``); its name
    holds the dataset, the training data's size and fingerprint, the smoke flag and a
    version, so a different data source or recipe never reuses a stale model. Under
    ``AIGC_SMOKE=1`` a tiny model is trained on 2,000 images for two epochs instead.
    Prints one line with the test accuracy (``verbose=False`` silences it).
    """
    from aigc_course._tf import keras
    from aigc_course.data import load_dataset

    smoke = is_smoke()
    if (dataset, smoke) in _memo:
        return _memo[(dataset, smoke)]
    train_x, train_y = load_dataset(dataset, split="train", verbose=False)
    test_x, test_y = load_dataset(dataset, split="test", verbose=False)
    if smoke:
        train_x, train_y, test_x, test_y = (
            train_x[:2000],
            train_y[:2000],
            test_x[:1000],
            test_y[:1000],
        )
    tag = "smoke" if smoke else "full"
    name = f"classifier-{dataset}-{tag}-n{len(train_x)}-{_fingerprint(train_x)}-v{CACHE_VERSION}"
    model_path = _cache_dir() / f"{name}.keras"
    meta_path = _cache_dir() / f"{name}.json"

    model, how = None, ""
    if model_path.exists() and meta_path.exists():
        try:
            model = keras.models.load_model(model_path, compile=False)
            acc = json.loads(meta_path.read_text())["test_accuracy"]
            how = "loaded from the cache"
        except Exception as err:  # any unreadable cache entry (corrupt, older Keras): retrain
            warnings.warn(
                f"could not load cached classifier {model_path} ({err}); retraining", stacklevel=2
            )
            model = None
    if model is None:
        if verbose:
            print(f"Training the {dataset} evaluation classifier once (cached afterwards) ...")
        start = time.perf_counter()
        model = _train_classifier(train_x, train_y, smoke, verbose)
        acc = _accuracy(model, test_x, test_y)
        seconds = time.perf_counter() - start
        model_path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "dataset": dataset,
            "test_accuracy": acc,
            "train_size": len(train_x),
            "smoke": smoke,
            "seconds": round(seconds, 1),
            "version": CACHE_VERSION,
        }
        # the metadata goes first: a model file on disk always has its metadata beside it
        with atomic_path(meta_path) as tmp:
            tmp.write_text(json.dumps(meta, indent=1))
        with atomic_path(model_path) as tmp:
            model.save(tmp)
        how = f"trained in {seconds:.0f} s"
    if verbose:
        print(f"{dataset} classifier: test accuracy {acc:.1%} ({how})")
    _memo[(dataset, smoke)] = model
    return model


# --------------------------------------------------------------------------- features, scores


def _feature_model(classifier):
    from aigc_course._tf import keras

    if classifier not in _feature_models:
        try:
            layer = classifier.get_layer(FEATURE_LAYER)
        except ValueError:
            raise ValueError(
                f"the classifier has no layer named {FEATURE_LAYER!r}: build it with "
                "get_classifier() or name its penultimate layer so"
            ) from None
        outputs = [layer.output, classifier.outputs[0]]
        _feature_models[classifier] = keras.Model(classifier.inputs[0], outputs)
    return _feature_models[classifier]


def _features_and_probs(images, dataset: str, classifier, what: str):
    model = _feature_model(classifier if classifier is not None else get_classifier(dataset))
    x = _as_model_input(images, what)
    if len(x) == 0:
        raise ValueError(f"{what} is empty: pass at least one image")
    feats, probs = [], []
    for i in range(0, len(x), _BATCH):
        f, p = model(x[i : i + _BATCH], training=False)
        feats.append(np.asarray(f))
        probs.append(np.asarray(p))
    return np.concatenate(feats).astype(np.float64), np.concatenate(probs).astype(np.float64)


def features(images, dataset: str = "mnist", *, classifier=None) -> np.ndarray:
    """The classifier's penultimate-layer activations, float64 (N, D): FID's feature space."""
    return _features_and_probs(images, dataset, classifier, "images")[0]


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
    images, A and B. Returns a dict with

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

    from aigc_course.data import load_dataset

    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    latent_dim = _latent_dim(generator, latent_dim)
    train, _ = load_dataset(dataset, split="train", verbose=False)
    test, _ = load_dataset(dataset, split="test", verbose=False)
    if 2 * n > len(train):
        warnings.warn(
            f"{dataset} has {len(train)} training images, too few for two disjoint sets of "
            f"{n}: using n={len(train) // 2}",
            stacklevel=2,
        )
        n = len(train) // 2
    classifier = classifier if classifier is not None else get_classifier(dataset, verbose=verbose)
    rng = np.random.default_rng(seed)
    picks = rng.permutation(len(train))[: 2 * n]
    set_a, set_b = train[np.sort(picks[:n])], train[np.sort(picks[n:])]
    held_out = test[np.sort(rng.permutation(len(test))[:n])]
    z = rng.standard_normal((n, latent_dim)).astype(np.float32)
    with tqdm(total=4, desc=f"evaluating on {dataset}", disable=not verbose, leave=False) as bar:
        generated = [_generate(generator, z[i : i + _BATCH]) for i in range(0, n, _BATCH)]
        generated = np.concatenate(generated)
        bar.update()
        f_gen, p_gen = _features_and_probs(generated, dataset, classifier, "generator output")
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
