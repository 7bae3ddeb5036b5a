"""A small U-Net for denoising 28x28 images, in Keras 3.

The network a diffusion model trains: it takes a noisy image ``x_t``, the time step ``t`` and a
class label ``y`` and returns an image-shaped prediction (the noise, or Salimans & Ho's ``v``).
It is the architecture of Ho et al. (2020), scaled down for a CPU:

* a **time embedding**: ``t`` as sinusoids of many frequencies (as positions in a Transformer),
  then a small MLP; the class label's learned embedding is added to it. Label ``num_classes``
  means "no label" and is what classifier-free guidance uses for the unconditional prediction;
* **residual blocks** (group norm, SiLU, 3x3 convolution, twice) into which the embedding is
  added as a per-channel shift, so every block knows how noisy its input is;
* **group normalisation** (Wu & He, 2018), not batch norm: a denoiser sees images of every noise
  level in one batch, and its output must not depend on the other images in the batch;
* an encoder 28 -> 14 -> 7 and a decoder 7 -> 14 -> 28 joined by **skip connections** that
  concatenate each encoder block's output onto the decoder block of the same resolution, so
  fine detail does not have to squeeze through the 7x7 bottleneck; and self-attention at 7x7.

The last layer is initialised to zero (the network starts by predicting 0, the mean of its
target) and computes in float32, so the loss never sees 16-bit numbers.
"""

from __future__ import annotations

import math

import numpy as np

from aigc_course._tf import keras, tf

layers = keras.layers

IMAGE_SHAPE = (28, 28, 1)


def _positive_ints(name: str, values) -> tuple[int, ...]:
    values = tuple(values)
    if not values or any(isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1
                         for v in values):  # fmt: skip
        raise ValueError(
            f"{name} must be a non-empty sequence of positive integers, got {values!r}"
        )
    return tuple(int(v) for v in values)


