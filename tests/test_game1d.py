"""The 1-D GAN game: densities, integration, D*, V, JSD, and the slider toy's callbacks."""

import math

import numpy as np
import pytest

from aigc_course.game1d import (
    GRADIENT_ROWS,
    LOG4,
    GameExplorer,
    Mixture,
    Normal,
    game_explorer,
    generator_gradients,
    grid,
    integrate,
    js_divergence,
    kl_divergence,
    kl_minus_two_jsd,
    optimal_discriminator,
    optimal_logits,
    plot_game,
    solve_game,
    value_function,
)

MIX = Mixture((Normal(-2.0, 0.5), Normal(1.5, 0.8)), (0.3, 0.7))


def _kl_normal(a: Normal, b: Normal) -> float:
    return math.log(b.sigma / a.sigma) + (a.sigma**2 + (a.mu - b.mu) ** 2) / (2 * b.sigma**2) - 0.5


@pytest.mark.parametrize("dist", [Normal(0.0, 1.0), Normal(3.0, 0.2), MIX])
def test_densities_integrate_to_one_and_match_samples(dist):
    x = grid(dist)
    assert integrate(dist.pdf(x), x) == pytest.approx(1.0, abs=1e-9)
    rng = np.random.default_rng(0)
    samples = dist.sample(200_000, rng)
    mean = integrate(x * dist.pdf(x), x)
    assert samples.mean() == pytest.approx(mean, abs=0.01)


def test_kl_matches_the_gaussian_closed_form():
    for a, b in [(Normal(0, 1), Normal(1, 2)), (Normal(-1, 0.5), Normal(2, 1.5))]:
        x = grid(a, b)
        assert kl_divergence(a.pdf(x), b.pdf(x), x) == pytest.approx(_kl_normal(a, b), abs=1e-7)


def test_optimal_discriminator_formula_and_edge_cases():
    p = np.array([0.0, 1.0, 2.0, 0.0])
    q = np.array([0.0, 1.0, 6.0, 3.0])
    np.testing.assert_allclose(optimal_discriminator(p, q), [0.5, 0.5, 0.25, 0.0])
    np.testing.assert_allclose(1 / (1 + np.exp(-optimal_logits(p, q))), [0.5, 0.5, 0.25, 0.0])
    with pytest.raises(ValueError, match="same grid"):
        optimal_discriminator(p, q[:3])
    with pytest.raises(ValueError, match="negative"):
        optimal_discriminator(-p - 1, q)


@pytest.mark.parametrize(
    "data, gen",
    [(Normal(0, 1), Normal(0, 1)), (Normal(0, 1), Normal(2, 0.5)), (MIX, Normal(0, 1.5))],
)
def test_value_at_d_star_is_minus_log4_plus_2jsd_and_d_star_is_best(data, gen):
    state = solve_game(data, gen)
    assert state.value == pytest.approx(-LOG4 + 2 * state.jsd, abs=1e-9)
    assert 0.0 <= state.jsd <= math.log(2) + 1e-12
    # Any other discriminator scores lower: perturb D* and the value must drop.
    x, p, q = state.x, state.p_data, state.p_g
    for shift in (-0.5, 0.3):
        other = optimal_logits(p, q) + shift
        assert value_function(other, p, q, x, from_logits=True) < state.value
    # A Monte Carlo estimate of V(D*, G) from samples agrees with the integral.
    rng = np.random.default_rng(1)
    xd, xg = data.sample(100_000, rng), gen.sample(100_000, rng)
    dd = optimal_discriminator(data.pdf(xd), gen.pdf(xd))
    dg = optimal_discriminator(data.pdf(xg), gen.pdf(xg))
    mc = np.mean(np.log(dd)) + np.mean(np.log1p(-dg))
    assert mc == pytest.approx(state.value, abs=0.02)


