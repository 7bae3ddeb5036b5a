"""DCGAN generator and discriminator for 28x28 grey-scale images (MNIST, Fashion-MNIST).

Two ways to get the same kind of network:

* :func:`build_generator` / :func:`build_discriminator` return functional Keras models with an
  explicit ``Input``, so ``summary()`` works at once and they save and load without custom code.
  ``width`` scales every layer: 64 is the full-quality size; 32 needs about a quarter of the
  arithmetic (a training step is about 4x faster on a CPU) and is what the ``cpu`` profile
  trains.
* :class:`Generator` / :class:`Discriminator` keep the class names and constructor arguments of
  the article's section 5.2, with its mistakes corrected (each docstring lists them).

``build_generator``'s batch norm is :class:`FusedBatchNormalization`, Keras' layer trained by
TensorFlow's fused kernel when it computes in 16 bits (faster, same maths); :func:`keras_only`
swaps it back to Keras' own layer for files that should load without this package.

Every model returns float32, even under a ``mixed_float16`` policy: the last layer is pinned to
float32 so the losses never see half-precision logits or pixels. The discriminators return
**logits** (any real number), not probabilities; the losses in :mod:`aigc_course.losses` expect
exactly that.
"""

from __future__ import annotations

import numpy as np

from aigc_course._tf import keras, tf
from aigc_course.validate import integer, number_in, positive_int

layers = keras.layers

IMAGE_SHAPE = (28, 28, 1)
_LEAK = 0.2  # LeakyReLU slope used by DCGAN (Radford et al., 2016)


@keras.saving.register_keras_serializable(package="aigc_course")
class FusedBatchNormalization(layers.BatchNormalization):
    """Keras' ``BatchNormalization``, trained in 16 bits by TensorFlow's fused batch-norm kernel.

    The same maths, variables and settings; only the training-mode pass on ``float16`` or
    ``bfloat16`` inputs differs. Keras 3 casts those to float32 and computes the statistics and
    the normalisation as a dozen separate operations; the fused kernel does it in one pass,
    natively in 16 bits. On a CPU with bfloat16 that makes the ``cpu`` profile's training step
    ~1.2x faster (``benchmarks/batch_norm.py``). In float32 it was no faster on the whole step,
    so float32, inference, and what the kernel does not cover (a mask, synchronised statistics,
    renormalisation, a frozen layer, a non-last axis) run Keras' own code. The fused kernel
    returns the unbiased batch variance; the moving variance keeps Keras' biased one.
    :func:`keras_only` swaps these layers back for files meant to load anywhere.
    """

    def call(self, inputs, training=None, mask=None):
        rank = len(inputs.shape)
        fusable = training and self.trainable and mask is None and rank in (2, 4)
        fusable = fusable and inputs.dtype in (tf.float16, tf.bfloat16)
        fusable = fusable and self.axis in (-1, rank - 1) and not (self.synchronized or self.renorm)
        if not fusable:
            return super().call(inputs, training=training, mask=mask)
        channels = inputs.shape[-1]
        x = inputs if rank == 4 else tf.reshape(inputs, (-1, 1, 1, channels))
        # gamma and beta are float32 variables (never autocast), as the kernel wants them
        scale = tf.ones((channels,)) if self.gamma is None else self.gamma
        offset = tf.zeros((channels,)) if self.beta is None else self.beta
        y, mean, unbiased = tf.compat.v1.nn.fused_batch_norm(
            x, scale, offset, epsilon=self.epsilon, is_training=True
        )
        n = tf.cast(tf.size(x) // channels, "float32")
        variance = unbiased * (n - 1.0) / n
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + variance * (1.0 - self.momentum)
        )
        y = y if rank == 4 else tf.reshape(y, tf.shape(inputs))
        return tf.cast(y, self.compute_dtype)


