"""Chapter 05's exercise checks: stubs are not attempted, typical mistakes fail with a hint,
right answers pass; and the FID-per-epoch callback of aigc_course.monitoring."""

import numpy as np
import pytest

from aigc_course._tf import keras
from aigc_course.checks import CheckFailed, NotAttempted, ch05
from aigc_course.data import to_uint8


def _stub(*_args):
    raise NotImplementedError


@pytest.mark.parametrize(
    "check", [ch05.check_upsampled_size, ch05.check_generate_digits, ch05.check_lerp]
)
def test_stubs_are_not_attempted(check):
    with pytest.raises(NotAttempted, match="not attempted"):
        check(_stub)


def _size(size, kernel, stride, padding):
    return size * stride if padding == "same" else (size - 1) * stride + kernel


def test_upsampled_size(capsys):
    ch05.check_upsampled_size(_size)
    assert "✔" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="kernel sticks out"):
        ch05.check_upsampled_size(lambda s, k, st, p: s * st)
    with pytest.raises(CheckFailed, match="downsampling"):
        ch05.check_upsampled_size(lambda s, k, st, p: s // st)


def _generate(generator, n, seed, scale=True):
    z = np.random.default_rng(seed).standard_normal((n, generator.input_shape[-1]))
    x = np.asarray(generator(z.astype("float32"), training=False))
    return to_uint8(x) if scale else x[..., 0]


def test_generate_digits(capsys):
    ch05.check_generate_digits(_generate)
    assert "✔" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="uint8"):
        ch05.check_generate_digits(lambda g, n, s: _generate(g, n, s, scale=False))
    with pytest.raises(CheckFailed, match="channel axis"):
        ch05.check_generate_digits(lambda g, n, s: _generate(g, n, s)[..., None])
    unseeded = lambda g, n, s: _generate(g, n, None)  # noqa: E731
    with pytest.raises(CheckFailed, match="different images"):
        ch05.check_generate_digits(unseeded)
    wrong_scale = lambda g, n, s: np.clip(  # noqa: E731
        np.asarray(g(np.random.default_rng(s).standard_normal((n, g.input_shape[-1]))))[..., 0]
        * 255,
        0,
        255,
    ).astype(np.uint8)
    with pytest.raises(CheckFailed, match="127.5"):
        ch05.check_generate_digits(wrong_scale)


def test_lerp(capsys):
    def lerp(z0, z1, steps):
        t = np.linspace(0, 1, steps)[:, None]
        return (1 - t) * z0 + t * z1

    ch05.check_lerp(lerp)
    assert "✔" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="backwards"):
        ch05.check_lerp(lambda a, b, s: lerp(b, a, s))
    with pytest.raises(CheckFailed, match="end point"):
        ch05.check_lerp(lambda a, b, s: a + np.arange(s)[:, None] / s * (b - a))


def test_fid_floor(capsys):
    ch05.check_fid_floor("c")
    assert "✔" in capsys.readouterr().out
    for wrong in ("a", "b", "d"):
        with pytest.raises(CheckFailed, match="not right"):
            ch05.check_fid_floor(wrong)
    with pytest.raises(CheckFailed, match="one letter"):
        ch05.check_fid_floor(3)


def test_fid_per_epoch_logs_fid_and_floor(monkeypatch, tmp_path):
    from aigc_course.data import load_dataset, make_dataset
    from aigc_course.metrics import fid
    from aigc_course.monitoring import FIDPerEpoch
    from aigc_course.training import build_gan, get_profile

    monkeypatch.setenv("AIGC_SMOKE", "1")
    monkeypatch.setenv("AIGC_CACHE_DIR", str(tmp_path))
    images, _ = load_dataset("mnist", verbose=False)
    profile = get_profile("smoke")
    keras.utils.set_random_seed(0)
    gan = build_gan(profile)
    callback = FIDPerEpoch(images, n=100, every_epochs=1, seed=3)
    history = gan.fit(
        make_dataset(images, profile.batch_size, repeat=True),
        epochs=2,
        steps_per_epoch=2,
        callbacks=[callback],
        shuffle=False,
        verbose=0,
    )
    assert callback.epochs == [1, 2]
    assert history.history["fid"] == pytest.approx(callback.scores)
    assert 0 < callback.floor < min(callback.scores)
    # the last score is plain FID of the same noise's images against the same real set
    z = np.random.default_rng(3).standard_normal((100, profile.latent_dim)).astype("float32")
    picks = np.random.default_rng(3).permutation(len(images))[:200]
    reference = images[np.sort(picks[:100])]
    generated = np.asarray(gan.generator(z, training=False))
    want = fid(generated, reference, classifier=callback.classifier)
    assert callback.scores[-1] == pytest.approx(want, rel=1e-6)


def test_fid_per_epoch_rejects_bad_input():
    from aigc_course.monitoring import FIDPerEpoch

    with pytest.raises(ValueError, match="N >= 2 \\* n"):
        FIDPerEpoch(np.zeros((10, 28, 28), np.uint8), n=10)
    with pytest.raises(ValueError, match="uint8"):
        FIDPerEpoch(np.zeros((100, 28, 28), np.float32), n=10)
    with pytest.raises(ValueError, match="every_epochs"):
        FIDPerEpoch(np.zeros((100, 28, 28), np.uint8), n=10, every_epochs=0)
