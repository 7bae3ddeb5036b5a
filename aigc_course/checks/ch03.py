"""Checks for chapter 03's exercises (pretrain → fine-tune → evaluate → deploy).

The checks build their own test data (images whose pixels encode their index, random labels)
and recompute the right answers from it, so nothing is hard-coded.
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
    check_dtype,
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
    "check_tv_noise_experiment",
    "HINTS",
]


def _indexed_images(n: int) -> np.ndarray:
    """uint8 images (n, 28, 28) whose first two pixels spell their index (so we can find it)."""
    images = np.zeros((n, 28, 28), np.uint8)
    images[:, 0, 0] = np.arange(n) // 256
    images[:, 0, 1] = np.arange(n) % 256
    return images


def _indices(images: np.ndarray) -> np.ndarray:
    return images[:, 0, 0].astype(np.int64) * 256 + images[:, 0, 1]


@check(reread="chapter 03, Step 2 (Fine-tune on 100 sevens)")
def check_select_few_shot(select_few_shot: Callable[..., np.ndarray]) -> None:
    """``select_few_shot(images, labels, digit, k, seed)``: k distinct random images of ``digit``."""
    check_callable("select_few_shot", select_few_shot)
    rng = np.random.default_rng(3)
    images, labels = _indexed_images(600), rng.integers(0, 10, 600).astype(np.uint8)
    state = np.random.get_state()
    got = select_few_shot(images, labels, 3, 20, seed=0)
    global_state_moved = not all(
        np.array_equal(a, b) for a, b in zip(state, np.random.get_state(), strict=True)
    )
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
    check_true(
        not global_state_moved,
        "select_few_shot changed NumPy's global random state (np.random.seed or np.random.*): "
        "every later random draw in the notebook now depends on this call",
        "keep the randomness local: rng = np.random.default_rng(seed), then rng.choice(...)",
    )
    ok("select_few_shot picks k distinct, random, reproducible examples of one class")


def _tv(a: np.ndarray, b: np.ndarray, n_classes: int) -> float:
    p = np.bincount(a, minlength=n_classes) / len(a)
    q = np.bincount(b, minlength=n_classes) / len(b)
    return float(0.5 * np.abs(p - q).sum())


@check(reread="chapter 03, Step 4 (What to monitor once it is live)")
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
    spread = label_drift(np.array([0, 1, 2, 3]), np.array([0, 0, 1, 1]), n_classes=4)
    hint = None
    if spread is not None and np.ndim(spread) == 0 and np.isclose(float(spread), 0.25):
        hint = (
            "0.25 is the largest single difference max |p - q|; total variation sums them all: "
            "0.5 * sum |p - q| (here classes 0 and 1 each gain 0.25)"
        )
    check_close("label_drift([0, 1, 2, 3], [0, 0, 1, 1])", spread, 0.5, atol=1e-9, hint=hint)
    ok("label_drift is the total variation distance between the class histograms")


def _known_generator(latent_dim: int):
    """A fake generator, saved and loaded like a real one, that ignores z. With training=False
    it returns a known image spanning [-1, 1]; with training=True its batch normalisation
    uses the batch's statistics and every pixel becomes 0."""
    from aigc_course._tf import keras

    pattern = np.linspace(-1.0, 1.0, 28 * 28, dtype=np.float32)
    z = keras.Input((latent_dim,))
    x = keras.layers.Dense(
        28 * 28,
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant(pattern),
    )(z)
    x = keras.layers.BatchNormalization()(x)  # running mean 0, variance 1: about the identity
    return keras.Model(z, keras.layers.Reshape((28, 28, 1))(x))


