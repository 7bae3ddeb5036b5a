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
    assert images.min() >= -1.0 and images.max() <= 1.0
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
    with pytest.raises(ValueError, match="must be an integer"):
        call()


def test_article_named_classes_make_28x28_images_and_logits(noise):
    g = models.Generator(latent_dim=100, num_filters=16)
    d = models.Discriminator(num_filters=8)
    images = g(noise, training=True)
    assert images.shape == (3, 28, 28, 1) and images.dtype == tf.float32
    assert float(tf.reduce_min(images)) >= -1.0 and float(tf.reduce_max(images)) <= 1.0
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
