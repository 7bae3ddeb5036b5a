"""Tests for aigc_course.widgets: drive the sliders as a browser would and watch the output."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from aigc_course import widgets
from aigc_course._tf import keras


def brightness_generator(z):
    """A stand-in generator: black left half, right half's brightness follows z[0]."""
    z = np.asarray(z)
    images = np.full((len(z), 28, 28, 1), -1.0, np.float32)
    images[:, :, 14:, 0] = np.tanh(z[:, :1, None])
    return images


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def test_latent_explorer_sliders_move_z_along_orthonormal_directions():
    w = widgets.latent_explorer(brightness_generator, latent_dim=16, n_sliders=3, seed=0)
    assert len(w.sliders) == 3
    assert np.allclose(w.directions @ w.directions.T, np.eye(3), atol=1e-5)
    z0, png0 = w.z.copy(), w.image.value
    assert np.allclose(z0, w.base)
    assert _pixels(png0).shape == (196, 196)  # 28 px enlarged 7x

    w.sliders[1].value = 2.0  # what dragging the slider does in the browser
    assert np.allclose(w.z, z0 + 2.0 * w.directions[1], atol=1e-5)
    assert w.image.value != png0
    expected = round((np.tanh(w.z[0]) + 1) * 127.5)
    assert abs(int(_pixels(w.image.value)[0, -1]) - expected) <= 1

    w.new_sample.click()
    assert [s.value for s in w.sliders] == [0.0, 0.0, 0.0]
    assert not np.allclose(w.base, z0)
    assert np.allclose(w.z, w.base)


def test_latent_explorer_is_seeded_and_validates():
    a = widgets.latent_explorer(brightness_generator, latent_dim=8, seed=5)
    b = widgets.latent_explorer(brightness_generator, latent_dim=8, seed=5)
    assert np.array_equal(a.z, b.z) and a.image.value == b.image.value
    with pytest.raises(ValueError, match="n_sliders"):
        widgets.latent_explorer(brightness_generator, latent_dim=2, n_sliders=3)
    with pytest.raises(ValueError, match="latent_dim="):
        widgets.latent_explorer(brightness_generator)  # a plain function has no input_shape


def test_interpolation_slider_walks_from_seed_a_to_seed_b():
    w = widgets.interpolation_slider(brightness_generator, seed_a=0, seed_b=1, latent_dim=10)
    assert np.allclose(w.z, w.z_a)
    start = w.image.value
    w.slider.value = 1.0
    assert np.allclose(w.z, w.z_b, atol=1e-5)
    assert w.image.value != start
    w.slider.value = 0.5
    norms = np.linalg.norm([w.z_a, w.z_b], axis=1)
    assert np.linalg.norm(w.z) > 0.9 * norms.min()  # spherical: no shrinking in the middle
    straight = widgets.interpolation_slider(brightness_generator, latent_dim=10, spherical=False)
    straight.slider.value = 0.5
    assert np.allclose(straight.z, (w.z_a + w.z_b) / 2, atol=1e-6)


def test_widgets_read_latent_size_from_a_keras_generator():
    inputs = keras.Input((6,))
    x = keras.layers.Dense(28 * 28, activation="tanh")(inputs)
    generator = keras.Model(inputs, keras.layers.Reshape((28, 28, 1))(x))
    w = widgets.latent_explorer(generator, n_sliders=2)
    assert w.z.shape == (6,)
    before = w.image.value
    w.sliders[0].value = -3.0
    assert w.image.value != before
    assert widgets.interpolation_slider(generator).z.shape == (6,)


def test_widgets_read_well_on_a_static_page():
    """A notebook read without a kernel shows the widget's text: it must say what it is."""
    explorer = widgets.latent_explorer(brightness_generator, latent_dim=100, n_sliders=4, seed=0)
    assert repr(explorer) == (
        "LatentExplorer(latent_dim=100, 4 directions, seed=0): run in Jupyter to move the sliders"
    )
    slider = widgets.interpolation_slider(brightness_generator, latent_dim=10, spherical=False)
    assert repr(slider) == (
        "InterpolationSlider(seed 0 to seed 1, straight line, t=0.00): run in Jupyter to move "
        "the slider"
    )
    for text in (repr(explorer), repr(slider)):
        assert len(text) <= 110 and "PNG" not in text  # Jupyter truncates a widget's text there
