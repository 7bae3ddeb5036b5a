"""The baselines a language model of Tang poems must beat, in bits per held-out character.

* **uniform**: every token equally likely, ``log2 V`` bits;
* **unigram**: each character's frequency in the training poems, ignoring context;
* **bigram**: ``p(next | previous)`` from counts, the simplest autoregressive model;
* **MLP**: chapter 02's fixed-context network (Bengio et al., 2003) on the last 8 characters.

All are scored on exactly the tokens :func:`aigc_course.families.gpt.held_out_bits` scores:
every character of each held-out poem and the ``"\\n"`` that ends it, each poem read from its
own start.
"""

from __future__ import annotations

import math

import numpy as np

from aigc_course import tang

__all__ = [
    "bits_per_char",
    "scored_positions",
    "unigram_log2_probs",
    "BigramModel",
    "ngram_bits",
    "train_mlp",
    "mlp_bits",
]



def bits_per_char(log2_probs) -> float:
    """Average ``-log2 p`` of the characters that actually came: lower is better."""
    log2_probs = np.asarray(log2_probs, dtype=np.float64)
    if log2_probs.size == 0 or np.any(log2_probs > 1e-9) or not np.all(np.isfinite(log2_probs)):
        raise ValueError("expected a non-empty array of finite log2-probabilities (<= 0)")
    return float(-log2_probs.mean())


def scored_positions(stream: np.ndarray, starts: np.ndarray, poems: list[tang.Poem]) -> np.ndarray:
    """Positions of every predicted token: each poem's characters and its closing ``"\\n"``."""
    return np.concatenate([np.arange(s + 1, s + len(p.text) + 2) for s, p in zip(starts, poems, strict=True)])


def unigram_log2_probs(train_ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """``log2 p(token)`` from counts in ``train_ids``, add-one smoothed: shape ``(vocab_size,)``."""
    counts = np.bincount(train_ids, minlength=vocab_size).astype(np.float64) + 1.0
    return np.log2(counts / counts.sum())


class BigramModel:
    """``p(next | previous)`` from counts, Witten-Bell interpolated with the unigram.

    Add-one smoothing (chapter 02) gives every unseen pair the same small probability; with
    thousands of characters that wastes most of the mass. Witten-Bell trusts a character's
    own counts in proportion to how often it was seen, ``λ(a) = c(a) / (c(a) + u(a))`` with
    ``u(a)`` its number of distinct followers, and fills the rest with the unigram. It has
    nothing to tune, so it is a fair baseline.
    """

    def __init__(self, train_ids: np.ndarray, vocab_size: int) -> None:
        ids = np.asarray(train_ids, dtype=np.int64)
        self.vocab_size = vocab_size
        self.unigram = np.exp2(unigram_log2_probs(ids, vocab_size))
        pairs, counts = np.unique(ids[:-1] * vocab_size + ids[1:], return_counts=True)
        self.pair_counts = dict(zip(pairs.tolist(), counts.tolist(), strict=True))
        self.context_counts = np.bincount(ids[:-1], minlength=vocab_size).astype(np.float64)
        self.followers = np.bincount(pairs // vocab_size, minlength=vocab_size).astype(np.float64)

    def _lambda(self, previous: np.ndarray) -> np.ndarray:
        c, u = self.context_counts[previous], self.followers[previous]
        return np.divide(c, c + u, out=np.zeros_like(c), where=c > 0)

    def log2_probs(self, previous: np.ndarray, following: np.ndarray) -> np.ndarray:
        """``log2 p(following[i] | previous[i])`` for arrays of ids."""
        previous, following = np.asarray(previous), np.asarray(following)
        pair = np.array(
            [self.pair_counts.get(k, 0) for k in (previous * self.vocab_size + following).tolist()],
            dtype=np.float64,
        )
        lam = self._lambda(previous)
        ml = np.divide(pair, self.context_counts[previous], out=np.zeros_like(pair),
                       where=self.context_counts[previous] > 0)
        return np.log2(lam * ml + (1 - lam) * self.unigram[following])

    def next_probs(self, previous: int) -> np.ndarray:
        """The whole distribution ``p(. | previous)``, shape ``(vocab_size,)``."""
        following = np.arange(self.vocab_size)
        return np.exp2(self.log2_probs(np.full(self.vocab_size, previous), following))


def ngram_bits(tok: tang.CharTokenizer, train: list[tang.Poem], held_out: list[tang.Poem]) -> dict:
    """Held-out bits per character of the uniform, unigram and bigram models."""
    stream, _ = tang.poem_stream(tok, train)
    held, starts = tang.poem_stream(tok, held_out)
    at = scored_positions(held, starts, held_out)
    bigram = BigramModel(stream, len(tok))
    return {
        "uniform": math.log2(len(tok)),
        "unigram": bits_per_char(unigram_log2_probs(stream, len(tok))[held[at]]),
        "bigram": bits_per_char(bigram.log2_probs(held[at - 1], held[at])),
    }


def train_mlp(tok: tang.CharTokenizer, train: list[tang.Poem], steps: int, context: int = 8,
              batch_size: int = 256, embed_dim: int = 32, hidden: int = 256, seed: int = 0,
              progress: bool = False):
    """Chapter 02's MLP language model (:func:`aigc_course.charlm.build_char_model`), sized up
    for thousands of characters, trained for ``steps`` Adam steps on windows of the poems."""
    from aigc_course._tf import keras, tf
    from aigc_course.charlm import build_char_model

    x, y = tang.context_windows(tok, train, context)
    keras.utils.set_random_seed(seed)
    model = build_char_model(len(tok), context, embed_dim, hidden, dropout=0.1)
    model.compile(optimizer=keras.optimizers.Adam(2e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    data = (tf.data.Dataset.from_tensor_slices((x, y)).repeat().shuffle(100_000, seed=seed)
            .batch(batch_size).prefetch(2))
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=1 if progress else 0, shuffle=False)
    return model


def mlp_bits(model, tok: tang.CharTokenizer, held_out: list[tang.Poem]) -> float:
    """Held-out bits per character of an MLP from :func:`train_mlp`."""
    x, y = tang.context_windows(tok, held_out, int(model.input_shape[1]))
    log2p = []
    for i in range(0, len(x), 2048):  # in slices: all the logits at once can take gigabytes
        logits = np.asarray(model(x[i : i + 2048], training=False), dtype=np.float64)
        picked = logits[np.arange(len(logits)), y[i : i + 2048]]
        log2p.append((picked - np.logaddexp.reduce(logits, axis=1)) / math.log(2.0))
    return bits_per_char(np.concatenate(log2p))
