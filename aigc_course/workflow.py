"""Pretrain → fine-tune → evaluate → deploy, small (chapter 03).

Helpers for the steps that are not the point of the lesson: copying a trained GAN so the
pretrained one stays untouched, continuing its training on a handful of images, turning a saved
generator into a ``generate(n)`` function, and the numbers a deployed generator should be watched
with (class-histogram drift, FID against a reference set, distance to the training images).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from aigc_course._tf import keras
from aigc_course.errors import ConfigError, NotFoundError
from aigc_course.gan import GAN
from aigc_course.images import to_float, to_uint8
from aigc_course.inference import latent_noise, run_batched
from aigc_course.validate import number_in, positive_int

__all__ = [
    "copy_gan",
    "fine_tune",
    "fine_tune_snapshots",
    "choose_snapshot",
    "samples_of_class",
    "predicted_classes",
    "class_histogram",
    "total_variation",
    "export_generator",
    "serve",
    "drift_report",
]


def copy_gan(gan: GAN, learning_rate: float = 1e-4, beta_1: float = 0.5) -> GAN:
    """A new, compiled :class:`~aigc_course.gan.GAN` with copies of ``gan``'s two networks.

    Fine-tuning then changes the copy only, so the pretrained model stays available for the
    before/after comparison. Each player gets a fresh Adam optimizer with ``learning_rate``
    (fine-tuning usually takes smaller steps than pretraining).
    """
    if not isinstance(gan, GAN):
        raise ConfigError(f"copy_gan expects an aigc_course.gan.GAN, got {type(gan).__name__}")
    number_in("learning_rate", learning_rate, 0, 1, low_open=True)
    players = []
    for model in (gan.generator, gan.discriminator):
        twin = keras.models.clone_model(model)
        twin.set_weights(model.get_weights())  # includes batch-norm statistics
        players.append(twin)
    twin_gan = GAN(*players, latent_dim=gan.latent_dim, loss=gan.loss_name, d_steps=gan.d_steps)
    twin_gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1),
        g_optimizer=keras.optimizers.Adam(learning_rate, beta_1=beta_1),
    )
    return twin_gan


def fine_tune(
    gan: GAN, images: np.ndarray, steps: int, batch_size: int = 32, seed: int = 0, verbose: int = 1
) -> dict[str, list[float]]:
    """Continue training ``gan`` (both players) for ``steps`` updates on ``images`` only.

    ``images`` are uint8 ``(N, 28, 28)``, e.g. a hundred examples of one digit; they are
    shuffled and repeated, so ``steps`` may cover them many times. Returns the Keras history.
    """
    from aigc_course.data import make_dataset

    images = np.asarray(images)
    steps = positive_int("steps", steps)
    if len(images) < batch_size:
        raise ConfigError(
            f"only {len(images)} images for batch_size={batch_size}: pass more images or a "
            "smaller batch_size"
        )
    data = make_dataset(images, batch_size, shuffle=True, seed=seed, repeat=True)
    history = gan.fit(data, epochs=1, steps_per_epoch=steps, verbose=verbose, shuffle=False)
    return {k: [float(v) for v in vs] for k, vs in history.history.items()}


def fine_tune_snapshots(
    gan: GAN,
    images: np.ndarray,
    steps: Sequence[int],
    batch_size: int = 32,
    seed: int = 0,
    verbose: int = 2,
) -> dict[int, list[np.ndarray]]:
    """Fine-tune ``gan`` like :func:`fine_tune` up to ``max(steps)`` updates and keep a copy of
    the generator's weights after each number of ``steps`` (e.g. ``(100, 200, 400, 800)``).

    Returns ``{steps: generator weights}``; :func:`choose_snapshot` picks one on validation data.
    The generator is left at the last snapshot.
    """
    steps = sorted({positive_int("steps", s) for s in steps})
    if not steps:
        raise ConfigError("steps must list at least one number of steps, e.g. (100, 200)")
    snapshots: dict[int, list[np.ndarray]] = {}
    done = 0
    for i, target in enumerate(steps):
        fine_tune(gan, images, target - done, batch_size=batch_size, seed=seed + i, verbose=verbose)
        done = target
        snapshots[target] = [w.copy() for w in gan.generator.get_weights()]
    return snapshots


def choose_snapshot(
    generator: keras.Model,
    snapshots: dict[int, list[np.ndarray]],
    score: Callable[[keras.Model], float],
) -> tuple[int, dict[int, float]]:
    """Score each snapshot's weights with ``score(generator)`` (lower is better, e.g. FID on a
    validation set), load the best into ``generator`` and return ``(its steps, all scores)``."""
    if not snapshots:
        raise ConfigError("no snapshots to choose from: fine_tune_snapshots() makes them")
    scores = {}
    for steps, weights in snapshots.items():
        generator.set_weights(weights)
        scores[steps] = float(score(generator))
    best = min(scores, key=scores.__getitem__)
    generator.set_weights(snapshots[best])
    return best, scores


def samples_of_class(
    generator: keras.Model,
    classifier: keras.Model,
    label: int,
    n: int,
    seed: int = 0,
    max_draws: int = 50_000,
) -> tuple[np.ndarray, float]:
    """Up to ``n`` samples of ``generator`` that ``classifier`` labels ``label`` (uint8), drawn
    in batches until there are ``n`` or ``max_draws`` samples were drawn, and the share of
    ``label`` among all drawn: "filter a general generator's output to one class"."""
    n, max_draws = positive_int("n", n), positive_int("max_draws", max_draws)
    rng = np.random.default_rng(seed)
    latent_dim = int(generator.input_shape[-1])
    kept: list[np.ndarray] = []
    drawn = hits = 0
    while hits < n and drawn < max_draws:
        batch = to_uint8(run_batched(generator, latent_noise(2_000, latent_dim, rng)))
        match = batch[predicted_classes(batch, classifier) == label]
        kept.append(match)
        drawn, hits = drawn + len(batch), hits + len(match)
    return np.concatenate(kept)[:n], hits / drawn


def predicted_classes(images: np.ndarray, classifier: keras.Model) -> np.ndarray:
    """The classifier's label (argmax) for each image; images uint8 or float in [-1, 1]."""
    x = to_float(images)
    if x.shape[1:] != (28, 28, 1) or len(x) == 0:
        raise ConfigError(f"expected a non-empty batch of 28x28 images, got shape {x.shape}")
    return run_batched(classifier, x).argmax(axis=1)


