"""The 1-D toy GAN, its pictures, and the few-label transfer helpers."""

from __future__ import annotations

import numpy as np
import pytest

from aigc_course import fewlabels, game1d, toys


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
    model = fewlabels.build_classifier(fewlabels.build_digit_features())
    fewlabels.fit_steps(model, x, y, steps=7, batch_size=4)  # 28 examples drawn from 10
    assert int(model.optimizer.iterations.numpy()) == 7
    acc = fewlabels.accuracy(model, x, y, batch_size=3)
    assert acc == np.mean(np.asarray(model(x, training=False)).argmax(axis=1) == y)
    with pytest.raises(ValueError, match="as many labels"):
        fewlabels.fit_steps(model, x, y[:5], steps=1)


def test_accuracy_counts_argmax_hits():
    class Fixed:
        def __call__(self, x, training=False):
            return np.eye(3)[np.asarray(x).astype(int)]

    assert fewlabels.accuracy(Fixed(), np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2])) == 0.75


@pytest.mark.slow
def test_transfer_comparison_returns_one_row_per_budget():
    from aigc_course._tf import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((60, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, 60)
    weights = fewlabels.build_digit_features().get_weights()
    rows = fewlabels.transfer_comparison(
        weights, x, y, x[:20], y[:20], budgets=(10, 30), steps=2, progress=False
    )
    assert [r["labels"] for r in rows] == [10, 30]
    for row in rows:
        assert set(row) == {"labels", *fewlabels.TRANSFER_MODES}
        for m in fewlabels.TRANSFER_MODES:  # accuracies on the 20 test images: multiples of 1/20
            assert row[m] * 20 == pytest.approx(round(row[m] * 20), abs=1e-9), row
    with pytest.raises(ValueError, match="budgets must be positive integers"):
        fewlabels.transfer_comparison(weights, x, y, x, y, budgets="100", steps=1, progress=False)
    with pytest.raises(ValueError, match="needs that many training images"):
        fewlabels.transfer_comparison(weights, x, y, x, y, budgets=(100,), steps=1, progress=False)


# --- the 1-D diffusion model and the numbers that compare generators -------------------------


def test_wasserstein_1d_measures_shifts_and_ignores_order():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, 5000)
    assert toys.wasserstein_1d(a, a[::-1]) == pytest.approx(0.0, abs=1e-12)
    assert toys.wasserstein_1d(a, a + 0.7) == pytest.approx(0.7, abs=1e-9)
    # unequal sizes: two samples of N(0, 1) against N(2, 1) are 2 apart
    assert toys.wasserstein_1d(a, rng.normal(2.0, 1.0, 3000)) == pytest.approx(2.0, abs=0.08)
    # same mean, twice the spread: W1 = E|Z| (2 - 1) = sqrt(2 / pi), not 0
    wide = rng.normal(0.0, 2.0, 5000)
    assert toys.wasserstein_1d(a, wide) == pytest.approx(np.sqrt(2 / np.pi), abs=0.05)
    with pytest.raises(ValueError, match="at least two"):
        toys.wasserstein_1d([1.0], a)


def test_mass_per_component_splits_samples_by_nearest_bump():
    data = toys.three_bumps()
    mass = toys.mass_per_component(np.array([-3.2, -2.0, -0.4, 0.1, 1.4, 2.9, 3.3, 9.0]), data)
    np.testing.assert_allclose(mass, [2 / 8, 3 / 8, 3 / 8])
    sampled = toys.mass_per_component(data.sample(20_000, np.random.default_rng(0)), data)
    np.testing.assert_allclose(sampled, data.weights, atol=0.01)


def test_spread_per_component_measures_each_bump_width():
    data = toys.three_bumps()  # bumps 3 apart with sigma 0.5: nearest-mean cuts lose ~nothing
    spread = toys.spread_per_component(data.sample(30_000, np.random.default_rng(0)), data)
    np.testing.assert_allclose(spread, [0.5, 0.5, 0.5], rtol=0.03)
    narrow = toys.spread_per_component(np.array([-3.1, -2.9, 0.0, 0.2]), data)
    np.testing.assert_allclose(narrow[:2], [0.1, 0.1])
    assert np.isnan(narrow[2])  # no sample near +3


