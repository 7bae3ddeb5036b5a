"""Checks for chapter 05's exercises (training a DCGAN on MNIST).

Expected values come from Keras itself (the layer's real output size), from the inputs (the
interpolation endpoints) or from :func:`aigc_course.data.to_uint8` on a generator whose output is
known, so no answer is hard-coded.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from aigc_course.checks import (
    CheckFailed,
    NotAttempted,
    check,
    check_callable,
    check_choice,
    check_close,
    check_true,
    ok,
)

__all__ = [
    "check_upsampled_size",
    "check_generate_digits",
    "check_lerp",
    "check_fid_floor",
    "HINTS",
    "check_batch_experiment",
    "tapped",
]


@check(reread="chapter 05, section 3 (The two networks)")
def check_upsampled_size(size_fn: Callable[[int, int, int, str], int]) -> None:
    """``size_fn(size, kernel, stride, padding)`` is the output size of a ``Conv2DTranspose``."""
    from aigc_course._tf import keras

    check_callable("upsampled_size", size_fn)
    cases = [(7, 4, 2, "same"), (14, 4, 2, "same"), (8, 3, 1, "valid"), (7, 5, 2, "valid"),
             (4, 3, 3, "same"), (5, 2, 2, "valid")]  # fmt: skip
    for size, kernel, stride, padding in cases:
        layer = keras.layers.Conv2DTranspose(1, kernel, strides=stride, padding=padding)
        want = layer.compute_output_shape((None, size, size, 1))[1]
        got = size_fn(size, kernel, stride, padding)
        hint = None
        if padding == "valid" and got == size * stride:
            hint = "with padding='valid' the kernel sticks out: (size - 1) * stride + kernel"
        elif padding == "same" and got == (size - 1) * stride + kernel:
            hint = "padding='same' makes the output exactly size * stride"
        elif got == size // stride or got == (size - kernel) // stride + 1:
            hint = "that is a strided Conv2D (downsampling); a transposed one upsamples"
        check_close(
            f"upsampled_size({size}, {kernel}, {stride}, {padding!r})", got, want, hint=hint
        )
    ok("upsampled_size agrees with Keras: 'same' gives size*stride, 'valid' (size-1)*stride+k")


def _pattern_generator(latent_dim: int):
    """A fake generator that ignores z and returns the same known [-1, 1] image for every z."""
    from aigc_course._tf import keras

    pattern = np.linspace(-1.0, 1.0, 28 * 28, dtype=np.float32).reshape(1, 28, 28, 1)
    z = keras.Input((latent_dim,))
    zero = keras.layers.Dense(28 * 28, kernel_initializer="zeros", use_bias=False)(z)
    image = keras.layers.Reshape((28, 28, 1))(zero)
    image = keras.layers.Lambda(lambda x: x + pattern)(image)
    return keras.Model(z, image), pattern


def tapped(generator):
    """``(model, seen)``: ``generator`` behind a layer that records, for every eager call, the
    ``training`` flag it was called with and the noise it got, in ``seen``."""
    from aigc_course._tf import keras

    seen: list[tuple[object, np.ndarray]] = []

    class Tap(keras.layers.Layer):
        def call(self, z, training=None):
            try:
                seen.append((training, np.array(keras.ops.convert_to_numpy(z))))
            except Exception:  # a symbolic tensor while the model is built or traced
                pass
            return z

    z = keras.Input(generator.input_shape[1:])
    return keras.Model(z, generator(Tap()(z))), seen


@check(
    reread="chapter 05, sections 3 and 9 (batch normalisation; walking through the latent space)"
)
def check_generate_digits(generate: Callable[..., np.ndarray]) -> None:
    """``generate(generator, n, seed)`` -> uint8 ``(n, 28, 28)`` pixels, reproducible by seed."""
    from aigc_course._tf import keras
    from aigc_course.data import to_uint8
    from aigc_course.models import build_generator

    check_callable("generate_digits", generate)
    keras.utils.set_random_seed(5)
    generator = build_generator(latent_dim=6, width=4)
    first = generate(generator, 5, 1)
    if first is None:
        raise CheckFailed("generate_digits returned None — did you forget `return`?")
    first = np.asarray(first)
    hint = "drop the channel axis: images[..., 0]" if first.shape == (5, 28, 28, 1) else None
    check_true(
        first.shape == (5, 28, 28),
        f"generate_digits(generator, 5, 1) has shape {first.shape}, expected (5, 28, 28)",
        hint,
    )
    check_true(
        first.dtype == np.uint8,
        f"the pixels have dtype {first.dtype}, expected uint8 (0..255)",
        "aigc_course.data.to_uint8 maps [-1, 1] to 0..255",
    )
    again, other = np.asarray(generate(generator, 5, 1)), np.asarray(generate(generator, 5, 2))
    check_true(
        np.array_equal(first, again),
        "two calls with seed 1 gave different images",
        "draw the noise from np.random.default_rng(seed), and call the generator with "
        "training=False (batch normalisation then uses its running averages)",
    )
    check_true(not np.array_equal(first, other), "seeds 1 and 2 gave the same images")
    fake, pattern = _pattern_generator(latent_dim=9)
    got = np.asarray(generate(fake, 3, 0))
    want = np.repeat(to_uint8(pattern), 3, axis=0)
    check_true(
        got.shape == want.shape and np.array_equal(got, want),
        "for a generator whose output is known, the pixels differ from to_uint8(output)",
        "map [-1, 1] to 0..255 with aigc_course.data.to_uint8: (x + 1) * 127.5, rounded",
    )
    model, seen = tapped(generator)
    generate(model, 200, 3)
    if seen:  # eager calls were recorded (model.predict runs compiled and is fine)
        flags = {repr(training) for training, _ in seen}
        check_true(
            flags == {"False"},
            f"the generator was called with training={', '.join(sorted(flags))}",
            "sampling is inference: call generator(z, training=False), so batch normalisation "
            "uses its running averages instead of this batch's statistics",
        )
        noise = np.concatenate([z.ravel() for _, z in seen])
        check_true(
            noise.min() < -0.5 and abs(noise.mean()) < 0.2 and 0.8 < noise.std() < 1.2,
            f"the noise has mean {noise.mean():.2f}, std {noise.std():.2f} and minimum "
            f"{noise.min():.2f}: it looks uniform, not standard normal",
            "the generator was trained on z ~ N(0, I): draw it with the rng's standard_normal",
        )
    ok("generate_digits: uint8 (n, 28, 28), the same images for the same seed")


@check(reread="chapter 05, section 9 (Walking through the latent space)")
def check_lerp(lerp: Callable[[np.ndarray, np.ndarray, int], np.ndarray]) -> None:
    """``lerp(z0, z1, steps)`` -> ``steps`` evenly spaced points from z0 to z1, ends included."""
    check_callable("lerp", lerp)
    rng = np.random.default_rng(11)
    for steps, dim in ((5, 3), (8, 16)):
        z0, z1 = rng.standard_normal(dim), rng.standard_normal(dim)
        t = np.linspace(0.0, 1.0, steps)[:, None]
        want = (1 - t) * z0 + t * z1
        got = lerp(z0, z1, steps)
        hint = None
        if got is not None and np.shape(got) == want.shape:
            arr = np.asarray(got, dtype=np.float64)
            if np.allclose(arr, want[::-1]):
                hint = "the path runs backwards: row 0 must be z0"
            elif np.allclose(arr[0], z0) and not np.allclose(arr[-1], z1):
                hint = (
                    "the last row is not z1: include the end point (t runs from 0 to 1 inclusive)"
                )
            elif not np.allclose(arr[0], z0) and np.allclose(arr[-1], z1):
                hint = "the first row is not z0: t starts at 0, not at 1 / steps (0- vs 1-based)"
        check_close(f"lerp(z0, z1, {steps}) in {dim} dimensions", got, want, hint=hint)
    ok("lerp walks in equal steps from z0 (first row) to z1 (last row)")


@check(reread="chapter 05, section 6 (Reading the curves) and chapter 03, Step 3")
def check_fid_floor(answer: str) -> None:
    """``answer`` is the letter saying what the real-vs-real FID floor means."""
    check_choice(
        "check_fid_floor",
        answer,
        "c",
        {
            "a": "the floor is measured on real images only; no generator is involved",
            "b": "the floor depends on the number of images: FID is biased upwards for small "
            "sets, and two real sets of 1,000 images already differ by it",
            "d": "random noise scores far above the floor; the floor is two sets of real images",
        },
        not_attempted='set answer_q1 to one letter, e.g. "a"',
    )
    ok(
        "right: two real sets of n images already differ by the floor; a perfect generator scores it"
    )


def _dependence(generator, z0, companions, training: bool) -> float:
    images = [
        np.asarray(generator(np.concatenate([z0[None], c]).astype("float32"), training=training))[0]
        for c in companions
    ]
    return float(max(np.abs(image - images[0]).max() for image in images))


@check(reread="chapter 05, section 3 (The two networks: batch normalisation)")
def check_batch_experiment(batch_dependence: Callable, answer_depends: bool) -> None:
    """``batch_dependence(generator, z0, companions, training)`` is the largest change, over the
    batches ``[z0, *companions[i]]``, of the image generated for ``z0`` (max |difference|);
    ``answer_depends`` says whether z0's image depends on its batch in training mode."""
    from aigc_course._tf import keras
    from aigc_course.models import build_generator

    check_callable("batch_dependence", batch_dependence)
    keras.utils.set_random_seed(9)
    generator = build_generator(latent_dim=6, width=4)
    rng = np.random.default_rng(9)
    z0 = rng.standard_normal(6)
    companions = [rng.standard_normal((7, 6)) for _ in range(4)]
    measured = {}
    for training in (False, True):
        got = batch_dependence(generator, z0.copy(), [c.copy() for c in companions], training)
        if got is None:
            raise CheckFailed("batch_dependence returned None — did you forget `return`?")
        measured[training] = float(np.asarray(got))
    want = {t: _dependence(generator, z0, companions, t) for t in (False, True)}
    if measured[False] > 1e-3:
        raise CheckFailed(
            f"with training=False you measured {measured[False]:.3g}, but in inference mode "
            "z0's image cannot change with its batch: you compared the other images too",
            "compare only the first image of each batch, the one made from z0",
        )
    if measured[True] < 1e-6 < want[True]:
        raise CheckFailed(
            "with training=True you measured no change at all: your function ignores `training`",
            "pass it on: generator(batch, training=training)",
        )
    check_close(
        "batch_dependence(..., training=True)",
        measured[True],
        want[True],
        atol=1e-4,
        rtol=1e-3,
        hint="the largest absolute difference between z0's image in each batch and in the first",
    )
    if answer_depends is None:
        raise NotAttempted("check_batch_experiment", "set answer_depends to True or False")
    check_true(
        bool(answer_depends) == (want[True] > 1e-3),
        f"measured: in training mode z0's image moves by up to {want[True]:.3g} with its "
        f"companions, in inference mode by {want[False]:.1g}; your answer says otherwise",
        "in training mode batch normalisation uses the batch's own mean and variance",
    )
    ok(
        f"measured: z0's image moves by up to {want[True]:.2g} with its batch in training mode, "
        f"{want[False]:.1g} in inference mode: sample with training=False"
    )


