"""Chapter 06's exercise checks: stubs are not attempted, the article's bugs fail with a helpful
hint, repaired versions pass."""

import numpy as np
import pytest

from aigc_course._tf import keras, tf
from aigc_course.checks import CheckFailed, NotAttempted, ch06
from aigc_course.losses import discriminator_loss, generator_loss

layers = keras.layers


def _stub(*_args):
    raise NotImplementedError


@pytest.mark.parametrize(
    "check",
    [
        ch06.check_fixed_generator,
        ch06.check_fixed_discriminator,
        ch06.check_train_step,
        ch06.check_discriminator_accuracy,
    ],
)
def test_stubs_are_not_attempted(check):
    with pytest.raises(NotAttempted, match="not attempted"):
        check(_stub)


def _generator(latent_dim, nf, reshape=(7, 7), ups=2, padding="same", out="tanh"):
    model = keras.Sequential([keras.Input((latent_dim,))])
    model.add(layers.Dense(reshape[0] * reshape[1] * nf, activation="relu"))
    model.add(layers.Reshape((*reshape, nf)))
    for _ in range(ups):
        model.add(layers.Conv2DTranspose(nf, 4, strides=2, padding="same", activation="relu"))
    model.add(layers.Conv2D(1, 3, padding=padding, activation=out))
    return model


def test_fixed_generator(capsys):
    ch06.check_fixed_generator(_generator)
    assert "✔" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="64"):
        ch06.check_fixed_generator(lambda d, nf: _generator(d, nf, (8, 8), ups=3))
    with pytest.raises(CheckFailed, match="padding='same'"):
        ch06.check_fixed_generator(lambda d, nf: _generator(d, nf, padding="valid"))
    with pytest.raises(CheckFailed, match="tanh"):
        ch06.check_fixed_generator(lambda d, nf: _generator(d, nf, out="sigmoid"))
    with pytest.raises(CheckFailed, match="outside"):
        ch06.check_fixed_generator(lambda d, nf: _generator(d, nf, out=None))
    with pytest.raises(CheckFailed, match="keras.Model"):
        ch06.check_fixed_generator(lambda d, nf: "generator")


def _discriminator(nf, act=True, out=None):
    model = keras.Sequential([keras.Input((28, 28, 1))])
    for k in (1, 2, 4):
        model.add(layers.Conv2D(nf * k, 3, strides=2, padding="same"))
        if act:
            model.add(layers.LeakyReLU(0.2))
    model.add(layers.Flatten())
    model.add(layers.Dense(1, activation=out))
    return model


def test_fixed_discriminator(capsys):
    ch06.check_fixed_discriminator(_discriminator)
    assert "✔" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="drop the sigmoid"):
        ch06.check_fixed_discriminator(lambda nf: _discriminator(nf, out="sigmoid"))
    with pytest.raises(CheckFailed, match="affine"):
        ch06.check_fixed_discriminator(lambda nf: _discriminator(nf, act=False))


def _step(real, generator, discriminator, g_opt, d_opt, latent_dim, sign=1.0, update_g=True):
    batch = tf.shape(real)[0]
    with tf.GradientTape() as tape:
        fake = generator(tf.random.normal((batch, latent_dim)), training=True)
        d_loss = discriminator_loss(
            discriminator(real, training=True), discriminator(fake, training=True)
        )
    grads = tape.gradient(d_loss, discriminator.trainable_variables)
    d_opt.apply_gradients(zip(grads, discriminator.trainable_variables, strict=True))
    with tf.GradientTape() as tape:
        fake = generator(tf.random.normal((batch, latent_dim)), training=True)
        g_loss = sign * generator_loss(discriminator(fake, training=True))
    if update_g:
        grads = tape.gradient(g_loss, generator.trainable_variables)
        g_opt.apply_gradients(zip(grads, generator.trainable_variables, strict=True))
    return d_loss, g_loss


def test_train_step(capsys):
    ch06.check_train_step(_step)
    assert "✔" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="did not change"):
        ch06.check_train_step(lambda *a: _step(*a, update_g=False))
    with pytest.raises(CheckFailed, match="less real"):
        ch06.check_train_step(lambda *a: _step(*a, sign=-1.0))
    with pytest.raises(CheckFailed, match="return"):
        ch06.check_train_step(lambda *a: _step(*a)[0])


def _accuracy(real_logits, fake_logits, threshold=0.0, reset_first=False):
    metric = keras.metrics.BinaryAccuracy(threshold=threshold)
    metric.update_state(tf.ones_like(real_logits), real_logits)
    metric.update_state(tf.zeros_like(fake_logits), fake_logits)
    if reset_first:
        metric.reset_state()
    return float(metric.result())


def test_discriminator_accuracy(capsys):
    ch06.check_discriminator_accuracy(_accuracy)
    assert "✔" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="reset"):
        ch06.check_discriminator_accuracy(lambda r, f: _accuracy(r, f, reset_first=True))
    with pytest.raises(CheckFailed, match="threshold at 0"):
        ch06.check_discriminator_accuracy(lambda r, f: _accuracy(r, f, threshold=0.5))

    def only_real(real_logits, fake_logits):
        metric = keras.metrics.BinaryAccuracy(threshold=0.0)
        metric.update_state(keras.ops.ones_like(real_logits), real_logits)
        return float(metric.result())

    with pytest.raises(CheckFailed, match="BinaryAccuracy"):  # the number, but not the point
        ch06.check_discriminator_accuracy(
            lambda r, f: float(
                (np.sum(np.asarray(r) > 0) + np.sum(np.asarray(f) < 0)) / (r.shape[0] + f.shape[0])
            )
        )
    with pytest.raises(CheckFailed, match="fake images"):
        ch06.check_discriminator_accuracy(only_real)


def test_save_name(capsys):
    ch06.check_save_name("generator_epoch_1.weights.h5")
    assert "✔" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match=r"\.weights\.h5"):
        ch06.check_save_name("generator_epoch_1.h5")
    with pytest.raises(CheckFailed, match="file name"):
        ch06.check_save_name(None)
