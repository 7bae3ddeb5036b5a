"""Chapter 03: the workflow helpers (copy, fine-tune, serve, drift) and the exercise checks."""

from __future__ import annotations

import numpy as np
import pytest

from aigc_course.checks import CheckFailed, NotAttempted, ch03


def stub(*args, **kwargs):
    raise NotImplementedError


# --- exercise checks --------------------------------------------------------------------------


def select_few_shot(images, labels, digit, k, seed=0):
    pool = np.flatnonzero(labels == digit)
    if k > len(pool):
        raise ValueError(f"only {len(pool)} examples of {digit}, asked for {k}")
    return images[np.random.default_rng(seed).choice(pool, size=k, replace=False)]


def label_drift(a, b, n_classes=10):
    p = np.bincount(a, minlength=n_classes) / len(a)
    q = np.bincount(b, minlength=n_classes) / len(b)
    return 0.5 * np.abs(p - q).sum()


def make_generate(path, seed=0):
    from aigc_course import keras
    from aigc_course.data import to_uint8

    model = keras.saving.load_model(path, compile=False)
    rng = np.random.default_rng(seed)

    def generate(n):
        z = rng.standard_normal((n, model.input_shape[-1])).astype("float32")
        return to_uint8(model(z, training=False))

    return generate


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    from aigc_course.models import build_generator

    path = tmp_path_factory.mktemp("ch03") / "generator.keras"
    build_generator(latent_dim=8, width=4).save(path)
    return path


def test_stubs_are_reported_as_not_attempted():
    for check_fn in (ch03.check_select_few_shot, ch03.check_label_drift):
        with pytest.raises(NotAttempted, match="not attempted"):
            check_fn(stub)
    with pytest.raises(NotAttempted, match="not attempted"):
        ch03.check_make_generate(stub, "model.keras")


def test_select_few_shot():
    ch03.check_select_few_shot(select_few_shot)

    def first_k(images, labels, digit, k, seed=0):
        pool = np.flatnonzero(labels == digit)
        if k > len(pool):
            raise ValueError("too many")
        return images[pool[:k]]

    with pytest.raises(CheckFailed, match="first k"):
        ch03.check_select_few_shot(first_k)

    def any_class(images, labels, digit, k, seed=0):
        return images[np.random.default_rng(seed).choice(len(images), k, replace=False)]

    with pytest.raises(CheckFailed, match="not of class 3"):
        ch03.check_select_few_shot(any_class)

    def with_replacement(images, labels, digit, k, seed=0):
        pool = np.flatnonzero(labels == digit)
        return images[np.random.default_rng(seed).choice(pool, size=k, replace=True)]

    with pytest.raises(CheckFailed, match="twice|more examples"):
        ch03.check_select_few_shot(with_replacement)

    def unseeded(images, labels, digit, k, seed=0):
        return select_few_shot(images, labels, digit, k, seed=np.random.randint(1000))

    with pytest.raises(CheckFailed, match="same seed"):
        ch03.check_select_few_shot(unseeded)


def test_label_drift():
    ch03.check_label_drift(label_drift)
    with pytest.raises(CheckFailed, match="1/2"):
        ch03.check_label_drift(lambda a, b, n_classes=10: 2 * label_drift(a, b, n_classes))

    def counts(a, b, n_classes=10):
        diff = np.bincount(a, minlength=n_classes) - np.bincount(b, minlength=n_classes)
        return 0.5 * np.abs(diff).sum()

    with pytest.raises(CheckFailed, match="normalise"):
        ch03.check_label_drift(counts)


def test_make_generate(model_path):
    ch03.check_make_generate(make_generate, model_path)

    def same_noise(path, seed=0):
        return lambda n: make_generate(path, seed)(n)

    with pytest.raises(CheckFailed, match="identical"):
        ch03.check_make_generate(same_noise, model_path)

    def unseeded(path, seed=0):
        return make_generate(path, seed=np.random.randint(1 << 30))

    with pytest.raises(CheckFailed, match="second time"):
        ch03.check_make_generate(unseeded, model_path)
    with pytest.raises(CheckFailed, match="dtype"):
        ch03.check_make_generate(
            lambda path, seed=0: lambda n: np.zeros((n, 28, 28), np.float32), model_path
        )

    def training_mode(path, seed=0):
        from aigc_course import keras
        from aigc_course.data import to_uint8

        model = keras.saving.load_model(path, compile=False)
        rng = np.random.default_rng(seed)
        return lambda n: to_uint8(
            model(rng.standard_normal((n, model.input_shape[-1])).astype("float32"), training=True)
        )

    with pytest.raises(CheckFailed, match="training=True"):
        ch03.check_make_generate(training_mode, model_path)

    def unit_range(path, seed=0):
        serve = make_generate(path, seed)
        return lambda n: (np.clip(serve(n) / 127.5 - 1.0, 0, 1) * 255).astype(np.uint8)

    with pytest.raises(CheckFailed, match=r"as if it were \[0, 1\]"):
        ch03.check_make_generate(unit_range, model_path)
    with pytest.raises(CheckFailed, match="shape"):
        ch03.check_make_generate(
            lambda path, seed=0: lambda n: np.zeros((n, 28, 28, 1), np.uint8), model_path
        )