def _check_serves_known_image(make_generate, latent_dim: int) -> None:
    import tempfile
    from pathlib import Path

    from aigc_course.data import to_uint8

    model = _known_generator(latent_dim)
    output = np.asarray(model(np.zeros((3, latent_dim), np.float32), training=False))
    want = to_uint8(output)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "known_generator.keras"
        model.save(path)
        got = np.asarray(make_generate(path, seed=0)(3))
    if got.shape == want.shape and np.array_equal(got, want):
        return
    hint = "map [-1, 1] to 0..255 with aigc_course.data.to_uint8: (x + 1) * 127.5, rounded"
    message = "for a saved generator whose output is known, the pixels differ from to_uint8(output)"
    if got.shape == want.shape and int(got.max()) - int(got.min()) <= 1:
        message = (
            "for a saved generator whose output is known, every pixel came out the same grey: the "
            "generator was called with training=True (batch normalisation used the batch's "
            "statistics)"
        )
        hint = "serving is inference: call model(z, training=False)"
    elif got.shape == want.shape and np.all(got[output[..., 0] <= 0] == 0):
        message = (
            "for a saved generator whose output is known, every pixel of the negative half "
            "[-1, 0] came out 0: the [-1, 1] tanh output was treated as if it were [0, 1]"
        )
        hint = "map [-1, 1] (not [0, 1]) to 0..255: (x + 1) * 127.5, as to_uint8 does"
    raise CheckFailed(message, hint)


@check(reread="chapter 03, Step 4 (Deploy: save, load, serve)")
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
        "two calls of generate(5) returned identical images: the noise is fixed, not fresh",
        "draw fresh noise for every request (one rng created once, outside generate)",
    )
    replay = np.asarray(make_generate(path, seed=0)(5))
    check_true(
        np.array_equal(first, replay),
        "make_generate(path, seed=0) served different images the second time",
        "create the noise generator from the seed: np.random.default_rng(seed)",
    )
    from aigc_course._tf import keras

    latent_dim = keras.saving.load_model(path, compile=False).input_shape[-1]
    _check_serves_known_image(make_generate, latent_dim)
    ok("generate(n) serves fresh uint8 images of shape (n, 28, 28), reproducible by seed")


@check(reread="chapter 03, Step 3 (Evaluate, against the right references)")
def check_evaluation_choice(answer: str) -> None:
    """Q4: which evaluation of a fine-tuned image generator is most informative."""
    check_choice(
        "check_evaluation_choice",
        answer,
        "b",
        {
            "a": "a GAN's loss is a two-player game, not a measure of sample quality, and "
            "cross-validating it on the training sevens says nothing about new images",
            "c": "a low discriminator loss means the discriminator is winning: the generator's "
            "fakes are easy to spot, which is bad news",
            "d": "reproducing the training images is memorisation, the opposite of generating "
            "new sevens",
        },
        not_attempted="write one letter into the answer variable",
    )
    ok("right: FID on held-out real data next to the real-vs-real floor, plus the class histogram")


@check(reread="chapter 03, Step 4 (What to monitor once it is live)")
def check_monitoring_diagnosis(answer: str) -> None:
    """Q5: what the monitoring table of a served generator points to."""
    check_choice(
        "check_monitoring_diagnosis",
        answer,
        "c",
        {
            "a": "copying would pull the nearest-neighbour distance towards 0, but it stayed at "
            "about 6",
            "b": "day-to-day noise is about 0.02-0.05 in TV at 1,000 images; 0.64 is far outside it",
            "d": "the generator is unconditional: a request carries only n, so users cannot ask "
            "for particular digits",
        },
        not_attempted="write one letter into the answer variable",
    )
    ok("right: a different model (or broken pre/post-processing) is being served")


