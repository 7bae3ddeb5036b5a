"""Model families: what the training engine needs from a GAN, a diffusion model, a GPT, ...

The engine (:mod:`aigc_course.runs`, :mod:`aigc_course.checkpoint`, the callbacks and the
``aigc-course`` command) knows nothing about any one family. A family is one module,
``aigc_course/families/<name>.py``, that defines ``FAMILY``, an instance of a :class:`Family`
subclass. :func:`get_family` imports the module on first use, so adding a family needs no edit
anywhere else. The contract, in short (``CONTRIBUTING.md`` says more):

* ``build(profile, dataset)`` returns a compiled ``keras.Model`` whose ``fit()`` trains it; the
  engine calls it inside the distribution strategy's scope and the profile's dtype policy. Every
  variable a resume needs is a weight of the model or of a ``keras.optimizers.Optimizer`` held in
  one of its attributes (``model.optimizer``, or e.g. ``model.d_optimizer`` and
  ``model.g_optimizer``); checkpoints key them by their Keras path, so layers need stable, unique
  names.
* ``data(dataset, profile, seed)`` returns the repeated, shuffled training stream and its size.
* ``sample(model, n, seed, **options)`` returns ``n`` samples: uint8 images ``(n, H, W)`` or a list
  of strings. The same seed gives the same samples; ``model`` is the trained model or the
  family's export. ``sample_options`` declares the options, so the command line can offer them.
* ``export`` / ``load_export`` write and read the run's final model (``export_name``);
  ``evaluate`` returns the family's scores (FID beside its floor, or bits per dimension/character);
  a family with a likelihood on images also overrides ``bits_per_dim``.
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from aigc_course.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

    from aigc_course._tf import keras, tf
    from aigc_course.profiles import Profile

DATA_KINDS = ("images", "text")


@dataclasses.dataclass(frozen=True)
class Option:
    """A family-specific sampling option, offered as ``--name`` by ``aigc-course sample``.

    ``type`` converts the command-line text (``int``, ``float``, ``str``); ``default`` is what
    :meth:`Family.sample` uses when the option is not given; ``choices`` limits the values.
    """

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


class Family(abc.ABC):
    """One kind of generative model, as the training engine sees it. Subclass it and set the
    class attributes; the methods marked abstract are the contract."""

    #: The family's name, the same as its module's: ``aigc-course train --model NAME``.
    name: ClassVar[str]
    #: Its named profiles, instances of its own subclass of :class:`aigc_course.profiles.Profile`;
    #: at least ``smoke``, ``cpu`` and ``gpu``.
    profiles: ClassVar[dict[str, Profile]]
    #: ``"images"`` (samples are uint8 arrays) or ``"text"`` (samples are strings).
    data_kind: ClassVar[str]
    #: The data sets it trains on; the first is the default (``mnist``, or ``tang`` for text).
    datasets: ClassVar[tuple[str, ...]]
    #: The file name of its export inside a run folder, e.g. ``generator.keras``.
    export_name: ClassVar[str]
    #: Options of :meth:`sample` beyond ``n`` and ``seed`` (e.g. diffusion's ``steps``).
    sample_options: ClassVar[tuple[Option, ...]] = ()
    #: Advice printed when training diverges (NaN losses).
    divergence_hint: ClassVar[str] = "lower the learning rate"

    @property
    def profile_type(self) -> type:
        """The family's profile dataclass (the type of its named profiles)."""
        return type(next(iter(self.profiles.values())))

    @abc.abstractmethod
    def config(self, profile: Profile, dataset: str) -> dict[str, Any]:
        """The settings a resumed run must share with its checkpoint (JSON-able): those that
        shape the variables or change what they mean (widths, latent size, loss, vocabulary)."""

    @abc.abstractmethod
    def build(self, profile: Profile, dataset: str) -> keras.Model:
        """A compiled model for ``profile`` (compile it with ``jit_compile=profile.jit_compile``,
        or without XLA where the family measured it no faster, saying so) whose ``fit()`` makes
        one optimisation step per batch. Called inside the engine's distribution strategy scope
        and dtype policy."""

    @abc.abstractmethod
    def data(self, dataset: str, profile: Profile, seed: int) -> tuple[tf.data.Dataset, int]:
        """The training stream (batches of ``profile.batch_size``, shuffled with ``seed``, repeated
        forever) and the number of training examples it draws from."""

    @abc.abstractmethod
    def sample(self, model: Any, n: int, seed: int = 0, **options: Any) -> np.ndarray | list[str]:
        """``n`` samples from ``model`` (trained, or loaded by :meth:`load_export`): uint8 images
        ``(n, H, W)`` or ``n`` strings. The same ``seed`` and options give the same samples."""

    @abc.abstractmethod
    def export(self, model: keras.Model, profile: Profile, path: Path) -> None:
        """Save what sampling needs (e.g. the generator, in float32) to ``path`` (named like
        ``export_name``); the engine makes the write atomic."""

    @abc.abstractmethod
    def load_export(self, path: Path) -> Any:
        """Load what :meth:`export` saved; :meth:`sample` and :meth:`evaluate` accept it."""

    @abc.abstractmethod
    def evaluate(self, model: Any, dataset: str, profile: Profile, seed: int = 0) -> dict[str, Any]:
        """Scores of ``model`` as plain numbers: for images ``fid`` beside ``fid_floor`` (see
        :func:`aigc_course.metrics.evaluate_images`); for likelihood families ``bits_per_dim``
        or ``bits_per_char`` on held-out data."""

    def bits_per_dim(self, model: Any, dataset: str) -> float | None:
        """Held-out negative log-likelihood, or a bound on it, in bits per dimension of the 8-bit
        test images of ``dataset``; ``None`` for a family that has no likelihood (a GAN).
        Likelihood families override it; the bench (:mod:`aigc_course.bench`) reports it."""
        return None

    def describe(self, profile: Profile) -> str:
        """The architecture in a few words, for the line printed when training starts."""
        return ""

    def headline(self, metrics: dict[str, Any]) -> str:
        """The evaluation in one line, for ``aigc-course train`` and ``evaluate``."""
        parts = []
        if "fid" in metrics:
            parts.append(
                f"FID {metrics['fid']:.2f} (real-vs-real floor {metrics['fid_floor']:.2f})"
            )
        for key, unit in (("bits_per_dim", "bits/dim"), ("bits_per_char", "bits/char")):
            if key in metrics:
                parts.append(f"held-out {metrics[key]:.3f} {unit}")
        return "; ".join(parts)

    def check_dataset(self, dataset: object) -> str:
        """``dataset`` if this family trains on it, else a ConfigError listing the choices."""
        if dataset not in self.datasets:
            raise ConfigError(
                f"the {self.name} family trains on {', '.join(self.datasets)}; got {dataset!r}"
            )
        return dataset  # type: ignore[return-value]

    def sample_defaults(self, **options: Any) -> dict[str, Any]:
        """``options`` completed with the declared defaults; unknown names are refused."""
        known = {o.name: o for o in self.sample_options}
        unknown = sorted(set(options) - set(known))
        if unknown:
            offered = ", ".join(known) or "none"
            raise ConfigError(
                f"the {self.name} family has no sampling option {', '.join(unknown)} "
                f"(its options: {offered})"
            )
        values = {name: o.default for name, o in known.items()}
        values.update({k: v for k, v in options.items() if v is not None})
        for name, value in values.items():
            choices = known[name].choices
            if choices is not None and value not in choices:
                raise ConfigError(
                    f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}"
                )
        return values


def family_names() -> list[str]:
    """The families this installation has (one module each in ``aigc_course/families``)."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def get_family(name: str | Family) -> Family:
    """The family called ``name`` (its module is imported on first use)."""
    if isinstance(name, Family):
        return name
    names = family_names()
    if name not in names:
        raise ConfigError(f"unknown model family {name!r}; choose one of: {', '.join(names)}")
    family = importlib.import_module(f"{__name__}.{name}").FAMILY
    if family.name != name or family.data_kind not in DATA_KINDS:
        raise ConfigError(
            f"aigc_course/families/{name}.py defines a family named {family.name!r} with data "
            f"kind {family.data_kind!r}; the name must be {name!r} and the kind one of {DATA_KINDS}"
        )
    return family


__all__ = ["DATA_KINDS", "Option", "Family", "family_names", "get_family"]
