"""Helpers for the AIGC course notebooks.

Importing the package is cheap: TensorFlow is imported only by the submodules
that need it, after :func:`setup` has quietened its start-up logs.
"""

import os as _os

# TensorFlow reads these once, when it is first imported; set them before any
# submodule can import it so notebook outputs carry no C++ log noise.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from aigc_course.env import environment_report, is_smoke, knob, setup  # noqa: E402

__version__ = "0.1.0"
__all__ = ["setup", "environment_report", "is_smoke", "knob", "__version__"]
