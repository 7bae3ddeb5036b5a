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
