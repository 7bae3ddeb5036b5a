"""The 1-D toy GAN, its pictures, and the few-label transfer helpers."""

from __future__ import annotations

import numpy as np
import pytest

from aigc_course import game1d, toys


def test_three_bumps_is_a_normalised_mixture():
    data = toys.three_bumps()
    xs = np.linspace(-8, 8, 4001)
    assert game1d.integrate(data.pdf(xs), xs) == pytest.approx(1.0, abs=1e-6)
    assert len(data.components) == 3


def test_kde_integrates_to_one_and_finds_the_mode():
    rng = np.random.default_rng(0)
    xs = np.linspace(-6, 6, 1201)
    dens = toys.kde(rng.normal(1.0, 0.5, 5000), xs)
    assert game1d.integrate(dens, xs) == pytest.approx(1.0, abs=0.01)
    assert xs[np.argmax(dens)] == pytest.approx(1.0, abs=0.15)
    with pytest.raises(ValueError, match="at least two"):
        toys.kde([1.0], xs)


@pytest.mark.slow
def test_toy_gan_learns_the_three_bumps_and_repeats():
    """Short training (600 steps): the generator must put mass near every bump."""
    data = toys.three_bumps()
    run = toys.train_toy_gan(data, steps=600, snapshot_every=300, seed=0, progress=False)
    assert [s for s, _ in run.snapshots] == [0, 300, 600]
    assert len(run.d_loss) == len(run.g_loss) == 600
    assert all(np.isfinite(run.d_loss)) and all(np.isfinite(run.g_loss))
    x = run.sample(10_000, np.random.default_rng(0))
    start = run.snapshots[0][1]
    for mu in (-3.0, 0.0, 3.0):
        assert np.mean(np.abs(x - mu) < 1.0) > 0.1, f"no mass near {mu}"
    assert x.std() > 3 * start.std()  # the initial spike has spread out
    again = toys.train_toy_gan(data, steps=50, snapshot_every=50, seed=0, progress=False)
    np.testing.assert_allclose(again.d_loss, run.d_loss[:50], rtol=1e-4)  # same seed, same run
    d = run.discriminator_prob(np.linspace(-4, 4, 9))
    assert d.shape == (9,) and np.all((d > 0) & (d < 1))


def test_toy_gan_rejects_bad_arguments():
    with pytest.raises(TypeError, match="Mixture or Normal"):
        toys.train_toy_gan([0.0, 1.0], steps=1)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        toys.train_toy_gan(toys.three_bumps(), steps=0)


@pytest.mark.slow
def test_pictures_are_written(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    data = toys.three_bumps()
    run = toys.train_toy_gan(data, steps=20, snapshot_every=10, progress=False)
    fig = toys.plot_snapshots(run, data, count=3)
    assert len(fig.axes) == 3
    plt.close(fig)
    path = toys.save_density_gif(run, data, tmp_path / "sub" / "gan.gif", fps=5)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == len(run.snapshots) == 3


@pytest.mark.slow
def test_fit_steps_runs_exactly_the_requested_number_of_batches():
    from aigc_course._tf import keras

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).random((10, 28, 28, 1)).astype("float32")
    y = np.arange(10) % 10
    model = toys.build_classifier(toys.build_digit_features())
    toys.fit_steps(model, x, y, steps=7, batch_size=4)  # 28 examples drawn from 10
    assert int(model.optimizer.iterations.numpy()) == 7
    acc = toys.accuracy(model, x, y, batch_size=3)
    assert 0.0 <= acc <= 1.0
    with pytest.raises(ValueError, match="as many labels"):
        toys.fit_steps(model, x, y[:5], steps=1)


def test_accuracy_counts_argmax_hits():
    class Fixed:
        def __call__(self, x, training=False):
            return np.eye(3)[np.asarray(x).astype(int)]

    assert toys.accuracy(Fixed(), np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2])) == 0.75


@pytest.mark.slow
def test_transfer_comparison_returns_one_row_per_budget():
    from aigc_course._tf import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((60, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, 60)
    weights = toys.build_digit_features().get_weights()
    rows = toys.transfer_comparison(
        weights, x, y, x[:20], y[:20], budgets=(10, 30), steps=2, progress=False
    )
    assert [r["labels"] for r in rows] == [10, 30]
    for row in rows:
        assert set(row) == {"labels", *toys.TRANSFER_MODES}
        assert all(0.0 <= row[m] <= 1.0 for m in toys.TRANSFER_MODES)
    with pytest.raises(ValueError, match="budgets must be positive integers"):
        toys.transfer_comparison(weights, x, y, x, y, budgets="100", steps=1, progress=False)
    with pytest.raises(ValueError, match="needs that many training images"):
        toys.transfer_comparison(weights, x, y, x, y, budgets=(100,), steps=1, progress=False)
