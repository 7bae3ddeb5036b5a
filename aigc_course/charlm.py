"""A tiny character-level autoregressive language model, and the bigram baseline.

An autoregressive model (自回归模型) writes a sequence one token at a time: it learns
``p(x_t | x_1 .. x_{t-1})`` and samples from it, appends the sample and repeats. GPT-style
models do exactly this with subword tokens and a Transformer; here the tokens are characters,
the context is the last few characters, and the network is a small MLP (in the spirit of
Bengio et al., 2003), so it trains in seconds on a CPU.

The bigram model (counts of "which character follows which") is the simplest
autoregressive model of all and the baseline the network must beat.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

__all__ = [
    "CORPORA",
    "load_corpus",
    "Vocabulary",
    "make_windows",
    "bigram_counts",
    "bigram_probs",
    "build_char_model",
    "next_char_probs",
    "sample_text",
    "bits_per_char",
]

CORPORA = ("fables",)


def load_corpus(name: str = "fables") -> str:
    """The text of a corpus shipped with the course (``aigc_course/_data/text/<name>.txt``)."""
    if name not in CORPORA:
        raise ValueError(f"unknown corpus {name!r}; choose one of {', '.join(CORPORA)}")
    path = resources.files("aigc_course") / "_data" / "text" / f"{name}.txt"
    return path.read_text(encoding="utf-8")


class Vocabulary:
    """The sorted set of characters in a text, with ``encode`` (str -> ids) and ``decode``."""

    def __init__(self, chars) -> None:
        chars = sorted(set(chars))
        if not chars:
            raise ValueError("a vocabulary needs at least one character")
        self.chars: list[str] = chars
        self.index: dict[str, int] = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> Vocabulary:
        return cls(text)

    def __len__(self) -> int:
        return len(self.chars)

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} characters: {''.join(self.chars)!r})"

    def encode(self, text: str) -> np.ndarray:
        unknown = sorted(set(text) - set(self.index))
        if unknown:
            raise ValueError(
                f"characters {unknown} are not in the vocabulary; use only {''.join(self.chars)!r}"
            )
        return np.array([self.index[c] for c in text], dtype=np.int32)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in np.asarray(ids).ravel())


def make_windows(ids, context: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (previous ``context`` ids, next id) pair: inputs ``(N, context)``, targets ``(N,)``."""
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {ids.shape}")
    if not isinstance(context, int) or context < 1:
        raise ValueError(f"context must be a positive integer, got {context!r}")
    if ids.size <= context:
        raise ValueError(f"the text has {ids.size} tokens; it needs more than context={context}")
    windows = np.lib.stride_tricks.sliding_window_view(ids, context + 1)
    return windows[:, :-1].astype(np.int32), windows[:, -1].astype(np.int32)


def bigram_counts(ids, vocab_size: int) -> np.ndarray:
    """``counts[a, b]`` = how often id ``b`` directly follows id ``a`` in ``ids``."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"ids must lie in 0..{vocab_size - 1}")
    counts = np.zeros((vocab_size, vocab_size), dtype=np.int64)
    np.add.at(counts, (ids[:-1], ids[1:]), 1)
    return counts


def bigram_probs(counts, smoothing: float = 1.0) -> np.ndarray:
    """Rows of ``p(next | previous)`` from bigram counts, with add-``smoothing`` (Laplace).

    Smoothing keeps unseen pairs at a small non-zero probability, so held-out text never
    gets probability 0 (an infinite loss).
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"counts must be a square matrix, got shape {counts.shape}")
    if smoothing < 0:
        raise ValueError(f"smoothing must be >= 0, got {smoothing}")
    smoothed = counts + smoothing
    totals = smoothed.sum(axis=1, keepdims=True)
    if np.any(totals == 0):
        raise ValueError("a row has no counts at all; use smoothing > 0")
    return smoothed / totals


def build_char_model(
    vocab_size: int, context: int, embed_dim: int = 16, hidden: int = 128, dropout: float = 0.3
):
    """An MLP next-character model: ``(B, context)`` ids -> ``(B, vocab_size)`` logits.

    Embedding of each character, concatenated, one hidden layer, logits over the
    vocabulary. It only ever sees the past, so it is autoregressive by construction.
    Dropout matters here: the shipped corpus is small (9 kB) and the model would
    otherwise memorise it within a few epochs.
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
    from aigc_course._tf import keras

    inputs = keras.Input(shape=(context,), dtype="int32", name="context")
    x = keras.layers.Embedding(vocab_size, embed_dim, name="char_embedding")(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Dense(hidden, activation="gelu", name="hidden")(x)
    x = keras.layers.Dropout(dropout)(x)
    logits = keras.layers.Dense(vocab_size, name="next_char_logits")(x)
    return keras.Model(inputs, logits, name="char_mlp")


def _softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    z -= z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True)


def _context_ids(vocab: Vocabulary, text: str, context: int) -> np.ndarray:
    if len(text) < context:  # pad on the left with spaces, as if the text began mid-line
        if " " not in vocab.index:
            raise ValueError(f"the prompt needs at least {context} characters")
        text = " " * (context - len(text)) + text
    return vocab.encode(text[-context:])


def next_char_probs(model, vocab: Vocabulary, text: str, temperature: float = 1.0) -> np.ndarray:
    """``p(next char | last characters of text)`` under ``model``, shape ``(len(vocab),)``."""
    context = int(model.input_shape[1])
    ids = _context_ids(vocab, text, context)[None, :]
    logits = np.asarray(model(ids, training=False))[0]
    return _softmax(logits, temperature)


def sample_text(
    model,
    vocab: Vocabulary,
    prompt: str,
    length: int,
    temperature: float = 1.0,
    rng: np.random.Generator | None = None,
) -> str:
    """Continue ``prompt`` by ``length`` characters, sampling one character at a time.

    Each step feeds the last ``context`` characters to the model, turns its logits into
    probabilities (divided by ``temperature``: < 1 is bolder towards likely characters,
    > 1 flatter), draws one character and appends it: that loop *is* autoregression.
    """
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    rng = np.random.default_rng() if rng is None else rng
    text = prompt
    for _ in range(length):
        p = next_char_probs(model, vocab, text, temperature)
        text += vocab.chars[int(rng.choice(len(p), p=p))]
    return text


def bits_per_char(probs_of_targets) -> float:
    """Average ``-log2 p(actual next char)``: lower is better; ``log2(V)`` means guessing."""
    p = np.asarray(probs_of_targets, dtype=np.float64)
    if p.size == 0 or np.any(p <= 0) or np.any(p > 1):
        raise ValueError("probabilities must be a non-empty array of values in (0, 1]")
    return float(-np.mean(np.log2(p)))
