"""Environment set-up shared by every notebook: switches, logs, seeds, determinism, plot style."""

from __future__ import annotations

import os
import random

import numpy as np

_state: dict[str, object] = {"threads_pinned": False}


_TRUE = {"1", "true", "yes", "on"}


def env_flag(name: str) -> bool:
    """Whether the environment switch ``name`` is on: ``1``, ``true``, ``yes`` or ``on`` (any case).

    The one parser of every ``AIGC_*`` switch, so ``AIGC_OFFLINE=true`` means the same to the
    data loader, the environment report and everything else.
    """
    return os.environ.get(name, "").strip().lower() in _TRUE


def is_smoke() -> bool:
    """True when ``AIGC_SMOKE`` is on: CI's switch that makes every heavy knob tiny."""
    return env_flag("AIGC_SMOKE")


def is_offline() -> bool:
    """True when ``AIGC_OFFLINE`` is on: never try the network."""
    return env_flag("AIGC_OFFLINE")


def knob(default, smoke):
    """A notebook parameter: ``default`` for readers, ``smoke`` under ``AIGC_SMOKE=1`` (CI)."""
    return smoke if is_smoke() else default


def _plot_style() -> None:
    import matplotlib as mpl

    mpl.rcParams.update(
        {
            "figure.figsize": (7.0, 4.0),
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "font.size": 11,
            "axes.titlesize": 12,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "image.cmap": "gray",
        }
    )


def setup(seed: int = 0, deterministic: bool = False, quiet: bool = False) -> None:
    """Prepare a notebook: quiet TensorFlow, seed every generator, set the plot style.

    ``deterministic=True`` pins TensorFlow to one thread and turns on op determinism, so
    printed numbers are bit-identical on any machine (use it where outputs are compared,
    not for long training: one thread is about 1.6x slower on two cores). Keras also
    compiles models without XLA while op determinism is on (a run's ``metrics.json`` says
    whether its training step was compiled with XLA, ``"xla"``). Threads can only be pinned
    before TensorFlow runs its first op; calling ``setup`` again is safe.

    Prints a one-line report (TensorFlow version, devices); :func:`environment_report`
    returns the same facts as a dict.
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")

    from aigc_course._tf import keras, tf

    tf.get_logger().setLevel("ERROR")
    if deterministic and not _state["threads_pinned"]:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
            _state["threads_pinned"] = True
        except RuntimeError:
            # TensorFlow already ran an op in this kernel; results are still seeded.
            print(
                "note: TensorFlow was already running, so threads stay unpinned; "
                "restart the kernel for bit-identical results."
            )
    if deterministic:
        tf.config.experimental.enable_op_determinism()

    keras.utils.set_random_seed(seed)  # seeds Python, NumPy and TensorFlow
    random.seed(seed)
    np.random.seed(seed)
    _plot_style()

    _state.update(seed=seed, deterministic=deterministic)
    if not quiet:
        report = environment_report()
        device = f"{report['gpus']} GPU(s)" if report["gpus"] else "CPU only"
        extra = " · deterministic" if deterministic else ""
        extra += " · smoke mode (AIGC_SMOKE=1)" if report["smoke"] else ""
        print(
            f"TensorFlow {tf.__version__} · Keras {keras.__version__} · {device} · seed {seed}{extra}"
        )


def environment_report() -> dict[str, object]:
    """Versions, devices and switches of this kernel, for the environment check."""
    import platform

    from aigc_course._tf import GPUS, cpu_has_bf16, keras, onednn_enabled, tf

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "gpus": len(GPUS),
        "gpu_names": [d.name for d in GPUS],
        "onednn": onednn_enabled(),
        "cpu_bf16": cpu_has_bf16(),
        "smoke": is_smoke(),
        "offline": is_offline(),
        "seed": _state.get("seed"),
        "deterministic": _state.get("deterministic", False),
    }
