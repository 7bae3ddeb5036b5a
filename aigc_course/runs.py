"""Training runs for any model family: train, resume, sample, evaluate.

:func:`train` is the one-call trainer behind the notebooks and ``aigc-course train``: it picks
the family's profile (``smoke`` for CI, ``cpu`` for a laptop, ``gpu`` for a full run), writes a
run folder and can resume it after a crash or Ctrl-C::

    runs/NAME/
        checkpoints/checkpoint.npz   every variable by path, step, epoch (written atomically)
        checkpoints/manifest.json    the same manifest, readable by people
        samples/epoch_001.png ...    samples from the same seed after every epoch (.txt for text)
        history.csv                  one row per epoch (appended to on resume)
        generator.keras ...          the family's export (``Family.export_name``)
        metrics.json                 the family's scores (FID beside its floor, bits, ...)

:func:`load_run`, :func:`sample_run` and :func:`evaluate_run` use a finished (or interrupted)
run. None of this code knows any one family: see :mod:`aigc_course.families`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from aigc_course._tf import keras, tf
from aigc_course.atomic import atomic_path, atomic_write
from aigc_course.callbacks import HistoryCSV, SampleGrid, StopOnNaN, TimeBudget
from aigc_course.checkpoint import (
    Checkpoint,
    check_compatible,
    read_manifest,
    restore,
    run_identity,
)
from aigc_course.errors import ConfigError, Diverged, NotFoundError
from aigc_course.families import Family, get_family
from aigc_course.profiles import (
    Profile,
    distribution_strategy,
    dtype_policy,
    fit_to_strategy,
    get_profile,
    precision_policy,
    require_gpu_if_needed,
)
from aigc_course.validate import integer, number_in, positive_int

METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns: the trained model and where its run lives."""

    model: keras.Model
    history: dict[str, list[float]]
    run_dir: Path
    metrics: dict[str, Any]
    profile: Profile
    family: Family

    def sample(self, n: int, seed: int = 0, **options: Any) -> np.ndarray | list[str]:
        """``n`` samples of the trained model (see :meth:`Family.sample`)."""
        return self.family.sample(self.model, n, seed, **options)


def build_model(
    family: str | Family,
    profile: Profile,
    dataset: str,
    strategy: tf.distribute.Strategy | None = None,
) -> keras.Model:
    """The family's compiled model for ``profile``, built under ``strategy`` (default:
    :func:`~aigc_course.profiles.distribution_strategy`) and the profile's precision; without
    XLA when the strategy has several replicas (:func:`~aigc_course.profiles.fit_to_strategy`)."""
    family = get_family(family)
    strategy = strategy or distribution_strategy()
    profile = fit_to_strategy(profile, strategy)
    with strategy.scope(), dtype_policy(precision_policy(profile)):
        return family.build(profile, dataset)


