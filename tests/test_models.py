"""Shapes, ranges, dtypes and argument checks of the DCGAN models."""

import numpy as np
import pytest

from aigc_course import models
from aigc_course._tf import keras, tf


@pytest.fixture(scope="module")
def noise():
    return tf.random.normal((3, 100), seed=1)


@pytest.mark.parametrize("width", [8, 32])
def test_generator_shape_range_and_dtype(noise, width):
    g = models.build_generator(latent_dim=100, width=width)
    images = g(noise, training=False).numpy()
    assert images.shape == (3, 28, 28, 1) and images.dtype == np.float32
    # [-1, 1] because the output is tanh of the last convolution (not checked by bounds alone)
    before_tanh = keras.Model(g.input, g.get_layer("up_28").output)(noise, training=False)
    np.testing.assert_allclose(images, np.tanh(before_tanh.numpy()), atol=1e-6)
    assert g.output_shape == (None, 28, 28, 1) and g.name == "generator"


def test_generator_latent_dim_and_name():
    g = models.build_generator(latent_dim=16, width=8, name="g16")
    assert g.input_shape == (None, 16) and g.name == "g16"
    assert g(np.zeros((2, 16), "float32")).shape == (2, 28, 28, 1)


@pytest.mark.parametrize("width", [8, 32])
def test_discriminator_returns_one_unbounded_logit(width):
    d = models.build_discriminator(width=width)
    images = tf.random.uniform((5, 28, 28, 1), -1.0, 1.0, seed=2)
    logits = d(images, training=False)
    assert logits.shape == (5, 1) and logits.dtype == tf.float32
    assert d.output_shape == (None, 1)
    assert d.layers[-1].activation is keras.activations.linear  # logits, not probabilities


def test_width_scales_the_cost():
    small = models.build_generator(width=32).count_params()
    large = models.build_generator(width=64).count_params()
    assert 1.5 * small < large
    small_d = models.build_discriminator(width=32).count_params()
    assert 3 * small_d < models.build_discriminator(width=64).count_params()


def test_float32_outputs_under_mixed_precision(noise):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        g, d = models.build_generator(width=8), models.build_discriminator(width=8)
        images = g(noise)
        assert images.dtype == tf.float32 and d(images).dtype == tf.float32
        assert g.get_layer("up_28").compute_dtype == "float16"
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize(
    "call",
    [
        lambda: models.build_generator(latent_dim=0),
        lambda: models.build_generator(width=-4),
        lambda: models.build_generator(width=32.0),
        lambda: models.build_generator(latent_dim=True),
        lambda: models.build_discriminator(width=0),
        lambda: models.build_discriminator(width="64"),
        lambda: models.Generator(latent_dim=-1),
        lambda: models.Generator(num_filters=1),
        lambda: models.Discriminator(num_filters=0),
    ],
)
def test_invalid_arguments_raise_value_error(call):
    with pytest.raises(ValueError, match="must be (a positive integer|an integer >= 2)"):
        call()


def test_article_named_classes_make_28x28_images_and_logits(noise):
    g = models.Generator(latent_dim=100, num_filters=16)
    d = models.Discriminator(num_filters=8)
    images = g(noise, training=True)
    assert images.shape == (3, 28, 28, 1) and images.dtype == tf.float32
    assert d(images).shape == (3, 1)
    # The article's sigmoid output could never reach the background value -1; tanh can.
    assert g.out_act.activation is keras.activations.tanh
    assert g.output_shape == (None, 28, 28, 1) and d.output_shape == (None, 1)
    assert g.input_shape == (None, 100) and d.input_shape == (None, 28, 28, 1)
    assert models.Generator(latent_dim=7, num_filters=4).input_shape == (None, 7)
    assert g.count_params() > 0 and d.count_params() > 0  # built in the constructor


def test_article_classes_round_trip_through_keras_save(tmp_path, noise):
    g = models.Generator(latent_dim=100, num_filters=8)
    path = tmp_path / "g.keras"
    g.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, models.Generator) and loaded.num_filters == 8
    np.testing.assert_allclose(loaded(noise), g(noise), atol=1e-6)


def test_parameter_summary_table():
    g = models.build_generator(width=8)
    d = models.build_discriminator(width=8)
    text = models.parameter_summary(g, d)
    lines = text.splitlines()
    assert lines[0].split() == ["model", "trainable", "params", "output", "shape"]
    g_count = sum(int(np.prod(w.shape)) for w in g.trainable_weights)
    d_count = sum(int(np.prod(w.shape)) for w in d.trainable_weights)
    assert f"{g_count:,}" in lines[2] and "(None, 28, 28, 1)" in lines[2]
    assert f"{d_count:,}" in lines[3] and "(None, 1)" in lines[3]
    assert lines[-1].split() == ["total", f"{g_count + d_count:,}"]
    assert repr(text) == str(text)  # shows as a table, not a quoted string, in Jupyter
    assert "total" not in models.parameter_summary(g)


