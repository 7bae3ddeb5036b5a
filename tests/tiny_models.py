"""Tiny GAN parts for fast tests (a few thousand parameters, 28x28 images).

Layers with weights are named: checkpoints key variables by path, and Keras' automatic names
(``dense_18``) change with everything else a test session builds.
"""

from __future__ import annotations

import numpy as np

from aigc_course import keras, tf
from aigc_course.gan import GAN

LATENT = 8


def tiny_generator(latent_dim: int = LATENT, width: int = 4) -> keras.Model:
    z = keras.Input((latent_dim,))
    x = keras.layers.Dense(7 * 7 * width, name="g_dense")(z)
    x = keras.layers.BatchNormalization(name="g_bn")(x)
    x = keras.layers.Reshape((7, 7, width))(keras.layers.LeakyReLU(0.2)(x))
    x = keras.layers.Conv2DTranspose(1, 4, strides=4, padding="same", name="g_up")(x)
    return keras.Model(z, keras.layers.Activation("tanh", dtype="float32")(x))


def tiny_discriminator(width: int = 4) -> keras.Model:
    x_in = keras.Input((28, 28, 1))
    x = keras.layers.LeakyReLU(0.2)(keras.layers.Conv2D(width, 4, strides=4, name="d_conv")(x_in))
    logit = keras.layers.Dense(1, dtype="float32", name="d_logit")
    return keras.Model(x_in, logit(keras.layers.Flatten()(x)))


def linear_critic(norm: float) -> keras.Model:
    """``f(x) = w . x`` with ``|w| = norm``: its gradient is ``w`` everywhere."""
    x_in = keras.Input((28, 28, 1))
    dense = keras.layers.Dense(1, use_bias=False)
    model = keras.Model(x_in, dense(keras.layers.Flatten()(x_in)))
    w = np.random.default_rng(0).standard_normal((28 * 28, 1))
    dense.kernel.assign((norm * w / np.linalg.norm(w)).astype("float32"))
    return model


def tiny_gan(loss="non_saturating", d_steps=1, d_lr=1e-3, g_lr=1e-3, jit=False, width=4):
    gan = GAN(tiny_generator(width=width), tiny_discriminator(width), LATENT, loss=loss,
              d_steps=d_steps)  # fmt: skip
    gan.compile(keras.optimizers.Adam(d_lr), keras.optimizers.Adam(g_lr), jit_compile=jit)
    return gan


def real_batches(n=64, batch=16, seed=0):
    images = np.random.default_rng(seed).uniform(-1, 1, (n, 28, 28, 1)).astype("float32")
    return tf.data.Dataset.from_tensor_slices(images).batch(batch, drop_remainder=True).repeat()


def trainable(model):
    return [v.numpy().copy() for v in model.trainable_variables]


def changed(before, model):
    return any(
        not np.array_equal(a, v.numpy())
        for a, v in zip(before, model.trainable_variables, strict=True)
    )


def poison_gan_family(monkeypatch) -> None:
    """Make the GAN family build models whose discriminator outputs NaN (a diverged run)."""
    from aigc_course.families.gan import GANFamily

    build = GANFamily.build

    def poisoned(self, profile, dataset):
        gan = build(self, profile, dataset)
        kernel = gan.discriminator.layers[-1].kernel
        kernel.assign(np.full(kernel.shape, np.nan, "float32"))
        return gan

    monkeypatch.setattr(GANFamily, "build", poisoned)
