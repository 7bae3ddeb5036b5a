"""The PixelCNN family: masks, causality (and its blind spot), exact bits/dim, the windowed
sampler, a short training run, and clear errors. The engine's contract is tested for it in
``tests/test_families.py``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aigc_course import pixelcnn, runs
from aigc_course._tf import keras, tf
from aigc_course.data import load_dataset
from aigc_course.errors import ConfigError
from aigc_course.families.pixelcnn import FAMILY, PROFILES, PixelCNNProfile
from aigc_course.profiles import get_profile

FIRST_KERNEL = 5


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return pixelcnn.build_pixelcnn(width=8, layers=3, first_kernel=FIRST_KERNEL)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).integers(0, 256, (1, 28, 28)).astype(np.uint8)


def input_gradient(model, image, r: int, c: int) -> np.ndarray:
    """d(sum of the 256 logits at pixel (r, c)) / d(every input pixel), shape (28, 28)."""
    x = tf.constant(pixelcnn.as_pixels(image))
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = tf.reduce_sum(model(x)[0, r, c])
    return tape.gradient(out, x).numpy()[0, :, :, 0]


def test_the_masks_are_as_drawn():
    np.testing.assert_array_equal(pixelcnn.causal_mask(3, "A"), [[1, 1, 1], [1, 0, 0]])
    np.testing.assert_array_equal(pixelcnn.causal_mask(3, "B"), [[1, 1, 1], [1, 1, 0]])
    assert pixelcnn.causal_mask(7, "A").shape == (4, 7)


@pytest.mark.parametrize("r, c", [(0, 0), (0, 27), (13, 9), (27, 0), (27, 27)])
def test_a_pixel_depends_only_on_the_pixels_before_it(model, image, r, c):
    before = np.arange(28 * 28).reshape(28, 28) < 28 * r + c  # raster order
    # the gradient with respect to the pixel itself and every later one is exactly zero ...
    grad = input_gradient(model, image, r, c)
    assert np.all(grad[~before] == 0.0)
    if r or c:
        assert np.any(grad[before] != 0.0)
    # ... and changing them leaves the pixel's logits as they were (up to float round-off:
    # the convolutions may sum in another order; changing one visible pixel moves them ~1e-2)
    changed = np.where(before, image[0], 255 - image[0])[None].astype(np.uint8)
    out = model(pixelcnn.as_pixels(np.concatenate([image, changed]))).numpy()
    np.testing.assert_allclose(out[0, r, c], out[1, r, c], rtol=0, atol=1e-6)


def test_the_blind_spot_of_a_plain_stack(model, image):
    """One row up, the pixel sees FIRST_KERNEL // 2 columns to its right and no further, though
    two rows up it sees further right: the blind spot van den Oord et al. (2016b) remove with
    vertical and horizontal stacks. This family keeps it (see aigc_course.pixelcnn)."""
    r, c, reach = 14, 10, FIRST_KERNEL // 2
    grad = input_gradient(model, image, r, c)
    assert grad[r - 1, c + reach] != 0.0
    assert np.all(grad[r - 1, c + reach + 1 :] == 0.0)
    assert grad[r - 2, c + reach + 1] != 0.0


def test_the_sampler_s_window_gives_exactly_the_full_pass(model, image):
    net = model.get_layer(pixelcnn.NET)
    m = pixelcnn.margin(net)
    assert m == FIRST_KERNEL // 2 + 2  # two 3x3 mask-B layers after the first
    full = model(pixelcnn.as_pixels(image)).numpy()[0]
    canvas = np.zeros((1, 28 + m, 28 + 2 * m, 1), np.float32)
    canvas[0, m:, m : m + 28, 0] = image[0] / 127.5 - 1.0
    for r, c in [(0, 0), (3, 27), (27, 13), (20, 0)]:
        window = net(canvas[:, r : r + m + 1, c : c + 2 * m + 1]).numpy()[0, 0, 0]
        np.testing.assert_allclose(window, full[r, c], atol=1e-5)


def test_a_uniform_model_scores_exactly_8_bits(image):
    uniform = pixelcnn.build_pixelcnn(width=4, layers=1, first_kernel=3)
    logits = uniform.get_layer(pixelcnn.NET).get_layer("logits")
    logits.set_weights([np.zeros_like(w) for w in logits.get_weights()])
    assert pixelcnn.bits_per_dim(uniform, image) == pytest.approx(8.0, abs=1e-6)
    # what the bench reads: the same, on every test image of the data set
    assert FAMILY.bits_per_dim(uniform, "mnist") == pytest.approx(8.0, abs=1e-6)


def test_bits_per_dim_is_minus_log2_of_the_softmax_at_each_pixel(model):
    images = np.random.default_rng(1).integers(0, 256, (3, 28, 28)).astype(np.uint8)
    logits = model(pixelcnn.as_pixels(images)).numpy().astype(np.float64)
    log_p = logits - logits.max(-1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_p, images[..., None].astype(np.int64), -1)
    expected = -picked.mean() / math.log(2.0)
    assert pixelcnn.bits_per_dim(model, images, batch_size=2) == pytest.approx(expected, rel=1e-5)


def test_sampling_is_reproducible_and_follows_the_softmax(model):
    a, b, c = (pixelcnn.sample(model, 2, seed=s) for s in (3, 3, 4))
    assert a.dtype == np.uint8 and a.shape == (2, 28, 28)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    certain = pixelcnn.build_pixelcnn(width=4, layers=1, first_kernel=3)
    logits = certain.get_layer(pixelcnn.NET).get_layer("logits")
    kernel, bias = logits.get_weights()
    bias[:] = -50.0
    bias[200] = 50.0  # every pixel is 200, whatever came before
    logits.set_weights([np.zeros_like(kernel), bias])
    assert np.all(pixelcnn.sample(certain, 3, seed=0, temperature=0.5) == 200)


def test_each_pixel_is_drawn_from_its_conditional_given_the_pixels_drawn_before(model):
    """One full pass over finished samples gives every conditional they were drawn from
    (causality). With logits scaled up, most conditionals are nearly certain (top logit 20
    above the next: the rest have < 1e-6 of the mass), and there the sampler must have picked
    the top value: a sampler that read the wrong window would not."""
    sharp = pixelcnn.build_pixelcnn(width=8, layers=3, first_kernel=FIRST_KERNEL)
    sharp.set_weights(model.get_weights())
    logits = sharp.get_layer(pixelcnn.NET).get_layer("logits")
    kernel, bias = logits.get_weights()
    logits.set_weights([kernel * 1e5, bias])  # gaps of ~0.002 between logits become ~200
    images = pixelcnn.sample(sharp, 2, seed=0)
    out = np.sort(sharp(pixelcnn.as_pixels(images)).numpy(), axis=-1)
    certain = out[..., -1] - out[..., -2] > 20.0
    expected = sharp(pixelcnn.as_pixels(images)).numpy().argmax(-1)
    assert certain.mean() > 0.5 and len(np.unique(images[certain])) > 5
    np.testing.assert_array_equal(images[certain], expected[certain])


@pytest.mark.slow
def test_a_short_training_run_lowers_the_held_out_bits():
    images, _ = load_dataset("mnist", "train", source="shipped", verbose=False)
    test, _ = load_dataset("mnist", "test", source="shipped", verbose=False)
    keras.utils.set_random_seed(0)
    profile = PROFILES["smoke"].replace(width=16, learning_rate=1e-2)
    model = FAMILY.build(profile, "mnist")
    before = pixelcnn.bits_per_dim(model, test[:200])
    x = pixelcnn.as_pixels(images[:320])
    model.fit(x, x[..., 0].astype(np.int32), batch_size=32, epochs=1, verbose=0)
    after = pixelcnn.bits_per_dim(model, test[:200])
    assert before > 7.5 and after < before - 2.0, (before, after)


def test_bad_settings_are_refused_clearly():
    with pytest.raises(ConfigError, match="width"):
        get_profile("smoke", "pixelcnn", width=-8)
    with pytest.raises(ConfigError, match="layers"):
        PixelCNNProfile(name="x", epochs=1, batch_size=8, width=8, layers=0)
    with pytest.raises(ConfigError, match="odd"):
        PROFILES["cpu"].replace(first_kernel=4)
    with pytest.raises(ConfigError, match="mask_type"):
        pixelcnn.causal_mask(3, "C")
    with pytest.raises(ConfigError, match="fashion_mnist"):
        runs.train("pixelcnn", dataset="cifar10", profile="smoke", out="unused")
    with pytest.raises(ConfigError, match="temperature"):
        FAMILY.sample(None, 2, temperature=0.0)
    with pytest.raises(ConfigError, match="uint8"):
        pixelcnn.as_pixels(np.zeros((2, 28, 28), np.float32))
