"""Pictures for the course: image grids, training curves, score curves, GIFs, latent walks.

Every function takes images either as uint8 (0..255) or as floats in [-1, 1] (what a tanh
generator produces), with or without a trailing channel axis, and returns the Figure (or
array / path) it made, so notebooks can save or test it. In Jupyter, end a bare call with
``;`` (or assign the result): a returned Figure is otherwise shown twice, once by pyplot and
once as the cell's value.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from aigc_course.images import to_uint8
from aigc_course.inference import run_batched

#: Saved grids are enlarged with crisp pixels: 28-pixel digits are too small to judge on a laptop
#: screen, and a browser's own scaling would blur them.
PNG_SCALE = 3


def _to_uint8_images(images) -> np.ndarray:
    """(N,H,W), (N,H,W,1|3) or one (H,W) image, uint8 or float in [-1,1] -> uint8 (N,H,W[,3])."""
    x = np.asarray(images)
    x = x[None] if x.ndim == 2 else x
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3)) or len(x) == 0:
        raise ValueError(
            f"expected images shaped (N, H, W), (N, H, W, 1) or (N, H, W, 3) with N >= 1, "
            f"got {x.shape}"
        )
    return to_uint8(x)


def image_grid(images, ncols: int = 8, pad: int = 1, pad_value: int = 128) -> np.ndarray:
    """Tile images into one uint8 array, ``ncols`` per row with ``pad`` pixels between them.

    Fewer than ``ncols`` images give a single row just wide enough; empty cells of the last
    row are filled with ``pad_value`` (mid-grey, visible against black and white digits).
    """
    if not isinstance(ncols, int) or ncols < 1 or not isinstance(pad, int) or pad < 0:
        raise ValueError(f"ncols must be >= 1 and pad >= 0 (integers), got {ncols!r}, {pad!r}")
    x = _to_uint8_images(images)
    n, h, w = x.shape[:3]
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    grid = np.full(
        (nrows * (h + pad) + pad, ncols * (w + pad) + pad) + x.shape[3:], pad_value, np.uint8
    )
    for i, img in enumerate(x):
        r, c = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        grid[top : top + h, left : left + w] = img
    return grid


def save_image_grid(images, path: str | Path) -> Path:
    """Write ``images`` (uint8 or [-1, 1]) as one square-ish PNG grid, enlarged ``PNG_SCALE``
    times, atomically; returns the path."""
    from PIL import Image

    from aigc_course.atomic import atomic_write

    x = _to_uint8_images(images)
    grid = Image.fromarray(image_grid(x, ncols=math.ceil(math.sqrt(len(x)))))
    grid = grid.resize((grid.width * PNG_SCALE, grid.height * PNG_SCALE), Image.NEAREST)
    buffer = io.BytesIO()
    grid.save(buffer, format="PNG")
    return atomic_write(Path(path), lambda f: f.write(buffer.getvalue()))


def show_images(images, ncols: int = 8, title: str | None = None, labels=None, figsize=None):
    """Show a batch of images as a grid (with a caption under each image if ``labels``).

    Returns the Figure (end a bare call with ``;`` in Jupyter, see the module notes).
    """
    x = _to_uint8_images(images)
    n = len(x)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    cmap = "gray" if x.ndim == 3 else None
    if labels is None:
        size = figsize or (min(1.0 * ncols, 12.0), min(1.0 * nrows, 12.0) + (0.4 if title else 0))
        fig, ax = plt.subplots(figsize=size)
        ax.imshow(image_grid(x, ncols), cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
        ax.set_axis_off()
    else:
        labels = list(labels)
        if len(labels) != n:
            raise ValueError(f"got {len(labels)} labels for {n} images; give one label per image")
        size = figsize or (min(1.2 * ncols, 12.0), min(1.35 * nrows, 14.0) + (0.4 if title else 0))
        fig, axes = plt.subplots(nrows, ncols, figsize=size, squeeze=False)
        for ax in axes.flat:
            ax.set_axis_off()
        for ax, img, label in zip(axes.flat, x, labels, strict=False):
            ax.imshow(img, cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
            ax.set_title(str(label), fontsize=10, pad=3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _history_columns(history) -> dict[str, list[float]]:
    if hasattr(history, "history"):  # keras.callbacks.History
        history = history.history
    if isinstance(history, str | Path):
        path = Path(history)
        if not path.is_file():
            raise FileNotFoundError(f"no history CSV at {path}")
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        history = {k: [r[k] for r in rows] for k in (rows[0] if rows else {})}
    if not isinstance(history, Mapping) or not history:
        raise ValueError(
            "history must be a Keras History, a non-empty dict of lists, or a CSVLogger file path"
        )
    try:
        columns = {k: [float(v) for v in vals] for k, vals in history.items()}
    except (TypeError, ValueError) as err:
        raise ValueError(f"every history column must hold numbers: {err}") from None
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(f"history columns must be non-empty and equally long, got {lengths}")
    return columns


def plot_history(
    history,
    keys: Sequence[str] | None = None,
    reference: Mapping[str, float] | None = None,
    reference_label: str = "D undecided",
):
    """Training curves: losses (keys with "loss") on the left, everything else (e.g. the
    discriminator's mean outputs ``d_real`` / ``d_fake``) on the right. Returns the Figure.

    ``reference`` maps a key to the value it would have at a reference point, drawn as a dotted
    line in the key's colour: e.g. each loss when the discriminator cannot tell real from fake
    (every logit 0), which differs between cross-entropy and hinge losses."""
    columns = _history_columns(history)
    x_key = next((k for k in ("epoch", "step") if k in columns), None)
    x = columns.pop(x_key) if x_key else list(range(1, len(next(iter(columns.values()))) + 1))
    keys = list(columns) if keys is None else list(keys)
    missing = [k for k in [*keys, *(reference or {})] if k not in columns]
    if missing or not keys:
        raise ValueError(f"unknown history keys {missing}; available: {sorted(columns)}")
    groups = [
        g for g in ([k for k in keys if "loss" in k], [k for k in keys if "loss" not in k]) if g
    ]
    fig, axes = plt.subplots(1, len(groups), figsize=(5.5 * len(groups), 3.6), squeeze=False)
    for ax, group in zip(axes[0], groups, strict=True):
        if "loss" in group[0]:
            ylabel = "loss"
        else:
            ylabel = "discriminator output" if any(k.startswith("d_") for k in group) else "value"
        for k in group:
            line = ax.plot(x, columns[k], label=k, linestyle="--" if k.startswith("val_") else "-")
            if reference and k in reference:
                ax.axhline(
                    reference[k], color=line[0].get_color(), linestyle=":",
                    label=f"{k}, {reference_label} ({reference[k]:.2f})",
                )  # fmt: skip
        if ylabel == "discriminator output" and all(0 <= v <= 1 for k in group for v in columns[k]):
            ax.axhline(0.5, color="grey", linestyle=":", label="equilibrium, D = 1/2")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(x_key or "epoch")
        ax.set_ylabel(ylabel)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_scores(
    steps,
    scores,
    floor: float | None = None,
    label: str = "FID (course classifier)",
    xlabel: str = "epoch",
):
    """A score over training (e.g. FID per epoch) with the real-vs-real ``floor`` as a line.

    The y-axis turns logarithmic when the values span more than a factor of 20, so an early
    FID of 150 does not squash the last few epochs and the floor into the bottom pixel row.
    """
    steps, scores = np.asarray(steps, float), np.asarray(scores, float)
    if steps.shape != scores.shape or steps.ndim != 1 or len(steps) == 0:
        raise ValueError(
            f"steps and scores must be equally long 1-D lists, got "
            f"{steps.shape} and {scores.shape}"
        )
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(steps, scores, marker="o", label=label)
    values = np.append(scores, [] if floor is None else [floor])
    if floor is not None:
        ax.axhline(floor, color="grey", linestyle="--", label=f"real-vs-real floor ({floor:.3g})")
    if values.min() > 0 and values.max() / values.min() > 20:
        ax.set_yscale("log")
        ax.set_ylabel(f"{label} (log scale)")
    else:
        ax.set_ylim(bottom=min(0.0, values.min()))
        ax.set_ylabel(label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.legend()
    fig.tight_layout()
    return fig


def _natural_key(path: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def make_gif(
    png_paths_or_dir: str | Path | Iterable[str | Path], out: str | Path, fps: float = 4
) -> Path:
    """Join PNG frames (a list, or every ``*.png`` in a folder in natural order) into a looping
    GIF at ``fps`` frames per second. Pillow merges identical consecutive frames."""
    from PIL import Image

    if isinstance(png_paths_or_dir, str | Path) and Path(png_paths_or_dir).is_dir():
        paths = sorted(Path(png_paths_or_dir).glob("*.png"), key=_natural_key)
    elif isinstance(png_paths_or_dir, str | Path):
        raise FileNotFoundError(f"{png_paths_or_dir} is not a folder; pass a folder or a list")
    else:
        paths = [Path(p) for p in png_paths_or_dir]
    if not paths:
        raise ValueError(f"no PNG frames found in {png_paths_or_dir}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    frames = [Image.open(p).convert("RGB") for p in paths]
    sizes = {f.size for f in frames}
    if len(sizes) != 1:
        raise ValueError(f"all frames must have the same size, got {sorted(sizes)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(
        out,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=round(1000 / fps),
        loop=0,
    )
    return out


def interpolate_at(z0, z1, t, spherical: bool = True) -> np.ndarray:
    """Points at fractions ``t`` (a number or 1-D array in [0, 1]) of the way from ``z0`` to
    ``z1``; float32 (len(t), D), or (D,) for a single number.

    Spherical (slerp) follows the great circle, so intermediate vectors keep a typical
    Gaussian length; a straight line (lerp) passes through shorter, atypical vectors.
    """
    a, b = np.asarray(z0, np.float64), np.asarray(z1, np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(
            f"z0 and z1 must be 1-D vectors of the same length, got " f"{a.shape} and {b.shape}"
        )
    ts = np.asarray(t, np.float64)
    col = np.atleast_1d(ts)[:, None]
    cos = np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if not spherical or np.sin(omega) < 1e-6:  # (anti)parallel: the great circle is undefined
        path = (1 - col) * a + col * b
    else:
        path = (np.sin((1 - col) * omega) * a + np.sin(col * omega) * b) / np.sin(omega)
    path = path.astype(np.float32)
    return path[0] if ts.ndim == 0 else path


def interpolate(z0, z1, steps: int = 10, spherical: bool = True) -> np.ndarray:
    """``steps`` evenly spaced latent vectors from ``z0`` to ``z1`` (both ends included),
    float32 (steps, D); see :func:`interpolate_at` for spherical versus linear."""
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
    return interpolate_at(z0, z1, np.linspace(0.0, 1.0, steps), spherical)


def interpolation_strip(generator, z0, z1, steps: int = 10, spherical: bool = True):
    """One row of generated images along the path from ``z0`` to ``z1``. Returns the Figure."""
    images = _to_uint8_images(run_batched(generator, interpolate(z0, z1, steps, spherical)))
    fig, axes = plt.subplots(1, steps, figsize=(min(1.1 * steps, 14), 1.6), squeeze=False)
    for ax, img, t in zip(axes[0], images, np.linspace(0, 1, steps), strict=False):
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255)
        ax.set_axis_off()
        ax.set_title(f"t={t:.2f}", fontsize=9)
    fig.suptitle(("spherical" if spherical else "linear") + " interpolation", fontsize=11)
    fig.tight_layout()
    return fig
