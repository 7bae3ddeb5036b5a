"""Pytest set-up for the whole repository: with two workers, each notebook stays on one.

`python3 course.py test` runs pytest with two workers (pytest-xdist, ``--dist loadscope``). nbval
runs a notebook cell by cell in one kernel, and papermill runs the same notebook in the same
folder, where both write the same ``runs/`` files. So the "scope" that xdist keeps together, on
one worker and in order, is the notebook a test executes: its nbval cells and every test whose
parameter is that notebook. Any other test is a scope of its own and goes wherever a worker is free.
"""

from __future__ import annotations

import re

import pytest

_NOTEBOOK_PARAMETER = re.compile(r"\[([^\[\]]*\.ipynb)\]$")


def notebook_scope(nodeid: str) -> str:
    """``notebooks/03_workflow.ipynb`` for its nbval cells and its papermill runs; else ``nodeid``."""
    path = nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        return path
    match = _NOTEBOOK_PARAMETER.search(nodeid)
    return match.group(1) if match else nodeid


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, absent without it
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class NotebookScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return notebook_scope(nodeid)

    return NotebookScheduling(config, log)
