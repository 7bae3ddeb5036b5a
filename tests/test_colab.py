"""'Open in Colab': every notebook links to itself on Colab and installs the package there only."""

from __future__ import annotations

import copy
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from aigc_course import colab

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(
    p for folder in ("notebooks", "solutions", "exercises") for p in (ROOT / folder).glob("*.ipynb")
)


def test_there_are_notebooks_to_check():
    assert len(NOTEBOOKS) >= 19, NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_notebook_has_its_own_colab_link_and_install_cell(path):
    nb = nbformat.read(path, as_version=4)
    where = f"{path.parent.name}/{path.name}"
    assert not colab.with_colab_cells(copy.deepcopy(nb), where), (
        f"{where}: the Colab cells are missing or out of date; run `aigc-course refresh {where}` "
        "(exercises: `aigc-course exercises build`)"
    )
    link, install = nb.cells[1], nb.cells[2]
    assert f"/blob/main/{where})" in link.source
    assert install.outputs == [], "outside Colab the install cell must print nothing"


def test_colab_url_names_the_repository_branch_and_path():
    url = colab.colab_url("notebooks/05_dcgan_mnist.ipynb")
    owner_repo = colab.REPOSITORY.removeprefix("https://github.com/")
    assert url == (
        f"https://colab.research.google.com/github/{owner_repo}/blob/main/notebooks/05_dcgan_mnist.ipynb"
    )
    for bad in ("/abs/05.ipynb", "notebooks/05.py"):
        with pytest.raises(ValueError, match="notebook path"):
            colab.colab_url(bad)


def test_cells_are_replaced_not_repeated(monkeypatch):
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Title"), nbformat.v4.new_code_cell("x = 1")]
    )
    assert colab.with_colab_cells(nb, "notebooks/x.ipynb")
    assert not colab.with_colab_cells(nb, "notebooks/x.ipynb")  # idempotent
    monkeypatch.setattr(colab, "REPOSITORY", "https://github.com/someone/fork")
    assert colab.with_colab_cells(nb, "notebooks/x.ipynb")
    assert [c.source for c in nb.cells][0::3] == ["# Title", "x = 1"]
    assert len(nb.cells) == 4 and "someone/fork" in nb.cells[1].source + nb.cells[2].source


def _run_install_cell(monkeypatch, on_colab: bool) -> list:
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append((a, k)))
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(colab.install_source(), {})
    return calls


def test_install_cell_does_nothing_outside_colab(monkeypatch):
    assert _run_install_cell(monkeypatch, on_colab=False) == []


def test_install_cell_pip_installs_the_course_on_colab(monkeypatch):
    (call,) = _run_install_cell(monkeypatch, on_colab=True)
    args, kwargs = call
    command = args[0]
    assert command[1:5] == ["-m", "pip", "install", "-q"] and kwargs == {"check": True}
    assert command[-1] == f"aigc-course @ git+{colab.REPOSITORY}@main"
