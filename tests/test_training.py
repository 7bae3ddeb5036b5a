"""The GAN trainer: one step per player, checkpoints that survive crashes, profiles, sampling."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import numpy as np
import pytest

from aigc_course import training
from aigc_course._tf import keras, tf

LATENT = 8


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("AIGC_OFFLINE", "1")
    monkeypatch.setenv("AIGC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("AIGC_SMOKE", raising=False)


def tiny_generator(latent_dim: int = LATENT, width: int = 4) -> keras.Model:
    z = keras.Input((latent_dim,))
    x = keras.layers.Dense(7 * 7 * width)(z)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Reshape((7, 7, width))(keras.layers.LeakyReLU(0.2)(x))
    x = keras.layers.Conv2DTranspose(1, 4, strides=4, padding="same")(x)
    return keras.Model(z, keras.layers.Activation("tanh", dtype="float32")(x))


def tiny_discriminator(width: int = 4) -> keras.Model:
    x_in = keras.Input((28, 28, 1))
    x = keras.layers.LeakyReLU(0.2)(keras.layers.Conv2D(width, 4, strides=4)(x_in))
    return keras.Model(x_in, keras.layers.Dense(1, dtype="float32")(keras.layers.Flatten()(x)))


def tiny_gan(loss="non_saturating", d_steps=1, d_lr=1e-3, g_lr=1e-3, jit=False, width=4):
    gan = training.GAN(
        tiny_generator(width=width), tiny_discriminator(width), LATENT, loss=loss, d_steps=d_steps
    )
    gan.compile(keras.optimizers.Adam(d_lr), keras.optimizers.Adam(g_lr), jit_compile=jit)
    return gan


def real_batches(n=64, batch=16, seed=0):
    images = np.random.default_rng(seed).uniform(-1, 1, (n, 28, 28, 1)).astype("float32")
    return tf.data.Dataset.from_tensor_slices(images).batch(batch, drop_remainder=True).repeat()


def trainable(model):
    return [v.numpy().copy() for v in model.trainable_variables]


def changed(before, model):
    return any(
        not np.array_equal(a, v.numpy())
        for a, v in zip(before, model.trainable_variables, strict=True)
    )


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- the train step


def test_a_step_updates_both_players():
    keras.utils.set_random_seed(0)
    gan = tiny_gan(d_steps=2)
    g0, d0 = trainable(gan.generator), trainable(gan.discriminator)
    gan.fit(real_batches(), steps_per_epoch=1, epochs=1, verbose=0, shuffle=False)
    assert changed(g0, gan.generator) and changed(d0, gan.discriminator)
    assert int(gan.d_optimizer.iterations.numpy()) == 2  # d_steps discriminator updates
    assert int(gan.g_optimizer.iterations.numpy()) == 1
    assert int(gan.step.numpy()) == 1


@pytest.mark.parametrize("frozen", ["generator", "discriminator"])
def test_each_player_moves_only_through_its_own_optimizer(frozen):
    """With one player's learning rate at 0, that player must not move; the other must."""
    keras.utils.set_random_seed(0)
    gan = tiny_gan(
        d_lr=0.0 if frozen == "discriminator" else 1e-3, g_lr=0.0 if frozen == "generator" else 1e-3
    )
    g0, d0 = trainable(gan.generator), trainable(gan.discriminator)
    gan.fit(real_batches(), steps_per_epoch=2, epochs=1, verbose=0, shuffle=False)
    assert changed(g0, gan.generator) == (frozen != "generator")
    assert changed(d0, gan.discriminator) == (frozen != "discriminator")


@pytest.mark.parametrize("loss", ["non_saturating", "minimax", "lsgan", "wgan_gp", "hinge"])
def test_metrics_present_and_finite_for_every_loss(loss):
    keras.utils.set_random_seed(0)
    history = tiny_gan(loss=loss).fit(
        real_batches(), steps_per_epoch=2, epochs=1, verbose=0, shuffle=False
    )
    logs = {k: v[-1] for k, v in history.history.items()}
    assert set(logs) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(math.isfinite(v) for v in logs.values()), logs
    assert 0.0 <= logs["d_real"] <= 1.0 and 0.0 <= logs["d_fake"] <= 1.0


