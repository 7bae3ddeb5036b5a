"""``aigc-course train`` / ``train-gan`` / ``sample`` / ``evaluate``: real processes that are
killed, interrupted and resumed; errors a user can fix as one line, bugs with their traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from aigc_course import cli
from aigc_course.checkpoint import read_manifest
from aigc_course.runs import read_history

SMOKE_STEPS_PER_EPOCH = 10  # smoke profile: 320 images per epoch, batch 32


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("AIGC_OFFLINE", "1")
    monkeypatch.setenv("AIGC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("AIGC_SMOKE", raising=False)
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "aigc_course.cli", *args]


def start_training(out: Path, env: dict) -> subprocess.Popen:
    args = command("train", "--model", "gan", "--profile", "smoke", "--epochs", "500", "--out", str(out))
    return subprocess.Popen(
        [*args, "--no-eval"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    """Ctrl-C's default action in the child: a shell that starts the tests in the background
    (``... &``) makes its children ignore SIGINT, and Python keeps an ignored SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_checkpoint(proc: subprocess.Popen, ckpt: Path, min_step: int, timeout=180) -> dict:
    """Poll until the run has saved a checkpoint at ``min_step`` or later."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"training ended early ({proc.returncode}):\n{proc.stdout.read()}")
        manifest = read_manifest(ckpt)  # safe while it is rewritten: os.replace
        if manifest and manifest["step"] >= min_step:
            return manifest
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no checkpoint appeared in time")


@pytest.mark.slow
def test_sigkill_then_resume_continues_from_the_last_checkpoint(tmp_path, env):
    out = tmp_path / "run"
    proc = start_training(out, env)
    wait_for_checkpoint(proc, out / "checkpoints", min_step=12)  # well into epoch 2
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    saved = read_manifest(out / "checkpoints")
    assert saved["step"] >= 12 and saved["epoch"] >= 1

    epochs = saved["epoch"] + 2
    resumed = subprocess.run(
        [*command("train", "--profile", "smoke", "--out", str(out), "--resume"), "--no-eval"]
        + ["--epochs", str(epochs)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming at step {saved['step']}, epoch {saved['epoch'] + 1}" in resumed.stdout
    assert "Epoch 1/" not in resumed.stdout  # it did not start over
    assert f"Epoch {epochs}/{epochs}" in resumed.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["step"] == epochs * SMOKE_STEPS_PER_EPOCH  # exactly the uninterrupted count
    assert read_history(out / "history.csv")["epoch"] == [float(e) for e in range(epochs)]
    final = read_manifest(out / "checkpoints")
    assert (final["step"], final["epoch"]) == (epochs * SMOKE_STEPS_PER_EPOCH, epochs)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "checkpoint.npz",
        "manifest.json",
    ]  # any temporary the kill left mid-write is gone


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_says_how_to_resume(tmp_path, env):
    out = tmp_path / "run"
    proc = start_training(out, env)
    wait_for_checkpoint(proc, out / "checkpoints", min_step=4)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "Training interrupted: the last checkpoint (step" in output
    assert (
        f"Resume with: aigc-course train --model gan --profile smoke --out {out} --resume" in output
    )
    assert read_manifest(out / "checkpoints")["step"] >= 4


@pytest.mark.slow
def test_train_then_sample_and_evaluate_in_process(tmp_path, env, capsys, monkeypatch):
    run = tmp_path / "run"
    args = ["train-gan", "--profile", "smoke", "--epochs", "1", "--out", str(run), "--no-eval"]
    assert cli.main([*args, "--quiet"]) == 0
    assert "done: step 10, epoch 1" in capsys.readouterr().out
    assert (
        cli.main(["sample", "--run", str(run), "--n", "12", "--out", str(tmp_path / "s.npy")]) == 0
    )
    images = np.load(tmp_path / "s.npy")
    assert images.shape == (12, 28, 28) and images.dtype == np.uint8
    assert (
        cli.main(["sample", "--run", str(run), "--n", "12", "--out", str(tmp_path / "s.png")]) == 0
    )
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
    monkeypatch.setenv("AIGC_SMOKE", "1")  # the small evaluation classifier
    assert cli.main(["evaluate", "--run", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert capsys.readouterr().out.strip().endswith(
        f"FID {metrics['fid']:.2f} (real-vs-real floor {metrics['fid_floor']:.2f})"
    )


def test_invalid_inputs_give_exit_code_2_and_a_message(tmp_path, env, capsys):
    run = str(tmp_path / "run")
    assert cli.main(["train-gan", "--profile", "smoke", "--out", run, "--epochs", "0"]) == 2
    assert "epochs must be a positive integer" in capsys.readouterr().err
    assert cli.main(["train", "--profile", "smoke", "--out", run, "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert cli.main(["train", "--model", "gann"]) == 2
    err = capsys.readouterr().err  # the choices list every family module, gan among them
    assert "unknown model family 'gann'; choose one of: " in err and "gan" in err.split(": ")[-1]
    assert cli.main(["train", "--profile", "fast"]) == 2
    assert "unknown profile 'fast' for gan; choose one of: auto, smoke, cpu, gpu" in (
        capsys.readouterr().err
    )
    assert cli.main(["train", "--dataset", "cifar10"]) == 2
    assert "trains on mnist, fashion_mnist; got 'cifar10'" in capsys.readouterr().err
    assert cli.main(["sample", "--run", run, "--n", "4", "--out", str(tmp_path / "x.npy")]) == 2
    assert "train it first" in capsys.readouterr().err
    assert cli.main(["evaluate", "--run", run]) == 2
    assert "train it first" in capsys.readouterr().err


def test_a_corrupt_data_file_is_reported_as_such_not_as_divergence(tmp_path, env, capsys, monkeypatch):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "mnist.npz").write_bytes(b"PK\x03\x04 truncated")  # what a killed download leaves
    monkeypatch.setenv("AIGC_DATA_DIR", str(data_dir))
    monkeypatch.setenv("AIGC_DATA_SOURCE", "dir")  # the test environment pins "shipped"
    argv = ["train", "--profile", "smoke", "--out", str(tmp_path / "run"), "--no-eval", "--quiet"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("aigc-course train: error: ") and "mnist.npz" in err
    assert "finite" not in err and "diverged" not in err.lower()


def test_a_bug_keeps_its_traceback(tmp_path, env, monkeypatch):
    """A ValueError from inside Keras (a shape bug, say) is not a user error: no one-liner."""
    from aigc_course.families.gan import FAMILY

    def broken(self, profile, dataset):
        raise ValueError("Input 0 of layer 'dense' is incompatible with the layer")

    monkeypatch.setattr(type(FAMILY), "build", broken)
    with pytest.raises(ValueError, match="incompatible with the layer"):
        cli.main(["train", "--profile", "smoke", "--out", str(tmp_path / "run"), "--quiet"])


def test_a_run_that_diverges_exits_1_and_says_what_was_kept(tmp_path, env, capsys, monkeypatch):
    from tiny_models import poison_gan_family

    poison_gan_family(monkeypatch)
    argv = ["train", "--profile", "smoke", "--out", str(tmp_path / "run"), "--quiet", "--no-eval"]
    assert cli.main(argv) == 1
    assert "no longer finite" in capsys.readouterr().err


def test_sample_help_lists_the_familys_options(tmp_path, env, capsys, monkeypatch):
    """A family declares its sampling options; `sample --run RUN --help` shows them, and
    `sample` passes them on, without the command line knowing the family."""
    from aigc_course.families import Option
    from aigc_course.families.gan import FAMILY

    run = tmp_path / "run"
    assert cli.main(["train", "--profile", "smoke", "--epochs", "1", "--out", str(run), "--quiet",
                     "--no-eval"]) == 0  # fmt: skip
    seen = {}
    sample = type(FAMILY).sample

    def sample_with_options(self, model, n, seed=0, **options):
        seen.update(self.sample_defaults(**options))
        return sample(self, model, n, seed)

    monkeypatch.setattr(type(FAMILY), "sample_options", (
        Option("truncation", float, 1.0, "scale of the noise"),
        Option("mode", str, "grid", "what to draw", choices=("grid", "walk")),
    ))  # fmt: skip
    monkeypatch.setattr(type(FAMILY), "sample", sample_with_options)
    with pytest.raises(SystemExit):
        cli.main(["sample", "--run", str(run), "--out", "x.png", "--help"])
    shown = capsys.readouterr().out
    assert "sampling options of the gan family" in shown and "--truncation" in shown
    out = tmp_path / "s.npy"
    assert cli.main(["sample", "--run", str(run), "--n", "3", "--out", str(out),
                     "--truncation", "0.5"]) == 0  # fmt: skip
    assert seen == {"truncation": 0.5, "mode": "grid"}
    with pytest.raises(SystemExit) as refused:
        cli.main(["sample", "--run", str(run), "--out", str(out), "--mode", "spiral"])
    assert refused.value.code == 2


@pytest.mark.slow
def test_resume_keeps_the_runs_own_profile_unless_told_otherwise(tmp_path, env, capsys):
    from aigc_course import get_profile, runs

    run = tmp_path / "run"
    mine = get_profile("smoke", name="mine", width=6, epochs=1)
    runs.train("gan", profile=mine, out=run, progress=False, evaluate=False)
    argv = ["train", "--out", str(run), "--resume", "--epochs", "2", "--no-eval"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "train gan: mnist, profile mine (width G 6 / D 6" in out and "resuming at step 10" in out
    assert read_manifest(run / "checkpoints")["step"] == 20
    assert cli.main([*argv, "--profile", "smoke", "--epochs", "3"]) == 2  # width 8: refused
    assert "width: checkpoint has 6, this run asks for 8" in capsys.readouterr().err