def keras_only(model: keras.Model) -> keras.Model:
    """A copy of ``model``, same weights, with Keras' own ``BatchNormalization`` in place of
    :class:`FusedBatchNormalization`: it computes the same outputs, and a file it is saved to
    loads with ``keras.models.load_model`` in any Python that has Keras, without this package."""

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        fused = isinstance(layer, FusedBatchNormalization)
        return (layers.BatchNormalization if fused else type(layer)).from_config(layer.get_config())

    if any(isinstance(layer, FusedBatchNormalization) for layer in model.layers):
        copy = keras.models.clone_model(model, clone_function=clone)
    else:  # e.g. the article-style subclassed Generator: nothing to swap
        copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def build_generator(latent_dim: int = 100, width: int = 64, name: str = "generator") -> keras.Model:
    """DCGAN generator: noise ``(B, latent_dim)`` -> images ``(B, 28, 28, 1)`` in [-1, 1].

    Dense -> 7x7x(2*width) -> two stride-2 transposed convolutions (7 -> 14 -> 28) -> tanh.
    Batch normalisation and LeakyReLU sit between the layers; the dense and hidden convolutions
    have no bias because batch normalisation would cancel it. Kernels are 4x4 (a multiple of the
    stride) to avoid checkerboard artefacts. ``tanh`` matches data scaled to [-1, 1].
    """
    latent_dim = positive_int("latent_dim", latent_dim)
    width = positive_int("width", width)
    z = keras.Input(shape=(latent_dim,), name="z")
    x = layers.Dense(7 * 7 * 2 * width, use_bias=False, name="project")(z)
    x = FusedBatchNormalization(name="project_bn")(x)
    x = layers.LeakyReLU(_LEAK, name="project_act")(x)
    x = layers.Reshape((7, 7, 2 * width), name="to_7x7")(x)
    x = layers.Conv2DTranspose(width, 4, strides=2, padding="same", use_bias=False, name="up_14")(x)
    x = FusedBatchNormalization(name="up_14_bn")(x)
    x = layers.LeakyReLU(_LEAK, name="up_14_act")(x)
    x = layers.Conv2DTranspose(1, 4, strides=2, padding="same", name="up_28")(x)
    images = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(z, images, name=name)


def build_discriminator(
    width: int = 64, dropout: float = 0.3, name: str = "discriminator"
) -> keras.Model:
    """DCGAN discriminator: images ``(B, 28, 28, 1)`` -> one **logit** per image ``(B, 1)``.

    Two stride-2 convolutions (28 -> 14 -> 7) with LeakyReLU and dropout, then Flatten and
    Dense(1) without activation. A logit of 0 means "50 % real"; ``sigmoid(logit)`` is the
    probability, but the losses work on logits directly because that is numerically stable.
    ``dropout`` (the TensorFlow tutorial's 0.3 by default) slows the discriminator down; ``0``
    leaves the dropout layers out, which suits short runs.
    """
    width = positive_int("width", width)
    number_in("dropout", dropout, 0, 1)
    images = keras.Input(shape=IMAGE_SHAPE, name="images")
    x = layers.Conv2D(width, 4, strides=2, padding="same", name="down_14")(images)
    x = layers.LeakyReLU(_LEAK, name="down_14_act")(x)
    if dropout:
        x = layers.Dropout(dropout, name="down_14_drop")(x)
    x = layers.Conv2D(2 * width, 4, strides=2, padding="same", name="down_7")(x)
    x = layers.LeakyReLU(_LEAK, name="down_7_act")(x)
    if dropout:
        x = layers.Dropout(dropout, name="down_7_drop")(x)
    x = layers.Flatten(name="flatten")(x)
    logits = layers.Dense(1, dtype="float32", name="logit")(x)
    return keras.Model(images, logits, name=name)


@keras.saving.register_keras_serializable(package="aigc_course")
class Generator(keras.Model):
    """The article's ``Generator`` (section 5.2), corrected to produce 28x28x1 images in [-1, 1].

    Corrections: reshape to channels-last ``(7, 7, num_filters)`` (Keras' default layout; the
    article used channels-first ``(num_filters, 8, 8)``); two stride-2 upsamplings 7 -> 14 -> 28
    (the article's three went 8 -> 64); batch normalisation and ReLU between the transposed
    convolutions (without them the stack is one linear map); the final 3x3 convolution is
    ``padding="same"`` (unpadded it would shrink the image by 2 pixels); ``tanh`` output to match
    data in [-1, 1] (the article's sigmoid can never produce the black background, -1).
    """

    def __init__(self, latent_dim: int = 100, num_filters: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim = positive_int("latent_dim", latent_dim)
        self.num_filters = integer("num_filters", num_filters, minimum=2)
        nf = self.num_filters
        self.dense = layers.Dense(7 * 7 * nf, use_bias=False)
        self.dense_bn = layers.BatchNormalization()
        self.reshape = layers.Reshape((7, 7, nf))
        self.up_conv1 = layers.Conv2DTranspose(nf, 4, strides=2, padding="same", use_bias=False)
        self.up_bn1 = layers.BatchNormalization()
        self.up_conv2 = layers.Conv2DTranspose(
            nf // 2, 4, strides=2, padding="same", use_bias=False
        )
        self.up_bn2 = layers.BatchNormalization()
        self.out_conv = layers.Conv2D(1, 3, padding="same")
        self.out_act = layers.Activation("tanh", dtype="float32")
        self.build((None, self.latent_dim))

    def build(self, input_shape) -> None:
        # Run once on a symbolic batch so summary() and parameter counts work before training.
        self.call(keras.KerasTensor(input_shape))
        super().build(input_shape)

    def call(self, inputs, training=None):
        x = keras.ops.relu(self.dense_bn(self.dense(inputs), training=training))
        x = self.reshape(x)
        x = keras.ops.relu(self.up_bn1(self.up_conv1(x), training=training))
        x = keras.ops.relu(self.up_bn2(self.up_conv2(x), training=training))
        return self.out_act(self.out_conv(x))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *IMAGE_SHAPE)

    # Shapes like a functional model's, so helpers that read the latent size work on it too.
    @property
    def input_shape(self) -> tuple:
        return (None, self.latent_dim)

    @property
    def output_shape(self) -> tuple:
        return (None, *IMAGE_SHAPE)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(latent_dim=self.latent_dim, num_filters=self.num_filters)
        return config


