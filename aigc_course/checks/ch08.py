"""Checks for chapter 08's exercises (a small GPT on Tang poems).

Each check hands the student's function inputs it makes up (random scores, random
distributions), recomputes the right answer from them, and names the usual mistakes: a mask
that looks ahead, a token that cannot see itself, softmax over the wrong axis, no 1/sqrt(d),
masking after the softmax, nats instead of bits, probabilities where logits are expected, a
nucleus that drops the token that crosses p, logits multiplied by the temperature.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from aigc_course.checks import (
    CheckFailed,
    NotAttempted,
    check,
    check_callable,
    check_close,
    check_shape,
    ok,
)

__all__ = [
    "check_causal_mask",
    "check_attention",
    "check_bits_per_char",
    "check_top_p",
    "check_temperature_experiment",
    "HINTS",
]

SECTION_MASK = "chapter 08, section 5 (Attention, written out: the causal mask)"
SECTION_ATTENTION = "chapter 08, section 5 (Attention, written out)"
SECTION_BITS = "chapter 08, section 3 (Cross-entropy is bits: the baselines to beat)"
SECTION_SAMPLING = "chapter 08, section 7 (Sampling: greedy, temperature, top-k, top-p)"


def _softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


@check(reread=SECTION_MASK)
def check_causal_mask(causal_mask: Callable[[int], np.ndarray]) -> None:
    """``causal_mask(T)``: a ``(T, T)`` boolean array, True where query ``i`` may see key ``j``."""
    check_callable("causal_mask", causal_mask)
    for length in (4, 7, 1):  # 1 last: there an inverted mask looks like a strict one
        got = causal_mask(length)
        check_shape(f"causal_mask({length})", got, (length, length))
        mask = np.asarray(got)
        if mask.dtype != bool and not np.isin(mask, (0, 1)).all():
            raise CheckFailed(
                f"causal_mask({length}) should hold True/False (or 1/0), got other numbers",
                "a mask says only may / may not",
            )
        mask = mask.astype(bool)
        want = np.tril(np.ones((length, length), bool))
        if np.array_equal(mask, want):
            continue
        if np.array_equal(mask, ~want):
            raise CheckFailed(
                "your mask is inverted: here True must mean 'may attend'",
                "PyTorch's boolean attn_mask uses the opposite convention (True = blocked)",
            )
        if np.array_equal(mask, want.T):
            hint = "row i is the token that looks, column j the token looked at: keep j <= i"
            raise CheckFailed("your mask lets every token see the future, not the past", hint)
        if np.array_equal(mask, np.tril(want, k=-1)):
            raise CheckFailed(
                "a token cannot see itself in your mask (the diagonal is False)",
                "token t's own embedding must take part",
            )
        if mask.all():
            raise CheckFailed(
                "every token sees every token: that is BERT's bidirectional mask",
                "GPT may only look back",
            )
        raise CheckFailed(f"causal_mask({length}) is not the lower triangle")
    ok("causal mask: each token sees itself and the tokens before it")


def _check_uses_the_given_mask(attention: Callable, q, k, v) -> None:
    """The same attention with another mask (each token sees itself and a few others, future
    ones included): an answer that builds its own causal mask instead of using ``mask`` fails."""
    t, d = q.shape
    other = np.random.default_rng(9).random((t, t)) < 0.5
    np.fill_diagonal(other, True)
    weights = np.asarray(attention(q, k, v, other)[1], dtype=np.float64)
    want = _softmax(np.where(other, q @ k.T / math.sqrt(d), -np.inf))
    if not np.allclose(weights, want, atol=1e-6):
        raise CheckFailed(
            "with a mask that is not lower-triangular the weights ignore it: the answer builds "
            "its own causal mask instead of using the `mask` argument",
            "use the mask you are given (BERT passes one that lets tokens see the future)",
        )


@check(reread=SECTION_ATTENTION)
def check_attention(attention: Callable) -> None:
    """``attention(q, k, v, mask)`` -> ``(output, weights)`` for one head, in NumPy:
    ``q`` ``(T, d)``, ``k`` ``(T, d)``, ``v`` ``(T, e)``, ``mask`` ``(T, T)`` boolean."""
    check_callable("attention", attention)
    rng = np.random.default_rng(8)
    t, d, e = 6, 4, 3  # T != d != e, so a transposed matrix shows up as a shape error
    q, k, v = rng.normal(size=(t, d)), rng.normal(size=(t, d)), rng.normal(size=(t, e))
    q *= 3.0  # large scores make the missing 1/sqrt(d) visible
    mask = np.tril(np.ones((t, t), bool))
    try:
        result = attention(q, k, v, mask)
    except ValueError as err:
        raise CheckFailed(
            f"attention raised ValueError: {err}", "scores are q @ k.T, shape (T, T)"
        ) from None
    if not isinstance(result, tuple) or len(result) != 2:
        raise CheckFailed("attention must return two things: (output, weights)")
    out, weights = (np.asarray(r, dtype=np.float64) for r in result)
    check_shape("weights", weights, (t, t))
    check_shape("output", out, (t, e), "the output mixes the values v: shape (T, e)")
    scores = q @ k.T / math.sqrt(d)
    want = _softmax(np.where(mask, scores, -np.inf))
    if np.allclose(weights, want, atol=1e-6):
        check_close("output", out, want @ v, atol=1e-6)
        _check_uses_the_given_mask(attention, q, k, v)
        ok("attention: scaled scores, masked, softmax over the keys, values mixed")
        return
    unscaled = _softmax(np.where(mask, q @ k.T, -np.inf))
    if np.allclose(weights, unscaled, atol=1e-6):
        raise CheckFailed(
            "the weights are softmax(q kᵀ) without dividing by sqrt(d)",
            "large dot products make the softmax nearly one-hot",
        )
    if np.allclose(weights.sum(axis=0), 1.0) and not np.allclose(weights.sum(axis=1), 1.0):
        raise CheckFailed(
            "each key's weights sum to 1: the softmax ran over the queries (axis 0)",
            "each query distributes its attention over the keys: softmax over the last axis",
        )
    after = _softmax(scores) * mask
    if np.allclose(weights, after, atol=1e-6):
        raise CheckFailed(
            "the mask was applied after the softmax: the rows no longer sum to 1",
            "set masked scores to -inf (or a very negative number) before the softmax",
        )
    if np.allclose(weights, _softmax(scores), atol=1e-6):
        raise CheckFailed(
            "the mask is ignored: token 0 attends to later tokens",
            "the mask decides which scores may take part, before the softmax",
        )
    raise CheckFailed("the attention weights are not softmax(q kᵀ / sqrt(d)) with the mask")


@check(reread=SECTION_BITS)
def check_bits_per_char(bits_per_char: Callable) -> None:
    """``bits_per_char(logits, targets)``: the mean of ``-log2 p(target)`` over the rows,
    ``p = softmax(logits)``; ``logits`` ``(N, V)``, ``targets`` ``(N,)`` integer ids."""
    check_callable("bits_per_char", bits_per_char)
    rng = np.random.default_rng(80)
    logits = rng.normal(size=(50, 7)) * 2 + 1.5  # not normalised, and not probabilities
    targets = rng.integers(0, 7, 50)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    nats = -log_p[np.arange(50), targets]
    want = float(nats.mean() / math.log(2))
    with np.errstate(all="ignore"):
        got = bits_per_char(logits, targets)
    if got is None:
        raise CheckFailed("bits_per_char returned None — did you forget `return`?")
    value = np.asarray(got, dtype=np.float64)
    if value.shape != ():
        raise CheckFailed(
            f"expected one number, got an array of shape {value.shape}",
            "average over the characters",
        )
    value = float(value)
    if math.isclose(value, want, rel_tol=1e-6):
        ok(f"bits per character: {want:.4f} on the check's random logits")
        return
    if math.isclose(value, float(nats.mean()), rel_tol=1e-6):
        raise CheckFailed("that is nats (natural log), not bits", "divide by ln 2")
    if math.isclose(value, want * 50, rel_tol=1e-6) or math.isclose(
        value, nats.sum(), rel_tol=1e-6
    ):
        raise CheckFailed("that is the total over all characters, not the mean per character")
    with np.errstate(all="ignore"):
        as_probs = float(-np.log2(np.clip(logits[np.arange(50), targets], 1e-300, None)).mean())
    if not math.isfinite(value) or math.isclose(value, as_probs, rel_tol=1e-6):
        raise CheckFailed(
            "the logits were used as probabilities",
            "logits are unnormalised log-probabilities: apply a (log-)softmax first",
        )
    if math.isclose(value, float(-log_p.mean() / math.log(2)), rel_tol=1e-6):
        raise CheckFailed(
            "that averages -log2 p over the whole vocabulary",
            "only the probability of the character that actually came counts",
        )
    raise CheckFailed(f"bits_per_char gave {value:.4f}, expected {want:.4f}")


@check(reread=SECTION_SAMPLING)
def check_top_p(top_p_filter: Callable) -> None:
    """``top_p_filter(probs, p)``: keep the smallest set of most likely tokens whose total
    probability reaches ``p``, zero the rest, renormalise. ``probs`` is one distribution."""
    check_callable("top_p_filter", top_p_filter)
    rng = np.random.default_rng(5)
    for p in (0.5, 0.9, 0.999):
        probs = rng.dirichlet(np.ones(12) * 0.5)
        order = np.argsort(-probs, kind="stable")
        before = np.cumsum(probs[order]) - probs[order]
        keep = np.zeros(12, bool)
        keep[order[before < p]] = True
        want = np.where(keep, probs, 0) / probs[keep].sum()
        got = top_p_filter(probs.copy(), p)
        check_shape("top_p_filter(probs, p)", got, (12,))
        got = np.asarray(got, dtype=np.float64)
        if np.allclose(got, want, atol=1e-9):
            continue
        if np.isclose(got.sum(), probs[keep].sum()) and np.allclose(got[keep], probs[keep]):
            raise CheckFailed("the kept probabilities are not renormalised to sum to 1")
        crossing = np.cumsum(probs[order]) < p
        if crossing.any() and np.allclose(
            got,
            np.where(np.isin(np.arange(12), order[crossing]), probs, 0)
            / probs[order[crossing]].sum(),
        ):
            raise CheckFailed(
                f"with p = {p}, the token whose probability crosses p was dropped",
                "keep tokens while the mass of the tokens *before* them is below p; "
                "at least one token always stays",
            )
        if np.allclose(got, want[order], atol=1e-9):
            raise CheckFailed(
                "right values, wrong places: your result is in sorted order",
                "write the kept probabilities back at their own token ids",
            )
        if got[order[0]] == 0:
            raise CheckFailed("the most likely token was removed: sort from the most likely down")
        raise CheckFailed(f"top_p_filter(probs, {p}) is not the nucleus of probs")
    ok("top-p: the smallest set of likely tokens that reaches p, renormalised")


_cache: dict = {}  # the check's own measurements, kept while the same model comes back


def _scored_logits(model, rows):
    """The model's logits at the poems' own positions (weight > 0), their targets and weights."""
    if _cache.get("model") is not model:
        _cache.clear()
        _cache["model"] = model
    held = _cache.get(("logits", id(rows[0])))
    if held is not None and held[0] is rows[0]:
        return held[1]
    inputs, targets, weights = rows
    scored = []  # the logits of the scored positions only (a vocabulary of thousands)
    for i in range(0, len(inputs), 32):
        logits = np.asarray(model(inputs[i : i + 32]), dtype=np.float64)
        keep = weights[i : i + 32] > 0
        scored.append((logits[keep], targets[i : i + 32][keep], weights[i : i + 32][keep]))
    found = tuple(np.concatenate(part) for part in zip(*scored, strict=True))
    _cache[("logits", id(rows[0]))] = (rows[0], found)
    return found


def _bits(model, rows, t: float) -> float:
    """Held-out bits per character of softmax(logits / T) on the poems' own characters."""
    logits, picked_ids, picked_weights = _scored_logits(model, rows)  # resets _cache if new
    held = _cache.get(("bits", id(rows[0]), t))
    if held is not None and held[0] is rows[0]:
        return held[1]
    z = logits / t
    log_p = z - np.logaddexp.reduce(z, axis=-1, keepdims=True)
    picked = log_p[np.arange(len(z)), picked_ids]
    bits = float(-(picked * picked_weights).sum() / picked_weights.sum() / math.log(2))
    _cache[("bits", id(rows[0]), t)] = (rows[0], bits)
    return bits


