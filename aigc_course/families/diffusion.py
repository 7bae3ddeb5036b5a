"""The diffusion family: a small U-Net denoiser (:class:`aigc_course.diffusion_model.DiffusionModel`)
as the engine trains it, and its samplers (:mod:`aigc_course.samplers`).

``aigc-course train --model diffusion --dataset fashion_mnist --profile cpu --out runs/diff``
trains it; ``aigc-course sample --run runs/diff --n 64 --out s.png --steps 25 --label 3
--guidance 2`` draws from it (DDIM by default, ``--sampler ddpm`` for ancestral sampling).
A run's export is ``denoiser.keras``: the weight-averaged U-Net in float32, with the noise
schedule and what the network predicts stored beside it in the same archive, so
:meth:`DiffusionFamily.load_export` needs nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from aigc_course import diffusion as maths
from aigc_course._tf import GPUS, keras, onednn_enabled, tf
from aigc_course.diffusion_model import DiffusionModel, WarmupSchedule, loss_weights
from aigc_course.errors import ConfigError
from aigc_course.families import Family, Option
from aigc_course.profiles import Profile, dtype_policy
from aigc_course.samplers import Denoiser, generate
from aigc_course.validate import number_in, one_of, positive_int

#: The archive entry of the export that holds the schedule and the prediction target.
EXPORT_META = "diffusion.json"
#: Training set size of MNIST and Fashion-MNIST (sets the length of a cosine decay).
TRAIN_IMAGES = 60_000


@dataclasses.dataclass(frozen=True, kw_only=True)
class DiffusionProfile(Profile):
    """Every knob of a diffusion run (the common ones are :class:`Profile`'s).

    Network: ``widths`` (channels at each resolution), ``blocks`` per resolution, bottleneck
    ``attention``, ``patch`` (2: the U-Net works on 14x14 maps of 2x2 patches, 4x cheaper).
    Process: ``schedule`` ("cosine" or "linear") with ``timesteps`` steps, ``prediction``
    ("v", "eps" or "x0"), loss ``weighting`` ("min_snr" or "uniform"). Optimiser: Adam at
    ``learning_rate`` after a linear warm-up of ``warmup_steps``, then constant or
    (``lr_decay="cosine"``) decaying to zero at the end of the run; gradients clipped to global
    norm ``clipnorm``. ``ema``: decay of the weight average (warmed up, see
    :class:`~aigc_course.diffusion_model.DiffusionModel`). ``conditional`` trains on labels with
    ``label_dropout``. Evaluation samples with ``sample_steps`` DDIM steps and ``guidance``.
    """

    widths: tuple[int, ...] = (32, 64)
    blocks: int = 1
    attention: bool = True
    patch: int = 2
    schedule: str = "cosine"
    timesteps: int = 1000
    prediction: str = "v"
    weighting: str = "min_snr"
    min_snr_gamma: float = 5.0
    learning_rate: float = 1e-3
    warmup_steps: int = 200
    lr_decay: str = "constant"
    clipnorm: float = 1.0
    conditional: bool = True
    label_dropout: float = 0.1
    ema: float = 0.999
    sample_steps: int = 25
    guidance: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.widths, list | tuple) or not self.widths:
            raise ConfigError(f"widths must be a list of channel counts, got {self.widths!r}")
        object.__setattr__(self, "widths", tuple(positive_int("widths", w) for w in self.widths))
        for field in ("blocks", "timesteps", "sample_steps", "warmup_steps"):
            positive_int(field, getattr(self, field))
        one_of("patch", self.patch, (1, 2))
        one_of("schedule", self.schedule, maths.SCHEDULES)
        one_of("prediction", self.prediction, maths.PREDICTIONS)
        one_of("lr_decay", self.lr_decay, ("constant", "cosine"))
        loss_weights(np.ones(1), self.prediction, self.weighting, self.min_snr_gamma)
        number_in("learning_rate", self.learning_rate, 0, 1, low_open=True)
        number_in("clipnorm", self.clipnorm, 0, float("inf"), low_open=True)
        number_in("label_dropout", self.label_dropout, 0, 1)
        number_in("ema", self.ema, 0, 1)
        number_in("guidance", self.guidance, 0, 100)
        if self.sample_steps > self.timesteps:
            raise ConfigError(
                f"sample_steps ({self.sample_steps}) cannot exceed timesteps ({self.timesteps})"
            )


PROFILES: dict[str, DiffusionProfile] = {
    # CI: seconds; proves the pipeline runs end to end. The samples are noise. T=20 caps every
    # sampler at 20 steps (the per-epoch grids and the bench ask for 50).
    "smoke": DiffusionProfile(
        name="smoke", epochs=2, batch_size=16, widths=(8, 16), attention=False, patch=1,
        timesteps=20, examples_per_epoch=64, warmup_steps=2, checkpoint_every_steps=2,
        preview_samples=16, eval_samples=256, sample_steps=5, ema=0.9,
    ),
    # A 2-core laptop, ~2,400 steps of batch 128. On Fashion-MNIST (2,000 samples, 25 DDIM
    # steps) v-prediction with min-SNR weighting reached FID 16.4 after 1,000 steps where the
    # plain eps loss reached 47.0 (same run otherwise, side by side). XLA: in float32 on a 2-core
    # AVX2 CPU with TensorFlow's plain kernels (oneDNN off, its default there), 1,153 steps in 15
    # minutes instead of 872; where oneDNN runs the step, build() leaves XLA off (_xla_refusal).
    # benchmarks/README.md has speed and quality against training time.
    "cpu": DiffusionProfile(
        name="cpu", epochs=10, batch_size=128, mixed_precision=True, jit_compile=True,
        examples_per_epoch=30_720,
    ),
    # One GPU or more: a wider U-Net on full-resolution maps, 100 passes, cosine decay.
    "gpu": DiffusionProfile(
        name="gpu", epochs=100, batch_size=128, widths=(64, 128, 256), blocks=2, patch=1,
        needs_gpu=True, jit_compile=True, mixed_precision=True, checkpoint_every_steps=2000,
        eval_samples=10_000, sample_steps=50, ema=0.9995, lr_decay="cosine", learning_rate=2e-4,
    ),
}  # fmt: skip


def make_labelled_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int, seed: int = 0):
    """A repeated, shuffled ``tf.data`` stream of ``(x0 (B,28,28,1) in [-1,1], label)`` batches."""
    ds = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32))).cache()
    ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=True).repeat()
    ds = ds.map(lambda x, y: (tf.cast(x, "float32")[..., None] / 127.5 - 1.0, y),
                num_parallel_calls=tf.data.AUTOTUNE)  # fmt: skip
    return ds.prefetch(tf.data.AUTOTUNE)


def denoiser_of(model: Any) -> Denoiser:
    """What the samplers need, from a trained :class:`DiffusionModel` or an export."""
    if isinstance(model, Denoiser):
        return model
    if isinstance(model, DiffusionModel):
        return model.denoiser
    raise ConfigError(
        f"expected a DiffusionModel or a loaded diffusion export, got {type(model).__name__}"
    )


def score(model: Any, dataset: str, n: int = 2000, seed: int = 0, *, classifier=None,
          verbose: bool = False, **options: Any) -> dict[str, Any]:  # fmt: skip
    """Sample ``n`` images with ``options`` (:data:`DiffusionFamily.sample_options`) and score
    them (:func:`aigc_course.metrics.evaluate_images`: FID beside its real-vs-real floor, ...),
    adding ``images_per_second`` of the sampler and, for a class-conditional model asked for
    balanced classes, ``class_accuracy``: how often the evaluation classifier names the class
    asked for (and ``class_accuracy_real`` of real training images, its ceiling)."""
    from aigc_course.classifier import _features_and_probs, get_classifier
    from aigc_course.data import load_dataset
    from aigc_course.metrics import evaluate_images

    denoiser = denoiser_of(model)
    options = FAMILY.sample_defaults(**options)
    labels = np.arange(n) % denoiser.num_classes if denoiser.num_classes else None
    if options["label"] >= 0:
        labels = options["label"]
    start = time.perf_counter()
    images = FAMILY.sample(denoiser, n, seed, labels=labels, **options)
    seconds = time.perf_counter() - start
    classifier = classifier if classifier is not None else get_classifier(dataset, verbose=verbose)
    scores = evaluate_images(images, dataset, seed, classifier=classifier, verbose=verbose)
    scores.update(options, images_per_second=n / seconds)
    if denoiser.num_classes:
        _, probs = _features_and_probs(images, dataset, classifier, "samples")
        scores["class_accuracy"] = float(np.mean(probs.argmax(1) == np.broadcast_to(labels, n)))
        real, real_labels = load_dataset(dataset, "train", verbose=False)
        picks = np.random.default_rng(seed).permutation(len(real))[:n]
        _, probs = _features_and_probs(real[picks], dataset, classifier, "training images")
        scores["class_accuracy_real"] = float(np.mean(probs.argmax(1) == real_labels[picks]))
    return scores


class SampleScorer:
    """FID against one fixed set of ``n`` real training images, and class accuracy: cheap to
    call many times (a sweep over step counts or guidance scales compares like with like).

    ``floor`` is the FID of a second, disjoint set of ``n`` real images (what a perfect model
    scores at this ``n``); ``accuracy_real`` the classifier's accuracy on that set (the ceiling
    of ``class_accuracy``).
    """

    def __init__(self, dataset: str, n: int, seed: int = 0, classifier=None):
        from aigc_course.classifier import get_classifier
        from aigc_course.data import load_dataset
        from aigc_course.metrics import frechet_distance

        images, labels = load_dataset(dataset, "train", verbose=False)
        n = min(positive_int("n", n), len(images) // 2)
        self.dataset, self.n = dataset, n
        self.classifier = classifier if classifier is not None else get_classifier(dataset)
        picks = np.random.default_rng(seed).permutation(len(images))[: 2 * n]
        self.reference = self._features(images[picks[:n]])[0]
        feats, probs = self._features(images[picks[n:]])
        self.floor = frechet_distance(feats, self.reference)
        self.accuracy_real = float(np.mean(probs.argmax(1) == labels[picks[n:]]))

    def _features(self, images):
        from aigc_course.classifier import _features_and_probs

        return _features_and_probs(images, self.dataset, self.classifier, "images")

    def __call__(self, images, labels=None) -> dict[str, float]:
        """``fid`` (and ``class_accuracy`` when the classes asked for are given) of ``images``."""
        from aigc_course.metrics import frechet_distance

        feats, probs = self._features(images)
        scores = {"fid": frechet_distance(feats, self.reference), "fid_floor": self.floor}
        if labels is not None:
            asked = np.broadcast_to(labels, len(probs))
            scores["class_accuracy"] = float(np.mean(probs.argmax(1) == asked))
        return scores


def pretrained(dataset: str = "fashion_mnist") -> Denoiser:
    """The class-conditional model shipped with the course (``aigc_course/_data``), trained with
    the ``cpu`` profile on ``dataset``; :func:`pretrained_record` says how long and how well."""
    from importlib import resources

    path = resources.files("aigc_course") / "_data" / f"diffusion_{dataset}.keras"
    if not path.is_file():
        raise ConfigError(
            f"no pretrained diffusion model for {dataset!r} ships with the course; train one "
            f"with aigc-course train --model diffusion --dataset {dataset} --out RUN"
        )
    with resources.as_file(path) as file:
        return FAMILY.load_export(file)


def pretrained_record(dataset: str = "fashion_mnist") -> dict[str, Any]:
    """How the shipped model was trained (profile, steps, minutes) and scored (its run's
    ``metrics.json``)."""
    from importlib import resources

    path = resources.files("aigc_course") / "_data" / f"diffusion_{dataset}.json"
    return json.loads(path.read_text())


def _xla_refusal() -> str | None:
    """Why this machine's training step stays a plain TensorFlow graph instead of XLA, or None.

    Measured with ``benchmarks/diffusion_cpu.py --xla`` on one 2-core AVX2 CPU in float32: XLA
    trains 1.3x faster than TensorFlow's plain kernels, but no faster than oneDNN's (0.97x and
    1.02x in two runs); that other CPUs running oneDNN (by default on those with VNNI or AMX)
    behave alike is an extrapolation. On a CPU, bfloat16 runs on oneDNN and was never measured
    with a whole compiled step (only the fused GroupNormSiLU is compiled there). GPUs keep XLA,
    the usual choice there, which we have not measured (no GPU).
    """
    if GPUS:
        return None
    if keras.config.dtype_policy().name == "mixed_bfloat16":
        return "the step computes in bfloat16 on oneDNN's CPU kernels, where XLA was not measured"
    if onednn_enabled():
        return ("oneDNN's CPU kernels run the step, and on the course's 2-core test CPU XLA was no "
                "faster than them (0.97-1.02x)")  # fmt: skip
    return None


class DiffusionFamily(Family):
    """A denoising diffusion model on 28x28 grey-scale images (class-conditional by default)."""

    name = "diffusion"
    profiles = PROFILES
    data_kind = "images"
    datasets = ("mnist", "fashion_mnist")
    export_name = "denoiser.keras"
    sample_options = (
        Option("steps", int, 50, "sampling steps: DDIM takes any number up to the model's T; "
               "DDPM with fewer than T steps is ancestral sampling on a respaced schedule"),
        Option("sampler", str, "ddim", "ddim (deterministic) or ddpm (fresh noise each step)",
               choices=("ddim", "ddpm")),
        Option("guidance", float, 1.0, "classifier-free guidance scale (1: plain conditional, "
               "0: unconditional, >1: more like the class, less diverse)"),
        Option("label", int, -1, "the class to draw (-1: every class in turn)"),
    )  # fmt: skip
    divergence_hint = "lower the learning rate or raise warmup_steps"

    def config(self, profile: DiffusionProfile, dataset: str) -> dict[str, Any]:
        return {
            "widths": list(profile.widths), "blocks": profile.blocks,
            "attention": profile.attention, "patch": profile.patch,
            "schedule": profile.schedule, "timesteps": profile.timesteps,
            "prediction": profile.prediction, "conditional": profile.conditional,
            "ema": profile.ema,
        }  # fmt: skip

    def build(self, profile: DiffusionProfile, dataset: str) -> DiffusionModel:
        from aigc_course.unet import build_unet

        num_classes = 10 if profile.conditional else 0
        unet = build_unet(profile.widths, profile.blocks, profile.attention, num_classes,
                          patch=profile.patch)  # fmt: skip
        model = DiffusionModel(
            unet, maths.make_schedule(profile.schedule, profile.timesteps), profile.prediction,
            profile.weighting, profile.min_snr_gamma, num_classes, profile.label_dropout,
            profile.ema,
        )  # fmt: skip
        total = profile.epochs * profile.steps_per_epoch(TRAIN_IMAGES)
        rate = WarmupSchedule(profile.learning_rate, profile.warmup_steps, total, profile.lr_decay)
        refusal = _xla_refusal() if profile.jit_compile else None
        if refusal:
            print(f"XLA (jit_compile) is off for this run: {refusal}.")
        xla = profile.jit_compile and not refusal
        model.compile(keras.optimizers.Adam(rate, global_clipnorm=profile.clipnorm),
                      jit_compile=xla)  # fmt: skip
        return model

    def data(self, dataset: str, profile: DiffusionProfile, seed: int):
        from aigc_course.data import load_dataset

        images, labels = load_dataset(dataset, "train")
        return make_labelled_dataset(images, labels, profile.batch_size, seed), len(images)

    def sample(self, model: Any, n: int, seed: int = 0, *, labels=None,
               **options: Any) -> np.ndarray:  # fmt: skip
        """``n`` uint8 images ``(n, 28, 28)``; ``labels`` (one class, or one per image) overrides
        the ``label`` option. Every class in turn when neither is given."""
        from aigc_course.images import to_uint8

        options = self.sample_defaults(**options)
        denoiser = denoiser_of(model)
        positive_int("steps", options["steps"])
        number_in("guidance", options["guidance"], 0, 100)
        if denoiser.num_classes and not -1 <= options["label"] < denoiser.num_classes:
            raise ConfigError(
                f"label must be -1 (every class in turn) or a class 0..{denoiser.num_classes - 1}; "
                f"got {options['label']}"
            )
        if labels is None and denoiser.num_classes:
            labels = np.arange(n) % denoiser.num_classes
            if options["label"] >= 0:
                labels = options["label"]
        elif labels is None and options["label"] >= 0:
            raise ConfigError("this model is unconditional: it takes no --label")
        steps = min(options["steps"], denoiser.timesteps)
        x, _ = generate(denoiser, n, seed=seed, steps=steps, sampler=options["sampler"],
                        guidance=options["guidance"], labels=labels)  # fmt: skip
        return to_uint8(x)

    def export(self, model: DiffusionModel, profile: DiffusionProfile, path: Path) -> None:
        net = model.sampler
        if net.compute_dtype != "float32":  # float32 weights run on any machine
            with dtype_policy("float32"):
                copy = self.build(profile.replace(jit_compile=False), "mnist").sampler
            copy.set_weights(net.get_weights())
            net = copy
        net.save(path)
        meta = {"schedule": profile.schedule, "timesteps": model.timesteps,
                "prediction": model.prediction, "num_classes": model.num_classes}  # fmt: skip
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(EXPORT_META, json.dumps(meta, indent=2, sort_keys=True))

    def load_export(self, path: Path) -> Denoiser:
        import aigc_course.unet  # noqa: F401  (registers its layers, which the archive names)

        with zipfile.ZipFile(path) as archive:
            if EXPORT_META not in archive.namelist():
                raise ConfigError(f"{path} is not a diffusion export: it has no {EXPORT_META}")
            meta = json.loads(archive.read(EXPORT_META))
        net = keras.saving.load_model(path, compile=False)
        betas = maths.make_schedule(meta["schedule"], meta["timesteps"])
        return Denoiser(net, betas, meta["prediction"], meta["num_classes"])

    def evaluate(self, model: Any, dataset: str, profile: DiffusionProfile,
                 seed: int = 0) -> dict[str, Any]:  # fmt: skip
        steps = min(profile.sample_steps, denoiser_of(model).timesteps)
        return score(model, dataset, profile.eval_samples, seed, steps=steps,
                     guidance=profile.guidance)  # fmt: skip

    def describe(self, profile: DiffusionProfile) -> str:
        return (
            f"U-Net widths {'/'.join(map(str, profile.widths))}, {profile.schedule} schedule, "
            f"T={profile.timesteps}, predicts {profile.prediction}"
        )

    def headline(self, metrics: dict[str, Any]) -> str:
        line = super().headline(metrics)
        if "class_accuracy" in metrics:
            line += f"; class accuracy {metrics['class_accuracy']:.1%}"
        return line


FAMILY = DiffusionFamily()

__all__ = ["DiffusionProfile", "PROFILES", "DiffusionFamily", "FAMILY", "score", "SampleScorer",
           "pretrained", "pretrained_record", "make_labelled_dataset", "denoiser_of"]  # fmt: skip
