"""GAN losses, all computed from the discriminator's raw outputs (logits), never from probabilities.

Why logits: with :math:`D(x) = \\sigma(\\ell)`, the terms of the GAN objective are
:math:`-\\log \\sigma(\\ell) = \\operatorname{softplus}(-\\ell)` and
:math:`-\\log(1 - \\sigma(\\ell)) = \\operatorname{softplus}(\\ell)`. The softplus forms are exact
and finite for every logit. The naive forms are not: in float32 ``sigmoid(17)`` rounds to 1, so
``log(1 - sigmoid(17))`` is already ``-inf``, and ``log(sigmoid(-200))`` is ``-inf`` too; one such
image makes the batch loss infinite and its gradient NaN. Every function returns a float32 scalar
(the batch mean), even when the model ran in float16.

``LOSSES`` maps a name to a :class:`LossPair`: a discriminator loss, its generator loss and,
where the loss needs one, a regulariser of the discriminator (WGAN-GP's :func:`gradient_penalty`);
:func:`get_losses` looks one up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

from aigc_course._tf import keras, tf
from aigc_course.validate import one_of


def _f32(logits) -> tf.Tensor:
    return tf.cast(tf.convert_to_tensor(logits), tf.float32)


def discriminator_loss(real_logits, fake_logits) -> tf.Tensor:
    """Standard GAN discriminator loss (Goodfellow et al., 2014), minimised by D.

    ``L_D = -E_x[log D(x)] - E_z[log(1 - D(G(z)))]
          = E[softplus(-real_logits)] + E[softplus(fake_logits)]``

    The binary cross-entropy with label 1 for real and 0 for fake images. At logits 0 (D says
    50 %) it equals ``2 log 2``. With the best discriminator for a fixed generator it equals
    ``log 4 - 2 JSD(p_data || p_g)``, so it reaches ``log 4`` only when p_g = p_data.
    """
    return tf.reduce_mean(tf.nn.softplus(-_f32(real_logits))) + tf.reduce_mean(
        tf.nn.softplus(_f32(fake_logits))
    )


def generator_loss_saturating(fake_logits) -> tf.Tensor:
    """The minimax generator objective, as a loss G minimises (it is usually negative).

    ``L_G = E_z[log(1 - D(G(z)))] = -E[softplus(fake_logits)]``

    Its gradient with respect to a logit is ``-sigmoid(logit)``: when D confidently rejects the
    fakes (logit -> -inf, as early in training) the gradient vanishes and G learns nothing.
    That is why :func:`generator_loss` is the default.
    """
    return -tf.reduce_mean(tf.nn.softplus(_f32(fake_logits)))


def generator_loss(fake_logits) -> tf.Tensor:
    """Non-saturating generator loss (the default; Goodfellow et al., 2014, section 3).

    ``L_G = -E_z[log D(G(z))] = E[softplus(-fake_logits)]``

    Same fixed point as the minimax objective, but its gradient with respect to a logit is
    ``-sigmoid(-logit)``, which tends to -1 (not 0) when D rejects the fakes.
    """
    return tf.reduce_mean(tf.nn.softplus(-_f32(fake_logits)))


def lsgan_discriminator_loss(real_outputs, fake_outputs) -> tf.Tensor:
    """Least-squares GAN discriminator loss (Mao et al., 2017), on raw outputs, targets 1 and 0.

    ``L_D = 1/2 E_x[(D(x) - 1)^2] + 1/2 E_z[D(G(z))^2]``
    """
    real, fake = _f32(real_outputs), _f32(fake_outputs)
    return 0.5 * tf.reduce_mean(tf.square(real - 1.0)) + 0.5 * tf.reduce_mean(tf.square(fake))


def lsgan_generator_loss(fake_outputs) -> tf.Tensor:
    """Least-squares GAN generator loss (Mao et al., 2017): pull fakes to the "real" target 1.

    ``L_G = 1/2 E_z[(D(G(z)) - 1)^2]``
    """
    return 0.5 * tf.reduce_mean(tf.square(_f32(fake_outputs) - 1.0))


def wasserstein_critic_loss(real_scores, fake_scores) -> tf.Tensor:
    """Wasserstein GAN critic loss (Arjovsky et al., 2017), minimised by the critic f.

    ``L_f = E_z[f(G(z))] - E_x[f(x)]``

    Its negative estimates the Wasserstein-1 distance only if f is 1-Lipschitz: add
    :func:`gradient_penalty` (WGAN-GP) to enforce that softly.
    """
    return tf.reduce_mean(_f32(fake_scores)) - tf.reduce_mean(_f32(real_scores))


def wasserstein_generator_loss(fake_scores) -> tf.Tensor:
    """Wasserstein GAN generator loss: ``L_G = -E_z[f(G(z))]``."""
    return -tf.reduce_mean(_f32(fake_scores))


def gradient_penalty(critic, real, fake, weight: float = 10.0) -> tf.Tensor:
    """WGAN-GP gradient penalty (Gulrajani et al., 2017).

    ``GP = weight * E_{x_hat}[(||grad_{x_hat} f(x_hat)||_2 - 1)^2]``, with
    ``x_hat = eps * x + (1 - eps) * G(z)``, ``eps ~ U(0, 1)`` drawn once per example.

    ``critic`` is any callable from a batch of images to scores (a Keras model is called with
    ``training=True``); ``real`` and ``fake`` are batches of the same shape. It is zero for a
    critic whose gradient has norm 1 everywhere on the lines between real and fake samples.
    """
    real, fake = _f32(real), _f32(fake)
    if (
        real.shape.rank is None
        or real.shape.rank < 2
        or not real.shape.is_compatible_with(fake.shape)
    ):
        raise ValueError(
            "gradient_penalty needs real and fake batches of the same shape (batch first), "
            f"got {real.shape} and {fake.shape}"
        )
    if weight < 0:
        raise ValueError(f"weight must be >= 0, got {weight!r}")
    eps_shape = [tf.shape(real)[0]] + [1] * (real.shape.rank - 1)
    eps = tf.random.uniform(eps_shape, 0.0, 1.0)
    x_hat = eps * real + (1.0 - eps) * fake
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        scores = critic(x_hat, training=True) if isinstance(critic, keras.Layer) else critic(x_hat)
        scores = _f32(scores)
    grads = tape.gradient(scores, x_hat)
    norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=list(range(1, real.shape.rank))) + 1e-12)
    return weight * tf.reduce_mean(tf.square(norms - 1.0))


def hinge_discriminator_loss(real_logits, fake_logits) -> tf.Tensor:
    """Hinge discriminator loss (Lim & Ye 2017; Miyato et al. 2018, SN-GAN).

    ``L_D = E_x[max(0, 1 - D(x))] + E_z[max(0, 1 + D(G(z)))]``
    """
    return tf.reduce_mean(tf.nn.relu(1.0 - _f32(real_logits))) + tf.reduce_mean(
        tf.nn.relu(1.0 + _f32(fake_logits))
    )


def hinge_generator_loss(fake_logits) -> tf.Tensor:
    """Hinge generator loss: ``L_G = -E_z[D(G(z))]``."""
    return -tf.reduce_mean(_f32(fake_logits))


@dataclasses.dataclass(frozen=True)
class LossPair:
    """A discriminator loss, its matching generator loss, and the discriminator's regulariser.

    ``regularizer``, when a loss needs one, is added to the discriminator's loss as
    ``regularizer(discriminator, real, fake, weight)`` (WGAN-GP's gradient penalty); the trainer
    asks the pair, not the loss's name. Unpacks as ``d_loss, g_loss``.
    """

    discriminator: Callable[..., tf.Tensor]
    generator: Callable[..., tf.Tensor]
    regularizer: Callable[..., tf.Tensor] | None = None

    def __iter__(self) -> Iterator[Callable[..., tf.Tensor]]:
        return iter((self.discriminator, self.generator))


LOSSES: dict[str, LossPair] = {
    "non_saturating": LossPair(discriminator_loss, generator_loss),
    "minimax": LossPair(discriminator_loss, generator_loss_saturating),
    "lsgan": LossPair(lsgan_discriminator_loss, lsgan_generator_loss),
    "wgan_gp": LossPair(wasserstein_critic_loss, wasserstein_generator_loss, gradient_penalty),
    "hinge": LossPair(hinge_discriminator_loss, hinge_generator_loss),
}


def get_losses(name: str) -> LossPair:
    """The :class:`LossPair` called ``name`` (see ``LOSSES``)."""
    return LOSSES[one_of("loss", name, sorted(LOSSES))]
