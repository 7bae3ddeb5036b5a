"""Closed-form values, numerical stability and gradients of the GAN losses."""

import math

import numpy as np
import pytest

from aigc_course import losses
from aigc_course._tf import keras, tf

LOG2 = math.log(2.0)
RNG = np.random.default_rng(0)


def _value(t) -> float:
    return float(np.asarray(t))


def _grad(fn, logits):
    x = tf.constant(logits, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = fn(x)
    return tape.gradient(loss, x).numpy()


def test_zero_logits_give_log2_terms():
    zeros = tf.zeros((8, 1))
    assert _value(losses.discriminator_loss(zeros, zeros)) == pytest.approx(2 * LOG2, rel=1e-6)
    assert _value(losses.generator_loss(zeros)) == pytest.approx(LOG2, rel=1e-6)
    assert _value(losses.generator_loss_saturating(zeros)) == pytest.approx(-LOG2, rel=1e-6)


def test_matches_keras_binary_crossentropy_from_logits():
    real = RNG.normal(0, 3, (32, 1)).astype("float32")
    fake = RNG.normal(0, 3, (32, 1)).astype("float32")
    bce = keras.losses.BinaryCrossentropy(from_logits=True)
    expected_d = _value(bce(np.ones_like(real), real)) + _value(bce(np.zeros_like(fake), fake))
    assert _value(losses.discriminator_loss(real, fake)) == pytest.approx(expected_d, rel=1e-5)
    expected_g = _value(bce(np.ones_like(fake), fake))
    assert _value(losses.generator_loss(fake)) == pytest.approx(expected_g, rel=1e-5)
    expected_sat = -_value(bce(np.zeros_like(fake), fake))
    assert _value(losses.generator_loss_saturating(fake)) == pytest.approx(expected_sat, rel=1e-5)


def test_large_logits_are_exact_and_finite():
    big = tf.fill((4, 1), 100.0)
    # D is sure and right: -log(sigmoid(100)) ~ e^-100, and softplus(-100) ~ e^-100.
    assert _value(losses.discriminator_loss(big, -big)) == pytest.approx(2 * math.exp(-100))
    # D is sure and wrong: each term is ~ 100 (the naive log(sigmoid) form gives inf here).
    assert _value(losses.discriminator_loss(-big, big)) == pytest.approx(200.0, rel=1e-6)
    assert _value(losses.generator_loss(-big)) == pytest.approx(100.0, rel=1e-6)
    # The naive forms the module docstring warns about really do break (keeps the docs honest).
    assert _value(tf.math.log(1.0 - tf.sigmoid(17.0))) == -np.inf
    assert _value(tf.math.log(tf.sigmoid(-200.0))) == -np.inf
    assert _value(losses.generator_loss_saturating(tf.fill((2, 1), 17.0))) == pytest.approx(
        -17.0, rel=1e-6
    )


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_every_registered_loss_is_finite_scalar_at_extreme_logits(name):
    d_loss, g_loss = losses.get_losses(name)
    extreme = tf.constant([[100.0], [-100.0], [0.0]])
    d_value = d_loss(extreme, -extreme)
    g_value = g_loss(extreme)
    for value in (d_value, g_value):
        assert value.shape == () and value.dtype == tf.float32
        assert np.isfinite(_value(value))
    for fn, args in ((d_loss, (extreme, -extreme)), (g_loss, (extreme,))):
        x = [tf.Variable(a) for a in args]
        with tf.GradientTape() as tape:
            value = fn(*x)
        assert all(np.isfinite(g.numpy()).all() for g in tape.gradient(value, x))


def test_float16_logits_give_float32_losses():
    half = tf.constant([[3.0], [-3.0]], dtype=tf.float16)
    assert losses.discriminator_loss(half, half).dtype == tf.float32
    assert losses.hinge_generator_loss(half).dtype == tf.float32


def test_saturating_gradient_vanishes_but_non_saturating_does_not():
    logits = np.array([-2.0, -10.0, -30.0], dtype="float32")
    n = len(logits)  # the loss is a mean, so each gradient is scaled by 1/n
    sat = _grad(losses.generator_loss_saturating, logits) * n
    non_sat = _grad(losses.generator_loss, logits) * n
    # d/dl log(1 - sigmoid(l)) = -sigmoid(l) -> 0;  d/dl -log sigmoid(l) = -sigmoid(-l) -> -1
    np.testing.assert_allclose(sat, -1 / (1 + np.exp(-logits)), rtol=1e-4)
    assert abs(sat[-1]) < 1e-12
    np.testing.assert_allclose(non_sat, -1 / (1 + np.exp(logits)), rtol=1e-4)
    assert non_sat[-1] == pytest.approx(-1.0)
    # both push the fakes towards "real": the logit should increase
    assert (sat < 0).all() and (non_sat < 0).all()


def test_lsgan_closed_form():
    real = np.array([1.0, 3.0], dtype="float32")
    fake = np.array([0.0, 2.0], dtype="float32")
    # 1/2 * mean((0, 4)) + 1/2 * mean((0, 4)) = 1 + 1
    assert _value(losses.lsgan_discriminator_loss(real, fake)) == pytest.approx(2.0)
    # 1/2 * mean((1, 1))
    assert _value(losses.lsgan_generator_loss(fake)) == pytest.approx(0.5)


def test_wasserstein_and_hinge_closed_form():
    real = np.array([2.0, 0.0], dtype="float32")
    fake = np.array([-1.0, 0.5], dtype="float32")
    # mean(fake) - mean(real) = -0.25 - 1.0
    assert _value(losses.wasserstein_critic_loss(real, fake)) == pytest.approx(-1.25)
    assert _value(losses.wasserstein_generator_loss(fake)) == pytest.approx(0.25)
    # relu(1 - (2, 0)) = (0, 1); relu(1 + (-1, 0.5)) = (0, 1.5)
    assert _value(losses.hinge_discriminator_loss(real, fake)) == pytest.approx(0.5 + 0.75)
    assert _value(losses.hinge_generator_loss(fake)) == pytest.approx(0.25)


def _linear_critic(weights: np.ndarray):
    w = tf.constant(weights.reshape(-1, 1), dtype=tf.float32)
    return lambda x: tf.matmul(tf.reshape(x, (tf.shape(x)[0], -1)), w)


def test_gradient_penalty_zero_for_unit_norm_linear_critic():
    real = tf.constant(RNG.normal(size=(16, 28, 28, 1)), dtype=tf.float32)
    fake = tf.constant(RNG.normal(size=(16, 28, 28, 1)), dtype=tf.float32)
    w = RNG.normal(size=28 * 28)
    gp = losses.gradient_penalty(_linear_critic(w / np.linalg.norm(w)), real, fake)
    assert _value(gp) == pytest.approx(0.0, abs=1e-6)


def test_gradient_penalty_positive_and_weighted_otherwise():
    real = tf.constant(RNG.normal(size=(8, 28, 28, 1)), dtype=tf.float32)
    fake = tf.constant(RNG.normal(size=(8, 28, 28, 1)), dtype=tf.float32)
    w = RNG.normal(size=28 * 28)
    critic = _linear_critic(3.0 * w / np.linalg.norm(w))  # gradient norm 3 everywhere
    assert _value(losses.gradient_penalty(critic, real, fake)) == pytest.approx(10.0 * 4.0)
    assert _value(losses.gradient_penalty(critic, real, fake, weight=1.0)) == pytest.approx(4.0)


def test_gradient_penalty_with_keras_model_critic():
    from aigc_course.models import build_discriminator

    critic = build_discriminator(width=4)
    batch = tf.random.normal((4, 28, 28, 1))
    gp = losses.gradient_penalty(critic, batch, tf.random.normal((4, 28, 28, 1)))
    assert gp.shape == () and np.isfinite(_value(gp)) and _value(gp) > 0


def test_gradient_penalty_rejects_mismatched_batches():
    with pytest.raises(ValueError, match="same shape"):
        losses.gradient_penalty(lambda x: x, tf.zeros((4, 28, 28, 1)), tf.zeros((4, 14, 14, 1)))
    with pytest.raises(ValueError, match="weight"):
        losses.gradient_penalty(lambda x: x, tf.zeros((4, 2)), tf.zeros((4, 2)), weight=-1.0)


def test_registry_and_lookup():
    assert set(losses.LOSSES) == {"non_saturating", "minimax", "lsgan", "wgan_gp", "hinge"}
    d_loss, g_loss = losses.get_losses("non_saturating")
    assert (d_loss, g_loss) == (losses.discriminator_loss, losses.generator_loss)
    assert losses.get_losses("minimax").generator is losses.generator_loss_saturating
    with pytest.raises(ValueError, match="hinge.*lsgan.*minimax.*non_saturating.*wgan_gp"):
        losses.get_losses("wgan")
    with pytest.raises(ValueError, match="unknown loss"):
        losses.get_losses(["hinge"])


def test_gradient_penalty_inside_compiled_function_with_unknown_batch():
    w = RNG.normal(size=28 * 28)
    critic = _linear_critic(2.0 * w / np.linalg.norm(w))  # gradient norm 2 everywhere

    @tf.function(
        jit_compile=True, input_signature=[tf.TensorSpec((None, 28, 28, 1), tf.float32)] * 2
    )
    def penalty(real, fake):
        return losses.gradient_penalty(critic, real, fake, weight=1.0)

    real = tf.random.normal((6, 28, 28, 1))
    assert _value(penalty(real, tf.random.normal((6, 28, 28, 1)))) == pytest.approx(1.0, rel=1e-4)
