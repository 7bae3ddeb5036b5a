"""The maths of a denoising diffusion model, in NumPy: schedules, the forward process, the
reverse-process posterior and one step of each sampler.

A denoising diffusion model (Ho et al., 2020) destroys data step by step with Gaussian
noise, ``q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)``, and learns to undo
it. Because every step is Gaussian, the whole chain collapses into one closed form,
``q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)`` with
``alpha_bar_t = prod_{s<=t} (1 - beta_s)``: we can jump to any step without iterating.
This module provides the schedules, that closed form, and the slow iterated version so
the two can be checked against each other (chapter 02), then what chapter 07 needs to run the
process backwards: the posterior ``q(x_{t-1} | x_t, x_0)``, the conversions between what a
network may predict (the noise ``eps``, the clean image ``x0`` or ``v``), and one step of the
DDPM and DDIM samplers. The step functions use only arithmetic on their array arguments, so they
work on NumPy arrays and TensorFlow tensors alike; schedule values enter as Python floats.

Time steps are 1-based as in the paper: ``t = 1 .. T``; ``betas[t - 1]`` is ``beta_t``, and
``alpha_bar_0 = 1`` (``t = 0`` is clean data).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "linear_beta_schedule",
    "cosine_beta_schedule",
    "SCHEDULES",
    "make_schedule",
    "alpha_bars",
    "alpha_bar_table",
    "snr",
    "posterior_moments",
    "elbo_weights",
    "to_x0_eps",
    "target",
    "sampling_timesteps",
    "ddpm_step",
    "ddim_step",
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


def cosine_beta_schedule(num_steps: int = 1000, offset: float = 0.008) -> np.ndarray:
    """Nichol & Dhariwal's (2021) schedule: ``alpha_bar_t = f(t) / f(0)`` with
    ``f(t) = cos^2(pi/2 (t/T + s) / (1 + s))``, each ``beta_t`` capped at 0.999.

    The linear schedule destroys a 28x28 image long before ``t = T`` (``alpha_bar`` is ~0 for
    the last third of the steps, which the network then learns nothing from); the cosine one
    lowers the signal-to-noise ratio evenly in log scale.
    """
    if not isinstance(num_steps, int | np.integer) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer, got {num_steps!r}")
    if not 0.0 <= offset < 1.0:
        raise ValueError(f"offset must lie in [0, 1), got {offset}")
    f = np.cos(np.pi / 2 * (np.arange(num_steps + 1) / num_steps + offset) / (1 + offset)) ** 2
    return np.clip(1.0 - f[1:] / f[:-1], 1e-8, 0.999)


SCHEDULES = {"linear": linear_beta_schedule, "cosine": cosine_beta_schedule}


def make_schedule(name: str, num_steps: int) -> np.ndarray:
    """``betas`` of the schedule called ``name`` ("linear" or "cosine") with ``num_steps`` steps."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    return SCHEDULES[name](num_steps)


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


def alpha_bar_table(betas) -> np.ndarray:
    """``[alpha_bar_0 = 1, alpha_bar_1, ..., alpha_bar_T]``: index it with ``t`` directly."""
    return np.concatenate([[1.0], alpha_bars(betas)])


