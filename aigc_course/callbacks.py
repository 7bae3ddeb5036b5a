"""Keras callbacks of the training engine, for any model family.

* :class:`SampleGrid`: after each epoch, samples drawn with the *same* seed (a film of one set of
  digits improving), saved as a PNG grid (or, for text families, a text file);
* :class:`StopOnNaN`: stop at the first non-finite loss and say which checkpoint is kept;
* :class:`HistoryCSV`: one row per epoch, only the columns the model logs;
* :class:`FIDPerEpoch`: FID after each epoch beside the real-vs-real floor (image families);
* :class:`TimeBudget`: stop after a wall-clock budget (to compare families at equal minutes).

The checkpoint callback lives with the checkpoint format, in :mod:`aigc_course.checkpoint`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from aigc_course._tf import keras
from aigc_course.checkpoint import Checkpoint, nonfinite
from aigc_course.errors import ConfigError
from aigc_course.families import Family, get_family
from aigc_course.validate import number_in, positive_int


class SampleGrid(keras.callbacks.Callback):
    """After every ``every_epochs`` epochs, save ``n`` samples of the model being trained.

    The samples come from ``family.sample(model, n, seed, **options)`` with the same ``seed``
    every time, so for a GAN the grids show one fixed set of noise vectors turning into digits
    rather than a new random draw each epoch. Image families write ``out_dir/epoch_001.png``, ...
    (see :func:`aigc_course.plotting.save_image_grid`); text families ``epoch_001.txt``.
    ``show=True`` also displays each grid (or prints each text) in the notebook. Nothing is
    drawn for an epoch whose logs are not finite (:class:`StopOnNaN` says why).
    """

    def __init__(
        self,
        out_dir: str | Path,
        n: int = 64,
        seed: int = 0,
        family: str | Family = "gan",
        every_epochs: int = 1,
        show: bool = False,
        **options: Any,
    ):
        super().__init__()
        self.family = get_family(family)
        self.options = self.family.sample_defaults(**options)
        self.n = positive_int("n", n)
        self.seed = seed
        self.out_dir = Path(out_dir)
        self.every_epochs = positive_int("every_epochs", every_epochs)
        self.show = bool(show)
        self.paths: list[Path] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if (epoch + 1) % self.every_epochs or nonfinite(logs):
            return
        samples = self.family.sample(self.model, self.n, self.seed, **self.options)
        stem = self.out_dir / f"epoch_{epoch + 1:03d}"
        if self.family.data_kind == "text":
            from aigc_course.atomic import atomic_write

            text = "\n\n".join(samples) + "\n"
            path = atomic_write(stem.with_suffix(".txt"), lambda f: f.write(text.encode()))
            if self.show:
                print(f"samples after epoch {epoch + 1}:\n{text}")
        else:
            from aigc_course.plotting import save_image_grid

            path = save_image_grid(samples, stem.with_suffix(".png"))
            if self.show:
                from IPython.display import Image, display

                display(Image(data=path.read_bytes()))
        self.paths.append(path)


class StopOnNaN(keras.callbacks.Callback):
    """Stop training at the first NaN or infinite loss, and say where the last good checkpoint is.

    ``message`` then holds the explanation (the engine raises :class:`~aigc_course.errors.Diverged`
    with it); ``hint`` is the family's advice (e.g. lower the learning rates).
    """

    def __init__(self, checkpoint: Checkpoint | None = None, hint: str = "lower the learning rate"):
        super().__init__()
        self.checkpoint = checkpoint
        self.hint = hint
        self.message: str | None = None
        self.step = 0  # the training step that just ended, over the whole run

    def on_train_begin(self, logs=None) -> None:
        self.step = self.checkpoint.step if self.checkpoint is not None else self.step

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        self.step += 1
        bad = nonfinite(logs)
        if not bad or self.message:
            return
        step = self.step
        values = ", ".join(f"{k}={v}" for k, v in sorted(bad.items()))
        kept = "no checkpoint was saved yet"
        if self.checkpoint is not None and self.checkpoint.saved_step is not None:
            kept = (
                f"the last good checkpoint (step {self.checkpoint.saved_step}) is kept in "
                f"{self.checkpoint.directory}"
            )
        self.message = (
            f"Training stopped at step {step}: the losses are no longer finite ({values}); "
            f"{kept}. {self.hint[:1].upper()}{self.hint[1:]}."
        )
        print(self.message, file=sys.stderr)
        self.model.stop_training = True


class HistoryCSV(keras.callbacks.CSVLogger):
    """Keras' CSVLogger with only the columns this model logs (it adds empty ``val_*`` ones)."""

    def on_train_begin(self, logs=None) -> None:
        super().on_train_begin(logs)
        self.keys = sorted(m.name for m in self.model.metrics)


