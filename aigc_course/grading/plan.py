"""What to run for one submission, decided outside the sandbox from the notebooks' JSON alone.

* :func:`load_solutions` reads ``solutions/*.ipynb`` (and the instructor's hidden tests):
  each exercise's checks, and the solution's imports and ``@check`` functions, which the
  runner re-runs before every exercise so that the checks' names are the solution's, not the
  student's.
* :func:`plan` turns a submission into :class:`Step` s: each of the student's code cells in
  order, and in place of each graded cell the exercise's checks.

Hidden tests (``aigc-course grade --hidden-tests DIR``) live outside the repository in
``DIR/<notebook stem>.py``, one function per exercise, named ``test_<exercise id>`` (``.`` and
``-`` become ``_``); its parameters name the notebook variables it needs::

    # DIR/04_gan_objective.py
    import numpy as np

    def test_jsd(jsd):
        x = np.linspace(-8, 8, 2001)
        ...
"""

from __future__ import annotations

import ast
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from aigc_course.errors import ConfigError, NotFoundError
from aigc_course.exercises import (
    TESTS_PLACEHOLDER,
    Exercise,
    find_exercises,
    make_exercise,
    read_notebook,
)

_END_SOLUTION = re.compile(r"^\s*###\s*END\s+SOLUTION\s*$")


@dataclass(frozen=True)
class HiddenTest:
    """An instructor's test function for one exercise, sent to the runner as source."""

    source: str  # the whole file
    filename: str
    function: str


@dataclass
class Solution:
    """A solutions notebook as the grader uses it."""

    name: str
    exercises: list[Exercise]
    template: nbformat.NotebookNode  # the exercise notebook students start from
    preamble: str  # the notebook's imports and @check functions (see trusted_preamble)
    hidden: dict[str, HiddenTest] = field(default_factory=dict)  # exercise id -> test


@dataclass(frozen=True)
class Step:
    """One command for the runner: a student cell, or an exercise's checks."""

    index: int  # position of the cell in the submitted notebook
    source: str  # the student's code (for a graded cell: its answer part, maybe empty)
    exercise: Exercise | None = None
    checks: str = ""  # the checks that decide the exercise


def hidden_test_name(exercise_id: str) -> str:
    """The hidden test function for an exercise: ``test_`` + the id, ``.``/``-`` -> ``_``."""
    return "test_" + re.sub(r"\W", "_", exercise_id)


def _is_check(node: ast.stmt) -> bool:
    """A function decorated with ``@check`` (``aigc_course.checks.check``)."""
    if not isinstance(node, ast.FunctionDef):
        return False
    names = [
        d.id if isinstance(d, ast.Name) else getattr(d, "attr", "") for d in node.decorator_list
    ]
    return "check" in names


_PARSING = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse``, one thread at a time. :func:`~aigc_course.grading.grade` reads notebooks
    in threads, and CPython 3.11 keeps the AST constructor's recursion counter per interpreter:
    two parses at once can fail with "SystemError: AST constructor recursion depth mismatch"
    (CPython issue 106905; it failed one CI run)."""
    with _PARSING:
        return ast.parse(source, filename)


def trusted_preamble(template: nbformat.NotebookNode) -> str:
    """What the runner re-runs before every exercise's checks: the top-level ``import``
    statements of a solutions notebook's exercise version (``template``) and the check
    functions it defines itself (decorated with ``@check``). Names the checks use that come from anywhere else
    are the student's."""
    parts = []
    for cell in template.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = parse(cell.source)
        except SyntaxError:  # e.g. IPython magics: not where checks are imported
            continue
        for node in tree.body:
            is_import = isinstance(node, ast.Import | ast.ImportFrom)
            if (is_import and getattr(node, "module", "") != "__future__") or _is_check(node):
                parts.append(ast.unparse(node))
    return "\n".join(dict.fromkeys(parts))


def _load_hidden(folder: Path, solutions: dict[str, Solution]) -> None:
    if not folder.is_dir():
        raise NotFoundError(f"no hidden tests folder {str(folder)!r}")
    stems = {Path(name).stem: solution for name, solution in solutions.items()}
    files = sorted(folder.glob("*.py"))
    if not files:
        raise NotFoundError(f"no hidden tests (*.py) in {folder}")
    for path in files:
        solution = stems.get(path.stem)
        if solution is None:
            raise ConfigError(
                f"{path}: no solutions notebook {path.stem}.ipynb; name each hidden tests file "
                f"after its notebook: {', '.join(sorted(stems))}"
            )
        source = path.read_text(encoding="utf-8")
        try:
            tree = parse(source, str(path))
        except SyntaxError as err:
            raise ConfigError(f"{path}, line {err.lineno}: {err.msg}") from None
        wanted = {hidden_test_name(e.id): e.id for e in solution.exercises}
        tests = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
        tests = [name for name in tests if name.startswith("test_")]
        for name in tests:
            if name not in wanted:
                raise ConfigError(
                    f"{path}: {name} matches no exercise of {solution.name}; "
                    f"the names are {', '.join(sorted(wanted))}"
                )
            solution.hidden[wanted[name]] = HiddenTest(source, str(path), name)


