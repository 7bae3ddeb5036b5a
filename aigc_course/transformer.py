"""A small decoder-only Transformer (GPT) in Keras 3, written so it can be read.

The pieces, bottom up:

* :class:`SelfAttention` — multi-head self-attention written out: one dense layer makes a query,
  a key and a value per token and head; scores ``q·k / sqrt(d_head)``; a mask; softmax; a
  weighted sum of values; an output projection. ``causal=True`` lets token ``t`` see tokens
  ``<= t`` only (GPT); ``causal=False`` lets every token see every other (BERT). It can also
  run one new token at a time against a **KV cache** of the keys and values of the tokens
  before it, so generating a token costs one token's work instead of the whole prefix's.
* :class:`Block` — pre-norm residual block: ``x + attention(norm(x))``, then
  ``x + mlp(norm(x))`` (Radford et al., 2019).
* :class:`GPT` — token and position embeddings, a stack of blocks, a final norm, and logits
  from the *same* matrix as the token embedding (weight tying, 权重共享). Its ``train_step`` is
  one language-model step: a weighted cross-entropy of the logits against the targets, one
  optimiser update. With ``causal=True`` and targets = inputs shifted by one, that is GPT;
  with ``causal=False``, inputs with some tokens replaced by a mask token and targets = the
  hidden tokens, it is a masked language model (BERT).

Every model computes its logits in float32, whatever its dtype policy.
"""

from __future__ import annotations

import math

from aigc_course._tf import keras, tf

ops = keras.ops

__all__ = ["SelfAttention", "Block", "GPT", "causal_mask", "as_keras_attention"]


def causal_mask(length: int, keys: int | None = None, offset=0):
    """Boolean ``(length, keys)``: query ``i`` (at position ``offset + i``) may see key ``j``
    when ``j <= offset + i``. The lower triangle of a square when ``offset = 0``."""
    keys = length if keys is None else keys
    rows = ops.arange(length)[:, None] + offset
    return ops.arange(keys)[None, :] <= rows


