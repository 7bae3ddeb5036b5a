"""Tests for aigc_course.plotting: shapes of grids, figures, GIF frames, interpolation paths."""

from __future__ import annotations

import csv

import matplotlib

matplotlib.use("Agg")  # in this process only; MPLBACKEND is never set (kernels would inherit it)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from aigc_course import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _digits(n: int) -> np.ndarray:
    x = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        x[i, 4 + i % 20, :] = 255  # a bright row whose position identifies the image
    return x


def test_image_grid_shape_layout_and_formats():
    x = _digits(10)
    grid = plotting.image_grid(x, ncols=4, pad=2)
    assert grid.dtype == np.uint8
    assert grid.shape == (3 * 30 + 2, 4 * 30 + 2)
    assert np.array_equal(grid[2:30, 2:30], x[0])  # first image in the top-left cell
    assert np.array_equal(grid[32:60, 32:60], x[5])  # row 1, column 1 -> image 5
    assert np.all(grid[62:90, 62:90] == 128)  # empty cell in the last row: padding colour
    as_float = (x.astype(np.float32) / 127.5 - 1.0)[..., None]
    assert np.array_equal(plotting.image_grid(as_float, ncols=4, pad=2), grid)
    assert plotting.image_grid(x[:3], ncols=8, pad=0).shape == (28, 84)  # one row, no blanks


def test_image_grid_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        plotting.image_grid(np.zeros((2, 28, 28, 2), np.uint8))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        plotting.image_grid(np.full((2, 28, 28), 3.0))
    with pytest.raises(ValueError, match="ncols"):
        plotting.image_grid(_digits(2), ncols=0)
    with pytest.warns(UserWarning, match="0..1 data"):
        plotting.image_grid(_digits(4) / 255.0)


def test_show_images_with_and_without_labels():
    fig = plotting.show_images(_digits(16), ncols=8, title="samples")
    assert len(fig.axes) == 1
    assert fig.axes[0].images[0].get_array().shape == (2 * 29 + 1, 8 * 29 + 1)
    assert fig._suptitle.get_text() == "samples"
    fig = plotting.show_images(_digits(6), ncols=4, labels=list("abcdef"))
    assert len(fig.axes) == 8  # a 2 x 4 grid, two cells left empty
    assert [ax.get_title() for ax in fig.axes[:6]] == list("abcdef")
    width, height = fig.get_size_inches()
    assert 3 <= width <= 12 and 2 <= height <= 14  # legible on a laptop
    with pytest.raises(ValueError, match="one label per image"):
        plotting.show_images(_digits(3), labels=[1, 2])


def test_plot_history_from_dict_history_object_and_csv(tmp_path):
    hist = {"d_loss": [1.0, 0.8, 0.7], "g_loss": [2.0, 1.5, 1.2],
            "d_real": [0.6, 0.7, 0.7], "d_fake": [0.4, 0.3, 0.3]}  # fmt: skip
    fig = plotting.plot_history(hist)
    assert len(fig.axes) == 2
    assert sorted(line.get_label() for line in fig.axes[0].lines) == ["d_loss", "g_loss"]
    labels = sorted(line.get_label() for line in fig.axes[1].lines)
    assert labels == ["d_fake", "d_real", "equilibrium, D = 1/2"]
    assert list(fig.axes[0].lines[0].get_xdata()) == [1, 2, 3]

    class History:  # the shape of keras.callbacks.History
        history = hist

    assert len(plotting.plot_history(History(), keys=["g_loss"]).axes) == 1

    path = tmp_path / "log.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", "d_loss", "g_loss"])
        writer.writerows([[0, 1.0, 2.0], [1, 0.9, 1.8]])
    fig = plotting.plot_history(path)
    assert len(fig.axes) == 1 and list(fig.axes[0].lines[0].get_xdata()) == [0, 1]
    with pytest.raises(ValueError, match="available"):
        plotting.plot_history(hist, keys=["accuracy"])
    with pytest.raises(ValueError, match="equally long"):
        plotting.plot_history({"a": [1, 2], "b": [1]})
    with pytest.raises(ValueError, match="numbers"):
        plotting.plot_history({"a": [1, "slow"]})


