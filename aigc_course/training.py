"""Train a GAN with Keras' ``fit``: two players, two optimizers, checkpoints you can resume.

:class:`GAN` wraps a generator and a discriminator in one ``keras.Model`` whose ``train_step``
makes one discriminator update and one generator update, each player with its own loss and its
own optimizer. Because it is an ordinary Keras model, ``fit()`` brings progress bars, callbacks,
XLA (``jit_compile``) and ``tf.distribute`` for free.

:func:`train_gan` is the one-call trainer used by the notebooks and ``aigc-course train-gan``:
it picks a :class:`TrainingProfile` (``smoke`` for CI, ``cpu`` for a laptop, ``gpu`` for a full
run), writes a run folder and can resume it after a crash or Ctrl-C::

    runs/NAME/
        checkpoints/checkpoint.npz   weights, optimizer states, step, epoch (written atomically)
        checkpoints/manifest.json    the same manifest, readable by people
        samples/epoch_001.png ...    a grid from the same fixed noise after every epoch
        history.csv                  one row per epoch (appended to on resume)
        generator.keras              the final generator
        metrics.json                 FID and friends, when evaluation ran
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from aigc_course._tf import GPUS, cpu_has_bf16, keras, onednn_enabled, tf
from aigc_course.atomic import atomic_path, atomic_write
from aigc_course.env import is_smoke

CHECKPOINT_FILE = "checkpoint.npz"
MANIFEST_FILE = "manifest.json"
GENERATOR_FILE = "generator.keras"
CHECKPOINT_FORMAT = 2  # 2: the weight average has its own part, "generator_average/..."
# Settings a resumed run must share with its checkpoint: they shape the networks' variables
# (latent_dim, width), what those variables mean (loss) or what they were trained on (dataset).
ARCHITECTURE_KEYS = ("dataset", "latent_dim", "width", "d_width", "loss", "ema")
UPDATES = ("alternating", "simultaneous")
_PARTS = ("generator", "generator_average", "discriminator", "d_optimizer", "g_optimizer", "gan")


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- atomic files


def _write_json(path: Path, data: dict) -> Path:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    return atomic_write(path, lambda f: f.write(text.encode()))


# --------------------------------------------------------------------------- the model


def _check_update(update: object, d_steps: int) -> str:
    if update not in UPDATES:
        raise ValueError(f"update must be one of {', '.join(UPDATES)}; got {update!r}")
    if update == "simultaneous" and d_steps != 1:
        raise ValueError(
            f"update='simultaneous' takes one step for each player; d_steps={d_steps} needs "
            "update='alternating'"
        )
    return update


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

    ``loss`` names a pair from :data:`aigc_course.losses.LOSSES`; ``"wgan_gp"`` adds the gradient
    penalty (weight ``gp_weight``) to the critic loss. The discriminator must return logits.

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
        from aigc_course.losses import get_losses

        super().__init__(**kwargs)
        if not isinstance(generator, keras.Model) or not isinstance(discriminator, keras.Model):
            raise ValueError(
                "GAN needs two Keras models, e.g. GAN(build_generator(), build_discriminator(), "
                f"latent_dim=100); got {type(generator).__name__} and {type(discriminator).__name__}"
            )
        if generator is discriminator:
            raise ValueError("the generator and the discriminator must be two different models")
        self.latent_dim = _positive_int("latent_dim", latent_dim)
        self.d_steps = _positive_int("d_steps", d_steps)
        self.update = _check_update(update, self.d_steps)
        if not isinstance(gp_weight, int | float) or gp_weight < 0:
            raise ValueError(f"gp_weight must be a number >= 0, got {gp_weight!r}")
        self.d_loss_fn, self.g_loss_fn = get_losses(loss)
        self.loss_name = loss
        self.gp_weight = float(gp_weight)
        self.generator = generator
        self.discriminator = discriminator
        # One per train_step, even when a loss-scale optimizer skips an update.
        self.step = keras.Variable(
            0, dtype="int64", trainable=False, aggregation="only_first_replica", name="step"
        )
        if isinstance(ema, bool) or not isinstance(ema, int | float) or not 0 <= ema < 1:
            raise ValueError(f"ema must be a number in [0, 1) (0 = off, e.g. 0.999), got {ema!r}")
        self.ema = float(ema)
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

            self._ema_model = keras_only(self.generator)
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
                raise ValueError(
                    f"{name} must be a keras optimizer, e.g. keras.optimizers.Adam(2e-4, beta_1=0.5); "
                    f"got {type(opt).__name__}"
                )
        if d_optimizer is g_optimizer:
            raise ValueError(
                "each player needs its own optimizer (their moment estimates must not mix): "
                "pass two separate instances"
            )
        super().compile(jit_compile=jit_compile, **kwargs)
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
        d_loss = self.d_loss_fn(real_logits, fake_logits)
        if self.loss_name == "wgan_gp":
            from aigc_course.losses import gradient_penalty

            d_loss += gradient_penalty(self.discriminator, real, fake, self.gp_weight)
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
        d_vars = self.discriminator.trainable_variables
        g_vars = self.generator.trainable_variables

        if self.update == "simultaneous":
            with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
                fake = self.generator(self._noise(batch_size), training=True)
                real_logits, fake_logits = self._logits(real), self._logits(fake)
                d_loss = self._d_loss(real, fake, real_logits, fake_logits)
                g_loss = self.g_loss_fn(fake_logits)
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
                g_loss = self.g_loss_fn(self._logits(fake))
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


# --------------------------------------------------------------------------- callbacks


def _finite_logs(logs: dict | None) -> dict[str, float]:
    """The non-finite numeric entries of a Keras logs dict (empty when all is well)."""
    bad = {}
    for key, value in (logs or {}).items():
        with contextlib.suppress(TypeError, ValueError):
            number = float(value)
            if not math.isfinite(number):
                bad[key] = number
    return bad


class SampleGrid(keras.callbacks.Callback):
    """After every ``every_epochs`` epochs, save a grid of samples from the *same* noise.

    Fixed noise makes the grids a film of one set of faces (digits) improving, rather than a new
    random draw each time. Give either ``latent_dim`` (``n`` vectors are drawn with ``seed``) or
    ``noise`` itself, an array ``(n, latent_dim)``. Files are ``out_dir/epoch_001.png``, ...;
    ``show=True`` also displays each grid inline in a notebook (stored with its outputs).
    """

    def __init__(
        self,
        out_dir: str | Path,
        latent_dim: int | None = None,
        n: int = 64,
        every_epochs: int = 1,
        show: bool = False,
        noise: np.ndarray | None = None,
        seed: int = 0,
    ):
        super().__init__()
        if (latent_dim is None) == (noise is None):
            raise ValueError("SampleGrid needs exactly one of latent_dim=... or noise=...")
        if noise is None:
            n = _positive_int("n", n)
            latent_dim = _positive_int("latent_dim", latent_dim)
            noise = np.random.default_rng(seed).standard_normal((n, latent_dim))
        noise = np.asarray(noise, dtype="float32")
        if noise.ndim != 2 or len(noise) == 0:
            raise ValueError(f"noise must have shape (n, latent_dim), got {noise.shape}")
        self.noise = noise
        self.out_dir = Path(out_dir)
        self.every_epochs = _positive_int("every_epochs", every_epochs)
        self.show = bool(show)
        self.paths: list[Path] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if (epoch + 1) % self.every_epochs:
            return
        images = np.asarray(self.model.sampler(self.noise, training=False))
        if not np.isfinite(images).all():
            return  # a diverged generator: nothing worth drawing (the NaN callback says why)
        path = self.save(images, self.out_dir / f"epoch_{epoch + 1:03d}.png")
        self.paths.append(path)
        if self.show:
            from IPython.display import Image, display

            display(Image(data=path.read_bytes()))

    @staticmethod
    def save(images: np.ndarray, path: Path) -> Path:
        """Write ``images`` (uint8 or [-1, 1]) as one PNG grid, atomically."""
        return _save_png_grid(images, path)


#: Grids are saved enlarged with crisp pixels: 28-pixel digits are too small to judge on a laptop
#: screen, and a browser's own scaling would blur them.
PNG_SCALE = 3


def _save_png_grid(images: np.ndarray, path: Path) -> Path:
    from PIL import Image

    from aigc_course.plotting import image_grid

    grid = Image.fromarray(
        np.asarray(image_grid(images, ncols=math.ceil(math.sqrt(len(images)))), dtype=np.uint8)
    )
    grid = grid.resize((grid.width * PNG_SCALE, grid.height * PNG_SCALE), Image.NEAREST)
    buffer = io.BytesIO()
    grid.save(buffer, format="PNG")
    return atomic_write(Path(path), lambda f: f.write(buffer.getvalue()))


class Checkpoint(keras.callbacks.Callback):
    """Save everything needed to resume a :class:`GAN` every ``every_steps`` steps and each epoch.

    One file, ``directory/checkpoint.npz``, holds both players' weights (with batch-norm
    statistics), both optimizers' states, the step counter, the epoch, and a manifest with the
    run's ``config`` (at least ``latent_dim``, ``width``, ``loss``). It is written atomically, so a
    crash or kill during the write leaves the previous checkpoint intact. A copy of the manifest
    goes to ``manifest.json`` for people to read. A state with NaN or infinite losses or weights
    is never saved: the last good checkpoint stays.

    :meth:`restore` loads it back and refuses (changing nothing) when the manifest's architecture
    differs from the running model's.
    """

    def __init__(self, directory: str | Path, every_steps: int = 500, config: dict | None = None):
        super().__init__()
        self.directory = Path(directory)
        self.every_steps = _positive_int("every_steps", every_steps)
        self.config = dict(config or {})
        self.epoch = 0  # completed epochs
        self.epoch_step = 0  # steps done in the epoch in progress
        self.saved_step: int | None = None
        self._step = 0
        self._batches = 0  # batches run in this fit() call's current epoch
        self._resume_epoch_step = 0

    @property
    def path(self) -> Path:
        return self.directory / CHECKPOINT_FILE

    # -- callback hooks
    def on_train_begin(self, logs=None) -> None:
        self._remove_stale_temporaries()
        self._step = int(self.model.step.numpy())

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.epoch = epoch
        self.epoch_step, self._resume_epoch_step = self._resume_epoch_step, 0
        self._batches = 0

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        self._step += 1
        self.epoch_step += 1
        self._batches += 1
        if self._step % self.every_steps == 0 and not self._epoch_complete():
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
    def _remove_stale_temporaries(self) -> None:
        """Delete temporary files a killed process left behind mid-write (never the checkpoint)."""
        for stale in self.directory.glob(".*.tmp*"):
            stale.unlink(missing_ok=True)

    def manifest(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.config,
            "step": self._step,
            "epoch": self.epoch,
            "epoch_step": self.epoch_step,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    def save(self, logs: dict | None = None) -> Path | None:
        """Write the checkpoint now; return its path, or ``None`` if the state is not finite."""
        if _finite_logs(logs):
            return None
        arrays = _collect_state(self.model)
        if not all(np.isfinite(a).all() for a in arrays.values() if a.dtype.kind == "f"):
            return None
        manifest = self.manifest()
        arrays["manifest"] = np.array(json.dumps(manifest, sort_keys=True))
        atomic_write(self.path, lambda f: np.savez(f, **arrays))
        _write_json(self.directory / MANIFEST_FILE, manifest)
        self.saved_step = manifest["step"]
        return self.path

    @staticmethod
    def read_manifest(directory: str | Path) -> dict | None:
        """The manifest stored in ``directory/checkpoint.npz``, or ``None`` if there is none.

        Raises ``ValueError`` for a checkpoint in another format (written by another version of
        the course), whose variables this version would misread.
        """
        path = Path(directory) / CHECKPOINT_FILE
        if not path.exists():
            return None
        manifest = json.loads(str(_read_checkpoint(path)["manifest"]))
        if manifest.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(
                f"{path} is a checkpoint in format {manifest.get('format')!r}, written by another "
                f"version of aigc_course; this version reads format {CHECKPOINT_FORMAT}. Start a "
                "new run in another folder, or use the version that wrote it."
            )
        return manifest

    def restore(self, gan: GAN) -> dict:
        """Load the checkpoint into ``gan`` (compiled); return its manifest.

        Raises ``ValueError`` naming every setting that differs from this callback's ``config``
        (or every variable whose shape differs) before any variable is changed.
        """
        manifest = self.read_manifest(self.directory)
        if manifest is None:
            raise FileNotFoundError(
                f"no checkpoint in {self.directory} (expected {CHECKPOINT_FILE})"
            )
        check_compatible(manifest["config"], self.config, self.directory)
        saved = _read_checkpoint(self.path)
        del saved["manifest"]
        targets = _state_variables(gan)
        problems = [
            f"{key}: checkpoint has shape {saved[key].shape if key in saved else 'nothing'}, "
            f"model has {tuple(var.shape)}"
            for key, var in targets.items()
            if key not in saved or tuple(saved[key].shape) != tuple(var.shape)
        ]
        problems += [
            f"{key}: in the checkpoint but not in the model" for key in saved.keys() - targets
        ]
        if problems:
            raise ValueError(
                f"the checkpoint in {self.directory} does not fit this model ("
                + "; ".join(problems[:5])
                + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
                + "). The checkpoint was left untouched."
            )
        for key, var in targets.items():
            var.assign(saved[key])
        self._step = manifest["step"]
        self.saved_step = manifest["step"]
        self.epoch = manifest["epoch"]
        self._resume_epoch_step = self.epoch_step = manifest["epoch_step"]
        return manifest


def _read_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """All arrays of a checkpoint file, or a ValueError that says the file is damaged."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        if "manifest" not in arrays:
            raise KeyError("manifest")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(
            f"{path} is not a readable checkpoint ({type(err).__name__}: {err}); it was not "
            "written by this trainer or is damaged. Move it away to start the run afresh."
        ) from err
    return arrays