def snr(alpha_bar):
    """Signal-to-noise ratio ``alpha_bar / (1 - alpha_bar)`` of ``x_t`` (infinite at ``t = 0``)."""
    alpha_bar = np.asarray(alpha_bar, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return alpha_bar / (1.0 - alpha_bar)


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


# --------------------------------------------------------------------------- the reverse process


def posterior_moments(betas, t: int) -> tuple[float, float, float]:
    """``(coef_x0, coef_xt, variance)`` of ``q(x_{t-1} | x_t, x_0)``, for ``t = 1 .. T``.

    Bayes' rule on two Gaussians gives a Gaussian with mean ``coef_x0 * x0 + coef_xt * x_t``:
    ``coef_x0 = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t)``,
    ``coef_xt = sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t)`` and variance
    ``beta_tilde_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t`` (Ho et al., 2020, eq. 7).
    """
    betas = _check_betas(betas)
    t = _check_t(t, betas.size)
    if t == 0:
        raise ValueError("the posterior q(x_{t-1} | x_t, x_0) needs t >= 1")
    abar = alpha_bar_table(betas)
    beta, a_t, a_prev = float(betas[t - 1]), float(abar[t]), float(abar[t - 1])
    coef_x0 = a_prev**0.5 * beta / (1.0 - a_t)
    coef_xt = (1.0 - beta) ** 0.5 * (1.0 - a_prev) / (1.0 - a_t)
    return float(coef_x0), float(coef_xt), float((1.0 - a_prev) / (1.0 - a_t) * beta)


def elbo_weights(betas) -> np.ndarray:
    """``lambda_t`` for ``t = 1 .. T``: the ELBO's term ``L_{t-1}`` is ``lambda_t ||eps - eps_hat||^2``.

    With the reverse step ``p(x_{t-1} | x_t) = N(mu_hat, sigma_t^2 I)``, ``sigma_t^2 = beta_tilde_t``
    and ``mu_hat`` written through a noise estimate ``eps_hat``, the KL divergence to the
    posterior is ``lambda_t = beta_t^2 / (2 sigma_t^2 alpha_t (1 - alpha_bar_t))`` times the squared
    error of the noise (Ho et al., 2020, eq. 12). ``lambda_1`` is ``nan``: at ``t = 1`` the
    posterior has no variance and the ELBO has a decoder term instead.
    """
    betas = _check_betas(betas)
    abar = alpha_bar_table(betas)
    with np.errstate(divide="ignore", invalid="ignore"):
        tilde = (1.0 - abar[:-1]) / (1.0 - abar[1:]) * betas
        weights = betas**2 / (2.0 * tilde * (1.0 - betas) * (1.0 - abar[1:]))
    weights[0] = np.nan
    return weights


PREDICTIONS = ("eps", "x0", "v")


def to_x0_eps(x_t, output, alpha_bar: float, prediction: str = "eps"):
    """``(x0, eps)`` implied by a network's ``output`` at ``x_t = sqrt(a) x0 + sqrt(1 - a) eps``.

    ``prediction`` says what the network predicts: ``"eps"`` (the noise, Ho et al., 2020),
    ``"x0"`` (the clean image) or ``"v" = sqrt(a) eps - sqrt(1 - a) x0`` (Salimans & Ho, 2022).
    """
    a = float(alpha_bar)
    if not 0.0 < a <= 1.0:
        raise ValueError(f"alpha_bar must lie in (0, 1], got {alpha_bar}")
    sa, sb = a**0.5, (1.0 - a) ** 0.5  # Python floats keep float32 arrays float32
    if prediction == "eps":
        return (x_t - sb * output) / sa, output
    if prediction == "x0":
        return output, (x_t - sa * output) / sb if sb > 0 else 0.0 * output
    if prediction == "v":
        return sa * x_t - sb * output, sb * x_t + sa * output
    raise ValueError(f"prediction must be one of {', '.join(PREDICTIONS)}, got {prediction!r}")


def target(x0, eps, alpha_bar, prediction: str = "eps"):
    """What a network trained for ``prediction`` should output for ``x_t`` made from ``x0, eps``.

    ``alpha_bar`` may be an array or tensor broadcastable against ``x0`` (one value per image).
    """
    sa, sb = alpha_bar**0.5, (1.0 - alpha_bar) ** 0.5
    if prediction == "eps":
        return eps
    if prediction == "x0":
        return x0
    if prediction == "v":
        return sa * eps - sb * x0
    raise ValueError(f"prediction must be one of {', '.join(PREDICTIONS)}, got {prediction!r}")


def sampling_timesteps(num_steps: int, steps: int) -> np.ndarray:
    """The ``steps`` time steps a sampler visits, from ``T`` down (then it jumps to ``t = 0``).

    Evenly spaced and always starting at ``t = T``, where ``x_T`` really is pure noise
    ("trailing" spacing, Lin et al., 2024): ``steps = T`` visits every step ``T, T-1, ..., 1``.
    """
    if not isinstance(steps, int | np.integer) or not 1 <= steps <= num_steps:
        raise ValueError(
            f"steps must be an integer in 1..{num_steps} (the schedule's T), got {steps!r}"
        )
    return np.round(np.arange(steps, 0, -1) * num_steps / steps).astype(np.int64)


def ddpm_step(x_t, x0, betas, t: int, noise):
    """One ancestral step ``x_{t-1} ~ q(x_{t-1} | x_t, x0)`` with ``x0`` the network's estimate.

    ``noise`` is a standard normal array like ``x_t``; at ``t = 1`` it is not used (the last step
    returns the posterior mean).
    """
    coef_x0, coef_xt, variance = posterior_moments(betas, t)
    mean = coef_x0 * x0 + coef_xt * x_t
    return mean if t == 1 else mean + variance**0.5 * noise


def ddim_step(x0, eps, alpha_bar_prev: float, eta: float = 0.0, alpha_bar_t: float | None = None,
              noise=None):  # fmt: skip
    """One DDIM step (Song et al., 2021) from ``x_t`` to ``x_s`` (``s < t``, any gap).

    ``x_s = sqrt(a_s) x0 + sqrt(1 - a_s - sigma^2) eps + sigma * noise`` with
    ``sigma = eta * sqrt((1 - a_s) / (1 - a_t)) * sqrt(1 - a_t / a_s)``. ``eta = 0`` is
    deterministic (no ``noise`` needed); ``eta = 1`` with ``s = t - 1`` is exactly the DDPM step.
    """
    a_s = float(alpha_bar_prev)
    sigma = 0.0
    if eta:
        if alpha_bar_t is None or noise is None:
            raise ValueError("eta > 0 needs alpha_bar_t and noise")
        a_t = float(alpha_bar_t)
        sigma = eta * ((1.0 - a_s) / (1.0 - a_t) * (1.0 - a_t / a_s)) ** 0.5
    x_s = a_s**0.5 * x0 + max(1.0 - a_s - sigma**2, 0.0) ** 0.5 * eps
    return x_s + sigma * noise if sigma else x_s
