"""Checks for chapter 07's exercises (diffusion models).

Each code check recomputes the right answer with :mod:`aigc_course.diffusion` on inputs it makes
up (several schedules, steps and shapes), so no numeric result is hard-coded, and recognises the
typical slips — ``t`` read 0-based, ``alpha_t`` where ``alpha_bar_t`` belongs, ``x0`` returned
where the noise is expected, the guidance weights swapped, a sampler that never reaches ``t = 0``
— to say which one it was. The experiment is judged on a Gaussian toy whose exact answer is known.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from aigc_course import diffusion
from aigc_course.checks import (
    CheckFailed,
    NotAttempted,
    check,
    check_callable,
    check_choice,
    check_close,
    check_own_code,
    check_shape,
    ok,
)

__all__ = [
    "check_posterior",
    "check_v_to_x0_eps",
    "check_ddim_step",
    "check_guidance",
    "check_schedule_answer",
    "check_ddim_experiment",
    "gaussian_eps",
    "ddim_spread_error",
    "HINTS",
]

_SCHEDULES = (
    ("linear", diffusion.linear_beta_schedule(1000)),
    ("cosine", diffusion.cosine_beta_schedule(1000)),
    ("cosine", diffusion.cosine_beta_schedule(50)),
)


def _pair(name: str, got, shape) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(got, tuple | list) or len(got) != 2:
        raise CheckFailed(f"{name}: expected a pair (two arrays), got {type(got).__name__}")
    check_shape(f"{name}[0]", got[0], shape)
    check_shape(f"{name}[1]", got[1], shape)
    return np.asarray(got[0], dtype=np.float64), np.asarray(got[1], dtype=np.float64)


def _posterior(betas, t, x0, x_t, abar=None, beta=None):
    """Mean and variance of q(x_{t-1} | x_t, x0) with alpha_bar table ``abar`` (index t)."""
    abar = diffusion.alpha_bar_table(betas) if abar is None else abar
    beta = betas[t - 1] if beta is None else beta
    mean = (np.sqrt(abar[t - 1]) * beta * x0 + np.sqrt(1 - beta) * (1 - abar[t - 1]) * x_t) / (
        1 - abar[t]
    )
    return mean, (1 - abar[t - 1]) / (1 - abar[t]) * beta


def _matches(mean, variance, candidate) -> bool:
    return bool(np.allclose(mean, candidate[0]) and np.allclose(variance, candidate[1]))


@check(reread="chapter 07, section 2 (The reverse process, the ELBO, and why we predict the noise)")
def check_posterior(posterior: Callable) -> None:
    """``posterior(x0, x_t, t, betas)`` returns ``(mean, variance)`` of q(x_{t-1} | x_t, x0)."""
    check_callable("posterior", posterior)
    check_own_code(
        "posterior",
        posterior,
        ["posterior_moments", "ddpm_step", "alpha_bar_table", "alpha_bars"],
        "the exercise is to build alpha_bar and Bayes' rule yourself with NumPy, not to call "
        "aigc_course.diffusion",
    )
    rng = np.random.default_rng(7)
    for label, betas in _SCHEDULES:
        big_t = len(betas)
        cumulative = np.cumprod(1.0 - betas)  # alpha_bar_1 .. alpha_bar_T, without alpha_bar_0
        for t in (2, big_t // 3, big_t - 1):
            x0, x_t = rng.uniform(-1, 1, (3, 5)), rng.standard_normal((3, 5))
            name = f"posterior(x0, x_t, t={t}, {label} betas, T={big_t})"
            got = posterior(x0.copy(), x_t.copy(), t, betas.copy())
            if not isinstance(got, tuple | list) or len(got) != 2:
                raise CheckFailed(f"{name}: expected (mean, variance), got {type(got).__name__}")
            c0, ct, var = diffusion.posterior_moments(betas, t)
            mean, variance = np.asarray(got[0], np.float64), np.asarray(got[1], np.float64)
            hint = None
            alphas = np.concatenate([[1.0], 1.0 - betas])  # alpha_t in place of alpha_bar_t
            if _matches(mean, variance, _posterior(betas, t + 1, x0, x_t)) or _matches(
                mean, variance, _posterior(betas, t, x0, x_t, abar=cumulative)
            ):
                hint = (
                    "t is 1-based, read 0-based here: alpha_bar_t is the product of the first t "
                    "alphas, and the table needs alpha_bar_0 = 1 in front"
                )
            elif _matches(mean, variance, _posterior(betas, t, x0, x_t, abar=alphas)):
                hint = (
                    "the coefficients use alpha_bar (the running product), not the single alpha_t"
                )
            elif np.allclose(variance, betas[t - 1]) and not np.isclose(var, betas[t - 1]):
                hint = (
                    "the posterior variance is beta_tilde_t, smaller than beta_t: see the notebook"
                )
            check_close(f"{name} mean", mean, c0 * x0 + ct * x_t, rtol=1e-6, atol=1e-9, hint=hint)
            check_close(f"{name} variance", variance, var, rtol=1e-6, atol=1e-12, hint=hint)
    ok("the posterior mean and variance match Bayes' rule")


@check(reread="chapter 07, section 2 (why we predict the noise: eps, x0 or v)")
def check_v_to_x0_eps(v_to_x0_eps: Callable) -> None:
    """``v_to_x0_eps(x_t, v, alpha_bar)`` returns ``(x0, eps)`` implied by a v prediction."""
    check_callable("v_to_x0_eps", v_to_x0_eps)
    check_own_code(
        "v_to_x0_eps",
        v_to_x0_eps,
        ["to_x0_eps"],
        "solve the two linear equations yourself rather than calling diffusion.to_x0_eps",
    )
    rng = np.random.default_rng(8)
    for a in (0.999, 0.5, 0.02):
        x0, eps = rng.uniform(-1, 1, (2, 6, 6)), rng.standard_normal((2, 6, 6))
        x_t = np.sqrt(a) * x0 + np.sqrt(1 - a) * eps
        v = diffusion.target(x0, eps, a, "v")
        name = f"v_to_x0_eps(x_t, v, alpha_bar={a})"
        got_x0, got_eps = _pair(name, v_to_x0_eps(x_t.copy(), v.copy(), a), x0.shape)
        hint = None
        if np.allclose(got_x0, eps) and np.allclose(got_eps, x0):
            hint = "return x0 first, then eps"
        elif np.allclose(got_eps, x0):
            hint = "the second value is the noise eps, not the clean image x0"
        elif np.allclose(got_x0, a * x_t - (1 - a) * v) or np.allclose(
            got_eps, (1 - a) * x_t + a * v
        ):
            hint = "the coefficients are square roots: sqrt(alpha_bar) and sqrt(1 - alpha_bar)"
        elif np.allclose(got_x0, -(np.sqrt(a) * x_t - np.sqrt(1 - a) * v)) or np.allclose(
            got_eps, np.sqrt(1 - a) * x_t - np.sqrt(a) * v
        ):
            hint = "a sign is flipped: v = sqrt(a) eps - sqrt(1 - a) x0, mind the minus"
        check_close(f"{name}[0] (x0)", got_x0, x0, rtol=1e-6, atol=1e-8, hint=hint)
        check_close(f"{name}[1] (eps)", got_eps, eps, rtol=1e-6, atol=1e-8, hint=hint)
    ok("x0 and eps recovered exactly from v")


@check(reread="chapter 07, sections 5 and 6 (Sampling; quality against the number of steps)")
def check_ddim_step(ddim_step: Callable) -> None:
    """``ddim_step(x_t, eps_hat, alpha_bar_t, alpha_bar_s)`` returns the deterministic x_s."""
    check_callable("ddim_step", ddim_step)
    rng = np.random.default_rng(9)
    for a_t, a_s in ((0.1, 0.3), (0.5, 0.9), (0.97, 0.999)):
        x0, eps = rng.uniform(-1, 1, (3, 4)), rng.standard_normal((3, 4))
        x_t = np.sqrt(a_t) * x0 + np.sqrt(1 - a_t) * eps
        name = f"ddim_step(x_t, eps_hat, alpha_bar_t={a_t}, alpha_bar_s={a_s})"
        got = ddim_step(x_t.copy(), eps.copy(), a_t, a_s)
        check_shape(name, got, x_t.shape)
        got = np.asarray(got, dtype=np.float64)
        want = diffusion.ddim_step(x0, eps, a_s)
        hint = None
        if np.allclose(got, x0):
            hint = "that is the estimate of x0; the step goes on to x_s = sqrt(a_s) x0 + ..."
        elif np.allclose(got, np.sqrt(a_s) * x_t + np.sqrt(1 - a_s) * eps):
            hint = "first estimate x0 from x_t and eps_hat, then re-noise it to level s"
        elif np.allclose(got, diffusion.ddim_step(x0, eps, a_t)):
            hint = "the new image has noise level s: use alpha_bar_s when re-noising"
        check_close(name, got, want, rtol=1e-6, atol=1e-9, hint=hint)
    ok("one DDIM step lands exactly on the deterministic path")


@check(reread="chapter 07, section 7 (Steering: classifier-free guidance)")
def check_guidance(guided: Callable) -> None:
    """``guided(cond, uncond, w)`` returns ``uncond + w * (cond - uncond)``."""
    check_callable("guided", guided)
    rng = np.random.default_rng(10)
    cond, uncond = rng.standard_normal((2, 3, 3)), rng.standard_normal((2, 3, 3))
    for w in (1.0, 3.0, 0.0):
        name = f"guided(cond, uncond, w={w})"
        got = guided(cond.copy(), uncond.copy(), w)
        check_shape(name, got, cond.shape)
        got = np.asarray(got, dtype=np.float64)
        hint = None
        if np.allclose(got, cond + w * (uncond - cond)):
            hint = "cond and uncond are the wrong way round: w = 0 must give uncond, w = 1 cond"
        elif np.allclose(got, cond + w * (cond - uncond)):
            hint = "w = 1 must give the plain conditional prediction: start from uncond"
        elif np.allclose(got, w * cond):
            hint = "scaling cond by w is not guidance: w = 0 must give uncond, not zero"
        check_close(name, got, uncond + w * (cond - uncond), rtol=1e-9, atol=1e-12, hint=hint)
    ok("classifier-free guidance combines the two predictions correctly")


@check(reread="chapter 07, section 1 (the linear and cosine schedules, and the SNR)")
def check_schedule_answer(answer: str) -> None:
    """The multiple-choice question on the linear and cosine schedules: ``"b"``."""
    check_choice(
        "schedule answer",
        answer,
        "b",
        {
            "a": "measure it: with the linear schedule the SNR is already tiny long before t = T, "
            "on 174 of 1000 steps against the cosine schedule's 21",
            "c": "both schedules start at SNR ~ 1e4; the difference is at the noisy end",
            "d": "both end far below SNR 1e-3 at t = T: x_T is pure noise with either schedule, "
            "and sampling starts from N(0, I) for both",
        },
        not_attempted='write "a", "b", "c" or "d"',
    )
    ok("the linear schedule wastes its last steps on images that are already pure noise")


# --- The experiment: DDIM steps against the error, on data whose exact answer is known. -------


def gaussian_eps(mean: float, std: float) -> Callable:
    """The best possible noise prediction, ``E[eps | x_t]``, for data ``x0 ~ N(mean, std^2)``.

    ``x_t = sqrt(a) x0 + sqrt(1 - a) eps`` is Gaussian jointly with ``eps``, so the conditional
    mean is linear: ``sqrt(1 - a) (x_t - sqrt(a) mean) / (a std^2 + 1 - a)``. No network could
    predict the noise better from ``x_t`` alone.
    """

    def eps_hat(x_t, alpha_bar: float):
        a = float(alpha_bar)
        return np.sqrt(1.0 - a) * (x_t - np.sqrt(a) * mean) / (a * std**2 + 1.0 - a)

    return eps_hat


def _reference_sample(x_t, steps, alpha_bar, eps_fn, offset=0, to_zero=True):
    """Deterministic DDIM from t = T to 0 (``offset=-1``: the table read 0-based)."""
    big_t = len(alpha_bar) - 1
    visits = [int(t) for t in diffusion.sampling_timesteps(big_t, steps)] + ([0] if to_zero else [])
    x = np.asarray(x_t, dtype=np.float64)
    for t, s in zip(visits[:-1], visits[1:], strict=True):
        a_t, a_s = alpha_bar[t + offset], alpha_bar[s + offset]
        eps = eps_fn(x, a_t)
        x = np.sqrt(a_s) * (x - np.sqrt(1 - a_t) * eps) / np.sqrt(a_t) + np.sqrt(1 - a_s) * eps
    return x


def ddim_spread_error(samples, x_T, alpha_bar, mean: float, std: float) -> float:
    """RMS distance of DDIM ``samples`` from the exact end of the deterministic path, in units of
    the data's std. For Gaussian data the probability-flow ODE keeps each sample's standardised
    coordinate ``z = (x_t - sqrt(a_t) mean) / sqrt(a_t std^2 + 1 - a_t)``: from ``x_T`` it ends
    exactly at ``mean + std * z``."""
    a_big = float(alpha_bar[-1])
    z = (np.asarray(x_T, np.float64) - np.sqrt(a_big) * mean) / np.sqrt(a_big * std**2 + 1 - a_big)
    exact = mean + std * z
    return float(np.sqrt(np.mean((np.asarray(samples, np.float64) - exact) ** 2)) / std)


_EXPERIMENT_STEPS = (1, 2, 5, 10, 20, 50, 100, 200)


@check(reread="chapter 07, section 6 (Quality against the number of steps)")
def check_ddim_experiment(
    ddim_sample: Callable,
    answer_min_steps: int,
    step_counts=_EXPERIMENT_STEPS,
    num_steps: int = 1000,
    mean: float = 0.5,
    std: float = 0.2,
    tolerance: float = 0.05,
) -> None:
    """``ddim_sample(x_T, steps, alpha_bar, eps_fn)`` runs deterministic DDIM from ``t = T`` to
    ``t = 0``; judged against a reference on another Gaussian and schedule, to 1e-6. Then
    ``answer_min_steps`` is the fewest of ``step_counts`` whose error (:func:`ddim_spread_error`)
    on N(mean, std^2) with the cosine schedule of ``num_steps`` is below ``tolerance``."""
    check_callable("ddim_sample", ddim_sample)
    alpha_bar = diffusion.alpha_bar_table(diffusion.linear_beta_schedule(200))
    eps_fn = gaussian_eps(-0.3, 0.5)
    x_T = np.random.default_rng(11).standard_normal(64)
    for steps in (1, 4, 25):
        name = f"ddim_sample(x_T, steps={steps}, linear schedule T=200, data N(-0.3, 0.5^2))"
        got = ddim_sample(x_T.copy(), steps, alpha_bar.copy(), eps_fn)
        check_shape(name, got, x_T.shape)
        got = np.asarray(got, dtype=np.float64)
        hint = None
        if np.allclose(got, _reference_sample(x_T, steps, alpha_bar, eps_fn, to_zero=False)):
            hint = (
                "the sampler stops at the last visited step and never jumps to t = 0 "
                "(alpha_bar_0 = 1, the clean data)"
            )
        else:
            with np.errstate(all="ignore"):
                shifted = _reference_sample(x_T, steps, alpha_bar, eps_fn, offset=-1)
            if np.allclose(got, shifted, equal_nan=True):
                hint = (
                    "t is 1-based and alpha_bar[t] is alpha_bar_t (alpha_bar[0] = 1): reading "
                    "alpha_bar[t - 1] shifts every noise level by one step"
                )
        check_close(
            name, got, _reference_sample(x_T, steps, alpha_bar, eps_fn), atol=1e-6, hint=hint
        )
    if answer_min_steps is None or answer_min_steps == "":
        raise NotAttempted(
            "check_ddim_experiment", "set answer_min_steps to a number of steps from your table"
        )
    if isinstance(answer_min_steps, bool) or not isinstance(answer_min_steps, int | np.integer):
        raise CheckFailed(
            f"answer_min_steps must be a whole number of steps, got {answer_min_steps!r}"
        )
    alpha_bar = diffusion.alpha_bar_table(diffusion.cosine_beta_schedule(num_steps))
    eps_fn = gaussian_eps(mean, std)
    x_T = np.random.default_rng(0).standard_normal(2000)
    errors = {
        k: ddim_spread_error(
            _reference_sample(x_T, k, alpha_bar, eps_fn), x_T, alpha_bar, mean, std
        )
        for k in step_counts
    }
    good = [k for k in step_counts if errors[k] < tolerance]
    want = good[0] if good else None
    table = ", ".join(f"{k}: {e:.1%}" for k, e in errors.items())
    if answer_min_steps == want:
        ok(
            f"measured: {want} DDIM steps bring the error under {tolerance:.0%} "
            f"(one step: {errors[step_counts[0]]:.0%}; errors by steps: {table})"
        )
        return
    got = int(answer_min_steps)
    if got == 1 or (got in errors and errors[got] > 0.5):
        raise CheckFailed(
            f"answer_min_steps = {got}: with the best possible eps_hat, one jump from x_T lands "
            f"on E[x0 | x_T], about the data's mean, so the spread is lost "
            f"(error {errors.get(got, errors[step_counts[0]]):.0%})",
            "exercise 3's one jump used the true noise, which a sampler never knows",
        )
    if got in errors and errors[got] >= tolerance:
        raise CheckFailed(
            f"answer_min_steps = {got}: your own table says the error at {got} steps is "
            f"{errors[got]:.1%}, not below {tolerance:.0%}",
            "read the table for the first row under the tolerance",
        )
    if got in errors:
        raise CheckFailed(
            f"answer_min_steps = {got}: fewer steps already suffice ({table})",
            "the fewest steps under the tolerance, not any number that is under it",
        )
    raise CheckFailed(
        f"answer_min_steps = {got} is not one of the step counts measured, {list(step_counts)}"
    )


#: Graded hints (``aigc_course.hints.hint``): the idea first, then the tool, never the line.
HINTS = {
    "posterior": (
        "Bayes' rule with two Gaussians: q(x_t | x_{t-1}) and q(x_{t-1} | x_0) multiply into a "
        "Gaussian in x_{t-1}; the notebook's formula is its mean and variance. Everything in it "
        "is a schedule number except x0 and x_t.",
        "You need alpha_bar_{t-1} and alpha_bar_t: the running product of 1 - beta "
        "(np.cumprod), with alpha_bar_0 = 1 in front (np.concatenate) so that position t holds "
        "alpha_bar_t. beta_t is betas[t - 1] and alpha_t = 1 - beta_t.",
        "Check yourself: at t = 2 with the cosine schedule, beta_tilde / beta is about 0.47; "
        "with the wrong index it is not.",
    ),
    "v_to_x0_eps": (
        "x_t and v are two linear combinations of the same two unknowns x0 and eps, with "
        "coefficients sqrt(alpha_bar) and sqrt(1 - alpha_bar) — like a rotation by an angle.",
        "A rotation is undone by its transpose: combine x_t and v once with weights "
        "(sqrt(a), -sqrt(1 - a)) and once with (sqrt(1 - a), sqrt(a)); a + (1 - a) = 1 makes "
        "the other unknown cancel. np.sqrt does the roots.",
        "Check yourself: with alpha_bar = 1 (no noise), x0 is x_t and eps is v.",
    ),
    "ddim_step": (
        "DDIM never adds fresh noise: it first says which clean image x_t points to, then puts "
        "that image back at the smaller noise level s with the same noise direction.",
        "Solve x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps for x0 with eps_hat in place of eps, then "
        "use the forward formula once more with alpha_bar_s.",
        "Check yourself: with alpha_bar_s = alpha_bar_t the step must give x_t back unchanged.",
    ),
    "guidance": (
        "Guidance is a straight line through the two predictions, parametrised by w: w = 0 sits "
        "on the unconditional one, w = 1 on the conditional one.",
        "Start at the w = 0 end and add w times the vector from there to the other end; "
        "NumPy arrays subtract and scale element by element.",
        "Check yourself: w = 3 must lie further from uncond than cond does, on the same side.",
    ),
    "schedule": (
        "The SNR alpha_bar / (1 - alpha_bar) says how much of the image is left at a step. "
        "Count, for each schedule, how many steps are almost pure noise.",
        "Compare the two counts the cell printed; then ask where each schedule is different: "
        "at the clean end (small t) or at the noisy end (t near T)?",
    ),
    "ddim_experiment": (
        "A DDIM sampler is a loop: visit the noise levels from t = T down, and at each one take "
        "one step of exercise 3 to the next level, the last one being t = 0 (clean data).",
        "diffusion.sampling_timesteps(T, steps) lists the levels to visit, T first; add 0 at "
        "the end and pair each level with the next. alpha_bar[t] is alpha_bar_t (alpha_bar[0] "
        "= 1), eps_fn(x, alpha_bar_t) predicts the noise, and your ddim_step moves x.",
        "With steps = 1 the loop runs once, from T straight to 0. Before answering, read the "
        "table: the fewest steps whose error is under the tolerance.",
    ),
}
