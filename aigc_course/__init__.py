"""Helpers for the AIGC course notebooks.

Importing the package is cheap: TensorFlow is imported only by the submodules
that need it, after :func:`setup` has quietened its start-up logs.
"""

import os as _os

# TensorFlow reads this once, when it is first imported; set it before any submodule can
# import it so notebook outputs carry no C++ log noise. oneDNN (TF_ENABLE_ONEDNN_OPTS) keeps
# TensorFlow's default, fast kernels; the test and refresh commands switch it off so that
# compared numbers are the same on every CPU.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from aigc_course.env import environment_report, is_smoke, knob, setup  # noqa: E402

__version__ = "0.1.0"
__all__ = ["setup", "environment_report", "is_smoke", "knob", "__version__"]
