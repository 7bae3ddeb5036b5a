"""A variational autoencoder (变分自编码器, VAE; Kingma & Welling, 2014) trained by ``fit()``.

The model has a latent code ``z`` with prior ``p(z) = N(0, I)`` and a decoder ``p(x | z)``; its
likelihood ``p(x) = ∫ p(x | z) p(z) dz`` has no closed form, so an encoder ``q(z | x) =
N(mean(x), diag(exp(log_var(x))))`` is trained with it to maximise the evidence lower bound
(证据下界, ELBO)::

    log p(x) >= E_q[log p(x | z)] - KL(q(z | x) || p(z)) = ELBO(x)

The expectation is estimated with one ``z = mean + exp(log_var / 2) * eps``, ``eps ~ N(0, I)``
(the *reparameterisation*: the noise is an input, so gradients flow into ``mean`` and
``log_var``); the KL term is analytic (:func:`gaussian_kl`).

**The likelihood.** Pixels are 8-bit, so ``p(x | z)`` is a distribution over the 256 levels of
each pixel, and ``-log2 p(x) / 784`` is then a number of bits per pixel that any other model of
the same uint8 images (e.g. an autoregressive PixelCNN, whose 256-way softmax is exact) reports
on the same scale; the ELBO makes ours an upper bound (:func:`bits_per_dim`). We use the
**discretised logistic** of PixelCNN++ (Salimans et al., 2017): the decoder gives each pixel a
location and a log-scale, and a level's probability is the logistic's mass over its bin (the two
end levels take the tails, which suits the many pure black and white pixels). Two numbers per
pixel instead of a 256-way softmax's 256: cheaper, and neighbouring levels share their
probability, which a categorical must learn level by level. ``likelihood="bernoulli"`` models
*binarised* images instead (a pixel is ink when its level is >= 128, as in chapter 01), with one
logit per pixel; its bound in bits per image (:func:`bits_per_image`) is comparable with chapter
01's Bernoulli mixture, not with the 8-bit numbers.

**Pictures** come from the decoder's centre, not from its per-pixel noise: for the logistic the
location rounded to a level (the median of each pixel's distribution), for the Bernoulli the
probability of ink as a grey level (its mean). Drawing every pixel independently would add grain
that no real image has: the pixels of ``p(x | z)`` are independent given ``z``, so all the
structure is in ``z``, and the noise is only what the decoder could not explain.
"""

from __future__ import annotations

import math

import numpy as np

from aigc_course._tf import keras, tf
from aigc_course.errors import ConfigError
from aigc_course.gan import _loss_scaled
from aigc_course.images import to_float, to_uint8
from aigc_course.inference import BATCH
from aigc_course.validate import one_of, positive_int

layers = keras.layers

#: The decoders' likelihoods and how many numbers each gives per pixel.
LIKELIHOODS = {"logistic": 2, "bernoulli": 1}
PIXELS = 28 * 28
#: Half the width of one of the 256 levels on the [-1, 1] scale of the networks.
_HALF_BIN = 1.0 / 255.0
_MIN_LOG_SCALE = -7.0  # PixelCNN++'s floor: keeps the density of a sure pixel finite


# --------------------------------------------------------------------------- the maths


def gaussian_kl(mean, log_var):
    """``KL(N(mean, diag(exp(log_var))) || N(0, I))`` per row, in nats, in closed form:
    ``0.5 * sum(mean^2 + exp(log_var) - 1 - log_var)``. Tensors or arrays ``(B, D)`` -> ``(B,)``."""
    mean, log_var = tf.cast(mean, "float32"), tf.cast(log_var, "float32")
    return 0.5 * tf.reduce_sum(tf.square(mean) + tf.exp(log_var) - 1.0 - log_var, axis=-1)


def discretized_logistic_log_prob(x, loc, log_scale):
    """Log-probability (nats) of each pixel ``x`` (levels ``u / 127.5 - 1``, ``u = 0..255``) under
    a logistic of ``loc`` and ``exp(log_scale)`` discretised to the 256 levels: the mass of
    ``[x - 1/255, x + 1/255]``, with everything below the first bin given to level 0 and
    everything above the last to level 255 (Salimans et al., 2017), so the 256 probabilities
    sum to 1."""
    x, loc = tf.cast(x, "float32"), tf.cast(loc, "float32")
    log_scale = tf.maximum(tf.cast(log_scale, "float32"), _MIN_LOG_SCALE)
    inv_scale = tf.exp(-log_scale)
    upper = inv_scale * (x - loc + _HALF_BIN)
    lower = inv_scale * (x - loc - _HALF_BIN)
    log_cdf_upper = upper - tf.nn.softplus(upper)  # log sigmoid(upper): level 0
    log_survival_lower = -tf.nn.softplus(lower)  # log (1 - sigmoid(lower)): level 255
    mass = tf.sigmoid(upper) - tf.sigmoid(lower)
    # A bin too narrow for the difference of two sigmoids in float32: density times bin width.
    centre = inv_scale * (x - loc)
    log_density = centre - log_scale - 2.0 * tf.nn.softplus(centre)
    inner = tf.where(
        mass > 1e-5,
        tf.math.log(tf.maximum(mass, 1e-12)),
        log_density + math.log(2 * _HALF_BIN),
    )
    return tf.where(x < -0.999, log_cdf_upper, tf.where(x > 0.999, log_survival_lower, inner))


