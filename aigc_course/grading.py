"""Grade submitted exercise notebooks (``aigc-course grade``).

An exercise is a graded cell of a solutions notebook: a code cell with a line
``### EXERCISE: <id>`` (see :mod:`aigc_course.exercises`). To grade a submission:

1. Match it to a solutions notebook: by file name, else by the graded cells' ids it contains.
2. Build a grading copy in memory: every graded cell (found by cell id, else by its
   ``### EXERCISE:`` line) gets the solution's source back, visible checks and hidden tests,
   so editing or deleting a check never earns points. The submission file is only read.
3. Run the copy in a fresh ``python3`` kernel, cell by cell, in a new empty temporary folder
   (the notebook's own folder for the run: files it writes vanish with it), with errors
   allowed so later cells still run, a per-cell timeout and an overall limit.
4. Each exercise is ``passed`` (its cell ran without error: full points), ``failed`` (an
   ``AssertionError`` such as a check's ``CheckFailed``), ``not attempted`` (a stub's
   ``NotImplementedError`` in that cell or in the cells since the previous exercise), ``error``
   (any other exception, a timeout, a broken notebook) or ``missing`` (the cell was deleted).

Student names: a notebook whose file name is a solutions notebook's name (``01_gan.ipynb``)
belongs to the student named by its folder (``alice/01_gan.ipynb`` -> ``alice``); any other
notebook is named by its file stem (``bob.ipynb`` -> ``bob``). This module never imports
TensorFlow; the kernels it starts may.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from aigc_course.exercises import (
    STUB_ERRORS,
    TESTS_PLACEHOLDER,
    Exercise,
    find_exercises,
    read_notebook,
)

STATUSES = ("passed", "failed", "not attempted", "error", "missing")
_KERNEL_FILE = re.compile(r"\((?:[\w/.-]*/)?\d+\.py, (line \d+)\)")
_KERNEL_ENV = {"AIGC_OFFLINE": "1", "PYTHONHASHSEED": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}


@dataclass
class ExerciseResult:
    """The outcome of one exercise for one student."""

    student: str
    notebook: str  # the solutions notebook's name
    exercise: str
    status: str  # one of STATUSES
    points: float
    max_points: float
    message: str = ""


@dataclass
class GradeReport:
    """All results of one grading run; ``totals()`` sums points per student."""

    results: list[ExerciseResult] = field(default_factory=list)

    def totals(self) -> dict[str, tuple[float, float]]:
        """``{student: (points, max_points)}``, students in order of appearance."""
        sums: dict[str, tuple[float, float]] = {}
        for r in self.results:
            got, best = sums.get(r.student, (0.0, 0.0))
            sums[r.student] = (got + r.points, best + r.max_points)
        return sums

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"students": {name: {"points", "max_points", "results": [...]}}}``."""
        students: dict[str, Any] = {}
        for name, (got, best) in self.totals().items():
            rows = [asdict(r) for r in self.results if r.student == name]
            for row in rows:
                del row["student"]
            students[name] = {"points": got, "max_points": best, "results": rows}
        return {"students": students}

    def table(self) -> str:
        """A plain-text table: one row per student and exercise, then one total per student."""
        head = ("student", "notebook", "exercise", "status", "points", "message")
        rows = [
            (
                r.student,
                r.notebook,
                r.exercise,
                r.status,
                f"{_num(r.points)}/{_num(r.max_points)}",
                r.message,
            )
            for r in self.results
        ]
        rows += [
            (name, "total", "", "", f"{_num(got)}/{_num(best)}", "")
            for name, (got, best) in self.totals().items()
        ]
        widths = [max(len(row[i]) for row in [head, *rows]) for i in range(5)]
        lines = []
        for row in [head, *rows]:
            cells = [text.ljust(width) for text, width in zip(row, widths, strict=False)]
            lines.append("  ".join([*cells, _short(row[5])]).rstrip())
        return "\n".join(lines)


def _num(value: float) -> str:
    return f"{value:g}"


def _short(message: str, limit: int = 90) -> str:
    first = message.strip().splitlines()[0] if message.strip() else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _student_name(path: Path, solution_names: set[str]) -> str:
    return path.parent.resolve().name if path.name in solution_names else path.stem