def test_multiple_choice():
    ch03.check_evaluation_choice("B")
    ch03.check_monitoring_diagnosis(" c")
    for wrong in ("a", "c", "d"):
        with pytest.raises(CheckFailed, match="is not right"):
            ch03.check_evaluation_choice(wrong)
    with pytest.raises(CheckFailed, match="is not right"):
        ch03.check_monitoring_diagnosis("a")
    for malformed in ("bc", "e", 1):
        with pytest.raises(CheckFailed, match="one letter"):
            ch03.check_evaluation_choice(malformed)
    for untouched in (None, ""):
        with pytest.raises(NotAttempted):
            ch03.check_monitoring_diagnosis(untouched)


# --- workflow helpers ----------------------------------------------------------------------------


def test_histogram_and_total_variation():
    from aigc_course.workflow import class_histogram, total_variation

    p = class_histogram(np.array([7, 7, 7, 1]))
    assert p.shape == (10,) and p[7] == 0.75 and p[1] == 0.25
    q = class_histogram(np.array([7, 1, 1, 1]))
    assert total_variation(p, q) == pytest.approx(0.5)
    assert total_variation(p, p) == 0.0
    with pytest.raises(ValueError, match="0..9"):
        class_histogram(np.array([10]))
    with pytest.raises(ValueError, match="integer"):
        class_histogram(np.array([0.5]))
    with pytest.raises(ValueError, match="histogram"):
        total_variation(np.array([2.0, 0.0]), np.array([1.0, 0.0]))


@pytest.fixture(scope="module")
def tiny_gan():
    from aigc_course._tf import keras
    from aigc_course.gan import GAN
    from aigc_course.models import build_discriminator, build_generator

    keras.utils.set_random_seed(0)
    gan = GAN(build_generator(8, 4), build_discriminator(4), latent_dim=8)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
    return gan


