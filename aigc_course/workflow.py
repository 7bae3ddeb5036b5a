"""Pretrain → fine-tune → evaluate → deploy, small (chapter 03).

Helpers for the steps that are not the point of the lesson: copying a trained GAN so the
pretrained one stays untouched, continuing its training on a handful of images, turning a saved
generator into a ``generate(n)`` function, and the numbers a deployed generator should be watched
with (class-histogram drift, FID against a reference set, distance to the training images).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from aigc_course._tf import keras
from aigc_course.training import GAN

__all__ = [
    "copy_gan",
    "fine_tune",
    "predicted_classes",
    "class_histogram",
    "total_variation",
    "export_generator",
    "serve",
    "drift_report",
]


def _run(model: keras.Model, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """``model`` in inference mode on ``x``, batch by batch. Calls the model directly instead of
    ``predict()``, whose tf.data pipeline can print C++ log lines into notebook outputs."""
    return np.concatenate(
        [
            np.asarray(model(x[i : i + batch_size], training=False))
            for i in range(0, len(x), batch_size)
        ]
    )


def copy_gan(gan: GAN, learning_rate: float = 1e-4, beta_1: float = 0.5) -> GAN:
    """A new, compiled :class:`~aigc_course.training.GAN` with copies of ``gan``'s two networks.

    Fine-tuning then changes the copy only, so the pretrained model stays available for the
    before/after comparison. Each player gets a fresh Adam optimizer with ``learning_rate``
    (fine-tuning usually takes smaller steps than pretraining).
    """
    if not isinstance(gan, GAN):
        raise ValueError(f"copy_gan expects an aigc_course.training.GAN, got {type(gan).__name__}")
    if not 0 < learning_rate < 1:
        raise ValueError(f"learning_rate must be in (0, 1), e.g. 1e-4; got {learning_rate!r}")
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
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if len(images) < batch_size:
        raise ValueError(
            f"only {len(images)} images for batch_size={batch_size}: pass more images or a "
            "smaller batch_size"
        )
    data = make_dataset(images, batch_size, shuffle=True, seed=seed, repeat=True)
    history = gan.fit(data, epochs=1, steps_per_epoch=int(steps), verbose=verbose, shuffle=False)
    return {k: [float(v) for v in vs] for k, vs in history.history.items()}


def predicted_classes(images: np.ndarray, classifier: keras.Model) -> np.ndarray:
    """The classifier's label (argmax) for each image; images uint8 or float in [-1, 1]."""
    from aigc_course.data import to_float

    x = np.asarray(images)
    if x.dtype == np.uint8:
        x = to_float(x)
    elif x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[1:] != (28, 28, 1) or len(x) == 0:
        raise ValueError(f"expected a non-empty batch of 28x28 images, got shape {x.shape}")
    return _run(classifier, x.astype(np.float32)).argmax(axis=1)


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
    from aigc_course.data import to_uint8

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no saved generator at {path}; save one with export_generator()")
    generator = keras.saving.load_model(path, compile=False)
    latent_dim = int(generator.input_shape[-1])
    rng = np.random.default_rng(seed)

    def generate(n: int) -> np.ndarray:
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        z = rng.standard_normal((int(n), latent_dim)).astype(np.float32)
        return to_uint8(_run(generator, z))

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
