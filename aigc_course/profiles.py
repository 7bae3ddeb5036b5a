"""Training profiles and the hardware they run on: how long, how big, which number format.

A *profile* is a frozen dataclass holding every knob of a training run. :class:`Profile` has the
knobs every model family shares (epochs, batch size, checkpoints, precision, XLA); each family
subclasses it with its own (a GAN's widths and losses, a GPT's context length) and ships at
least three: ``smoke`` (CI: seconds), ``cpu`` (a laptop: minutes) and ``gpu`` (a full run).
:func:`get_profile` looks one up and applies overrides, which are validated like the profile.

The hardware policy lives here too: which dtype policy a profile computes in on this machine
(:func:`precision_policy`), the ``tf.distribute`` strategy (:func:`distribution_strategy`: mirrored
over several GPUs) and what a strategy rules out (:func:`fit_to_strategy`: XLA cannot compile a
step whose variables are mirrored over several devices).
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

from aigc_course._tf import GPUS, cpu_has_bf16, keras, onednn_enabled, tf
from aigc_course.env import is_smoke
from aigc_course.errors import ConfigError
from aigc_course.validate import positive_int

#: The profile names every family provides; ``"auto"`` picks one of them for this machine.
STANDARD_PROFILES = ("smoke", "cpu", "gpu")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Profile:
    """The knobs every family's training profile has. Subclass it (also ``frozen=True,
    kw_only=True``) for a family's own knobs, and extend ``__post_init__`` to check them.

    ``examples_per_epoch=None`` makes an epoch one pass over the training examples (images,
    or text windows); a number makes epochs of that size, so short runs still checkpoint, draw
    samples and log once per "epoch". ``mixed_precision=True`` computes in the machine's fast
    16-bit format where it has one (:func:`precision_policy`); ``jit_compile=True`` compiles the
    training step with XLA; ``needs_gpu=True`` refuses to start without a GPU.
    ``preview_samples`` are drawn after every epoch (a grid of images, or lines of text);
    ``eval_samples`` are generated for the final evaluation (e.g. FID).
    """

    name: str
    epochs: int
    batch_size: int
    examples_per_epoch: int | None = None
    jit_compile: bool = False
    mixed_precision: bool = False
    needs_gpu: bool = False
    checkpoint_every_steps: int = 500
    preview_samples: int = 64
    eval_samples: int = 2000

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"a profile needs a name, got {self.name!r}")
        for field in ("epochs", "batch_size", "checkpoint_every_steps", "preview_samples",
                      "eval_samples"):  # fmt: skip
            positive_int(field, getattr(self, field))
        for field in ("jit_compile", "mixed_precision", "needs_gpu"):
            if not isinstance(getattr(self, field), bool):
                raise ConfigError(f"{field} must be True or False, got {getattr(self, field)!r}")
        if self.examples_per_epoch is not None:
            positive_int("examples_per_epoch", self.examples_per_epoch)
            if self.examples_per_epoch < self.batch_size:
                raise ConfigError(
                    f"examples_per_epoch ({self.examples_per_epoch}) must be at least one batch "
                    f"({self.batch_size})"
                )

    def steps_per_epoch(self, n_examples: int) -> int:
        """Training steps per epoch for a training set of ``n_examples`` examples."""
        if n_examples < self.batch_size:
            raise ConfigError(
                f"the training set has {n_examples} examples, fewer than one batch of "
                f"{self.batch_size}"
            )
        return (self.examples_per_epoch or n_examples) // self.batch_size

    def replace(self, **overrides: Any) -> Profile:
        """A copy with ``overrides`` applied (``None`` keeps a value), checked like the original."""
        overrides = {k: v for k, v in overrides.items() if v is not None}
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise ConfigError(
                f"{type(self).__name__} has no setting {', '.join(map(repr, unknown))}; "
                f"its settings are: {', '.join(sorted(fields))}"
            )
        return dataclasses.replace(self, **overrides) if overrides else self


def get_profile(profile: str | Profile = "auto", family: str = "gan", **overrides: Any) -> Profile:
    """The training profile called ``profile`` of model family ``family``, with ``overrides``.

    ``"auto"`` is ``"smoke"`` when ``AIGC_SMOKE=1``, else ``"gpu"`` when TensorFlow sees a GPU,
    else ``"cpu"``. ``profile`` may also be a profile, to change a few of its settings. An
    override of ``None`` keeps the profile's value, so notebook parameters can default to
    ``None``::

        get_profile("cpu", epochs=3, mixed_precision=False)
        get_profile("auto", name="ch03", width=16)   # a variant with a name of its own
    """
    if isinstance(profile, Profile):
        return profile.replace(**overrides)
    from aigc_course.families import get_family

    profiles = get_family(family).profiles
    if not isinstance(profile, str) or (profile != "auto" and profile not in profiles):
        raise ConfigError(
            f"unknown profile {profile!r} for {family}; choose one of: auto, {', '.join(profiles)}"
        )
    if profile == "auto":
        profile = "smoke" if is_smoke() else "gpu" if GPUS else "cpu"
    return profiles[profile].replace(**overrides)


# --------------------------------------------------------------------------- precision


def precision_policy(profile: Profile) -> str:
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


def describe_precision(profile: Profile) -> str:
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


@contextlib.contextmanager
def dtype_policy(policy: str):
    """Build models inside ``with dtype_policy("mixed_bfloat16"):``; the old policy comes back."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


# --------------------------------------------------------------------------- devices


def require_gpu_if_needed(profile: Profile) -> None:
    """Refuse, with the fix, a GPU-only profile on a machine without a GPU.

    A full-size run would take hours on a CPU: better to say so at once than to let a student
    wait.
    """
    if profile.needs_gpu and not GPUS:
        raise ConfigError(
            f"profile {profile.name!r} is meant for a GPU (mixed precision, full size), but "
            "TensorFlow sees no GPU here. Use profile 'cpu' (or 'auto', which picks it). If this "
            'machine has an NVIDIA GPU: on Linux run `pip install -e ".[gpu]"` and restart; '
            "on Colab choose Runtime > Change runtime type > GPU."
        )


def distribution_strategy(multi_gpu: bool = True) -> tf.distribute.Strategy:
    """Mirror the model on every GPU when there are several (and ``multi_gpu``); else
    TensorFlow's default strategy (one device)."""
    if multi_gpu and len(GPUS) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def fit_to_strategy(profile: Profile, strategy: tf.distribute.Strategy) -> Profile:
    """``profile`` as it can run under ``strategy``: without XLA when there are several replicas.

    XLA compiles a step for one device; with variables mirrored over several it fails ("Trying
    to access resource ... located in device ...:1 from device ...:0"), so the step runs as a
    plain ``tf.function`` instead, and one printed line says so.
    """
    replicas = strategy.num_replicas_in_sync
    if profile.jit_compile and replicas > 1:
        print(
            f"XLA (jit_compile) is off for this run: it cannot compile a step mirrored over "
            f"{replicas} devices; each device still runs the step as one TensorFlow graph."
        )
        return profile.replace(jit_compile=False)
    return profile


__all__ = [
    "STANDARD_PROFILES",
    "Profile",
    "get_profile",
    "precision_policy",
    "describe_precision",
    "dtype_policy",
    "require_gpu_if_needed",
    "distribution_strategy",
    "fit_to_strategy",
]
