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
    check_letter,
    check_own_code,
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
    "HINTS",
    "check_temperature_experiment",
    "bits_and_diversity",
]


@check(reread="chapter 02, section 5 (Diffusion models)")
def check_alpha_bar(alpha_bar: Callable) -> None:
    """``alpha_bar(betas)`` returns ``prod_{s<=t} (1 - beta_s)`` for every t (same length)."""
    check_callable("alpha_bar", alpha_bar)
    check_own_code(
        "alpha_bar",
        alpha_bar,
        ["alpha_bars", "closed_form_moments"],
        "the exercise is to compute the running product yourself, with NumPy",
    )
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


@check(reread="chapter 02, section 5 (Diffusion models)")
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


@check(reread="chapter 02, section 4 (Autoregressive models)")
def check_bigram(bigram_probs: Callable) -> None:
    """``bigram_probs(ids, vocab_size, smoothing)`` returns the add-``smoothing`` matrix
    ``P[a, b] = p(next = b | previous = a)``; every row sums to 1."""
    check_callable("bigram_probs", bigram_probs)
    check_own_code(
        "bigram_probs",
        bigram_probs,
        ["bigram_counts", "bigram_probs"],
        "the exercise is to count the pairs yourself: do not call charlm's versions",
    )
    vocab = charlm.Vocabulary("abc ")
    cases = [(vocab.encode("abcab cab"), len(vocab), 1.0), (vocab.encode("aaab"), len(vocab), 0.5)]
    text = charlm.load_corpus("fables")[:2000]
    big = charlm.Vocabulary.from_text(text)
    cases.append((big.encode(text), len(big), 1.0))
    for ids, size, smoothing in cases:
        name = f"bigram_probs(<{ids.size} ids>, {size}, smoothing={smoothing})"
        got = bigram_probs(ids.copy(), size, smoothing)
        check_shape(name, got, (size, size))
        want = charlm.bigram_probs(charlm.bigram_counts(ids, size), smoothing)
        if np.allclose(np.asarray(got, dtype=np.float64), want.T):
            raise CheckFailed(
                f"{name}: the matrix is transposed (its columns, not its rows, sum to 1)",
                "rows are the previous character, columns the next one: transpose",
            )
        rows = np.asarray(got, dtype=np.float64).sum(axis=1)
        check_true(
            np.allclose(rows, 1.0),
            f"{name}: every row should sum to 1, got row sums like {rows[:3].round(4).tolist()}",
            "divide each row of (counts + smoothing) by its own sum (axis=1, keepdims=True)",
        )
        check_close(name, got, want, rtol=1e-6, atol=1e-9)
    ok("bigram probabilities from counts are right, with smoothing")


@check(reread="chapter 02, section 4 (Autoregressive models)")
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


@check(reread="chapter 02, sections 1 and 4 (the concept map; autoregressive models)")
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


@check(reread="chapter 02, section 6 (Data augmentation)")
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


def bits_and_diversity(P: np.ndarray, ids: np.ndarray, start: int) -> tuple[float, float]:
    """Of a sampled id sequence: its bits per character under the bigram model ``P`` (the T = 1
    model), and its diversity, distinct 3-grams per 100 characters."""
    prev = np.concatenate([[start], ids[:-1]])
    bits = float(-np.mean(np.log2(P[prev, ids])))
    grams = {tuple(ids[i : i + 3]) for i in range(len(ids) - 2)}
    return bits, 100.0 * len(grams) / len(ids)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sample(P: np.ndarray, start: int, length: int, temperature: float, seed: int) -> np.ndarray:
    rng, rows = np.random.default_rng(seed), _softmax(np.log(P) / temperature)
    ids, prev = np.empty(length, dtype=np.int64), start
    for i in range(length):
        prev = ids[i] = rng.choice(len(P), p=rows[prev])
    return ids


_LOWER_T = {
    "a": ("fewer", "more"),
    "b": ("fewer", "less"),
    "c": ("more", "less"),
    "d": ("more", "more"),
}


