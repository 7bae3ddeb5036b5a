"""``aigc-course train-gan`` / ``sample``: real processes that are killed, interrupted and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from aigc_course import cli
from aigc_course.training import Checkpoint, read_history

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
    args = command("train-gan", "--profile", "smoke", "--epochs", "500", "--out", str(out))
    return subprocess.Popen(
        [*args, "--no-eval"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def wait_for_checkpoint(proc: subprocess.Popen, ckpt: Path, min_step: int, timeout=180) -> dict:
    """Poll until the run has saved a checkpoint at ``min_step`` or later."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"training ended early ({proc.returncode}):\n{proc.stdout.read()}")
        manifest = Checkpoint.read_manifest(ckpt)  # safe while it is rewritten: os.replace
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
    saved = Checkpoint.read_manifest(out / "checkpoints")
    assert saved["step"] >= 12 and saved["epoch"] >= 1

    epochs = saved["epoch"] + 2
    resumed = subprocess.run(
        [*command("train-gan", "--profile", "smoke", "--out", str(out), "--resume"), "--no-eval"]
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
    final = Checkpoint.read_manifest(out / "checkpoints")
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
        f"Resume with: aigc-course train-gan --dataset mnist --profile smoke --out {out}" in output
    )
    assert Checkpoint.read_manifest(out / "checkpoints")["step"] >= 4


MIRRORED = textwrap.dedent(
    """
    import dataclasses, json, sys
    import numpy as np
    from aigc_course._tf import tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from aigc_course import training
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    training._distribution_strategy = lambda: strategy
    profile = dataclasses.replace(training.PROFILES["smoke"], ema=0.9)  # the average too
    result = training.train_gan(
        profile=profile, out=sys.argv[1], epochs=1, progress=False, evaluate=False
    )
    z = np.zeros((2, profile.latent_dim), "float32")
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "mirrored": type(result.gan.generator.trainable_variables[0].value).__name__,
        "ema_differs": not np.allclose(result.generator(z), result.gan.generator(z)),
        "ema_finite": bool(all(np.isfinite(v.numpy()).all() for v in result.gan.ema_weights)),
        "history": result.history,
        "step": result.metrics["step"],
    }))
    """
)


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tmp_path, env):
    res = subprocess.run(
        [sys.executable, "-c", MIRRORED, str(tmp_path / "run")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert "Mirrored" in report["mirrored"]
    assert report["ema_finite"] and report["ema_differs"], report
    assert report["step"] == SMOKE_STEPS_PER_EPOCH
    for name in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert np.isfinite(report["history"][name]).all(), report
    assert (
        Checkpoint.read_manifest(tmp_path / "run" / "checkpoints")["step"] == SMOKE_STEPS_PER_EPOCH
    )


@pytest.mark.slow
def test_train_then_sample_in_process(tmp_path, env, capsys):
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


def test_invalid_inputs_give_exit_code_2_and_a_message(tmp_path, env, capsys):
    run = str(tmp_path / "run")
    assert cli.main(["train-gan", "--profile", "smoke", "--out", run, "--epochs", "0"]) == 2
    assert "epochs must be a positive integer" in capsys.readouterr().err
    assert cli.main(["train-gan", "--profile", "smoke", "--out", run, "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert cli.main(["sample", "--run", run, "--n", "4", "--out", str(tmp_path / "x.npy")]) == 2
    assert "train it first" in capsys.readouterr().err
    assert cli.main(["sample", "--run", run, "--n", "4", "--out", str(tmp_path / "x.gif")]) == 2
    assert ".npy" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train-gan", "--profile", "fast"])
    assert exit_info.value.code == 2