def bernoulli_log_prob(x, logits):
    """Log-probability (nats) of binary pixels ``x`` (0 or 1) under Bernoulli ``logits``."""
    x, logits = tf.cast(x, "float32"), tf.cast(logits, "float32")
    return -tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits)


def binarise(x):
    """Images in [-1, 1] -> 0/1 ink: level ``u >= 128`` (chapter 01's threshold) is ``x > 0``."""
    return tf.cast(tf.cast(x, "float32") > 0.0, "float32")


def log_likelihood(x, decoded, likelihood: str = "logistic"):
    """``log p(x | z)`` per image, in nats: ``x`` images ``(B, 28, 28, 1)`` in [-1, 1] (binarised
    first for ``"bernoulli"``), ``decoded`` the decoder's output for ``z``."""
    one_of("likelihood", likelihood, LIKELIHOODS)
    decoded = tf.cast(decoded, "float32")
    if likelihood == "bernoulli":
        per_pixel = bernoulli_log_prob(binarise(x), decoded)
    else:
        per_pixel = discretized_logistic_log_prob(x, decoded[..., :1], decoded[..., 1:])
    return tf.reduce_sum(tf.reshape(per_pixel, (tf.shape(per_pixel)[0], -1)), axis=-1)


def reparameterise(mean, log_var, eps):
    """``z = mean + exp(log_var / 2) * eps``: a draw from ``q(z | x)`` that is differentiable in
    ``mean`` and ``log_var`` because the randomness ``eps ~ N(0, I)`` comes from outside."""
    return tf.cast(mean, "float32") + tf.exp(0.5 * tf.cast(log_var, "float32")) * eps


# --------------------------------------------------------------------------- the networks


def build_encoder(latent_dim: int, width: int = 32, name: str = "encoder") -> keras.Model:
    """Images ``(B, 28, 28, 1)`` in [-1, 1] -> ``[mean, log_var]`` of ``q(z | x)``, each
    ``(B, latent_dim)``: two stride-2 convolutions (28 -> 14 -> 7), then two linear heads."""
    latent_dim, width = positive_int("latent_dim", latent_dim), positive_int("width", width)
    images = keras.Input((28, 28, 1), name="images")
    x = layers.Conv2D(width, 4, strides=2, padding="same", activation="silu", name="down_14")(
        images
    )
    x = layers.Conv2D(2 * width, 4, strides=2, padding="same", activation="silu", name="down_7")(x)
    x = layers.Flatten(name="flatten")(x)
    mean = layers.Dense(latent_dim, dtype="float32", name="mean")(x)
    log_var = layers.Dense(latent_dim, dtype="float32", name="log_var")(x)
    return keras.Model(images, [mean, log_var], name=name)


def build_decoder(
    latent_dim: int, width: int = 32, likelihood: str = "logistic", name: str = "decoder"
) -> keras.Model:
    """``z (B, latent_dim)`` -> the parameters of ``p(x | z)``, ``(B, 28, 28, k)``: location and
    log-scale (``k = 2``, logistic) or the logit of ink (``k = 1``, Bernoulli). Dense to 7x7,
    two stride-2 transposed convolutions (7 -> 14 -> 28), a 3x3 convolution at full size."""
    latent_dim, width = positive_int("latent_dim", latent_dim), positive_int("width", width)
    channels = LIKELIHOODS[one_of("likelihood", likelihood, LIKELIHOODS)]
    z = keras.Input((latent_dim,), name="z")
    x = layers.Dense(7 * 7 * 2 * width, activation="silu", name="project")(z)
    x = layers.Reshape((7, 7, 2 * width), name="to_7x7")(x)
    x = layers.Conv2DTranspose(2 * width, 4, strides=2, padding="same", activation="silu",
                               name="up_14")(x)  # fmt: skip
    x = layers.Conv2DTranspose(width, 4, strides=2, padding="same", activation="silu",
                               name="up_28")(x)  # fmt: skip
    out = layers.Conv2D(channels, 3, padding="same", dtype="float32", name="pixels")(x)
    return keras.Model(z, out, name=name)


