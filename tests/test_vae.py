"""The VAE family: the ELBO's maths, its bounds in bits, the reparameterisation, training, export.

The family contract (a smoke run that resumes, samples, export, evaluation, the command line) is
checked for every family in ``tests/test_families.py``; this module checks what is the VAE's own.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from aigc_course import runs
from aigc_course import vae as maths
from aigc_course._tf import keras, tf
from aigc_course.errors import ConfigError
from aigc_course.families import vae as fam
from aigc_course.images import to_float
from aigc_course.profiles import dtype_policy, get_profile
from aigc_course.vae import VAE, build_decoder, build_encoder

LEVELS = np.arange(256) / 127.5 - 1.0  # the 256 pixel levels on the networks' [-1, 1] scale


def _logistic_levels(loc: float, scale: float) -> np.ndarray:
    """The 256 probabilities of a discretised logistic, from its CDF in float64 (independent
    of the code under test)."""
    cdf = lambda v: 0.5 + 0.5 * np.tanh((v - loc) / (2 * scale))  # noqa: E731  (the sigmoid)
    edges = np.concatenate([[-np.inf], LEVELS[:-1] + 1 / 255, [np.inf]])
    return np.diff(np.where(np.isinf(edges), (edges > 0).astype(float), cdf(edges)))


def _model(latent_dim: int = 3, likelihood: str = "logistic", width: int = 4) -> VAE:
    return VAE(build_encoder(latent_dim, width), build_decoder(latent_dim, width, likelihood),
               likelihood)  # fmt: skip


def _set(model: keras.Model, value: float = 0.0, **biases: float) -> None:
    """Every weight of ``model`` set to ``value``, then the named layers' biases as given."""
    for w in model.weights:
        w.assign(np.full(w.shape, value, np.float32))
    for layer, bias in biases.items():
        model.get_layer(layer).bias.assign(np.full(model.get_layer(layer).bias.shape, bias))


