"""Chapter 02's exercise checks: the stub is 'not attempted', typical mistakes fail with a
useful hint, and correct answers pass."""

from __future__ import annotations

import numpy as np
import pytest

from aigc_course.checks import CheckFailed, NotAttempted, ch02


def stub(*args, **kwargs):
    raise NotImplementedError


# --- correct answers, written independently of the package ----------------------------------


def alpha_bar(betas):
    return np.cumprod(1.0 - np.asarray(betas))


def noisy(x0, t, betas, eps):
    a = alpha_bar(betas)[t - 1]
    return np.sqrt(a) * x0 + np.sqrt(1.0 - a) * eps


def reference_probs(ids, vocab_size, smoothing=1.0):
    counts = np.full((vocab_size, vocab_size), float(smoothing))
    for a, b in zip(ids[:-1], ids[1:], strict=True):
        counts[a, b] += 1
    return counts / counts.sum(axis=1, keepdims=True)


def softmax_t(logits, temperature):
    z = np.asarray(logits, dtype=np.float64) / temperature
    p = np.exp(z - z.max())
    return p / p.sum()


RIGHT_FAMILIES = {
    "GPT-2": "autoregressive",
    "BERT": "masked",
    "PixelCNN": "autoregressive",
    "DCGAN": "adversarial",
    "DDPM": "diffusion",
}


def test_correct_answers_pass(capsys):
    ch02.check_alpha_bar(alpha_bar)
    ch02.check_noising(noisy)
    ch02.check_bigram(reference_probs)
    ch02.check_temperature(softmax_t)
    ch02.check_families(dict(RIGHT_FAMILIES))
    ch02.check_families({k: v.upper() for k, v in RIGHT_FAMILIES.items()})  # case-insensitive
    ch02.check_augmentation("c")
    ch02.check_augmentation(" C ")
    assert capsys.readouterr().out.count("✔") == 8


@pytest.mark.parametrize(
    "check",
    [ch02.check_alpha_bar, ch02.check_noising, ch02.check_bigram, ch02.check_temperature],
)
def test_stub_is_not_attempted(check):
    with pytest.raises(NotAttempted, match="not attempted"):
        check(stub)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda b: np.cumprod(np.asarray(b)), "not the betas"),
        (lambda b: 1.0 - np.asarray(b), "running product"),
        (lambda b: None, "return"),
    ],
)
def test_alpha_bar_mistakes(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        ch02.check_alpha_bar(wrong)


def test_noising_mistakes():
    def no_sqrt(x0, t, betas, eps):
        a = alpha_bar(betas)[t - 1]
        return a * x0 + (1 - a) * eps

    def off_by_one(x0, t, betas, eps):
        a = alpha_bar(betas)[t]
        return np.sqrt(a) * x0 + np.sqrt(1 - a) * eps

    with pytest.raises(CheckFailed, match="square roots"):
        ch02.check_noising(no_sqrt)
    with pytest.raises(CheckFailed, match="1-based"):
        ch02.check_noising(off_by_one)
    with pytest.raises(CheckFailed, match="shape"):
        ch02.check_noising(lambda x0, t, betas, eps: noisy(x0, t, betas, eps)[0])


def test_bigram_mistakes():
    def unsmoothed(ids, vocab_size, smoothing=1.0):
        return reference_probs(ids, vocab_size, 1e-9)

    def transposed(ids, vocab_size, smoothing=1.0):
        return reference_probs(ids, vocab_size, smoothing).T

    def counts_only(ids, vocab_size, smoothing=1.0):
        return reference_probs(ids, vocab_size, smoothing) * 7

    with pytest.raises(CheckFailed, match="differ"):
        ch02.check_bigram(unsmoothed)
    with pytest.raises(CheckFailed, match="sum to 1"):
        ch02.check_bigram(transposed)  # columns, not rows, sum to 1
    with pytest.raises(CheckFailed, match="sum to 1"):
        ch02.check_bigram(counts_only)


def test_temperature_mistakes():
    def multiplies(logits, temperature):
        return softmax_t(np.asarray(logits) * temperature * temperature, temperature)

    def overflows(logits, temperature):
        with np.errstate(over="ignore", invalid="ignore"):
            p = np.exp(np.asarray(logits, dtype=np.float64) / temperature)
            return p / p.sum()

    with pytest.raises(CheckFailed, match="divide the logits"):
        ch02.check_temperature(multiplies)
    with pytest.raises(CheckFailed, match="NaN"):
        ch02.check_temperature(overflows)


def test_families_mistakes():
    with pytest.raises(CheckFailed, match="BERT is not autoregressive"):
        ch02.check_families({**RIGHT_FAMILIES, "BERT": "autoregressive"})
    with pytest.raises(CheckFailed, match="PixelCNN is not masked"):
        ch02.check_families({**RIGHT_FAMILIES, "PixelCNN": "masked"})
    with pytest.raises(CheckFailed, match="no entry for DDPM"):
        ch02.check_families({k: v for k, v in RIGHT_FAMILIES.items() if k != "DDPM"})
    with pytest.raises(CheckFailed, match="is not one of"):
        ch02.check_families({**RIGHT_FAMILIES, "DCGAN": "gan"})
    with pytest.raises(NotAttempted, match="answer_families"):
        ch02.check_families(None)


@pytest.mark.parametrize("letter", ["a", "b", "d"])
def test_augmentation_wrong_letters_fail(letter):
    with pytest.raises(CheckFailed, match="stays the same digit"):
        ch02.check_augmentation(letter)


def test_augmentation_invalid_answers():
    with pytest.raises(CheckFailed, match="not one of"):
        ch02.check_augmentation("e")
    with pytest.raises(NotAttempted, match="answer_augmentation"):
        ch02.check_augmentation(None)
