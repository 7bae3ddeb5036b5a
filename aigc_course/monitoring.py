"""Watch a GAN learn: FID after every epoch, next to the floor that real data reaches.

Losses of a GAN describe a two-player game that is meant to stay balanced; they do not say
whether the samples improve. :class:`FIDPerEpoch` measures that directly during ``fit()``: after
every ``every_epochs`` epochs it generates ``n`` images from the *same* noise, computes their
Fréchet distance to a fixed set of ``n`` real images in the course's domain-classifier features
(:mod:`aigc_course.metrics`), and writes it into the epoch's logs as ``fid``, so Keras' progress
line prints it and ``History`` keeps it. The real-vs-real floor is computed once, at the start,
from a second, disjoint set of ``n`` real images: a perfect generator would score about that.
"""

from __future__ import annotations

import numpy as np

from aigc_course._tf import keras
from aigc_course.metrics import features, frechet_distance, get_classifier


class FIDPerEpoch(keras.callbacks.Callback):
    """Log ``fid`` after every ``every_epochs`` epochs of a :class:`aigc_course.training.GAN`.

    ``real_images`` are uint8 ``(N, 28, 28)`` training images with ``N >= 2 * n`` (two disjoint
    random sets of ``n`` are drawn with ``seed``: one to compare against, one for the floor).
    After training, ``epochs`` and ``scores`` hold the measurements and ``floor`` the
    real-vs-real value; ``plotting.plot_scores(cb.epochs, cb.scores, cb.floor)`` draws them.
    """

    def __init__(
        self,
        real_images: np.ndarray,
        n: int = 1000,
        dataset: str = "mnist",
        every_epochs: int = 1,
        seed: int = 0,
        classifier: keras.Model | None = None,
    ):
        super().__init__()
        for name, value in (("n", n), ("every_epochs", every_epochs)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if n < 2:
            raise ValueError(f"n must be at least 2 to estimate a covariance, got {n}")
        real = np.asarray(real_images)
        if real.dtype != np.uint8 or real.ndim != 3 or len(real) < 2 * n:
            raise ValueError(
                f"real_images must be uint8 (N, 28, 28) with N >= 2 * n = {2 * n}, got "
                f"{real.dtype} {real.shape}; pass more images or a smaller n"
            )
        rng = np.random.default_rng(seed)
        picks = rng.permutation(len(real))[: 2 * n]
        self._reference, self._other = real[np.sort(picks[:n])], real[np.sort(picks[n:])]
        self._noise_seed = seed
        self.n, self.dataset, self.every_epochs = n, dataset, every_epochs
        self.classifier = classifier
        self.floor: float | None = None
        self.epochs: list[int] = []
        self.scores: list[float] = []
        self._ref_features: np.ndarray | None = None

    def _features(self, images: np.ndarray) -> np.ndarray:
        return features(images, self.dataset, classifier=self.classifier)

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self.classifier is None:
            self.classifier = get_classifier(self.dataset, verbose=False)
        if self._ref_features is None:  # a second fit() call keeps the same reference
            self._ref_features = self._features(self._reference)
            other = self._features(self._other)
            self.floor = frechet_distance(other, self._ref_features)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if (epoch + 1) % self.every_epochs:
            return
        latent_dim = int(self.model.latent_dim)
        z = np.random.default_rng(self._noise_seed).standard_normal((self.n, latent_dim))
        z = z.astype(np.float32)
        generator = self.model.sampler  # the weight average when the GAN keeps one
        parts = [
            np.asarray(generator(z[i : i + 500], training=False)) for i in range(0, self.n, 500)
        ]
        images = np.concatenate(parts)
        if not np.isfinite(images).all():
            return  # a diverged generator has no FID; StopOnNaN reports it
        score = frechet_distance(self._features(images), self._ref_features)
        self.epochs.append(epoch + 1)
        self.scores.append(score)
        if logs is not None:
            logs["fid"] = score
