"""The PixelCNN family: an autoregressive model (自回归模型) of the images, with an exact likelihood.

The network, its masked convolutions and its sampler are in :mod:`aigc_course.pixelcnn`.
``aigc-course train --model pixelcnn --dataset fashion_mnist --profile cpu --out runs/pcnn``
trains it; ``aigc-course sample --run runs/pcnn --n 64 --out s.png --temperature 0.9`` draws
from it. :meth:`PixelCNNFamily.evaluate` reports the exact held-out **bits per dimension**
(``-log2 p(x) / 784`` on the 8-bit test images: the number a VAE's bound is compared with) beside FID and its real-vs-real floor, and how many images
per second the sampler draws. A run's export is ``pixelcnn.keras``: the whole model in
float32.

Why a PixelCNN and not chapter 08's Transformer over the pixels: every one of the 784
conditionals comes out of one convolutional pass in training (a Transformer over 784 tokens
pays attention over all pairs, ~600,000 of them, per layer), and sampling runs the network
only on the window a pixel depends on, so a 2-core laptop trains it in minutes and draws
1,000 images of the ``cpu`` profile's model in about a minute (65 s, measured on a shared,
loaded 2-core machine; 2 minutes under heavier load).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from aigc_course import pixelcnn
from aigc_course._tf import keras, tf
from aigc_course.families import Family, Option
from aigc_course.profiles import Profile, dtype_policy
from aigc_course.validate import number_in, positive_int


@dataclasses.dataclass(frozen=True, kw_only=True)
class PixelCNNProfile(Profile):
    """Every knob of a PixelCNN run (the common ones are :class:`Profile`'s).

    ``width`` channels in every layer; ``layers`` masked convolutions (the first, mask A, of
    size ``first_kernel``; the rest mask B, 3x3, residual); Adam at ``learning_rate`` with
    gradients clipped to global norm ``clipnorm``. :meth:`PixelCNNFamily.evaluate` scores
    ``eval_images`` held-out test images (None: all) and samples ``eval_samples`` for FID at
    ``temperature``.
    """

    width: int
    layers: int
    first_kernel: int = 7
    learning_rate: float = 1e-3
    clipnorm: float = 1.0
    eval_images: int | None = None
    temperature: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int("width", self.width)
        positive_int("layers", self.layers)
        pixelcnn.causal_mask(self.first_kernel, "A")  # an odd, positive size
        number_in("learning_rate", self.learning_rate, 0, 1, low_open=True)
        number_in("clipnorm", self.clipnorm, 0, float("inf"), low_open=True)
        number_in("temperature", self.temperature, 0, 10, low_open=True, high_open=False)
        if self.eval_images is not None:
            positive_int("eval_images", self.eval_images)


PROFILES: dict[str, PixelCNNProfile] = {
    # CI: seconds; proves the pipeline end to end. The samples are noise.
    "smoke": PixelCNNProfile(
        name="smoke", epochs=2, batch_size=16, width=8, layers=2, first_kernel=3,
        examples_per_epoch=64, checkpoint_every_steps=4, preview_samples=16, eval_samples=256,
        eval_images=256,
    ),
    # A 2-core laptop, five minutes. Chosen on full Fashion-MNIST by held-out bits/dim after 60 s
    # of training each, on a shared 2-core EPYC (no bf16, so float32) with load 7-9: width 32 x
    # 6 layers, batch 32, Adam 2e-3: 4.02; width 64: 5.04; 8 layers, batch 64: 5.34; width 48 x 5
    # layers, first kernel 5: 4.46 (the wider or deeper nets made too few steps). With
    # max_seconds=300 on that machine: 280 steps, held-out 3.51 bits/dim, FID 56.1 (floor 1.17,
    # 1,000 samples), sampling 15 images/s; after 60 s: 28 steps, 4.48 bits/dim, FID 165.
    # On the same machine idle (benchmarks/families.py, 2026-12-02): 1,070 steps in 300 s,
    # 3.23 bits/dim on all 10,000 test images, FID 71.1 (1,000 samples), 37 images/s. So the 4
    # epochs of 300 steps take about 5.6 minutes there.
    "cpu": PixelCNNProfile(
        name="cpu", epochs=4, batch_size=32, width=32, layers=6, examples_per_epoch=9_600,
        learning_rate=2e-3, checkpoint_every_steps=300, eval_samples=1000, eval_images=2000,
    ),
    # One GPU or more: a wider, deeper stack for 30 passes over the data.
    "gpu": PixelCNNProfile(
        name="gpu", epochs=30, batch_size=128, width=128, layers=12, needs_gpu=True,
        jit_compile=True, mixed_precision=True, checkpoint_every_steps=2000,
        eval_samples=10_000,
    ),
}  # fmt: skip


def pixel_dataset(images: np.ndarray, batch_size: int, seed: int = 0) -> tf.data.Dataset:
    """A repeated, shuffled stream of ``(pixels float32 (B, 28, 28, 1) 0..255, targets int32
    (B, 28, 28))``: the model reads the pixels and predicts each of them from those before."""
    ds = tf.data.Dataset.from_tensor_slices(images).cache()
    ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=True).repeat()
    ds = ds.map(lambda x: (tf.cast(x, tf.float32)[..., None], tf.cast(x, tf.int32)),
                num_parallel_calls=tf.data.AUTOTUNE)  # fmt: skip
    return ds.prefetch(tf.data.AUTOTUNE)


class PixelCNNFamily(Family):
    """A PixelCNN on 28x28 grey-scale images: 784 softmaxes over 256 values, in raster order."""

    name = "pixelcnn"
    profiles = PROFILES
    data_kind = "images"
    datasets = ("mnist", "fashion_mnist")
    export_name = "pixelcnn.keras"
    sample_options = (
        Option("temperature", float, 1.0, "divide the logits by this (below 1: sharper, fewer "
               "stray pixels, less variety; 1: the model's own distribution)"),
    )  # fmt: skip

    def config(self, profile: PixelCNNProfile, dataset: str) -> dict[str, Any]:
        return {"width": profile.width, "layers": profile.layers,
                "first_kernel": profile.first_kernel}  # fmt: skip

    def build(self, profile: PixelCNNProfile, dataset: str) -> keras.Model:
        model = pixelcnn.build_pixelcnn(profile.width, profile.layers, profile.first_kernel)
        optimizer = keras.optimizers.Adam(profile.learning_rate, global_clipnorm=profile.clipnorm)
        model.compile(optimizer=optimizer, loss=pixelcnn.bits_per_dim_loss,
                      jit_compile=profile.jit_compile)  # fmt: skip
        model.optimizer.build(model.trainable_variables)
        return model

    def data(self, dataset: str, profile: PixelCNNProfile, seed: int):
        from aigc_course.data import load_dataset

        images, _ = load_dataset(self.check_dataset(dataset), "train")
        return pixel_dataset(images, profile.batch_size, seed), len(images)

    def sample(self, model: keras.Model, n: int, seed: int = 0, **options: Any) -> np.ndarray:
        options = self.sample_defaults(**options)
        return pixelcnn.sample(model, n, seed, temperature=options["temperature"])

    def export(self, model: keras.Model, profile: PixelCNNProfile, path: Path) -> None:
        if model.compute_dtype != "float32":  # float32 weights run on any machine
            with dtype_policy("float32"):
                copy = pixelcnn.build_pixelcnn(profile.width, profile.layers, profile.first_kernel)
            copy.set_weights(model.get_weights())
            model = copy
        model.save(path)

    def load_export(self, path: Path) -> keras.Model:
        return keras.saving.load_model(path, compile=False)

    def evaluate(self, model: keras.Model, dataset: str, profile: PixelCNNProfile,
                 seed: int = 0) -> dict[str, Any]:  # fmt: skip
        """Exact bits per dimension of ``eval_images`` held-out test images; FID of
        ``eval_samples`` samples beside its floor (:func:`aigc_course.metrics.evaluate_images`);
        the sampler's speed."""
        from aigc_course.data import load_dataset
        from aigc_course.metrics import evaluate_images

        test, _ = load_dataset(self.check_dataset(dataset), "test", verbose=False)
        held_out = test[: profile.eval_images]
        bits = pixelcnn.bits_per_dim(model, held_out)
        start = time.perf_counter()
        images = self.sample(model, profile.eval_samples, seed, temperature=profile.temperature)
        seconds = time.perf_counter() - start
        scores = evaluate_images(images, dataset, seed, verbose=False)
        scores.update(bits_per_dim=bits, eval_images=len(held_out),
                      images_per_second=profile.eval_samples / seconds)  # fmt: skip
        return scores

    def bits_per_dim(self, model: keras.Model, dataset: str) -> float:
        """Exact held-out bits per dimension on every 8-bit test image of ``dataset`` (the
        bench's number; ``evaluate`` scores the profile's first ``eval_images``)."""
        from aigc_course.data import load_dataset

        test, _ = load_dataset(self.check_dataset(dataset), "test", verbose=False)
        return pixelcnn.bits_per_dim(model, test)

    def describe(self, profile: PixelCNNProfile) -> str:
        return (
            f"{profile.layers} masked convolutions x width {profile.width}, first kernel "
            f"{profile.first_kernel}x{profile.first_kernel}, 256-way softmax per pixel"
        )

    def headline(self, metrics: dict[str, Any]) -> str:
        line = super().headline(metrics)
        if "images_per_second" in metrics:
            line += f"; sampling {metrics['images_per_second']:.1f} images/s"
        return line


FAMILY = PixelCNNFamily()

__all__ = ["PixelCNNProfile", "PROFILES", "PixelCNNFamily", "FAMILY", "pixel_dataset"]