def _images(n: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    images[:, :4] = 0  # the common extremes of real digits, which take the logistic's tails
    images[:, -4:] = 255
    return images


# --------------------------------------------------------------------------- the maths


def test_the_analytic_kl_matches_a_monte_carlo_estimate():
    rng = np.random.default_rng(0)
    mean = rng.normal(0, 1.5, (4, 3))
    log_var = rng.normal(0, 1.0, (4, 3))
    analytic = np.asarray(maths.gaussian_kl(mean, log_var))
    # KL = E_q[log q(z) - log p(z)], estimated from 200,000 draws of z ~ q per row
    eps = rng.standard_normal((200_000, 1, 3))
    z = mean + np.exp(log_var / 2) * eps
    log_ratio = (-0.5 * eps**2 - 0.5 * log_var + 0.5 * z**2).sum(-1)
    estimate, error = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(len(log_ratio))
    assert np.all(np.abs(estimate - analytic) < 4 * error + 1e-6), (estimate, analytic, error)
    assert np.asarray(maths.gaussian_kl(np.zeros((1, 3)), np.zeros((1, 3))))[0] == 0.0


@pytest.mark.parametrize(("loc", "scale"), [(0.0, 0.3), (-0.9, 0.05), (1.4, 0.2), (0.2, 1e-3)])
def test_the_discretised_logistic_is_a_distribution_over_the_256_levels(loc, scale):
    x = LEVELS.reshape(1, 16, 16, 1).astype(np.float32)
    log_p = maths.discretized_logistic_log_prob(x, loc, math.log(scale))
    p = np.exp(np.asarray(log_p, np.float64)).ravel()
    assert p.sum() == pytest.approx(1.0, abs=2e-4)
    want = _logistic_levels(loc, scale)
    np.testing.assert_allclose(p, want, atol=1e-4, rtol=2e-3)


def test_a_model_of_fair_coins_needs_784_bits_per_binarised_image():
    """Bernoulli logits of 0 (fair coins, chapter 01's 784 bits) and q(z|x) = p(z) (KL = 0)."""
    model = _model(likelihood="bernoulli")
    _set(model.encoder)
    _set(model.decoder)
    assert maths.bits_per_image(model, _images()) == pytest.approx(784.0, rel=1e-6)
    assert maths.bits_per_dim(model, _images()) == pytest.approx(1.0, rel=1e-6)
    levels = to_float(np.array([[[0, 127, 128, 255]]], np.uint8))
    assert np.asarray(maths.binarise(levels)).ravel().tolist() == [0, 0, 1, 1]  # ink: >= 128


def test_bits_per_dim_of_a_known_decoder_is_its_entropy_plus_the_kl_term():
    """A decoder that ignores z (one logistic for every pixel) and an encoder with a fixed
    posterior N(0.5, e^-1): the bound is exactly -log2 of the logistic's level probabilities
    plus KL / ln 2, per pixel."""
    loc, log_scale = 0.1, -1.5
    model = _model(latent_dim=3)
    _set(model.encoder, mean=0.5, log_var=-1.0)
    _set(model.decoder)
    model.decoder.get_layer("pixels").bias.assign([loc, log_scale])
    images = _images()
    p = _logistic_levels(loc, math.exp(log_scale))
    kl = 3 * 0.5 * (0.25 + math.exp(-1.0) - 1.0 + 1.0)
    want = (-np.log2(p[images]).sum((1, 2)).mean() + kl / math.log(2)) / 784
    assert maths.bits_per_dim(model, images) == pytest.approx(want, rel=1e-5)
    terms = maths.elbo(model, images)
    np.testing.assert_allclose(terms["kl"], kl, rtol=1e-6)
    np.testing.assert_allclose(terms["elbo"], terms["reconstruction"] - terms["kl"])


def test_the_importance_weighted_bound_closes_the_gap_the_kl_leaves():
    """The decoder ignores z, so log p(x) is known exactly, and the ELBO falls short of it by the
    KL of q(z|x) = N(0.5, e^-0.2) from the prior; 500 importance samples recover log p(x)."""
    loc, log_scale = -0.2, -1.0
    model = _model(latent_dim=3)
    _set(model.encoder, mean=0.5, log_var=-0.2)
    _set(model.decoder)
    model.decoder.get_layer("pixels").bias.assign([loc, log_scale])
    images = _images(4)
    log_p = np.log(_logistic_levels(loc, math.exp(log_scale))[images]).sum((1, 2))
    kl = 3 * 0.5 * (0.25 + math.exp(-0.2) - 1.0 + 0.2)
    np.testing.assert_allclose(maths.log_likelihood_bound(model, images), log_p - kl, rtol=1e-5)
    weighted = maths.log_likelihood_bound(model, images, samples=500)
    assert np.abs(weighted - log_p).max() < 0.1 < kl - 0.1, (weighted - log_p, kl)


def test_reparameterisation_lets_gradients_reach_the_encoder():
    mean, log_var = tf.Variable([[0.3, -1.0]]), tf.Variable([[0.2, -0.4]])
    eps = tf.constant([[1.5, -0.5]])
    with tf.GradientTape(persistent=True) as tape:
        z = maths.reparameterise(mean, log_var, eps)
    np.testing.assert_allclose(tape.gradient(z, mean), [[1.0, 1.0]])
    np.testing.assert_allclose(tape.gradient(z, log_var), 0.5 * np.exp([[0.1, -0.2]]) * eps,
                               rtol=1e-6)  # fmt: skip
    model = _model()
    x = tf.constant(to_float(_images(4)))
    with tf.GradientTape() as tape:
        reconstruction, _ = model.elbo_terms(x, tf.random.normal((4, 3)), training=True)
        loss = -tf.reduce_mean(reconstruction)  # the KL's own gradient left out: only via z
    grads = tape.gradient(loss, model.encoder.trainable_variables)
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)


def test_pictures_are_the_decoders_centre_not_noise():
    model = _model(latent_dim=2)
    decoded = np.zeros((1, 28, 28, 2), np.float32)
    decoded[0, 0, :3, 0] = [-3.0, 0.0, 2.0]  # locations beyond the ends are clipped
    assert maths.pictures(model, decoded)[0, 0, :3].tolist() == [0, 128, 255]
    bern = _model(latent_dim=2, likelihood="bernoulli")
    assert maths.pictures(bern, np.full((1, 28, 28, 1), 20.0))[0, 0, 0] == 255
    z = np.random.default_rng(0).standard_normal((3, 2))
    np.testing.assert_array_equal(maths.decode(model, z), maths.decode(model, z))
    images = _images(3)
    np.testing.assert_array_equal(maths.reconstruct(model, images),
                                  maths.decode(model, maths.encode(model, images)))  # fmt: skip


# --------------------------------------------------------------------------- training