def test_non_saturating_losses_start_near_log_two():
    """An untrained D says ~50 % everywhere: L_D ~ 2 log 2, L_G ~ log 2 (closed form)."""
    keras.utils.set_random_seed(0)
    gan = tiny_gan(d_lr=1e-9, g_lr=1e-9)
    kernel = gan.discriminator.layers[-1].kernel  # zero weights, zero bias: D(x) = 1/2 exactly
    kernel.assign(np.zeros(kernel.shape, "float32"))
    logs = gan.fit(real_batches(), steps_per_epoch=1, epochs=1, verbose=0, shuffle=False).history
    assert logs["d_loss"][0] == pytest.approx(2 * math.log(2), abs=1e-4)
    assert logs["g_loss"][0] == pytest.approx(math.log(2), abs=1e-4)
    assert logs["d_real"][0] == pytest.approx(0.5, abs=1e-4)


def _hand_step(gen, disc, real, z, update, lr):
    """One SGD step of both players written out: the update rule the trainer must follow."""
    from aigc_course.losses import get_losses

    d_loss_fn, g_loss_fn = get_losses("non_saturating")
    d_vars, g_vars = disc.trainable_variables, gen.trainable_variables

    def g_grads():
        with tf.GradientTape() as tape:
            loss = g_loss_fn(disc(gen(z, training=True), training=True))
        return tape.gradient(loss, g_vars)

    fake = gen(z, training=True)
    with tf.GradientTape() as tape:
        d_loss = d_loss_fn(disc(real, training=True), disc(fake, training=True))
    d_grads = tape.gradient(d_loss, d_vars)
    early = g_grads() if update == "simultaneous" else None  # at the old discriminator
    for var, grad in zip(d_vars, d_grads, strict=True):
        var.assign_sub(lr * grad)
    late = early if early is not None else g_grads()  # alternating: at the updated one
    for var, grad in zip(g_vars, late, strict=True):
        var.assign_sub(lr * grad)


@pytest.mark.parametrize("update", training.UPDATES)
def test_update_rules_match_a_hand_written_step(update):
    """Alternating: G's gradient goes through the updated D; simultaneous: through the old D."""
    keras.utils.set_random_seed(0)
    lr = 0.5  # large, so the two rules end far apart
    real = np.random.default_rng(1).uniform(-1, 1, (16, 28, 28, 1)).astype("float32")
    z = np.random.default_rng(2).standard_normal((16, LATENT)).astype("float32")
    gen, disc = tiny_generator(), tiny_discriminator()  # the shared starting point

    def one_fit_step(rule):
        gan = training.GAN(tiny_generator(), tiny_discriminator(), LATENT, update=rule)
        gan.generator.set_weights(gen.get_weights())
        gan.discriminator.set_weights(disc.get_weights())
        gan.compile(keras.optimizers.SGD(lr), keras.optimizers.SGD(lr))
        gan._noise = lambda batch_size: tf.constant(z)  # the same noise in every forward pass
        gan.fit(tf.data.Dataset.from_tensors(real).repeat(), steps_per_epoch=1, epochs=1,
                verbose=0, shuffle=False)  # fmt: skip
        return gan

    ours = one_fit_step(update)
    other = one_fit_step(next(u for u in training.UPDATES if u != update))
    _hand_step(gen, disc, tf.constant(real), tf.constant(z), update, lr)
    for mine, expected in ((ours.generator, gen), (ours.discriminator, disc)):
        for a, b in zip(mine.trainable_variables, expected.trainable_variables, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=2e-5)
    assert changed(trainable(other.generator), ours.generator), "the two rules must differ"


