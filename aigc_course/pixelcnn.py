"""PixelCNN (像素卷积网络): an autoregressive model (自回归模型) of 28x28 grey-scale images.

The image is read in raster order, row by row, left to right, and

    p(x) = prod_i p(x_i | x_1 .. x_{i-1}),

each factor a 256-way softmax over the pixel's 8-bit value (van den Oord et al., 2016, "Pixel
Recurrent Neural Networks"). The likelihood is *exact*: ``-log2 p(x) / 784`` is the model's
bits per dimension on the 8-bit images, which :func:`bits_per_dim` computes in one pass.

**Masked convolutions (掩码卷积).** One network pass predicts all 784 conditionals at once,
so the output at pixel ``i`` must not see pixels ``>= i``. Every convolution's kernel is
multiplied by a mask (:func:`causal_mask`): rows above the centre are visible, in the centre
row only the pixels to the left, and the centre itself only after the first layer (mask
**A** hides it, so a pixel never sees itself; mask **B** shows it, because after the first
layer the centre holds features of pixels ``< i`` only). The rows below the centre would be
all zero, so :class:`MaskedConv2D` does not store them: a 3x3 mask is 2x3.

**Why a 256-way softmax** and not PixelCNN++'s discretised logistic mixture (Salimans et al.,
2017): it is the simplest exact likelihood to read and test (a network with zero logits scores
exactly 8 bits), and it fits the spikes of these data sets (most pixels are exactly 0, many
exactly 255) without tail-mass rules. It costs 256 outputs per pixel and has to learn from data
that 117 is close to 118, which a logistic mixture knows from the start.

**Blind spot: not fixed.** A plain stack of masked 3x3 convolutions never sees part of the
rows just above a pixel, to its upper right (van den Oord et al., 2016b, "Conditional Image
Generation with PixelCNN Decoders", fix it with separate vertical and horizontal stacks and
gated units). Here, with a first kernel of size ``k``, the pixel one row up reaches only
``k // 2`` columns to the right, however deep the stack (``tests/test_pixelcnn.py`` shows it).
We keep the plain stack: one idea per module, and on 28x28 images trained for minutes the
missing context costs less than the extra stack would cost in speed.

**Fast, exact sampling.** Sampling takes 784 network passes, one per pixel. The network pads
the image once (:func:`margin` rows above, as many columns on each side, with 0, the value
half-way between black and white that no 8-bit pixel has) and then every convolution is
"valid": nothing is padded again, so each output pixel depends on a fixed
``(margin + 1) x (2 margin + 1)`` window of the padded image and on nothing else. The
sampler runs the network on that window only, one output position instead of 784, and gets
exactly the numbers a full pass gives (a test checks it). The 784-step loop runs inside one
TensorFlow graph (:func:`sample`), with stateless random draws keyed by the seed and the pixel.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import numpy as np

from aigc_course._tf import keras, tf
from aigc_course.errors import ConfigError
from aigc_course.validate import number_in, one_of, positive_int

SIZE = 28  # image height and width
LEVELS = 256  # 8-bit pixel values
MASK_TYPES = ("A", "B")
NET = "pixelcnn_net"  # the name of the network inside the full model


def causal_mask(kernel_size: int, mask_type: str) -> np.ndarray:
    """The visible part of a ``kernel_size`` x ``kernel_size`` causal kernel: 0/1 of shape
    ``(kernel_size // 2 + 1, kernel_size)`` (the rows down to the centre row).

    For ``kernel_size=3``::

        mask A      mask B
        1 1 1       1 1 1      row above: all visible
        1 0 0       1 1 0      centre row: left of the centre (and, for B, the centre)
    """
    kernel_size = positive_int("kernel_size", kernel_size)
    if kernel_size % 2 == 0:
        raise ConfigError(f"kernel_size must be odd (a kernel has a centre), got {kernel_size}")
    one_of("mask_type", mask_type, MASK_TYPES)
    half = kernel_size // 2
    mask = np.ones((half + 1, kernel_size), np.float32)
    mask[half, half + (mask_type == "B") :] = 0.0
    return mask


@keras.saving.register_keras_serializable("aigc_course")
class MaskedConv2D(keras.layers.Layer):
    """A convolution whose kernel is multiplied by :func:`causal_mask` on every call, with
    "valid" padding: the output is ``kernel_size // 2`` rows shorter (at the top) and
    ``2 * (kernel_size // 2)`` columns narrower than the input."""

    def __init__(self, filters: int, kernel_size: int, mask_type: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.filters = positive_int("filters", filters)
        self.kernel_size = kernel_size
        self.mask_type = mask_type
        self.mask = causal_mask(kernel_size, mask_type)[:, :, None, None]

    def build(self, input_shape) -> None:
        rows, cols = self.mask.shape[:2]
        self.kernel = self.add_weight(
            name="kernel", shape=(rows, cols, input_shape[-1], self.filters),
            initializer="glorot_uniform",
        )  # fmt: skip
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, x):
        kernel = self.kernel * keras.ops.cast(self.mask, self.compute_dtype)
        return keras.ops.conv(x, kernel, padding="valid") + self.bias

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "mask_type": self.mask_type}  # fmt: skip


def build_net(width: int, layers: int, first_kernel: int = 7) -> keras.Model:
    """The network on the *padded* image (float, [-1, 1], any size): one mask-A convolution
    with ``first_kernel``, then ``layers - 1`` residual mask-B 3x3 convolutions, then two 1x1
    convolutions to 256 logits per pixel (float32). Each convolution trims the map (valid
    padding), so the residual path is cropped to match."""
    width, layers = positive_int("width", width), positive_int("layers", layers)
    causal_mask(first_kernel, "A")  # validates first_kernel
    x = inputs = keras.Input((None, None, 1), name="padded_image")
    x = MaskedConv2D(width, first_kernel, "A", name="conv_a")(x)
    for i in range(1, layers):
        y = keras.layers.Activation("relu", name=f"relu_{i}")(x)
        y = MaskedConv2D(width, 3, "B", name=f"conv_b{i}")(y)
        x = keras.layers.Cropping2D(((1, 0), (1, 1)), name=f"crop_{i}")(x)
        x = keras.layers.Add(name=f"residual_{i}")([x, y])
    x = keras.layers.Activation("relu", name="relu_head")(x)
    x = keras.layers.Conv2D(width, 1, activation="relu", name="head")(x)
    logits = keras.layers.Conv2D(LEVELS, 1, dtype="float32", name="logits")(x)
    return keras.Model(inputs, logits, name=NET)


def margin(net: keras.Model) -> int:
    """How far the network sees: rows above (and columns either side of) an output pixel."""
    return sum(layer.kernel_size // 2 for layer in net.layers if isinstance(layer, MaskedConv2D))


def build_pixelcnn(width: int, layers: int, first_kernel: int = 7) -> keras.Model:
    """The full model: pixel values 0..255, float ``(B, 28, 28, 1)`` -> logits
    ``(B, 28, 28, 256)`` of each pixel given the pixels before it (:func:`build_net`, after
    scaling to [-1, 1] and padding by :func:`margin`)."""
    net = build_net(width, layers, first_kernel)
    m = margin(net)
    images = keras.Input((SIZE, SIZE, 1), name="pixels")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="to_unit")(images)
    x = keras.layers.ZeroPadding2D(((m, 0), (m, m)), name="pad")(x)
    return keras.Model(images, net(x), name="pixelcnn")


def bits_per_dim_loss(pixels, logits):
    """Per-pixel negative log-likelihood in bits: ``pixels`` int 0..255 ``(B, 28, 28)``,
    ``logits`` ``(B, 28, 28, 256)``. Its mean over the pixels is the bits per dimension."""
    nats = keras.ops.sparse_categorical_crossentropy(pixels, logits, from_logits=True)
    return nats / math.log(2.0)


def as_pixels(images: Any) -> np.ndarray:
    """uint8 images ``(N, 28, 28)`` (or ``(N, 28, 28, 1)``) as float32 ``(N, 28, 28, 1)``
    0..255, the model's input."""
    x = np.asarray(images)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.dtype != np.uint8 or x.shape[1:] != (SIZE, SIZE):
        raise ConfigError(f"expected uint8 images (N, {SIZE}, {SIZE}), got {x.dtype} {x.shape}")
    return x.astype(np.float32)[..., None]


def bits_per_dim(model: keras.Model, images: Any, batch_size: int = 250) -> float:
    """Exact ``-log2 p(x) / 784`` of uint8 ``images`` under ``model``, averaged over them."""
    x = as_pixels(images)
    total = 0.0
    for i in range(0, len(x), batch_size):
        part = x[i : i + batch_size]
        logits = model(part, training=False)
        bits = bits_per_dim_loss(part[..., 0].astype(np.int32), logits)
        total += float(keras.ops.sum(keras.ops.cast(bits, "float64")))
    return total / (len(x) * SIZE * SIZE)


_SAMPLERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _sampler(net: keras.Model):
    """A compiled function that fills a padded canvas ``(b, 28 + m, 28 + 2m, 1)`` pixel by
    pixel, ``(canvas, temperature, seed) -> canvas``: one graph with the whole 784-step loop
    (a Python loop would spend more time calling TensorFlow than computing; XLA was slower
    still on a CPU, its convolutions lag oneDNN's). One per network."""
    if net not in _SAMPLERS:
        m = margin(net)
        canvas_spec = tf.TensorSpec((None, SIZE + m, SIZE + 2 * m, 1), tf.float32)
        signature = [canvas_spec, tf.TensorSpec((), tf.float32), tf.TensorSpec((), tf.int32)]

        @tf.function(input_signature=signature)
        def fill(canvas, temperature, seed):
            rows = tf.range(tf.shape(canvas)[0])

            def draw(i, canvas):
                r, c = i // SIZE, i % SIZE
                window = tf.slice(canvas, [0, r, c, 0], [-1, m + 1, 2 * m + 1, 1])
                logits = tf.cast(net(window, training=False)[:, 0, 0, :], tf.float32)
                values = tf.random.stateless_categorical(
                    logits / temperature, 1, seed=tf.stack([seed, i]), dtype=tf.int32
                )[:, 0]
                ones = tf.ones_like(rows)
                where = tf.stack([rows, (r + m) * ones, (c + m) * ones, 0 * ones], axis=1)
                pixels = tf.cast(values, tf.float32) / 127.5 - 1.0
                return i + 1, tf.tensor_scatter_nd_update(canvas, where, pixels)

            return tf.while_loop(lambda i, _: i < SIZE * SIZE, draw, [0, canvas])[1]

        _SAMPLERS[net] = fill
    return _SAMPLERS[net]


def sample(model: keras.Model, n: int, seed: int = 0, temperature: float = 1.0,
           batch_size: int = 1000) -> np.ndarray:  # fmt: skip
    """``n`` uint8 images ``(n, 28, 28)`` drawn pixel by pixel, in raster order.

    Each pixel is drawn from its softmax at ``temperature`` (below 1: sharper, less varied).
    The network runs on the pixel's window of the padded canvas only (see the module
    docstring), ``batch_size`` images at a time. The same ``seed`` gives the same images.
    """
    n, batch_size = positive_int("n", n), positive_int("batch_size", batch_size)
    temperature = number_in("temperature", temperature, 0, 10, low_open=True, high_open=False)
    net = model.get_layer(NET)
    m = margin(net)
    fill = _sampler(net)
    seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, size=-(-n // batch_size))
    parts = []
    for start, chunk_seed in zip(range(0, n, batch_size), seeds, strict=True):
        canvas = np.zeros((min(batch_size, n - start), SIZE + m, SIZE + 2 * m, 1), np.float32)
        canvas = fill(canvas, tf.constant(temperature), tf.constant(chunk_seed, tf.int32))
        parts.append(canvas.numpy()[:, m:, m : m + SIZE, 0])
    return np.round((np.concatenate(parts) + 1.0) * 127.5).astype(np.uint8)


__all__ = [
    "SIZE",
    "LEVELS",
    "MASK_TYPES",
    "causal_mask",
    "MaskedConv2D",
    "build_net",
    "margin",
    "build_pixelcnn",
    "bits_per_dim_loss",
    "as_pixels",
    "bits_per_dim",
    "sample",
]
