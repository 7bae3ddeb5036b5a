"""The VAE family: the variational autoencoder of :mod:`aigc_course.vae` as the engine trains it.

``aigc-course train --model vae --dataset fashion_mnist --profile cpu --out runs/vae`` trains
it; ``aigc-course sample --run runs/vae --n 64 --out s.png`` decodes ``z ~ N(0, I)``.
A run's export is ``vae.keras``: encoder and decoder in float32 inside one Keras model, with the
likelihood stored beside them in the same archive, so :meth:`VAEFamily.load_export` gives back
a :class:`~aigc_course.vae.VAE` that samples, encodes and scores like the trained one.
Evaluation: FID beside its real-vs-real floor, and the ELBO's bound on held-out test images in
bits per pixel of the 8-bit images (``bits_per_dim``) or, for the Bernoulli likelihood, in bits
per binarised image (``bits_per_binarised_image``, chapter 01's unit).
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from aigc_course import vae as maths
from aigc_course._tf import keras, tf
from aigc_course.errors import ConfigError
from aigc_course.families import Family
from aigc_course.profiles import Profile, dtype_policy
from aigc_course.vae import VAE, build_decoder, build_encoder
from aigc_course.validate import number_in, one_of, positive_int

#: The archive entry of the export that holds the likelihood.
EXPORT_META = "vae.json"


@dataclasses.dataclass(frozen=True, kw_only=True)
class VAEProfile(Profile):
    """Every knob of a VAE run (the common ones are :class:`Profile`'s).

    ``latent_dim``: size of ``z`` (2 for a latent space you can plot, 16-32 for good samples);
    ``width``: channels of the first convolution (the second has twice as many);
    ``likelihood``: ``"logistic"`` (8-bit pixels) or ``"bernoulli"`` (binarised pixels), see
    :mod:`aigc_course.vae`; Adam at ``learning_rate``.
    """

    latent_dim: int
    width: int
    likelihood: str = "logistic"
    learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int("latent_dim", self.latent_dim)
        positive_int("width", self.width)
        one_of("likelihood", self.likelihood, maths.LIKELIHOODS)
        number_in("learning_rate", self.learning_rate, 0, 1, low_open=True)


PROFILES: dict[str, VAEProfile] = {
    # CI: seconds; proves the pipeline runs end to end. A 2-D latent, like the chapter's plot.
    "smoke": VAEProfile(
        name="smoke", epochs=2, batch_size=32, latent_dim=2, width=4, examples_per_epoch=320,
        checkpoint_every_steps=4, preview_samples=16, eval_samples=256,
    ),
    # A 2-core laptop, about five minutes. Not tuned yet: widths, batch size, latent size,
    # learning rate, KL warm-up and free bits are still to be compared at equal time. Measured
    # on full Fashion-MNIST (AMD EPYC, 2 cores, float32, idle; benchmarks/families.py,
    # 2026-12-02): 948 steps in 300 s, FID 61.2 (1,000 samples, floor 1.17), 3.62 bits/dim
    # (ELBO bound on the 10,000 test images); after 60 s: 166 steps, FID 80.5, 4.02 bits/dim.
    "cpu": VAEProfile(
        name="cpu", epochs=10, batch_size=128, latent_dim=32, width=32,
        examples_per_epoch=30_720, checkpoint_every_steps=480, mixed_precision=True,
    ),
    # One GPU or more: a wider network, 100 passes over the data.
    "gpu": VAEProfile(
        name="gpu", epochs=100, batch_size=128, latent_dim=32, width=64, needs_gpu=True,
        jit_compile=True, mixed_precision=True, checkpoint_every_steps=2000, eval_samples=10_000,
    ),
}  # fmt: skip


def _networks(profile: VAEProfile) -> tuple[keras.Model, keras.Model]:
    return (
        build_encoder(profile.latent_dim, profile.width),
        build_decoder(profile.latent_dim, profile.width, profile.likelihood),
    )


def _vae_of(model: Any) -> VAE:
    if not isinstance(model, VAE):
        raise ConfigError(
            f"expected a VAE (trained, or loaded by load_export), got {type(model).__name__}"
        )
    return model


class VAEFamily(Family):
    """A convolutional VAE on 28x28 grey-scale images, trained on the ELBO with Adam."""

    name = "vae"
    profiles = PROFILES
    data_kind = "images"
    datasets = ("mnist", "fashion_mnist")
    export_name = "vae.keras"
    divergence_hint = "lower the learning rate"

    def config(self, profile: VAEProfile, dataset: str) -> dict[str, Any]:
        return {
            "latent_dim": profile.latent_dim,
            "width": profile.width,
            "likelihood": profile.likelihood,
        }

    def build(self, profile: VAEProfile, dataset: str) -> VAE:
        model = VAE(*_networks(profile), likelihood=profile.likelihood)
        model.compile(keras.optimizers.Adam(profile.learning_rate), jit_compile=profile.jit_compile)
        return model

    def data(self, dataset: str, profile: VAEProfile, seed: int) -> tuple[tf.data.Dataset, int]:
        from aigc_course.data import load_dataset, make_dataset

        images, _ = load_dataset(self.check_dataset(dataset), "train")
        stream = make_dataset(images, profile.batch_size, shuffle=True, seed=seed, repeat=True)
        return stream, len(images)

    def sample(self, model: Any, n: int, seed: int = 0, **options: Any) -> np.ndarray:
        """``n`` uint8 images: the decoder's centre (:func:`aigc_course.vae.pictures`) for
        ``z ~ N(0, I)`` drawn with ``seed``."""
        from aigc_course.inference import latent_noise

        self.sample_defaults(**options)  # no options: refuse any
        vae = _vae_of(model)
        return maths.decode(vae, latent_noise(n, vae.latent_dim, seed))

    def export(self, model: VAE, profile: VAEProfile, path: Path) -> None:
        encoder, decoder = model.encoder, model.decoder
        if decoder.compute_dtype != "float32":  # float32 weights run on any machine
            with dtype_policy("float32"):
                encoder, decoder = _networks(profile)
            encoder.set_weights(model.encoder.get_weights())
            decoder.set_weights(model.decoder.get_weights())
        images = keras.Input((28, 28, 1), name="images")
        mean, log_var = encoder(images)
        bundle = keras.Model(images, [mean, log_var, decoder(mean)], name="vae_export")
        bundle.save(path)
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(EXPORT_META, json.dumps({"likelihood": model.likelihood}))

    def load_export(self, path: Path) -> VAE:
        with zipfile.ZipFile(path) as archive:
            if EXPORT_META not in archive.namelist():
                raise ConfigError(f"{path} is not a VAE export: it has no {EXPORT_META}")
            meta = json.loads(archive.read(EXPORT_META))
        bundle = keras.saving.load_model(path, compile=False)
        return VAE(bundle.get_layer("encoder"), bundle.get_layer("decoder"), meta["likelihood"])

    def evaluate(self, model: Any, dataset: str, profile: VAEProfile, seed: int = 0) -> dict:
        """FID of ``eval_samples`` samples beside its floor
        (:func:`aigc_course.metrics.evaluate_images`), and the ELBO's bound on every test image:
        ``bits_per_dim`` (logistic) or ``bits_per_binarised_image`` (Bernoulli)."""
        from aigc_course.data import load_dataset
        from aigc_course.metrics import evaluate_images

        vae = _vae_of(model)
        scores = evaluate_images(self.sample(vae, profile.eval_samples, seed), dataset, seed)
        if vae.likelihood == "bernoulli":
            test, _ = load_dataset(dataset, "test", verbose=False)
            scores["bits_per_binarised_image"] = maths.bits_per_image(vae, test, seed)
        else:
            scores["bits_per_dim"] = self.bits_per_dim(vae, dataset, seed)
        return scores

    def bits_per_dim(self, model: Any, dataset: str, seed: int = 0) -> float | None:
        """The ELBO's bound in bits per dimension on every 8-bit test image; ``None`` for the
        Bernoulli likelihood, which models binarised images, not the 8-bit ones."""
        from aigc_course.data import load_dataset

        vae = _vae_of(model)
        if vae.likelihood == "bernoulli":
            return None
        test, _ = load_dataset(dataset, "test", verbose=False)
        return maths.bits_per_dim(vae, test, seed)

    def describe(self, profile: VAEProfile) -> str:
        return f"width {profile.width}, latent {profile.latent_dim}, {profile.likelihood} pixels"

    def headline(self, metrics: dict[str, Any]) -> str:
        line = super().headline(metrics)
        if "bits_per_binarised_image" in metrics:
            line += f"; held-out {metrics['bits_per_binarised_image']:.1f} bits/binarised image"
        return line


FAMILY = VAEFamily()

__all__ = ["VAEProfile", "PROFILES", "VAEFamily", "FAMILY"]