def read_history(path: str | Path) -> dict[str, list[float]]:
    """A ``history.csv`` as ``{column: [values...]}`` (empty if the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else {})}


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _write_metrics(run_dir: Path, metrics: dict[str, Any]) -> dict[str, Any]:
    metrics = {key: _jsonable(value) for key, value in metrics.items()}
    text = json.dumps(metrics, indent=2, sort_keys=True) + "\n"
    atomic_write(run_dir / METRICS_FILE, lambda f: f.write(text.encode()))
    return metrics


def train(
    family: str | Family = "gan",
    dataset: str | None = None,
    profile: str | Profile = "auto",
    out: str | Path | None = None,
    resume: bool = False,
    epochs: int | None = None,
    seed: int = 0,
    evaluate: bool = True,
    show: bool = False,
    progress: bool = True,
    strategy: tf.distribute.Strategy | None = None,
    max_seconds: float | None = None,
) -> TrainResult:
    """Train a model of ``family`` on ``dataset`` with a profile, writing a resumable run ``out``.

    ``dataset`` defaults to the family's first (``mnist`` for image families); ``out`` to
    ``runs/<family>_<dataset>_<profile>``. ``resume=True`` continues from the run's checkpoint
    (same step, same epoch, the rest of an interrupted epoch first); otherwise the folder must
    not hold a checkpoint yet. ``epochs`` overrides the profile's (total, counted from the start
    of the run). ``seed`` seeds Python, NumPy and TensorFlow (``keras.utils.set_random_seed``),
    the data order and the per-epoch samples. ``evaluate`` scores the model at the end
    (``Family.evaluate``) and writes ``metrics.json``. ``show=True`` displays each epoch's
    samples inline; ``progress`` shows Keras' progress bar. ``strategy`` is the
    ``tf.distribute`` strategy (default: mirrored over several GPUs); ``max_seconds`` stops
    training after that much wall-clock time (the run can be resumed).

    Ctrl-C (KeyboardInterrupt) stops training; the last checkpoint stays and the message says how
    to resume. NaN losses stop training and raise :class:`~aigc_course.errors.Diverged`; the last
    good checkpoint stays.
    """
    family = get_family(family)
    dataset = family.check_dataset(family.datasets[0] if dataset is None else dataset)
    prof = get_profile(profile, family.name)
    if not isinstance(prof, family.profile_type):
        raise ConfigError(
            f"the {family.name} family trains with a {family.profile_type.__name__}, got a "
            f"{type(prof).__name__}; use get_profile(name, family={family.name!r})"
        )
    if epochs is not None:
        prof = prof.replace(epochs=positive_int("epochs", epochs))
    require_gpu_if_needed(prof)
    seed = integer("seed", seed, minimum=0)
    if max_seconds is not None:
        number_in("max_seconds", max_seconds, 0, float("inf"), low_open=True)
    run_dir = (
        Path(out) if out is not None else Path("runs") / f"{family.name}_{dataset}_{prof.name}"
    )
    ckpt_dir = run_dir / "checkpoints"
    identity = run_identity(family, dataset, prof)
    manifest = read_manifest(ckpt_dir)
    if resume and manifest is None:
        raise NotFoundError(
            f"nothing to resume: no checkpoint in {ckpt_dir}; run again without --resume"
        )
    if not resume and manifest is not None:
        raise ConfigError(
            f"{run_dir} already holds a checkpoint (step {manifest['step']}); pass resume=True "
            "(--resume) to continue it, or choose another output folder"
        )
    checkpoint = Checkpoint(ckpt_dir, prof.checkpoint_every_steps, identity)
    if manifest is not None:
        check_compatible(manifest, identity, ckpt_dir)

    keras.utils.set_random_seed(seed)
    data, n_examples = family.data(dataset, prof, seed)
    steps_per_epoch = prof.steps_per_epoch(n_examples)
    run_dir.mkdir(parents=True, exist_ok=True)
    model = build_model(family, prof, dataset, strategy)
    done_epochs = checkpoint.restore(model)["epoch"] if manifest is not None else 0
    stop_on_nan = StopOnNaN(checkpoint, family.divergence_hint)
    callbacks = [
        stop_on_nan,
        checkpoint,
        SampleGrid(run_dir / "samples", prof.preview_samples, seed, family, show=show),
        HistoryCSV(str(run_dir / HISTORY_FILE), append=resume),
    ]
    if max_seconds is not None:
        callbacks.append(TimeBudget(max_seconds))
    if progress:
        _say_start(family, dataset, prof, steps_per_epoch, checkpoint, resume, run_dir)
    start = time.perf_counter()
    # A live bar in terminals and notebooks; one line per epoch in logs and pipes.
    live = sys.stdout.isatty() or "ipykernel" in sys.modules
    fit = {"callbacks": callbacks, "verbose": (1 if live else 2) if progress else 0,
           "shuffle": False}  # fmt: skip
    try:
        epoch_step = checkpoint.epoch_step if manifest is not None else 0
        if epoch_step and done_epochs < prof.epochs:  # finish the interrupted epoch first
            model.fit(data, epochs=done_epochs + 1, initial_epoch=done_epochs,
                      steps_per_epoch=max(steps_per_epoch - epoch_step, 1), **fit)  # fmt: skip
            done_epochs += 1
        if done_epochs < prof.epochs and not model.stop_training:
            model.fit(data, epochs=prof.epochs, initial_epoch=done_epochs,
                      steps_per_epoch=steps_per_epoch, **fit)  # fmt: skip
    except KeyboardInterrupt:
        kept = (
            f"the last checkpoint (step {checkpoint.saved_step}) is in {ckpt_dir}; "
            f"continue with resume=True (aigc-course train --model {family.name} ... --resume)"
            if checkpoint.saved_step is not None
            else "no checkpoint was saved yet"
        )
        print(f"\nTraining interrupted: {kept}.", file=sys.stderr)
        raise
    seconds = time.perf_counter() - start
    if stop_on_nan.message:
        raise Diverged(stop_on_nan.message)

    with atomic_path(run_dir / family.export_name) as tmp:
        family.export(model, prof, tmp)
    metrics: dict[str, Any] = {
        "train_seconds": round(seconds, 1),
        "step": checkpoint.step,
        "epoch": checkpoint.epoch,
        "family": family.name,
        "profile": prof.name,
        "dataset": dataset,
        "xla": bool(model.jit_compile),  # the step's XLA setting as Keras resolved it
    }
    if evaluate:
        metrics.update(family.evaluate(model, dataset, prof, seed))
    metrics = _write_metrics(run_dir, metrics)
    return TrainResult(model, read_history(run_dir / HISTORY_FILE), run_dir, metrics, prof, family)


def _say_start(family, dataset, prof, steps_per_epoch, checkpoint, resume, run_dir) -> None:
    where = (
        f"resuming at step {checkpoint.step}, epoch {checkpoint.epoch + 1}" if resume else "new run"
    )
    policy = precision_policy(prof)
    precision = "" if policy == "float32" else f", {policy.removeprefix('mixed_')} compute"
    model = family.describe(prof)
    print(
        f"train {family.name}: {dataset}, profile {prof.name} ({model + ', ' if model else ''}"
        f"batch {prof.batch_size}, {prof.epochs} epoch{'s' if prof.epochs != 1 else ''} x "
        f"{steps_per_epoch} steps{precision}), "
        f"{where}, writing to {run_dir}"
    )


def train_gan(
    dataset: str = "mnist", profile: str | Profile = "auto", **kwargs: Any
) -> TrainResult:
    """:func:`train` for the GAN family (the name the course used before it had families)."""
    return train("gan", dataset, profile, **kwargs)


# --------------------------------------------------------------------------- using a run


@dataclasses.dataclass
class Run:
    """A run folder, loaded for sampling and evaluation (:func:`load_run`)."""

    run_dir: Path
    family: Family
    dataset: str
    profile: Profile
    manifest: dict[str, Any]
    model: Any  # the family's export, or the model restored from the checkpoint

    def sample(self, n: int, seed: int = 0, **options: Any) -> np.ndarray | list[str]:
        return self.family.sample(self.model, n, seed, **options)


def load_run(run_dir: str | Path) -> Run:
    """A run's family, data set, profile and model: its final export if training finished, else
    the model restored from its latest checkpoint."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir / "checkpoints")
    if manifest is None:
        raise NotFoundError(
            f"{run_dir} holds no checkpoints/checkpoint.npz: it is not a training run, or it has "
            f"not saved yet; train it first with aigc-course train --out {run_dir}"
        )
    family = get_family(manifest["family"])
    profile = family.profile_type(**manifest["profile"])
    export = run_dir / family.export_name
    if export.exists():
        model = family.load_export(export)
    else:  # an interrupted run: rebuild the model in float32 on one device, then restore
        with dtype_policy("float32"):
            model = family.build(profile.replace(jit_compile=False), manifest["dataset"])
        restore(run_dir / "checkpoints", model, weights_only=True)
    return Run(run_dir, family, manifest["dataset"], profile, manifest, model)


