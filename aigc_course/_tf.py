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
import re
import sys
from pathlib import Path

# The TF_CPP_MIN_LOG_LEVEL default is set in aigc_course/__init__.py, which Python always runs
# before this module.


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


def onednn_enabled() -> bool:
    """Whether TensorFlow runs its CPU kernels through oneDNN.

    TensorFlow turns it on by default only on Linux CPUs with neural-network instructions
    (AVX512_VNNI, AVX_VNNI, AVX512_BF16 or AMX: Intel Cascade Lake and newer, AMD Zen 4), where it
    is often twice as fast for convolutions. ``TF_ENABLE_ONEDNN_OPTS=1`` turns it on wherever
    TensorFlow was built with oneDNN (its x86 packages for Linux and Windows, for example) and
    ``TF_ENABLE_ONEDNN_OPTS=0`` (the course's test setting, for numbers that are identical on
    every machine) switches it off.
    """
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # a TensorFlow build without the probe: assume the plain kernels
        return False
    return bool(_pywrap_util_port.IsMklEnabled())


def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (Intel AMX or AVX512-BF16, e.g. recent
    Xeons and AMD Zen 4). Read from ``/proc/cpuinfo``, so always False off Linux."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return re.search(r"\b(amx_bf16|avx512_bf16)\b", flags) is not None


__all__ = ["tf", "keras", "GPUS", "PHYSICAL_DEVICES", "onednn_enabled", "cpu_has_bf16"]
