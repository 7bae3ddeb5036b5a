"""Chapter 08's exercise checks: the stub is "not attempted", every listed wrong answer fails
with a message that names the mistake, and the answer passes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aigc_course.checks import CheckFailed, NotAttempted, ch08


def _stub(*_args, **_kwargs):
    raise NotImplementedError


@pytest.mark.parametrize("check", [ch08.check_causal_mask, ch08.check_attention,
                                   ch08.check_bits_per_char, ch08.check_top_p])
def test_stubs_are_not_attempted(check):
    with pytest.raises(NotAttempted, match="not attempted"):
        check(_stub)


# ----------------------------------------------------------------------------- causal mask

def causal_mask(t):
    return np.tril(np.ones((t, t), dtype=bool))


WRONG_MASKS = {
    "future, not the past": lambda t: np.triu(np.ones((t, t), bool)),  # transposed
    "cannot see itself": lambda t: np.tril(np.ones((t, t), bool), k=-1),  # strict
    "BERT's bidirectional": lambda t: np.ones((t, t), bool),
    "not the lower triangle": lambda t: np.eye(t, dtype=bool),
}


def test_causal_mask():
    ch08.check_causal_mask(causal_mask)
    ch08.check_causal_mask(lambda t: np.tril(np.ones((t, t))))  # 1/0 is fine too
    for message, wrong in WRONG_MASKS.items():
        with pytest.raises(CheckFailed, match=message):
            ch08.check_causal_mask(wrong)


# ----------------------------------------------------------------------------- attention

def _softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def attention(q, k, v, mask):
    scores = q @ k.T / np.sqrt(q.shape[-1])
    weights = _softmax(np.where(mask, scores, -np.inf))
    return weights @ v, weights


def _no_scale(q, k, v, mask):
    w = _softmax(np.where(mask, q @ k.T, -np.inf))
    return w @ v, w


def _wrong_axis(q, k, v, mask):
    w = _softmax(np.where(mask, q @ k.T / np.sqrt(q.shape[-1]), -1e9), axis=0)
    return w @ v, w


def _mask_after(q, k, v, mask):
    w = _softmax(q @ k.T / np.sqrt(q.shape[-1])) * mask
    return w @ v, w


def _no_mask(q, k, v, mask):
    w = _softmax(q @ k.T / np.sqrt(q.shape[-1]))
    return w @ v, w


def _transposed(q, k, v, mask):
    w = _softmax(np.where(mask, q @ k / np.sqrt(q.shape[-1]), -np.inf))
    return w @ v, w


def _weights_only(q, k, v, mask):
    return attention(q, k, v, mask)[1]


WRONG_ATTENTION = {
    "without dividing by sqrt": _no_scale,
    "over the queries": _wrong_axis,
    "after the softmax": _mask_after,
    "mask is ignored": _no_mask,
    "q @ k.T": _transposed,
    "two things": _weights_only,
}


def test_attention():
    ch08.check_attention(attention)
    for message, wrong in WRONG_ATTENTION.items():
        with pytest.raises(CheckFailed, match=message):
            ch08.check_attention(wrong)


def test_attention_check_agrees_with_the_course_layer():
    """The check's notion of attention is the package's (one head, float64)."""
    from aigc_course.transformer import SelfAttention

    layer = SelfAttention(4, 1)
    rng = np.random.default_rng(0)
    q, k, v = (rng.normal(size=(1, 1, 5, 4)) for _ in range(3))
    mask = np.tril(np.ones((5, 5), bool))
    out, weights = layer.attend(q.astype("float32"), k.astype("float32"), v.astype("float32"), mask)
    want_out, want_w = attention(q[0, 0], k[0, 0], v[0, 0], mask)
    np.testing.assert_allclose(np.asarray(weights)[0, 0], want_w, atol=1e-5)
    np.testing.assert_allclose(np.asarray(out)[0, 0], want_out, atol=1e-5)


# ----------------------------------------------------------------------------- bits

def bits_per_char(logits, targets):
    log_p = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    return -log_p[np.arange(len(targets)), targets].mean() / np.log(2)


WRONG_BITS = {
    "nats": lambda lg, y: bits_per_char(lg, y) * np.log(2),
    "total": lambda lg, y: bits_per_char(lg, y) * len(y),
    "as probabilities": lambda lg, y: -np.log2(lg[np.arange(len(y)), y]).mean(),
    "whole vocabulary": lambda lg, y: -(lg - np.logaddexp.reduce(lg, 1, keepdims=True)).mean()
    / np.log(2),
    "one number": lambda lg, y: -np.log2(_softmax(lg)[np.arange(len(y)), y]),
}


def test_bits_per_char():
    ch08.check_bits_per_char(bits_per_char)
    for message, wrong in WRONG_BITS.items():
        with np.errstate(invalid="ignore"), pytest.raises(CheckFailed, match=message):
            ch08.check_bits_per_char(wrong)


# ----------------------------------------------------------------------------- top-p

def top_p_filter(probs, p):
    order = np.argsort(-probs)
    before = np.cumsum(probs[order]) - probs[order]
    keep = np.zeros(len(probs), bool)
    keep[order[before < p]] = True
    kept = np.where(keep, probs, 0.0)
    return kept / kept.sum()


def _drops_crossing(probs, p):
    order = np.argsort(-probs)
    keep = np.zeros(len(probs), bool)
    keep[order[np.cumsum(probs[order]) < p]] = True
    kept = np.where(keep, probs, 0.0)
    return kept / kept.sum()


def _not_renormalised(probs, p):
    kept = top_p_filter(probs, p)
    return np.where(kept > 0, probs, 0.0)


def _ascending(probs, p):
    order = np.argsort(probs)
    before = np.cumsum(probs[order]) - probs[order]
    keep = np.zeros(len(probs), bool)
    keep[order[before < p]] = True
    kept = np.where(keep, probs, 0.0)
    return kept / kept.sum()


WRONG_TOP_P = {
    "crosses p was dropped": _drops_crossing,
    "not renormalised": _not_renormalised,
    "most likely token was removed": _ascending,
}


def test_top_p():
    ch08.check_top_p(top_p_filter)
    for message, wrong in WRONG_TOP_P.items():
        with pytest.raises(CheckFailed, match=message):
            ch08.check_top_p(wrong)


def test_top_p_check_agrees_with_the_course_sampler():
    from aigc_course.sampling import next_token_probs

    probs = np.random.default_rng(1).dirichlet(np.ones(9))
    np.testing.assert_allclose(next_token_probs(np.log(probs), top_p=0.8)[0],
                               top_p_filter(probs, 0.8), atol=1e-12)


# ----------------------------------------------------------------------------- experiment

@pytest.fixture(scope="module")
def experiment():
    from aigc_course import tang
    from aigc_course.families import gpt
    from aigc_course.profiles import get_profile

    tok = gpt.tokenizer()
    profile = get_profile("smoke", family="gpt")
    model = gpt.build_gpt(profile, len(tok), seed=0)
    model.fit(gpt.lm_dataset(tok, tang.load_poems("train")[:500], profile.context, 8),
              steps_per_epoch=5, epochs=1, verbose=0, shuffle=False)
    rows = gpt.poem_rows(tok, tang.load_poems("held_out")[:20], profile.context)
    return model, rows


_memo: dict = {}  # what the functions below computed for one model: poems and bits


def _remembered(model, key, compute):
    """``compute()``, once per ``key`` while the same model comes back: a pure function of its
    arguments, so every ``temperature_results`` below reports exactly what it would have
    computed, without computing it again. The check's own poems and bits are not taken from
    here."""
    if _memo.get("model") is not model:
        _memo.clear()
        _memo["model"] = model
    if key not in _memo:
        _memo[key] = compute()
    return _memo[key][1]


def _bits(model, rows, multiplier):
    """Held-out bits of softmax(logits * multiplier) on the rows' own characters."""

    def scored():  # the logits where a weight is not 0 (padding scores nothing)
        inputs, targets, weights = rows
        keep = weights > 0
        return rows, (np.asarray(model(inputs), dtype=np.float64)[keep], targets[keep],
                      weights[keep])  # fmt: skip

    def compute():
        logits, targets, weights = _remembered(model, ("logits", id(rows[0])), scored)
        z = logits * multiplier
        log_p = z - np.logaddexp.reduce(z, axis=-1, keepdims=True)
        picked = log_p[np.arange(len(z)), targets]
        return rows, -(picked * weights).sum() / weights.sum() / math.log(2)

    return _remembered(model, ("bits", id(rows[0]), multiplier), compute)


