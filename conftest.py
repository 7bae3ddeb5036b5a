"""Pytest set-up for the whole repository: with two workers, each notebook stays on one.

`python3 course.py test` runs pytest with two workers (pytest-xdist, ``--dist loadscope``). nbval
runs a notebook cell by cell in one kernel, and papermill runs the same notebook in the same
folder, where both write the same ``runs/`` files. So the "scope" that xdist keeps together, on
one worker and in order, is the notebook a test executes: its nbval cells and every test whose
parameter is that notebook. Tests that share a costly module-scoped fixture, or one run of a
solutions notebook, are kept together too, so the fixture is built once. Any other test is a
scope of its own and goes wherever a worker is free.
"""

from __future__ import annotations

import re

import pytest

_NOTEBOOK_PARAMETER = re.compile(r"\[([^\[\]]*\.ipynb)\]$")
#: ``tests/test_wrong_answers.py`` runs each solutions notebook once per worker that meets it:
#: its ids start with the chapter (``[08/exercise-mistake]``), and a chapter stays on one worker
_CHAPTER_PARAMETER = re.compile(r"^(tests/test_wrong_answers\.py)::\w+\[(\d\d)/")
#: modules whose module-scoped fixture trains or builds something costly: on one worker, it is
#: built once instead of once per worker
ONE_WORKER_MODULES = frozenset({
    "tests/test_families.py", "tests/test_gpt.py", "tests/test_ch03.py", "tests/test_ch08.py",
    "tests/test_grading.py", "tests/test_grading_hostile.py", "tests/test_runs.py",
    "tests/test_metrics.py", "tests/test_models.py", "tests/test_tang.py", "tests/test_browser.py",
    "tests/test_diffusion_family.py",
})  # fmt: skip


def notebook_scope(nodeid: str) -> str:
    """``notebooks/03_workflow.ipynb`` for its nbval cells and its papermill runs; a chapter of
    the wrong-answer corpus; a module of :data:`ONE_WORKER_MODULES`; else ``nodeid``."""
    path = nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        return path
    if path in ONE_WORKER_MODULES:  # before the notebook parameter: the browser's tests have one
        return path
    match = _NOTEBOOK_PARAMETER.search(nodeid)
    if match:
        return match.group(1)
    match = _CHAPTER_PARAMETER.match(nodeid)
    if match:
        return f"{match.group(1)}[{match.group(2)}]"
    return nodeid


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, absent without it
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class NotebookScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return notebook_scope(nodeid)

    return NotebookScheduling(config, log)
