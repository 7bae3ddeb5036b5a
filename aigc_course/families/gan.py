"""The GAN family: the course's DCGAN (:class:`aigc_course.gan.GAN`) as the engine trains it.

``aigc-course train --model gan --dataset mnist --profile cpu --out runs/mnist`` (or the older
``aigc-course train-gan ...``) and :func:`aigc_course.runs.train` use the profiles below. A run's
export is ``generator.keras``: the generator (its weight average when the profile keeps one) in
float32 with Keras' own layers, so it loads anywhere with ``keras.models.load_model``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from aigc_course._tf import keras, tf
from aigc_course.families import Family
from aigc_course.gan import GAN, check_update
from aigc_course.losses import get_losses
from aigc_course.profiles import Profile, dtype_policy
from aigc_course.validate import number_in, positive_int


@dataclasses.dataclass(frozen=True, kw_only=True)
class GANProfile(Profile):
    """Every knob of a GAN training run (the common ones are :class:`Profile`'s).

    ``width`` sizes the generator and, unless ``d_width`` is given, the discriminator too;
    ``loss`` names a pair in :data:`aigc_course.losses.LOSSES`; ``ema`` is the generator's weight
    average (0 = off); ``update`` and ``d_steps`` are :class:`~aigc_course.gan.GAN`'s.
    """

    latent_dim: int
    width: int
    d_width: int | None = None
    dropout: float = 0.3
    g_learning_rate: float = 2e-4
    d_learning_rate: float = 2e-4
    beta_1: float = 0.5
    loss: str = "non_saturating"
    d_steps: int = 1
    update: str = "alternating"
    ema: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        for field in ("latent_dim", "width", "d_steps"):
            positive_int(field, getattr(self, field))
        if self.d_width is not None:
            positive_int("d_width", self.d_width)
        for field in ("g_learning_rate", "d_learning_rate"):
            number_in(field, getattr(self, field), 0, 1, low_open=True)
        for field in ("beta_1", "dropout", "ema"):
            number_in(field, getattr(self, field), 0, 1)
        get_losses(self.loss)
        check_update(self.update, self.d_steps)

    @property
    def discriminator_width(self) -> int:
        return self.width if self.d_width is None else self.d_width


PROFILES: dict[str, GANProfile] = {
    # CI: a few seconds, proves the pipeline runs end to end; the samples are noise.
    "smoke": GANProfile(
        name="smoke", epochs=2, batch_size=32, latent_dim=16, width=8, examples_per_epoch=320,
        checkpoint_every_steps=4, preview_samples=16, eval_samples=256,
    ),
    # A 2-core laptop: about five minutes to recognisable digits and clothes (5,760 steps: ~3 min
    # in bfloat16, ~5 min in float32 with oneDNN, ~7-8 min with TensorFlow's plain kernels). On a
    # 2-core Xeon (AMX: bfloat16), Fashion-MNIST, FID with the course classifier after equal
    # steps: a generator twice as wide as the discriminator beat equal widths (9.8 vs 13.2 after
    # 6,000 steps), dropout in D only slowed it (and cost 25 % of the step time), averaging the
    # generator's weights gained ~0.7 (an average over ~200 steps, ema 0.995, ~0.3 more than over
    # ~900; over 2,000 it was worse), the hinge loss beat the cross-entropy (8.3 vs 9.1 after
    # 8,000 steps, means of 3 and 2 seeds; least squares: 12.8); a cosine learning-rate decay,
    # Adam 2e-4 or 7e-4, Adam beta_2 0.99 and a faster discriminator (1e-3) did not help, the
    # simultaneous update was worse at equal time, and so was batch 32. With these settings, FID
    # 7.2 after five minutes (median of 5 seeds, ~9,800 steps in bfloat16). See
    # benchmarks/README.md for the timings.
    "cpu": GANProfile(
        name="cpu", epochs=12, batch_size=64, latent_dim=64, width=64, d_width=32, dropout=0.0,
        examples_per_epoch=30_720, g_learning_rate=5e-4, d_learning_rate=5e-4, loss="hinge",
        ema=0.995, checkpoint_every_steps=480, mixed_precision=True,
    ),
    # One GPU or more: the full-size DCGAN, 50 passes over the data.
    "gpu": GANProfile(
        name="gpu", epochs=50, batch_size=128, latent_dim=100, width=64, needs_gpu=True,
        jit_compile=True, mixed_precision=True, checkpoint_every_steps=1000, eval_samples=10_000,
    ),
}  # fmt: skip


class GANFamily(Family):
    """A DCGAN on 28x28 grey-scale images, trained with two Adam optimizers."""

    name = "gan"
    profiles = PROFILES
    data_kind = "images"
    datasets = ("mnist", "fashion_mnist")
    export_name = "generator.keras"
    divergence_hint = "lower the learning rates or try another loss (e.g. loss='wgan_gp')"

    def config(self, profile: GANProfile, dataset: str) -> dict[str, Any]:
        return {
            "latent_dim": profile.latent_dim,
            "width": profile.width,
            "d_width": profile.discriminator_width,
            "loss": profile.loss,
            "ema": profile.ema,
        }

    def build(self, profile: GANProfile, dataset: str) -> GAN:
        from aigc_course.models import build_discriminator, build_generator

        gan = GAN(
            build_generator(profile.latent_dim, profile.width),
            build_discriminator(profile.discriminator_width, profile.dropout),
            latent_dim=profile.latent_dim,
            loss=profile.loss,
            d_steps=profile.d_steps,
            update=profile.update,
            ema=profile.ema,
        )
        gan.compile(
            d_optimizer=keras.optimizers.Adam(profile.d_learning_rate, beta_1=profile.beta_1),
            g_optimizer=keras.optimizers.Adam(profile.g_learning_rate, beta_1=profile.beta_1),
            jit_compile=profile.jit_compile,
        )
        return gan

    def data(self, dataset: str, profile: GANProfile, seed: int) -> tuple[tf.data.Dataset, int]:
        from aigc_course.data import load_dataset, make_dataset

        images, _ = load_dataset(dataset, "train")
        stream = make_dataset(images, profile.batch_size, shuffle=True, seed=seed, repeat=True)
        return stream, len(images)

    def sample(self, model: Any, n: int, seed: int = 0, **options: Any) -> np.ndarray:
        from aigc_course.inference import sample_images

        self.sample_defaults(**options)  # a GAN has no options: refuse any
        return sample_images(model.sampler if isinstance(model, GAN) else model, n, seed)

    def export(self, model: GAN, profile: GANProfile, path: Path) -> None:
        from aigc_course.models import build_generator, keras_only

        generator = averaged = model.sampler
        if generator.compute_dtype != "float32":  # float32 weights run on any machine
            with dtype_policy("float32"):
                generator = build_generator(profile.latent_dim, profile.width)
            generator.set_weights(averaged.get_weights())
        keras_only(generator).save(path)  # loads without aigc_course

    def load_export(self, path: Path) -> keras.Model:
        return keras.saving.load_model(path, compile=False)

    def evaluate(
        self, model: Any, dataset: str, profile: GANProfile, seed: int = 0
    ) -> dict[str, Any]:
        from aigc_course.metrics import evaluate_generator

        generator = model.sampler if isinstance(model, GAN) else model
        return evaluate_generator(generator, dataset, n=profile.eval_samples, seed=seed)

    def describe(self, profile: GANProfile) -> str:
        return (
            f"width G {profile.width} / D {profile.discriminator_width}, "
            f"latent {profile.latent_dim}"
        )


FAMILY = GANFamily()


def build_gan(profile: GANProfile, strategy: tf.distribute.Strategy | None = None) -> GAN:
    """A compiled :class:`GAN` with ``profile``'s networks and Adam optimizers, built under
    ``strategy`` (default: mirrored over several GPUs) and the profile's precision."""
    from aigc_course.runs import build_model

    return build_model(FAMILY, profile, FAMILY.datasets[0], strategy)


# --------------------------------------------------------------------------- format 2


def manifest_from_format_2(old: dict) -> dict:
    """A format-2 manifest (GAN checkpoints before model families existed) in today's form.

    Format 2 kept the data set and the profile's name inside ``config``; the profile is
    rebuilt from its name (``cpu`` for one that no longer exists) and the saved architecture.
    """
    config = dict(old["config"])
    dataset = config.pop("dataset")
    name = config.pop("profile", "cpu")
    profile = PROFILES.get(name, PROFILES["cpu"]).replace(
        name=name, latent_dim=config["latent_dim"], width=config["width"],
        d_width=config.get("d_width", config["width"]), loss=config["loss"],
        ema=config.get("ema", 0.0),
    )  # fmt: skip
    return {
        **old, "format": 3, "upgraded_from": 2, "family": "gan", "dataset": dataset,
        "config": FAMILY.config(profile, dataset), "profile": dataclasses.asdict(profile),
    }  # fmt: skip


def keys_from_format_2(gan: GAN) -> dict[str, str]:
    """Format 2's keys (``generator/003``: the fourth weight of the generator) -> today's."""
    from aigc_course.checkpoint import state_variables

    today = {id(var): key for key, var in state_variables(gan).items()}
    parts = {
        "generator": gan.generator.weights,
        "generator_average": gan.ema_weights,
        "discriminator": gan.discriminator.weights,
        "d_optimizer": gan.d_optimizer.variables,
        "g_optimizer": gan.g_optimizer.variables,
        "gan": [gan.step],
    }
    return {
        f"{part}/{i:03d}": today[id(var)]
        for part, variables in parts.items()
        for i, var in enumerate(variables)
    }


__all__ = ["GANProfile", "PROFILES", "GANFamily", "FAMILY", "build_gan"]
