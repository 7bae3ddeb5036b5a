"""The GAN model: one step per player, each loss with its regulariser, the weight average."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tiny_models import (
    LATENT,
    changed,
    linear_critic,
    real_batches,
    tiny_discriminator,
    tiny_gan,
    tiny_generator,
    trainable,
)

from aigc_course import keras, tf
from aigc_course.gan import GAN, UPDATES
from aigc_course.losses import LOSSES, get_losses, gradient_penalty


def test_a_step_updates_both_players():
    keras.utils.set_random_seed(0)
    gan = tiny_gan(d_steps=2)
    g0, d0 = trainable(gan.generator), trainable(gan.discriminator)
    gan.fit(real_batches(), steps_per_epoch=1, epochs=1, verbose=0, shuffle=False)
    assert changed(g0, gan.generator) and changed(d0, gan.discriminator)
    assert int(gan.d_optimizer.iterations.numpy()) == 2  # d_steps discriminator updates
    assert int(gan.g_optimizer.iterations.numpy()) == 1
    assert int(gan.step.numpy()) == 1


@pytest.mark.parametrize("frozen", ["generator", "discriminator"])
def test_each_player_moves_only_through_its_own_optimizer(frozen):
    """With one player's learning rate at 0, that player must not move; the other must."""
    keras.utils.set_random_seed(0)
    gan = tiny_gan(
        d_lr=0.0 if frozen == "discriminator" else 1e-3, g_lr=0.0 if frozen == "generator" else 1e-3
    )
    g0, d0 = trainable(gan.generator), trainable(gan.discriminator)
    gan.fit(real_batches(), steps_per_epoch=2, epochs=1, verbose=0, shuffle=False)
    assert changed(g0, gan.generator) == (frozen != "generator")
    assert changed(d0, gan.discriminator) == (frozen != "discriminator")


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_logged_d_real_and_d_fake_are_the_mean_sigmoid_of_each_sets_outputs(loss):
    """Real images all 0.5, fakes all tanh(-1), and a critic whose output is the mean pixel:
    the first step logs (before its update) d_real = sigmoid(0.5) and d_fake = sigmoid(tanh(-1)),
    whatever the loss."""
    z = keras.Input((LATENT,))
    flat = keras.layers.Dense(28 * 28, kernel_initializer="zeros", bias_initializer="ones")(z)
    fake = keras.layers.Activation("tanh")(-keras.layers.Reshape((28, 28, 1))(flat))
    critic_in = keras.Input((28, 28, 1))
    mean = keras.layers.Dense(1, kernel_initializer=keras.initializers.Constant(1 / 784),
                              use_bias=False)(keras.layers.Flatten()(critic_in))  # fmt: skip
    gan = GAN(keras.Model(z, fake), keras.Model(critic_in, mean), LATENT, loss=loss)
    gan.compile(keras.optimizers.SGD(1e-3), keras.optimizers.SGD(1e-3))
    real = tf.data.Dataset.from_tensors(tf.fill((16, 28, 28, 1), 0.5)).repeat()
    logs = gan.fit(real, steps_per_epoch=1, epochs=1, verbose=0, shuffle=False).history
    assert set(logs) == {"d_loss", "g_loss", "d_real", "d_fake"}

    def sigmoid(x):
        return 1 / (1 + math.exp(-x))

    assert logs["d_real"][0] == pytest.approx(sigmoid(0.5), abs=1e-5)
    assert logs["d_fake"][0] == pytest.approx(sigmoid(math.tanh(-1.0)), abs=1e-5)
    assert all(math.isfinite(v[0]) for v in logs.values()), logs


def test_non_saturating_losses_start_near_log_two():
    """An untrained D says ~50 % everywhere: L_D ~ 2 log 2, L_G ~ log 2 (closed form)."""
    keras.utils.set_random_seed(0)
    gan = tiny_gan(d_lr=1e-9, g_lr=1e-9)
    kernel = gan.discriminator.layers[-1].kernel  # zero weights, zero bias: D(x) = 1/2 exactly
    kernel.assign(np.zeros(kernel.shape, "float32"))
    logs = gan.fit(real_batches(), steps_per_epoch=1, epochs=1, verbose=0, shuffle=False).history
    assert logs["d_loss"][0] == pytest.approx(2 * math.log(2), abs=1e-4)
    assert logs["g_loss"][0] == pytest.approx(math.log(2), abs=1e-4)
    assert logs["d_real"][0] == pytest.approx(0.5, abs=1e-4)


