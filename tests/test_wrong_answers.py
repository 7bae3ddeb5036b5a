"""Every exercise's checks against the wrong-answer corpus (``tests/wrong_answers.py``), the stub
and the solution.

Each solutions notebook is run once, in-process, cell by cell; then for each corpus entry the
exercise's answer cell is run again with the solution block replaced by the wrong answer, and
its graded cell after it. The check must fail with a ``CheckFailed`` (not ``NotAttempted``)
whose message names the mistake and says where to reread; the stub must come back as not
attempted; the untouched solution must pass. Source is registered with ``linecache`` the way
IPython does, so checks that read the student's code with ``ast`` see it.
"""

from __future__ import annotations

import linecache
import os
import re
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager
from wrong_answers import CORPUS

from aigc_course.checks import CheckFailed, NotAttempted
from aigc_course.exercises import find_exercises, make_exercise, read_notebook

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(
    r"(?ms)^(?P<indent>[ \t]*)### BEGIN SOLUTION[ \t]*\n.*?^[ \t]*### END SOLUTION[ \t]*$"
)
_transform = TransformerManager().transform_cell
_counter = [0]


def _run(source: str, namespace: dict) -> None:
    _counter[0] += 1
    filename = f"<cell-{_counter[0]}>"
    code = _transform(source)
    linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
    exec(compile(code, filename, "exec"), namespace)


class Notebook:
    """A solutions notebook run once; ``cells(id)`` gives an exercise's answer and graded cells."""

    def __init__(self, name: str, workdir: Path) -> None:
        self.nb = read_notebook(ROOT / "solutions" / name)
        self.stubs = {c.id: c.source for c in make_exercise(self.nb).cells}
        self.exercises = {e.id: e for e in find_exercises(self.nb, name)}
        self.namespace: dict = {"__name__": "__main__"}
        old = Path.cwd()
        os.chdir(workdir)
        try:
            for cell in self.nb.cells:
                if cell.cell_type == "code":
                    _run(cell.source, self.namespace)
        finally:
            os.chdir(old)
        self.workdir = workdir

    def cells(self, exercise: str, where: str = ""):
        """The answer cell (the last solution cell before the graded one, or the one holding
        ``where``) and the graded cell."""
        graded = next(c for c in self.nb.cells if c.id == self.exercises[exercise].cell_id)
        index = self.nb.cells.index(graded)
        answer = next(
            c
            for c in reversed(self.nb.cells[: index + 1])
            if c.cell_type == "code" and "### BEGIN SOLUTION" in c.source and where in c.source
        )
        return answer, graded

    def answer_cells(self, exercise: str) -> list:
        """Every cell with a solution block between the previous graded cell and this one."""
        _, graded = self.cells(exercise)
        found = []
        for cell in reversed(self.nb.cells[: self.nb.cells.index(graded)]):
            if cell.id in {e.cell_id for e in self.exercises.values()}:
                break
            if cell.cell_type == "code" and "### BEGIN SOLUTION" in cell.source:
                found.append(cell)
        return found or [self.cells(exercise)[0]]

    def attempt(self, exercise: str, answer_source: str, stub: bool = False) -> None:
        """Run ``answer_source`` as the answer cell, then the graded cell, in a copy of the
        notebook's namespace; raise what the checks raise. With ``stub``, the answer cell may
        stop at its ``raise NotImplementedError`` as in the exercise notebook."""
        _, graded = self.cells(exercise)
        namespace = dict(self.namespace)
        old = Path.cwd()
        os.chdir(self.workdir)
        try:
            try:
                _run(answer_source, namespace)
            except NotImplementedError:
                if not stub:
                    raise
            _run(graded.source, namespace)
        finally:
            os.chdir(old)


def _with_block(source: str, body: str) -> str:
    match = _BLOCK.search(source)
    assert match, "no solution block"
    indent = match["indent"]
    lines = [indent + line if line.strip() else "" for line in body.splitlines()]
    return source[: match.start()] + "\n".join(lines) + source[match.end() :]


_cache: dict[str, Notebook] = {}
_poems: dict = {}  # gpt.write_poems' answers, by model, its weights and every argument


def _remember_poems(monkeypatch) -> None:
    """Chapter 08 samples the same poems (same model, n, seed, T) in every attempt: the
    answer cell's table, the student's function run by the check, the check's own poems.
    Sampling is deterministic, so ``gpt.write_poems`` answers each call with the poems the
    same call gave before: every attempt, right or wrong, sees exactly what it would have
    sampled (tests/test_gpt.py tests the sampling itself). The weights are part of the key,
    so a model trained in between samples anew."""
    import inspect

    import numpy as np

    from aigc_course.families import gpt

    write_poems = gpt.write_poems
    signature = inspect.signature(write_poems)

    def remembered(model, *args, **kwargs):
        bound = signature.bind(model, *args, **kwargs)
        bound.apply_defaults()
        weights = tuple(float(np.asarray(w).sum(dtype=np.float64)) for w in model.weights)
        key = (id(model), weights, *((k, v) for k, v in bound.arguments.items() if k != "model"))
        if key not in _poems:
            _poems[key] = (model, write_poems(model, *args, **kwargs))  # model: keeps its id
        return list(_poems[key][1])

    monkeypatch.setattr(gpt, "write_poems", remembered)


@pytest.fixture
def notebook(request, tmp_path_factory, monkeypatch):
    name = request.param
    if name.startswith("08"):
        _remember_poems(monkeypatch)
    if name not in _cache:
        _cache[name] = Notebook(name, tmp_path_factory.mktemp(name[:2]))
    return _cache[name]


WRONG = [
    pytest.param(name, wrong, id=f"{name[:2]}/{wrong.exercise}-{wrong.mistake}")
    for name, entries in CORPUS.items()
    for wrong in entries
]
ALL = [
    pytest.param(path.name, exercise.id, id=f"{path.name[:2]}/{exercise.id}")
    for path in sorted((ROOT / "solutions").glob("*.ipynb"))
    for exercise in find_exercises(read_notebook(path), path.name)
]


@pytest.mark.parametrize("notebook, wrong", WRONG, indirect=["notebook"])
def test_a_wrong_answer_fails_naming_the_mistake(notebook, wrong):
    answer, _ = notebook.cells(wrong.exercise, wrong.where)
    with pytest.raises(CheckFailed) as info:
        notebook.attempt(wrong.exercise, _with_block(answer.source, wrong.code))
    message = str(info.value)
    assert not isinstance(info.value, NotAttempted), message
    assert wrong.expect.lower() in message.lower(), message
    assert "\nreread: chapter 0" in message, message


@pytest.mark.parametrize("notebook, exercise", ALL, indirect=["notebook"])
def test_the_solution_passes_and_the_stub_is_not_attempted(notebook, exercise):
    answer, _ = notebook.cells(exercise)
    notebook.attempt(exercise, answer.source)  # raises if the solution fails
    for cell in notebook.answer_cells(exercise):  # each stub alone: the check says so
        with pytest.raises(NotImplementedError):
            notebook.attempt(exercise, notebook.stubs[cell.id], stub=True)


def test_every_exercise_has_two_wrong_answers():
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        ids = [e.id for e in find_exercises(read_notebook(path), path.name)]
        for exercise in ids:
            mistakes = [w for w in CORPUS.get(path.name, []) if w.exercise == exercise]
            assert len(mistakes) >= 2, f"{exercise}: {len(mistakes)} wrong answers in the corpus"
        unknown = {w.exercise for w in CORPUS.get(path.name, [])} - set(ids)
        assert not unknown, f"{path.name}: the corpus names no such exercise {unknown}"
