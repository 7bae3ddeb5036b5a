"""Checks for chapter 02's exercises (core concepts).

The code checks recompute the right answer with the package's own implementations
(:mod:`aigc_course.diffusion`, :mod:`aigc_course.charlm`) on inputs they make up, so no
numeric result is hard-coded. The two conceptual questions have a fixed answer key.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from aigc_course import charlm, diffusion
from aigc_course.checks import (
    CheckFailed,
    NotAttempted,
    check,
    check_callable,
    check_close,
    check_shape,
    check_true,
    ok,
)

__all__ = [
    "check_alpha_bar",
    "check_noising",
    "check_bigram",
    "check_temperature",
    "check_families",
    "check_augmentation",
    "FAMILIES",
    "AUGMENTATIONS",
]


@check
def check_alpha_bar(alpha_bar: Callable) -> None:
    """``alpha_bar(betas)`` returns ``prod_{s<=t} (1 - beta_s)`` for every t (same length)."""
    check_callable("alpha_bar", alpha_bar)
    for betas in (
        np.array([0.1, 0.2, 0.5]),
        diffusion.linear_beta_schedule(1000),
        np.random.default_rng(2).uniform(0.01, 0.3, 17),
    ):
        got = alpha_bar(betas.copy())
        check_shape(f"alpha_bar(betas of length {betas.size})", got, betas.shape)
        hint = None
        got_arr = np.asarray(got, dtype=np.float64)
        if np.allclose(got_arr, np.cumprod(betas)):
            hint = "multiply the alphas = 1 - betas, not the betas themselves"
        elif np.allclose(got_arr, 1.0 - betas):
            hint = "that is alpha_t; alpha_bar_t is the running product (np.cumprod)"
        check_close(
            f"alpha_bar(betas of length {betas.size})",
            got,
            diffusion.alpha_bars(betas),
            rtol=1e-6,
            atol=1e-9,
            hint=hint,
        )
    ok("alpha_bar is the cumulative product of 1 - beta_t")


@check
def check_noising(noisy: Callable) -> None:
    """``noisy(x0, t, betas, eps)`` returns ``sqrt(abar_t) x0 + sqrt(1 - abar_t) eps`` (t 1-based)."""
    check_callable("noisy", noisy)
    rng = np.random.default_rng(3)
    betas = diffusion.linear_beta_schedule(1000)
    x0 = rng.uniform(-1, 1, (4, 28, 28))
    eps = rng.standard_normal(x0.shape)
    for t in (1, 37, 500, 1000):
        scale, variance = diffusion.closed_form_moments(betas, t)
        want = scale * x0 + np.sqrt(variance) * eps
        got = noisy(x0.copy(), t, betas.copy(), eps.copy())
        check_shape(f"noisy(x0, t={t}, ...)", got, x0.shape)
        got_arr = np.asarray(got, dtype=np.float64)
        hint = None
        if np.allclose(got_arr, scale**2 * x0 + variance * eps):
            hint = "use the square roots: sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t)"
        elif t < 1000:
            off_scale, off_variance = diffusion.closed_form_moments(betas, t + 1)
            if np.allclose(got_arr, off_scale * x0 + np.sqrt(off_variance) * eps):
                hint = "t is 1-based: alpha_bar_t is element t - 1 of the cumulative product"
        check_close(f"noisy(x0, t={t}, ...)", got, want, rtol=1e-6, atol=1e-9, hint=hint)
    ok("the closed-form noising matches q(x_t | x_0)")


@check
def check_bigram(bigram_probs: Callable) -> None:
    """``bigram_probs(ids, vocab_size, smoothing)`` returns the add-``smoothing`` matrix
    ``P[a, b] = p(next = b | previous = a)``; every row sums to 1."""
    check_callable("bigram_probs", bigram_probs)
    vocab = charlm.Vocabulary("abc ")
    cases = [(vocab.encode("abcab cab"), len(vocab), 1.0), (vocab.encode("aaab"), len(vocab), 0.5)]
    text = charlm.load_corpus("fables")[:2000]
    big = charlm.Vocabulary.from_text(text)
    cases.append((big.encode(text), len(big), 1.0))
    for ids, size, smoothing in cases:
        name = f"bigram_probs(<{ids.size} ids>, {size}, smoothing={smoothing})"
        got = bigram_probs(ids.copy(), size, smoothing)
        check_shape(name, got, (size, size))
        rows = np.asarray(got, dtype=np.float64).sum(axis=1)
        check_true(
            np.allclose(rows, 1.0),
            f"{name}: every row should sum to 1, got row sums like {rows[:3].round(4).tolist()}",
            "divide each row of (counts + smoothing) by its own sum (axis=1, keepdims=True)",
        )
        want = charlm.bigram_probs(charlm.bigram_counts(ids, size), smoothing)
        hint = None
        if np.allclose(np.asarray(got, dtype=np.float64), want.T):
            hint = "rows are the previous character, columns the next one: transpose"
        check_close(name, got, want, rtol=1e-6, atol=1e-9, hint=hint)
    ok("bigram probabilities from counts are right, with smoothing")


@check
def check_temperature(softmax_t: Callable) -> None:
    """``softmax_t(logits, temperature)`` returns ``softmax(logits / temperature)``."""
    check_callable("softmax_t", softmax_t)
    rng = np.random.default_rng(4)
    for logits, temperature in (
        (np.array([2.0, 1.0, 0.0]), 1.0),
        (np.array([2.0, 1.0, 0.0]), 0.5),
        (rng.normal(0, 3, 32), 2.0),
        (np.array([1000.0, 999.0, 0.0]), 1.0),  # large logits: subtract the maximum first
    ):
        z = logits / temperature
        want = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        name = f"softmax_t(<{logits.size} logits>, temperature={temperature})"
        got = softmax_t(logits.copy(), temperature)
        got_arr = np.asarray(got, dtype=np.float64)
        times = logits * temperature
        if got_arr.shape != want.shape:
            hint = "return one probability per logit"
        elif not np.all(np.isfinite(got_arr)):
            hint = "exp overflows for large logits: subtract logits.max() before np.exp"
        elif temperature != 1.0 and np.allclose(
            got_arr, np.exp(times - times.max()) / np.exp(times - times.max()).sum()
        ):
            hint = "divide the logits by the temperature, do not multiply"
        else:
            hint = None
        check_close(name, got, want, rtol=1e-6, atol=1e-9, hint=hint)
    ok("temperature sampling probabilities are right (and stable for large logits)")


# Which family each model belongs to, and why (the reason is shown when an answer is wrong).
FAMILIES = {
    "GPT-2": ("autoregressive", "it predicts each token from the tokens before it"),
    "BERT": ("masked", "it fills in hidden tokens using the words on both sides"),
    "PixelCNN": (
        "autoregressive",
        "it generates an image pixel by pixel, each from the earlier ones",
    ),
    "DCGAN": ("adversarial", "a generator trained against a discriminator"),
    "DDPM": ("diffusion", "it learns to reverse a gradual noising process"),
}
_FAMILY_NAMES = ("autoregressive", "masked", "adversarial", "diffusion")


@check
def check_families(answer: dict) -> None:
    """``answer`` maps each model in :data:`FAMILIES` to one of its four family names."""
    if answer is None:
        raise NotAttempted("check_families", "set answer_families to a dict: model -> family")
    if not isinstance(answer, dict):
        raise CheckFailed(f"answer_families must be a dict, got {type(answer).__name__}")
    missing = [m for m in FAMILIES if m not in answer]
    if missing:
        raise CheckFailed(f"answer_families has no entry for {', '.join(missing)}")
    for model, (family, why) in FAMILIES.items():
        given = str(answer[model]).strip().lower()
        if given not in _FAMILY_NAMES:
            raise CheckFailed(
                f"answer_families[{model!r}] = {answer[model]!r} is not one of {_FAMILY_NAMES}"
            )
        if given != family:
            raise CheckFailed(f"{model} is not {given}", f"{model}: {why}")
    ok("all five models are in the right family (and only GPT-2 and PixelCNN are autoregressive)")


AUGMENTATIONS = {
    "a": "rotate by a random angle between -10 and +10 degrees",
    "b": "shift by up to 2 pixels in any direction",
    "c": "flip left-right, or rotate by 180 degrees",
    "d": "zoom in or out by up to 10 %",
}


@check
def check_augmentation(answer: str) -> None:
    """``answer`` is the letter of the augmentation in :data:`AUGMENTATIONS` that is unsafe for digits."""
    if answer is None:
        raise NotAttempted("check_augmentation", "set answer_augmentation to one letter, e.g. 'a'")
    letter = str(answer).strip().lower()
    if letter not in AUGMENTATIONS:
        raise CheckFailed(
            f"answer_augmentation = {answer!r} is not one of {', '.join(sorted(AUGMENTATIONS))}"
        )
    if letter != "c":
        raise CheckFailed(
            f"({letter}) {AUGMENTATIONS[letter]}: a digit stays the same digit after this",
            "look for a change that can turn one digit into another (think of 6 and 9)",
        )
    ok("flips and half-turns change the label (6 <-> 9, mirrored 2 or 7): not label-preserving")