def test_the_loss_pair_carries_its_regulariser():
    assert get_losses("wgan_gp").regularizer is gradient_penalty
    assert all(LOSSES[name].regularizer is None for name in LOSSES if name != "wgan_gp")


@pytest.mark.parametrize("update", UPDATES)
def test_wgan_gp_adds_the_gradient_penalty_to_the_critic_loss(update):
    """A linear critic with |w| = 3 has gradient norm 3 everywhere, so the penalty is exactly
    gp_weight * (3 - 1)^2 = 40: the logged critic loss must be 40 above the same step's loss
    without the penalty (gp_weight=0), on the same noise and the same batch."""
    z = tf.constant(np.random.default_rng(2).standard_normal((16, LATENT)).astype("float32"))

    def first_d_loss(gp_weight):
        keras.utils.set_random_seed(0)
        gan = GAN(tiny_generator(), linear_critic(3.0), LATENT, loss="wgan_gp",
                  gp_weight=gp_weight, update=update)  # fmt: skip
        gan.compile(keras.optimizers.SGD(1e-3), keras.optimizers.SGD(1e-3))
        gan._noise = lambda batch_size: z
        logs = gan.fit(real_batches(), steps_per_epoch=1, epochs=1, verbose=0, shuffle=False)
        return logs.history["d_loss"][0]

    assert first_d_loss(10.0) - first_d_loss(0.0) == pytest.approx(40.0, rel=1e-4)


def _hand_step(gen, disc, real, z, update, lr):
    """One SGD step of both players written out: the update rule the trainer must follow."""
    d_loss_fn, g_loss_fn = get_losses("non_saturating")
    d_vars, g_vars = disc.trainable_variables, gen.trainable_variables

    def g_grads():
        with tf.GradientTape() as tape:
            loss = g_loss_fn(disc(gen(z, training=True), training=True))
        return tape.gradient(loss, g_vars)

    fake = gen(z, training=True)
    with tf.GradientTape() as tape:
        d_loss = d_loss_fn(disc(real, training=True), disc(fake, training=True))
    d_grads = tape.gradient(d_loss, d_vars)
    early = g_grads() if update == "simultaneous" else None  # at the old discriminator
    for var, grad in zip(d_vars, d_grads, strict=True):
        var.assign_sub(lr * grad)
    late = early if early is not None else g_grads()  # alternating: at the updated one
    for var, grad in zip(g_vars, late, strict=True):
        var.assign_sub(lr * grad)


@pytest.mark.parametrize("update", UPDATES)
def test_update_rules_match_a_hand_written_step(update):
    """Alternating: G's gradient goes through the updated D; simultaneous: through the old D."""
    keras.utils.set_random_seed(0)
    lr = 0.5  # large, so the two rules end far apart
    real = np.random.default_rng(1).uniform(-1, 1, (16, 28, 28, 1)).astype("float32")
    z = np.random.default_rng(2).standard_normal((16, LATENT)).astype("float32")
    gen, disc = tiny_generator(), tiny_discriminator()  # the shared starting point

    def one_fit_step(rule):
        gan = GAN(tiny_generator(), tiny_discriminator(), LATENT, update=rule)
        gan.generator.set_weights(gen.get_weights())
        gan.discriminator.set_weights(disc.get_weights())
        gan.compile(keras.optimizers.SGD(lr), keras.optimizers.SGD(lr))
        gan._noise = lambda batch_size: tf.constant(z)  # the same noise in every forward pass
        gan.fit(tf.data.Dataset.from_tensors(real).repeat(), steps_per_epoch=1, epochs=1,
                verbose=0, shuffle=False)  # fmt: skip
        return gan

    ours = one_fit_step(update)
    other = one_fit_step(next(u for u in UPDATES if u != update))
    _hand_step(gen, disc, tf.constant(real), tf.constant(z), update, lr)
    for mine, expected in ((ours.generator, gen), (ours.discriminator, disc)):
        for a, b in zip(mine.trainable_variables, expected.trainable_variables, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=2e-5)
    assert changed(trainable(other.generator), ours.generator), "the two rules must differ"