def test_simultaneous_update_does_one_step_each():
    with pytest.raises(ValueError, match="update must be one of"):
        training.GAN(tiny_generator(), tiny_discriminator(), LATENT, update="sequential")
    with pytest.raises(ValueError, match="d_steps=2 needs update='alternating'"):
        training.GAN(tiny_generator(), tiny_discriminator(), LATENT, d_steps=2,
                     update="simultaneous")  # fmt: skip
    gan = training.GAN(tiny_generator(), tiny_discriminator(), LATENT, update="simultaneous")
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    gan.fit(real_batches(), steps_per_epoch=3, epochs=1, verbose=0, shuffle=False)
    assert int(gan.d_optimizer.iterations.numpy()) == int(gan.g_optimizer.iterations.numpy()) == 3


@pytest.mark.slow
def test_xla_step_on_cpu():
    keras.utils.set_random_seed(0)
    gan = tiny_gan(jit=True)
    logs = gan.fit(real_batches(), steps_per_epoch=2, epochs=1, verbose=0, shuffle=False).history
    assert all(math.isfinite(v[-1]) for v in logs.values())
    assert int(gan.step.numpy()) == 2


def test_mixed_precision_wraps_optimizers_and_steps():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        gen, disc = tiny_generator(), tiny_discriminator()
    finally:
        keras.config.set_dtype_policy(previous)
    gan = training.GAN(gen, disc, LATENT)
    gan.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert gen.layers[1].compute_dtype == "float16" and gen.output.dtype == "float32"
    logs = gan.fit(real_batches(), steps_per_epoch=1, epochs=1, verbose=0, shuffle=False).history
    assert all(math.isfinite(v[-1]) for v in logs.values())


def test_gan_rejects_bad_arguments():
    g, d = tiny_generator(), tiny_discriminator()
    with pytest.raises(ValueError, match="latent_dim"):
        training.GAN(g, d, latent_dim=0)
    with pytest.raises(ValueError, match="unknown loss"):
        training.GAN(g, d, LATENT, loss="wasserstein")
    with pytest.raises(ValueError, match="d_steps"):
        training.GAN(g, d, LATENT, d_steps=0)
    with pytest.raises(ValueError, match="two different models"):
        training.GAN(g, g, LATENT)
    gan = training.GAN(g, d, LATENT)
    opt = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="its own optimizer"):
        gan.compile(opt, opt)
    with pytest.raises(ValueError, match="keras optimizer"):
        gan.compile("adam", keras.optimizers.Adam())


# --------------------------------------------------------------------------- checkpoints


def fit_with_checkpoint(tmp_path, epochs=2, steps=4, every=3, config=None):
    keras.utils.set_random_seed(0)
    gan = tiny_gan()
    ckpt = training.Checkpoint(tmp_path / "ckpt", every_steps=every, config=config or {"width": 4})
    gan.fit(
        real_batches(),
        steps_per_epoch=steps,
        epochs=epochs,
        callbacks=[ckpt],
        verbose=0,
        shuffle=False,
    )
    return gan, ckpt


def test_checkpoint_is_one_file_plus_manifest_and_leaves_no_temporaries(tmp_path):
    gan, ckpt = fit_with_checkpoint(tmp_path)
    assert sorted(p.name for p in ckpt.directory.iterdir()) == ["checkpoint.npz", "manifest.json"]
    manifest = json.loads((ckpt.directory / "manifest.json").read_text())
    assert manifest == training.Checkpoint.read_manifest(ckpt.directory)
    assert (manifest["step"], manifest["epoch"], manifest["epoch_step"]) == (8, 2, 0)


