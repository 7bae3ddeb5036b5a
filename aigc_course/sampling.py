"""Sampling text from a language model one token at a time, with or without a KV cache.

:func:`choose` turns next-token logits into tokens: greedy (``temperature=0``), temperature,
top-k and top-p (nucleus, Holtzman et al., 2020). It draws with NumPy from a seeded generator,
one uniform number per row per step, by inverting the cumulative distribution, so two ways of
computing the same logits give the same tokens for the same seed.

:func:`generate` runs the loop for a :class:`aigc_course.transformer.GPT`. ``use_cache=True``
feeds only the newest token and reads the keys and values of earlier tokens from the model's
KV cache; ``use_cache=False`` runs the whole prefix through the model at every step, which is
what the cache saves.
"""

from __future__ import annotations

import numpy as np

from aigc_course.errors import ConfigError

__all__ = ["choose", "generate"]


def _check_options(temperature, top_k, top_p) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, int | float) or temperature < 0:
        raise ConfigError(f"temperature must be a number >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ConfigError(f"top_k must be a positive integer or None, got {top_k!r}")
    if top_p is not None and (not isinstance(top_p, int | float) or not 0 < top_p <= 1):
        raise ConfigError(f"top_p must be a number in (0, 1] or None, got {top_p!r}")


def next_token_probs(logits, temperature: float = 1.0, top_k: int | None = None,
                     top_p: float | None = None, banned=()) -> np.ndarray:
    """Rows of the distribution :func:`choose` samples from: ``(B, V)`` logits -> probabilities.

    Logits are divided by ``temperature``; ``top_k`` keeps the k most likely tokens; ``top_p``
    keeps the smallest set of most likely tokens whose probability reaches ``top_p``; ``banned``
    ids get probability 0. What is kept is renormalised to sum to 1.
    """
    _check_options(temperature, top_k, top_p)
    z = np.array(logits, dtype=np.float64, ndmin=2)
    z[:, list(banned)] = -np.inf
    if temperature == 0:  # greedy: all the mass on the most likely token
        probs = np.zeros_like(z)
        probs[np.arange(len(z)), z.argmax(axis=1)] = 1.0
        return probs
    z = z / temperature
    if top_k is not None and top_k < z.shape[1]:
        kth = np.partition(z, -top_k, axis=1)[:, -top_k][:, None]
        z = np.where(z >= kth, z, -np.inf)
    probs = np.exp(z - z.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    if top_p is not None and top_p < 1:
        order = np.argsort(-probs, axis=1, kind="stable")
        sorted_probs = np.take_along_axis(probs, order, axis=1)
        before = np.cumsum(sorted_probs, axis=1) - sorted_probs  # mass of the more likely tokens
        keep = np.zeros_like(probs, dtype=bool)
        np.put_along_axis(keep, order, before < top_p, axis=1)
        probs = np.where(keep, probs, 0.0)
        probs /= probs.sum(axis=1, keepdims=True)
    return probs


def choose(logits, rng: np.random.Generator, temperature: float = 1.0, top_k: int | None = None,
           top_p: float | None = None, banned=()) -> np.ndarray:
    """One token per row of ``logits`` ``(B, V)``: ids ``(B,)`` (see :func:`next_token_probs`)."""
    probs = next_token_probs(logits, temperature, top_k, top_p, banned)
    u = rng.random(len(probs))  # one draw per row, also when greedy: the stream stays aligned
    cumulative = np.cumsum(probs, axis=1)
    ids = (cumulative < u[:, None] * cumulative[:, -1:]).sum(axis=1)
    return np.minimum(ids, probs.shape[1] - 1).astype(np.int32)


def _compiled(model):
    """The model's two forward passes as traced TensorFlow functions (made once per model)."""
    from aigc_course._tf import tf

    if getattr(model, "_sampling_fns", None) is None:
        depth, two, _, heads, context, head_width = model.empty_cache(1).shape
        cache_spec = tf.TensorSpec((depth, two, None, heads, context, head_width), model.compute_dtype)
        ids_spec = tf.TensorSpec((None, None), tf.int32)
        full = tf.function(lambda ids: model(ids, training=False), input_signature=[ids_spec])
        cached = tf.function(
            lambda ids, cache, position: model.call_cached(ids, cache, position),
            input_signature=[ids_spec, cache_spec, tf.TensorSpec((), tf.int32)],
        )
        object.__setattr__(model, "_sampling_fns", (full, cached))  # not tracked by Keras
    return model._sampling_fns


def generate(model, prompt_ids, n: int, seed: int = 0, max_new: int | None = None,
             temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
             banned=(), stop_id: int | None = None, use_cache: bool = True) -> np.ndarray:
    """``n`` continuations of ``prompt_ids``: ids ``(n, len(prompt) + steps)``.

    Stops after ``max_new`` new tokens (default: until the context is full) or once every row
    has produced ``stop_id``. Rows that stopped early keep sampling (their later tokens are
    meaningless; cut them at ``stop_id``). Same ``seed`` -> same tokens, with or without cache.
    """
    _check_options(temperature, top_k, top_p)
    prompt = np.asarray(prompt_ids, dtype=np.int32).ravel()
    if prompt.size == 0:
        raise ConfigError("the prompt needs at least one token (e.g. the start-of-poem token)")
    if prompt.size >= model.context:
        raise ConfigError(f"the prompt has {prompt.size} tokens; the model's context is {model.context}")
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be a positive integer, got {n!r}")
    room = model.context - prompt.size
    max_new = room if max_new is None else min(max_new, room)
    rng = np.random.default_rng(seed)
    full, cached = _compiled(model)
    ids = np.tile(prompt, (n, 1))
    stopped = np.zeros(n, dtype=bool)
    if use_cache:
        logits, cache = cached(ids, model.empty_cache(n), np.int32(0))  # the prompt at once
    for step in range(max_new):
        if not use_cache:
            logits = full(ids)  # the whole prefix again
        new = choose(np.asarray(logits)[:, -1], rng, temperature, top_k, top_p, banned)
        ids = np.concatenate([ids, new[:, None]], axis=1)
        if stop_id is not None:
            stopped |= new == stop_id
            if stopped.all():
                break
        if use_cache and step + 1 < max_new:
            logits, cache = cached(new[:, None], cache, np.int32(ids.shape[1] - 1))
    return ids