class SelfAttention(keras.layers.Layer):
    """Multi-head self-attention, written out (see the module's docstring)."""

    def __init__(self, width: int, heads: int, causal: bool = True, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if width % heads:
            raise ValueError(f"width ({width}) must be a multiple of heads ({heads})")
        self.width, self.heads, self.causal = width, heads, causal
        self.head_width = width // heads
        self.qkv = keras.layers.Dense(3 * width, name="qkv")  # q, k and v for every head at once
        self.out = keras.layers.Dense(width, name="out")
        self.dropout = keras.layers.Dropout(dropout)

    def build(self, input_shape) -> None:
        self.qkv.build(input_shape)
        self.out.build((*input_shape[:-1], self.width))

    def _split_heads(self, x):
        """``(B, T, 3·width)`` -> three ``(B, heads, T, head_width)`` tensors."""
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        x = ops.reshape(x, (batch, length, 3, self.heads, self.head_width))
        x = ops.transpose(x, (2, 0, 3, 1, 4))
        return x[0], x[1], x[2]

    def attend(self, q, k, v, mask, training: bool = False):
        """Scaled dot-product attention: ``softmax(q kᵀ / sqrt(d) + mask) v`` and the weights.

        ``q``: ``(B, H, Tq, d)``, ``k``, ``v``: ``(B, H, Tk, d)``, ``mask``: boolean,
        broadcastable to ``(B, H, Tq, Tk)`` (True = may attend) or None.
        """
        scores = ops.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(self.head_width)
        scores = ops.cast(scores, "float32")  # softmax in float32, also under mixed precision
        if mask is not None:
            scores = ops.where(mask, scores, -1e9)
        weights = ops.softmax(scores, axis=-1)
        mixed = ops.einsum("bhqk,bhkd->bhqd", self.dropout(ops.cast(weights, v.dtype), training=training), v)
        return mixed, weights

    def _merge_heads(self, x):
        batch, length = ops.shape(x)[0], ops.shape(x)[2]
        return ops.reshape(ops.transpose(x, (0, 2, 1, 3)), (batch, length, self.width))

    def call(self, x, training: bool = False, return_weights: bool = False):
        q, k, v = self._split_heads(self.qkv(x))
        length = ops.shape(x)[1]
        mask = causal_mask(length) if self.causal else None
        mixed, weights = self.attend(q, k, v, mask, training)
        y = self.out(self._merge_heads(mixed))
        return (y, weights) if return_weights else y

    def call_cached(self, x, cache, position):
        """Attend from the new tokens ``x`` ``(B, n, width)`` at ``position ...`` to every
        token so far. ``cache``: ``(2, B, heads, max_length, head_width)``, the keys and
        values of earlier tokens; the new ones are written into it. Returns ``(y, cache)``."""
        if not self.causal:
            raise ValueError("a KV cache only makes sense for causal attention")
        q, k, v = self._split_heads(self.qkv(x))
        start = [0, 0, position, 0]
        keys = ops.slice_update(cache[0], start, ops.cast(k, cache.dtype))
        values = ops.slice_update(cache[1], start, ops.cast(v, cache.dtype))
        mask = causal_mask(ops.shape(x)[1], ops.shape(keys)[2], offset=position)
        mixed, _ = self.attend(q, ops.cast(keys, q.dtype), ops.cast(values, q.dtype), mask)
        return self.out(self._merge_heads(mixed)), ops.stack([keys, values])


def as_keras_attention(ours: SelfAttention) -> keras.layers.MultiHeadAttention:
    """``keras.layers.MultiHeadAttention`` holding ``ours``' weights, to check one against the
    other: ``theirs(x, x, use_causal_mask=True)`` must equal ``ours(x)``. Our fused projection
    keeps q, k and v side by side: column ``part * width + head * head_width + j``."""
    width, heads, d = ours.width, ours.heads, ours.head_width
    x = ops.zeros((1, 2, width))
    if not ours.built:
        ours(x)
    theirs = keras.layers.MultiHeadAttention(heads, d, name=f"{ours.name}_keras")
    theirs(x, x)
    kernel, bias = ops.convert_to_numpy(ours.qkv.kernel), ops.convert_to_numpy(ours.qkv.bias)
    for part, dense in enumerate((theirs._query_dense, theirs._key_dense, theirs._value_dense)):
        cols = slice(part * width, (part + 1) * width)
        dense.kernel.assign(kernel[:, cols].reshape(width, heads, d))
        dense.bias.assign(bias[cols].reshape(heads, d))
    theirs._output_dense.kernel.assign(ops.convert_to_numpy(ours.out.kernel).reshape(heads, d, width))
    theirs._output_dense.bias.assign(ops.convert_to_numpy(ours.out.bias))
    return theirs


class Block(keras.layers.Layer):
    """Pre-norm Transformer block: attention and an MLP, each added to a residual stream."""

    def __init__(self, width: int, heads: int, causal: bool = True, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-5, name="norm1")
        self.attention = SelfAttention(width, heads, causal, dropout, name="attention")
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-5, name="norm2")
        self.mlp_in = keras.layers.Dense(4 * width, activation="gelu", name="mlp_in")
        self.mlp_out = keras.layers.Dense(width, name="mlp_out")
        self.dropout = keras.layers.Dropout(dropout)

    def build(self, input_shape) -> None:
        for layer in (self.norm1, self.attention, self.norm2, self.mlp_in):
            layer.build(input_shape)
        self.mlp_out.build((*input_shape[:-1], 4 * input_shape[-1]))

    def _mlp(self, x, training):
        return self.dropout(self.mlp_out(self.mlp_in(self.norm2(x))), training=training)

    def call(self, x, training: bool = False, return_weights: bool = False):
        attended = self.attention(self.norm1(x), training=training, return_weights=return_weights)
        if return_weights:
            attended, weights = attended
        x = x + self.dropout(attended, training=training)
        x = x + self._mlp(x, training)
        return (x, weights) if return_weights else x

    def call_cached(self, x, cache, position):
        attended, cache = self.attention.call_cached(self.norm1(x), cache, position)
        x = x + attended
        return x + self._mlp(x, False), cache