def test_crash_during_a_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    gan, ckpt = fit_with_checkpoint(tmp_path)
    before = sha(ckpt.path)

    def crash(file, **arrays):
        file.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("disk full (simulated)")

    gan.fit(
        real_batches(), steps_per_epoch=1, epochs=1, verbose=0, shuffle=False
    )  # the model moves on
    monkeypatch.setattr(training.np, "savez", crash)
    with pytest.raises(OSError, match="simulated"):
        ckpt.save()
    monkeypatch.undo()
    assert sha(ckpt.path) == before
    assert sorted(p.name for p in ckpt.directory.iterdir()) == ["checkpoint.npz", "manifest.json"]
    fresh = tiny_gan()
    assert training.Checkpoint(ckpt.directory, config={"width": 4}).restore(fresh)["step"] == 8


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
    restored = training.Checkpoint(ckpt.directory, config={"width": 4})
    manifest = restored.restore(fresh)
    assert manifest["step"] == int(fresh.step.numpy()) == 8
    for key, var in training._state_variables(fresh).items():
        np.testing.assert_array_equal(var.numpy(), saved[key], err_msg=key)
    for a, b in zip(
        gan.generator.weights + gan.discriminator.weights,
        fresh.generator.weights + fresh.discriminator.weights,
        strict=True,
    ):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(fresh.d_optimizer.iterations.numpy()) == int(gan.d_optimizer.iterations.numpy()) == 8
    fresh.fit(
        real_batches(), steps_per_epoch=4, epochs=3, initial_epoch=manifest["epoch"],
        callbacks=[restored], verbose=0,
    )  # fmt: skip
    after = training.Checkpoint.read_manifest(ckpt.directory)
    assert (after["step"], after["epoch"]) == (12, 3)


def test_an_early_stop_records_the_position_within_the_epoch(tmp_path):
    keras.utils.set_random_seed(0)
    gan = tiny_gan()
    ckpt = training.Checkpoint(tmp_path / "ckpt", every_steps=3)

    class Stop(keras.callbacks.Callback):  # stop after step 4 of 5
        def on_train_batch_end(self, batch, logs=None):
            self.model.stop_training = batch == 3

    gan.fit(
        real_batches(),
        steps_per_epoch=5,
        epochs=2,
        callbacks=[ckpt, Stop()],
        verbose=0,
        shuffle=False,
    )
    manifest = training.Checkpoint.read_manifest(ckpt.directory)
    assert (manifest["step"], manifest["epoch"], manifest["epoch_step"]) == (4, 0, 4)


def test_changed_architecture_is_refused_and_checkpoint_untouched(tmp_path):
    _, ckpt = fit_with_checkpoint(tmp_path, config={"latent_dim": LATENT, "width": 4, "loss": "x"})
    hashes = {p.name: sha(p) for p in ckpt.directory.iterdir()}
    wider = training.GAN(tiny_generator(width=6), tiny_discriminator(6), LATENT)
    wider.compile(keras.optimizers.Adam(), keras.optimizers.Adam())
    with pytest.raises(ValueError, match=r"width: checkpoint has 4, this run asks for 6"):
        training.Checkpoint(
            ckpt.directory, config={"latent_dim": LATENT, "width": 6, "loss": "x"}
        ).restore(wider)
    # same declared config but different shapes: the variable check names the mismatch
    with pytest.raises(ValueError, match=r"generator/000: checkpoint has shape"):
        training.Checkpoint(
            ckpt.directory, config={"latent_dim": LATENT, "width": 4, "loss": "x"}
        ).restore(wider)
    assert {p.name: sha(p) for p in ckpt.directory.iterdir()} == hashes


def test_nan_stops_training_and_keeps_last_good_checkpoint(tmp_path, capsys):
    keras.utils.set_random_seed(0)
    gan = tiny_gan()
    ckpt = training.Checkpoint(tmp_path / "ckpt", every_steps=2)
    stop = training.StopOnNaN(ckpt)

    class Poison(keras.callbacks.Callback):  # corrupt D after step 3, so step 4's losses are NaN
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                kernel = self.model.discriminator.layers[-1].kernel
                kernel.assign(np.full(kernel.shape, np.nan, "float32"))

    gan.fit(
        real_batches(), steps_per_epoch=8, epochs=3, callbacks=[stop, ckpt, Poison()], verbose=0
    )
    assert int(gan.step.numpy()) == 4  # stopped at once, not after 24 steps
    assert "step 4" in stop.message and "last good checkpoint (step 2)" in stop.message
    assert stop.message in capsys.readouterr().err
    assert training.Checkpoint.read_manifest(ckpt.directory)["step"] == 2
    with np.load(ckpt.path) as saved:
        assert all(np.isfinite(saved[k]).all() for k in saved.files if saved[k].dtype.kind == "f")


