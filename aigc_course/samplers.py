"""Running a diffusion model backwards: DDPM and DDIM samplers, with classifier-free guidance.

A trained denoising network predicts, for a noisy image ``x_t`` at step ``t``, the noise in it
(or ``x0``, or ``v``); :mod:`aigc_course.diffusion` turns that into an estimate of the clean
image and takes one step of the reverse process. :func:`generate` repeats that from pure noise
``x_T`` down to ``t = 0``:

* **DDPM** (Ho et al., 2020): ancestral sampling, every one of the ``T`` steps, fresh noise at
  each (the posterior ``q(x_{t-1} | x_t, x0)`` with the network's ``x0``);
* **DDIM** (Song et al., 2021): any number of evenly spaced steps; deterministic at ``eta = 0``,
  so the same ``x_T`` always gives the same image, and 25-50 steps already look like 1,000.

**Classifier-free guidance** (Ho & Salimans, 2022) runs a class-conditional network twice per
step, with the label and with "no label", and extrapolates from the second towards the first:
``out = out_uncond + w (out_cond - out_uncond)``. ``w = 1`` is the plain conditional model,
``w > 1`` trades diversity for images that look more like their class.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from aigc_course import diffusion as maths
from aigc_course._tf import keras, tf


def _unit_interval(name: str, value: object, closed: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not (0 <= value <= 1 if closed else 0 <= value < 1):
        raise ValueError(f"{name} must be a number in [0, 1{']' if closed else ')'}, got {value!r}")
    return float(value)


@dataclasses.dataclass
class Denoiser:
    """A trained network with its schedule: all a sampler needs (see :func:`generate`)."""

    net: keras.Model
    betas: np.ndarray
    prediction: str = "v"
    num_classes: int = 10

    def __post_init__(self) -> None:
        self.betas = maths._check_betas(self.betas)
        self.alpha_bars = maths.alpha_bar_table(self.betas)
        self._predict: dict[bool, Any] = {}

    @property
    def timesteps(self) -> int:
        return len(self.betas)

    def predict(self, x_t, t: int, y, guidance: float = 1.0):
        """The network's output at step ``t``, guided: ``out_u + guidance * (out_c - out_u)``.

        ``guidance = 1`` is the plain conditional prediction (one pass), ``0`` the unconditional
        one; larger values push samples towards what distinguishes their class (two passes).
        """
        guided = bool(self.num_classes) and guidance != 1.0
        if guided not in self._predict:
            net, null = self.net, self.num_classes

            def predict(x, t, y, guidance):
                tt = tf.fill((tf.shape(x)[0],), t)
                if not guided:
                    return tf.cast(net([x, tt, y], training=False), "float32")
                both = net([tf.concat([x, x], 0), tf.concat([tt, tt], 0),
                            tf.concat([y, tf.fill(tf.shape(y), null)], 0)], training=False)  # fmt: skip
                cond, uncond = tf.split(tf.cast(both, "float32"), 2)
                return uncond + guidance * (cond - uncond)

            self._predict[guided] = tf.function(predict, reduce_retracing=True)
        return self._predict[guided](
            tf.convert_to_tensor(x_t, "float32"), tf.constant(float(t)),
            tf.convert_to_tensor(y, "int32"), tf.constant(float(guidance)),
        )  # fmt: skip


def _labels(denoiser: Denoiser, n: int, labels, rng: np.random.Generator) -> np.ndarray:
    if not denoiser.num_classes:
        if labels is not None:
            raise ValueError("this model is unconditional (num_classes=0): it takes no labels")
        return np.zeros(n, np.int32)
    if labels is None:  # the classes in equal proportions, as in the training data
        return rng.integers(denoiser.num_classes, size=n).astype(np.int32)
    labels = np.broadcast_to(np.asarray(labels), (n,)).astype(np.int64)
    if labels.min() < 0 or labels.max() >= denoiser.num_classes:
        raise ValueError(
            f"labels must be class numbers 0..{denoiser.num_classes - 1}, got values in "
            f"{labels.min()}..{labels.max()}"
        )
    return labels.astype(np.int32)


def generate(
    model,
    n: int,
    seed: int = 0,
    steps: int | None = 50,
    sampler: str = "ddim",
    eta: float = 0.0,
    guidance: float = 1.0,
    labels=None,
    batch_size: int = 500,
    clip: bool = True,
    record: tuple[int, ...] = (),
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Run the reverse process for ``n`` images; return float32 ``(n, 28, 28, 1)`` in [-1, 1].

    ``model`` is a :class:`Denoiser` or anything with a ``.denoiser`` (a trained
    ``DiffusionModel``).
    ``sampler="ddpm"`` is ancestral sampling through all ``T`` steps (``steps=None`` or ``T``);
    with fewer steps it is ancestral sampling on the respaced schedule, which is DDIM with
    ``eta = 1``. ``"ddim"`` takes ``steps`` evenly spaced steps with noise level ``eta`` (0:
    deterministic). ``labels`` (one class for all, or one per image) defaults to random classes;
    ``guidance`` is the classifier-free guidance scale. ``clip`` keeps each step's estimate of
    ``x0`` inside [-1, 1]. The same ``seed`` gives the same images whatever ``batch_size``.
    Also returns ``{t: x_t}`` for every ``t`` in ``record`` the sampler visits (``0``: the result).
    """
    denoiser = model if isinstance(model, Denoiser) else model.denoiser
    if sampler not in ("ddpm", "ddim"):
        raise ValueError(f"sampler must be 'ddpm' or 'ddim', got {sampler!r}")
    big_t = denoiser.timesteps
    steps = big_t if steps is None else steps
    eta = _unit_interval("eta", eta, closed=True)
    if sampler == "ddpm" and steps < big_t:  # ancestral sampling on the respaced schedule
        sampler, eta = "ddim", 1.0
    rng = np.random.default_rng(seed)
    y = _labels(denoiser, n, labels, rng)
    x = rng.standard_normal((n, 28, 28, 1)).astype(np.float32)
    times = maths.sampling_timesteps(big_t, steps)
    abar, recorded = denoiser.alpha_bars, {}
    for i, t in enumerate(times):
        t, s = int(t), int(times[i + 1]) if i + 1 < len(times) else 0
        if t in record:
            recorded[t] = x.copy()
        noise = None
        if sampler == "ddpm" or eta:  # fresh noise at every step, the same whatever batch_size
            noise = np.random.default_rng([seed, t]).standard_normal(x.shape).astype(np.float32)
        for lo in range(0, n, batch_size):
            xb = x[lo : lo + batch_size]
            out = denoiser.predict(xb, t, y[lo : lo + batch_size], guidance).numpy()
            x0, eps = maths.to_x0_eps(xb, out, abar[t], denoiser.prediction)
            if clip:
                x0 = np.clip(x0, -1.0, 1.0)
                eps = (xb - abar[t] ** 0.5 * x0) / (1.0 - abar[t]) ** 0.5
            nb = None if noise is None else noise[lo : lo + batch_size]
            if sampler == "ddpm":
                x[lo : lo + batch_size] = maths.ddpm_step(xb, x0, denoiser.betas, t, nb)
            else:
                x[lo : lo + batch_size] = maths.ddim_step(x0, eps, abar[s], eta, abar[t], nb)
    x = np.clip(x, -1.0, 1.0)
    if 0 in record:
        recorded[0] = x.copy()
    return x, recorded


def sample(model, n: int, seed: int = 0, **options) -> np.ndarray:
    """``n`` images as uint8 ``(n, 28, 28)``; ``options`` are :func:`generate`'s."""
    from aigc_course.images import to_uint8

    return to_uint8(generate(model, n, seed=seed, **options)[0])
