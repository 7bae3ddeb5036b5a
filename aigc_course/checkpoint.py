"""Checkpoints of any model family: every variable keyed by its path, written atomically.

One file, ``checkpoints/checkpoint.npz``, holds every weight of the model (with batch-norm
statistics, weight averages, step counters) under ``model/<Keras path>``, every variable of
each optimizer the model holds in an attribute under ``<attribute>/<path>`` (e.g.
``d_optimizer/down_14_kernel_momentum``), and a manifest: the format, the family, the data set,
the family's ``config`` (what a resume must match), the whole profile, and the step and epoch
reached. ``checkpoints/manifest.json`` is the same manifest for people to read.

Keys by path, not by position, make a mismatch name itself ("``model/up_14/kernel``: the
checkpoint has shape (4, 4, 8, 16), the model (4, 4, 12, 16)") and let any family be saved
without code of its own. Paths come from layer names, so a family names its layers (Keras'
automatic names such as ``dense_3`` change with what else a session built).

Checkpoints written before model families existed (format 2, GANs only) still load: their
manifest and keys are translated by :mod:`aigc_course.families.gan`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from aigc_course._tf import keras
from aigc_course.atomic import atomic_write
from aigc_course.errors import CheckpointError, ConfigError, NotFoundError
from aigc_course.validate import positive_int

CHECKPOINT_FILE = "checkpoint.npz"
MANIFEST_FILE = "manifest.json"
FORMAT = 3  # 3: keys are variable paths, any family; 2: GAN only, keys by position
_LEGACY_FORMATS = (2,)


def run_identity(family: Any, dataset: str, profile: Any) -> dict[str, Any]:
    """What a checkpoint records about its run: family, data set, the family's ``config`` (what
    a resume must match) and the whole profile (to rebuild the model for sampling)."""
    from aigc_course.families import get_family

    family = get_family(family)
    return {
        "family": family.name,
        "dataset": dataset,
        "config": family.config(profile, dataset),
        "profile": dataclasses.asdict(profile),
    }


# --------------------------------------------------------------------------- what is saved


def optimizers_of(model: keras.Model) -> dict[str, keras.optimizers.Optimizer]:
    """The optimizers ``model`` holds in its attributes, by attribute name."""
    return {
        name: value
        for name, value in sorted(vars(model).items())
        if isinstance(value, keras.optimizers.Optimizer)
    }


def _optimizer_state(prefix: str, optimizer: keras.optimizers.Optimizer):
    """(key, variable) pairs of an optimizer; a wrapped one (loss scaling) under ``.../inner``."""
    inner = getattr(optimizer, "inner_optimizer", None)
    inner_ids = {id(v) for v in inner.variables} if inner is not None else set()
    for var in optimizer.variables:
        if id(var) not in inner_ids:  # the optimizer's own name (adam_3/...) is not stable
            yield f"{prefix}/{var.path.split('/', 1)[-1]}", var
    if inner is not None:
        yield from _optimizer_state(f"{prefix}/inner", inner)


def state_variables(model: keras.Model) -> dict[str, Any]:
    """Every variable a checkpoint of ``model`` holds, by key (see the module's docstring)."""
    pairs = [(f"model/{var.path}", var) for var in model.weights]
    for name, optimizer in optimizers_of(model).items():
        pairs += list(_optimizer_state(name, optimizer))
    state: dict[str, Any] = {}
    for key, var in pairs:
        if key in state and state[key] is not var:
            raise ConfigError(
                f"two variables of {type(model).__name__} share the checkpoint key {key!r}: "
                "give every layer (and sub-model) a unique name"
            )
        state[key] = var
    return state


def nonfinite(logs: dict | None) -> dict[str, float]:
    """The NaN or infinite numeric entries of a Keras logs dict (empty when all is well)."""
    bad = {}
    for key, value in (logs or {}).items():
        with contextlib.suppress(TypeError, ValueError):
            number = float(value)
            if not math.isfinite(number):
                bad[key] = number
    return bad


# --------------------------------------------------------------------------- reading


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """All arrays of a checkpoint file, or a CheckpointError that says the file is damaged."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        if "manifest" not in arrays:
            raise KeyError("manifest")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(err).__name__}: {err}); it was not "
            "written by this trainer or is damaged. Move it away to start the run afresh."
        ) from err
    return arrays


def read_manifest(directory: str | Path) -> dict | None:
    """The manifest of the checkpoint in ``directory``, or ``None`` if there is none.

    Raises :class:`CheckpointError` for a damaged file or a format this version cannot read.
    """
    path = Path(directory) / CHECKPOINT_FILE
    if not path.exists():
        return None
    manifest = json.loads(str(read_arrays(path)["manifest"]))
    if manifest.get("format") in _LEGACY_FORMATS:
        from aigc_course.families.gan import manifest_from_format_2

        return manifest_from_format_2(manifest)
    if manifest.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a checkpoint in format {manifest.get('format')!r}, written by another "
            f"version of aigc_course; this version reads formats {FORMAT} and "
            f"{', '.join(map(str, _LEGACY_FORMATS))}. Start a new run in another folder, or use "
            "the version that wrote it."
        )
    return manifest


def check_compatible(saved: dict, wanted: dict, where: str | Path = "the checkpoint") -> None:
    """Raise CheckpointError naming each identity setting in which two runs differ."""

    def flat(run: dict) -> dict[str, Any]:
        return {
            "family": run.get("family"), "dataset": run.get("dataset"), **run.get("config", {})
        }  # fmt: skip

    old, new = flat(saved), flat(wanted)
    diffs = [
        f"{key}: checkpoint has {old.get(key)!r}, this run asks for {new.get(key)!r}"
        for key in dict.fromkeys([*old, *new])
        if old.get(key) != new.get(key)
    ]
    if diffs:
        raise CheckpointError(
            f"cannot resume from {where}: this run differs from the checkpoint's "
            f"({'; '.join(diffs)}). Resume with the same settings, or start a new run in "
            "another folder. The checkpoint was left untouched."
        )


def restore(
    directory: str | Path,
    model: keras.Model,
    wanted: dict | None = None,
    weights_only: bool = False,
) -> dict:
    """Load the checkpoint in ``directory`` into ``model`` (built and compiled); return its
    manifest. With ``wanted`` (a :func:`run_identity`), first refuse a checkpoint of another
    run. Every key and shape is checked before any variable changes. ``weights_only`` restores
    the model's weights and leaves its optimizers alone (to sample from an interrupted run)."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    if manifest is None:
        raise NotFoundError(f"no checkpoint in {directory} (expected {CHECKPOINT_FILE})")
    if wanted is not None:
        check_compatible(manifest, wanted, directory)
    saved = read_arrays(directory / CHECKPOINT_FILE)
    del saved["manifest"]
    if manifest.get("upgraded_from") == 2:
        from aigc_course.families.gan import keys_from_format_2

        renamed = keys_from_format_2(model)
        saved = {renamed.get(key, key): value for key, value in saved.items()}
    targets = state_variables(model)
    if weights_only:
        targets = {k: v for k, v in targets.items() if k.startswith("model/")}
        saved = {k: v for k, v in saved.items() if k.startswith("model/")}
    problems = [
        f"{key}: checkpoint has shape {saved[key].shape if key in saved else 'nothing'}, "
        f"model has {tuple(var.shape)}"
        for key, var in targets.items()
        if key not in saved or tuple(saved[key].shape) != tuple(var.shape)
    ]
    problems += [f"{key}: in the checkpoint but not in the model" for key in saved.keys() - targets]
    if problems:
        raise CheckpointError(
            f"the checkpoint in {directory} does not fit this model ("
            + "; ".join(problems[:5])
            + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
            + "). Layers named automatically (dense_3, ...) change from session to session: "
            "name them. The checkpoint was left untouched."
        )
    for key, var in targets.items():
        var.assign(saved[key])
    return manifest


# --------------------------------------------------------------------------- the callback


class Checkpoint(keras.callbacks.Callback):
    """Save everything needed to resume every ``every_steps`` steps and after each epoch.

    ``run`` is the run's identity (:func:`run_identity`), stored in the manifest and checked by
    :meth:`restore`. The file is written atomically, so a crash or kill during the write leaves
    the previous checkpoint intact. A state with NaN or infinite losses or weights is never
    saved: the last good checkpoint stays. The step count starts at 0 (or where
    :meth:`restore` found it) and counts the training steps this callback sees.
    """

    def __init__(self, directory: str | Path, every_steps: int = 500, run: dict | None = None):
        super().__init__()
        self.directory = Path(directory)
        self.every_steps = positive_int("every_steps", every_steps)
        self.run = dict(run or {})
        self.step = 0  # training steps done, over the whole run
        self.epoch = 0  # completed epochs
        self.epoch_step = 0  # steps done in the epoch in progress
        self.saved_step: int | None = None
        self._batches = 0  # batches run in this fit() call's current epoch
        self._resume_epoch_step = 0

    @property
    def path(self) -> Path:
        return self.directory / CHECKPOINT_FILE

    # -- callback hooks
    def on_train_begin(self, logs=None) -> None:
        for stale in self.directory.glob(".*.tmp*"):  # left by a writer killed mid-write
            stale.unlink(missing_ok=True)

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.epoch = epoch
        self.epoch_step, self._resume_epoch_step = self._resume_epoch_step, 0
        self._batches = 0

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        self.step += 1
        self.epoch_step += 1
        self._batches += 1
        if self.step % self.every_steps == 0 and not self._epoch_complete():
            self.save(logs)  # (at the end of an epoch, on_epoch_end saves)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        if self._epoch_complete():
            self.epoch, self.epoch_step = epoch + 1, 0
        # else: stopped early (a callback set stop_training); record the position within it
        self.save(logs)

    def _epoch_complete(self) -> bool:
        steps = (self.params or {}).get("steps")
        return steps is None or self._batches >= steps

    # -- saving and loading
    def manifest(self) -> dict:
        return {
            "format": FORMAT,
            **self.run,
            "step": self.step,
            "epoch": self.epoch,
            "epoch_step": self.epoch_step,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    def save(self, logs: dict | None = None) -> Path | None:
        """Write the checkpoint now; return its path, or ``None`` if the state is not finite."""
        if nonfinite(logs):
            return None
        arrays = {key: np.asarray(var.numpy()) for key, var in state_variables(self.model).items()}
        if not all(np.isfinite(a).all() for a in arrays.values() if a.dtype.kind == "f"):
            return None
        manifest = self.manifest()
        text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        arrays["manifest"] = np.array(text)
        atomic_write(self.path, lambda f: np.savez(f, **arrays))
        atomic_write(self.directory / MANIFEST_FILE, lambda f: f.write(text.encode()))
        self.saved_step = self.step
        return self.path

    def restore(self, model: keras.Model) -> dict:
        """Load the checkpoint into ``model`` and continue counting from it; return its manifest.

        Raises CheckpointError naming every identity setting that differs from this callback's
        ``run`` (or every variable whose shape differs) before any variable is changed.
        """
        manifest = restore(self.directory, model, self.run or None)
        self.step = self.saved_step = manifest["step"]
        self.epoch = manifest["epoch"]
        self._resume_epoch_step = self.epoch_step = manifest["epoch_step"]
        return manifest


__all__ = [
    "CHECKPOINT_FILE",
    "MANIFEST_FILE",
    "FORMAT",
    "run_identity",
    "optimizers_of",
    "state_variables",
    "nonfinite",
    "read_arrays",
    "read_manifest",
    "check_compatible",
    "restore",
    "Checkpoint",
]
