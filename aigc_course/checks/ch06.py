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
    NotAttempted,
    check,
    check_callable,
    check_close,
    check_finite,
    check_shape,
    check_true,
    check_uses,
    ok,
)

__all__ = [
    "check_fixed_generator",
    "check_fixed_discriminator",
    "check_train_step",
    "check_discriminator_accuracy",
    "check_save_name",
    "HINTS",
    "affine_gap",
    "check_affine_experiment",
    "suspect_tails",
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


def affine_gap(f, a, b) -> float:
    """Largest |f(a) + f(b) - f(a + b) - f(0)|: zero (up to rounding) exactly when f is affine."""
    out = [np.asarray(f(x), dtype=np.float64) for x in (a, b, a + b, 0 * a)]
    return float(np.abs(out[0] + out[1] - out[2] - out[3]).max())


def _after_first_dense(model):
    """The model's layers after its first Dense layer, applied in order (a function), or None
    when the model is not a plain chain of layers."""
    from aigc_course._tf import keras

    chain = list(model.layers)
    first = next(
        (n for n, layer in enumerate(chain) if isinstance(layer, keras.layers.Dense)), None
    )
    if first is None:
        return None, None

    def rest(h):
        for layer in chain[first + 1 :]:
            h = (
                layer(h, training=False)
                if "training" in layer.call.__code__.co_varnames
                else layer(h)
            )
        return h

    return chain[first], rest


@check(reread="chapter 06, section 2 (Defects 2-5 and 6b: the generator)")
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
    # Scale z until the median pixel is about 0.5: tanh(x) = 0.5 at x = 0.55 and rounds to
    # exactly +-1 in float32 only beyond |x| = 8.7, while a linear output clipped to [-1, 1]
    # sits exactly at +-1 as soon as |x| > 1, twice the median.
    outputs = [np.asarray(model(s * z, training=False)) for s in np.geomspace(0.05, 200.0, 40)]
    mid = min(outputs, key=lambda out: abs(np.median(np.abs(out)) - 0.5))
    pinned = float(np.mean(np.abs(mid) == 1.0))
    check_true(
        pinned < 0.01,
        f"when the median pixel is {np.median(np.abs(mid)):.2f}, {pinned:.0%} of the pixels sit "
        "exactly at -1 or 1: the output is clipped (hard-limited) to [-1, 1], not squashed by tanh",
        "a clipped pixel has zero gradient, so it stops learning: end the generator with "
        "activation='tanh', which stays smooth and strictly inside (-1, 1)",
    )
    dense, rest = _after_first_dense(model)
    if dense is not None:
        h = dense(z)
        same = np.allclose(np.asarray(rest(h)), np.asarray(images), atol=1e-5)
        if same:  # a chain: test the part after the dense layer, before the final tanh
            rng = np.random.default_rng(6)
            shape = (4, *h.shape[1:])
            h_a = tf.constant(rng.uniform(0, 0.05, shape), tf.float32)
            h_b = tf.constant(rng.uniform(0, 0.05, shape), tf.float32)

            def pre_tanh(x):
                return np.arctanh(np.clip(np.asarray(rest(x), np.float64), -0.999999, 0.999999))

            scale = float(np.abs(pre_tanh(h_a)).max()) + 1e-12
            check_true(
                affine_gap(pre_tanh, h_a, h_b) > 1e-3 * scale,
                "everything after the generator's dense layer is an affine map: the transposed "
                "convolutions have no activation between them (defect 6b)",
                "a chain of affine maps is one affine map: put a ReLU (or LeakyReLU) after each "
                "Conv2DTranspose, as DCGAN does",
            )
    ok(
        "the generator makes (B, 28, 28, 1) images, its tanh output covers [-1, 1], and it is "
        "non-linear after its dense layer"
    )


def _final_bias(model):
    biases = [w for w in model.trainable_weights if tuple(w.shape) == (1,)]
    if not biases:
        raise CheckFailed(
            "found no bias of shape (1,) in the discriminator",
            "end with layers.Dense(1) (one score per image, with a bias)",
        )
    return biases[-1]


@check(reread="chapter 06, section 2 (Defect 6a: a discriminator without non-linearities)")
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


def _recording(optimizer, name: str, log: list) -> None:
    """Make ``optimizer`` note in ``log`` which variables each of its updates touches (``apply``
    is what ``apply_gradients`` calls; under ``tf.function`` the notes are made while tracing)."""
    apply = optimizer.apply

    def recorded(grads, trainable_variables=None):
        variables = list(trainable_variables) if trainable_variables is not None else None
        log.append((name, [id(v) for v in variables] if variables is not None else None))
        return apply(grads, variables)

    optimizer.apply = recorded


def _touched(log: list, name: str, model, other, other_name: str) -> None:
    """Fail unless every update by the optimizer ``name`` touched only ``model``'s variables."""
    own = {id(v) for v in model.trainable_variables}
    foreign = {id(v) for v in other.trainable_variables}
    for who, ids in log:
        if who != name or ids is None:
            continue
        check_true(
            not foreign.intersection(ids),
            f"{name} also updated the {other_name}'s weights ({len(foreign.intersection(ids))} "
            f"of its variables): one player's step moved the other player",
            f"give {name} only its own player's trainable_variables (and gradients)",
        )
        check_true(
            own.issuperset(ids),
            f"{name} updated variables that are not its player's",
            f"give {name} only its own player's trainable_variables (and gradients)",
        )


def _mean_logit(discriminator, images) -> float:
    return float(np.mean(np.asarray(discriminator(images, training=False))))


@check(
    reread="chapter 06, sections 3 and 4 (Defects 12 and 14; the repaired GAN) and chapter 04, section 5"
)
def check_train_step(train_step: Callable[..., object]) -> None:
    """``train_step(real, generator, discriminator, g_optimizer, d_optimizer, latent_dim)`` makes
    one discriminator update and one generator update and returns ``(d_loss, g_loss)``."""
    from aigc_course._tf import keras, tf
    from aigc_course.checks.ch05 import tapped
    from aigc_course.data import load_dataset, to_float
    from aigc_course.models import build_discriminator, build_generator

    check_callable("train_step", train_step)
    latent_dim = 8
    keras.utils.set_random_seed(3)
    generator, seen = tapped(build_generator(latent_dim, 4))
    discriminator = build_discriminator(4)
    g_opt, d_opt = keras.optimizers.Adam(1e-3, beta_1=0.5), keras.optimizers.Adam(1e-3, beta_1=0.5)
    updates: list = []
    _recording(g_opt, "g_optimizer", updates)
    _recording(d_opt, "d_optimizer", updates)
    images, _ = load_dataset("mnist", "test", verbose=False)
    real = tf.constant(to_float(images[:64]))
    z = tf.random.stateless_normal((64, latent_dim), seed=(8, 2))
    g_before, d_before = _weights(generator), _weights(discriminator)
    fake_before = generator(z, training=False)
    margin_before = _mean_logit(discriminator, real) - _mean_logit(discriminator, fake_before)

    seen.clear()
    result = train_step(real, generator, discriminator, g_opt, d_opt, latent_dim)
    noises = [z for _, z in seen]
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
    _touched(updates, "g_optimizer", generator, discriminator, "discriminator")
    _touched(updates, "d_optimizer", discriminator, generator, "generator")
    order = [who for who, _ in updates]
    recorded = {"d_optimizer", "g_optimizer"} <= set(order)  # both updates were seen
    check_true(
        not recorded or order.index("d_optimizer") < order.index("g_optimizer"),
        "the generator was updated before the discriminator",
        "update the discriminator first, then the generator against the freshly updated "
        "discriminator (the order of the article's loop and of DCGAN)",
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
    if noises:  # eager calls of the generator were recorded (not inside a tf.function)
        check_true(
            len(noises) >= 2 and not all(np.array_equal(noises[0], z) for z in noises[1:]),
            "the generator's update reused the noise (and fakes) of the discriminator's update",
            "draw fresh noise for the generator's step: the discriminator has just been trained "
            "on those very fakes, so reusing them gives the generator a biased signal",
        )
    # A discriminator that rejects every fake: -log D(G(z)) is large, log(1 - D(G(z))) ~ 0.
    keras.utils.set_random_seed(4)
    generator, discriminator = build_generator(latent_dim, 4), build_discriminator(4)
    _final_bias(discriminator).assign([-8.0])
    g_opt, d_opt = keras.optimizers.Adam(1e-3, beta_1=0.5), keras.optimizers.Adam(1e-3, beta_1=0.5)
    _, g_loss = train_step(real, generator, discriminator, g_opt, d_opt, latent_dim)
    check_true(
        float(np.asarray(g_loss)) > 1.0,
        f"when the discriminator rejects every fake (logits near -8) your g_loss is "
        f"{float(np.asarray(g_loss)):.3g}: that is the saturating loss log(1 - D(G(z)))",
        "use the non-saturating loss -log D(G(z)) = BCE with label 1 on the fakes' logits; "
        "it stays large (about 8 here) and so does its gradient",
    )
    ok("one step: both players moved, each with its own optimizer, each in its own direction")


@check(reread="chapter 06, section 3 (Defects 11 and 13: metrics)")
def check_discriminator_accuracy(accuracy_fn: Callable[..., object]) -> None:
    """``accuracy_fn(real_logits, fake_logits)`` -> the fraction of images D classifies right."""
    from aigc_course._tf import tf

    check_callable("discriminator_accuracy", accuracy_fn)
    check_uses(
        "discriminator_accuracy",
        accuracy_fn,
        "BinaryAccuracy",
        "Exercise 4 is about using a Keras metric correctly: one "
        "keras.metrics.BinaryAccuracy, updated with both halves, read before any reset "
        "(plain NumPy gives the number but skips the point)",
    )
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


@check(reread="chapter 06, section 3 (Defect 15: save_weights with a .h5 name)")
def check_save_name(name: str) -> None:
    """``name`` is a file name Keras 3's ``save_weights`` accepts for the generator."""
    from aigc_course._tf import keras

    if name is None:
        raise NotAttempted("check_save_name", 'set answer_q1 to a file name, e.g. "weights.ext"')
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


# Which suspect tails are affine, by construction (the activations after each Conv2DTranspose).
_SUSPECTS = {
    "A": ("relu", "relu"),
    "B": (None, None),  # the article's generator
    "C": ("linear", "linear"),  # an activation in name only
    "D": (None, "leaky_relu"),
}


def suspect_tails(seed: int = 0) -> dict[str, Callable]:
    """Four generator tails, from a dense layer's output h of shape (B, 7, 7, 8) to the logits of
    (B, 28, 28, 1) images, two transposed convolutions and an output convolution each. Some have
    an activation between their layers and some do not: the affine test tells which."""
    from aigc_course._tf import keras

    layers = keras.layers
    tails = {}
    for n, (name, (first, second)) in enumerate(_SUSPECTS.items()):
        keras.utils.set_random_seed(seed * 10 + n)
        model = keras.Sequential(
            [
                keras.Input((7, 7, 8)),
                layers.Conv2DTranspose(8, 4, strides=2, padding="same", activation=first),
                layers.Conv2DTranspose(4, 4, strides=2, padding="same", activation=second),
                layers.Conv2D(1, 3, padding="same"),
            ]
        )
        tails[name] = lambda h, model=model: model(h, training=False)
    return tails


@check(reread="chapter 06, section 2 (Defects 6a and 6b: the affine test)")
def check_affine_experiment(affine_gap_fn: Callable, answer_affine: dict) -> None:
    """``affine_gap_fn(f, a, b)`` measures max |f(a) + f(b) - f(a + b) - f(0)|; with it the
    student found which of :func:`suspect_tails` are affine (``answer_affine``)."""
    from aigc_course._tf import tf

    check_callable("affine_gap", affine_gap_fn)
    rng = np.random.default_rng(12)
    a, b = (tf.constant(rng.uniform(-1, 1, (3, 5)), tf.float32) for _ in range(2))
    shift = tf.constant(rng.uniform(-2, 2, (5,)), tf.float32)
    with_bias = affine_gap_fn(lambda x: 3.0 * x + shift, a, b)
    if with_bias is None:
        raise CheckFailed("affine_gap returned None — did you forget `return`?")
    if float(np.asarray(with_bias)) > 1e-4:
        raise CheckFailed(
            f"affine_gap(3x + c) = {float(np.asarray(with_bias)):.3g}, but 3x + c is affine",
            "an affine map has a bias, so f(a) + f(b) = f(a + b) + f(0): include the f(0) term",
        )
    check_true(
        float(np.asarray(affine_gap_fn(tf.nn.relu, a, b))) > 1e-2,
        "affine_gap(relu) is about 0 on inputs of both signs, but relu is not affine",
        "take the largest absolute difference over all entries, not a sum that can cancel",
    )
    if answer_affine is None or answer_affine == {}:
        raise NotAttempted(
            "check_affine_experiment", "set answer_affine to a dict: suspect -> bool"
        )
    if not isinstance(answer_affine, dict) or set(answer_affine) != set(_SUSPECTS):
        raise CheckFailed(f"answer_affine must be a dict with keys {sorted(_SUSPECTS)}")
    h = [tf.constant(rng.uniform(0, 1, (2, 7, 7, 8)), tf.float32) for _ in range(2)]
    for name, tail in suspect_tails(seed=0).items():
        scale = float(np.abs(np.asarray(tail(h[0]))).max())
        measured = float(np.asarray(affine_gap_fn(tail, *h))) / scale
        affine = _SUSPECTS[name][0] in (None, "linear") and _SUSPECTS[name][1] in (None, "linear")
        check_true(
            (measured < 1e-4) == affine,
            f"your affine_gap on suspect {name} gives {measured:.1e} of the output's scale, "
            f"which does not tell {'an affine' if affine else 'a non-linear'} map apart",
        )
        if bool(answer_affine[name]) != affine:
            why = (
                "activation='linear' is the identity: an activation in name only"
                if _SUSPECTS[name] == ("linear", "linear")
                else "one non-linearity anywhere in the chain is enough to break the identity"
                if not affine
                else "no activation between the layers: a chain of affine maps is one affine map"
            )
            raise CheckFailed(
                f"suspect {name} is {'affine' if affine else 'not affine'}; its measured gap is "
                f"{measured:.1e} of the output's scale",
                why,
            )
    ok("the affine test finds the tails without an activation (B, and C whose 'linear' is none)")


#: Graded hints (``aigc_course.hints.hint``): the idea first, then the tool, never the line.
HINTS = {
    "fixed_generator": (
        "From a noise vector to a 28x28x1 image in [-1, 1]: a dense layer to a small 7x7 "
        "feature map, two upsamplings by 2, and an output layer whose range matches the data.",
        "Keras convolutions want (height, width, channels); Conv2DTranspose with strides=2 and "
        "padding='same' doubles the size (Exercise 1 of chapter 05). tanh has range (-1, 1).",
        "Without an activation between them, stacked (transposed) convolutions are one affine "
        "map: give each one a non-linearity (chapter 06, defect 6b).",
    ),
    "fixed_discriminator": (
        "From an image to one logit: a few strided convolutions that halve the size, then a "
        "dense layer with one output and no sigmoid.",
        "Each convolution needs a non-linearity after it (LeakyReLU is DCGAN's choice); "
        "otherwise the whole network is a logistic regression on pixels.",
        "The losses take logits (from_logits=True): the last layer has no activation.",
    ),
    "train_step": (
        "One step = one update of each player: first the discriminator on real and fake "
        "images, then the generator through the (just updated) discriminator.",
        "Each update: compute the loss inside a tf.GradientTape, take its gradient with respect "
        "to that player's trainable_variables, and apply it with that player's own optimizer.",
        "Labels: the discriminator wants real -> 1, fake -> 0; the generator wants its fakes "
        "called real (label 1: the non-saturating loss). Draw fresh noise for each player.",
    ),
    "discriminator_accuracy": (
        "Accuracy over both halves: real images should get label 1, fakes label 0, and these "
        "are logits, so the decision is at 0.",
        "One keras.metrics.BinaryAccuracy with the right threshold; update_state once per half.",
        "Read result() before anything resets the metric.",
    ),
    "affine_experiment": (
        "A map f is affine (linear plus a constant) exactly when f(a) + f(b) = f(a + b) + f(0) "
        "for all inputs: measure how far each suspect is from that identity.",
        "Compute the four outputs, combine them, and take the largest absolute entry "
        "(tf.reduce_max of tf.abs); compare it with the size of the outputs themselves.",
        "Rounding leaves about 1e-6 of the output's scale for an affine map; a real "
        "non-linearity leaves far more. Which suspects have an activation that does something?",
    ),
    "q1_save_name": (
        "Keras 3 is strict about the file name save_weights accepts.",
        "Run save_weights with the article's name and read the ValueError: it says how the name "
        "must end.",
    ),
}