@check(reread="chapter 02, section 4 (Autoregressive models: sampling with a temperature)")
def check_temperature_experiment(sample_text: Callable, answer_lower_t: str) -> None:
    """``sample_text(P, start, length, temperature, seed)`` samples ``length`` ids from the bigram
    model ``P`` at a temperature (transition frequencies within 0.03 of softmax(log P / T) over
    20,000 steps); ``answer_lower_t`` says what lowering T does to bits and diversity, as the
    check's own sweep on the fables measures it."""
    check_callable("sample_text", sample_text)
    rng = np.random.default_rng(8)
    P = rng.dirichlet(np.ones(4), size=4)
    ids = sample_text(P.copy(), 0, 20000, 0.5, seed=3)
    check_shape("sample_text(P, 0, 20000, 0.5)", ids, (20000,))
    ids = np.asarray(ids).astype(np.int64)
    prev = np.concatenate([[0], ids[:-1]])
    counts = np.zeros((4, 4))
    np.add.at(counts, (prev, ids), 1)
    freq = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    if np.all(counts.max(axis=1) == counts.sum(axis=1)):
        raise CheckFailed(
            "every character is always followed by the same one: each step reuses the same "
            "random draw",
            "create the rng once, before the loop (fresh noise each step, fixed seed overall)",
        )
    hint = None
    if np.abs(freq - _softmax(P / 0.5)).max() < 0.03:
        hint = "you passed probabilities where logits are expected: softmax_t(np.log(P[prev]), T)"
    elif np.abs(freq - _softmax(np.log(P) * 0.5)).max() < 0.03:
        hint = "the temperature divides the logits; your samples are flatter, as if multiplied"
    check_close(
        "transition frequencies of 20,000 samples at T = 0.5",
        freq,
        _softmax(np.log(P) / 0.5),
        atol=0.03,
        rtol=0,
        hint=hint,
    )
    again = np.asarray(sample_text(P.copy(), 0, 50, 0.5, seed=3))
    check_true(np.array_equal(again, ids[:50]), "the same seed gave different samples")
    letter = check_letter(
        "check_temperature_experiment", answer_lower_t, not_attempted="set answer_lower_t"
    )
    text = charlm.load_corpus("fables")
    vocab = charlm.Vocabulary.from_text(text)
    model = charlm.bigram_probs(charlm.bigram_counts(vocab.encode(text), len(vocab)), 1.0)
    low = bits_and_diversity(model, _sample(model, 0, 3000, 0.5, 1), 0)
    high = bits_and_diversity(model, _sample(model, 0, 3000, 1.5, 1), 0)
    truth = next(
        k
        for k, (b, d) in _LOWER_T.items()
        if (b == "fewer") == (low[0] < high[0]) and (d == "less") == (low[1] < high[1])
    )
    check_true(
        letter == truth,
        f"measured at T = 0.5: {low[0]:.2f} bits per character, {low[1]:.1f} distinct 3-grams "
        f"per 100 characters; at T = 1.5: {high[0]:.2f} and {high[1]:.1f}; your letter says "
        f"{' and '.join(_LOWER_T[letter])}",
        "a low temperature keeps to the likeliest characters: cheap to encode, and repetitive",
    )
    ok(
        f"measured: lowering T from 1.5 to 0.5 takes bits per character from {high[0]:.2f} to "
        f"{low[0]:.2f} and diversity from {high[1]:.1f} to {low[1]:.1f} 3-grams per 100"
    )


#: Graded hints (``aigc_course.hints.hint``): the idea first, then the tool, never the line.
HINTS = {
    "alpha_bar": (
        "alpha_bar_t is a product over all steps up to t of alpha_s = 1 - beta_s: each entry is "
        "the previous entry times one more factor.",
        "NumPy has a running (cumulative) product, the way np.cumsum is a running sum.",
        "Multiply the alphas, not the betas; the result has the same length as betas and starts "
        "at 1 - beta_1.",
    ),
    "noisy": (
        "The closed form scales x0 down and mixes in noise so that the variance stays 1: one "
        "factor for x0, one for eps, both square roots.",
        "Use your alpha_bar(betas) and pick the entry for step t; t counts from 1, Python "
        "indices from 0.",
        "Check t = 1: x_1 should be almost x0 (alpha_bar_1 = 1 - beta_1 is close to 1).",
    ),
    "bigram": (
        "Count how often each id follows each other id: a (vocab_size, vocab_size) table whose "
        "row is the previous id and column the next.",
        "Consecutive pairs are (ids[:-1], ids[1:]); np.add.at adds 1 at repeated index pairs "
        "(plain fancy-index += counts a repeated pair once). Then add the smoothing and make "
        "each row sum to 1.",
        "Rows are the previous character: P[a].sum() == 1 for every a. If your columns sum to 1, "
        "you transposed.",
    ),
    "temperature": (
        "Temperature divides the logits before the softmax: T < 1 sharpens, T > 1 flattens.",
        "softmax(z) = exp(z) / sum(exp(z)); subtracting the largest z first changes nothing "
        "mathematically and keeps np.exp from overflowing.",
        "Test it on logits [1000, 999, 0]: the answer must be finite and sum to 1.",
    ),
    "temperature_experiment": (
        "Sampling a text from a bigram model: start from a character, draw the next one from "
        "its row of P sharpened or flattened by the temperature, repeat from the new one.",
        "Your softmax_t wants logits: the log of the probabilities is one choice of logits. "
        "rng.choice(n, p=probabilities) draws one id; make the rng once, from the seed.",
        "Low temperature: does the text get cheaper to encode under the T = 1 model (fewer "
        "bits) and more repetitive (fewer distinct 3-grams)? Read your own table.",
    ),
    "families": (
        "Ask how each model generates: token by token from the past, by filling in blanks, "
        "against a discriminator, or by undoing noise.",
        "Chapter 02's concept map and section 4 say which models predict left to right; only "
        "those are autoregressive.",
    ),
    "augmentation": (
        "A safe augmentation changes the image but not its label.",
        "Imagine each transformation applied to a 6, a 2 and a 7: which one can give a "
        "different digit?",
    ),
}
