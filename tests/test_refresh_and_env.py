"""The refresh command and the set-up every notebook starts with."""

from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat
import pytest

import aigc_course
from aigc_course import notebooks


def _notebook(path: Path, *sources: str, tags: dict[int, list[str]] | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    for i, t in (tags or {}).items():
        nb.cells[i].metadata["tags"] = t
    nb.metadata["papermill"] = {"duration": 1.23}  # unstable metadata the refresh must drop
    nbformat.write(nb, path)
    return path


def test_refresh_executes_in_the_notebooks_folder_with_stable_metadata(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("here")
    path = _notebook(
        tmp_path / "nb.ipynb",
        "import os, sys\nprint('a'); sys.stdout.flush()\nprint('b')",
        "print(open('data.txt').read(), os.environ['AIGC_OFFLINE'], os.environ.get('AIGC_SMOKE'))",
        tags={1: ["parameters"]},
    )
    notebooks.refresh_notebook(path, timeout=120)
    nb = nbformat.read(path, as_version=4)
    link, install, *ours = nb.cells  # the Colab cells come first (no title cell here)
    assert link.cell_type == "markdown" and "colab.research.google.com" in link.source
    assert install.execution_count == 1 and install.outputs == []
    assert [c.execution_count for c in ours] == [2, 3]
    assert set(nb.metadata) == {"kernelspec", "language_info"}
    assert ours[1].metadata == {"tags": ["parameters"]}
    first = ours[0].outputs
    assert len(first) == 1 and first[0].text == "a\nb\n", "consecutive prints are merged"
    assert ours[1].outputs[0].text == "here 1 None\n"


def test_a_failing_notebook_is_left_untouched(tmp_path: Path) -> None:
    path = _notebook(tmp_path / "bad.ipynb", "print('fine')", "1 / 0")
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(RuntimeError, match="left unchanged"):
        notebooks.refresh_notebook(path, timeout=120)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert not list(tmp_path.glob(".bad.ipynb.*")), "no temporary file left behind"


def test_refresh_refuses_what_is_not_a_notebook(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a notebook"):
        notebooks.refresh_notebook(tmp_path / "missing.ipynb")


def test_setup_is_safe_twice_and_rejects_bad_seeds(capsys) -> None:
    aigc_course.setup(seed=3)
    aigc_course.setup(seed=3)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all("seed 3" in line for line in lines)
    assert aigc_course.environment_report()["seed"] == 3
    with pytest.raises(ValueError, match="non-negative integer"):
        aigc_course.setup(seed=-1)


def test_setup_seeds_numpy_and_tensorflow() -> None:
    import numpy as np

    from aigc_course._tf import tf

    aigc_course.setup(seed=5, quiet=True)
    a = (np.random.rand(3), tf.random.normal([3]).numpy())
    aigc_course.setup(seed=5, quiet=True)
    b = (np.random.rand(3), tf.random.normal([3]).numpy())
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_knob_follows_the_smoke_switch(monkeypatch) -> None:
    monkeypatch.setenv("AIGC_SMOKE", "1")
    assert aigc_course.knob(100, smoke=2) == 2
    monkeypatch.setenv("AIGC_SMOKE", "0")
    assert aigc_course.knob(100, smoke=2) == 100


def test_frozen_progress_bars_are_replaced_by_a_note() -> None:
    nb = nbformat.v4.new_notebook()
    bar = nbformat.v4.new_output(
        "display_data",
        data={
            "application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2},
            "text/plain": "training:   0%|          | 0/2000 [00:00<?, ?it/s]",
        },
    )
    other = nbformat.v4.new_output(
        "display_data",
        data={
            "application/vnd.jupyter.widget-view+json": {"model_id": "def", "version_major": 2},
            "text/plain": "interactive(children=(FloatSlider(value=0.5),))",
        },
    )
    nb.cells = [nbformat.v4.new_code_cell("x", outputs=[bar, other], execution_count=1)]
    out = notebooks.normalise(nb).cells[0].outputs
    assert out[0].data == {"text/plain": notebooks.PROGRESS_NOTE}
    assert out[1].data == {"text/plain": "interactive(children=(FloatSlider(value=0.5),))"}