@keras.saving.register_keras_serializable(package="aigc_course")
class TimeEmbedding(layers.Layer):
    """Time steps ``t`` (any real numbers, shape ``(B,)``) -> ``(B, dim)`` sinusoids.

    Frequencies from 1 down to ``1 / max_period``, geometrically spaced (Vaswani et al., 2017);
    half the features are sines, half cosines. :func:`build_unet` creates it with
    ``dtype="float32"`` whatever the policy: in bfloat16 a ``t`` of 998 or 999 would arrive as
    1000 (8 bits of mantissa), and neighbouring steps would look the same to the network.
    """

    def __init__(self, dim: int, max_period: float = 10_000.0, **kwargs):
        super().__init__(**kwargs)
        if dim < 2 or dim % 2:
            raise ValueError(f"dim must be an even integer >= 2, got {dim!r}")
        self.dim = int(dim)
        self.max_period = float(max_period)

    def call(self, t):
        half = self.dim // 2
        freqs = tf.exp(-math.log(self.max_period) * tf.range(half, dtype="float32") / half)
        angles = tf.cast(tf.reshape(t, (-1, 1)), "float32") * freqs[None, :]
        return tf.concat([tf.sin(angles), tf.cos(angles)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "max_period": self.max_period}


def _groups(channels: int, groups: int) -> int:
    """The largest divisor of ``channels`` that is at most ``groups``."""
    return max(g for g in range(1, min(groups, channels) + 1) if channels % g == 0)


def _group_norm_silu(x, gamma, beta, groups: int, epsilon: float):
    """Forward pass: ``z = GN(x) * gamma + beta``, ``y = z * sigmoid(z)``; statistics in float32."""
    shape, channels = tf.shape(x), x.shape[-1]
    xg = tf.reshape(tf.cast(x, "float32"), (shape[0], -1, groups, channels // groups))
    mean, variance = tf.nn.moments(xg, axes=[1, 3], keepdims=True)
    inv_std = tf.math.rsqrt(variance + epsilon)
    z = tf.reshape((xg - mean) * inv_std, shape) * gamma + beta
    return tf.cast(z * tf.sigmoid(z), x.dtype), mean, inv_std


def _group_norm_silu_grad(dy, x, mean, inv_std, gamma, beta, groups: int):
    """Backward pass of :func:`_group_norm_silu`, written out so XLA can fuse it too."""
    shape, channels = tf.shape(x), x.shape[-1]
    xg = tf.reshape(tf.cast(x, "float32"), (shape[0], -1, groups, channels // groups))
    x_hat = (xg - mean) * inv_std
    z = tf.reshape(x_hat, shape) * gamma + beta
    s = tf.sigmoid(z)
    dz = tf.cast(dy, "float32") * s * (1.0 + z * (1.0 - s))  # d(z sigmoid z)/dz
    d_gamma = tf.reduce_sum(dz * tf.reshape(x_hat, shape), axis=[0, 1, 2])
    d_beta = tf.reduce_sum(dz, axis=[0, 1, 2])
    g = tf.reshape(dz * gamma, tf.shape(xg))
    mean_g = tf.reduce_mean(g, axis=[1, 3], keepdims=True)
    mean_gx = tf.reduce_mean(g * x_hat, axis=[1, 3], keepdims=True)
    dx = inv_std * (g - mean_g - x_hat * mean_gx)
    return tf.cast(tf.reshape(dx, shape), x.dtype), d_gamma, d_beta


_fused_forward = tf.function(_group_norm_silu, jit_compile=True)
_fused_backward = tf.function(_group_norm_silu_grad, jit_compile=True)


@keras.saving.register_keras_serializable(package="aigc_course")
class GroupNormSiLU(layers.GroupNormalization):
    """Keras' ``GroupNormalization`` followed by SiLU (``z * sigmoid(z)``), in one layer.

    In float32 it runs Keras' own code. In 16 bits (a mixed precision policy) it computes the
    same maths as two XLA-compiled functions, one forward and one backward: Keras' version takes
    about a dozen separate passes over the feature map each way (casts to float32, moments,
    normalisation, activation), which on a CPU cost several times the convolution that follows;
    fused, the whole U-Net's training step was ~1.3x faster in bfloat16
    (``benchmarks/diffusion_cpu.py --speed``).
    """

    def call(self, inputs):
        if self.compute_dtype not in ("float16", "bfloat16") or len(inputs.shape) != 4:
            return keras.activations.silu(super().call(inputs))
        inputs = tf.cast(inputs, self.compute_dtype)  # (Keras does not cast a norm's inputs)
        groups, epsilon = self.groups, self.epsilon
        gamma = tf.cast(self.gamma.value, "float32")  # float32 variables (never autocast)
        beta = tf.cast(self.beta.value, "float32")

        @tf.custom_gradient
        def fused(x, gamma, beta):
            y, mean, inv_std = _fused_forward(x, gamma, beta, groups, epsilon)

            def grad(dy):
                return _fused_backward(dy, x, mean, inv_std, gamma, beta, groups)

            return y, grad

        return fused(inputs, gamma, beta)


def _norm_silu(x, groups: int, name: str):
    """Group normalisation, then the SiLU activation ``x * sigmoid(x)``."""
    return GroupNormSiLU(_groups(x.shape[-1], groups), name=name)(x)


def _res_block(x, emb, channels: int, groups: int, dropout: float, name: str):
    """``x + F(x, emb)``: two (group norm, SiLU, conv) stages, the embedding added in between."""
    h = _norm_silu(x, groups, f"{name}_norm1")
    h = layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv1")(h)
    shift = layers.Dense(channels, name=f"{name}_emb")(emb)
    h = h + layers.Reshape((1, 1, channels))(shift)
    h = _norm_silu(h, groups, f"{name}_norm2")
    if dropout:
        h = layers.Dropout(dropout)(h)
    h = layers.Conv2D(channels, 3, padding="same", name=f"{name}_conv2")(h)
    if x.shape[-1] != channels:
        x = layers.Conv2D(channels, 1, name=f"{name}_skip")(x)
    return x + h


def _attention(x, groups: int, heads: int, name: str):
    """Self-attention over the pixels of a (small) feature map, as a residual."""
    _, height, width, channels = x.shape
    h = layers.GroupNormalization(_groups(channels, groups), name=f"{name}_norm")(x)
    h = layers.Reshape((height * width, channels))(h)
    h = layers.MultiHeadAttention(heads, channels // heads, name=f"{name}_mha")(h, h)
    return x + layers.Reshape((height, width, channels))(h)


def build_unet(
    widths=(32, 64, 128),
    blocks: int = 1,
    attention: bool = True,
    num_classes: int = 10,
    groups: int = 8,
    dropout: float = 0.0,
    patch: int = 1,
    name: str = "unet",
) -> keras.Model:
    """A U-Net ``[x_t (B,28,28,1), t (B,), y (B,)] -> (B,28,28,1)`` float32.

    ``widths`` are the channels at 28x28, 14x14 and 7x7 (one entry per resolution; two entries
    stop at 14x14); ``blocks`` residual blocks per resolution on the way down (one more on the
    way up, which also takes the skips); ``attention`` adds self-attention in the bottleneck;
    ``num_classes=0`` builds an unconditional network (``y`` is then ignored).
    """
    widths = _positive_ints("widths", widths)
    blocks = _positive_ints("blocks", [blocks])[0]
    if patch not in (1, 2):
        raise ValueError(f"patch must be 1 (work on pixels) or 2 (on 2x2 patches), got {patch!r}")
    if len(widths) > 3 - (patch - 1):
        raise ValueError(
            f"patch={patch} works on {28 // patch}x{28 // patch} feature maps, which halve to 7x7 "
            f"in {2 - (patch - 1)} step(s): give at most {3 - (patch - 1)} widths, got {widths}"
        )
    x_in = keras.Input(IMAGE_SHAPE, name="x_t")
    t_in = keras.Input((), name="t")
    y_in = keras.Input((), dtype="int32", name="y")

    emb_dim = 4 * widths[0]
    emb = TimeEmbedding(widths[0], dtype="float32", name="time_sinusoids")(t_in)
    emb = layers.Dense(emb_dim, activation="silu", name="time_mlp1")(emb)
    emb = layers.Dense(emb_dim, name="time_mlp2")(emb)
    if num_classes:  # one extra row: the "no label" class of classifier-free guidance
        emb = emb + layers.Embedding(num_classes + 1, emb_dim, name="label_embedding")(y_in)
    emb = layers.Activation("silu")(emb)

    side = 28 // patch
    h = x_in
    if patch > 1:  # space to depth: each patch x patch block of pixels becomes one pixel's channels
        h = layers.Reshape((side, patch, side, patch))(h)
        h = layers.Permute((1, 3, 2, 4))(h)
        h = layers.Reshape((side, side, patch * patch))(h)
    h = layers.Conv2D(widths[0], 3, padding="same", name="stem")(h)
    skips = [h]
    for level, channels in enumerate(widths):
        for b in range(blocks):
            h = _res_block(h, emb, channels, groups, dropout, f"down{level}_{b}")
            skips.append(h)
        if level < len(widths) - 1:
            h = layers.Conv2D(channels, 3, strides=2, padding="same", name=f"down{level}")(h)
            skips.append(h)
    h = _res_block(h, emb, widths[-1], groups, dropout, "mid_0")
    if attention:
        h = _attention(h, groups, heads=4, name="mid_attention")
    h = _res_block(h, emb, widths[-1], groups, dropout, "mid_1")
    for level in reversed(range(len(widths))):
        for b in range(blocks + 1):
            h = layers.Concatenate()([h, skips.pop()])
            h = _res_block(h, emb, widths[level], groups, dropout, f"up{level}_{b}")
        if level:
            h = layers.UpSampling2D(interpolation="nearest")(h)
            h = layers.Conv2D(widths[level - 1], 3, padding="same", name=f"up{level}")(h)
    h = _norm_silu(h, groups, "out_norm")
    out = layers.Conv2D(patch * patch, 3, padding="same", kernel_initializer="zeros",
                        dtype="float32", name="out")(h)  # fmt: skip
    if patch > 1:  # and back
        out = layers.Reshape((side, side, patch, patch), dtype="float32")(out)
        out = layers.Permute((1, 3, 2, 4), dtype="float32")(out)
        out = layers.Reshape(IMAGE_SHAPE, dtype="float32")(out)
    return keras.Model([x_in, t_in, y_in], out, name=name)