def _share(model, t: float, n_poems: int) -> float:
    """The share of right-length lines in ``n_poems`` poems sampled at T (seed 0)."""
    from aigc_course import tang
    from aigc_course.families import gpt

    if _cache.get("model") is not model:
        _cache.clear()
        _cache["model"] = model
    if ("share", t, n_poems) not in _cache:
        poems = gpt.write_poems(model, n_poems, seed=0, temperature=t)
        _cache[("share", t, n_poems)] = float(tang.form_report(poems)["right_length"])
    return _cache[("share", t, n_poems)]


_PROBE_ROWS, _PROBE_POEMS = 16, 32  # the check runs your function on this much, to save time
#: The check adds this temperature to yours: a trained model keeps its form at T = 0.7..1.3
#: (poems sampled at the wrong T would pass there), and loses it visibly at T = 2.
_HOT = 2.0


@check(reread="chapter 08, sections 3 and 7 (Cross-entropy is bits; Sampling: temperature)")
def check_temperature_experiment(
    temperature_results: Callable, answer_lowest_bits, model, rows, temperatures
) -> None:
    """The temperature experiment. ``temperature_results(model, rows, temperatures, n_poems)``
    returns ``{T: {"bits": held-out bits of softmax(logits / T) on rows, "right_length": share
    of right-length lines in n_poems poems sampled at T, seed 0}}``. The check runs it on the
    first 16 rows and 32 poems, at ``temperatures`` and at T = 2, and recomputes the bits exactly
    (to 1e-3) and the shares from its own poems (within 0.06). ``answer_lowest_bits`` is the
    temperature with the lowest held-out bits on all of ``rows``, read from the student's table."""
    check_callable("temperature_results", temperature_results)
    temperatures = sorted({float(t) for t in temperatures})
    probed = sorted({*temperatures, _HOT})
    probe = tuple(np.asarray(a)[:_PROBE_ROWS] for a in rows)
    if _cache.get("model") is model and ("probe", id(rows[0])) in _cache:
        probe = _cache[("probe", id(rows[0]))]  # the same arrays: their logits are cached
    results = temperature_results(model, probe, probed, n_poems=_PROBE_POEMS)
    _cache[("probe", id(rows[0]))] = probe
    name = f"temperature_results(model, rows[:{_PROBE_ROWS}], {probed}, n_poems={_PROBE_POEMS})"
    if not isinstance(results, dict) or sorted(map(float, results)) != probed:
        raise CheckFailed(
            f"{name} must map each temperature to {{'bits': ..., 'right_length': ...}}",
            f"got {type(results).__name__}"
            + (f" with keys {sorted(results)}" if isinstance(results, dict) else ""),
        )
    for t in probed:
        measured = results.get(t)
        if not isinstance(measured, dict):
            raise CheckFailed(f"{name}[{t}] must be a dict with 'bits' and 'right_length'")
        want, got = _bits(model, probe, t), measured.get("bits")
        if got is None or not math.isclose(float(got), want, rel_tol=1e-3):
            hint = "divide the logits by T before the softmax, then score the poems' own characters"
            if got is not None and math.isclose(float(got), want * math.log(2), rel_tol=1e-3):
                hint = "that is nats: divide by ln 2"
            elif got is not None and t != 1.0:
                if math.isclose(float(got), _bits(model, probe, 1.0 / t), rel_tol=1e-3):
                    hint = "the logits were multiplied by T: temperature divides them"
                elif math.isclose(float(got), _bits(model, probe, 1.0), rel_tol=1e-3):
                    hint = "that is the bits at T = 1: divide the logits by T before scoring"
            raise CheckFailed(
                f"{name}: at T = {t} the bits should be {want:.3f}, got {got!r}", hint
            )
        share, got = _share(model, t, _PROBE_POEMS), measured.get("right_length")
        if got is None or not abs(float(got) - share) <= 0.06:
            hint = "tang.form_report(poems)['right_length'] on n_poems poems sampled at T"
            if (
                got is not None
                and t != 1.0
                and abs(float(got) - _share(model, 1.0, _PROBE_POEMS)) < 1e-9
            ):
                hint = "those poems were sampled at T = 1: pass temperature=T to write_poems"
            raise CheckFailed(
                f"{name}: at T = {t} about {share:.0%} of sampled lines have the right length "
                f"({_PROBE_POEMS} poems, seed 0); you report {got!r}",
                hint,
            )
    if answer_lowest_bits is None or answer_lowest_bits == "":
        raise NotAttempted(
            "check_temperature_experiment",
            "set answer_lowest_bits to the temperature with the lowest bits in your table",
        )
    full = {t: _bits(model, rows, t) for t in temperatures}
    best = min(temperatures, key=full.__getitem__)
    table = "; ".join(f"T = {t:g}: {b:.3f} bits" for t, b in full.items())
    try:
        answer = float(answer_lowest_bits)
    except (TypeError, ValueError):
        answer = math.nan
    if answer not in temperatures:
        raise CheckFailed(
            f"answer_lowest_bits must be one of {temperatures}, got {answer_lowest_bits!r}"
        )
    if answer != best:
        raise CheckFailed(
            f"answer_lowest_bits = {answer:g}: your own table says the held-out bits are lowest "
            f"at T = {best:g} ({table})",
            "a colder T makes the model more confident, not better calibrated: held-out bits "
            "reward probability where real poems go"
            if answer < best
            else "a hotter T spreads probability over characters real poems do not use",
        )
    ok(f"measured: the held-out bits are lowest at T = {best:g} ({table})")


