"""Tests for aigc_course.metrics: Fréchet distance maths, scores, nearest neighbours, the
classifier cache. A tiny random-weight classifier stands in for the trained one, except in
the one slow test that really trains the smoke-size classifier into a temporary cache."""

from __future__ import annotations

import json
import sys
import types
import warnings

import numpy as np
import pytest

from aigc_course import classifier as domain_classifier
from aigc_course import metrics
from aigc_course._tf import keras


@pytest.fixture(scope="module")
def tiny_classifier():
    """Flatten -> 16-d "features" -> softmax(10), fixed random weights: cheap and deterministic."""
    init = keras.initializers.GlorotUniform
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(16, activation="tanh", kernel_initializer=init(1), name="features")(x)
    outputs = keras.layers.Dense(10, activation="softmax", kernel_initializer=init(2))(x)
    return keras.Model(inputs, outputs)


def _random_images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)


# --------------------------------------------------------------------------- Fréchet distance


def test_frechet_distance_of_identical_sets_is_zero():
    feats = np.random.default_rng(0).normal(size=(500, 8))
    assert metrics.frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-8)


def test_gaussian_frechet_distance_matches_closed_forms():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
    # diagonal covariances: |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2
    a, b = rng.uniform(0.5, 3, 4), rng.uniform(0.5, 3, 4)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = metrics.gaussian_frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert got == pytest.approx(expected, rel=1e-10)
    # a rotated pair (non-diagonal, commuting): same formula in the rotated basis
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    got = metrics.gaussian_frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T)
    assert got == pytest.approx(expected, rel=1e-8)
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2 with standard deviations s
    assert metrics.gaussian_frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(10.0)


def test_frechet_distance_of_samples_approaches_the_population_value():
    rng = np.random.default_rng(2)
    a = rng.normal(0.0, 1.0, size=(20000, 3))
    b = rng.normal(1.0, 2.0, size=(20000, 3))
    expected = 3 * 1.0**2 + 3 * (2.0 - 1.0) ** 2  # mean gap + std gap, per dimension
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=0.03)


