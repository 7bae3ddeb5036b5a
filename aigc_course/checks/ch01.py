"""Checks for chapter 01's exercises (gold mine or bubble?).

Each check recomputes the right answer from the data it hands to the student's function (the
shipped milestones table, a small made-up table, random pixels), so no result is hard-coded.
"""

from __future__ import annotations

from collections import Counter
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
from aigc_course.timeline import MODALITIES, Milestone, load_milestones

__all__ = [
    "check_count_by_modality",
    "check_years_between",
    "check_claims",
    "check_log_likelihood",
    "check_autoregressive",
    "CLAIMS",
    "HINTS",
    "check_em_experiment",
    "em_init",
    "mixture_bits",
]

# Five claims from the article's section 3.3 (paraphrased); "S" strength, "W" weakness.
CLAIMS = {
    "a": ("produces text, images and audio quickly, saving people's time", "S"),
    "b": ("its quality depends on large, clean training data that is costly to collect", "W"),
    "c": ("the same output quality is not guaranteed from one run or setting to the next", "W"),
    "d": ("one family of methods serves writing, media, dialogue and education", "S"),
    "e": ("generated content can copy protected work or leak personal data", "W"),
}

_TOY = [
    Milestone(2001, "A", "text", "x", "toy"),
    Milestone(2004, "B", "image", "x", "toy"),
    Milestone(2004, "C", "image", "x", "toy"),
    Milestone(2010, "D", "audio", "x", "toy"),
]


def _as_dict(name: str, got: object) -> dict:
    if got is None:
        raise CheckFailed(f"{name} returned None — did you forget `return`?")
    if not isinstance(got, dict):
        raise CheckFailed(
            f"{name}: expected a dict such as {{'text': 3, 'image': 5}}, got {type(got).__name__}",
            "collections.Counter(...) is a dict too; build one from m.modality for each row",
        )
    return got


@check(reread="chapter 01, section 3 (Two decades in one picture)")
def check_count_by_modality(count_by_modality: Callable[[list[Milestone]], dict]) -> None:
    """``count_by_modality(milestones)`` returns ``{modality: number of rows}``."""
    check_callable("count_by_modality", count_by_modality)
    for label, rows in (("a made-up table of 4 rows", _TOY), ("the course table", None)):
        rows = load_milestones() if rows is None else rows
        want = Counter(m.modality for m in rows)
        got = _as_dict("count_by_modality", count_by_modality(list(rows)))
        got = {k: v for k, v in got.items() if v}  # a zero count for an absent modality is fine
        if (
            got != dict(want)
            and rows is _TOY
            and got == dict(Counter(m.modality for m in load_milestones()))
        ):
            raise CheckFailed(
                "count_by_modality counted the course table, not the rows it was given",
                "count the `rows` argument: the function must work for any table",
            )
        if got != dict(want) and not set(got) <= set(MODALITIES):
            raise CheckFailed(
                f"count_by_modality on {label}: the keys should be modalities, got "
                f"{sorted(map(str, got))[:3]}",
                "key the counts by each row's .modality, not its family, year or name",
            )
        if got != dict(want):
            raise CheckFailed(
                f"count_by_modality on {label}: expected {dict(sorted(want.items()))}, "
                f"got {dict(sorted(got.items(), key=str))}",
                "count every row once, keyed by its .modality " f"(one of {', '.join(MODALITIES)})",
            )
    ok("count_by_modality counts rows per modality")


@check(reread="chapter 01, section 3 (Two decades in one picture)")
def check_years_between(years_between: Callable[[list[Milestone], str, str], int]) -> None:
    """``years_between(milestones, first, second)`` is ``second``'s year minus ``first``'s."""
    check_callable("years_between", years_between)
    table = load_milestones()
    by_name = {m.milestone: m.year for m in table}
    cases = [(_TOY, "A", "D", 9), (_TOY, "D", "B", -6)]
    cases += [(table, a, b, by_name[b] - by_name[a]) for a, b in (("GAN", "DDPM"), ("VAE", "GAN"))]
    for rows, a, b, want in cases:
        got = years_between(list(rows), a, b)
        if got is None:
            raise CheckFailed("years_between returned None — did you forget `return`?")
        if got == -want and want != 0:
            raise CheckFailed(
                f"years_between(..., {a!r}, {b!r}): expected {want}, got {got!r}: the sign is "
                "flipped, you subtracted second from first",
                "the years from `first` to `second` are second's year minus first's",
            )
        check_true(
            isinstance(got, int | np.integer) and got == want,
            f"years_between(..., {a!r}, {b!r}): expected {want}, got {got!r}",
            "find each row by its .milestone name and subtract the years (second minus first)",
        )
    try:
        years_between(list(_TOY), "A", "no such milestone")
    except (KeyError, ValueError):
        pass
    else:
        raise CheckFailed(
            "years_between with an unknown milestone name should raise an error "
            "(KeyError or ValueError), not return a number: a default (such as .get(name, 0)) "
            "hides the typo",
            "a silent wrong answer is worse than a clear error",
        )
    ok("years_between finds both milestones and subtracts their years")


