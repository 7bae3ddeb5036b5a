""" "Open in Colab": a link and an install cell in every notebook, made from one address.

Google Colab opens any notebook of a public GitHub repository at
``https://colab.research.google.com/github/<owner>/<repo>/blob/<branch>/<path>``, with a free GPU
on request. Colab has TensorFlow but not this course's helper package, so each notebook also
carries a cell that installs it there and does nothing anywhere else.

Both cells are generated from :data:`REPOSITORY` by :func:`with_colab_cells`, which
``aigc-course refresh`` and ``aigc-course exercises build`` apply; a test checks that every
committed notebook has them. A fork publishes elsewhere by changing :data:`REPOSITORY` and
running those two commands.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import nbformat

#: Where the course is published (a public GitHub repository) and the branch Colab opens.
REPOSITORY = "https://github.com/aigc-course/aigc-course"
BRANCH = "main"
#: Cell tag that marks the generated cells, so a re-run replaces them instead of adding more.
TAG = "colab"


def colab_url(path: str | PurePosixPath) -> str:
    """The Colab address of the notebook at ``path`` (relative to the repository root)."""
    path = PurePosixPath(path)
    if path.is_absolute() or path.suffix != ".ipynb":
        raise ValueError(f"expected a notebook path inside the repository, got {str(path)!r}")
    owner_repo = REPOSITORY.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{owner_repo}/blob/{BRANCH}/{path}"


def repository_path(path: str | os.PathLike) -> str:
    """``folder/name.ipynb``: where the course notebook at local ``path`` sits in the repository
    (every notebook lives in a top-level folder: notebooks/, solutions/ or exercises/)."""
    path = Path(path).resolve()
    return f"{path.parent.name}/{path.name}"


def link_markdown(path: str | PurePosixPath) -> str:
    """The link cell: a plain link, so it also reads well offline (no badge image to load)."""
    return (
        f"[Open this notebook in Google Colab]({colab_url(path)}) — for a free GPU choose "
        "*Runtime → Change runtime type → GPU* there, then run the next cell first. "
        "In your own JupyterLab, skip the next cell: it does nothing outside Colab."
    )


def install_source() -> str:
    """The install cell: installs the course package from :data:`REPOSITORY`, on Colab only."""
    return (
        "# On Google Colab only: install the course's helper package (elsewhere: does nothing).\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n"
        "\n"
        f'    package = "aigc-course @ git+{REPOSITORY}@{BRANCH}"\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)'
    )


def with_colab_cells(nb: nbformat.NotebookNode, path: str | PurePosixPath) -> bool:
    """Put the link and install cells right after the title cell of ``nb`` (the notebook at
    ``path``), replacing earlier generated ones. Returns whether anything changed."""
    wanted = [
        ("markdown", link_markdown(path), f"{TAG}-link"),
        ("code", install_source(), f"{TAG}-install"),
    ]
    present = [c for c in nb.cells if TAG in c.get("metadata", {}).get("tags", [])]
    rest = [c for c in nb.cells if all(c is not p for p in present)]
    at = 1 if rest and rest[0].cell_type == "markdown" else 0
    if [(c.cell_type, c.source, c.get("id")) for c in present] == wanted and all(
        a is b for a, b in zip(nb.cells[at : at + 2], present, strict=False)
    ):
        return False
    new = [
        nbformat.v4.new_markdown_cell(source, id=cell_id, metadata={"tags": [TAG]})
        if kind == "markdown"
        else nbformat.v4.new_code_cell(source, id=cell_id, metadata={"tags": [TAG]})
        for kind, source, cell_id in wanted
    ]
    nb.cells = rest[:at] + new + rest[at:]
    return True