def test_plot_history_draws_each_reference_in_its_curves_colour():
    hist = {"d_loss": [1.8, 1.5, 1.3], "g_loss": [0.1, 0.4, 0.5]}
    fig = plotting.plot_history(hist, reference={"d_loss": 2.0, "g_loss": 0.0})
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    assert set(lines) == {"d_loss", "g_loss", "d_loss, D undecided (2.00)",
                          "g_loss, D undecided (0.00)"}  # fmt: skip
    ref = lines["d_loss, D undecided (2.00)"]
    assert set(ref.get_ydata()) == {2.0} and ref.get_color() == lines["d_loss"].get_color()
    assert set(lines["g_loss, D undecided (0.00)"].get_ydata()) == {0.0}
    with pytest.raises(ValueError, match="available"):
        plotting.plot_history(hist, reference={"loss": 1.0})


def test_plot_scores_draws_the_floor():
    fig = plotting.plot_scores([1, 2, 3], [80.0, 40.0, 20.0], floor=2.5)
    ax = fig.axes[0]
    assert len(ax.lines) == 2
    assert set(ax.lines[1].get_ydata()) == {2.5}
    assert "floor" in ax.get_legend().get_texts()[1].get_text()
    assert ax.get_yscale() == "log"  # 80 / 2.5 > 20: linear would hide the floor
    assert plotting.plot_scores([1, 2], [9.0, 5.0], floor=1.0).axes[0].get_yscale() == "linear"
    with pytest.raises(ValueError, match="equally long"):
        plotting.plot_scores([1, 2], [1.0])


def test_make_gif_has_one_frame_per_png(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, img in enumerate(_digits(12)):  # epoch_2 must come before epoch_10
        Image.fromarray(img).save(frames / f"epoch_{i}.png")
    out = plotting.make_gif(frames, tmp_path / "out" / "train.gif", fps=5)
    with Image.open(out) as gif:
        assert gif.n_frames == 12
        assert gif.info["duration"] == 200
        gif.seek(10)
        assert np.asarray(gif.convert("L"))[14, 0] == 255  # frame 10 is image 10: row 14 lit
    paths = sorted(frames.glob("*.png"))[:3]
    with Image.open(plotting.make_gif(paths, tmp_path / "three.gif")) as gif:
        assert gif.n_frames == 3
    with pytest.raises(ValueError, match="no PNG"):
        plotting.make_gif([], tmp_path / "none.gif")


def test_interpolate_linear_and_spherical():
    rng = np.random.default_rng(0)
    z0, z1 = rng.normal(size=64), rng.normal(size=64)
    lerp = plotting.interpolate(z0, z1, steps=5, spherical=False)
    slerp = plotting.interpolate(z0, z1, steps=5, spherical=True)
    assert lerp.shape == slerp.shape == (5, 64) and slerp.dtype == np.float32
    for path in (lerp, slerp):
        assert np.allclose(path[0], z0, atol=1e-6) and np.allclose(path[-1], z1, atol=1e-6)
    assert np.allclose(lerp[2], (z0 + z1) / 2, atol=1e-6)
    # the straight line's midpoint is shorter than both ends; the great circle's is not
    ends = min(np.linalg.norm(z0), np.linalg.norm(z1))
    assert np.linalg.norm(lerp[2]) < 0.85 * ends < np.linalg.norm(slerp[2])
    # equal-length ends: slerp keeps the length everywhere
    u0, u1 = z0 / np.linalg.norm(z0), z1 / np.linalg.norm(z1)
    assert np.allclose(np.linalg.norm(plotting.interpolate(u0, u1, 7), axis=1), 1.0, atol=1e-5)
    assert plotting.interpolate_at(z0, z1, 0.25).shape == (64,)
    with pytest.raises(ValueError, match="same length"):
        plotting.interpolate(z0, z1[:10])
    with pytest.raises(ValueError, match="steps"):
        plotting.interpolate(z0, z1, steps=1)


def test_interpolation_strip_runs_the_generator_once_per_step():
    calls = []

    def generator(z):
        calls.append(z.shape)
        return np.tanh(np.broadcast_to(z[:, :1, None, None], (len(z), 28, 28, 1)))

    fig = plotting.interpolation_strip(generator, np.ones(3), -np.ones(3), steps=6, spherical=False)
    assert calls == [(6, 3)]
    assert len(fig.axes) == 6
    assert fig.axes[0].images[0].get_array()[0, 0] > fig.axes[-1].images[0].get_array()[0, 0]