class GPT(keras.Model):
    """Decoder-only Transformer: ids ``(B, T)`` with ``T <= context`` -> logits ``(B, T, V)``.

    ``causal=False`` makes the same network bidirectional (the masked-LM twin). ``fit`` takes
    ``(inputs, targets, weights)`` batches: the loss is the weights-averaged cross-entropy, so
    a language model passes weights of 1 and a masked LM weights of 1 on hidden tokens only.
    Logged: ``loss`` (nats per token) and ``bits`` (the same in bits).
    """

    def __init__(
        self,
        vocab_size: int,
        context: int,
        width: int = 128,
        depth: int = 4,
        heads: int = 4,
        dropout: float = 0.0,
        causal: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size, self.context, self.width = vocab_size, context, width
        self.depth, self.heads, self.dropout_rate, self.causal = depth, heads, dropout, causal
        self.token_embedding = keras.layers.Embedding(vocab_size, width, name="token_embedding")
        self.position_embedding = keras.layers.Embedding(context, width, name="position_embedding")
        self.blocks = [Block(width, heads, causal, dropout, name=f"block_{i}") for i in range(depth)]
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")
        self.dropout = keras.layers.Dropout(dropout)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss", "bits")}
        self.build((None, context))

    def build(self, input_shape) -> None:
        self.token_embedding.build(input_shape)
        self.position_embedding.build(input_shape)
        for block in self.blocks:
            block.build((*input_shape, self.width))
        self.final_norm.build((*input_shape, self.width))
        self.built = True

    def get_config(self) -> dict:
        return {"vocab_size": self.vocab_size, "context": self.context, "width": self.width,
                "depth": self.depth, "heads": self.heads, "dropout": self.dropout_rate,
                "causal": self.causal, "name": self.name}  # fmt: skip

    def _embed(self, ids, positions, training):
        x = self.token_embedding(ids) + self.position_embedding(positions)
        return self.dropout(x, training=training)

    def _logits(self, x):
        """Weight tying: the output layer is the transposed token embedding."""
        x = self.final_norm(x)
        table = ops.cast(self.token_embedding.embeddings, x.dtype)
        return ops.cast(ops.einsum("btd,vd->btv", x, table), "float32")

    def call(self, ids, training: bool = False):
        length = ops.shape(ids)[1]
        x = self._embed(ids, ops.arange(length)[None, :], training)
        for block in self.blocks:
            x = block(x, training=training)
        return self._logits(x)

    def attention_weights(self, ids):
        """Every layer's attention weights for ``ids``: a list of ``(B, heads, T, T)`` arrays."""
        x = self._embed(ids, ops.arange(ops.shape(ids)[1])[None, :], False)
        weights = []
        for block in self.blocks:
            x, w = block(x, training=False, return_weights=True)
            weights.append(ops.convert_to_numpy(w))
        return weights

    # -------------------------------------------------------------------- the KV cache

    def empty_cache(self, batch: int):
        """Zeros of shape ``(depth, 2, batch, heads, context, head_width)``: room for the keys
        and values of ``context`` tokens in every layer."""
        dtype = self.compute_dtype
        shape = (self.depth, 2, batch, self.heads, self.context, self.width // self.heads)
        return ops.zeros(shape, dtype=dtype)

    def call_cached(self, ids, cache, position):
        """Logits for new tokens ``ids`` ``(B, n)`` placed at ``position ... position + n - 1``,
        reading and extending the cache; returns ``(logits (B, n, V), cache)``."""
        n = ops.shape(ids)[1]
        x = self._embed(ids, (ops.arange(n) + position)[None, :], False)
        layers = []
        for i, block in enumerate(self.blocks):
            x, layer_cache = block.call_cached(x, cache[i], position)
            layers.append(layer_cache)
        return self._logits(x), ops.stack(layers)

    # -------------------------------------------------------------------- training

    @property
    def metrics(self) -> list:
        return list(self.trackers.values())

    def loss_and_count(self, inputs, targets, weights, training: bool = False):
        """Weighted mean cross-entropy (nats per weighted token) and the total weight."""
        logits = self(inputs, training=training)
        nats = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
        weights = ops.cast(weights, "float32")
        total = ops.sum(weights)
        return ops.sum(nats * weights) / ops.maximum(total, 1.0), total

    def train_step(self, data):
        """One language-model step: loss on a batch, gradients, one optimiser update."""
        inputs, targets, weights = data
        with tf.GradientTape() as tape:
            loss, _ = self.loss_and_count(inputs, targets, weights, training=True)
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        self.trackers["loss"].update_state(loss)
        self.trackers["bits"].update_state(loss / math.log(2.0))
        return {name: m.result() for name, m in self.trackers.items()}

    def test_step(self, data):
        inputs, targets, weights = data
        loss, total = self.loss_and_count(inputs, targets, weights)
        self.trackers["loss"].update_state(loss, sample_weight=total)
        self.trackers["bits"].update_state(loss / math.log(2.0), sample_weight=total)
        return {name: m.result() for name, m in self.trackers.items()}
