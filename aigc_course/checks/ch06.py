"""Checks for chapter 06's exercises: repairing the article's GAN (section 5.2).

No answer is hard-coded: shapes and ranges are probed with random inputs,
"returns logits" is tested through a gradient (d output / d final bias is exactly 1 for a
logit), the training step is judged by what one step does to the two players, and the metric
value is recomputed with NumPy from the same logits.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

import numpy as np

from aigc_course.checks import (
    CheckFailed,
    check,
    check_callable,
    check_close,
    check_finite,
    check_shape,
    check_true,
    ok,
)

__all__ = [
    "check_fixed_generator",
    "check_fixed_discriminator",
    "check_train_step",
    "check_discriminator_accuracy",
    "check_save_name",
]


def _keras_model(name: str, model):
    from aigc_course._tf import keras

    if model is None:
        raise CheckFailed(f"{name} returned None — did you forget `return`?")
    if not isinstance(model, keras.Model):
        raise CheckFailed(
            f"{name} must return a keras.Model, got {type(model).__name__}",
            "build it with keras.Sequential([...]), the functional API or a Model subclass",
        )
    return model


@check
def check_fixed_generator(make_generator: Callable[..., object]) -> None:
    """``make_generator(latent_dim, num_filters)`` -> a model: (B, latent_dim) -> (B, 28, 28, 1) in [-1, 1]."""
    from aigc_course._tf import tf

    check_callable("make_generator", make_generator)
    latent_dim, num_filters = 12, 8
    model = _keras_model("make_generator(12, 8)", make_generator(latent_dim, num_filters))
    z = tf.random.stateless_normal((5, latent_dim), seed=(6, 1))
    images = model(z, training=False)
    shape = tuple(images.shape)
    hint = None
    if len(shape) == 4 and shape[1] != shape[2]:
        hint = (
            "height and width differ: the Reshape is probably channels-first; Keras convolutions "
            "want (height, width, channels), e.g. Reshape((7, 7, num_filters))"
        )
    elif len(shape) == 4 and shape[1:3] == (64, 64):
        hint = "three stride-2 upsamplings turn 8 into 64: start from 7x7 and upsample twice"
    elif len(shape) == 4 and shape[1:3] in ((26, 26), (62, 62)):
        hint = "an unpadded 3x3 convolution trims 2 pixels: use padding='same'"
    check_shape("generated images for a batch of 5", images, (5, 28, 28, 1), hint=hint)
    check_finite("generated images", images)
    big = np.asarray(model(30.0 * z, training=False))  # large inputs saturate the output layer
    check_true(
        big.min() >= -1.0 - 1e-5 and big.max() <= 1.0 + 1e-5,
        f"for large z the images range over [{big.min():.3g}, {big.max():.3g}], outside [-1, 1]",
        "the data are scaled to [-1, 1]: end the generator with a tanh activation",
    )
    check_true(
        big.min() < -0.5,
        f"the images never go below {big.min():.3g}, so black pixels (-1) are out of reach",
        "a sigmoid only produces (0, 1): use tanh, whose range (-1, 1) matches the data",
    )
    ok("the generator makes (B, 28, 28, 1) images and its tanh output covers [-1, 1]")


def _final_bias(model):
    biases = [w for w in model.trainable_weights if tuple(w.shape) == (1,)]
    if not biases:
        raise CheckFailed(
            "found no bias of shape (1,) in the discriminator",
            "end with layers.Dense(1) (one score per image, with a bias)",
        )
    return biases[-1]


@check
def check_fixed_discriminator(make_discriminator: Callable[..., object]) -> None:
    """``make_discriminator(num_filters)`` -> a non-linear model: (B, 28, 28, 1) -> logits (B, 1)."""
    from aigc_course._tf import tf

    check_callable("make_discriminator", make_discriminator)
    model = _keras_model("make_discriminator(8)", make_discriminator(8))
    rng = np.random.default_rng(7)
    a = tf.constant(rng.uniform(-1, 1, (16, 28, 28, 1)), tf.float32)
    b = tf.constant(rng.uniform(-1, 1, (16, 28, 28, 1)), tf.float32)
    out = model(a, training=False)
    check_shape("discriminator output for 16 images", out, (16, 1))
    check_finite("discriminator output", out)

    bias = _final_bias(model)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(model(a, training=False))
    grad = tape.gradient(total, bias)
    check_true(grad is not None, "the last Dense(1) layer's bias does not affect the output")
    slope = float(np.asarray(grad).sum()) / 16
    hint = (
        "drop the sigmoid (and any log): the losses take logits, sigmoid(logit) is the probability"
    )
    check_true(
        abs(slope - 1.0) < 1e-3,
        f"d output / d final bias is {slope:.4f} per image; for a logit it is exactly 1",
        hint,
    )
    zero = tf.zeros_like(a)
    f = [np.asarray(model(x, training=False)) for x in (a, b, a + b, zero)]
    gap = float(np.abs(f[0] + f[1] - f[2] - f[3]).max())
    check_true(
        gap > 1e-4,
        "the discriminator is an affine function of the pixels: D(a) + D(b) = D(a + b) + D(0)",
        "add a non-linearity such as LeakyReLU(0.2) after each convolution; without one, "
        "stacked convolutions and a Dense layer collapse into a single linear map",
    )
    ok("the discriminator returns one logit per image and is non-linear")


def _weights(model) -> list[np.ndarray]:
    return [np.array(w.numpy()) for w in model.trainable_weights]


def _mean_logit(discriminator, images) -> float:
    return float(np.mean(np.asarray(discriminator(images, training=False))))


@check
def check_train_step(train_step: Callable[..., object]) -> None:
    """``train_step(real, generator, discriminator, g_optimizer, d_optimizer, latent_dim)`` makes
    one discriminator update and one generator update and returns ``(d_loss, g_loss)``."""
    from aigc_course._tf import keras, tf
    from aigc_course.data import load_dataset, to_float
    from aigc_course.models import build_discriminator, build_generator

    check_callable("train_step", train_step)
    latent_dim = 8
    keras.utils.set_random_seed(3)
    generator, discriminator = build_generator(latent_dim, 4), build_discriminator(4)
    g_opt, d_opt = keras.optimizers.Adam(1e-3, beta_1=0.5), keras.optimizers.Adam(1e-3, beta_1=0.5)
    images, _ = load_dataset("mnist", "test", verbose=False)
    real = tf.constant(to_float(images[:64]))
    z = tf.random.stateless_normal((64, latent_dim), seed=(8, 2))
    g_before, d_before = _weights(generator), _weights(discriminator)
    fake_before = generator(z, training=False)
    margin_before = _mean_logit(discriminator, real) - _mean_logit(discriminator, fake_before)

    result = train_step(real, generator, discriminator, g_opt, d_opt, latent_dim)
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise CheckFailed(
            f"train_step must return (d_loss, g_loss), got {type(result).__name__}",
            "end with `return d_loss, g_loss`",
        )
    d_loss, g_loss = result
    for name, value in (("d_loss", d_loss), ("g_loss", g_loss)):
        check_shape(name, value, ())
        check_finite(name, value)
    d_moved = any(
        not np.array_equal(a, b) for a, b in zip(d_before, _weights(discriminator), strict=True)
    )
    g_moved = any(
        not np.array_equal(a, b) for a, b in zip(g_before, _weights(generator), strict=True)
    )
    check_true(
        d_moved and g_moved,
        f"after one step the discriminator {'changed' if d_moved else 'did not change'} and the "
        f"generator {'changed' if g_moved else 'did not change'}; both must learn",
        "compute each loss inside a tf.GradientTape, then optimizer.apply_gradients("
        "zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))",
    )
    check_true(
        int(d_opt.iterations.numpy()) == 1 and int(g_opt.iterations.numpy()) == 1,
        f"d_optimizer made {int(d_opt.iterations.numpy())} update(s) and g_optimizer "
        f"{int(g_opt.iterations.numpy())}; expected one each",
        "each player is updated by its own optimizer, once per step",
    )
    margin_after = _mean_logit(discriminator, real) - _mean_logit(discriminator, fake_before)
    check_true(
        margin_after > margin_before,
        "after the step the discriminator separates real from fake images worse than before",
        "the discriminator minimises BCE with label 1 for real and 0 for fake images",
    )
    fake_after = generator(z, training=False)
    gain = _mean_logit(discriminator, fake_after) - _mean_logit(discriminator, fake_before)
    check_true(
        gain > 0,
        "after the step the (updated) discriminator finds the new fakes less real than the old",
        "the generator minimises -log D(G(z)) = softplus(-logits): it wants fakes called real",
    )
    ok("one step: both players moved, each with its own optimizer, each in its own direction")


@check
def check_discriminator_accuracy(accuracy_fn: Callable[..., object]) -> None:
    """``accuracy_fn(real_logits, fake_logits)`` -> the fraction of images D classifies right."""
    from aigc_course._tf import tf

    check_callable("discriminator_accuracy", accuracy_fn)
    rng = np.random.default_rng(9)
    for size in (50, 7):
        real, fake = rng.normal(0.8, 1.5, size), rng.normal(-0.3, 1.5, size)
        # Logits in (0, 0.5] only among the real ones, so thresholding at 0.5 shows.
        real = np.append(real[(real <= 0) | (real > 0.5)], [0.1, 0.2, 0.3])[:, None]
        fake = fake[(fake <= 0) | (fake > 0.5)][:, None]
        want = (np.sum(real > 0) + np.sum(fake < 0)) / (len(real) + len(fake))
        got = accuracy_fn(tf.constant(real, tf.float32), tf.constant(fake, tf.float32))
        hint, n = None, len(real) + len(fake)
        if got is not None and np.ndim(got) == 0:
            value = float(np.asarray(got))
            if value == 0.0:
                hint = (
                    "0 usually means the metric was reset before it was read: read result() first"
                )
            elif abs(value - np.mean(real > 0)) < 1e-6:
                hint = "include the fake images, labelled 0"
            elif abs(value - (np.sum(real > 0.5) + np.sum(fake < 0.5)) / n) < 1e-6:
                hint = "these are logits: threshold at 0 (or apply sigmoid and threshold at 0.5)"
        check_close(
            f"accuracy on {len(real)} + {len(fake)} logits", got, want, atol=1e-6, hint=hint
        )
    ok("the accuracy counts real logits > 0 and fake logits < 0 (labels 1 and 0)")


@check
def check_save_name(name: str) -> None:
    """``name`` is a file name Keras 3's ``save_weights`` accepts for the generator."""
    from aigc_course._tf import keras

    if not isinstance(name, str) or not name:
        raise CheckFailed(f"expected a file name (a string), got {name!r}")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, os.path.basename(name))
        try:
            model.save_weights(path)
        except ValueError as err:
            raise CheckFailed(f"save_weights({name!r}) fails: {err}") from None
    ok(f"save_weights({name!r}) works in Keras 3")
