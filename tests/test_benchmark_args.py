"""The diffusion benchmark's command line: counts it cannot use are refused before any training."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "diffusion_cpu.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("diffusion_cpu", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_final_steps_default_to_the_sampling_steps(bench):
    assert bench.parse_args(["--steps", "12"]).final_steps == 12
    assert bench.parse_args(["--steps", "12", "--final-steps", "7"]).final_steps == 7
    assert bench.parse_args(["--quick"]).final_steps == 5  # the smoke schedule has T = 20


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--final-steps", "0"], "--final-steps must be at least 1"),
        (["--steps", "0"], "--steps must be at least 1"),
        (["--eval-images", "0"], "--eval-images must be at least 1"),
        (["--repeats", "0"], "--repeats must be at least 1"),
        (["--xla", "--speed-slices", "0"], "--speed-slices must be at least 1"),
        (["--final-images", "-1"], "--final-images must be 0 (skip) or more"),
        (["--budgets", "900,300"], "--budgets must be positive and strictly ascending"),
        (["--budgets", "0,300"], "--budgets must be positive and strictly ascending"),
        (["--speed", "--xla"], "choose one"),
        (["--xla", "--set", "jit_compile=True"], "drop it from --set"),
    ],
)
def test_unusable_arguments_are_refused(bench, argv, message, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(argv)
    assert message in capsys.readouterr().err
