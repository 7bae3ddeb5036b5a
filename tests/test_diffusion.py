"""The diffusion forward process: schedule, closed form, and the slow iterated version agree."""

from __future__ import annotations

import numpy as np
import pytest

from aigc_course import diffusion


def test_linear_schedule_matches_ho_et_al():
    betas = diffusion.linear_beta_schedule(1000)
    assert betas.shape == (1000,)
    assert betas[0] == pytest.approx(1e-4) and betas[-1] == pytest.approx(0.02)
    assert np.all(np.diff(betas) > 0)


def test_alpha_bars_is_running_product_of_one_minus_beta():
    betas = np.array([0.1, 0.2, 0.5])
    np.testing.assert_allclose(diffusion.alpha_bars(betas), [0.9, 0.72, 0.36])


@pytest.mark.parametrize("t", [0, 1, 2, 57, 500, 1000])
def test_closed_form_equals_iterated_moments(t):
    betas = diffusion.linear_beta_schedule(1000)
    closed = diffusion.closed_form_moments(betas, t)
    iterated = diffusion.iterated_moments(betas, t)
    np.testing.assert_allclose(closed, iterated, rtol=1e-10, atol=1e-15)


def test_t_zero_is_clean_data_and_t_max_is_almost_pure_noise():
    betas = diffusion.linear_beta_schedule(1000)
    assert diffusion.closed_form_moments(betas, 0) == (1.0, 0.0)
    scale, variance = diffusion.closed_form_moments(betas, 1000)
    assert scale < 0.01 and variance > 0.9999


def test_sampled_moments_match_closed_form_both_ways():
    betas = diffusion.linear_beta_schedule(200, 1e-3, 0.05)
    x0 = np.full(40_000, -0.6)
    scale, variance = diffusion.closed_form_moments(betas, 120)
    for x in (
        diffusion.q_sample(x0, 120, betas, np.random.default_rng(0)),
        diffusion.iterate_q(x0, 120, betas, np.random.default_rng(1)),
    ):
        # standard errors: sqrt(var / n) ~ 0.005 for the mean, ~0.007 for the variance
        assert x.mean() == pytest.approx(scale * -0.6, abs=0.02)
        assert x.var() == pytest.approx(variance, abs=0.03)


def test_q_sample_keeps_shape_and_is_seeded():
    betas = diffusion.linear_beta_schedule(10)
    x0 = np.zeros((2, 28, 28))
    a = diffusion.q_sample(x0, 5, betas, np.random.default_rng(3))
    b = diffusion.q_sample(x0, 5, betas, np.random.default_rng(3))
    assert a.shape == x0.shape and np.array_equal(a, b)


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="num_steps"):
        diffusion.linear_beta_schedule(0)
    with pytest.raises(ValueError, match="beta_start"):
        diffusion.linear_beta_schedule(10, 0.5, 0.1)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        diffusion.alpha_bars([0.1, 1.0])
    with pytest.raises(ValueError, match=r"t must be an integer in 0\.\.10"):
        diffusion.closed_form_moments(diffusion.linear_beta_schedule(10), 11)
    with pytest.raises(ValueError, match="1-D"):
        diffusion.alpha_bars(np.zeros((2, 2)) + 0.1)


# --------------------------------------------------------------------------- chapter 07's maths


def test_cosine_schedule_follows_its_formula_and_ends_in_noise():
    betas = diffusion.cosine_beta_schedule(1000)
    abar = diffusion.alpha_bar_table(betas)
    f = np.cos(np.pi / 2 * (np.array([0, 250, 500]) / 1000 + 0.008) / 1.008) ** 2
    np.testing.assert_allclose(abar[[250, 500]], f[1:] / f[0], rtol=1e-9)
    assert abar[0] == 1.0 and abar[1000] < 1e-8 and np.all(np.diff(abar) < 0)
    assert betas.max() <= 0.999
    # the linear schedule is (almost) pure noise for its last quarter; the cosine one is not
    linear = diffusion.alpha_bar_table(diffusion.linear_beta_schedule(1000))
    assert linear[750] < 0.005 and abar[750] > 0.1


def test_posterior_is_bayes_rule_checked_by_monte_carlo():
    """Draw x_{t-1} ~ q(.|x0) and x_t ~ q(.|x_{t-1}); regress x_{t-1} on x_t."""
    betas = diffusion.linear_beta_schedule(50, 1e-3, 0.2)
    t, x0 = 20, 0.7
    rng = np.random.default_rng(0)
    prev = diffusion.q_sample(np.full(400_000, x0), t - 1, betas, rng)
    x_t = diffusion.q_step(prev, betas[t - 1], rng)
    slope, intercept = np.polyfit(x_t, prev, 1)
    residual = prev - (slope * x_t + intercept)
    coef_x0, coef_xt, variance = diffusion.posterior_moments(betas, t)
    assert slope == pytest.approx(coef_xt, abs=0.005)
    assert intercept == pytest.approx(coef_x0 * x0, abs=0.005)
    assert residual.var() == pytest.approx(variance, rel=0.01)


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_predictions_convert_back_to_x0_and_eps(prediction):
    rng = np.random.default_rng(1)
    x0, eps = rng.uniform(-1, 1, (4, 28, 28, 1)), rng.standard_normal((4, 28, 28, 1))
    for a in (0.999, 0.5, 0.01):
        x_t = a**0.5 * x0 + (1 - a) ** 0.5 * eps
        out = diffusion.target(x0, eps, a, prediction)
        got_x0, got_eps = diffusion.to_x0_eps(x_t, out, a, prediction)
        np.testing.assert_allclose(got_x0, x0, atol=1e-9)
        np.testing.assert_allclose(got_eps, eps, atol=1e-9)