def test_jsd_limits():
    x = grid(Normal(0, 1), Normal(60, 1))
    same = Normal(0, 1).pdf(x)
    assert js_divergence(same, same, x) == pytest.approx(0.0, abs=1e-12)
    assert js_divergence(same, Normal(60, 1).pdf(x), x) == pytest.approx(math.log(2), abs=1e-9)


def test_value_function_with_probabilities_and_logits_agree():
    x = grid(Normal(0, 1), Normal(1, 1), width=6)
    p, q = Normal(0, 1).pdf(x), Normal(1, 1).pdf(x)
    v_prob = value_function(optimal_discriminator(p, q), p, q, x)
    v_logit = value_function(optimal_logits(p, q), p, q, x, from_logits=True)
    assert v_prob == pytest.approx(v_logit, abs=1e-12)
    # A discriminator that is sure (D = 1) where fakes live gets V = -inf, as the maths says.
    assert value_function(np.ones_like(x), p, q, x) == -np.inf


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="sigma must be positive"):
        Normal(0, 0)
    with pytest.raises(ValueError, match="sum to 1"):
        Mixture((Normal(0, 1), Normal(1, 1)), (0.5, 0.6))
    with pytest.raises(ValueError, match="2 weights for 1 components"):
        Mixture((Normal(0, 1),), (0.5, 0.5))
    x = grid(Normal(0, 1))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        value_function(np.full_like(x, 1.5), x * 0, x * 0, x)
    with pytest.raises(ValueError, match="at least one"):
        grid()


def test_plot_game_draws_two_panels():
    fig = plot_game(Normal(0, 1), Normal(1, 0.7), mus=np.linspace(-2, 2, 5))
    assert len(fig.axes) == 2
    assert len(fig.axes[1].lines) >= 2


def test_explorer_callbacks_update_numbers_and_picture():
    toy = game_explorer(mu_g=2.0, sigma_g=0.5)
    assert isinstance(toy, GameExplorer)
    far_jsd, png = toy.state.jsd, toy.image.value
    assert f"{toy.state.value:.4f}" in toy.readout.value
    assert png[:4] == b"\x89PNG"
    assert "μ_g=2.00, σ_g=0.50" in repr(toy) and f"JSD={far_jsd:.4f}" in repr(toy)
    assert len(repr(toy)) <= 110  # Jupyter truncates a widget's text beyond that

    toy.mu_slider.value = 0.0  # moving a slider fires the observer
    toy.sigma_slider.value = 1.0
    assert toy.generator == Normal(0.0, 1.0)
    assert toy.state.jsd == pytest.approx(0.0, abs=1e-9)
    assert toy.state.value == pytest.approx(-LOG4, abs=1e-9)
    np.testing.assert_allclose(toy.state.d_star, 0.5)
    assert f"{-LOG4:.4f}" in toy.readout.value
    assert toy.image.value != png

    toy.mu_slider.value = 1.0
    assert 0.0 < toy.state.jsd < far_jsd
    assert f"{toy.state.jsd:.4f}" in toy.readout.value


def test_explorer_accepts_a_mixture_and_rejects_other_data():
    toy = game_explorer(MIX, mu_g=0.0, sigma_g=1.5)
    assert toy.state.value == pytest.approx(toy.state.identity_rhs, abs=1e-9)
    with pytest.raises(TypeError, match="Normal or a Mixture"):
        game_explorer([0.0, 1.0])


@pytest.mark.parametrize("mu_g, sigma_g", [(2.0, 0.5), (0.0, 1.0), (-4.0, 0.2), (4.0, 3.0)])
def test_explorer_markers_are_not_under_the_legend(mu_g, sigma_g):
    """The dots on the C(G) and JSD curves are the point of the right panel: no legend on them."""
    toy = game_explorer(mu_g=mu_g, sigma_g=sigma_g)
    ax_v = toy.figure.axes[1]
    toy.figure.draw_without_rendering()
    box = ax_v.get_legend().get_window_extent()
    (dots,) = [line for line in ax_v.lines if line.get_marker() == "o"]
    for x, y in ax_v.transData.transform(dots.get_xydata()):
        assert not box.contains(x, y), f"a marker at ({x:.0f}, {y:.0f}) px is under the legend"