def class_histogram(labels: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """The share of each class among ``labels`` (integers 0..n_classes-1); sums to 1."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0 or labels.dtype.kind not in "iu":
        raise ValueError(
            f"labels must be a non-empty 1-D integer array, got {labels.dtype} {labels.shape}"
        )
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(
            f"labels must lie in 0..{n_classes - 1}, got {labels.min()}..{labels.max()}"
        )
    return np.bincount(labels, minlength=n_classes) / len(labels)


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """Total variation distance ½·Σ|p − q| between two histograms: 0 same, 1 disjoint."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    if p.shape != q.shape or p.ndim != 1:
        raise ValueError(
            f"p and q must be 1-D histograms of equal length, got {p.shape}, {q.shape}"
        )
    for name, h in (("p", p), ("q", q)):
        if np.any(h < 0) or not np.isclose(h.sum(), 1.0, atol=1e-6):
            raise ValueError(f"{name} must be a histogram (non-negative, sums to 1); normalise it")
    return float(0.5 * np.abs(p - q).sum())


def export_generator(generator: keras.Model, path: str | Path) -> Path:
    """Save ``generator`` as one ``.keras`` file (architecture + weights), creating the folder.

    The file holds Keras' own layers only (:func:`aigc_course.models.keras_only`), so a server
    can load it with Keras alone.
    """
    from aigc_course.models import keras_only

    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"Keras 3 saves whole models to a .keras file, got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    keras_only(generator).save(path)
    return path


def serve(path: str | Path, seed: int | None = None) -> Callable[[int], np.ndarray]:
    """Load a saved generator and return ``generate(n)`` → uint8 images ``(n, 28, 28)``.

    This is the whole "server": load once, then answer each request with fresh noise. With a
    ``seed`` the sequence of answers is reproducible (useful in tests and monitoring).
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no saved generator at {path}; save one with export_generator()")
    generator = keras.saving.load_model(path, compile=False)
    latent_dim = int(generator.input_shape[-1])
    rng = np.random.default_rng(seed)

    def generate(n: int) -> np.ndarray:
        return to_uint8(run_batched(generator, latent_noise(n, latent_dim, rng)))

    generate.generator = generator  # type: ignore[attr-defined]
    return generate


def drift_report(
    images: np.ndarray,
    reference: np.ndarray,
    train_images: np.ndarray,
    classifier: keras.Model,
    reference_histogram: np.ndarray | None = None,
) -> dict[str, float]:
    """Monitoring numbers for one batch of served ``images`` against the release's ``reference``.

    * ``class_tv``: total variation between the batch's predicted-class histogram and the
      reference's (``reference_histogram`` if given) — drift in *what* is generated;
    * ``fid``: FID between the batch and ``reference`` in the course classifier's features —
      drift in *how* it looks (compare only batches of the same size);
    * ``nn_distance``: mean distance to the closest of ``train_images`` — near 0 means copying.
    """
    from aigc_course.metrics import fid, nearest_neighbour_distance

    hist = class_histogram(predicted_classes(images, classifier))
    if reference_histogram is None:
        reference_histogram = class_histogram(predicted_classes(reference, classifier))
    return {
        "class_tv": total_variation(hist, reference_histogram),
        "fid": fid(images, reference, classifier=classifier),
        "nn_distance": nearest_neighbour_distance(images, train_images),
    }