def test_ddim_with_eta_one_is_the_ddpm_step():
    betas = diffusion.cosine_beta_schedule(100)
    abar = diffusion.alpha_bar_table(betas)
    rng = np.random.default_rng(2)
    x0, eps, noise = rng.uniform(-1, 1, 50), rng.standard_normal(50), rng.standard_normal(50)
    for t in (2, 37, 100):
        x_t = abar[t] ** 0.5 * x0 + (1 - abar[t]) ** 0.5 * eps
        ddpm = diffusion.ddpm_step(x_t, x0, betas, t, noise)
        ddim = diffusion.ddim_step(x0, eps, abar[t - 1], 1.0, abar[t], noise)
        np.testing.assert_allclose(ddim, ddpm, atol=1e-12)


def test_ddim_with_eta_zero_is_deterministic_and_lands_on_x0():
    betas = diffusion.cosine_beta_schedule(100)
    abar = diffusion.alpha_bar_table(betas)
    x0, eps = np.array([0.3, -0.9]), np.array([1.2, -0.4])
    step = diffusion.ddim_step(x0, eps, abar[40])
    assert np.array_equal(step, diffusion.ddim_step(x0, eps, abar[40], 0.0, abar[60], noise=eps))
    np.testing.assert_allclose(step, abar[40] ** 0.5 * x0 + (1 - abar[40]) ** 0.5 * eps)
    np.testing.assert_allclose(diffusion.ddim_step(x0, eps, 1.0), x0)  # s = 0: clean data


def test_sampling_timesteps_start_at_t_and_are_evenly_spaced():
    np.testing.assert_array_equal(diffusion.sampling_timesteps(1000, 4), [1000, 750, 500, 250])
    np.testing.assert_array_equal(diffusion.sampling_timesteps(5, 5), [5, 4, 3, 2, 1])
    assert len(diffusion.sampling_timesteps(1000, 33)) == 33
    with pytest.raises(ValueError, match="steps must be an integer in 1..10"):
        diffusion.sampling_timesteps(10, 11)


def test_reverse_process_errors_name_the_fix():
    betas = diffusion.cosine_beta_schedule(10)
    with pytest.raises(ValueError, match="t >= 1"):
        diffusion.posterior_moments(betas, 0)
    with pytest.raises(ValueError, match="prediction must be one of eps, x0, v"):
        diffusion.target(0.0, 0.0, 0.5, "noise")
    with pytest.raises(ValueError, match="unknown schedule 'quadratic'"):
        diffusion.make_schedule("quadratic", 10)
    with pytest.raises(ValueError, match="eta > 0 needs alpha_bar_t and noise"):
        diffusion.ddim_step(0.0, 0.0, 0.5, eta=0.5)


def test_elbo_term_is_a_weighted_noise_error():
    """KL(q(x_{t-1}|x_t,x0) || p(x_{t-1}|x_t)) with mu_hat from eps_hat == lambda_t |eps - eps_hat|^2."""
    betas = diffusion.cosine_beta_schedule(100)
    abar = diffusion.alpha_bar_table(betas)
    rng = np.random.default_rng(5)
    x0, eps = rng.uniform(-1, 1, 10), rng.standard_normal(10)
    eps_hat = eps + rng.normal(0, 0.2, 10)
    lam = diffusion.elbo_weights(betas)
    assert np.isnan(lam[0]) and np.all(lam[1:] > 0)
    for t in (2, 30, 99):
        x_t = abar[t] ** 0.5 * x0 + (1 - abar[t]) ** 0.5 * eps
        c0, ct, var = diffusion.posterior_moments(betas, t)
        mu = c0 * x0 + ct * x_t
        # Ho et al.'s mean: (x_t - beta_t / sqrt(1 - abar_t) eps_hat) / sqrt(alpha_t)
        mu_hat = (x_t - betas[t - 1] / (1 - abar[t]) ** 0.5 * eps_hat) / (1 - betas[t - 1]) ** 0.5
        kl = np.sum((mu - mu_hat) ** 2) / (2 * var)  # equal variances: only the means differ
        assert kl == pytest.approx(lam[t - 1] * np.sum((eps - eps_hat) ** 2), rel=1e-9)
