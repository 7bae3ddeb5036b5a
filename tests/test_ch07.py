"""Chapter 07's exercise checks: the stub is 'not attempted', the listed mistakes (0- vs 1-based
t, alpha for alpha_bar, x0 where eps is expected, guidance weights swapped) fail with their hint,
and correct answers, written here independently of the package, pass."""

from __future__ import annotations

import numpy as np
import pytest

from aigc_course.checks import CheckFailed, NotAttempted, ch07


def stub(*args, **kwargs):
    raise NotImplementedError


def table(betas, alphas_only=False):
    alphas = 1.0 - np.asarray(betas, dtype=np.float64)
    return np.concatenate([[1.0], alphas if alphas_only else np.cumprod(alphas)])


def posterior(x0, x_t, t, betas, shift=0, alphas_only=False, variance_beta=False):
    abar, t = table(betas, alphas_only), t + shift
    beta = betas[t - 1]
    mean = (np.sqrt(abar[t - 1]) * beta * x0 + np.sqrt(1 - beta) * (1 - abar[t - 1]) * x_t) / (
        1 - abar[t]
    )
    return mean, beta if variance_beta else (1 - abar[t - 1]) / (1 - abar[t]) * beta


def v_to_x0_eps(x_t, v, a):
    return np.sqrt(a) * x_t - np.sqrt(1 - a) * v, np.sqrt(1 - a) * x_t + np.sqrt(a) * v


def ddim_step(x_t, eps, a_t, a_s):
    x0 = (x_t - np.sqrt(1 - a_t) * eps) / np.sqrt(a_t)
    return np.sqrt(a_s) * x0 + np.sqrt(1 - a_s) * eps


def guided(cond, uncond, w):
    return uncond + w * (cond - uncond)


def ddim_sample(x_T, steps, alpha_bar, eps_fn):
    levels = np.round(np.arange(steps, -1, -1) * (len(alpha_bar) - 1) / steps).astype(int)
    x = x_T
    for t, s in zip(levels[:-1], levels[1:], strict=True):
        x = ddim_step(x, eps_fn(x, alpha_bar[t]), alpha_bar[t], alpha_bar[s])
    return x


def test_correct_answers_pass(capsys):
    ch07.check_posterior(posterior)
    ch07.check_v_to_x0_eps(v_to_x0_eps)
    ch07.check_ddim_step(ddim_step)
    ch07.check_guidance(guided)
    ch07.check_guidance(lambda c, u, w: w * c + (1 - w) * u)  # the same formula, rearranged
    ch07.check_schedule_answer(" B ")
    ch07.check_ddim_experiment(ddim_sample, 100)
    assert capsys.readouterr().out.count("✔") == 7


def test_the_experiment_measures_an_error_that_falls_like_one_over_steps():
    alpha_bar = table(np.linspace(1e-4, 0.02, 1000))
    eps_fn = ch07.gaussian_eps(0.5, 0.2)
    x_T = np.random.default_rng(0).standard_normal(500)
    errors = [
        ch07.ddim_spread_error(ddim_sample(x_T, k, alpha_bar, eps_fn), x_T, alpha_bar, 0.5, 0.2)
        for k in (1, 50, 100)
    ]
    assert errors[0] > 0.95  # one jump: the posterior mean, no spread left
    assert 1.8 < errors[1] / errors[2] < 2.2


@pytest.mark.parametrize(
    "check",
    [ch07.check_posterior, ch07.check_v_to_x0_eps, ch07.check_ddim_step, ch07.check_guidance],
)
def test_stub_is_not_attempted(check):
    with pytest.raises(NotAttempted, match="not attempted"):
        check(stub)


def test_unanswered_question_is_not_attempted():
    with pytest.raises(NotAttempted):
        ch07.check_schedule_answer(None)
    with pytest.raises(NotAttempted):
        ch07.check_ddim_experiment(stub, 100)
    with pytest.raises(NotAttempted):
        ch07.check_ddim_experiment(ddim_sample, None)


@pytest.mark.parametrize(
    ("check", "wrong", "hint"),
    [
        (ch07.check_posterior, lambda x0, xt, t, b: posterior(x0, xt, t, b, shift=1), "1-based"),
        (ch07.check_posterior, lambda x0, xt, t, b: posterior(x0, xt, t, b, alphas_only=True),
         "alpha_bar"),
        (ch07.check_posterior, lambda x0, xt, t, b: posterior(x0, xt, t, b, variance_beta=True),
         "beta_tilde"),
        (ch07.check_posterior, lambda x0, xt, t, b: None, "expected"),
        (ch07.check_v_to_x0_eps, lambda xt, v, a: v_to_x0_eps(xt, v, a)[::-1], "x0 first"),
        (ch07.check_v_to_x0_eps, lambda xt, v, a: (v_to_x0_eps(xt, v, a)[0],) * 2, "noise eps"),
        (ch07.check_ddim_step, lambda xt, e, at, as_: (xt - np.sqrt(1 - at) * e) / np.sqrt(at),
         "estimate of x0"),
        (ch07.check_ddim_step, lambda xt, e, at, as_: ddim_step(xt, e, at, at), "alpha_bar_s"),
        (ch07.check_ddim_step, lambda xt, e, at, as_: np.sqrt(as_) * xt + np.sqrt(1 - as_) * e,
         "first estimate x0"),
        (ch07.check_guidance, lambda c, u, w: c + w * (u - c), "wrong way round"),
        (ch07.check_guidance, lambda c, u, w: c + w * (c - u), "plain conditional"),
        (ch07.check_schedule_answer, "a", "linear schedule"),
        (ch07.check_schedule_answer, "c", "noisy end"),
        (ch07.check_schedule_answer, "d", "pure noise"),
        (ch07.check_schedule_answer, "z", "one letter"),
    ],
)  # fmt: skip
def test_listed_mistakes_fail_with_their_hint(check, wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        check(wrong)