@keras.saving.register_keras_serializable(package="aigc_course")
class Discriminator(keras.Model):
    """The article's ``Discriminator`` (section 5.2), corrected to return one logit per image.

    Corrections: LeakyReLU after each convolution (the article had no activation, so its three
    convolutions and the dense layer collapsed into one linear function of the pixels); the
    output is a **logit** (no sigmoid), so the loss can use the stable logit form instead of
    taking ``log`` of a probability that rounds to 0 or 1. Added: dropout after each activation,
    the usual DCGAN guard against a discriminator that wins too fast. The three stride-2
    convolutions take 28 -> 14 -> 7 -> 4, as in the article.
    """

    def __init__(self, num_filters: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.num_filters = positive_int("num_filters", num_filters)
        nf = self.num_filters
        self.conv1 = layers.Conv2D(nf, 3, strides=2, padding="same")
        self.conv2 = layers.Conv2D(nf * 2, 3, strides=2, padding="same")
        self.conv3 = layers.Conv2D(nf * 4, 3, strides=2, padding="same")
        self.dropout = layers.Dropout(0.3)
        self.flatten = layers.Flatten()
        self.dense = layers.Dense(1, dtype="float32")
        self.build((None, *IMAGE_SHAPE))

    def build(self, input_shape) -> None:
        self.call(keras.KerasTensor(input_shape))
        super().build(input_shape)

    def call(self, inputs, training=None):
        x = inputs
        for conv in (self.conv1, self.conv2, self.conv3):
            x = self.dropout(keras.ops.leaky_relu(conv(x), _LEAK), training=training)
        return self.dense(self.flatten(x))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)

    @property
    def input_shape(self) -> tuple:
        return (None, *IMAGE_SHAPE)

    @property
    def output_shape(self) -> tuple:
        return (None, 1)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(num_filters=self.num_filters)
        return config


class ParameterSummary(str):
    """Plain text that also displays as itself (not as a quoted string) in a notebook."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(str(self))


def parameter_summary(*models: keras.Model) -> ParameterSummary:
    """A small table: each model's name, trainable parameter count and output shape.

    Deterministic text (no memory sizes, no layer ids), so notebooks can print it in a cell
    that nbval compares. Returned as a ``str`` subclass that shows as the table in Jupyter.
    """
    if not models:
        raise ValueError("parameter_summary needs at least one model, e.g. parameter_summary(g, d)")
    rows = []
    for model in models:
        if not isinstance(model, keras.Model):
            raise ValueError(f"parameter_summary takes Keras models, got {type(model).__name__}")
        if not model.built:
            raise ValueError(
                f"model {model.name!r} is not built yet; call it on a batch or use build_generator()"
            )
        try:
            shape = tuple(model.output_shape)
        except AttributeError:  # a subclassed model that does not declare its output shape
            shape = "?"
        count = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        rows.append((model.name, count, str(shape)))
    head = ("model", "trainable params", "output shape")
    cells = [head] + [(n, f"{c:,}", s) for n, c, s in rows]
    total = ("total", f"{sum(c for _, c, _ in rows):,}", "")
    widths = [max(len(r[i]) for r in [*cells, total]) for i in range(3)]

    def line(r: tuple) -> str:
        return f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:<{widths[2]}}".rstrip()

    rule = "-" * (sum(widths) + 4)
    text = [line(cells[0]), rule, *map(line, cells[1:])]
    if len(rows) > 1:
        text += [rule, line(total)]
    return ParameterSummary("\n".join(text))
