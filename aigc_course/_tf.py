"""Import TensorFlow and Keras once, with TensorFlow's C++ start-up chatter silenced.

TensorFlow writes a few lines straight to the process's stderr while it loads (before
its own log level applies): "All log messages before absl::InitializeLog() ...", and
the CUDA probe's messages on machines without a GPU. Inside Jupyter they would land in
every notebook's output. We point file descriptor 2 at the null device for the import
and the first device query, then restore it, so real errors later are still shown.
Every module of the package imports TensorFlow from here.

``TF_CPP_MIN_LOG_LEVEL`` defaults to 3 (C++ errors hidden too): TensorFlow 2.21 logs a
harmless C++ "error" about ``use_unbounded_threadpool`` on every ``Model.predict`` once op
determinism is on. Python exceptions are unaffected. To debug a GPU set-up, start Jupyter
with ``TF_CPP_MIN_LOG_LEVEL=0``; the course never overrides a value you set.
"""

from __future__ import annotations

import contextlib
import os
import sys

# TF_CPP_MIN_LOG_LEVEL / TF_ENABLE_ONEDNN_OPTS defaults are set in aigc_course/__init__.py,
# which Python always runs before this module.


@contextlib.contextmanager
def _quiet_stderr_fd():
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (some embedded consoles): nothing to hide
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


with _quiet_stderr_fd():
    import tensorflow as tf

    PHYSICAL_DEVICES = tf.config.list_physical_devices()

import keras  # noqa: E402

GPUS = [d for d in PHYSICAL_DEVICES if d.device_type == "GPU"]

__all__ = ["tf", "keras", "GPUS", "PHYSICAL_DEVICES"]