def test_frechet_distance_rejects_bad_input_and_warns_on_too_few_samples():
    with pytest.raises(ValueError, match="same D"):
        metrics.frechet_distance(np.zeros((10, 3)), np.zeros((10, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        metrics.frechet_distance(np.zeros((1, 3)), np.zeros((10, 3)))
    rng = np.random.default_rng(3)
    with pytest.warns(UserWarning, match="singular"):
        metrics.frechet_distance(rng.normal(size=(5, 8)), rng.normal(size=(5, 8)))


# --------------------------------------------------------------------------- FID and score


def test_fid_is_symmetric_positive_and_accepts_both_image_formats(tiny_classifier):
    a, b = _random_images(300, 0), _random_images(300, 1) // 2  # b is darker
    ab = metrics.fid(a, b, classifier=tiny_classifier)
    ba = metrics.fid(b, a, classifier=tiny_classifier)
    assert ab > 0.1
    assert ab == pytest.approx(ba, rel=1e-9)
    as_float = (a.astype(np.float32) / 127.5 - 1.0)[..., None]  # the generator's format
    assert metrics.fid(as_float, b, classifier=tiny_classifier) == pytest.approx(ab, rel=1e-4)
    assert metrics.fid(a, a, classifier=tiny_classifier) == pytest.approx(0.0, abs=1e-6)


def test_image_inputs_are_validated(tiny_classifier):
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        metrics.features(np.zeros((4, 32, 32), np.uint8), classifier=tiny_classifier)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        metrics.features(np.full((4, 28, 28), 2.0, np.float32), classifier=tiny_classifier)
    with pytest.raises(ValueError, match="NaN"):
        metrics.features(np.full((4, 28, 28), np.nan, np.float32), classifier=tiny_classifier)
    with pytest.warns(UserWarning, match="0..1 data"):
        metrics.features(_random_images(4, 0) / 255.0, classifier=tiny_classifier)
    with pytest.raises(ValueError, match="uint8"):
        metrics.features(np.zeros((4, 28, 28), np.int64), classifier=tiny_classifier)


def test_classifier_score_extremes():
    one_class = np.tile(np.eye(10)[3], (50, 1))
    assert metrics.classifier_score_from_probs(one_class) == pytest.approx(1.0)
    confident_uniform = np.eye(10)[np.arange(100) % 10]
    assert metrics.classifier_score_from_probs(confident_uniform) == pytest.approx(10.0, rel=1e-6)
    unsure = np.full((100, 10), 0.1)  # every class equally likely for every image
    assert metrics.classifier_score_from_probs(unsure) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="probability"):
        metrics.classifier_score_from_probs(np.ones((3, 10)))


def test_classifier_score_of_images_is_that_of_the_classifiers_probabilities(tiny_classifier):
    images = _random_images(200, 4)
    score = metrics.classifier_score(images, classifier=tiny_classifier)
    probs = tiny_classifier(images[..., None].astype("float32") / 127.5 - 1.0, training=False)
    assert score == pytest.approx(metrics.classifier_score_from_probs(np.asarray(probs)), rel=1e-5)


# --------------------------------------------------------------------------- memorisation


def test_nearest_neighbour_distance_is_zero_for_copies_and_finds_the_right_index():
    train = _random_images(3000, 5)
    picks = np.array([2999, 0, 1234, 1100])
    dist, idx = metrics.nearest_neighbours(train[picks], train, batch_size=64)
    assert np.array_equal(idx, picks)
    assert np.allclose(dist, 0.0)
    as_float = (train[picks].astype(np.float32) / 127.5 - 1.0)[..., None]
    assert metrics.nearest_neighbour_distance(as_float, train) == pytest.approx(0.0, abs=1e-5)


def test_nearest_neighbour_distance_matches_brute_force():
    rng = np.random.default_rng(6)
    train, queries = _random_images(700, 7), _random_images(40, 8)
    q = queries.reshape(40, -1) / 255.0
    t = train.reshape(700, -1) / 255.0
    brute = np.sqrt(((q[:, None, :] - t[None]) ** 2).sum(-1)).min(1)
    dist, _ = metrics.nearest_neighbours(queries, train, batch_size=16)
    assert np.allclose(dist, brute, atol=1e-6)
    shifted = np.clip(train[:40].astype(int) + rng.integers(-3, 4, (40, 28, 28)), 0, 255)
    assert metrics.nearest_neighbour_distance(shifted.astype(np.uint8), train) < brute.mean()


# --------------------------------------------------------------------------- evaluate_generator


def test_evaluate_generator_reports_floor_and_is_deterministic(tiny_classifier, monkeypatch):
    real = _random_images(1200, 9)
    fake_data = types.ModuleType("aigc_course.data")
    fake_data.load_dataset = lambda name, split="train", verbose=True: (
        real[:1000] if split == "train" else real[1000:],
        np.zeros(len(real), np.uint8),
    )
    monkeypatch.setitem(sys.modules, "aigc_course.data", fake_data)
    pool = real[:1000].astype(np.float32) / 127.5 - 1.0

    def copier(z):  # "generator" that returns training images: FID near the floor, NN = 0
        idx = (np.abs(z[:, 0]) * 1e6).astype(int) % len(pool)
        return pool[idx][..., None]

    out = metrics.evaluate_generator(
        copier, n=150, latent_dim=5, seed=3, classifier=tiny_classifier
    )
    assert set(out) == {"n", "fid", "fid_floor", "classifier_score", "classifier_score_real",
                        "nn_distance", "nn_distance_real"}  # fmt: skip
    assert out["n"] == 150
    assert out["nn_distance"] == pytest.approx(0.0, abs=1e-5)
    assert out["nn_distance_real"] > 1.0  # fresh random images are far from every train image
    assert out["fid_floor"] > 0
    line = metrics.format_scores(out)
    assert f"floor {out['fid_floor']:.2f}" in line and line.startswith("n=150: FID ")
    again = metrics.evaluate_generator(
        copier, n=150, latent_dim=5, seed=3, classifier=tiny_classifier
    )
    assert again == out
    with pytest.warns(UserWarning, match="too few for two disjoint sets"):
        small = metrics.evaluate_generator(copier, n=600, latent_dim=5, classifier=tiny_classifier)
    assert small["n"] == 500


# --------------------------------------------------------------------------- cache


@pytest.mark.slow
def test_get_classifier_trains_once_then_loads_from_cache(tmp_path, monkeypatch, capsys):
    pytest.importorskip("aigc_course.data")
    monkeypatch.setenv("AIGC_SMOKE", "1")
    monkeypatch.setenv("AIGC_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(domain_classifier, "_memo", {})
    first = metrics.get_classifier("mnist")
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "test accuracy" in line and "trained" in line
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2 and files[0].endswith(".json") and files[1].endswith(".keras")
    meta = json.loads((tmp_path / files[0]).read_text())
    assert meta["smoke"] is True and 0.5 < meta["test_accuracy"] <= 1.0  # 10 classes: chance 0.1

    monkeypatch.setattr(domain_classifier, "_memo", {})
    monkeypatch.setattr(domain_classifier, "_train_classifier", lambda *a: pytest.fail("retrained"))
    second = metrics.get_classifier("mnist")
    assert "loaded" in capsys.readouterr().out
    x = _random_images(8, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.allclose(
            metrics.features(x, classifier=first), metrics.features(x, classifier=second)
        )
    assert second.get_layer("features").output.shape[-1] == first.get_layer("features").units

    # a corrupt cache file is reported and replaced, not fatal
    (tmp_path / files[1]).write_bytes(b"not a keras file")
    monkeypatch.setattr(domain_classifier, "_memo", {})
    monkeypatch.setattr(domain_classifier, "_train_classifier", lambda *a: first)
    with pytest.warns(UserWarning, match="could not load cached classifier"):
        assert metrics.get_classifier("mnist", verbose=False) is first
    assert len(list(tmp_path.iterdir())) == 2