@check(reread="chapter 01, section 5 (Strengths and weaknesses)")
def check_claims(answer: str) -> None:
    """``answer`` is a string of five letters S/W, one per claim a–e of :data:`CLAIMS`."""
    if answer is None or answer == "":
        raise NotAttempted("check_claims", "write your five letters into answer_claims")
    if not isinstance(answer, str):
        raise CheckFailed(f"expected a string such as 'SWSWS', got {answer!r}")
    answer = answer.strip().upper()
    check_true(
        len(answer) == len(CLAIMS) and set(answer) <= {"S", "W"},
        f"expected {len(CLAIMS)} letters, each S or W (one per claim a–e), got {answer!r}",
    )
    wrong = [k for (k, (_, want)), got in zip(CLAIMS.items(), answer, strict=True) if got != want]
    first = wrong[0] if wrong else "a"
    kind = {"S": "a strength", "W": "a weakness"}[CLAIMS[first][1]]
    check_true(
        not wrong,
        f"{len(wrong)} of {len(CLAIMS)} claims are classified wrongly, e.g. claim {first} "
        f"({CLAIMS[first][0]}) is {kind}",
        "ask of each claim: does it make AIGC more useful (S) or limit or endanger it (W)?",
    )
    ok("all five claims classified correctly")


def _reference_ll(x: np.ndarray, mu: np.ndarray, eps: float) -> np.ndarray:
    mu = np.clip(mu, eps, 1 - eps)
    return (x * np.log(mu) + (1 - x) * np.log1p(-mu)).reshape(len(x), -1).sum(axis=1)


@check(reread='chapter 01, section 4 (What does "generating" mean?)')
def check_log_likelihood(log_likelihood: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    """``log_likelihood(x, mu)``: per-image log-likelihood in nats of binary images ``x`` (N,28,28)
    under independent Bernoulli pixels with means ``mu`` (28,28), clipped to [1e-3, 1-1e-3]."""
    check_callable("log_likelihood", log_likelihood)
    rng = np.random.default_rng(7)
    x = (rng.random((5, 28, 28)) < 0.3).astype(np.uint8)
    mu = rng.random((28, 28))
    got = log_likelihood(x, mu)
    want = _reference_ll(x.astype(np.float64), mu, 1e-3)
    if got is not None and np.shape(got) == want.shape:
        if np.allclose(
            np.asarray(got, np.float64), _reference_ll(x.astype(np.float64), mu.T, 1e-3)
        ):
            raise CheckFailed(
                "log_likelihood used mu transposed: row i of mu is row i of the image",
                "do not transpose mu; it broadcasts against x of shape (N, 28, 28) as it is",
            )
    check_close("log_likelihood(x, mu)", got, want, atol=1e-3, rtol=1e-4, hint=_hint(got, want))
    mu[0, 0], mu[0, 1] = 0.0, 1.0  # pixels the training set never (or always) switched on
    x[:, 0, 0], x[:, 0, 1] = 1, 0
    got = log_likelihood(x, mu)
    check_close(
        "log_likelihood with mu = 0 or 1 at some pixels",
        got,
        _reference_ll(x.astype(np.float64), mu, 1e-3),
        atol=1e-3,
        rtol=1e-4,
        hint="clip mu to [1e-3, 1 - 1e-3] before taking logs, or log(0) gives -inf",
    )
    ok("log_likelihood matches the Bernoulli formula, one number per image")


def _hint(got: object, want: np.ndarray) -> str | None:
    arr = np.asarray(got, dtype=np.float64) if got is not None else None
    if arr is None:
        return None
    if arr.shape == ():
        return "return one number per image: sum over the pixels, not over the images too"
    if arr.shape == (5, 28, 28):
        return "sum the per-pixel terms over each image's 784 pixels (axes 1 and 2)"
    if arr.shape == want.shape and np.allclose(arr, want / np.log(2), rtol=1e-3):
        return "that looks like bits (log2): use the natural log, nats, here"
    if arr.shape == want.shape and np.allclose(arr, -want, rtol=1e-3):
        return "that is the negative log-likelihood (a loss); return log p(x) itself, <= 0"
    return "log p(x) = sum over pixels of x*log(mu) + (1 - x)*log(1 - mu)"


@check(reread="chapter 01, section 1 (What is AIGC?) and chapter 02, section 4")
def check_autoregressive(answer: str) -> None:
    """``answer`` is the letter of the model that generates text autoregressively."""
    check_choice(
        "check_autoregressive",
        answer,
        "b",
        {
            "a": "that is the article's mistake: BERT sees the whole sentence at once and fills "
            "in masked words; it never predicts the next token from the previous ones",
            "c": "BERT is not autoregressive: it reads both sides of a masked word at once",
            "d": "GPT-2 predicts each token from the ones before it: p(x) = prod p(x_t | x_<t)",
        },
        not_attempted="write one letter into answer_autoregressive",
    )
    ok("right: GPT-2 predicts each next token from the previous ones; BERT fills in masked words")


def _logsumexp(a: np.ndarray) -> np.ndarray:
    top = a.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(a - top).sum(axis=1, keepdims=True)))[:, 0]


