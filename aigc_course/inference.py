"""Running a model in inference mode, in batches, and drawing images from noise of a seed.

The one home of "n images from a seed": sample grids, evaluation, serving and the command line
all draw noise with :func:`latent_noise` and run the network with :func:`run_batched`, so the
same seed gives the same images wherever they are drawn. (Decoding text token by token is a
language model's own business.)
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from aigc_course.errors import ConfigError
from aigc_course.images import to_uint8
from aigc_course.validate import positive_int

BATCH = 500  # images per forward pass: fast on a CPU, small enough for any GPU


def latent_noise(n: int, latent_dim: int, seed: int | np.random.Generator = 0) -> np.ndarray:
    """``n`` standard-normal latent vectors, float32 ``(n, latent_dim)``, from ``seed`` (an int
    or a NumPy ``Generator`` to draw from)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    shape = (positive_int("n", n), positive_int("latent_dim", latent_dim))
    return rng.standard_normal(shape).astype(np.float32)


def latent_dim_of(generator: Any, latent_dim: int | None = None) -> int:
    """``latent_dim``, or else the size of ``generator``'s (Keras model's) input."""
    if latent_dim is None:
        shape = getattr(generator, "input_shape", None)
        if not shape or not isinstance(shape[-1], int):
            raise ConfigError("cannot read the latent size from this generator; pass latent_dim=")
        latent_dim = shape[-1]
    return positive_int("latent_dim", latent_dim)


def run_batched(model: Any, x: np.ndarray, batch_size: int = BATCH) -> np.ndarray:
    """``model`` on ``x`` in inference mode, ``batch_size`` rows at a time -> float32 array.

    A Keras model is called directly with ``training=False`` (not through ``predict()``, whose
    ``tf.data`` pipeline can print C++ log lines into notebooks); any other callable as it is.
    """
    keras = sys.modules.get("keras")
    is_layer = keras is not None and isinstance(model, keras.layers.Layer)
    parts = [
        np.asarray(model(x[i : i + batch_size], training=False) if is_layer
                   else model(x[i : i + batch_size]), dtype=np.float32)
        for i in range(0, len(x), batch_size)
    ]  # fmt: skip
    return np.concatenate(parts) if parts else np.zeros((0,), np.float32)


def sample_images(
    generator: Any, n: int, seed: int | np.random.Generator = 0, latent_dim: int | None = None
) -> np.ndarray:
    """``n`` uint8 images ``(n, H, W)`` from a generator of noise -> [-1, 1] pixels."""
    z = latent_noise(n, latent_dim_of(generator, latent_dim), seed)
    return to_uint8(run_batched(generator, z), "generated images")


__all__ = ["BATCH", "latent_noise", "latent_dim_of", "run_batched", "sample_images"]
