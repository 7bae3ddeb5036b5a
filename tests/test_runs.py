"""Training runs end to end (the GAN family): run folders, resume, sampling, evaluation, errors."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from tiny_models import poison_gan_family

from aigc_course import keras, runs
from aigc_course.checkpoint import read_manifest
from aigc_course.errors import CheckpointError, Diverged, NotFoundError
from aigc_course.families.gan import FAMILY, PROFILES, build_gan
from aigc_course.plotting import PNG_SCALE
from aigc_course.profiles import Profile

pytestmark = pytest.mark.usefixtures("offline_full_size")


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "smoke"
    mp = pytest.MonkeyPatch()
    mp.setenv("AIGC_OFFLINE", "1")
    try:
        result = runs.train("gan", profile="smoke", out=out, progress=False, evaluate=False)
    finally:
        mp.undo()
    return result


@pytest.mark.slow
def test_train_writes_a_complete_run(smoke_run):
    out, prof = smoke_run.run_dir, smoke_run.profile
    names = {p.relative_to(out).as_posix() for p in out.rglob("*")}
    assert {
        "history.csv", "generator.keras", "metrics.json", "checkpoints/checkpoint.npz",
        "checkpoints/manifest.json", "samples/epoch_001.png", "samples/epoch_002.png",
    } <= names  # fmt: skip
    assert not [n for n in names if ".tmp" in n]
    assert smoke_run.history["epoch"] == [0.0, 1.0]
    assert set(smoke_run.history) == {"epoch", "d_loss", "g_loss", "d_real", "d_fake"}
    steps = prof.steps_per_epoch(9000) * prof.epochs
    assert smoke_run.metrics["step"] == steps == int(smoke_run.model.step.numpy())
    assert json.loads((out / "metrics.json").read_text())["epoch"] == prof.epochs
    manifest = read_manifest(out / "checkpoints")
    assert (manifest["family"], manifest["dataset"], manifest["profile"]["width"]) == (
        "gan", "mnist", prof.width,
    )  # fmt: skip
    assert manifest["config"] == FAMILY.config(prof, "mnist")


@pytest.mark.slow
def test_train_refuses_to_overwrite_and_to_resume_another_architecture(smoke_run):
    ckpt = smoke_run.run_dir / "checkpoints"
    hashes = {p.name: sha(p) for p in ckpt.iterdir()}
    with pytest.raises(ValueError, match="already holds a checkpoint"):
        runs.train("gan", profile="smoke", out=smoke_run.run_dir, evaluate=False)
    wider = smoke_run.profile.replace(width=12)
    with pytest.raises(CheckpointError, match="width: checkpoint has 8, this run asks for 12"):
        runs.train("gan", profile=wider, out=smoke_run.run_dir, resume=True, evaluate=False)
    with pytest.raises(CheckpointError, match="dataset: checkpoint has 'mnist'"):
        runs.train("gan", "fashion_mnist", "smoke", out=smoke_run.run_dir, resume=True,
                   evaluate=False)  # fmt: skip
    assert {p.name: sha(p) for p in ckpt.iterdir()} == hashes


@pytest.mark.slow
def test_sample_run_writes_npy_and_png(smoke_run, tmp_path):
    from PIL import Image

    images = np.load(runs.sample_run(smoke_run.run_dir, 10, tmp_path / "s.npy", seed=1))
    assert images.shape == (10, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(
        images, np.load(runs.sample_run(smoke_run.run_dir, 10, tmp_path / "t.npy", seed=1))
    )
    np.testing.assert_array_equal(images, smoke_run.sample(10, seed=1))  # = the trained model's
    png = runs.sample_run(smoke_run.run_dir, 10, tmp_path / "s.png")
    assert Image.open(png).size == ((4 * 29 + 1) * PNG_SCALE, (3 * 29 + 1) * PNG_SCALE)
    with pytest.raises(ValueError, match=r"\.npy or \.png for the gan family"):
        runs.sample_run(smoke_run.run_dir, 10, tmp_path / "s.txt")
    with pytest.raises(ValueError, match="n must be"):
        runs.sample_run(smoke_run.run_dir, 0, tmp_path / "s.npy")
    with pytest.raises(ValueError, match="no sampling option steps"):
        runs.sample_run(smoke_run.run_dir, 4, tmp_path / "s.npy", steps=3)
    with pytest.raises(NotFoundError, match="train it first"):
        runs.sample_run(tmp_path / "nothing", 4, tmp_path / "s.npy")


@pytest.mark.slow
def test_an_interrupted_run_samples_from_its_checkpoint(smoke_run, tmp_path):
    run = tmp_path / "interrupted"
    shutil.copytree(smoke_run.run_dir / "checkpoints", run / "checkpoints")
    np.testing.assert_array_equal(runs.load_run(run).sample(6, seed=2), smoke_run.sample(6, seed=2))


@pytest.mark.slow
def test_evaluate_run_scores_against_the_floor_and_keeps_the_metrics(smoke_run, monkeypatch):
    monkeypatch.setenv("AIGC_SMOKE", "1")  # the small evaluation classifier
    metrics = runs.evaluate_run(smoke_run.run_dir)
    saved = json.loads((smoke_run.run_dir / "metrics.json").read_text())
    assert saved == metrics and saved["step"] == smoke_run.metrics["step"]
    assert metrics["n"] == smoke_run.profile.eval_samples
    assert 0 < metrics["fid_floor"] < metrics["fid"]  # noise from an untrained generator
    assert FAMILY.headline(metrics).startswith(f"FID {metrics['fid']:.2f} (real-vs-real floor")


def test_invalid_arguments(tmp_path):
    with pytest.raises(ValueError, match="epochs"):
        runs.train("gan", profile="smoke", out=tmp_path / "r", epochs=0)
    with pytest.raises(ValueError, match="seed"):
        runs.train("gan", profile="smoke", out=tmp_path / "r", seed=-1)
    with pytest.raises(ValueError, match="trains on mnist, fashion_mnist; got 'cifar10'"):
        runs.train("gan", "cifar10", profile="smoke", out=tmp_path / "r")
    with pytest.raises(NotFoundError, match="nothing to resume"):
        runs.train("gan", profile="smoke", out=tmp_path / "r", resume=True)
    with pytest.raises(ValueError, match="trains with a GANProfile, got a Profile"):
        runs.train("gan", profile=Profile(name="x", epochs=1, batch_size=2))
    assert not (tmp_path / "r").exists(), "nothing is written before the checks"


def test_gpu_profile_without_a_gpu_writes_nothing(monkeypatch, tmp_path):
    from aigc_course import profiles

    monkeypatch.setattr(profiles, "GPUS", [])
    with pytest.raises(ValueError, match="sees no GPU"):
        runs.train("gan", profile="gpu", out=tmp_path / "run", evaluate=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_run_that_diverges_raises_and_writes_no_model(tmp_path, monkeypatch):
    poison_gan_family(monkeypatch)
    with pytest.raises(Diverged, match="no longer finite.*no checkpoint was saved yet.*wgan_gp"):
        runs.train("gan", profile="smoke", out=tmp_path / "run", progress=False, evaluate=False)
    assert not (tmp_path / "run" / "generator.keras").exists()
    assert not (tmp_path / "run" / "checkpoints" / "checkpoint.npz").exists()


@pytest.mark.slow
def test_a_bfloat16_run_exports_a_float32_generator(monkeypatch, tmp_path):
    monkeypatch.setattr(runs, "precision_policy", lambda profile: "mixed_bfloat16")
    result = runs.train("gan", profile="smoke", out=tmp_path / "run", evaluate=False,
                        progress=False)  # fmt: skip
    assert result.model.generator.layers[1].compute_dtype == "bfloat16"
    saved = keras.saving.load_model(tmp_path / "run" / "generator.keras", compile=False)
    assert all(layer.compute_dtype == "float32" for layer in saved.layers)
    z = np.random.default_rng(0).standard_normal((4, saved.input_shape[-1])).astype("float32")
    np.testing.assert_allclose(  # the same weights: the float32 copy differs only by rounding
        saved(z, training=False).numpy(), result.model.generator(z, training=False).numpy(),
        atol=0.05,
    )  # fmt: skip


@pytest.mark.slow
def test_discriminator_width_and_dropout_come_from_the_profile(tmp_path):
    profile = PROFILES["smoke"].replace(width=8, d_width=4, dropout=0.0)
    gan = build_gan(profile)
    assert gan.generator.get_layer("up_14").filters == 8
    assert gan.discriminator.get_layer("down_14").filters == 4
    assert not [layer for layer in gan.discriminator.layers if "drop" in layer.name]
    runs.train("gan", profile=profile, out=tmp_path / "run", epochs=1, evaluate=False,
               progress=False)  # fmt: skip
    with pytest.raises(CheckpointError, match=r"d_width: checkpoint has 4, this run asks for 6"):
        runs.train("gan", profile=profile.replace(d_width=6), out=tmp_path / "run", resume=True,
                   evaluate=False)  # fmt: skip


@pytest.mark.slow
def test_the_weight_average_is_checkpointed_exported_and_resumed(tmp_path):
    profile = PROFILES["smoke"].replace(ema=0.9)
    run = tmp_path / "run"
    first = runs.train("gan", profile=profile, out=run, epochs=1, evaluate=False, progress=False)
    z = np.random.default_rng(0).standard_normal((4, profile.latent_dim)).astype("float32")
    expected = first.model.sampler(z, training=False).numpy()
    assert not np.allclose(expected, first.model.generator(z, training=False))
    exported = runs.load_run(run).model  # generator.keras holds the average
    np.testing.assert_allclose(exported(z, training=False), expected, atol=1e-6)
    (run / FAMILY.export_name).unlink()  # from the checkpoint alone: the average too
    restored = runs.load_run(run).model
    np.testing.assert_allclose(restored.sampler(z, training=False), expected, atol=1e-6)
    resumed = runs.train("gan", profile=profile, out=run, epochs=2, resume=True, evaluate=False,
                         progress=False)  # fmt: skip
    assert int(resumed.model.step.numpy()) == 2 * profile.steps_per_epoch(9000)
    with pytest.raises(CheckpointError, match=r"ema: checkpoint has 0.9, this run asks for 0.0"):
        runs.train("gan", profile=profile.replace(ema=0.0), out=run, resume=True, evaluate=False)


@pytest.mark.slow
def test_metrics_record_whether_xla_ran_not_only_what_the_profile_asked(
    tmp_path, without_op_determinism
):
    """Keras drops XLA while op determinism is on (``setup(deterministic=True)``): the run's
    metrics say what was compiled, so a slow deterministic run is not mistaken for an XLA one."""
    from tensorflow.python.framework import config

    profile = PROFILES["smoke"].replace(jit_compile=True, epochs=1, examples_per_epoch=32)
    fast = runs.train("gan", profile=profile, out=tmp_path / "xla", evaluate=False, progress=False)
    config.enable_op_determinism()  # the fixture restores the state it found
    with pytest.warns(UserWarning, match="jit_compile=False"):
        exact = runs.train("gan", profile=profile, out=tmp_path / "exact", evaluate=False,
                           progress=False)  # fmt: skip
    assert (fast.metrics["xla"], exact.metrics["xla"]) == (True, False)
    assert json.loads((tmp_path / "exact" / "metrics.json").read_text())["xla"] is False
    assert runs.train("gan", profile=profile.replace(jit_compile=False), out=tmp_path / "plain",
                      evaluate=False, progress=False).metrics["xla"] is False  # fmt: skip


MIRRORED_GPU_PROFILE = textwrap.dedent(
    """
    import json, sys
    from aigc_course import tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from aigc_course import get_profile, runs
    runs.precision_policy = lambda profile: "mixed_float16"  # what the gpu profile gets on a GPU
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    # the gpu profile's own settings (XLA, mixed precision, full size), one step per epoch
    profile = get_profile("gpu", needs_gpu=False, examples_per_epoch=128, epochs=1)
    first = runs.train("gan", "mnist", profile, out=sys.argv[1], strategy=strategy,
                       evaluate=False, progress=False)
    resumed = runs.train("gan", "mnist", profile, out=sys.argv[1], strategy=strategy, epochs=2,
                         resume=True, evaluate=False, progress=False)
    gan = resumed.model
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "mirrored": type(gan.generator.trainable_variables[0].value).__name__,
        "optimizer": type(gan.d_optimizer).__name__,
        "compute": gan.generator.layers[1].compute_dtype,
        "xla": bool(gan.jit_compile),
        "steps": [first.metrics["step"], resumed.metrics["step"], int(gan.step.numpy())],
        "history": resumed.history,
    }))
    """
)


@pytest.mark.slow
def test_the_gpu_profile_trains_and_resumes_mirrored_on_two_devices(tmp_path):
    """Issue 13: XLA cannot compile a step whose variables are mirrored over two devices, so the
    engine turns it off (one printed line); mixed float16 with loss scaling, as on two GPUs."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    res = subprocess.run([sys.executable, "-c", MIRRORED_GPU_PROFILE, str(tmp_path / "run")],
                         env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2 and "Mirrored" in report["mirrored"]
    assert report["optimizer"] == "LossScaleOptimizer" and report["compute"] == "float16"
    assert not report["xla"] and report["steps"] == [1, 2, 2]
    assert res.stdout.count("XLA (jit_compile) is off for this run") == 2  # once per train()
    for name in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert len(report["history"][name]) == 2 and np.isfinite(report["history"][name]).all()
    manifest = read_manifest(tmp_path / "run" / "checkpoints")
    assert (manifest["step"], manifest["epoch"]) == (2, 2)
    assert manifest["profile"]["jit_compile"]  # the profile as asked; only this run lacks XLA