class VAE(keras.Model):
    """An encoder and a decoder trained by ``fit()`` on batches of images in [-1, 1] to maximise
    the ELBO (see the module docstring). ``likelihood`` is ``"logistic"`` (8-bit pixels) or
    ``"bernoulli"`` (binarised pixels) and must match the decoder's output channels.

    Logged metrics (averaged over the epoch so far): ``loss``, the negative ELBO of the training
    batches in bits per pixel (an upper bound on ``-log2 p(x) / 784``), and ``kl``, the KL term in
    nats per image (near 0 means the decoder ignores ``z``: posterior collapse).
    """

    def __init__(
        self, encoder: keras.Model, decoder: keras.Model, likelihood: str = "logistic", **kwargs
    ):
        super().__init__(**{"name": "vae", **kwargs})
        one_of("likelihood", likelihood, LIKELIHOODS)
        if decoder.output_shape[-1] != LIKELIHOODS[likelihood]:
            raise ConfigError(
                f"a {likelihood} likelihood needs {LIKELIHOODS[likelihood]} decoder output "
                f"channels, got {decoder.output_shape[-1]}"
            )
        self.encoder, self.decoder, self.likelihood = encoder, decoder, likelihood
        self.latent_dim = int(decoder.input_shape[-1])
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.built = True

    def call(self, images, training: bool = False):
        """The decoder's parameters for the posterior mean of each image: a reconstruction."""
        mean, _ = self.encoder(images, training=training)
        return self.decoder(mean, training=training)

    @property
    def metrics(self) -> list:
        return [self.loss_tracker, self.kl_tracker]

    def compile(self, optimizer: keras.optimizers.Optimizer, jit_compile: bool | str = False,
                **kwargs) -> None:  # fmt: skip
        """Attach the optimizer (wrapped in a loss-scale optimizer when computing in float16)."""
        super().compile(optimizer=_loss_scaled(optimizer, self), jit_compile=jit_compile, **kwargs)
        self.optimizer.build(self.trainable_variables)

    def elbo_terms(self, images, eps, training: bool = False):
        """``(log p(x | z), KL)`` per image, in nats, with ``z`` reparameterised from ``eps``."""
        mean, log_var = self.encoder(images, training=training)
        z = reparameterise(mean, log_var, eps)
        decoded = self.decoder(z, training=training)
        return log_likelihood(images, decoded, self.likelihood), gaussian_kl(mean, log_var)

    def train_step(self, data):
        images, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        images = tf.cast(images, "float32")
        eps = tf.random.normal((tf.shape(images)[0], self.latent_dim))
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            reconstruction, kl = self.elbo_terms(images, eps, training=True)
            loss = tf.reduce_mean(kl - reconstruction) / (PIXELS * math.log(2.0))
            scaled = self.optimizer.scale_loss(loss / replicas)
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables, strict=True))
        self.loss_tracker.update_state(loss)
        self.kl_tracker.update_state(tf.reduce_mean(kl))
        return {"loss": self.loss_tracker.result(), "kl": self.kl_tracker.result()}


# --------------------------------------------------------------------------- using a VAE


def _check_vae(model: object) -> VAE:
    if not isinstance(model, VAE):
        raise ConfigError(f"expected a VAE (trained, or loaded from its export), got "
                          f"{type(model).__name__}")  # fmt: skip
    return model


def _batched(fn, rows, batch_size: int = BATCH) -> np.ndarray:
    parts = [np.asarray(fn(rows[i : i + batch_size])) for i in range(0, len(rows), batch_size)]
    return np.concatenate(parts)


def encode(model: VAE, images) -> np.ndarray:
    """The posterior means ``E_q[z | x]`` of uint8 (or [-1, 1]) images: float32 ``(N, latent)``,
    the points of a latent-space plot."""
    vae = _check_vae(model)
    return _batched(lambda x: vae.encoder(x, training=False)[0], to_float(images))


def pictures(model: VAE, decoded) -> np.ndarray:
    """The decoder's output ``(N, 28, 28, k)`` -> uint8 images: the location (logistic) or the
    probability of ink (Bernoulli), on the 0..255 scale (see the module docstring for why)."""
    decoded = np.asarray(decoded, dtype=np.float32)
    if _check_vae(model).likelihood == "bernoulli":
        return to_uint8(2.0 / (1.0 + np.exp(-decoded)) - 1.0)  # sigmoid on [-1, 1]
    return to_uint8(np.clip(decoded[..., :1], -1.0, 1.0))