def check_compatible(saved: dict, wanted: dict, where: str | Path = "the checkpoint") -> None:
    """Raise ``ValueError`` naming each architecture setting in which ``saved`` and ``wanted`` differ."""
    diffs = [
        f"{key}: checkpoint has {saved.get(key)!r}, this run asks for {wanted.get(key)!r}"
        for key in ARCHITECTURE_KEYS
        if key in saved or key in wanted
        if saved.get(key) != wanted.get(key)
    ]
    if diffs:
        raise ValueError(
            f"cannot resume from {where}: this run differs from the checkpoint's "
            f"({'; '.join(diffs)}). "
            "Resume with the same settings, or start a new run in another folder. "
            "The checkpoint was left untouched."
        )


def _state_variables(gan: GAN) -> dict[str, Any]:
    """Every variable a checkpoint holds, under stable names like ``generator/003``."""
    groups = {
        "generator": gan.generator.weights,
        "generator_average": gan.ema_weights,
        "discriminator": gan.discriminator.weights,
        "d_optimizer": gan.d_optimizer.variables,
        "g_optimizer": gan.g_optimizer.variables,
        "gan": [gan.step],
    }
    return {f"{part}/{i:03d}": var for part in _PARTS for i, var in enumerate(groups[part])}


def _collect_state(gan: GAN) -> dict[str, np.ndarray]:
    return {key: np.asarray(var.numpy()) for key, var in _state_variables(gan).items()}