def test_copy_and_fine_tune_leave_the_original_alone(tiny_gan):
    from aigc_course.workflow import copy_gan, fine_tune

    before = [w.copy() for w in tiny_gan.generator.get_weights()]
    twin = copy_gan(tiny_gan, learning_rate=1e-3)
    assert twin.generator is not tiny_gan.generator
    for a, b in zip(twin.generator.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    images = np.random.default_rng(0).integers(0, 256, (40, 28, 28)).astype(np.uint8)
    history = fine_tune(twin, images, steps=3, batch_size=8, verbose=0)
    assert set(history) >= {"d_loss", "g_loss"} and np.isfinite(history["g_loss"][-1])
    changed = [
        not np.array_equal(a, b) for a, b in zip(twin.generator.get_weights(), before, strict=True)
    ]
    assert any(changed), "fine-tuning should update the copy"
    for a, b in zip(tiny_gan.generator.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="batch_size"):
        fine_tune(twin, images[:4], steps=1, batch_size=8)
    with pytest.raises(ValueError, match="steps"):
        fine_tune(twin, images, steps=0)
    with pytest.raises(ValueError, match="GAN"):
        copy_gan(tiny_gan.generator)


def test_snapshots_are_chosen_on_the_score_and_restored(tiny_gan):
    from aigc_course.workflow import choose_snapshot, copy_gan, fine_tune_snapshots

    twin = copy_gan(tiny_gan, learning_rate=1e-3)
    images = np.random.default_rng(0).integers(0, 256, (40, 28, 28)).astype(np.uint8)
    snaps = fine_tune_snapshots(twin, images, steps=(4, 2), batch_size=8, verbose=0)
    assert list(snaps) == [2, 4]
    assert not all(
        np.array_equal(a, b) for a, b in zip(snaps[2], snaps[4], strict=True)
    ), "the two snapshots should differ"
    # the generator is left at the last snapshot
    for a, b in zip(twin.generator.get_weights(), snaps[4], strict=True):
        np.testing.assert_array_equal(a, b)
    z = np.random.default_rng(1).standard_normal((5, 8)).astype("float32")
    # a score that prefers the 2-step weights: distance of the output to the 2-step output
    twin.generator.set_weights(snaps[2])
    target = np.asarray(twin.generator(z, training=False))
    twin.generator.set_weights(snaps[4])

    def score(g):
        return float(np.abs(np.asarray(g(z, training=False)) - target).mean())

    best, scores = choose_snapshot(twin.generator, snaps, score)
    assert best == 2 and scores[2] == 0.0 < scores[4]
    for a, b in zip(twin.generator.get_weights(), snaps[2], strict=True):
        np.testing.assert_array_equal(a, b)  # the chosen weights are loaded
    with pytest.raises(ValueError, match="steps"):
        fine_tune_snapshots(twin, images, steps=(), batch_size=8)
    with pytest.raises(ValueError, match="snapshots"):
        choose_snapshot(twin.generator, {}, score)


def test_samples_of_class_filters_by_the_classifier_and_reports_the_share():
    from aigc_course._tf import keras
    from aigc_course.workflow import samples_of_class

    # a "generator" whose image brightness follows z[0]; a classifier: class 1 = bright
    z_in = keras.Input((2,))
    x = keras.layers.Lambda(lambda z: keras.ops.tanh(3.0 * z[:, :1]) * keras.ops.ones((1, 784)))(
        z_in
    )
    generator = keras.Model(z_in, keras.layers.Reshape((28, 28, 1))(x))
    img = keras.Input((28, 28, 1))
    mean = keras.layers.GlobalAveragePooling2D()(img)
    logits = keras.layers.Concatenate()([-50.0 * mean, 50.0 * mean] + [-1e3 * mean**2] * 8)
    classifier = keras.Model(img, keras.layers.Softmax()(logits))

    bright, share = samples_of_class(generator, classifier, 1, n=100, seed=0)
    assert bright.shape == (100, 28, 28) and bright.dtype == np.uint8
    assert (bright.astype(int).mean(axis=(1, 2)) > 127).all()
    assert 0.4 < share < 0.6  # half of N(0, 1) is positive
    few, share_of_none = samples_of_class(generator, classifier, 5, n=10, max_draws=4_000)
    assert len(few) == 0 and share_of_none == 0.0


def test_export_and_serve_round_trip(tiny_gan, tmp_path):
    from aigc_course.workflow import export_generator, serve

    path = export_generator(tiny_gan.generator, tmp_path / "sub" / "g.keras")
    generate = serve(path, seed=0)
    a, b = generate(4), generate(4)
    assert a.shape == (4, 28, 28) and a.dtype == np.uint8
    assert not np.array_equal(a, b), "each request gets fresh noise"
    np.testing.assert_array_equal(serve(path, seed=0)(4), a)  # same seed, same answers
    z = np.random.default_rng(1).standard_normal((3, 8)).astype("float32")
    np.testing.assert_allclose(
        generate.generator.predict(z, verbose=0),
        tiny_gan.generator.predict(z, verbose=0),
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="positive integer"):
        generate(0)
    with pytest.raises(ValueError, match=".keras"):
        export_generator(tiny_gan.generator, tmp_path / "g.h5")
    with pytest.raises(FileNotFoundError):
        serve(tmp_path / "missing.keras")


def test_drift_report_flags_a_different_distribution():
    from aigc_course._tf import keras
    from aigc_course.workflow import drift_report

    # a stand-in classifier: "features" = mean brightness of 4 image quarters, class = brightest
    inputs = keras.Input((28, 28, 1))
    pooled = keras.layers.AveragePooling2D(14)(inputs)
    feats = keras.layers.Flatten(name="features")(pooled)
    probs = keras.layers.Softmax()(keras.layers.Dense(10)(feats))
    classifier = keras.Model(inputs, probs)

    rng = np.random.default_rng(0)
    dark = rng.integers(0, 60, (200, 28, 28)).astype(np.uint8)
    bright = rng.integers(180, 256, (200, 28, 28)).astype(np.uint8)
    same = drift_report(dark[:100], dark[100:], dark, classifier)
    moved = drift_report(bright[:100], dark[100:], dark, classifier)
    assert set(same) == {"class_tv", "fid", "nn_distance"}
    assert moved["fid"] > 10 * same["fid"]
    assert moved["nn_distance"] > same["nn_distance"]
    assert 0.0 <= same["class_tv"] <= moved["class_tv"] <= 1.0


def test_predicted_classes_accepts_uint8_and_float_images():
    from aigc_course._tf import keras
    from aigc_course.workflow import predicted_classes

    # a stand-in classifier whose class is the brightest of the first 10 pixels of row 0
    inputs = keras.Input((28, 28, 1))
    row = keras.layers.Cropping2D(((0, 27), (0, 18)))(inputs)
    probs = keras.layers.Softmax()(50.0 * keras.layers.Flatten()(row))
    classifier = keras.Model(inputs, probs)
    images = np.zeros((3, 28, 28), np.uint8)
    images[0, 0, 4] = images[1, 0, 9] = images[2, 0, 0] = 255
    np.testing.assert_array_equal(predicted_classes(images, classifier), [4, 9, 0])
    floats = images.astype(np.float32) / 127.5 - 1.0
    np.testing.assert_array_equal(predicted_classes(floats, classifier), [4, 9, 0])
    np.testing.assert_array_equal(predicted_classes(floats[..., None], classifier), [4, 9, 0])
    with pytest.raises(ValueError, match="28x28"):
        predicted_classes(np.zeros((0, 28, 28), np.uint8), classifier)
