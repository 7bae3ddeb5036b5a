"""Chapter 05's exercise checks: stubs are not attempted, typical mistakes fail with a hint,
right answers pass; and the FID-per-epoch callback of aigc_course.monitoring."""

import numpy as np
import pytest

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