class TimeBudget(keras.callbacks.Callback):
    """Stop training once ``seconds`` of wall-clock time have passed since the first ``fit()``
    it was given to began: a resumed run may call ``fit()`` twice (the rest of the interrupted
    epoch, then the remaining epochs), and the budget covers both.

    The step in progress finishes; a :class:`~aigc_course.checkpoint.Checkpoint` then records
    the position within the epoch, so ``resume`` can continue the run later.
    """

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = number_in("seconds", seconds, 0, float("inf"), low_open=True)
        self.stopped = False
        self._start: float | None = None

    def on_train_begin(self, logs=None) -> None:
        if self._start is None:
            self._start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        if time.perf_counter() - self._start >= self.seconds:
            self.stopped = self.model.stop_training = True


class FIDPerEpoch(keras.callbacks.Callback):
    """Log ``fid`` after every ``every_epochs`` epochs of an image family's model.

    Losses of a GAN describe a two-player game that is meant to stay balanced; they do not say
    whether the samples improve. This callback measures that during ``fit()``: it draws ``n``
    samples with the same ``seed`` each time (``family.sample``), computes their Fréchet
    distance to a fixed set of ``n`` real images in the course classifier's features
    (:mod:`aigc_course.metrics`) and writes it into the epoch's logs as ``fid``, so Keras'
    progress line prints it and ``History`` keeps it. ``real_images`` are uint8 ``(N, 28, 28)``
    with ``N >= 2 * n``: two disjoint random sets of ``n`` are drawn with ``seed``
    (:func:`aigc_course.metrics.split_real`), one to compare against and one for the floor, the
    FID of real against real that a perfect generator would score, computed once at the start.
    After training, ``epochs`` and ``scores`` hold the measurements and ``floor`` the floor;
    ``plotting.plot_scores(cb.epochs, cb.scores, cb.floor)`` draws them.
    """

    def __init__(
        self,
        real_images: np.ndarray,
        n: int = 1000,
        dataset: str = "mnist",
        every_epochs: int = 1,
        seed: int = 0,
        classifier: keras.Model | None = None,
        family: str | Family = "gan",
    ):
        from aigc_course.metrics import split_real

        super().__init__()
        self.family = get_family(family)
        if self.family.data_kind != "images":
            raise ConfigError(f"FID measures images; the {self.family.name} family makes text")
        self.n = positive_int("n", n)
        self.every_epochs = positive_int("every_epochs", every_epochs)
        self._reference, self._other = split_real(real_images, self.n, seed)
        self.seed, self.dataset, self.classifier = seed, dataset, classifier
        self.floor: float | None = None
        self.epochs: list[int] = []
        self.scores: list[float] = []
        self._ref_features: np.ndarray | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        from aigc_course.metrics import features, frechet_distance, get_classifier

        if self.classifier is None:
            self.classifier = get_classifier(self.dataset, verbose=False)
        if self._ref_features is None:  # a second fit() call keeps the same reference
            self._ref_features = features(self._reference, classifier=self.classifier)
            other = features(self._other, classifier=self.classifier)
            self.floor = frechet_distance(other, self._ref_features)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        from aigc_course.metrics import features, frechet_distance

        if (epoch + 1) % self.every_epochs or nonfinite(logs):
            return  # a diverged model has no FID; StopOnNaN reports it
        images = self.family.sample(self.model, self.n, self.seed)
        score = frechet_distance(features(images, classifier=self.classifier), self._ref_features)
        self.epochs.append(epoch + 1)
        self.scores.append(score)
        if logs is not None:
            logs["fid"] = score


__all__ = ["SampleGrid", "StopOnNaN", "HistoryCSV", "TimeBudget", "FIDPerEpoch"]
