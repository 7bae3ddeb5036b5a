"""The character-level language model helpers: corpus, vocabulary, windows, bigrams, sampling."""

from __future__ import annotations

import numpy as np
import pytest

from aigc_course import charlm


def test_corpus_is_shipped_and_lower_case():
    text = charlm.load_corpus("fables")
    assert len(text) > 5000
    assert text == text.lower()
    with pytest.raises(ValueError, match="unknown corpus"):
        charlm.load_corpus("shakespeare")


def test_vocabulary_round_trip_and_unknown_characters():
    vocab = charlm.Vocabulary.from_text("hello world")
    assert vocab.chars == sorted(set("hello world"))
    ids = vocab.encode("low")
    assert ids.dtype == np.int32 and vocab.decode(ids) == "low"
    with pytest.raises(ValueError, match=r"not in the vocabulary"):
        vocab.encode("HELLO")


def test_make_windows_pairs_context_with_next_token():
    x, y = charlm.make_windows(np.arange(6), 3)
    assert x.tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 4]]
    assert y.tolist() == [3, 4, 5]
    with pytest.raises(ValueError, match="more than context"):
        charlm.make_windows(np.arange(3), 3)


def test_bigram_counts_and_probabilities():
    vocab = charlm.Vocabulary("ab")
    counts = charlm.bigram_counts(vocab.encode("aab"), len(vocab))
    assert counts.tolist() == [[1, 1], [0, 0]]
    probs = charlm.bigram_probs(counts, smoothing=1.0)
    np.testing.assert_allclose(probs, [[0.5, 0.5], [0.5, 0.5]])
    np.testing.assert_allclose(charlm.bigram_probs([[3, 1], [0, 2]], 0.0), [[0.75, 0.25], [0, 1]])
    with pytest.raises(ValueError, match="use smoothing > 0"):
        charlm.bigram_probs(counts, smoothing=0.0)


def test_bits_per_char():
    assert charlm.bits_per_char([0.5, 0.5]) == pytest.approx(1.0)
    assert charlm.bits_per_char([0.25]) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        charlm.bits_per_char([0.0, 0.5])


def test_model_shapes_and_sampling_are_autoregressive_and_seeded():
    from aigc_course._tf import keras

    keras.utils.set_random_seed(0)
    vocab = charlm.Vocabulary.from_text("abc ")
    model = charlm.build_char_model(len(vocab), context=4, embed_dim=4, hidden=8)
    assert model.output_shape == (None, len(vocab))
    p = charlm.next_char_probs(model, vocab, "ab")  # shorter than the context: left-padded
    assert p.shape == (len(vocab),) and p.sum() == pytest.approx(1.0)
    a = charlm.sample_text(model, vocab, "ab", 20, rng=np.random.default_rng(5))
    b = charlm.sample_text(model, vocab, "ab", 20, rng=np.random.default_rng(5))
    assert a == b and a.startswith("ab") and len(a) == 22 and set(a) <= set(vocab.chars)
    # low temperature concentrates on the most likely character
    cold = charlm.next_char_probs(model, vocab, "abca", temperature=0.05)
    assert cold.max() > charlm.next_char_probs(model, vocab, "abca").max()


@pytest.mark.slow
def test_training_beats_the_uniform_guess():
    """A few hundred steps on the fables must already predict better than chance."""
    from aigc_course import fewlabels
    from aigc_course._tf import keras

    keras.utils.set_random_seed(0)
    text = charlm.load_corpus()[:3000]
    vocab = charlm.Vocabulary.from_text(text)
    x, y = charlm.make_windows(vocab.encode(text), 4)
    model = charlm.build_char_model(len(vocab), 4, hidden=32)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    fewlabels.fit_steps(model, x, y, steps=150, batch_size=64)
    probs = keras.ops.softmax(model(x[:500])).numpy()[np.arange(500), y[:500]]
    assert charlm.bits_per_char(probs) < np.log2(len(vocab)) - 1.0