class _HistoryCSV(keras.callbacks.CSVLogger):
    """Keras' CSVLogger with only the columns this model logs (it adds empty ``val_*`` ones)."""

    def on_train_begin(self, logs=None) -> None:
        super().on_train_begin(logs)
        self.keys = sorted(m.name for m in self.model.metrics)


class StopOnNaN(keras.callbacks.Callback):
    """Stop training at the first NaN or infinite loss, and say where the last good checkpoint is."""

    def __init__(self, checkpoint: Checkpoint | None = None):
        super().__init__()
        self.checkpoint = checkpoint
        self.message: str | None = None

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        bad = _finite_logs(logs)
        if not bad or self.message:
            return
        step = int(self.model.step.numpy())
        values = ", ".join(f"{k}={v}" for k, v in sorted(bad.items()))
        kept = "no checkpoint was saved yet"
        if self.checkpoint is not None and self.checkpoint.saved_step is not None:
            kept = (
                f"the last good checkpoint (step {self.checkpoint.saved_step}) is kept in "
                f"{self.checkpoint.directory}"
            )
        self.message = (
            f"Training stopped at step {step}: the losses are no longer finite ({values}); {kept}. "
            "Lower the learning rates or try another loss (e.g. loss='wgan_gp')."
        )
        print(self.message, file=sys.stderr)
        self.model.stop_training = True


