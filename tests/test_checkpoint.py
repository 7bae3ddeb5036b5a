"""Checkpoints: every variable by path, atomic, resumable, refused when they do not fit."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tiny_models import LATENT, real_batches, tiny_discriminator, tiny_gan, tiny_generator

from aigc_course import checkpoint, get_profile, keras, runs
from aigc_course.checkpoint import Checkpoint, read_manifest, state_variables
from aigc_course.errors import CheckpointError
from aigc_course.gan import GAN

FORMAT_2_RUN = Path(__file__).parent / "fixtures" / "gan_format2_run"


pytestmark = pytest.mark.usefixtures("offline_full_size")


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fit_with_checkpoint(tmp_path, epochs=2, steps=4, every=3, config=None):
    keras.utils.set_random_seed(0)
    gan = tiny_gan()
    ckpt = Checkpoint(tmp_path / "ckpt", every_steps=every, run={"config": config or {"width": 4}})
    gan.fit(real_batches(), steps_per_epoch=steps, epochs=epochs, callbacks=[ckpt], verbose=0,
            shuffle=False)  # fmt: skip
    return gan, ckpt


def test_keys_are_variable_paths_of_the_model_and_of_each_optimizer():
    gan = tiny_gan(d_steps=1)
    state = state_variables(gan)
    expected = {f"model/{v.path}" for v in gan.weights}
    for name, opt in (("d_optimizer", gan.d_optimizer), ("g_optimizer", gan.g_optimizer)):
        expected |= {f"{name}/{v.path.split('/', 1)[1]}" for v in opt.variables}
    assert set(state) == expected
    assert "model/step" in state and "d_optimizer/iteration" in state
    assert len(state) == len(gan.weights) + len(gan.d_optimizer.variables) + len(
        gan.g_optimizer.variables
    )  # every variable once: no model-wide optimizer, no duplicates


def test_keys_do_not_depend_on_what_else_the_session_built():
    """Optimizer names carry a session counter (adam_7/...); the keys must not."""
    first = set(state_variables(tiny_gan()))
    for _ in range(3):
        keras.optimizers.Adam()
    assert set(state_variables(tiny_gan())) == first


def test_a_loss_scaled_optimizer_keeps_both_levels_apart():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        gan = GAN(tiny_generator(), tiny_discriminator(), LATENT)
    finally:
        keras.config.set_dtype_policy(previous)
    gan.compile(keras.optimizers.Adam(), keras.optimizers.Adam())
    keys = set(state_variables(gan))
    assert {"d_optimizer/iteration", "d_optimizer/inner/iteration"} <= keys
    assert "d_optimizer/dynamic_scale" in keys


def test_two_variables_with_one_path_are_refused():
    def player(shape):
        x = keras.Input(shape)
        return keras.Model(x, keras.layers.Dense(1, name="same")(keras.layers.Flatten()(x)))

    gan = GAN(player((LATENT,)), player((28, 28, 1)), LATENT)
    with pytest.raises(ValueError, match="share the checkpoint key 'model/same/kernel'"):
        state_variables(gan)


def test_drawing_samples_adds_no_state():
    """The weight average's sampler is a view for sampling, not more variables to save."""
    gan = GAN(tiny_generator(), tiny_discriminator(), LATENT, ema=0.9)
    gan.compile(keras.optimizers.Adam(), keras.optimizers.Adam())
    before = set(state_variables(gan))
    assert gan.sampler is not gan.generator
    assert set(state_variables(gan)) == before


def test_checkpoint_is_one_file_plus_manifest_and_leaves_no_temporaries(tmp_path):
    gan, ckpt = fit_with_checkpoint(tmp_path)
    assert sorted(p.name for p in ckpt.directory.iterdir()) == ["checkpoint.npz", "manifest.json"]
    manifest = json.loads((ckpt.directory / "manifest.json").read_text())
    assert manifest == read_manifest(ckpt.directory)
    assert (manifest["step"], manifest["epoch"], manifest["epoch_step"]) == (8, 2, 0)
    assert manifest["format"] == checkpoint.FORMAT == 3


