"""A denoising diffusion model trained by ``fit()``: the model of the diffusion family.

:class:`DiffusionModel` wraps a U-Net (:func:`aigc_course.unet.build_unet`) in a ``keras.Model``
whose ``train_step`` is one step of Ho et al.'s (2020) algorithm: take a batch of clean images
``x0`` with their labels, pick a time step ``t`` and noise ``eps`` for each, make
``x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps`` in closed form (chapter 02) and
regress the network's output onto what it should predict. Options the ``cpu`` profile uses to
learn fast on a laptop (each measured, see ``benchmarks/README.md``):

* the **cosine schedule** (Nichol & Dhariwal, 2021) and the **v-prediction** target
  ``v = sqrt(a) eps - sqrt(1 - a) x0`` (Salimans & Ho, 2022), well-behaved at both ends of the
  schedule where predicting ``eps`` (at ``t ~ T``) or ``x0`` (at ``t ~ 0``) is ill-posed;
* the **min-SNR** loss weighting (Hang et al., 2023): every ``t`` weighted as in the ``x0``
  error, capped at a signal-to-noise ratio of ``min_snr_gamma`` so that the nearly clean steps,
  easy and many, do not dominate the gradient;
* time steps drawn **stratified** over the batch (one per slice of ``1 .. T``), a cheap
  variance reduction;
* **class labels with label dropout**: with probability ``label_dropout`` the label is replaced
  by "no label", so one network learns both ``p(x | y)`` and ``p(x)``, which classifier-free
  guidance (Ho & Salimans, 2022) combines at sampling time;
* an **exponential moving average** (EMA) of the weights, ``avg = d avg + (1 - d) w`` with
  ``d = min(ema, (1 + t) / (10 + t))`` (short while the first, poor weights are recent): the
  averaged network is the one to sample from (:attr:`DiffusionModel.sampler`).

:func:`sample` draws images with DDPM's ancestral sampler (every one of the ``T`` steps) or DDIM
(any number of steps, deterministic at ``eta = 0``), with or without guidance.
"""

from __future__ import annotations

import numpy as np

from aigc_course import diffusion as maths
from aigc_course._tf import keras, tf
from aigc_course.errors import ConfigError
from aigc_course.gan import _loss_scaled
from aigc_course.samplers import Denoiser, _unit_interval

WEIGHTINGS = ("uniform", "min_snr")


def loss_weights(snr, prediction: str, weighting: str, gamma: float = 5.0):
    """Per-example weights of the squared error of ``prediction`` at signal-to-noise ``snr``.

    The squared error of ``x0`` is ``1 / snr`` times that of ``eps`` and ``1 / (snr + 1)`` times
    that of ``v``. ``"uniform"`` weights every example 1 in the predicted quantity (Ho et al.'s
    "simple" loss for ``eps``); ``"min_snr"`` weights the ``x0`` error by ``min(snr, gamma)``,
    expressed in the quantity predicted. Works on NumPy arrays and tensors.
    """
    if weighting == "uniform":
        return snr * 0.0 + 1.0
    if weighting != "min_snr":
        raise ConfigError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    capped = tf.minimum(snr, gamma) if tf.is_tensor(snr) else np.minimum(snr, gamma)
    if prediction == "eps":
        return capped / snr
    if prediction == "v":
        return capped / (snr + 1.0)
    if prediction == "x0":
        return capped
    raise ConfigError(
        f"prediction must be one of {', '.join(maths.PREDICTIONS)}, got {prediction!r}"
    )