TWO_BUMPS = Mixture((Normal(-2.0, 0.5), Normal(2.0, 0.5)), (0.5, 0.5))


def test_kl_minus_two_jsd_is_zero_only_at_the_data_and_lopsided():
    x = grid(TWO_BUMPS)
    p = TWO_BUMPS.pdf(x)
    assert kl_minus_two_jsd(p, p, x) == pytest.approx(0.0, abs=1e-12)
    for gen in (Normal(0, 1), Normal(2, 0.5), Normal(-1, 3), MIX):
        xg = grid(TWO_BUMPS, gen)
        assert kl_minus_two_jsd(TWO_BUMPS.pdf(xg), gen.pdf(xg), xg) > 0.01  # >= 0 by Jensen
    # Dropping one of two bumps 16 sigma apart (no overlap): KL(p_g || p_data) = log 2 and, with
    # m = 3/4 A + 1/4 B, JSD = (1/2 log(2/3) + 1/2 log 2) / 2 + log(4/3) / 2; checked to 1e-6.
    far, one = Mixture((Normal(-4.0, 0.5), Normal(4.0, 0.5))), Normal(4.0, 0.5)
    xg = grid(far, one, n=16001)
    jsd = 0.5 * (0.5 * math.log(2 / 3) + 0.5 * math.log(2)) + 0.5 * math.log(4 / 3)
    dropped = kl_minus_two_jsd(far.pdf(xg), one.pdf(xg), xg)
    assert dropped == pytest.approx(math.log(2) - 2 * jsd, abs=1e-6)
    # Adding a bump the data does not have costs the same JSD but a far larger KL - 2 JSD.
    added = kl_minus_two_jsd(one.pdf(xg), far.pdf(xg), xg)
    assert js_divergence(one.pdf(xg), far.pdf(xg), xg) == pytest.approx(jsd, abs=1e-6)
    assert added > 20 * dropped


@pytest.mark.parametrize("gen", [Normal(1.0, 0.7), Normal(0.0, 2.0), Normal(2.5, 0.4)])
def test_non_saturating_gradient_is_that_of_kl_minus_two_jsd(gen):
    rows = generator_gradients(TWO_BUMPS, gen)
    assert tuple(rows) == GRADIENT_ROWS
    ns, kl2jsd, minimax, jsd2 = (np.array(rows[name]) for name in GRADIENT_ROWS)
    np.testing.assert_allclose(ns, kl2jsd, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(minimax, jsd2, rtol=1e-5, atol=1e-7)
    assert np.max(np.abs(ns - jsd2)) > 0.1  # and it is not the JSD's gradient


def test_generator_gradients_match_a_direct_finite_difference_of_the_jsd():
    # independent of the helper: differentiate 2 JSD by hand for a shift of the mean
    gen, h = Normal(1.0, 0.7), 1e-4
    x = grid(TWO_BUMPS, gen, n=8001)
    p = TWO_BUMPS.pdf(x)
    up, down = Normal(1.0 + h, 0.7).pdf(x), Normal(1.0 - h, 0.7).pdf(x)
    by_hand = (js_divergence(p, up, x) - js_divergence(p, down, x)) / h  # 2 JSD over 2 h
    assert generator_gradients(TWO_BUMPS, gen)["2 JSD"][0] == pytest.approx(by_hand, rel=1e-6)


def test_generator_gradients_reject_bad_input():
    with pytest.raises(TypeError, match="Normal"):
        generator_gradients(TWO_BUMPS, TWO_BUMPS)
    with pytest.raises(ValueError, match="small positive step"):
        generator_gradients(TWO_BUMPS, Normal(0, 1), h=0.5)
