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
    "argv",
    [
        ["--final-steps", "0"],
        ["--steps", "0"],
        ["--eval-images", "0"],
        ["--final-images", "-1"],
        ["--budgets", "900,300"],
        ["--budgets", "0,300"],
        ["--speed", "--xla"],
    ],  # fmt: skip
)
def test_unusable_counts_are_refused(bench, argv, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args(argv)
    err = capsys.readouterr().err
    assert "must be" in err or "choose one" in err
