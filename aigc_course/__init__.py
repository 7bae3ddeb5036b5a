"""Helpers for the AIGC course notebooks.

Importing the package is cheap: TensorFlow is imported only when a name that needs it is first
used, after the package has quietened TensorFlow's start-up logs. The names below are the stable
surface chapters use::

    import aigc_course
    aigc_course.setup(seed=0)
    from aigc_course import GPUS, keras, tf
    profile = aigc_course.get_profile("cpu", epochs=3, mixed_precision=False)
    result = aigc_course.train("gan", "mnist", profile, out="runs/demo")
"""

import importlib as _importlib
import os as _os

# TensorFlow reads this once, when it is first imported; set it before any submodule can
# import it so notebook outputs carry no C++ log noise. oneDNN (TF_ENABLE_ONEDNN_OPTS) keeps
# TensorFlow's default, fast kernels; the test and refresh commands switch it off so that
# compared numbers are the same on every CPU.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from aigc_course.env import environment_report, is_offline, is_smoke, knob, setup  # noqa: E402

__version__ = "0.1.0"

# name -> the module that defines it, imported on first use (each of them imports TensorFlow)
_LAZY = {
    "tf": "aigc_course._tf",
    "keras": "aigc_course._tf",
    "GPUS": "aigc_course._tf",
    "get_profile": "aigc_course.profiles",
    "describe_precision": "aigc_course.profiles",
    "distribution_strategy": "aigc_course.profiles",
    "get_family": "aigc_course.families",
    "train": "aigc_course.runs",
    "load_run": "aigc_course.runs",
    "sample_run": "aigc_course.runs",
    "evaluate_run": "aigc_course.runs",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'aigc_course' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "setup",
    "environment_report",
    "is_smoke",
    "is_offline",
    "knob",
    "__version__",
    *_LAZY,
]
