"""Why BERT is not autoregressive, measured: the masked-LM twin of chapter 08's GPT.

The twin (:func:`aigc_course.families.gpt.build_gpt` with ``causal=False``) is the same
network with a bidirectional attention mask, trained to fill in hidden characters
(:func:`aigc_course.families.gpt.mlm_dataset`). Three measurements compare it with the GPT:

* :func:`blank_bits` — fill-in-the-blank: hide 15 % of a held-out poem's characters; the
  masked LM sees both sides of each blank, the GPT only the left side;
* :func:`left_to_right_bits` — make the masked LM predict each character from the ones before
  it, the only way to *write* a poem from nothing, on the tokens the GPT is scored on;
* :func:`masked_lm_write` — let it write poems left to right and look at them.
"""

from __future__ import annotations

import math

import numpy as np

from aigc_course import baselines, sampling, tang
from aigc_course.families.gpt import MASK_RATE, tokenizer, weighted_bits
from aigc_course.transformer import GPT

__all__ = ["blank_positions", "blank_bits", "left_to_right_bits", "masked_lm_write"]



def blank_positions(rows, seed: int = 0) -> np.ndarray:
    """Which characters to hide for a fill-in-the-blank test: 15 % of each poem's characters
    (never the start or end mark), as a boolean mask over the positions of ``rows[0]``."""
    inputs, _, weights = rows
    rng = np.random.default_rng(seed)
    own = np.zeros_like(weights, dtype=bool)
    own[:, 1:] = weights[:, 1:] > 0  # positions 1..len(poem) of the input hold the poem
    return own & (rng.random(own.shape) < MASK_RATE)


def blank_bits(model: GPT, rows, blanks: np.ndarray) -> float:
    """Bits per hidden character. A masked LM sees the poem with every blank replaced by
    ``[MASK]``, on both sides of each blank; a causal LM predicts each blank from the
    characters before it only (which include the true characters of earlier blanks)."""
    inputs, targets, _ = rows
    if model.causal:
        weights = np.zeros(blanks.shape, np.float32)
        weights[:, :-1] = blanks[:, 1:]  # target t is input t + 1
        return weighted_bits(model, inputs, targets, weights)
    masked = np.where(blanks, model.vocab_size - 1, inputs).astype(np.int32)
    return weighted_bits(model, masked, inputs, blanks.astype(np.float32))


def _hide_from(ids: np.ndarray, t: int, mask_id: int) -> np.ndarray:
    x = np.array(ids, copy=True)
    x[:, t:] = mask_id
    return x


def left_to_right_bits(model: GPT, rows, limit: int | None = None) -> float:
    """Bits per character of held-out poems when a masked LM must predict left to right:
    ``p(x_t | x_<t)`` read at position ``t`` with ``t`` and everything after it hidden. The same
    tokens as :func:`held_out_bits`. One forward pass per position: a KV cache cannot help a
    bidirectional model, because a new token changes every earlier token's representation."""
    inputs, _, weights = (a[:limit] for a in rows)
    log2p = []
    for t in range(1, inputs.shape[1]):
        live = weights[:, t - 1] > 0  # rows whose poem (or its end mark) reaches position t
        if not live.any():
            break
        targets = inputs[live, t]
        logits = np.asarray(model(_hide_from(inputs[live], t, model.vocab_size - 1)))[:, t]
        logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        log2p.append(logp[np.arange(len(logits)), targets] / math.log(2.0))
    return baselines.bits_per_char(np.concatenate(log2p))


def masked_lm_write(model: GPT, n: int = 8, prompt: str = "", seed: int = 0,
                    temperature: float = 1.0, top_k: int | None = None,
                    tok: tang.CharTokenizer | None = None) -> list[str]:
    """Make the masked-LM twin write left to right, as GPT does: at each step the next
    position and everything after it are ``[MASK]``; sample the next position; repeat."""
    tok = tok or tokenizer()
    rng = np.random.default_rng(seed)
    start = tok.encode(tang.END + prompt)
    ids = np.zeros((n, model.context), np.int32)
    ids[:, : len(start)] = start
    done = np.zeros(n, dtype=bool)
    for t in range(len(start), model.context):
        logits = np.asarray(model(_hide_from(ids, t, model.vocab_size - 1)))[:, t]
        ids[:, t] = sampling.choose(logits, rng, temperature, top_k,
                                    banned=[tok.unknown_id, model.vocab_size - 1])
        done |= ids[:, t] == tok.end_id
        if done.all():
            break
    return [tok.decode(row[1:]).split(tang.END)[0] for row in ids]
