"""Pixels in two formats, and the one place that converts between them.

Data sets, plots and saved files use **uint8** pixels (0..255, shape ``(N, H, W)``); networks use
**float32 in [-1, 1]** with a channel axis (``(N, H, W, 1)``), the range of a ``tanh`` output.
Every module that accepts images takes either and converts here, with the same rules:

* uint8 is read as 0..255; other integer types are refused;
* floats are read as [-1, 1] and must be finite (NaN means a model diverged); values a little
  outside (up to ±1.5: a sampler's overshoot) are clipped, values beyond mean another scale
  (0..255 floats, say) and are refused (a family whose samples overshoot more clips them first);
* a batch of four or more float images without one negative value looks like 0..1 data and
  gets a warning.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from aigc_course.errors import ConfigError

_LIMIT = 1.5  # |x| beyond this is not a [-1, 1] image that overshot a little


def _checked_float(x: np.ndarray, what: str) -> np.ndarray:
    if not np.issubdtype(x.dtype, np.floating):
        raise ConfigError(
            f"{what} must be uint8 (0..255) or float in [-1, 1], got dtype {x.dtype}; "
            "convert with .astype(np.uint8)"
        )
    if not np.isfinite(x).all():
        raise ConfigError(
            f"{what} contain NaN or infinite values: the model producing them has diverged "
            "(check its losses, lower the learning rate, or restart from a checkpoint)"
        )
    if x.size and (x.min() < -_LIMIT or x.max() > _LIMIT):
        raise ConfigError(
            f"float {what} are read as [-1, 1] (a tanh's range), got values in "
            f"[{x.min():.3g}, {x.max():.3g}]; pass 0..255 pixels as uint8, or rescale 0..1 data "
            "with x * 2 - 1"
        )
    if x.ndim >= 3 and len(x) >= 4 and x.min() >= 0 and x.max() > 0:  # no dark pixel at all
        warnings.warn(
            f"float {what} have no negative values: they look like 0..1 data, but float "
            "images are read as [-1, 1] (a tanh generator's range); pass x * 2 - 1",
            stacklevel=3,
        )
    return np.clip(x.astype(np.float32, copy=False), -1.0, 1.0)


def to_uint8(images: Any, what: str = "images") -> np.ndarray:
    """uint8 or float [-1, 1] images -> uint8 0..255 (rounded), a trailing channel axis of 1
    dropped: ``(N, H, W, 1)`` -> ``(N, H, W)``. Any leading shape is kept."""
    x = np.asarray(images)
    if x.ndim >= 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.dtype == np.uint8:
        return x
    x = _checked_float(x, what)
    return np.round((x + 1.0) * 127.5).astype(np.uint8)


def to_float(images: Any, what: str = "images") -> np.ndarray:
    """uint8 ``(N, H, W)`` (or float [-1, 1]) -> float32 ``(N, H, W, 1)`` in [-1, 1]."""
    x = np.asarray(images)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3:
        hint = " (add a batch axis for one image: images[None])" if x.ndim == 2 else ""
        raise ConfigError(f"{what} must have shape (N, H, W) or (N, H, W, 1), got {x.shape}{hint}")
    if x.dtype == np.uint8:
        return (x.astype(np.float32) / 127.5 - 1.0)[..., None]
    return _checked_float(x, what)[..., None]


__all__ = ["to_uint8", "to_float"]