def load_solutions(solutions_dir: Path, hidden_dir: Path | None = None) -> dict[str, Solution]:
    """``{notebook name: Solution}`` for every ``*.ipynb`` in ``solutions_dir``."""
    if not solutions_dir.is_dir():
        raise NotFoundError(f"no solutions folder {str(solutions_dir)!r}: pass --solutions DIR")
    solutions = {}
    for path in sorted(solutions_dir.glob("*.ipynb")):
        nb = read_notebook(path)
        template = make_exercise(nb, str(path))
        solutions[path.name] = Solution(
            path.name, find_exercises(nb, str(path)), template, trusted_preamble(template)
        )
    if not solutions:
        raise NotFoundError(f"no solutions notebooks in {solutions_dir}")
    if hidden_dir is not None:
        _load_hidden(hidden_dir, solutions)
    return solutions


def read_submission(path: Path) -> tuple[nbformat.NotebookNode | None, str]:
    """The notebook, or ``None`` and why it cannot be read (never raises)."""
    try:
        nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # any unreadable file is the student's problem, not a crash
        message = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return None, f"not a valid notebook: {type(err).__name__}: {message[:60]}"
    return nb, ""


def match(path: Path, nb: nbformat.NotebookNode | None, solutions: dict) -> str | None:
    """The solutions notebook a submission answers: same file name, else most shared ids."""
    if path.name in solutions:
        return path.name
    if nb is None:
        return None
    ids = {cell.get("id") for cell in nb.cells}
    best = max(solutions, key=lambda name: sum(e.cell_id in ids for e in solutions[name].exercises))
    return best if any(e.cell_id in ids for e in solutions[best].exercises) else None


def _find_cell(nb: nbformat.NotebookNode, exercise: Exercise) -> int | None:
    for index, cell in enumerate(nb.cells):
        if cell.get("id") == exercise.cell_id and cell.cell_type == "code":
            return index
    label = f"### EXERCISE: {exercise.id}"
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and any(
            line.strip().startswith(label) for line in cell.source.splitlines()
        ):
            return index
    return None


def checks_source(exercise: Exercise) -> str:
    """The code that decides an exercise: its whole graded cell, or, when the cell also holds
    the answer, the lines after the answer (visible checks and hidden tests)."""
    if not exercise.has_answer:
        return exercise.source
    lines = exercise.source.splitlines()
    last = max(n for n, line in enumerate(lines) if _END_SOLUTION.match(line))
    return "\n".join(lines[last + 1 :])


def plan(nb: nbformat.NotebookNode, solution: Solution) -> tuple[list[Step], dict[str, int]]:
    """The runner's steps for a submission, and ``{exercise id: cell index}`` of the graded
    cells found (a deleted graded cell is missing from it)."""
    where: dict[str, int] = {}
    for exercise in solution.exercises:
        index = _find_cell(nb, exercise)
        if index is not None and index not in where.values():
            where[exercise.id] = index
    graded = {index: exercise for exercise in solution.exercises if (index := where.get(exercise.id)) is not None}  # fmt: skip
    steps = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        exercise = graded.get(index)
        if exercise is None:
            steps.append(Step(index, cell.source))
            continue
        answer = ""
        if exercise.has_answer:
            answer = "\n".join(
                line for line in cell.source.splitlines() if line.strip() != TESTS_PLACEHOLDER
            )
        steps.append(Step(index, answer, exercise, checks_source(exercise)))
    return steps, where


def cell_label(nb: nbformat.NotebookNode, index: int) -> str:
    """How a message names a cell: its number (counting every cell from 1) and first line."""
    lines = [line.strip() for line in nb.cells[index].source.splitlines()]
    first = next((line for line in lines if line and not line.startswith("#")), "")
    first = first if len(first) <= 40 else first[:39] + "…"
    return f"cell {index + 1}" + (f" `{first}`" if first else "")