def _write_poems(model, n, temperature):
    """``gpt.write_poems(model, n, seed=0, temperature=T)``."""
    from aigc_course.families import gpt

    def compute():
        return None, gpt.write_poems(model, n, seed=0, temperature=temperature)

    return list(_remembered(model, ("poems", n, temperature), compute))


def _measure(scale=1.0, power=-1.0, sample_at=None):
    """A ``temperature_results``; ``scale``, ``power`` and ``sample_at`` make the usual slips."""
    from aigc_course import tang

    def temperature_results(model, rows, temperatures, n_poems=64):
        results = {}
        for t in temperatures:
            poems = _write_poems(model, n_poems, sample_at or t)
            results[t] = {"bits": _bits(model, rows, t**power) * scale,
                          "right_length": tang.form_report(poems)["right_length"]}
        return results

    return temperature_results


def test_temperature_experiment(experiment, capsys):
    """On an untrained model; poems sampled at the wrong T are caught in the wrong-answer corpus
    (tests/wrong_answers.py), on the shipped model, whose line form does depend on T."""
    model, rows = experiment
    temps = [0.7, 1.0, 1.4]
    good = _measure()
    best = min(temps, key=lambda t: _bits(model, rows, t**-1.0))  # on all the rows
    ch08.check_temperature_experiment(good, best, model, rows, temps)
    assert "lowest at T" in capsys.readouterr().out
    for wrong, message in [
        (_measure(scale=math.log(2)), "nats"),
        (_measure(power=1.0), "multiplied by T"),
        (lambda *args, **kwargs: None, "must map each temperature"),
    ]:
        with pytest.raises(CheckFailed, match=message):
            ch08.check_temperature_experiment(wrong, best, model, rows, temps)
    other = next(t for t in temps if t != best)
    with pytest.raises(CheckFailed, match="your own table says"):
        ch08.check_temperature_experiment(good, other, model, rows, temps)
    with pytest.raises(CheckFailed, match="must be one of"):
        ch08.check_temperature_experiment(good, 2.5, model, rows, temps)
    with pytest.raises(NotAttempted):
        ch08.check_temperature_experiment(good, None, model, rows, temps)
    with pytest.raises(NotAttempted):
        ch08.check_temperature_experiment(_stub, best, model, rows, temps)