def _log_joint(x: np.ndarray, weights: np.ndarray, means: np.ndarray) -> np.ndarray:
    """log(weight_k) + log p(x_n | means_k) for every image n and component k: (N, K)."""
    m = np.clip(np.asarray(means, dtype=np.float64), 1e-3, 1 - 1e-3)
    return np.log(weights) + x @ np.log(m).T + (1 - x) @ np.log1p(-m).T


def em_init(x: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A starting point for EM on binary images ``x`` (N, D): equal weights, and means halfway
    between the average image and random values, so that the components differ."""
    rng = np.random.default_rng(seed)
    means = 0.5 * rng.uniform(0.25, 0.75, (k, x.shape[1])) + 0.5 * x.mean(axis=0)
    return np.full(k, 1.0 / k), means


def mixture_bits(x: np.ndarray, weights: np.ndarray, means: np.ndarray) -> float:
    """Mean -log2 p(x) per image under a mixture of Bernoulli images, in bits."""
    return float(-_logsumexp(_log_joint(x, weights, means)).mean() / np.log(2))


def _em_step(x: np.ndarray, weights: np.ndarray, means: np.ndarray):
    joint = _log_joint(x, weights, means)
    resp = np.exp(joint - _logsumexp(joint)[:, None])
    counts = resp.sum(axis=0)
    return counts / len(x), np.clip(resp.T @ x / counts[:, None], 1e-3, 1 - 1e-3)


@check(reread='chapter 01, section 4 (What does "generating" mean?)')
def check_em_experiment(em_step: Callable, answer_em_beats_labels: bool, x, labels, x_test) -> None:
    """``em_step(x, weights, means)`` is one EM step for a mixture of Bernoulli images; run from
    :func:`em_init` on ``x`` it must reach the test bits of the check's own EM (within 0.5 %),
    and ``answer_em_beats_labels`` must say what that measurement shows."""
    check_callable("em_step", em_step)
    rng = np.random.default_rng(13)
    small = (rng.random((40, 3000)) < 0.2).astype(np.float64)  # many pixels: products underflow
    small[:20, :1500] = rng.random((20, 1500)) < 0.7  # two kinds of images
    weights, means = np.array([0.5, 0.3, 0.2]), em_init(small, 3, seed=1)[1]
    got = em_step(small, weights.copy(), means.copy())
    if not isinstance(got, tuple | list) or len(got) != 2:
        raise CheckFailed(
            "em_step must return (weights, means)", "end with `return weights, means`"
        )
    want = _em_step(small, weights, means)
    new_w, new_m = (np.asarray(v, dtype=np.float64) for v in got)
    if new_w.shape == want[0].shape and not np.all(np.isfinite(new_w)):
        raise CheckFailed(
            "em_step gave NaN weights on 3,000-pixel images: the per-image probabilities "
            "underflowed to 0 (784 pixels are enough once the means approach 0 or 1)",
            "work in log space: add log-probabilities, and normalise with the log-sum-exp trick",
        )
    if new_w.shape == want[0].shape and np.allclose(new_w, weights):
        raise CheckFailed(
            "em_step left the weights unchanged",
            "the new weight of component k is the average responsibility it takes on",
        )
    check_close("em_step: the new weights", new_w, want[0], atol=1e-6, hint=(
        "responsibilities are normalised per image (over the K components, axis 1)"
        if new_w.shape == want[0].shape and np.allclose(new_w, 1 / len(new_w)) else None
    ))  # fmt: skip
    check_close("em_step: the new means", new_m, want[1], atol=1e-6, hint=(
        "the new mean of component k is the responsibility-weighted average of the images"
    ))  # fmt: skip
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    x_test = np.asarray(x_test, dtype=np.float64).reshape(len(x_test), -1)
    ref = em_init(x, 10, seed=0)
    for _ in range(EM_ITERATIONS):
        ref = _em_step(x, *ref)
    em_bits = mixture_bits(x_test, *ref)
    labels = np.asarray(labels)
    counts = np.bincount(labels, minlength=10)
    labelled = mixture_bits(
        x_test, counts / len(labels), np.stack([x[labels == k].mean(axis=0) for k in range(10)])
    )
    if answer_em_beats_labels is None:
        raise NotAttempted("check_em_experiment", "set answer_em_beats_labels to True or False")
    check_true(
        bool(answer_em_beats_labels) == (em_bits < labelled),
        f"measured: EM without labels scores {em_bits:.1f} bits per test image, the labelled "
        f"mixture {labelled:.1f}; your answer says the opposite",
        "labels are what people call the digits, not necessarily the clusters that explain the "
        "pixels best; trust the measurement",
    )
    verdict = (
        "unsupervised clusters explain the pixels at least as well"
        if em_bits < labelled
        else "here the labelled mixture explains the pixels better"
    )
    ok(
        f"measured: EM without labels {em_bits:.1f} bits per test image, labelled mixture "
        f"{labelled:.1f}: {verdict}"
    )


EM_ITERATIONS = 20


#: Graded hints (``aigc_course.hints.hint``): the idea first, then the tool, never the line.
HINTS = {
    "count_by_modality": (
        "Each row is a Milestone with a .modality field; you want how many rows share each value.",
        "A dict that starts empty and adds 1 per row works; collections.Counter does the adding "
        "for you and is itself a dict.",
        "Count the rows you are given (the argument), not load_milestones(): the check also "
        "passes a made-up table.",
    ),
    "years_between": (
        "Look up each milestone's year by its name, then take the difference: later minus earlier "
        "when `second` came after `first`.",
        "A dict from .milestone to .year makes each lookup one step.",
        "An unknown name must raise an error (KeyError or ValueError), not return 0: avoid "
        "dict.get with a default.",
    ),
    "claims": (
        "A strength makes AIGC more useful; a weakness limits it or puts someone at risk.",
        "Section 5 of chapter 01 lists the article's strengths and weaknesses with examples: "
        "match each claim to one of them.",
    ),
    "log_likelihood": (
        "Pixels are independent coin flips: the log-likelihood of an image is a sum over its 784 "
        "pixels of the log-probability of each pixel's value.",
        "A pixel that is 1 has probability mu, one that is 0 has 1 - mu; x * log(...) + (1 - x) "
        "* log(...) picks the right one. Keep mu away from 0 and 1 with np.clip first.",
        "One number per image: sum over the two pixel axes only. Natural logs (nats), and mu is "
        "used as it is, not transposed.",
    ),
    "em_experiment": (
        "EM alternates two steps: how much each component explains each image (its "
        "responsibility, a probability over the K components), then each component's weight "
        "and mean re-estimated from the images it explains.",
        "Compute log weight + log-likelihood for every (image, component) pair as one matrix "
        "(x @ log(mu).T + ...); normalise each row with the log-sum-exp trick; then "
        "averages weighted by the responsibilities (r.T @ x).",
        "784 pixel probabilities multiply to less than the smallest float: never leave log "
        "space before normalising. Clip the means to [1e-3, 1 - 1e-3] like Exercise 4.",
    ),
    "autoregressive": (
        "Autoregressive: each token is predicted from the tokens before it, left to right.",
        "Ask of each model what it sees when it predicts a word: only the past, or both sides?",
    ),
}