def decode(model: VAE, z) -> np.ndarray:
    """uint8 images ``(N, 28, 28)`` for latent codes ``z (N, latent)`` (see :func:`pictures`)."""
    vae = _check_vae(model)
    z = np.asarray(z, dtype=np.float32)
    if z.ndim != 2 or z.shape[1] != vae.latent_dim:
        raise ConfigError(f"z must have shape (N, {vae.latent_dim}), got {z.shape}")
    return pictures(vae, _batched(lambda b: vae.decoder(b, training=False), z))


def reconstruct(model: VAE, images) -> np.ndarray:
    """uint8 reconstructions of ``images``: each decoded from its posterior mean."""
    return decode(model, encode(model, images))


def elbo(model: VAE, images, seed: int = 0) -> dict[str, np.ndarray]:
    """The ELBO of each image and its two terms, in nats, float64 ``(N,)`` each: ``elbo =
    reconstruction - kl`` with ``reconstruction = log p(x | z)`` for one ``z`` from ``q(z | x)``
    (drawn with ``seed``) and ``kl`` the analytic KL to the prior."""
    vae = _check_vae(model)
    x = to_float(images)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"reconstruction": [], "kl": []}
    for i in range(0, len(x), BATCH):
        eps = rng.standard_normal((len(x[i : i + BATCH]), vae.latent_dim)).astype(np.float32)
        for key, value in zip(parts, vae.elbo_terms(x[i : i + BATCH], eps), strict=True):
            parts[key].append(np.asarray(value, np.float64))
    terms = {key: np.concatenate(value) for key, value in parts.items()}
    return {"elbo": terms["reconstruction"] - terms["kl"], **terms}


def log_likelihood_bound(model: VAE, images, seed: int = 0, samples: int = 1) -> np.ndarray:
    """A lower bound on ``log p(x)`` of each image, in nats, float64 ``(N,)``.

    ``samples=1``: the ELBO (:func:`elbo`); ``samples=k``: the importance-weighted bound
    ``log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x)`` (Burda et al., 2016), tighter as ``k``
    grows. The noise comes from ``seed``, so the same seed gives the same numbers.
    """
    vae = _check_vae(model)
    if positive_int("samples", samples) == 1:
        return elbo(vae, images, seed)["elbo"]
    x = to_float(images)
    rng = np.random.default_rng(seed)
    per_call = max(1, BATCH // samples)  # images whose k draws go through the decoder at once
    bounds = []
    for i in range(0, len(x), per_call):
        batch = x[i : i + per_call]
        mean, log_var = vae.encoder(batch, training=False)  # (m, latent) each
        eps = rng.standard_normal((samples, len(batch), vae.latent_dim)).astype(np.float32)
        z = reparameterise(mean, log_var, eps)  # (k, m, latent)
        decoded = vae.decoder(tf.reshape(z, (-1, vae.latent_dim)), training=False)
        copies = tf.tile(batch, (samples, 1, 1, 1))  # row j * m + n: draw j of image n
        log_px = tf.reshape(log_likelihood(copies, decoded, vae.likelihood), (samples, -1))
        # log p(z) - log q(z | x): the Gaussians' normalising constants cancel
        log_ratio = 0.5 * tf.reduce_sum(eps**2 - tf.square(z) + log_var, axis=-1)
        weights = np.asarray(log_px + log_ratio, np.float64)  # (k, m)
        top = weights.max(axis=0)
        bounds.append(top + np.log(np.exp(weights - top).mean(axis=0)))
    return np.concatenate(bounds)


def bits_per_image(model: VAE, images, seed: int = 0, samples: int = 1) -> float:
    """The mean bound on ``-log2 p(x)`` over ``images``, in bits per image (see
    :func:`log_likelihood_bound`); for a Bernoulli VAE on binarised images, chapter 01's unit."""
    return float(-log_likelihood_bound(model, images, seed, samples).mean() / math.log(2.0))


def bits_per_dim(model: VAE, images, seed: int = 0, samples: int = 1) -> float:
    """:func:`bits_per_image` divided by the 784 pixels: an upper bound on ``-log2 p(x) / 784``
    of the 8-bit images (for a logistic VAE), comparable with any exact model of the 256 levels."""
    return bits_per_image(model, images, seed, samples) / PIXELS


__all__ = [
    "LIKELIHOODS",
    "PIXELS",
    "gaussian_kl",
    "discretized_logistic_log_prob",
    "bernoulli_log_prob",
    "binarise",
    "log_likelihood",
    "reparameterise",
    "build_encoder",
    "build_decoder",
    "VAE",
    "encode",
    "pictures",
    "decode",
    "reconstruct",
    "elbo",
    "log_likelihood_bound",
    "bits_per_image",
    "bits_per_dim",
]
