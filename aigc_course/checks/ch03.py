"""Checks for chapter 03's exercises (pretrain → fine-tune → evaluate → deploy).

The checks build their own test data (images whose pixels encode their index, random labels)
and recompute the right answers from it, so nothing is hard-coded.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from aigc_course.checks import (
    CheckFailed,
    check,
    check_callable,
    check_close,
    check_dtype,
    check_letter,
    check_shape,
    check_true,
    ok,
)

__all__ = [
    "check_select_few_shot",
    "check_label_drift",
    "check_make_generate",
    "check_evaluation_choice",
    "check_monitoring_diagnosis",
]


def _indexed_images(n: int) -> np.ndarray:
    """uint8 images (n, 28, 28) whose first two pixels spell their index (so we can find it)."""
    images = np.zeros((n, 28, 28), np.uint8)
    images[:, 0, 0] = np.arange(n) // 256
    images[:, 0, 1] = np.arange(n) % 256
    return images


def _indices(images: np.ndarray) -> np.ndarray:
    return images[:, 0, 0].astype(np.int64) * 256 + images[:, 0, 1]


@check
def check_select_few_shot(select_few_shot: Callable[..., np.ndarray]) -> None:
    """``select_few_shot(images, labels, digit, k, seed)``: k distinct random images of ``digit``."""
    check_callable("select_few_shot", select_few_shot)
    rng = np.random.default_rng(3)
    images, labels = _indexed_images(600), rng.integers(0, 10, 600).astype(np.uint8)
    got = select_few_shot(images, labels, 3, 20, seed=0)
    check_shape("select_few_shot(images, labels, 3, 20)", got, (20, 28, 28))
    check_dtype("select_few_shot(...)", got, "uint8", "return the images themselves, not indices")
    picked = _indices(np.asarray(got))
    check_true(
        np.all(labels[picked] == 3),
        f"{int(np.sum(labels[picked] != 3))} of the 20 images are not of class 3",
        "keep only images whose label equals digit: images[labels == digit]",
    )
    check_true(
        len(set(picked.tolist())) == 20,
        "some images were picked twice",
        "sample without replacement: rng.choice(n, size=k, replace=False) or a permutation",
    )
    again = _indices(np.asarray(select_few_shot(images, labels, 3, 20, seed=0)))
    check_true(
        np.array_equal(picked, again),
        "the same seed gave a different selection",
        "make a generator from the seed: rng = np.random.default_rng(seed)",
    )
    others = _indices(np.asarray(select_few_shot(images, labels, 3, 20, seed=1)))
    first = np.flatnonzero(labels == 3)[:20]
    check_true(
        not np.array_equal(picked, others) and not np.array_equal(np.sort(picked), first),
        "the selection does not depend on the seed (or is just the first k examples)",
        "pick at random: the first k examples of a class are not a random sample",
    )
    try:
        select_few_shot(images, labels, 3, int(np.sum(labels == 3)) + 1, seed=0)
    except ValueError:
        pass
    else:
        raise CheckFailed(
            "asking for more examples than the class has should raise ValueError",
            "check k against the number of available images and raise ValueError with a message",
        )
    ok("select_few_shot picks k distinct, random, reproducible examples of one class")


def _tv(a: np.ndarray, b: np.ndarray, n_classes: int) -> float:
    p = np.bincount(a, minlength=n_classes) / len(a)
    q = np.bincount(b, minlength=n_classes) / len(b)
    return float(0.5 * np.abs(p - q).sum())


@check
def check_label_drift(label_drift: Callable[..., float]) -> None:
    """``label_drift(labels_a, labels_b, n_classes=10)``: TV distance of the class histograms."""
    check_callable("label_drift", label_drift)
    rng = np.random.default_rng(5)
    a = rng.integers(0, 10, 500)
    b = np.concatenate([rng.integers(0, 10, 150), np.full(150, 7)])  # another size, more 7s
    want = _tv(a, b, 10)
    got = label_drift(a, b)
    hint = None
    if got is not None and np.ndim(got) == 0 and np.isclose(float(got), 2 * want, rtol=1e-6):
        hint = "total variation has a factor 1/2 in front of the sum"
    elif got is not None and np.ndim(got) == 0 and float(got) > 1:
        hint = "normalise each histogram by its own number of labels (the sets differ in size)"
    elif got is not None and np.ndim(got) == 1:
        hint = "sum the absolute differences over the classes to get one number"
    check_close("label_drift(a, b)", got, want, atol=1e-9, hint=hint)
    check_close("label_drift(a, a)", label_drift(a, a), 0.0, atol=1e-9)
    check_close(
        "label_drift(all 1s, all 7s)",
        label_drift(np.ones(40, int), np.full(60, 7)),
        1.0,
        atol=1e-9,
        hint="two sets with no class in common are at distance 1",
    )
    sparse = label_drift(np.array([9, 9]), np.array([9, 0]), n_classes=10)
    check_close("label_drift([9, 9], [9, 0])", sparse, 0.5, atol=1e-9)
    ok("label_drift is the total variation distance between the class histograms")


@check
def check_make_generate(make_generate: Callable[..., Callable[[int], np.ndarray]], path) -> None:
    """``make_generate(path, seed=0)`` loads the saved generator once and returns ``generate(n)``,
    which serves ``n`` fresh images as uint8 ``(n, 28, 28)``."""
    check_callable("make_generate", make_generate)
    generate = make_generate(path, seed=0)
    check_callable("make_generate(path)", generate)
    first = generate(5)
    check_shape("generate(5)", first, (5, 28, 28))
    check_dtype(
        "generate(5)",
        first,
        "uint8",
        "map the tanh output [-1, 1] to 0..255: aigc_course.data.to_uint8(x) does it",
    )
    first = np.asarray(first)
    check_true(
        first.max() > first.min(),
        "every pixel of generate(5) has the same value",
        "did the [-1, 1] -> 0..255 conversion clip everything? (x + 1) * 127.5, then round",
    )
    check_shape("generate(1)", generate(1), (1, 28, 28))
    second = np.asarray(generate(5))
    check_true(
        not np.array_equal(first, second),
        "two calls of generate(5) returned identical images",
        "draw fresh noise for every request (one rng created once, outside generate)",
    )
    replay = np.asarray(make_generate(path, seed=0)(5))
    check_true(
        np.array_equal(first, replay),
        "make_generate(path, seed=0) served different images the second time",
        "create the noise generator from the seed: np.random.default_rng(seed)",
    )
    ok("generate(n) serves fresh uint8 images of shape (n, 28, 28), reproducible by seed")


@check
def check_evaluation_choice(answer: str) -> None:
    """Q4: which evaluation of a fine-tuned image generator is most informative."""
    check_true(
        check_letter(
            "check_evaluation_choice",
            answer,
            not_attempted="write one letter into the answer variable",
        )
        == "b",
        f"{answer!r} is not the best choice",
        "a generator has no labels to cross-validate and its losses are a two-player game; "
        "which option compares its samples with held-out real data and a reference value?",
    )
    ok("right: FID on held-out real data next to the real-vs-real floor, plus the class histogram")


@check
def check_monitoring_diagnosis(answer: str) -> None:
    """Q5: what the monitoring table of a served generator points to."""
    check_true(
        check_letter(
            "check_monitoring_diagnosis",
            answer,
            not_attempted="write one letter into the answer variable",
        )
        == "c",
        f"{answer!r} does not fit all three numbers",
        "the nearest-neighbour distance stayed put, and sampling noise is about 0.05 at n = 1000; "
        "what changes the class histogram of everything served at once?",
    )
    ok("right: a different model (or broken pre/post-processing) is being served")