# --------------------------------------------------------------------------- profiles


@dataclasses.dataclass(frozen=True)
class TrainingProfile:
    """Every knob of a training run. ``images_per_epoch=None`` means one pass over the data.

    ``width`` sizes the generator and, unless ``d_width`` is given, the discriminator too.

    ``mixed_precision=True`` computes in the machine's fast 16-bit format where it has one (see
    :func:`precision_policy`); ``needs_gpu=True`` refuses to start without a GPU.
    """

    name: str
    epochs: int
    batch_size: int
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
    images_per_epoch: int | None = None
    jit_compile: bool = False
    mixed_precision: bool = False
    needs_gpu: bool = False
    checkpoint_every_steps: int = 500
    sample_images: int = 64
    eval_images: int = 2000

    def __post_init__(self) -> None:
        for field in ("epochs", "batch_size", "latent_dim", "width", "d_steps"):
            _positive_int(field, getattr(self, field))
        for field in ("checkpoint_every_steps", "sample_images", "eval_images"):
            _positive_int(field, getattr(self, field))
        if self.d_width is not None:
            _positive_int("d_width", self.d_width)
        if self.images_per_epoch is not None:
            _positive_int("images_per_epoch", self.images_per_epoch)
            if self.images_per_epoch < self.batch_size:
                raise ValueError(
                    f"images_per_epoch ({self.images_per_epoch}) must be at least one batch "
                    f"({self.batch_size})"
                )
        for field in ("g_learning_rate", "d_learning_rate"):
            value = getattr(self, field)
            if not isinstance(value, int | float) or not 0 < value < 1:
                raise ValueError(f"{field} must be a number in (0, 1), got {value!r}")
        for field in ("beta_1", "dropout", "ema"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
                raise ValueError(f"{field} must be a number in [0, 1), got {value!r}")
        from aigc_course.losses import get_losses

        get_losses(self.loss)
        _check_update(self.update, self.d_steps)

    @property
    def discriminator_width(self) -> int:
        return self.width if self.d_width is None else self.d_width

    def steps_per_epoch(self, n_images: int) -> int:
        """Generator updates per epoch for a training set of ``n_images`` images."""
        if n_images < self.batch_size:
            raise ValueError(
                f"the training set has {n_images} images, fewer than one batch of {self.batch_size}"
            )
        return (self.images_per_epoch or n_images) // self.batch_size


PROFILES: dict[str, TrainingProfile] = {
    # CI: a few seconds, proves the pipeline runs end to end; the samples are noise.
    "smoke": TrainingProfile(
        "smoke", epochs=2, batch_size=32, latent_dim=16, width=8, images_per_epoch=320,
        checkpoint_every_steps=4, sample_images=16, eval_images=256,
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
    "cpu": TrainingProfile(
        "cpu", epochs=12, batch_size=64, latent_dim=64, width=64, d_width=32, dropout=0.0,
        images_per_epoch=30_720, g_learning_rate=5e-4, d_learning_rate=5e-4, loss="hinge",
        ema=0.995, checkpoint_every_steps=480, mixed_precision=True,
    ),
    # One GPU or more: the full-size DCGAN, 50 passes over the data.
    "gpu": TrainingProfile(
        "gpu", epochs=50, batch_size=128, latent_dim=100, width=64, needs_gpu=True,
        jit_compile=True, mixed_precision=True, checkpoint_every_steps=1000, eval_images=10_000,
    ),
}  # fmt: skip


def get_profile(name: str = "auto") -> TrainingProfile:
    """The training profile called ``name``; ``"auto"`` picks one for this machine.

    ``"auto"`` is ``"smoke"`` when ``AIGC_SMOKE=1``, else ``"gpu"`` when TensorFlow sees a GPU,
    else ``"cpu"``.
    """
    if not isinstance(name, str) or (name != "auto" and name not in PROFILES):
        raise ValueError(f"unknown profile {name!r}; choose one of: auto, {', '.join(PROFILES)}")
    if name == "auto":
        name = "smoke" if is_smoke() else "gpu" if GPUS else "cpu"
    return PROFILES[name]


def precision_policy(profile: TrainingProfile) -> str:
    """The Keras dtype policy ``profile`` trains under on this machine.

    With ``mixed_precision`` the layers compute in 16 bits and keep float32 weights: float16 on a
    GPU (with loss scaling), bfloat16 on a CPU that computes it natively through oneDNN (Intel
    AMX or AVX512-BF16: about 1.7x faster for the TensorFlow tutorial's networks on such a
    machine). Everywhere else, and without ``mixed_precision``, it is plain float32, because
    emulated 16-bit arithmetic is slower than 32-bit.
    """
    if not profile.mixed_precision:
        return "float32"
    if GPUS:
        return "mixed_float16"
    if onednn_enabled() and cpu_has_bf16():
        return "mixed_bfloat16"
    return "float32"


def describe_precision(profile: TrainingProfile) -> str:
    """One line saying which number format ``profile`` computes in here, and why."""
    policy = precision_policy(profile)
    if policy == "mixed_float16":
        return "mixed float16 on the GPU (float32 weights, loss scaling)"
    if policy == "mixed_bfloat16":
        return "mixed bfloat16 (float32 weights; this CPU computes bfloat16 natively)"
    if not profile.mixed_precision:
        return "float32 (mixed precision switched off)"
    if not onednn_enabled():
        return "float32 (oneDNN is switched off, so 16-bit arithmetic would be emulated)"
    return "float32 (no GPU, and this CPU has no native 16-bit arithmetic)"


def require_gpu_if_needed(profile: TrainingProfile) -> None:
    """Refuse, with the fix, a GPU-only profile on a machine without a GPU.

    The ``gpu`` profile's full-size run would take hours on a CPU: better to say so at once than
    to let a student wait.
    """
    if profile.needs_gpu and not GPUS:
        raise ValueError(
            f"profile {profile.name!r} is meant for a GPU (mixed precision, full size), but "
            "TensorFlow sees no GPU here. Use profile 'cpu' (or 'auto', which picks it). If this "
            'machine has an NVIDIA GPU: on Linux run `pip install -e ".[gpu]"` and restart; '
            "on Colab choose Runtime > Change runtime type > GPU."
        )


# --------------------------------------------------------------------------- the trainer


@dataclasses.dataclass
class TrainResult:
    """What :func:`train_gan` returns."""

    gan: GAN
    history: dict[str, list[float]]
    run_dir: Path
    metrics: dict[str, Any]
    profile: TrainingProfile

    @property
    def generator(self) -> keras.Model:
        """The generator to sample from (the weight average when the profile uses ``ema``)."""
        return self.gan.sampler


def _distribution_strategy() -> tf.distribute.Strategy:
    """Mirror the model on every GPU when there are several; else TensorFlow's default."""
    if len(GPUS) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


@contextlib.contextmanager
def dtype_policy(policy: str):
    """Build models inside ``with dtype_policy("mixed_bfloat16"):``; the old policy comes back."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_gan(profile: TrainingProfile, strategy: tf.distribute.Strategy | None = None) -> GAN:
    """A compiled :class:`GAN` with the profile's networks and Adam optimizers."""
    from aigc_course.models import build_discriminator, build_generator

    strategy = strategy or _distribution_strategy()
    with strategy.scope(), dtype_policy(precision_policy(profile)):
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


def read_history(path: str | Path) -> dict[str, list[float]]:
    """A ``history.csv`` as ``{column: [values...]}`` (empty if the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: [float(row[key]) for row in rows] for key in (rows[0] if rows else {})}


def run_config(dataset: str, profile: TrainingProfile) -> dict[str, Any]:
    """What a checkpoint records about its run; resuming needs the same ``ARCHITECTURE_KEYS``."""
    return {
        "dataset": dataset,
        "latent_dim": profile.latent_dim,
        "width": profile.width,
        "d_width": profile.discriminator_width,
        "ema": profile.ema,
        "loss": profile.loss,
        "profile": profile.name,
    }


def train_gan(
    dataset: str = "mnist",
    profile: str | TrainingProfile = "auto",
    out: str | Path | None = None,
    resume: bool = False,
    epochs: int | None = None,
    show: bool = False,
    progress: bool = True,
    seed: int = 0,
    evaluate: bool = True,
) -> TrainResult:
    """Train a DCGAN on ``dataset`` with a profile, writing a resumable run folder ``out``.

    ``out`` defaults to ``runs/<dataset>_<profile>``. ``resume=True`` continues from the run's
    checkpoint (same step, same epoch, the rest of an interrupted epoch first); otherwise the
    folder must not hold a checkpoint yet. ``epochs`` overrides the profile's (total, counted from
    the start of the run). ``show=True`` displays each epoch's sample grid inline; ``progress``
    shows Keras' progress bar. ``seed`` seeds Python, NumPy and TensorFlow (through
    ``keras.utils.set_random_seed``) and the data order. ``evaluate`` computes FID and friends with
    :func:`aigc_course.metrics.evaluate_generator` at the end and writes ``metrics.json``.

    Ctrl-C (KeyboardInterrupt) stops training; the last checkpoint stays and the message says how
    to resume. NaN losses stop training and raise ``RuntimeError``; the last good checkpoint stays.
    """
    from aigc_course.data import load_dataset, make_dataset

    prof = profile if isinstance(profile, TrainingProfile) else get_profile(profile)
    require_gpu_if_needed(prof)
    if epochs is not None:
        prof = dataclasses.replace(prof, epochs=_positive_int("epochs", epochs))
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    run_dir = Path(out) if out is not None else Path("runs") / f"{dataset}_{prof.name}"
    ckpt_dir = run_dir / "checkpoints"
    config = run_config(dataset, prof)
    manifest = Checkpoint.read_manifest(ckpt_dir)
    if resume and manifest is None:
        raise FileNotFoundError(
            f"nothing to resume: no checkpoint in {ckpt_dir}; run again without --resume"
        )
    if not resume and manifest is not None:
        raise ValueError(
            f"{run_dir} already holds a checkpoint (step {manifest['step']}); pass resume=True "
            "(--resume) to continue it, or choose another output folder"
        )
    if manifest is not None:
        check_compatible(manifest["config"], config, ckpt_dir)

    images, _ = load_dataset(dataset, "train")
    run_dir.mkdir(parents=True, exist_ok=True)
    steps_per_epoch = prof.steps_per_epoch(len(images))
    keras.utils.set_random_seed(seed)
    gan = build_gan(prof)
    checkpoint = Checkpoint(ckpt_dir, prof.checkpoint_every_steps, config)
    done_epochs = 0
    if manifest is not None:
        manifest = checkpoint.restore(gan)
        done_epochs = manifest["epoch"]
    stop_on_nan = StopOnNaN(checkpoint)
    callbacks = [
        stop_on_nan,
        checkpoint,
        SampleGrid(
            run_dir / "samples", prof.latent_dim, n=prof.sample_images, show=show, seed=seed
        ),
        _HistoryCSV(str(run_dir / "history.csv"), append=resume),
    ]
    data = make_dataset(images, prof.batch_size, shuffle=True, seed=seed, repeat=True)
    if progress:
        where = (
            f"resuming at step {checkpoint._step}, epoch {done_epochs + 1}" if resume else "new run"
        )
        policy = precision_policy(prof)
        precision = "" if policy == "float32" else f", {policy.removeprefix('mixed_')} compute"
        print(
            f"train-gan: {dataset}, profile {prof.name} (width G {prof.width} / D "
            f"{prof.discriminator_width}, latent {prof.latent_dim}, batch {prof.batch_size}, "
            f"{prof.epochs} epochs x {steps_per_epoch} steps{precision}), "
            f"{where}, writing to {run_dir}"
        )
    start = time.perf_counter()
    # A live bar in terminals and notebooks; one line per epoch in logs and pipes.
    live = sys.stdout.isatty() or "ipykernel" in sys.modules
    verbose = (1 if live else 2) if progress else 0
    try:
        epoch_step = checkpoint.epoch_step if manifest is not None else 0
        if epoch_step and done_epochs < prof.epochs:  # finish the interrupted epoch first
            gan.fit(
                data, epochs=done_epochs + 1, initial_epoch=done_epochs, callbacks=callbacks,
                steps_per_epoch=max(steps_per_epoch - epoch_step, 1), verbose=verbose, shuffle=False,
            )  # fmt: skip
            done_epochs += 1
        if done_epochs < prof.epochs and not gan.stop_training:
            gan.fit(
                data, epochs=prof.epochs, initial_epoch=done_epochs, callbacks=callbacks,
                steps_per_epoch=steps_per_epoch, verbose=verbose, shuffle=False,
            )  # fmt: skip
    except KeyboardInterrupt:
        kept = (
            f"the last checkpoint (step {checkpoint.saved_step}) is in {ckpt_dir}; "
            "continue with resume=True (aigc-course train-gan ... --resume)"
            if checkpoint.saved_step is not None
            else "no checkpoint was saved yet"
        )
        print(f"\nTraining interrupted: {kept}.", file=sys.stderr)
        raise
    seconds = time.perf_counter() - start
    if stop_on_nan.message:
        raise RuntimeError(stop_on_nan.message)

    from aigc_course.models import build_generator, keras_only

    generator = averaged = gan.sampler
    if generator.compute_dtype != "float32":  # save float32 weights that run on any machine
        with dtype_policy("float32"):
            generator = build_generator(prof.latent_dim, prof.width)
        generator.set_weights(averaged.get_weights())
    with atomic_path(run_dir / GENERATOR_FILE) as tmp:
        keras_only(generator).save(tmp)  # loads without aigc_course
    metrics: dict[str, Any] = {
        "train_seconds": round(seconds, 1),
        "step": int(gan.step.numpy()),
        "epoch": checkpoint.epoch,
        "profile": prof.name,
        "dataset": dataset,
    }
    if evaluate:
        from aigc_course.metrics import evaluate_generator

        scores = evaluate_generator(
            generator,
            dataset=dataset,
            n=prof.eval_images,
            latent_dim=prof.latent_dim,
            seed=seed,
        )
        metrics.update({k: _jsonable(v) for k, v in scores.items()})
    _write_json(run_dir / "metrics.json", metrics)
    return TrainResult(gan, read_history(run_dir / "history.csv"), run_dir, metrics, prof)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


# --------------------------------------------------------------------------- using a run


def load_generator(run_dir: str | Path) -> keras.Model:
    """The generator of a run: its final ``generator.keras``, or else its latest checkpoint."""
    run_dir = Path(run_dir)
    final = run_dir / GENERATOR_FILE
    if final.exists():
        return keras.saving.load_model(final, compile=False)
    manifest = Checkpoint.read_manifest(run_dir / "checkpoints")
    if manifest is None:
        raise FileNotFoundError(
            f"{run_dir} has neither {GENERATOR_FILE} nor checkpoints/{CHECKPOINT_FILE}; "
            "train it first with aigc-course train-gan --out " + str(run_dir)
        )
    from aigc_course.models import build_generator

    config = manifest["config"]
    generator = build_generator(config["latent_dim"], config["width"])
    saved = _read_checkpoint(run_dir / "checkpoints" / CHECKPOINT_FILE)
    # The weight average when the run kept one, else the generator itself.
    part = "generator_average" if config.get("ema") else "generator"
    keys = [f"{part}/{i:03d}" for i in range(len(generator.weights))]
    generator.set_weights([saved[key] for key in keys])
    return generator


def sample_run(run_dir: str | Path, n: int, out: str | Path, seed: int = 0) -> Path:
    """Write ``n`` samples of a run's generator to ``out``: ``.npy`` (uint8 ``(n, 28, 28)``) or a
    ``.png`` grid. The same ``seed`` gives the same samples."""
    from aigc_course.data import to_uint8

    n = _positive_int("n", n)
    out = Path(out)
    if out.suffix.lower() not in {".npy", ".png"}:
        raise ValueError(f"out must end in .npy (an array) or .png (a grid), got {out.name!r}")
    generator = load_generator(run_dir)
    z = np.random.default_rng(seed).standard_normal((n, generator.input_shape[-1]))
    pixels = to_uint8(generator.predict(z.astype("float32"), batch_size=256, verbose=0))
    if out.suffix.lower() == ".png":
        return _save_png_grid(pixels, out)
    return atomic_write(out, lambda f: np.save(f, pixels))