@pytest.mark.slow
def test_a_short_run_improves_the_held_out_bound(monkeypatch):
    monkeypatch.setenv("AIGC_OFFLINE", "1")
    monkeypatch.setenv("AIGC_DATA_SOURCE", "shipped")
    from aigc_course.data import load_dataset

    profile = get_profile("smoke", "vae", latent_dim=8, width=8)
    keras.utils.set_random_seed(0)
    model = fam.FAMILY.build(profile, "mnist")
    data, _ = fam.FAMILY.data("mnist", profile, seed=0)
    test, _ = load_dataset("mnist", "test", verbose=False)
    before = maths.bits_per_dim(model, test[:500])
    model.fit(data, steps_per_epoch=150, epochs=1, verbose=0, shuffle=False)
    after = maths.bits_per_dim(model, test[:500])
    assert after < before - 1.0, (before, after)
    tighter = maths.bits_per_dim(model, test[:500], samples=8)
    assert tighter < after, (tighter, after)


# --------------------------------------------------------------------------- the family


def test_bad_settings_are_refused_with_a_clear_message():
    with pytest.raises(ConfigError, match="latent_dim"):
        get_profile("cpu", "vae", latent_dim=-2)
    with pytest.raises(ConfigError, match="likelihood"):
        get_profile("cpu", "vae", likelihood="gaussian")
    with pytest.raises(ConfigError, match="trains on mnist, fashion_mnist"):
        runs.train("vae", "cifar10", "smoke", out="unused")
    with pytest.raises(ConfigError, match="2 decoder output channels"):
        VAE(build_encoder(2, 4), build_decoder(2, 4, "bernoulli"), "logistic")
    with pytest.raises(ConfigError, match=r"z must have shape \(N, 3\)"):
        maths.decode(_model(), np.zeros((2, 4)))
    with pytest.raises(ConfigError, match="no sampling option"):
        fam.FAMILY.sample(_model(), 2, temperature=0.5)
    with pytest.raises(ConfigError, match="expected a VAE"):
        fam.FAMILY.sample(keras.Sequential(), 2)


def test_a_bernoulli_vae_is_scored_in_bits_per_binarised_image(monkeypatch):
    import aigc_course.metrics

    monkeypatch.setenv("AIGC_DATA_SOURCE", "shipped")
    monkeypatch.setattr(aigc_course.metrics, "evaluate_images", lambda *a, **k: {})
    profile = get_profile("smoke", "vae", likelihood="bernoulli")
    scores = fam.FAMILY.evaluate(fam.FAMILY.build(profile, "mnist"), "mnist", profile)
    assert set(scores) == {"bits_per_binarised_image"}  # not bits/dim: other data than 8-bit
    assert 300 < scores["bits_per_binarised_image"] < 1500  # an untrained model: ~784 bits
    assert "bits/binarised image" in fam.FAMILY.headline(scores)
    assert fam.FAMILY.bits_per_dim(fam.FAMILY.build(profile, "mnist"), "mnist") is None


def test_the_bench_gets_the_bound_in_bits_per_dim(monkeypatch):
    monkeypatch.setenv("AIGC_DATA_SOURCE", "shipped")
    model = fam.FAMILY.build(get_profile("smoke", "vae"), "mnist")
    bits = fam.FAMILY.bits_per_dim(model, "mnist")
    assert 2.0 < bits < 20.0  # an untrained model: worse than 8 bits/dim, but a number


def test_the_export_keeps_the_likelihood_and_runs_in_float32(tmp_path):
    profile = get_profile("smoke", "vae", likelihood="bernoulli", mixed_precision=True)
    with dtype_policy("mixed_bfloat16"):  # as the cpu profile trains on a bfloat16 CPU
        model = fam.FAMILY.build(profile, "mnist")
    assert model.decoder.compute_dtype == "bfloat16"
    fam.FAMILY.export(model, profile, tmp_path / fam.FAMILY.export_name)
    loaded = fam.FAMILY.load_export(tmp_path / fam.FAMILY.export_name)
    assert loaded.likelihood == "bernoulli"
    assert {layer.compute_dtype for layer in loaded.decoder.layers} == {"float32"}
    z = np.random.default_rng(0).standard_normal((4, profile.latent_dim)).astype(np.float32)
    np.testing.assert_allclose(loaded.decoder(z), model.decoder(z), atol=0.05)
    other = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    other.save(tmp_path / "other.keras")
    with pytest.raises(ConfigError, match="not a VAE export"):
        fam.FAMILY.load_export(tmp_path / "other.keras")