def sample_run(run_dir: str | Path, n: int, out: str | Path, seed: int = 0, **options: Any) -> Path:
    """Write ``n`` samples of a run to ``out``: for images ``.npy`` (uint8 ``(n, H, W)``) or a
    ``.png`` grid; for text a ``.txt`` file (samples separated by blank lines). The same ``seed``
    and options give the same samples."""
    n = positive_int("n", n)
    out = Path(out)
    run = load_run(run_dir)
    suffixes = (".npy", ".png") if run.family.data_kind == "images" else (".txt",)
    if out.suffix.lower() not in suffixes:
        raise ConfigError(
            f"out must end in {' or '.join(suffixes)} for the {run.family.name} family, "
            f"got {out.name!r}"
        )
    samples = run.sample(n, seed, **options)
    if out.suffix.lower() == ".txt":
        text = "\n\n".join(samples) + "\n"
        return atomic_write(out, lambda f: f.write(text.encode()))
    if out.suffix.lower() == ".png":
        from aigc_course.plotting import save_image_grid

        return save_image_grid(samples, out)
    return atomic_write(out, lambda f: np.save(f, samples))


def evaluate_run(run_dir: str | Path, seed: int = 0) -> dict[str, Any]:
    """Score a run with its family's evaluation and merge the scores into its ``metrics.json``."""
    run = load_run(run_dir)
    scores = run.family.evaluate(run.model, run.dataset, run.profile, seed)
    path = run.run_dir / METRICS_FILE
    metrics = json.loads(path.read_text()) if path.exists() else {}
    return _write_metrics(run.run_dir, {**metrics, **scores})


__all__ = [
    "TrainResult",
    "Run",
    "build_model",
    "train",
    "train_gan",
    "read_history",
    "load_run",
    "sample_run",
    "evaluate_run",
]
