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
    check_close,
    check_letter,
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


@check
def check_count_by_modality(count_by_modality: Callable[[list[Milestone]], dict]) -> None:
    """``count_by_modality(milestones)`` returns ``{modality: number of rows}``."""
    check_callable("count_by_modality", count_by_modality)
    for label, rows in (("a made-up table of 4 rows", _TOY), ("the course table", None)):
        rows = load_milestones() if rows is None else rows
        want = Counter(m.modality for m in rows)
        got = _as_dict("count_by_modality", count_by_modality(list(rows)))
        got = {k: v for k, v in got.items() if v}  # a zero count for an absent modality is fine
        if got != dict(want):
            raise CheckFailed(
                f"count_by_modality on {label}: expected {dict(sorted(want.items()))}, "
                f"got {dict(sorted(got.items(), key=str))}",
                "count every row once, keyed by its .modality " f"(one of {', '.join(MODALITIES)})",
            )
    ok("count_by_modality counts rows per modality")


@check
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
            "(KeyError or ValueError), not return a number",
            "a silent wrong answer is worse than a clear error",
        )
    ok("years_between finds both milestones and subtracts their years")


@check
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
    check_true(
        not wrong,
        f"{len(wrong)} of {len(CLAIMS)} claims are classified wrongly",
        "ask of each claim: does it make AIGC more useful (S) or limit or endanger it (W)?",
    )
    ok("all five claims classified correctly")


def _reference_ll(x: np.ndarray, mu: np.ndarray, eps: float) -> np.ndarray:
    mu = np.clip(mu, eps, 1 - eps)
    return (x * np.log(mu) + (1 - x) * np.log1p(-mu)).reshape(len(x), -1).sum(axis=1)


@check
def check_log_likelihood(log_likelihood: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    """``log_likelihood(x, mu)``: per-image log-likelihood in nats of binary images ``x`` (N,28,28)
    under independent Bernoulli pixels with means ``mu`` (28,28), clipped to [1e-3, 1-1e-3]."""
    check_callable("log_likelihood", log_likelihood)
    rng = np.random.default_rng(7)
    x = (rng.random((5, 28, 28)) < 0.3).astype(np.uint8)
    mu = rng.random((28, 28))
    got = log_likelihood(x, mu)
    want = _reference_ll(x.astype(np.float64), mu, 1e-3)
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
        return "that looks like bits: use the natural log (nats) here"
    return "log p(x) = sum over pixels of x*log(mu) + (1 - x)*log(1 - mu)"


@check
def check_autoregressive(answer: str) -> None:
    """``answer`` is the letter of the model that generates text autoregressively."""
    letter = check_letter(
        "check_autoregressive", answer, not_attempted="write one letter into answer_autoregressive"
    )
    check_true(
        letter == "b",
        f"{answer!r} is not right",
        "autoregressive means: predict the next token from the ones before it, left to right; "
        "which model reads the whole sentence at once to fill in masked words?",
    )
    ok("right: GPT-2 predicts each next token from the previous ones; BERT fills in masked words")
