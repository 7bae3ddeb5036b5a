"""A GAN trained by Keras' ``fit``: two players, two optimizers, one ``train_step``.

:class:`GAN` wraps a generator and a discriminator in one ``keras.Model`` whose ``train_step``
makes one discriminator update and one generator update, each player with its own loss and its
own optimizer. Because it is an ordinary Keras model, ``fit()`` brings progress bars, callbacks,
XLA (``jit_compile``) and ``tf.distribute`` for free. :mod:`aigc_course.families.gan` plugs it
into the course's training engine (profiles, checkpoints, ``aigc-course train --model gan``).
"""

from __future__ import annotations

from aigc_course._tf import keras, tf
from aigc_course.errors import ConfigError
from aigc_course.losses import get_losses
from aigc_course.validate import number_in, one_of, positive_int

UPDATES = ("alternating", "simultaneous")


def check_update(update: object, d_steps: int) -> str:
    """``update`` if it is a known update rule that allows ``d_steps`` discriminator steps."""
    one_of("update", update, UPDATES)
    if update == "simultaneous" and d_steps != 1:
        raise ConfigError(
            f"update='simultaneous' takes one step for each player; d_steps={d_steps} needs "
            "update='alternating'"
        )
    return update  # type: ignore[return-value]


def _loss_scaled(optimizer: keras.optimizers.Optimizer, model: keras.Model):
    """Wrap ``optimizer`` in a LossScaleOptimizer when ``model`` computes in float16."""
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer
    if any(layer.compute_dtype == "float16" for layer in model.layers):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


