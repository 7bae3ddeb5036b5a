"""The bench of chapter 09: precision/recall and class coverage on cases with known answers, the
real reference, a smoke bench run of a family, and its table."""

from __future__ import annotations

import numpy as np
import pytest

from aigc_course import bench
from aigc_course.errors import ConfigError


def test_knn_radii_are_distances_to_the_kth_other_point():
    line = np.array([[0.0], [1.0], [2.0], [4.0]])
    assert bench.knn_radii(line, k=1).tolist() == [1.0, 1.0, 1.0, 2.0]
    assert bench.knn_radii(line, k=2).tolist() == [2.0, 1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="more than k=4 points"):
        bench.knn_radii(line, k=4)


def test_precision_and_recall_split_fidelity_from_diversity():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(500, 8))
    same = rng.normal(size=(500, 8))
    precision, recall = bench.precision_recall(real, same)
    assert 0.6 < precision < 1.0 and 0.6 < recall < 1.0  # the same distribution: both high
    # one mode, drawn faithfully: every sample is realistic, most of the data is never drawn
    collapsed = real[:5] + 0.01 * rng.normal(size=(5, 8))
    precision, recall = bench.precision_recall(real, np.repeat(collapsed, 100, axis=0))
    assert precision == 1.0 and recall < 0.1
    # everything, but far from the data: nothing realistic, nothing covered
    assert bench.precision_recall(real, same + 50.0) == (0.0, 0.0)


def test_precision_counts_generated_points_inside_the_real_balls():
    real = np.array([[0.0], [1.0], [10.0], [11.0]])  # k=1: every ball has radius 1
    generated = np.array([[0.5], [5.0], [10.9], [30.0], [31.0], [32.0]])
    precision, recall = bench.precision_recall(real, generated, k=1)
    assert precision == pytest.approx(2 / 6)  # 0.5 and 10.9 lie within 1 of a real point
    # the generated balls around 0.5, 5.0 and 10.9 have radii 4.5, 4.5 and 5.9: every real point
    assert recall == pytest.approx(1.0)


def test_class_coverage_sees_mode_collapse():
    even = np.eye(10)[np.arange(1000) % 10]
    assert bench.class_coverage(even) == {
        "classes_hit": 10,
        "class_entropy": pytest.approx(np.log2(10)),
    }
    collapsed = np.eye(10)[np.full(1000, 3)]
    assert bench.class_coverage(collapsed) == {"classes_hit": 1, "class_entropy": 0.0}
    two = np.eye(10)[np.arange(1000) % 2]
    assert bench.class_coverage(two)["class_entropy"] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def smoke_env():
    mp = pytest.MonkeyPatch()
    mp.setenv("AIGC_OFFLINE", "1")
    mp.setenv("AIGC_SMOKE", "1")
    yield
    mp.undo()


def test_real_test_images_score_like_the_real_reference(smoke_env):
    from aigc_course.data import load_dataset

    test, _ = load_dataset("fashion_mnist", split="test", verbose=False)
    rows = bench.measure(test[:300], "fashion_mnist", seed=1)
    generated, real = rows["generated"], rows["real"]
    assert set(generated) == set(real) == {
        "fid", "precision", "recall", "classes_hit", "class_entropy", "nn_distance",
    }  # fmt: skip
    assert generated["classes_hit"] == real["classes_hit"] == 10
    assert abs(generated["precision"] - real["precision"]) < 0.15
    assert abs(generated["recall"] - real["recall"]) < 0.15
    assert generated["fid"] < 3 * real["fid"] + 1.0
    # a constant grey image: far from the data and one class only
    grey = np.full((300, 28, 28), 128, np.uint8)
    bad = bench.measure(grey, "fashion_mnist", seed=1)["generated"]
    assert bad["fid"] > 10 * real["fid"] and bad["classes_hit"] == 1 and bad["recall"] < 0.05


