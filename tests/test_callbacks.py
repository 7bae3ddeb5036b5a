"""The engine's callbacks: sample grids from fixed noise, NaN stop, history, FID, time budget."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_models import LATENT, real_batches, tiny_discriminator, tiny_gan

from aigc_course import callbacks, keras
from aigc_course.callbacks import FIDPerEpoch, SampleGrid, StopOnNaN, TimeBudget
from aigc_course.checkpoint import Checkpoint, read_manifest
from aigc_course.gan import GAN
from aigc_course.plotting import PNG_SCALE


def test_sample_grid_writes_one_png_per_epoch_and_shows_it(tmp_path, monkeypatch):
    from PIL import Image

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    keras.utils.set_random_seed(0)
    gan = tiny_gan()
    grid = SampleGrid(tmp_path / "s", n=16, every_epochs=2, show=True)
    gan.fit(real_batches(), steps_per_epoch=1, epochs=4, callbacks=[grid], verbose=0, shuffle=False)
    assert [p.name for p in sorted((tmp_path / "s").iterdir())] == [
        "epoch_002.png",
        "epoch_004.png",
    ]
    assert Image.open(tmp_path / "s" / "epoch_002.png").size == ((4 * 29 + 1) * PNG_SCALE,) * 2
    assert len(shown) == 2 and shown[0].data == (tmp_path / "s" / "epoch_002.png").read_bytes()
    assert grid.paths == sorted((tmp_path / "s").iterdir())


def test_sample_grid_draws_the_same_noise_every_epoch(tmp_path):
    """With both players frozen (learning rates 0, no batch norm to drift), the model is the
    same after every epoch: grids from the same noise must be identical files, and a grid with
    another seed must differ."""
    keras.utils.set_random_seed(0)
    z = keras.Input((LATENT,))
    x = keras.layers.Reshape((28, 28, 1))(keras.layers.Dense(28 * 28, name="g_dense")(z))
    gan = GAN(keras.Model(z, keras.layers.Activation("tanh")(x)), tiny_discriminator(), LATENT)
    gan.compile(keras.optimizers.Adam(0.0), keras.optimizers.Adam(0.0))
    same = SampleGrid(tmp_path / "same", n=9, seed=3)
    other = SampleGrid(tmp_path / "other", n=9, seed=4)
    gan.fit(real_batches(), steps_per_epoch=1, epochs=3, callbacks=[same, other], verbose=0,
            shuffle=False)  # fmt: skip
    frames = [p.read_bytes() for p in same.paths]
    assert len(frames) == 3 and frames[0] == frames[1] == frames[2]
    assert other.paths[0].read_bytes() != frames[0]


def test_sample_grid_skips_an_epoch_that_diverged(tmp_path):
    grid = SampleGrid(tmp_path / "s", n=4)
    grid.set_model(tiny_gan())
    grid.on_epoch_end(0, {"d_loss": float("nan")})
    grid.on_epoch_end(1, {"d_loss": 1.0})
    assert [p.name for p in grid.paths] == ["epoch_002.png"]


def test_sample_grid_refuses_options_its_family_does_not_have(tmp_path):
    with pytest.raises(ValueError, match="gan family has no sampling option steps"):
        SampleGrid(tmp_path, steps=20)
    with pytest.raises(ValueError, match="unknown model family 'gann'"):
        SampleGrid(tmp_path, family="gann")


def test_nan_stops_training_and_keeps_last_good_checkpoint(tmp_path, capsys):
    keras.utils.set_random_seed(0)
    gan = tiny_gan()
    ckpt = Checkpoint(tmp_path / "ckpt", every_steps=2)
    stop = StopOnNaN(ckpt, "lower the learning rates")

    class Poison(keras.callbacks.Callback):  # corrupt D after step 3, so step 4's losses are NaN
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                kernel = self.model.discriminator.layers[-1].kernel
                kernel.assign(np.full(kernel.shape, np.nan, "float32"))

    gan.fit(real_batches(), steps_per_epoch=8, epochs=3, callbacks=[stop, ckpt, Poison()],
            verbose=0)  # fmt: skip
    assert int(gan.step.numpy()) == 4  # stopped at once, not after 24 steps
    assert "step 4" in stop.message and "last good checkpoint (step 2)" in stop.message
    assert stop.message.endswith("Lower the learning rates.")
    assert stop.message in capsys.readouterr().err
    assert read_manifest(ckpt.directory)["step"] == 2
    with np.load(ckpt.path) as saved:
        assert all(np.isfinite(saved[k]).all() for k in saved.files if saved[k].dtype.kind == "f")


def test_time_budget_stops_mid_epoch_and_the_checkpoint_records_where(tmp_path, monkeypatch):
    clock = iter(np.arange(0.0, 100.0, 0.3))  # each reading 0.3 s after the last
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: next(clock))
    keras.utils.set_random_seed(0)
    gan = tiny_gan()
    ckpt = Checkpoint(tmp_path / "ckpt", every_steps=100)
    budget = TimeBudget(1.0)  # read at 0.0 (start), 0.3 (step 1), ..., 1.2 (step 4): stop
    gan.fit(real_batches(), steps_per_epoch=50, epochs=2, callbacks=[budget, ckpt], verbose=0)
    manifest = read_manifest(ckpt.directory)
    assert budget.stopped and (manifest["step"], manifest["epoch"], manifest["epoch_step"]) == (
        4, 0, 4,
    )  # fmt: skip
    with pytest.raises(ValueError, match="seconds"):
        TimeBudget(0)


def test_time_budget_covers_every_fit_call_of_a_resumed_run(monkeypatch):
    clock = iter(np.arange(0.0, 100.0, 0.3))
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: next(clock))
    keras.utils.set_random_seed(0)
    gan = tiny_gan()
    budget = TimeBudget(1.0)
    # the rest of an interrupted epoch: 2 steps, read at 0.0 (start), 0.3 and 0.6
    gan.fit(real_batches(), steps_per_epoch=2, epochs=1, callbacks=[budget], verbose=0)
    assert not budget.stopped
    # the remaining epochs: the clock keeps running (steps read at 0.9 and 1.2: stop), where a
    # clock restarted at this fit() would allow four more steps
    steps = []
    count = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: steps.append(1))
    gan.fit(real_batches(), steps_per_epoch=50, epochs=3, initial_epoch=1,
            callbacks=[budget, count], verbose=0)  # fmt: skip
    assert budget.stopped and len(steps) == 2


def test_fid_per_epoch_logs_fid_beside_the_floor(monkeypatch, tmp_path):
    from aigc_course.data import load_dataset
    from aigc_course.metrics import fid, split_real

    monkeypatch.setenv("AIGC_SMOKE", "1")
    monkeypatch.setenv("AIGC_CACHE_DIR", str(tmp_path))
    images, _ = load_dataset("mnist", verbose=False)
    keras.utils.set_random_seed(0)
    gan = tiny_gan()
    callback = FIDPerEpoch(images, n=100, every_epochs=1, seed=3)
    history = gan.fit(real_batches(), epochs=2, steps_per_epoch=2, callbacks=[callback],
                      shuffle=False, verbose=0)  # fmt: skip
    assert callback.epochs == [1, 2]
    assert history.history["fid"] == pytest.approx(callback.scores)
    reference, other = split_real(images, 100, 3)
    assert callback.floor == pytest.approx(fid(other, reference, classifier=callback.classifier))
    assert callback.floor < min(callback.scores)  # noise from an untrained generator
    # the last score is plain FID of the family's samples (seed 3) against the same real set
    from aigc_course.families import get_family

    generated = get_family("gan").sample(gan, 100, seed=3)
    want = fid(generated, reference, classifier=callback.classifier)
    assert callback.scores[-1] == pytest.approx(want, rel=1e-6)


def test_fid_per_epoch_rejects_bad_input():
    with pytest.raises(ValueError, match="N >= 2 \\* n"):
        FIDPerEpoch(np.zeros((10, 28, 28), np.uint8), n=10)
    with pytest.raises(ValueError, match="uint8"):
        FIDPerEpoch(np.zeros((100, 28, 28), np.float32), n=10)
    with pytest.raises(ValueError, match="every_epochs"):
        FIDPerEpoch(np.zeros((100, 28, 28), np.uint8), n=10, every_epochs=0)
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        FIDPerEpoch(np.zeros((100, 28, 28), np.uint8), n=1)
