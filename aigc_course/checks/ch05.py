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
    check,
    check_callable,
    check_close,
    check_letter,
    check_true,
    ok,
)

__all__ = [
    "check_upsampled_size",
    "check_generate_digits",
    "check_lerp",
    "check_fid_floor",
]


@check
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


@check
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
    ok("generate_digits: uint8 (n, 28, 28), the same images for the same seed")


@check
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
                hint = "include the end point: np.linspace(0, 1, steps) includes both ends"
        check_close(f"lerp(z0, z1, {steps}) in {dim} dimensions", got, want, hint=hint)
    ok("lerp walks in equal steps from z0 (first row) to z1 (last row)")


@check
def check_fid_floor(answer: str) -> None:
    """``answer`` is the letter saying what the real-vs-real FID floor means."""
    check_true(
        check_letter("check_fid_floor", answer) == "c",
        f"{answer!r} is not right",
        "what would FID be for a generator that produced perfect, brand-new real digits?",
    )
    ok(
        "right: two real sets of n images already differ by the floor; a perfect generator scores it"
    )