def test_parameter_summary_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one model"):
        models.parameter_summary()
    with pytest.raises(ValueError, match="Keras models"):
        models.parameter_summary("generator")


def test_discriminator_dropout_is_optional():
    with_dropout = models.build_discriminator(width=8)
    without = models.build_discriminator(width=8, dropout=0)
    kinds = [type(layer).__name__ for layer in with_dropout.layers]
    assert kinds.count("Dropout") == 2 and with_dropout.layers[3].rate == 0.3
    assert "Dropout" not in [type(layer).__name__ for layer in without.layers]
    assert without.count_params() == with_dropout.count_params()  # dropout has no weights
    for bad in (-0.1, 1.0, "0.3", True):
        with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\)"):
            models.build_discriminator(width=8, dropout=bad)


@pytest.mark.parametrize("shape", [(16, 24), (8, 5, 5, 6)])
def test_fused_batch_norm_matches_keras_batch_norm(shape, monkeypatch):
    """In 16 bits the fused kernel runs, with the outputs, gradients and moving statistics of
    Keras' layer on the same values (float32 there); float32 is Keras' own code path."""
    fused_calls = []
    kernel = tf.compat.v1.nn.fused_batch_norm
    monkeypatch.setattr(
        tf.compat.v1.nn,
        "fused_batch_norm",
        lambda *a, **k: fused_calls.append(1) or kernel(*a, **k),
    )
    x16 = tf.cast(tf.random.normal(shape, seed=2) * 3.0 + 1.0, "float16")
    fused = models.FusedBatchNormalization(dtype="mixed_float16")
    plain = keras.layers.BatchNormalization()
    results = []
    for layer, x in ((fused, x16), (plain, tf.cast(x16, "float32"))):
        layer.build(shape)
        layer.gamma.assign(np.linspace(0.5, 2.0, shape[-1]))  # non-trivial scale and offset
        layer.beta.assign(np.linspace(-1.0, 1.0, shape[-1]))
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.cast(layer(x, training=True), "float32")
            weights = tf.reshape(tf.range(np.prod(shape), dtype="float32"), shape) ** 0.5
            loss = tf.reduce_sum(y * weights)  # varies along the batch: a non-zero x gradient
        grads = tape.gradient(loss, [x, layer.gamma.value, layer.beta.value])
        results.append([y, *(tf.cast(g, "float32") for g in grads)])
        results[-1] += [layer.moving_mean.numpy(), layer.moving_variance.numpy()]
    assert len(fused_calls) == 1, "the 16-bit training pass uses the fused kernel"
    *outputs, mean, variance = zip(*results, strict=True)
    for got, want in outputs:  # float16 arithmetic: ~3 significant digits
        np.testing.assert_allclose(got, want, rtol=5e-3, atol=5e-3 * float(np.abs(want).max()))
    for got, want in (mean, variance):  # statistics are float32 in both
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    fused(x16, training=False)
    models.FusedBatchNormalization()(tf.cast(x16, "float32"), training=True)
    assert len(fused_calls) == 1, "float32 input and inference take Keras' path"


def test_fused_batch_norm_runs_in_bfloat16():
    x = tf.cast(tf.random.normal((8, 4, 4, 3), seed=3), "bfloat16")
    layer = models.FusedBatchNormalization(dtype="mixed_bfloat16")
    y = layer(x, training=True)
    assert y.dtype == tf.bfloat16 and layer.moving_mean.dtype == "float32"
    np.testing.assert_allclose(tf.reduce_mean(tf.cast(y, "float32"), (0, 1, 2)), 0, atol=0.02)


def test_keras_only_copy_loads_without_the_package(tmp_path, noise):
    import subprocess
    import sys

    g = models.build_generator(latent_dim=100, width=8)
    assert any(isinstance(layer, models.FusedBatchNormalization) for layer in g.layers)
    copy = models.keras_only(g)
    assert not any(isinstance(layer, models.FusedBatchNormalization) for layer in copy.layers)
    np.testing.assert_allclose(copy(noise), g(noise), atol=1e-6)
    copy.save(tmp_path / "g.keras")
    np.save(tmp_path / "z.npy", noise.numpy())
    script = (
        "import sys, numpy as np, keras\n"
        f"m = keras.saving.load_model({str(tmp_path / 'g.keras')!r})\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, np.asarray(m(np.load({str(tmp_path / 'z.npy')!r}))))\n"
        "assert not any(name.startswith('aigc_course') for name in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), g(noise), atol=1e-6)