def test_crash_during_a_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    gan, ckpt = fit_with_checkpoint(tmp_path)
    before = sha(ckpt.path)

    def crash(file, **arrays):
        file.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full (simulated)")

    gan.fit(real_batches(), steps_per_epoch=1, epochs=1, verbose=0, shuffle=False)  # moves on
    monkeypatch.setattr(checkpoint.np, "savez", crash)
    with pytest.raises(OSError, match="simulated"):
        ckpt.save()
    monkeypatch.undo()
    assert sha(ckpt.path) == before
    assert sorted(p.name for p in ckpt.directory.iterdir()) == ["checkpoint.npz", "manifest.json"]
    assert Checkpoint(ckpt.directory, run={"config": {"width": 4}}).restore(tiny_gan())["step"] == 8


def test_stale_temporary_from_a_killed_writer_is_cleaned(tmp_path):
    gan, ckpt = fit_with_checkpoint(tmp_path, epochs=1)
    stale = ckpt.directory / ".checkpoint.k1ll3d.tmp.npz"
    stale.write_bytes(b"partial")
    gan.fit(real_batches(), steps_per_epoch=1, epochs=1, callbacks=[ckpt], verbose=0, shuffle=False)
    assert not stale.exists() and ckpt.path.exists()


def test_resume_restores_weights_optimizers_and_counters(tmp_path):
    gan, ckpt = fit_with_checkpoint(tmp_path)
    with np.load(ckpt.path) as saved:
        saved = dict(saved)
    fresh = tiny_gan()
    restored = Checkpoint(ckpt.directory, run={"config": {"width": 4}})
    manifest = restored.restore(fresh)
    assert manifest["step"] == int(fresh.step.numpy()) == restored.step == 8
    for key, var in state_variables(fresh).items():
        np.testing.assert_array_equal(var.numpy(), saved[key], err_msg=key)
    for a, b in zip(gan.generator.weights + gan.discriminator.weights,
                    fresh.generator.weights + fresh.discriminator.weights, strict=True):  # fmt: skip
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(fresh.d_optimizer.iterations.numpy()) == int(gan.d_optimizer.iterations.numpy()) == 8
    fresh.fit(real_batches(), steps_per_epoch=4, epochs=3, initial_epoch=manifest["epoch"],
              callbacks=[restored], verbose=0)  # fmt: skip
    after = read_manifest(ckpt.directory)
    assert (after["step"], after["epoch"]) == (12, 3)


def test_an_early_stop_records_the_position_within_the_epoch(tmp_path):
    keras.utils.set_random_seed(0)
    gan = tiny_gan()
    ckpt = Checkpoint(tmp_path / "ckpt", every_steps=3)

    class Stop(keras.callbacks.Callback):  # stop after step 4 of 5
        def on_train_batch_end(self, batch, logs=None):
            self.model.stop_training = batch == 3

    gan.fit(real_batches(), steps_per_epoch=5, epochs=2, callbacks=[ckpt, Stop()], verbose=0,
            shuffle=False)  # fmt: skip
    manifest = read_manifest(ckpt.directory)
    assert (manifest["step"], manifest["epoch"], manifest["epoch_step"]) == (4, 0, 4)


def test_changed_architecture_is_refused_and_checkpoint_untouched(tmp_path):
    _, ckpt = fit_with_checkpoint(tmp_path, config={"latent_dim": LATENT, "width": 4})
    hashes = {p.name: sha(p) for p in ckpt.directory.iterdir()}
    wider = GAN(tiny_generator(width=6), tiny_discriminator(6), LATENT)
    wider.compile(keras.optimizers.Adam(), keras.optimizers.Adam())
    with pytest.raises(CheckpointError, match=r"width: checkpoint has 4, this run asks for 6"):
        Checkpoint(ckpt.directory, run={"config": {"latent_dim": LATENT, "width": 6}}).restore(wider)
    # same declared config but different shapes: the variable check names the path
    with pytest.raises(CheckpointError, match=r"model/g_dense/kernel: checkpoint has shape"):
        Checkpoint(ckpt.directory, run={"config": {"latent_dim": LATENT, "width": 4}}).restore(wider)
    assert {p.name: sha(p) for p in ckpt.directory.iterdir()} == hashes