class GAN(keras.Model):
    """A generator and a discriminator trained against each other by ``fit()``.

    With ``update="alternating"`` (the default, as in Goodfellow et al., 2014) each
    ``train_step`` makes ``d_steps`` discriminator updates (on the real batch and fresh fakes)
    and then one generator update (on fresh noise, through the *updated* discriminator).
    ``update="simultaneous"`` is the TensorFlow DCGAN tutorial's step: one batch of fakes, both
    players' gradients taken at the same weights, then both updates; it does about a third less
    work per step, but each player reacts to the other's previous move rather than its latest.
    Each player differentiates only its own loss with respect to only its own variables and is
    updated by its own optimizer, so neither player's step touches the other's weights.

    ``ema > 0`` also keeps an exponential moving average of the generator's weights, updated
    after every step ``t`` as ``avg = d * avg + (1 - d) * w`` with ``d = min(ema, (1 + t) / (10 +
    t))``: the average of recent generators draws cleaner samples than the latest one, which
    jitters with every update (Yazıcı et al., 2019). The warm-up term keeps the average short
    while the early, poor generators are still recent: it covers roughly the last ``t / 9``
    steps until that reaches ``1 / (1 - ema)`` (step ~9,000 for ``ema=0.999``). :attr:`sampler`
    is the model to draw from.

    ``loss`` names a :class:`~aigc_course.losses.LossPair` from
    :data:`aigc_course.losses.LOSSES`; a pair with a regulariser (``"wgan_gp"``: the gradient
    penalty) adds it, times ``gp_weight``, to the discriminator's loss. The discriminator must
    return logits.

    Logged metrics (averaged over the epoch so far): ``d_loss``, ``g_loss``, ``d_real`` (mean
    sigmoid(D(x)), the probability D gives real images) and ``d_fake`` (the same for fakes). For
    the Wasserstein and hinge losses the outputs are scores, not logits, so ``d_real``/``d_fake``
    only show the direction in which D separates the two sets.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        latent_dim: int,
        loss: str = "non_saturating",
        d_steps: int = 1,
        gp_weight: float = 10.0,
        update: str = "alternating",
        ema: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(generator, keras.Model) or not isinstance(discriminator, keras.Model):
            raise ConfigError(
                "GAN needs two Keras models, e.g. GAN(build_generator(), build_discriminator(), "
                f"latent_dim=100); got {type(generator).__name__} and {type(discriminator).__name__}"
            )
        if generator is discriminator:
            raise ConfigError("the generator and the discriminator must be two different models")
        self.latent_dim = positive_int("latent_dim", latent_dim)
        self.d_steps = positive_int("d_steps", d_steps)
        self.update = check_update(update, self.d_steps)
        self.gp_weight = number_in("gp_weight", gp_weight, 0, float("inf"))
        self.loss_pair = get_losses(loss)
        self.loss_name = loss
        self.generator = generator
        self.discriminator = discriminator
        # One per train_step, even when a loss-scale optimizer skips an update.
        self.step = keras.Variable(
            0, dtype="int64", trainable=False, aggregation="only_first_replica", name="step"
        )
        self.ema = number_in("ema", ema, 0, 1)
        # The average lives in plain variables (checkpointed with the step counter); the
        # sampler model is a copy of the generator that receives them when it is asked for.
        self.ema_weights = [
            keras.Variable(w.numpy(), dtype="float32", trainable=False,
                           aggregation="only_first_replica", name=f"ema_{i}")
            for i, w in enumerate(generator.weights)
        ] if self.ema else []  # fmt: skip
        self._ema_model: keras.Model | None = None
        self.trackers = {
            name: keras.metrics.Mean(name=name) for name in ("d_loss", "g_loss", "d_real", "d_fake")
        }
        self.built = True  # both players are built; fit() must not trace call() on images

    def call(self, z, training: bool = False):
        """Generate images from noise ``z`` of shape ``(B, latent_dim)``."""
        return self.generator(z, training=training)

    @property
    def sampler(self) -> keras.Model:
        """The generator to draw samples from: the weight average if ``ema > 0``, else itself."""
        if not self.ema:
            return self.generator
        if self._ema_model is None:  # Keras' own layers: a saved sampler loads anywhere
            from aigc_course.models import keras_only

            # A view for sampling, not part of the GAN's state: bypass Keras' attribute tracking,
            # which would add its weights (a copy of the generator's) to the GAN's own.
            object.__setattr__(self, "_ema_model", keras_only(self.generator))
        self._ema_model.set_weights([v.numpy() for v in self.ema_weights])
        return self._ema_model

    def _update_ema(self) -> None:
        step = tf.cast(self.step, "float32")
        decay = tf.minimum(self.ema, (1.0 + step) / (10.0 + step))  # warm-up: follow early on
        for avg, w in zip(self.ema_weights, self.generator.weights, strict=True):
            avg.assign(decay * avg + (1.0 - decay) * tf.cast(w, "float32"))

    def compile(
        self,
        d_optimizer: keras.optimizers.Optimizer,
        g_optimizer: keras.optimizers.Optimizer,
        jit_compile: bool | str = False,
        **kwargs,
    ) -> None:
        """Attach one optimizer per player. ``jit_compile=True`` compiles the step with XLA.

        Optimizers of players that compute in float16 (a ``mixed_float16`` policy) are wrapped
        in ``keras.optimizers.LossScaleOptimizer`` so small gradients do not underflow.
        """
        for name, opt in (("d_optimizer", d_optimizer), ("g_optimizer", g_optimizer)):
            if not isinstance(opt, keras.optimizers.Optimizer):
                raise ConfigError(
                    f"{name} must be a keras optimizer, e.g. keras.optimizers.Adam(2e-4, beta_1=0.5); "
                    f"got {type(opt).__name__}"
                )
        if d_optimizer is g_optimizer:
            raise ConfigError(
                "each player needs its own optimizer (their moment estimates must not mix): "
                "pass two separate instances"
            )
        # No model-wide optimizer: each player has its own (and a checkpoint holds just those).
        super().compile(optimizer=None, jit_compile=jit_compile, **kwargs)
        self.d_optimizer = _loss_scaled(d_optimizer, self.discriminator)
        self.g_optimizer = _loss_scaled(g_optimizer, self.generator)
        # Build the slots now, so a checkpoint can be restored before the first step.
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    @property
    def metrics(self) -> list:
        return list(self.trackers.values())

    def _noise(self, batch_size) -> tf.Tensor:
        return tf.random.normal((batch_size, self.latent_dim))

    def _d_loss(self, real, fake, real_logits, fake_logits):
        d_loss = self.loss_pair.discriminator(real_logits, fake_logits)
        regularizer = self.loss_pair.regularizer
        if regularizer is not None:
            d_loss += regularizer(self.discriminator, real, fake, self.gp_weight)
        return d_loss

    def _logits(self, images):
        return tf.cast(self.discriminator(images, training=True), "float32")

    @staticmethod
    def _apply(optimizer, tape, scaled_loss, variables) -> None:
        grads = tape.gradient(scaled_loss, variables)
        optimizer.apply_gradients(zip(grads, variables, strict=True))

    def train_step(self, data):
        real = data[0] if isinstance(data, tuple | list) else data
        real = tf.cast(real, "float32")
        batch_size = tf.shape(real)[0]
        # Under tf.distribute each replica sees part of the batch and the optimizer sums the
        # replicas' gradients, so each replica's loss is divided by the number of replicas.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        g_loss_fn = self.loss_pair.generator
        d_vars = self.discriminator.trainable_variables
        g_vars = self.generator.trainable_variables

        if self.update == "simultaneous":
            with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
                fake = self.generator(self._noise(batch_size), training=True)
                real_logits, fake_logits = self._logits(real), self._logits(fake)
                d_loss = self._d_loss(real, fake, real_logits, fake_logits)
                g_loss = g_loss_fn(fake_logits)
                d_scaled = self.d_optimizer.scale_loss(d_loss / replicas)
                g_scaled = self.g_optimizer.scale_loss(g_loss / replicas)
            # Both gradients first, at the same weights; then both updates.
            d_grads = d_tape.gradient(d_scaled, d_vars)
            g_grads = g_tape.gradient(g_scaled, g_vars)
            self.d_optimizer.apply_gradients(zip(d_grads, d_vars, strict=True))
            self.g_optimizer.apply_gradients(zip(g_grads, g_vars, strict=True))
        else:
            for _ in range(self.d_steps):
                fake = self.generator(self._noise(batch_size), training=True)
                with tf.GradientTape() as tape:
                    real_logits, fake_logits = self._logits(real), self._logits(fake)
                    d_loss = self._d_loss(real, fake, real_logits, fake_logits)
                    scaled = self.d_optimizer.scale_loss(d_loss / replicas)
                self._apply(self.d_optimizer, tape, scaled, d_vars)
            with tf.GradientTape() as tape:
                fake = self.generator(self._noise(batch_size), training=True)
                g_loss = g_loss_fn(self._logits(fake))
                scaled = self.g_optimizer.scale_loss(g_loss / replicas)
            self._apply(self.g_optimizer, tape, scaled, g_vars)
        self.step.assign_add(1)
        if self.ema:
            self._update_ema()

        self.trackers["d_loss"].update_state(d_loss)
        self.trackers["g_loss"].update_state(g_loss)
        self.trackers["d_real"].update_state(tf.reduce_mean(tf.sigmoid(real_logits)))
        self.trackers["d_fake"].update_state(tf.reduce_mean(tf.sigmoid(fake_logits)))
        return {name: m.result() for name, m in self.trackers.items()}


__all__ = ["GAN", "UPDATES", "check_update"]