#: Graded hints (``aigc_course.hints.hint``): the idea first, then the tool, never the line.
HINTS = {
    "causal_mask": (
        "Draw the 4 x 4 square: row i is the token that looks, column j the token looked at. "
        "A GPT token may look at itself and at earlier positions. Which half of the square is "
        "that, and is the diagonal in it?",
        "NumPy cuts triangles out of a matrix: np.tril keeps the lower one (diagonal "
        "included), np.triu the upper. Start from a square of ones of dtype bool.",
        "Check yourself: row 0 has a single True (the first token sees only itself), the last "
        "row is all True.",
    ),
    "attention": (
        "Three steps: score how well each query matches each key (a dot product, scaled down by "
        "the square root of the key size so the softmax does not saturate), make the forbidden "
        "pairs impossible, then turn each query's scores into weights that sum to 1 over the "
        "keys. The output is those weights mixing the values.",
        "Matrix products: the scores are (T, T) with one row per query, so the keys must be "
        "transposed. np.where with the mask chooses between a score and -np.inf; the softmax "
        "runs along the last axis (subtract the row's max before np.exp).",
        "Check yourself: every row of the weights sums to 1 and is 0 right of the diagonal.",
    ),
    "bits_per_char": (
        "Bits per character is the average surprise -log2 p of the character that actually "
        "came. The logits are not probabilities yet: a softmax over the vocabulary makes them "
        "so.",
        "A stable log-softmax subtracts, from each row of logits, the log of the sum of their "
        "exponentials: np.logaddexp.reduce along the vocabulary axis. Pick each row's target "
        "with np.arange(N) and targets as indices; log2(x) = ln(x) / ln(2).",
        "Check yourself: equal logits over V characters give exactly log2(V) bits.",
    ),
    "top_p": (
        "The nucleus is the head of the sorted distribution: walk from the most likely token "
        "down, adding up probabilities, until the total reaches p. The token that carries the "
        "total past p belongs to the nucleus; everything after it does not.",
        "np.argsort of -probs sorts from the most likely down and np.cumsum gives the running "
        "total; a token is in when the mass of the tokens before it is still below p. Zero the "
        "rest and divide by what is left.",
        "Check yourself: a tiny p keeps only the top token (probability 1); p = 1 changes "
        "nothing.",
    ),
    "poem_temperature_experiment": (
        "Temperature divides the logits before the softmax. The held-out bits ask how well "
        "softmax(logits / T) predicts real poems; sampling at T shows what the model writes. "
        "The model's logits do not depend on T: compute them once.",
        "Run model(inputs[i : i + 32]) in slices, keep the positions whose weight is above 0 (the "
        "poems' own characters) and score logits / T with your bits_per_char. For the form, "
        "gpt.write_poems(model, n_poems, seed=0, temperature=T) and "
        "tang.form_report(poems)['right_length'].",
        "Then read the table: the answer is the T with the lowest bits, whatever you predicted.",
    ),
}