def _submissions(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        if found:
            return found
        raise FileNotFoundError(f"no .ipynb files in {path}")
    raise FileNotFoundError(f"no such notebook or folder: {path}")


def _load_solutions(solutions_dir: Path) -> dict[str, tuple[nbformat.NotebookNode, list[Exercise]]]:
    if not solutions_dir.is_dir():
        raise FileNotFoundError(f"no solutions folder {str(solutions_dir)!r}: pass --solutions DIR")
    solutions = {}
    for path in sorted(solutions_dir.glob("*.ipynb")):
        nb = read_notebook(path)
        solutions[path.name] = (nb, find_exercises(nb, str(path)))
    if not solutions:
        raise FileNotFoundError(f"no solutions notebooks in {solutions_dir}")
    return solutions


def _match(path: Path, nb: nbformat.NotebookNode | None, solutions: dict) -> str | None:
    """The solutions notebook a submission answers: same file name, else most shared ids."""
    if path.name in solutions:
        return path.name
    if nb is None:
        return None
    ids = {cell.get("id") for cell in nb.cells}
    best = max(solutions, key=lambda name: sum(e.cell_id in ids for e in solutions[name][1]))
    return best if any(e.cell_id in ids for e in solutions[best][1]) else None


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


def _grading_source(exercise: Exercise, submitted: str) -> str:
    """The graded cell as it runs: the solution's checks, with the student's answer if the cell
    holds one (hidden tests then go back where their placeholder comments are, else at the end)."""
    if not exercise.has_answer:
        return exercise.source
    blocks = exercise.hidden_tests()
    lines = []
    for line in submitted.splitlines():
        if line.strip() == TESTS_PLACEHOLDER and blocks:
            lines.append(blocks.pop(0))
        else:
            lines.append(line)
    return "\n".join(lines + blocks)


def _read_submission(path: Path) -> tuple[nbformat.NotebookNode | None, str]:
    try:
        nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # any unreadable file is the student's problem, not a crash
        return None, f"not a valid notebook: {type(err).__name__}: {_short(str(err), 60)}"
    return nb, ""


def _execute(nb: nbformat.NotebookNode, timeout: float, total_timeout: float) -> dict[int, dict]:
    """Run every code cell; return ``{cell index: error content}`` (ename, evalue) for failures."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    errors: dict[int, dict] = {}

    def on_error(cell: Any, cell_index: int, execute_reply: dict) -> None:
        errors[cell_index] = execute_reply["content"]

    with tempfile.TemporaryDirectory(prefix="aigc-grade-") as workdir:
        nbformat.write(nb, os.path.join(workdir, "submission.ipynb"))
        client = NotebookClient(
            nb,
            kernel_name="python3",
            allow_errors=True,
            interrupt_on_timeout=True,
            resources={"metadata": {"path": workdir}},
            on_cell_error=on_error,
        )
        env = {**os.environ, **_KERNEL_ENV}
        # the kernel process's own stderr (start-up warnings, C-level logs) is not the student's output
        with client.setup_kernel(env=env, cwd=workdir, stderr=subprocess.DEVNULL):
            deadline = time.monotonic() + total_timeout  # kernel start-up does not count
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    errors[index] = {
                        "ename": "TimeoutError",
                        "evalue": "not run: overall time limit reached",
                    }
                    continue
                limit = max(1, int(min(timeout, left)))
                client.timeout = limit
                client.error_on_timeout = {
                    "ename": "TimeoutError",
                    "evalue": f"timed out after {limit} s",
                    "traceback": [],
                }
                try:
                    client.execute_cell(cell, index)
                except DeadKernelError:
                    for rest, later in enumerate(nb.cells[index:], index):
                        if later.cell_type == "code":
                            errors[rest] = {"ename": "DeadKernelError", "evalue": "the kernel died"}
                    break
    return errors


def _is_stub(error: dict) -> bool:
    return error.get("ename") in STUB_ERRORS or "not attempted" in str(error.get("evalue", ""))


def _classify(error: dict | None, earlier: list[dict]) -> tuple[str, str]:
    """Status and message of an exercise from its cell's error and the errors of the cells
    since the previous exercise (a stub or a crash there is usually the real cause)."""
    if error is None:
        return "passed", ""
    if _is_stub(error) or any(map(_is_stub, earlier)):
        return "not attempted", ""
    if error.get("ename") in {"AssertionError", "CheckFailed"} and not earlier:
        return "failed", str(error.get("evalue", ""))
    cause = earlier[0] if earlier else error
    where = " (in an earlier cell)" if earlier else ""
    # "(3165828.py, line 1)": the kernel's temporary file name changes with every run
    evalue = _KERNEL_FILE.sub(r"(\1)", str(cause.get("evalue", "")))
    if cause.get("ename") == "TimeoutError":
        return "error", f"{evalue}{where}"
    return "error", f"{cause.get('ename')}: {evalue}{where}"


def grade_notebook(
    path: Path,
    solutions: dict,
    student: str,
    timeout: float = 120,
    total_timeout: float | None = None,
) -> list[ExerciseResult]:
    """Grade one submission against the matching solutions notebook (see the module docs)."""
    nb, problem = _read_submission(path)
    name = _match(path, nb, solutions)
    if name is None:
        message = problem or "matches no solutions notebook (by file name or cell ids)"
        return [ExerciseResult(student, path.name, "-", "error", 0, 0, message)]
    exercises = solutions[name][1]
    if nb is None:
        return [
            ExerciseResult(student, name, e.id, "error", 0, e.points, problem) for e in exercises
        ]
    run = nbformat.v4.new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        }
    )
    run.cells = [nbformat.from_dict(dict(cell)) for cell in nb.cells]
    where: dict[str, int] = {}
    for exercise in exercises:
        index = _find_cell(run, exercise)
        if index is not None and index not in where.values():
            where[exercise.id] = index
            run.cells[index].source = _grading_source(exercise, run.cells[index].source)
    for cell in run.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    total = total_timeout if total_timeout is not None else 10 * timeout
    try:
        errors = _execute(run, timeout, total)
    except Exception as err:  # e.g. the kernel would not start: report, do not crash
        message = f"could not run the notebook: {type(err).__name__}: {err}"
        return [
            ExerciseResult(student, name, e.id, "error", 0, e.points, message) for e in exercises
        ]
    results = []
    previous = -1
    for exercise in sorted(exercises, key=lambda e: where.get(e.id, len(run.cells))):
        if exercise.id not in where:
            results.append(
                ExerciseResult(
                    student,
                    name,
                    exercise.id,
                    "missing",
                    0,
                    exercise.points,
                    "its cell was deleted: copy it back from the exercise notebook",
                )
            )
            continue
        index = where[exercise.id]
        earlier = [errors[i] for i in range(previous + 1, index) if i in errors]
        status, message = _classify(errors.get(index), earlier)
        points = exercise.points if status == "passed" else 0
        results.append(
            ExerciseResult(student, name, exercise.id, status, points, exercise.points, message)
        )
        previous = index
    order = {e.id: n for n, e in enumerate(exercises)}
    return sorted(results, key=lambda r: order[r.exercise])


def grade(
    paths: str | Path | list[str | Path],
    solutions_dir: str | Path = "solutions",
    timeout: float = 120,
    json_out: str | Path | None = None,
    total_timeout: float | None = None,
) -> GradeReport:
    """Grade one notebook, a folder of notebooks, or a list of either.

    ``timeout`` limits each cell (seconds); ``total_timeout`` limits each notebook (default
    ten cells' worth). Submissions are never modified. With ``json_out`` the report is also
    written there as JSON (see :meth:`GradeReport.to_dict`).
    """
    solutions = _load_solutions(Path(solutions_dir))
    items = paths if isinstance(paths, list) else [paths]
    report = GradeReport()
    for item in items:
        for path in _submissions(Path(item)):
            student = _student_name(path, set(solutions))
            report.results += grade_notebook(path, solutions, student, timeout, total_timeout)
    if json_out is not None:
        Path(json_out).write_text(
            json.dumps(report.to_dict(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``aigc-course grade``."""
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="a submitted notebook or a folder of them"
    )
    parser.add_argument(
        "--solutions", default="solutions", help="solutions folder (default: %(default)s)"
    )
    parser.add_argument(
        "--timeout", type=float, default=120, help="seconds per cell (default: %(default)s)"
    )
    parser.add_argument(
        "--total-timeout",
        type=float,
        default=None,
        help="seconds per notebook (default: 10 x --timeout)",
    )
    parser.add_argument(
        "--json", default=None, metavar="FILE", help="also write the report as JSON"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``aigc-course grade``: print the table; exit 0 however the students did."""
    if args.timeout <= 0:
        raise ValueError("--timeout must be a positive number of seconds")
    report = grade(args.paths, args.solutions, args.timeout, args.json, args.total_timeout)
    print(report.table())
    if args.json:
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