# --------------------------------------------------------------------------- callbacks


def test_sample_grid_writes_one_png_per_epoch_and_shows_it(tmp_path, monkeypatch):
    from PIL import Image

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    keras.utils.set_random_seed(0)
    gan = tiny_gan()
    grid = training.SampleGrid(tmp_path / "s", LATENT, n=16, every_epochs=2, show=True)
    gan.fit(real_batches(), steps_per_epoch=1, epochs=4, callbacks=[grid], verbose=0, shuffle=False)
    assert [p.name for p in sorted((tmp_path / "s").iterdir())] == [
        "epoch_002.png",
        "epoch_004.png",
    ]
    scale = training.PNG_SCALE
    assert Image.open(tmp_path / "s" / "epoch_002.png").size == ((4 * 29 + 1) * scale,) * 2
    assert len(shown) == 2 and shown[0].data == (tmp_path / "s" / "epoch_002.png").read_bytes()
    with pytest.raises(ValueError, match="exactly one"):
        training.SampleGrid(tmp_path, latent_dim=8, noise=np.zeros((4, 8)))


def test_sample_grid_uses_the_same_noise_every_epoch(tmp_path):
    a = training.SampleGrid(tmp_path, LATENT, n=9, seed=3)
    b = training.SampleGrid(tmp_path, LATENT, n=9, seed=3)
    np.testing.assert_array_equal(a.noise, b.noise)
    assert a.noise.shape == (9, LATENT)


# --------------------------------------------------------------------------- profiles


def test_auto_profile(monkeypatch):
    assert training.get_profile("auto").name == "cpu"  # no GPU here
    monkeypatch.setattr(training, "GPUS", ["a GPU"])
    assert training.get_profile("auto").name == "gpu"
    monkeypatch.setenv("AIGC_SMOKE", "1")
    assert training.get_profile("auto").name == "smoke"
    assert training.get_profile("cpu").name == "cpu"  # an explicit choice wins


def test_profiles_are_sane():
    assert set(training.PROFILES) == {"smoke", "cpu", "gpu"}
    gpu, cpu = training.PROFILES["gpu"], training.PROFILES["cpu"]
    assert gpu.width == 64 and gpu.mixed_precision and gpu.needs_gpu and gpu.epochs >= 50
    assert cpu.discriminator_width < gpu.discriminator_width and cpu.mixed_precision
    assert not cpu.needs_gpu and cpu.epochs * cpu.steps_per_epoch(60_000) < 10_000  # ~5 min
    assert training.PROFILES["smoke"].steps_per_epoch(9000) <= 20