def test_diffusion_sampler_recovers_the_data_with_the_exact_noise_predictor():
    """For data N(m, s^2) the best noise prediction is known in closed form; with it, the
    reverse steps must turn N(0, 1) noise back into N(m, s^2)."""
    from aigc_course.diffusion import alpha_bars, linear_beta_schedule

    m, s, T = 2.0, 0.5, 100
    betas = linear_beta_schedule(T, 0.1 / T, 20.0 / T)
    abar = alpha_bars(betas)

    def exact_noise(x_t, t):  # E[eps | x_t] for x_0 ~ N(m, s^2)
        a = abar[t - 1]
        return np.sqrt(1 - a) / (a * s**2 + 1 - a) * (np.asarray(x_t) - np.sqrt(a) * m)

    run = toys.ToyDiffusion(model=None, betas=betas)
    run.predict_noise = exact_noise
    x, path = run.sample(20_000, np.random.default_rng(0), keep_path=True)
    assert path.shape == (T + 1, 20_000) and np.array_equal(path[-1], x)
    assert abs(path[0].mean()) < 0.05 and path[0].std() == pytest.approx(1.0, abs=0.05)
    assert x.mean() == pytest.approx(m, abs=0.03)
    assert x.std() == pytest.approx(s, rel=0.08)


@pytest.mark.slow
def test_toy_diffusion_learns_to_predict_the_noise_and_repeats():
    data = toys.three_bumps()
    run = toys.train_toy_diffusion(data, train_steps=300, seed=0, progress=False)
    assert len(run.losses) == 300 and np.all(np.isfinite(run.losses))
    assert np.mean(run.losses[-50:]) < 0.75  # predicting 0 everywhere scores 1
    assert run.betas.shape == (100,)
    from aigc_course.diffusion import alpha_bars

    assert alpha_bars(run.betas)[-1] < 1e-3  # the last step leaves (almost) pure noise
    x = run.sample(500, np.random.default_rng(0))
    assert x.shape == (500,) and np.all(np.isfinite(x))
    again = toys.train_toy_diffusion(data, train_steps=20, seed=0, progress=False)
    np.testing.assert_allclose(again.losses, run.losses[:20], rtol=1e-4)
    with pytest.raises(ValueError, match="at least 20"):
        toys.train_toy_diffusion(data, num_steps=5, train_steps=1, progress=False)
    with pytest.raises(TypeError, match="Mixture or Normal"):
        toys.train_toy_diffusion([1.0, 2.0], train_steps=1, progress=False)


@pytest.mark.slow
def test_augmentation_comparison_trains_both_versions_per_seed(monkeypatch):
    from aigc_course._tf import keras

    built = []
    real_build = fewlabels.build_classifier

    def recording_build(features, augment=None, **kwargs):
        built.append(augment)
        return real_build(features, augment=augment, **kwargs)

    monkeypatch.setattr(fewlabels, "build_classifier", recording_build)
    rng = np.random.default_rng(0)
    x = rng.random((40, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, 40)
    augment = keras.Sequential([keras.layers.RandomTranslation(0.1, 0.1, seed=1)])
    rows = fewlabels.augmentation_comparison(
        augment, x, y, x[:10], y[:10], budgets=(10, 20), seeds=(0, 1), steps=2, progress=False
    )
    assert [(r["labels"], r["seed"]) for r in rows] == [(10, 0), (10, 1), (20, 0), (20, 1)]
    for row in rows:
        assert set(row) == {"labels", "seed", "plain", "augmented"}
        assert 0.0 <= row["plain"] <= 1.0 and 0.0 <= row["augmented"] <= 1.0
    assert not augment.built  # each model got its own copy; the caller's pipeline is untouched
    assert [b is None for b in built] == [True, False] * 4  # plain, then augmented, per seed
    for copy in built[1::2]:
        assert copy is not augment
        assert [type(layer) for layer in copy.layers] == [type(layer) for layer in augment.layers]
    with pytest.raises(ValueError, match="at least one seed"):
        fewlabels.augmentation_comparison(augment, x, y, x, y, budgets=(10,), seeds=(), steps=1)
    with pytest.raises(ValueError, match="needs that many training images"):
        fewlabels.augmentation_comparison(augment, x, y, x, y, budgets=(100,), steps=1)


@pytest.mark.slow
def test_classifier_with_augmentation_changes_images_only_in_training():
    from aigc_course._tf import keras

    keras.utils.set_random_seed(0)
    augment = keras.Sequential([keras.layers.RandomTranslation(0.3, 0.3, seed=1)])
    model = fewlabels.build_classifier(fewlabels.build_digit_features(), augment=augment)
    assert model.layers[0] is augment
    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(model(x, training=False), model(x, training=False))
    assert not np.allclose(augment(x, training=True), x)