def test_another_family_or_dataset_is_refused_by_name(tmp_path):
    saved = {"family": "gan", "dataset": "mnist", "config": {"width": 8}}
    with pytest.raises(CheckpointError, match="family: checkpoint has 'gan', this run asks for 'vae'"):
        checkpoint.check_compatible(saved, {**saved, "family": "vae"})
    with pytest.raises(CheckpointError, match="dataset: checkpoint has 'mnist'"):
        checkpoint.check_compatible(saved, {**saved, "dataset": "fashion_mnist"})
    checkpoint.check_compatible(saved, dict(saved))  # the same run: fine


def test_a_non_finite_state_is_never_saved(tmp_path):
    gan, ckpt = fit_with_checkpoint(tmp_path, epochs=1)
    before = sha(ckpt.path)
    assert ckpt.save({"d_loss": float("nan")}) is None
    kernel = gan.discriminator.layers[-1].kernel
    kernel.assign(np.full(kernel.shape, np.inf, "float32"))
    assert ckpt.save() is None
    assert sha(ckpt.path) == before


@pytest.mark.parametrize("content", [b"", b"not a zip file", None])
def test_a_damaged_checkpoint_gives_a_clear_error(tmp_path, content):
    ckpt = tmp_path / "run" / "checkpoints"
    ckpt.mkdir(parents=True)
    if content is None:  # a valid .npz without a manifest: not ours
        np.savez(ckpt / "checkpoint.npz", x=np.zeros(3))
    else:
        (ckpt / "checkpoint.npz").write_bytes(content)
    with pytest.raises(CheckpointError, match="is not a readable checkpoint"):
        read_manifest(ckpt)


def test_a_checkpoint_in_an_unknown_format_is_refused_untouched(tmp_path):
    _, ckpt = fit_with_checkpoint(tmp_path)
    with np.load(ckpt.path) as saved:
        arrays = dict(saved)
    manifest = json.loads(str(arrays["manifest"]))
    manifest["format"] = 99
    arrays["manifest"] = np.array(json.dumps(manifest))
    np.savez(ckpt.path, **arrays)
    before = sha(ckpt.path)
    with pytest.raises(CheckpointError, match=r"format 99, written by another .* reads formats 3"):
        Checkpoint(ckpt.directory).restore(tiny_gan())
    assert sha(ckpt.path) == before


def test_a_format_2_gan_run_samples_as_it_did_and_resumes(tmp_path):
    """tests/fixtures/gan_format2_run was written by the course before model families
    (positional keys, the data set inside config): today's code reads it."""
    run = tmp_path / "old"
    shutil.copytree(FORMAT_2_RUN, run)
    manifest = read_manifest(run / "checkpoints")
    assert (manifest["upgraded_from"], manifest["family"], manifest["dataset"]) == (2, "gan", "mnist")
    loaded = runs.load_run(run)
    assert loaded.profile.width == 2 and loaded.profile.latent_dim == 4 and loaded.profile.ema == 0.9
    np.testing.assert_array_equal(  # the weight average, restored key by key
        loaded.sample(6, seed=3), np.load(run / "expected_samples_seed3.npy")
    )
    profile = get_profile("smoke", width=2, d_width=2, latent_dim=4, ema=0.9,
                               examples_per_epoch=64, epochs=2)  # fmt: skip
    resumed = runs.train("gan", "mnist", profile, out=run, resume=True, evaluate=False,
                         progress=False)  # fmt: skip
    assert resumed.metrics["step"] == 4 == int(resumed.model.step.numpy())
    assert read_manifest(run / "checkpoints")["format"] == 3  # saved in today's format
    with pytest.raises(CheckpointError, match="width: checkpoint has 2, this run asks for 8"):
        runs.train("gan", "mnist", "smoke", out=run, resume=True, evaluate=False)