@pytest.mark.slow
def test_a_smoke_bench_run_scores_each_budget(smoke_env, tmp_path):
    rows = bench.run_family("gan", "fashion_mnist", budgets=(8, 1, 1.5), out=tmp_path / "gan",
                            profile="smoke", n=64, seed=0)  # fmt: skip
    assert [r["budget_s"] for r in rows] == [1, 1.5, 8]  # sorted, cumulative
    for before, row in zip(rows, rows[1:], strict=False):
        if before["train_seconds"] >= row["budget_s"]:  # already spent: no more training
            assert (row["steps"], row["train_seconds"]) == (before["steps"], before["train_seconds"])
        else:
            assert row["steps"] > before["steps"]
            assert row["train_seconds"] < row["budget_s"] + 5.0  # the budget ends training
    assert rows[-1]["steps"] > rows[0]["steps"]
    for row in rows:
        assert row["family"] == "gan" and row["n"] == 64 and row["bits_per_dim"] is None
        assert row["xla"] is False  # the smoke profile's step is a plain graph
        assert row["sample_images_per_s"] > 0 and row["params"] > 0
        assert 0 <= row["precision"] <= 1 and 0 <= row["recall"] <= 1
        assert (tmp_path / "gan" / f"bench_{row['budget_s']:g}s.png").exists()
    two_seeds = [rows[0], rows[2], dict(rows[2], seed=1, fid=rows[2]["fid"] + 1.0)]
    lines = bench.format_table(two_seeds).splitlines()
    assert lines[0].startswith("| family | budget | trained | FID |") and len(lines) == 2 + 3
    assert "| gan | 1 s |" in lines[2] and "| real data | — | — |" in lines[4]
    fid, median, fid_max = rows[2]["fid"], rows[2]["fid"] + 0.5, rows[2]["fid"] + 1.0
    assert f"| {median:.2f} ({fid:.2f}–{fid_max:.2f}) |" in lines[3]  # two seeds: median, range
    assert "| — |" in lines[2]  # a GAN has no bits/dim
    with pytest.raises(ValueError, match="one sample size"):
        bench.summarise([rows[0], dict(rows[1], n=32)])


def test_bad_bench_input_is_refused(tmp_path):
    with pytest.raises(ValueError, match="image families; gpt makes text"):
        bench.run_family("gpt", out=tmp_path)
    with pytest.raises(ConfigError, match="budget"):
        bench.run_family("gan", budgets=(60, -5), out=tmp_path)
    with pytest.raises(ConfigError):
        bench.run_family("gan", "cifar10", out=tmp_path)


def test_pack_bench_decodes_a_saved_grid_exactly(tmp_path, monkeypatch):
    """scripts/pack_bench.py cuts the shipped samples out of the bench's PNG grids: the images
    it reads back are the very images that were saved."""
    import sys
    from pathlib import Path

    from aigc_course.plotting import save_image_grid

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "scripts"))
    sys.modules.pop("pack_bench", None)
    import pack_bench

    images = np.random.default_rng(0).integers(0, 256, (64, 28, 28), dtype=np.uint8)
    png = save_image_grid(images, tmp_path / "grid.png")
    np.testing.assert_array_equal(pack_bench.tiles(png, 16), images[:16])


def test_the_shipped_bench_has_samples_for_every_row():
    rows = bench.shipped_results("fashion_mnist")
    samples = bench.shipped_samples("fashion_mnist")
    assert {(r["family"], r["budget_s"]) for r in rows} == set(samples)
    assert {r["family"] for r in rows} == {"gan", "vae", "pixelcnn", "diffusion"}
    for images in samples.values():
        assert images.shape == (bench.SHIPPED_SAMPLES, 28, 28) and images.dtype == np.uint8
    assert bench.shipped_run("fashion_mnist")["runs"][0]["args"]["profile"] == "cpu"
    with pytest.raises(FileNotFoundError, match="only for fashion_mnist"):
        bench.shipped_results("mnist")


def test_chapter_09_prose_quotes_the_shipped_bench():
    """Chapter 09's reading of the table is prose: re-pack the bench without rewriting it, and
    this fails (its 5-minute FID ranking and the PixelCNN's bits/dim must be the shipped ones)."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "notebooks" / "09_family_bench.ipynb"
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    prose = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    prose = " ".join(prose.split())  # line breaks are spaces
    summary = {(r["family"], r["budget_s"]): r for r in bench.summarise(bench.shipped_results())}
    names = {"gan": "GAN", "vae": "VAE", "pixelcnn": "PixelCNN", "diffusion": "diffusion"}
    ranked = sorted(names, key=lambda k: summary[k, 300.0]["fid"])
    order = " < ".join(f"{names[k]} {summary[k, 300.0]['fid']:.1f}" for k in ranked)
    assert f"the order is {order}" in prose
    assert f"{summary['pixelcnn', 300.0]['bits_per_dim']:.3f} bits/dim" in prose