@pytest.mark.parametrize(
    "change, match",
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": "64"}, "batch_size"),
        ({"latent_dim": -3}, "latent_dim"),
        ({"width": 2.5}, "width"),
        ({"dropout": 1.0}, "dropout"),
        ({"g_learning_rate": 0}, "g_learning_rate"),
        ({"beta_1": 1.0}, "beta_1"),
        ({"loss": "wasserstein"}, "unknown loss"),
        ({"images_per_epoch": 10}, "images_per_epoch"),
    ],
)
def test_invalid_profile_values(change, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(training.PROFILES["cpu"], **change)


def test_invalid_names_and_arguments(tmp_path):
    with pytest.raises(ValueError, match="choose one of: auto, smoke, cpu, gpu"):
        training.get_profile("fast")
    with pytest.raises(ValueError, match="epochs"):
        training.train_gan(profile="smoke", out=tmp_path / "r", epochs=0)
    with pytest.raises(ValueError, match="seed"):
        training.train_gan(profile="smoke", out=tmp_path / "r", seed=-1)
    with pytest.raises(ValueError, match="fashion_mnist"):
        training.train_gan(dataset="cifar10", profile="smoke", out=tmp_path / "r")
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        training.train_gan(profile="smoke", out=tmp_path / "r", resume=True)
    with pytest.raises(ValueError, match="fewer than one batch"):
        training.PROFILES["smoke"].steps_per_epoch(10)


# --------------------------------------------------------------------------- train_gan, end to end


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "smoke"
    mp = pytest.MonkeyPatch()
    mp.setenv("AIGC_OFFLINE", "1")
    try:
        result = training.train_gan(profile="smoke", out=out, progress=False, evaluate=False)
    finally:
        mp.undo()
    return result


@pytest.mark.slow
def test_train_gan_writes_a_complete_run(smoke_run):
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
    assert smoke_run.metrics["step"] == steps == int(smoke_run.gan.step.numpy())
    assert json.loads((out / "metrics.json").read_text())["epoch"] == prof.epochs


@pytest.mark.slow
def test_train_gan_refuses_to_overwrite_and_to_resume_another_architecture(smoke_run, tmp_path):
    ckpt = smoke_run.run_dir / "checkpoints"
    hashes = {p.name: sha(p) for p in ckpt.iterdir()}
    with pytest.raises(ValueError, match="already holds a checkpoint"):
        training.train_gan(profile="smoke", out=smoke_run.run_dir, evaluate=False)
    wider = dataclasses.replace(smoke_run.profile, width=12)
    with pytest.raises(ValueError, match="width: checkpoint has 8, this run asks for 12"):
        training.train_gan(profile=wider, out=smoke_run.run_dir, resume=True, evaluate=False)
    with pytest.raises(ValueError, match="dataset: checkpoint has 'mnist'"):
        training.train_gan(
            "fashion_mnist", profile="smoke", out=smoke_run.run_dir, resume=True, evaluate=False
        )
    assert {p.name: sha(p) for p in ckpt.iterdir()} == hashes


@pytest.mark.slow
def test_sample_run_writes_npy_and_png(smoke_run, tmp_path):
    from PIL import Image

    arr = training.sample_run(smoke_run.run_dir, 10, tmp_path / "s.npy", seed=1)
    images = np.load(arr)
    assert images.shape == (10, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(
        images, np.load(training.sample_run(smoke_run.run_dir, 10, tmp_path / "t.npy", seed=1))
    )
    png = training.sample_run(smoke_run.run_dir, 10, tmp_path / "s.png")
    assert Image.open(png).size == (
        (4 * 29 + 1) * training.PNG_SCALE,
        (3 * 29 + 1) * training.PNG_SCALE,
    )
    with pytest.raises(ValueError, match=".npy"):
        training.sample_run(smoke_run.run_dir, 10, tmp_path / "s.jpg")
    with pytest.raises(ValueError, match="n must be"):
        training.sample_run(smoke_run.run_dir, 0, tmp_path / "s.npy")
    with pytest.raises(FileNotFoundError, match="train it first"):
        training.sample_run(tmp_path / "nothing", 4, tmp_path / "s.npy")


@pytest.mark.slow
def test_load_generator_falls_back_to_the_checkpoint(smoke_run, tmp_path):
    import shutil

    run = tmp_path / "interrupted"
    shutil.copytree(smoke_run.run_dir / "checkpoints", run / "checkpoints")
    gen = training.load_generator(run)
    z = (
        np.random.default_rng(0)
        .standard_normal((4, smoke_run.profile.latent_dim))
        .astype("float32")
    )
    np.testing.assert_allclose(
        gen(z, training=False), smoke_run.generator(z, training=False), atol=1e-6
    )


@pytest.mark.slow
def test_train_gan_raises_on_nan_and_writes_no_generator(tmp_path, monkeypatch):
    build = training.build_gan

    def poisoned(profile, strategy=None):
        gan = build(profile, strategy)
        kernel = gan.discriminator.layers[-1].kernel
        kernel.assign(np.full(kernel.shape, np.nan, "float32"))
        return gan

    monkeypatch.setattr(training, "build_gan", poisoned)
    with pytest.raises(RuntimeError, match="no longer finite.*no checkpoint was saved yet"):
        training.train_gan(profile="smoke", out=tmp_path / "run", progress=False, evaluate=False)
    assert not (tmp_path / "run" / "generator.keras").exists()
    assert not (tmp_path / "run" / "checkpoints" / "checkpoint.npz").exists()


@pytest.mark.parametrize("content", [b"", b"not a zip file", None])
def test_a_damaged_checkpoint_gives_a_clear_error(tmp_path, content):
    ckpt = tmp_path / "run" / "checkpoints"
    ckpt.mkdir(parents=True)
    if content is None:  # a valid .npz without a manifest: not ours
        np.savez(ckpt / "checkpoint.npz", x=np.zeros(3))
    else:
        (ckpt / "checkpoint.npz").write_bytes(content)
    with pytest.raises(ValueError, match="is not a readable checkpoint"):
        training.train_gan(profile="smoke", out=tmp_path / "run", resume=True, evaluate=False)


def test_a_checkpoint_from_another_course_version_is_refused_untouched(tmp_path):
    _, ckpt = fit_with_checkpoint(tmp_path)
    with np.load(ckpt.path) as saved:
        arrays = dict(saved)
    old, new = training.CHECKPOINT_FORMAT - 1, training.CHECKPOINT_FORMAT
    manifest = json.loads(str(arrays["manifest"]))
    manifest["format"] = old
    arrays["manifest"] = np.array(json.dumps(manifest))
    np.savez(ckpt.path, **arrays)
    before = sha(ckpt.path)
    with pytest.raises(
        ValueError, match=rf"format {old}, written by another .* reads format {new}"
    ):
        training.Checkpoint(ckpt.directory, config={"width": 4}).restore(tiny_gan())
    assert sha(ckpt.path) == before


def test_gpu_profile_without_a_gpu_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setattr(training, "GPUS", [])
    with pytest.raises(ValueError, match="sees no GPU.*profile 'cpu'"):
        training.train_gan(profile="gpu", out=tmp_path / "run", evaluate=False)
    assert not (tmp_path / "run").exists(), "nothing is written before the check"
    training.require_gpu_if_needed(training.PROFILES["cpu"])  # fine without a GPU


@pytest.mark.parametrize(
    "gpus, onednn, bf16, mixed, expected",
    [
        (["gpu"], True, True, True, "mixed_float16"),
        ([], True, True, True, "mixed_bfloat16"),
        ([], False, True, True, "float32"),  # bfloat16 without oneDNN is emulated: slower
        ([], True, False, True, "float32"),  # no native bfloat16 on this CPU
        (["gpu"], True, True, False, "float32"),
    ],
)
def test_precision_policy_follows_the_hardware(monkeypatch, gpus, onednn, bf16, mixed, expected):
    monkeypatch.setattr(training, "GPUS", gpus)
    monkeypatch.setattr(training, "onednn_enabled", lambda: onednn)
    monkeypatch.setattr(training, "cpu_has_bf16", lambda: bf16)
    profile = dataclasses.replace(training.PROFILES["smoke"], mixed_precision=mixed)
    assert training.precision_policy(profile) == expected
    said = training.describe_precision(profile)
    assert said.startswith(expected.replace("mixed_", "mixed ")), said
    if expected == "float32" and mixed:  # it says why the fast format is not used
        assert ("oneDNN" in said) != onednn and ("no native" in said) == (onednn and not bf16)


def test_a_bfloat16_run_saves_a_float32_generator(monkeypatch, tmp_path):
    monkeypatch.setattr(training, "precision_policy", lambda profile: "mixed_bfloat16")
    result = training.train_gan(profile="smoke", out=tmp_path / "run", evaluate=False,
                                progress=False)  # fmt: skip
    assert result.gan.generator.layers[1].compute_dtype == "bfloat16"
    saved = training.load_generator(tmp_path / "run")
    assert all(layer.compute_dtype == "float32" for layer in saved.layers)
    z = np.random.default_rng(0).standard_normal((4, saved.input_shape[-1])).astype("float32")
    np.testing.assert_allclose(  # the same weights: the float32 copy differs only by rounding
        saved(z, training=False).numpy(),
        result.gan.generator(z, training=False).numpy(),
        atol=0.05,
    )


def test_discriminator_width_and_dropout_come_from_the_profile(tmp_path):
    profile = dataclasses.replace(training.PROFILES["smoke"], width=8, d_width=4, dropout=0.0)
    gan = training.build_gan(profile)
    assert gan.generator.get_layer("up_14").filters == 8
    assert gan.discriminator.get_layer("down_14").filters == 4
    assert not [layer for layer in gan.discriminator.layers if "drop" in layer.name]
    training.train_gan(profile=profile, out=tmp_path / "run", epochs=1, evaluate=False,
                       progress=False)  # fmt: skip
    wider_d = dataclasses.replace(profile, d_width=6)
    with pytest.raises(ValueError, match=r"d_width: checkpoint has 4, this run asks for 6"):
        training.train_gan(profile=wider_d, out=tmp_path / "run", resume=True, evaluate=False)
    with pytest.raises(ValueError, match="d_width must be a positive integer"):
        dataclasses.replace(profile, d_width=0)


def test_ema_keeps_a_running_average_of_the_generator():
    keras.utils.set_random_seed(0)
    gan = training.GAN(tiny_generator(), tiny_discriminator(), LATENT, ema=0.5)
    gan.compile(keras.optimizers.Adam(1e-2), keras.optimizers.Adam(1e-2))
    average = [w.numpy().copy() for w in gan.generator.weights]  # starts at the generator
    for step in (1, 2, 3):
        gan.fit(real_batches(), steps_per_epoch=1, epochs=1, verbose=0, shuffle=False)
        decay = min(0.5, (1 + step) / (10 + step))  # the warm-up, then the fixed rate
        average = [
            decay * a + (1 - decay) * w.numpy()
            for a, w in zip(average, gan.generator.weights, strict=True)
        ]
        for mine, expected in zip(gan.ema_weights, average, strict=True):
            np.testing.assert_allclose(mine.numpy(), expected, rtol=1e-5, atol=1e-6)
    sampler = gan.sampler
    assert sampler is not gan.generator
    for a, b in zip(sampler.weights, gan.ema_weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    z = np.random.default_rng(0).standard_normal((4, LATENT)).astype("float32")
    assert not np.allclose(sampler(z, training=False), gan.generator(z, training=False))


def test_without_ema_the_sampler_is_the_generator():
    gan = tiny_gan()
    assert gan.sampler is gan.generator and gan.ema_weights == []
    for bad in (1.0, -0.1, "0.9", True):
        with pytest.raises(ValueError, match=r"ema must be a number in \[0, 1\)"):
            training.GAN(tiny_generator(), tiny_discriminator(), LATENT, ema=bad)


def test_the_weight_average_is_checkpointed_saved_and_resumed(tmp_path):
    profile = dataclasses.replace(training.PROFILES["smoke"], ema=0.9)
    run = tmp_path / "run"
    first = training.train_gan(profile=profile, out=run, epochs=1, evaluate=False, progress=False)
    z = np.random.default_rng(0).standard_normal((4, profile.latent_dim)).astype("float32")
    expected = first.generator(z, training=False).numpy()  # TrainResult.generator = the sampler
    assert not np.allclose(expected, first.gan.generator(z, training=False))
    saved = training.load_generator(run)  # generator.keras holds the average
    np.testing.assert_allclose(saved(z, training=False), expected, atol=1e-6)
    (run / training.GENERATOR_FILE).unlink()  # from the checkpoint alone: the average too
    np.testing.assert_allclose(training.load_generator(run)(z, training=False), expected, atol=1e-6)
    resumed = training.train_gan(profile=profile, out=run, epochs=2, resume=True, evaluate=False,
                                 progress=False)  # fmt: skip
    assert int(resumed.gan.step.numpy()) == 2 * profile.steps_per_epoch(9000)
    with pytest.raises(ValueError, match=r"ema: checkpoint has 0.9, this run asks for 0.0"):
        training.train_gan(profile=dataclasses.replace(profile, ema=0.0), out=run, resume=True,
                           evaluate=False)  # fmt: skip