def _tv_noise(labels: np.ndarray, n: int, trials: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty(trials)
    for i in range(trials):
        pick = rng.permutation(len(labels))[: 2 * n]
        out[i] = _tv(labels[pick[:n]], labels[pick[n:]], 10)
    return out


@check(reread="chapter 03, Step 4 (What to monitor once it is live)")
def check_tv_noise_experiment(tv_noise: Callable[..., np.ndarray], answer_ratio: float) -> None:
    """``tv_noise(labels, n, trials, seed)`` -> ``trials`` TV distances between two disjoint
    random samples of ``n`` labels; ``answer_ratio`` is the measured 95th-percentile ratio
    p95(n=250) / p95(n=1000). Judged against the check's own simulation, within tolerances
    far wider than its Monte Carlo error."""
    check_callable("tv_noise", tv_noise)
    rng = np.random.default_rng(21)
    labels = rng.choice(10, size=6000, p=np.r_[np.full(9, 0.095), 0.145])
    got = tv_noise(labels, 400, 300, seed=1)
    check_shape("tv_noise(labels, 400, 300)", got, (300,))
    got = np.asarray(got, dtype=np.float64)
    want = _tv_noise(labels, 400, 300, np.random.default_rng(2))
    if np.allclose(got, 0.0):
        raise CheckFailed(
            "every distance is 0: the two samples are the same sample",
            "draw two different (disjoint) samples of n labels in each trial",
        )
    ratio = got.mean() / want.mean()
    if 0.55 < ratio < 0.85:
        raise CheckFailed(
            f"your distances average {got.mean():.4f}, about 1/sqrt(2) of two samples' "
            f"{want.mean():.4f}: you compared a sample with the whole set",
            "monitoring compares two batches of n, each with its own sampling noise",
        )
    check_true(
        abs(ratio - 1) < 0.12,
        f"your distances average {got.mean():.4f}; two random samples of 400 labels differ by "
        f"{want.mean():.4f} on average",
        "each trial: a random permutation, the first n labels against the next n, label_drift",
    )
    if answer_ratio is None:
        raise NotAttempted("check_tv_noise_experiment", "set answer_ratio to your measured ratio")
    small = np.quantile(_tv_noise(labels, 250, 300, rng), 0.95)
    large = np.quantile(_tv_noise(labels, 1000, 300, rng), 0.95)
    check_true(
        abs(float(answer_ratio) - small / large) < 0.4,
        f"answer_ratio = {float(answer_ratio):.3g}, but p95(250) / p95(1000) measures about "
        f"{small / large:.2f}",
        "sampling noise shrinks like 1/sqrt(n), not 1/n: four times the images, half the noise",
    )
    ok(
        f"measured: the monitor's chance level falls like 1/sqrt(n) (ratio {small / large:.2f} "
        "for four times the images)"
    )


#: Graded hints (``aigc_course.hints.hint``): the idea first, then the tool, never the line.
HINTS = {
    "select_few_shot": (
        "Two steps: find which images are of the requested digit, then draw k of them at random, "
        "each at most once, reproducibly from the seed.",
        "np.flatnonzero turns a boolean mask into positions; a np.random.default_rng(seed) "
        "generator's choice method can sample without replacement.",
        "Asking for more images than the class has must raise ValueError with a clear message.",
    ),
    "label_drift": (
        "Turn each set of labels into a histogram of class frequencies (fractions that sum to "
        "1), then measure how far apart the two histograms are.",
        "np.bincount with minlength=n_classes counts every class, even absent ones; total "
        "variation is half the sum of absolute differences.",
        "Divide each histogram by its own number of labels: the two sets may differ in size.",
    ),
    "make_generate": (
        "Do the expensive things once (load the model, make the random generator) and the cheap "
        "thing per request (draw noise, run the model).",
        "keras.saving.load_model(path, compile=False) loads it; a closure (a function defined "
        "inside make_generate) keeps the model and the rng between calls.",
        "Each request needs fresh noise from the same rng, the model called with training=False, "
        "and to_uint8 on its output.",
    ),
    "tv_noise_experiment": (
        "Chance alone makes two samples of the same labels differ: draw two disjoint random "
        "samples of n labels, measure their distance, and repeat to see the spread.",
        "rng.permutation(len(labels)) shuffles the positions; the first n and the next n are "
        "two disjoint samples; your label_drift measures them.",
        "The noise of a frequency falls like 1/sqrt(n): predict the ratio for 4x the labels "
        "before you measure it.",
    ),
    "evaluation_choice": (
        "A generator has no labels and its losses describe a two-player game, not image quality.",
        "Which option compares generated images with real images the model never saw, and gives "
        "a reference value to compare against?",
    ),
    "monitoring_diagnosis": (
        "Read each column against its normal range: which numbers moved, and which stayed put?",
        "What could change the class histogram of everything served, all at once, on one day?",
    ),
}