def test_simultaneous_update_does_one_step_each():
    with pytest.raises(ValueError, match="unknown update 'sequential'"):
        GAN(tiny_generator(), tiny_discriminator(), LATENT, update="sequential")
    with pytest.raises(ValueError, match="d_steps=2 needs update='alternating'"):
        GAN(tiny_generator(), tiny_discriminator(), LATENT, d_steps=2, update="simultaneous")
    gan = GAN(tiny_generator(), tiny_discriminator(), LATENT, update="simultaneous")
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    gan.fit(real_batches(), steps_per_epoch=3, epochs=1, verbose=0, shuffle=False)
    assert int(gan.d_optimizer.iterations.numpy()) == int(gan.g_optimizer.iterations.numpy()) == 3


@pytest.mark.slow
def test_xla_step_on_cpu():
    keras.utils.set_random_seed(0)
    gan = tiny_gan(jit=True)
    logs = gan.fit(real_batches(), steps_per_epoch=2, epochs=1, verbose=0, shuffle=False).history
    assert all(math.isfinite(v[-1]) for v in logs.values())
    assert int(gan.step.numpy()) == 2


def test_mixed_precision_wraps_optimizers_and_steps():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        gen, disc = tiny_generator(), tiny_discriminator()
    finally:
        keras.config.set_dtype_policy(previous)
    gan = GAN(gen, disc, LATENT)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert gen.layers[1].compute_dtype == "float16" and gen.output.dtype == "float32"
    logs = gan.fit(real_batches(), steps_per_epoch=1, epochs=1, verbose=0, shuffle=False).history
    assert all(math.isfinite(v[-1]) for v in logs.values())


def test_gan_rejects_bad_arguments():
    g, d = tiny_generator(), tiny_discriminator()
    with pytest.raises(ValueError, match="latent_dim"):
        GAN(g, d, latent_dim=0)
    with pytest.raises(ValueError, match="unknown loss"):
        GAN(g, d, LATENT, loss="wasserstein")
    with pytest.raises(ValueError, match="d_steps"):
        GAN(g, d, LATENT, d_steps=0)
    with pytest.raises(ValueError, match="two different models"):
        GAN(g, g, LATENT)
    gan = GAN(g, d, LATENT)
    opt = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="its own optimizer"):
        gan.compile(opt, opt)
    with pytest.raises(ValueError, match="keras optimizer"):
        gan.compile("adam", keras.optimizers.Adam())


def test_ema_keeps_a_running_average_of_the_generator():
    keras.utils.set_random_seed(0)
    gan = GAN(tiny_generator(), tiny_discriminator(), LATENT, ema=0.5)
    gan.compile(keras.optimizers.Adam(1e-2), keras.optimizers.Adam(1e-2))
    average = [w.numpy().copy() for w in gan.generator.weights]  # starts at the generator
    for step in (1, 2, 3):
        gan.fit(real_batches(), steps_per_epoch=1, epochs=1, verbose=0, shuffle=False)
        decay = min(0.5, (1 + step) / (10 + step))  # the warm-up, then the fixed rate
        average = [
            decay * a + (1 - decay) * w.numpy()
            for a, w in zip(average, gan.generator.weights, strict=True)
        ]
        for mine, expected in zip(gan.ema_weights, average, strict=True):
            np.testing.assert_allclose(mine.numpy(), expected, rtol=1e-5, atol=1e-6)
    sampler = gan.sampler
    assert sampler is not gan.generator
    for a, b in zip(sampler.weights, gan.ema_weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    z = np.random.default_rng(0).standard_normal((4, LATENT)).astype("float32")
    assert not np.allclose(sampler(z, training=False), gan.generator(z, training=False))


def test_without_ema_the_sampler_is_the_generator():
    gan = tiny_gan()
    assert gan.sampler is gan.generator and gan.ema_weights == []
    for bad in (1.0, -0.1, "0.9", True):
        with pytest.raises(ValueError, match=r"ema must be a number in \[0, 1\)"):
            GAN(tiny_generator(), tiny_discriminator(), LATENT, ema=bad)