#: Graded hints (``aigc_course.hints.hint``): the idea first, then the tool, never the line.
HINTS = {
    "upsampled_size": (
        "A transposed convolution spreads each input pixel over a kernel-sized patch, moving "
        "stride pixels per input pixel: the output grows by the stride.",
        "With padding 'same' Keras crops the output to an exact multiple of the input; with "
        "'valid' nothing is cropped: count where the last patch starts and add its width.",
        "Compare with keras.layers.Conv2DTranspose(...).compute_output_shape on a few cases.",
    ),
    "generate_digits": (
        "Sampling = draw the noise the generator was trained on, run the generator in "
        "inference mode, convert the pixels.",
        "np.random.default_rng(seed) makes the draws reproducible; the generator was trained on "
        "standard normal z of size generator.input_shape[-1]; aigc_course.data.to_uint8 converts.",
        "Batch normalisation behaves differently in training: pass training=False explicitly. "
        "Return (n, 28, 28): drop the channel axis.",
    ),
    "lerp": (
        "Every point on the straight line between z0 and z1 is a weighted average of the two, "
        "with weights that sum to 1, moving evenly from all-z0 to all-z1.",
        "np.linspace gives evenly spaced t with both ends included; give t a second axis so it "
        "broadcasts against the vectors.",
        "Row 0 must be exactly z0 and the last row exactly z1.",
    ),
    "batch_experiment": (
        "Generate the same z0 inside several different batches (z0 first, other noise after) "
        "and see how much z0's own image changes from batch to batch.",
        "np.concatenate([z0[None], companions]) builds one batch; generator(batch, "
        "training=...) and element [0] of the output is z0's image; compare each with the first "
        "and keep the largest absolute difference.",
        "Batch normalisation in training mode normalises with the batch's own statistics; in "
        "inference mode with its running averages. Which mode should sampling use?",
    ),
    "q1_fid_floor": (
        "FID compares two sets of images through their features; even two sets of real images "
        "are not identical.",
        "What would a generator that produced perfect, brand-new real digits score?",
    ),
}
