"""The one home of each small idea: pixels, samples from a seed, argument checks, environment
switches, errors, and the public surface the chapters use."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import aigc_course
from aigc_course import errors, images, inference, validate
from aigc_course.env import env_flag, environment_report

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- pixels


def test_to_uint8_and_to_float_invert_each_other_and_share_their_rules():
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    x = images.to_float(pixels)
    assert x.shape == (1, 16, 16, 1) and x.dtype == np.float32 and x.min() == -1 and x.max() == 1
    assert np.array_equal(images.to_uint8(x), pixels)
    assert np.array_equal(images.to_uint8(pixels), pixels)
    for bad, match in [
        (np.full((4, 8, 8), np.nan, np.float32), "NaN"),
        (np.full((4, 8, 8), 255.0), r"read as \[-1, 1\]"),
        (np.zeros((4, 8, 8), np.int32), "uint8"),
    ]:
        for convert in (images.to_uint8, images.to_float):
            with pytest.raises(errors.ConfigError, match=match):
                convert(bad)
    with pytest.warns(UserWarning, match="0..1 data"):
        images.to_uint8(np.full((4, 8, 8), 0.5))
    assert images.to_uint8(np.array([[[-1.3, 1.3]]])).tolist() == [[[0, 255]]]  # overshoot: clipped


def test_the_plots_the_metrics_and_the_data_module_convert_alike():
    from aigc_course import data, plotting
    from aigc_course.classifier import _as_model_input

    x = np.random.default_rng(0).uniform(-1, 1, (5, 28, 28, 1)).astype(np.float32)
    assert np.array_equal(plotting.image_grid(x, ncols=5), plotting.image_grid(data.to_uint8(x), 5))
    np.testing.assert_array_equal(_as_model_input(data.to_uint8(x)), data.to_float(data.to_uint8(x)))
    with pytest.raises(ValueError, match=r"read as \[-1, 1\]"):
        plotting.image_grid(x * 255)


# --------------------------------------------------------------------------- samples


def test_latent_noise_comes_from_the_seed_alone():
    a = inference.latent_noise(5, 3, seed=7)
    assert a.dtype == np.float32 and a.shape == (5, 3)
    np.testing.assert_array_equal(a, inference.latent_noise(5, 3, seed=7))
    np.testing.assert_array_equal(a, np.random.default_rng(7).standard_normal((5, 3)).astype(np.float32))
    assert not np.array_equal(a, inference.latent_noise(5, 3, seed=8))
    with pytest.raises(errors.ConfigError, match="n must be a positive integer"):
        inference.latent_noise(0, 3)


def test_run_batched_covers_every_row_in_inference_mode():
    from aigc_course import keras

    calls = []

    class Probe(keras.layers.Layer):
        def call(self, x, training=None):
            calls.append((int(x.shape[0]), training))
            return x * 2

    out = inference.run_batched(Probe(), np.ones((1201, 2), np.float32), batch_size=500)
    assert out.shape == (1201, 2) and np.all(out == 2)
    assert calls == [(500, False), (500, False), (201, False)]
    assert inference.run_batched(lambda z: z + 1, np.zeros((3, 1)), batch_size=2).tolist() == [
        [1.0], [1.0], [1.0],
    ]  # fmt: skip


# --------------------------------------------------------------------------- argument checks


@pytest.mark.parametrize("value", [0, -1, 2.0, True, "3", None])
def test_positive_int_refuses_what_is_not_a_count(value):
    with pytest.raises(errors.ConfigError, match=rf"steps must be a positive integer, got {re.escape(repr(value))}"):
        validate.positive_int("steps", value)


def test_number_in_says_the_interval():
    assert validate.number_in("lr", 0.5, 0, 1, low_open=True) == 0.5
    with pytest.raises(errors.ConfigError, match=r"lr must be a number in \(0, 1\), got 0"):
        validate.number_in("lr", 0, 0, 1, low_open=True)
    with pytest.raises(errors.ConfigError, match=r"unknown loss 'x'; choose one of: a, b"):
        validate.one_of("loss", "x", ("a", "b"))


# --------------------------------------------------------------------------- switches


@pytest.mark.parametrize(
    "value, on", [("1", True), ("true", True), ("TRUE", True), ("yes", True), ("on", True),
                  ("0", False), ("false", False), ("", False), ("no", False)],
)  # fmt: skip
def test_aigc_offline_means_the_same_everywhere(monkeypatch, value, on):
    from aigc_course import data

    monkeypatch.setenv("AIGC_OFFLINE", value)
    monkeypatch.delenv("AIGC_DATA_SOURCE", raising=False)  # a pin would rule the download out
    assert env_flag("AIGC_OFFLINE") is on
    assert environment_report()["offline"] is on
    download = next(row for row in data.describe_sources("mnist") if row["name"] == "download")
    assert ("disabled by AIGC_OFFLINE" in download["description"]) is on


# --------------------------------------------------------------------------- errors


def test_course_errors_are_also_the_builtin_errors_callers_expect():
    assert issubclass(errors.ConfigError, ValueError)
    assert issubclass(errors.CheckpointError, ValueError)
    assert issubclass(errors.NotFoundError, FileNotFoundError)
    assert issubclass(errors.IntegrityError, errors.DataError)
    assert issubclass(errors.Diverged, RuntimeError) and errors.Diverged.exit_code == 1
    from aigc_course import data

    assert data.DataError is errors.DataError  # one class, importable from either place


# --------------------------------------------------------------------------- the public surface


def test_the_package_imports_without_tensorflow_until_asked():
    code = (
        "import sys, aigc_course; before = 'tensorflow' in sys.modules; "
        "from aigc_course import GPUS, get_profile, keras, tf, train; "
        "print(before, 'tensorflow' in sys.modules, tf.__name__, keras.__name__, type(GPUS).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.split() == ["False", "True", "tensorflow", "keras", "list"], out.stderr
    with pytest.raises(AttributeError, match="no attribute 'trainer'"):
        aigc_course.trainer  # noqa: B018


def _code_cells(path: Path):
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            yield "".join(cell["source"])


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))
    + sorted((ROOT / "exercises").glob("*.ipynb")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)  # fmt: skip
def test_chapters_use_only_the_public_surface(path):
    """No private modules, no rewriting of frozen profiles, no copied engine internals."""
    source = "\n".join(_code_cells(path))
    assert "aigc_course._" not in source, "import tf, keras, GPUS from aigc_course"
    assert not re.search(r"dataclasses\.replace\(\s*(profile|get_profile)", source), (
        "change a profile with get_profile(profile, epochs=...)"
    )
    assert "_distribution_strategy" not in source, "use aigc_course.distribution_strategy()"
