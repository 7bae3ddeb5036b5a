"""Grade submitted exercise notebooks (``aigc-course grade``), in a sandbox.

An exercise is a graded cell of a solutions notebook: a code cell with a line
``### EXERCISE: <id>`` (see :mod:`aigc_course.exercises`). To grade a submission:

1. Match it to a solutions notebook: by file name, else by the graded cells' ids it contains
   (:mod:`~aigc_course.grading.plan`).
2. Start a runner for it in a bubblewrap sandbox (:mod:`~aigc_course.grading.sandbox`): it
   sees the course package and the Python installation read-only, its own copy of the
   notebook, a private size-capped folder, no network and no other process; memory, process
   count, file size and output are capped, and everything it started ends with it.
3. Send it the student's code cells one by one, and in place of each graded cell the
   exercise's checks: the solution's graded cell and the instructor's hidden test
   (:mod:`~aigc_course.grading.session`). The runner runs the checks with the solution's own
   imports, in the state the libraries had before any student code ran
   (:mod:`~aigc_course.grading.guard`), and answers through a signed channel; an exercise
   passes only if its checks ran to the end and the answer carries its random token.
4. Count the hints the notebook records as opened (``hint("id")`` markers in its outputs and
   calls in its cells, :mod:`aigc_course.hints`): self-reported, shown beside the score.
5. Give each exercise a status (:mod:`~aigc_course.grading.verdict`): ``passed`` (full
   points), ``failed`` (an ``AssertionError`` such as a check's ``CheckFailed``), ``not
   attempted`` (a stub's ``NotImplementedError`` in the graded cell or the cells since the
   previous exercise), ``error`` (anything else, naming the cell that caused it) or
   ``missing`` (the graded cell was deleted).

Student names: a notebook whose file name is a solutions notebook's name (``01_gan.ipynb``)
belongs to the student named by its folder (``alice/01_gan.ipynb`` -> ``alice``); any other
notebook is named by its file stem (``bob.ipynb`` -> ``bob``). This package never imports
TensorFlow; the runners it starts may.
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aigc_course.errors import ConfigError, NotFoundError
from aigc_course.grading import sandbox
from aigc_course.grading.report import STATUSES, ExerciseResult, GradeReport
from aigc_course.grading.sandbox import Limits, SandboxUnavailable

# plan, session and verdict (nbformat, jsonschema: slow to import) are imported where used,
# so that the runner, which lives in this package, starts without them.

__all__ = [
    "STATUSES",
    "ExerciseResult",
    "GradeReport",
    "Limits",
    "SandboxUnavailable",
    "grade",
    "add_arguments",
    "run",
]

Progress = Callable[[int, int, str, list[ExerciseResult], float], None]


def _submissions(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        if found:
            return found
        raise NotFoundError(f"no .ipynb files in {path}")
    raise NotFoundError(f"no such notebook or folder: {path}")


def _student_name(path: Path, solution_names: set[str]) -> str:
    return path.parent.resolve().name if path.name in solution_names else path.stem


def grade_notebook(
    path: Path, solutions: dict, student: str, config: Any, slot: int = 0
) -> tuple[list[ExerciseResult], list[str]]:
    """Grade one submission against ``solutions`` (from :func:`plan.load_solutions`) with a
    :class:`session.RunConfig`; return its results and the flags for the instructor."""
    from aigc_course.grading import flags, plan, session, verdict

    nb, problem = plan.read_submission(path)
    name = plan.match(path, nb, solutions)
    if name is None:
        message = problem or "matches no solutions notebook (by file name or cell ids)"
        return [ExerciseResult(student, path.name, "-", "error", 0, 0, message)], []
    solution = solutions[name]
    if nb is None:
        rows = [ExerciseResult(student, name, e.id, "error", 0, e.points, problem) for e in solution.exercises]  # fmt: skip
        return rows, []
    steps, where = plan.plan(nb, solution)
    with tempfile.TemporaryDirectory(prefix="aigc-grade-") as scratch:
        copy = Path(scratch) / "submission.ipynb"
        shutil.copyfile(path, copy)  # the sandbox gets a copy; the submission is only read
        os.chmod(scratch, 0o755)
        os.chmod(copy, 0o644)
        outcomes, tampering = session.run(
            copy, steps, solution.preamble, config, slot, solution.hidden
        )
    notes = tampering + flags.suspicious_lines(nb, solution.template)
    rows = verdict.results(student, nb, solution, steps, outcomes, where)
    _count_hints(nb, rows)
    return rows, notes


def _count_hints(nb, rows: list[ExerciseResult]) -> None:
    """Fill in each row's hints from what the submitted notebook records (see
    :func:`aigc_course.hints.opened_in`): self-reported, never part of the score."""
    from aigc_course import hints

    try:
        opened, known = hints.opened_in_notebook(nb), hints.all_hints()
    except Exception:  # noqa: BLE001 - a malformed output is the student's; hints stay 0
        return
    for row in rows:
        count = opened.get(row.exercise, 0)
        row.hints = min(count, len(known[row.exercise])) if row.exercise in known else count


def grade(
    paths: str | Path | list[str | Path],
    solutions_dir: str | Path = "solutions",
    timeout: float = 120,
    json_out: str | Path | None = None,
    total_timeout: float | None = None,
    *,
    hidden_tests: str | Path | None = None,
    jobs: int = 1,
    unsafe_no_sandbox: bool = False,
    limits: Limits | None = None,
    progress: Progress | None = None,
) -> GradeReport:
    """Grade one notebook, a folder of notebooks, or a list of either.

    ``timeout`` limits each cell (seconds); ``total_timeout`` limits each notebook (default
    ten cells' worth). ``hidden_tests`` is a folder of the instructor's hidden tests (see
    :mod:`aigc_course.grading.plan`). ``jobs`` notebooks are graded at a time. Submissions
    are never modified. With ``json_out`` the report is written there as JSON after every
    notebook, atomically (see :meth:`GradeReport.to_dict`). ``progress(done, total, student,
    results, seconds)`` is called after each notebook.

    Raises :class:`SandboxUnavailable` when no sandbox can be built, unless
    ``unsafe_no_sandbox`` (then submitted code runs unconfined, as the caller).
    """
    from aigc_course.grading import plan, session

    if os.name == "nt":  # the runner needs POSIX signals and pipes, even without a sandbox
        raise SandboxUnavailable("grading needs Linux (or macOS, unsandboxed): use WSL2 on Windows")
    hidden = Path(hidden_tests) if hidden_tests is not None else None
    solutions = plan.load_solutions(Path(solutions_dir), hidden)
    items = paths if isinstance(paths, list) else [paths]
    found = [p for item in items for p in _submissions(Path(item))]
    if not unsafe_no_sandbox:  # after the arguments: a typo is reported before the machine
        sandbox.check_sandbox()
    secrets = [Path(solutions_dir), *([hidden] if hidden else []), *map(Path, items)]
    if json_out is not None:
        secrets.append(Path(json_out).parent)
    config = session.RunConfig(
        timeout=timeout,
        total_timeout=total_timeout if total_timeout is not None else 10 * timeout,
        sandboxed=not unsafe_no_sandbox,
        limits=limits or Limits(),
        secrets=tuple(p.absolute() for p in secrets),
    )
    slots: queue.Queue[int] = queue.Queue()
    for slot in range(max(1, jobs)):
        slots.put(slot)
    done: dict[int, tuple[list[ExerciseResult], list[str], str]] = {}
    report, lock = GradeReport(), threading.Lock()

    def one(n: int, path: Path) -> None:
        student = _student_name(path, set(solutions))
        slot, start = slots.get(), time.monotonic()
        try:
            rows, flags = grade_notebook(path, solutions, student, config, slot)
        except Exception as err:  # a bug or a machine problem: this student, not the class
            message = f"could not grade: {type(err).__name__}: {err}"
            rows, flags = [ExerciseResult(student, path.name, "-", "error", 0, 0, message)], []
        finally:
            slots.put(slot)
        with lock:  # one notebook's bookkeeping, file and progress line at a time
            done[n] = (rows, flags, student)
            report.results = [r for k in sorted(done) for r in done[k][0]]
            report.flags = {s: f for k in sorted(done) for _, f, s in [done[k]] if f}
            if json_out is not None:
                report.write_json(json_out)
            if progress is not None:
                progress(len(done), len(found), student, rows, time.monotonic() - start)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for future in [pool.submit(one, n, path) for n, path in enumerate(found)]:
            future.result()
    return report


def _print_progress(done: int, total: int, student: str, rows: list, seconds: float) -> None:
    got, best = sum(r.points for r in rows), sum(r.max_points for r in rows)
    notebook = rows[0].notebook if rows else "-"
    width = len(str(total))
    print(
        f"[{done:{width}}/{total}] {student}  {notebook}  {got:g}/{best:g}  ({seconds:.1f} s)",
        file=sys.stderr,
        flush=True,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``aigc-course grade``."""
    add = parser.add_argument
    add("paths", nargs="+", metavar="PATH", help="a submitted notebook or a folder of them")
    add("--solutions", default="solutions", help="solutions folder (default: %(default)s)")
    add(
        "--hidden-tests",
        default=None,
        metavar="DIR",
        help="your hidden tests, one DIR/<notebook stem>.py per notebook (keep it outside "
        "the course repository: solutions/ is public)",
    )
    add("--timeout", type=float, default=120, help="seconds per cell (default: %(default)s)")
    add(
        "--total-timeout",
        type=float,
        default=None,
        help="seconds per notebook (default: 10 x --timeout)",
    )
    add("--json", default=None, metavar="FILE", help="also write the report as JSON")
    add(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="notebooks graded at once (default: %(default)s; each may need 1-2 GB of memory)",
    )
    add("--memory-mb", type=int, default=Limits.memory_mb, help="memory per notebook process")
    add("--unsafe-no-sandbox", action="store_true", help="run submissions WITHOUT a sandbox")


def run(args: argparse.Namespace) -> int:
    """Run ``aigc-course grade``: print the table; exit 0 however the students did."""
    if args.timeout <= 0:
        raise ConfigError("--timeout must be a positive number of seconds")
    if args.jobs < 1:
        raise ConfigError("--jobs must be at least 1")
    if args.unsafe_no_sandbox:
        print(sandbox.UNSAFE_WARNING, file=sys.stderr)
    report = _grade_from(args)  # SandboxUnavailable is a CourseError: one line, exit 2
    print(report.table())
    if args.json:
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def _grade_from(args: argparse.Namespace) -> GradeReport:
    return grade(
        args.paths,
        args.solutions,
        args.timeout,
        args.json,
        args.total_timeout,
        hidden_tests=args.hidden_tests,
        jobs=args.jobs,
        unsafe_no_sandbox=args.unsafe_no_sandbox,
        limits=Limits(memory_mb=args.memory_mb),
        progress=_print_progress,
    )