class DiffusionModel(keras.Model):
    """A denoising network trained by ``fit()`` on ``(images, labels)`` batches.

    ``unet`` maps ``[x_t, t, y]`` to an image-shaped prediction of ``prediction`` (``"eps"``,
    ``"x0"`` or ``"v"``); ``betas`` is the noise schedule (``T = len(betas)``, 1-based ``t``);
    ``num_classes = 0`` trains an unconditional model. See the module docstring for the rest.
    Logged metric: ``loss`` (the weighted mean squared error, averaged over the epoch so far).
    """

    def __init__(
        self,
        unet: keras.Model,
        betas,
        prediction: str = "v",
        weighting: str = "min_snr",
        min_snr_gamma: float = 5.0,
        num_classes: int = 10,
        label_dropout: float = 0.1,
        ema: float = 0.999,
        **kwargs,
    ):
        super().__init__(**{"name": "diffusion", **kwargs})
        if prediction not in maths.PREDICTIONS:
            raise ConfigError(
                f"prediction must be one of {', '.join(maths.PREDICTIONS)}, got {prediction!r}"
            )
        loss_weights(np.ones(1), prediction, weighting, min_snr_gamma)  # validates both
        self.betas = maths._check_betas(betas)
        self.timesteps = len(self.betas)
        self.alpha_bars = maths.alpha_bar_table(self.betas)  # float64, index t = 0 .. T
        self._alpha_bars = tf.constant(self.alpha_bars, "float32")
        self.prediction, self.weighting = prediction, weighting
        self.min_snr_gamma = float(min_snr_gamma)
        self.num_classes = int(num_classes)
        self.label_dropout = _unit_interval("label_dropout", label_dropout)
        self.ema = _unit_interval("ema", ema)
        self.unet = unet
        # The average is a second U-Net (layer names prefixed, so every variable path is unique).
        self.ema_unet = keras.models.clone_model(
            unet, clone_function=lambda layer: layer.__class__.from_config(
                {**layer.get_config(), "name": f"ema_{layer.name}"}))  # fmt: skip
        self.ema_unet.set_weights(unet.get_weights())
        self.ema_unet.trainable = False
        self.step = keras.Variable(
            0, dtype="int64", trainable=False, aggregation="only_first_replica", name="step"
        )
        self.loss_tracker = keras.metrics.Mean(name="loss")
        # A sampling view, not state: kept out of Keras' attribute tracking (see GAN.sampler).
        object.__setattr__(self, "_denoiser", None)
        self.built = True

    def call(self, inputs, training: bool = False):
        """The network's prediction for ``[x_t, t, y]``."""
        return self.unet(inputs, training=training)

    @property
    def sampler(self) -> keras.Model:
        """The network to sample from: the weight average when ``ema > 0``."""
        return self.ema_unet if self.ema else self.unet

    @property
    def metrics(self) -> list:
        return [self.loss_tracker]

    def compile(self, optimizer: keras.optimizers.Optimizer, jit_compile: bool | str = False,
                **kwargs) -> None:  # fmt: skip
        """Attach the optimizer (wrapped in a loss-scale optimizer when computing in float16)."""
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise ValueError(f"optimizer must be a keras optimizer, got {type(optimizer).__name__}")
        optimizer = _loss_scaled(optimizer, self.unet)
        super().compile(optimizer=optimizer, jit_compile=jit_compile, **kwargs)
        if not self.optimizer.built:  # compiled again (e.g. with XLA switched): same variables
            self.optimizer.build(self.unet.trainable_variables)

    def noisy_batch(self, x0, t, eps):
        """``x_t`` in closed form and the target the network should output for it."""
        a = tf.reshape(tf.gather(self._alpha_bars, t), (-1, 1, 1, 1))
        x_t = tf.sqrt(a) * x0 + tf.sqrt(1.0 - a) * eps
        return x_t, maths.target(x0, eps, a, self.prediction)

    def train_step(self, data):
        x0, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        x0 = tf.cast(x0, "float32")
        batch = tf.shape(x0)[0]
        # Stratified time steps: one from each of `batch` equal slices of 1..T, in random order.
        u = (tf.cast(tf.range(batch), "float32") + tf.random.uniform((batch,))) / tf.cast(
            batch, "float32"
        )
        t = tf.random.shuffle(
            1 + tf.minimum(tf.cast(u * self.timesteps, "int32"), self.timesteps - 1)
        )
        eps = tf.random.normal(tf.shape(x0))
        x_t, goal = self.noisy_batch(x0, t, eps)
        a = tf.gather(self._alpha_bars, t)
        weights = loss_weights(a / (1.0 - a), self.prediction, self.weighting, self.min_snr_gamma)
        y = tf.cast(labels, "int32")
        if self.num_classes and self.label_dropout:
            y = tf.where(tf.random.uniform((batch,)) < self.label_dropout, self.num_classes, y)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            out = tf.cast(self.unet([x_t, tf.cast(t, "float32"), y], training=True), "float32")
            loss = tf.reduce_mean(weights * tf.reduce_mean(tf.square(out - goal), axis=[1, 2, 3]))
            scaled = self.optimizer.scale_loss(loss / replicas)
        variables = self.unet.trainable_variables
        grads = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(grads, variables, strict=True))
        self.step.assign_add(1)
        if self.ema:
            self._update_ema()
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def _update_ema(self) -> None:
        step = tf.cast(self.step, "float32")
        decay = tf.minimum(self.ema, (1.0 + step) / (10.0 + step))
        for avg, w in zip(self.ema_unet.weights, self.unet.weights, strict=True):
            avg.assign(decay * avg + (1.0 - decay) * w)

    @property
    def denoiser(self) -> Denoiser:
        """What the samplers need: the network to sample from and how to read its output.

        One per model, so its compiled prediction function is traced once, not per call.
        """
        if self._denoiser is None or self._denoiser.net is not self.sampler:
            denoiser = Denoiser(self.sampler, self.betas, self.prediction, self.num_classes)
            object.__setattr__(self, "_denoiser", denoiser)
        return self._denoiser


class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to ``peak`` over ``warmup`` steps, then constant or cosine decay to 0 at
    ``total`` steps."""

    def __init__(self, peak: float, warmup: int, total: int, decay: str = "constant"):
        self.peak, self.warmup, self.total, self.decay = float(peak), int(warmup), int(total), decay

    def __call__(self, step):
        step = tf.cast(step, "float32")
        rate = self.peak * tf.minimum(1.0, (step + 1.0) / max(self.warmup, 1))
        if self.decay == "cosine":
            done = tf.clip_by_value(
                (step - self.warmup) / max(self.total - self.warmup, 1), 0.0, 1.0
            )
            rate = rate * 0.5 * (1.0 + tf.cos(np.pi * done))
        return rate

    def get_config(self) -> dict:
        return {"peak": self.peak, "warmup": self.warmup, "total": self.total, "decay": self.decay}
