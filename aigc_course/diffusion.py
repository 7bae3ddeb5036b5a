"""The forward (noising) half of a diffusion model, in NumPy.

A denoising diffusion model (Ho et al., 2020) destroys data step by step with Gaussian
noise, ``q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)``, and learns to undo
it. Because every step is Gaussian, the whole chain collapses into one closed form,
``q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)`` with
``alpha_bar_t = prod_{s<=t} (1 - beta_s)``: we can jump to any step without iterating.
This module provides the schedule, that closed form, and the slow iterated version so
the two can be checked against each other.

Time steps are 1-based as in the paper: ``t = 1 .. T``; ``betas[t - 1]`` is ``beta_t``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "linear_beta_schedule",
    "alpha_bars",
    "closed_form_moments",
    "iterated_moments",
    "q_sample",
    "q_step",
    "iterate_q",
]


def linear_beta_schedule(
    num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02
) -> np.ndarray:
    """Noise variances ``beta_1 .. beta_T`` rising linearly (Ho et al.'s schedule)."""
    if not isinstance(num_steps, int | np.integer) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer, got {num_steps!r}")
    if not 0.0 < beta_start <= beta_end < 1.0:
        raise ValueError(
            f"need 0 < beta_start <= beta_end < 1, got beta_start={beta_start}, "
            f"beta_end={beta_end}"
        )
    return np.linspace(beta_start, beta_end, num_steps, dtype=np.float64)


def _check_betas(betas) -> np.ndarray:
    betas = np.asarray(betas, dtype=np.float64)
    if betas.ndim != 1 or betas.size == 0:
        raise ValueError(f"betas must be a non-empty 1-D array, got shape {betas.shape}")
    if np.any(betas <= 0) or np.any(betas >= 1):
        raise ValueError("every beta_t must lie strictly between 0 and 1")
    return betas


def _check_t(t: int, num_steps: int) -> int:
    if not isinstance(t, int | np.integer) or not 0 <= t <= num_steps:
        raise ValueError(f"t must be an integer in 0..{num_steps} (0 means clean data), got {t!r}")
    return int(t)


def alpha_bars(betas) -> np.ndarray:
    """``alpha_bar_t = prod_{s=1}^{t} (1 - beta_s)`` for ``t = 1 .. T``: how much signal is left."""
    return np.cumprod(1.0 - _check_betas(betas))


def closed_form_moments(betas, t: int) -> tuple[float, float]:
    """``(scale, variance)`` of ``q(x_t | x_0) = N(scale * x_0, variance * I)``, in one step.

    ``scale = sqrt(alpha_bar_t)`` and ``variance = 1 - alpha_bar_t``; ``t = 0`` gives ``(1, 0)``.
    """
    betas = _check_betas(betas)
    t = _check_t(t, betas.size)
    a_bar = 1.0 if t == 0 else float(alpha_bars(betas)[t - 1])
    return float(np.sqrt(a_bar)), 1.0 - a_bar


def iterated_moments(betas, t: int) -> tuple[float, float]:
    """The same ``(scale, variance)`` found the slow way: push them through ``t`` one-step kernels.

    If ``x_{s-1} = m x_0 + sqrt(v) eps`` then ``x_s = sqrt(1 - beta_s) x_{s-1} + sqrt(beta_s) eps'``
    has ``m' = sqrt(1 - beta_s) m`` and ``v' = (1 - beta_s) v + beta_s``.
    """
    betas = _check_betas(betas)
    t = _check_t(t, betas.size)
    scale, variance = 1.0, 0.0
    for beta in betas[:t]:
        scale = float(np.sqrt(1.0 - beta) * scale)
        variance = float((1.0 - beta) * variance + beta)
    return scale, variance


def q_sample(x0, t: int, betas, rng: np.random.Generator | None = None) -> np.ndarray:
    """Draw ``x_t ~ q(x_t | x_0)`` directly with the closed form (any shape of ``x0``)."""
    x0 = np.asarray(x0, dtype=np.float64)
    scale, variance = closed_form_moments(betas, t)
    rng = np.random.default_rng() if rng is None else rng
    return scale * x0 + np.sqrt(variance) * rng.standard_normal(x0.shape)


def q_step(x_prev, beta: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """One forward step ``x_t ~ N(sqrt(1 - beta) x_{t-1}, beta I)``."""
    if not 0.0 < beta < 1.0:
        raise ValueError(f"beta must lie strictly between 0 and 1, got {beta}")
    x_prev = np.asarray(x_prev, dtype=np.float64)
    rng = np.random.default_rng() if rng is None else rng
    return np.sqrt(1.0 - beta) * x_prev + np.sqrt(beta) * rng.standard_normal(x_prev.shape)


def iterate_q(x0, t: int, betas, rng: np.random.Generator | None = None) -> np.ndarray:
    """Draw ``x_t`` by applying :func:`q_step` ``t`` times (slow; for checking the closed form)."""
    betas = _check_betas(betas)
    t = _check_t(t, betas.size)
    rng = np.random.default_rng() if rng is None else rng
    x = np.asarray(x0, dtype=np.float64)
    for beta in betas[:t]:
        x = q_step(x, float(beta), rng)
    return x
