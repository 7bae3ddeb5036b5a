"""Build student exercise notebooks from the solution notebooks (``aigc-course exercises``).

``solutions/NN_name.ipynb`` is the source of truth; ``exercises/NN_name.ipynb`` is generated:

* in code cells, each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block becomes
  ``raise NotImplementedError("<hint>")`` at the block's indentation; the hint is the text of a
  ``### HINT: ...`` line inside the block, else :data:`DEFAULT_HINT`;
* in markdown cells, the text from ``### BEGIN SOLUTION`` to ``### END SOLUTION`` (or to the end
  of the cell) becomes :data:`MARKDOWN_STUB`; text before and after is kept;
* each ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` block becomes the comment
  :data:`TESTS_PLACEHOLDER` (the grader runs the solution's version of the cell);
* outputs, execution counts and volatile metadata are dropped (the kernelspec and the
  ``language_info`` refresh stored are kept), cell ids are kept, and the JSON is written the way
  nbformat writes it, so a rebuild is byte-identical and ``--check`` is exact.

A graded exercise is a code cell with a line ``### EXERCISE: <id>`` (optionally
``### EXERCISE: <id> (2 points)``): whether it runs without error decides pass or fail (see
:mod:`aigc_course.grading`). It holds the checks (visible and hidden) and may also hold the
answer. This module never imports TensorFlow.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from aigc_course.colab import repository_path, with_colab_cells
from aigc_course.errors import ConfigError, NotFoundError

DEFAULT_HINT = "replace this line with your code"
MARKDOWN_STUB = "*Your answer here.*"
TESTS_PLACEHOLDER = "# (hidden tests run here when your notebook is graded: keep this cell)"
# ``ename`` of the errors an untouched exercise notebook may stop with: a stub's own
# NotImplementedError, or a check's NotAttempted (a NotImplementedError subclass).
STUB_ERRORS = ("NotImplementedError", "NotAttempted")

_MARKER = re.compile(
    r"^(?P<indent>\s*)###\s*(?P<word>BEGIN|END)\s+(?P<what>SOLUTION|HIDDEN TESTS)\s*$"
)
_HINT = re.compile(r"^\s*###\s*HINT:\s*(?P<hint>.*?)\s*$")
_EXERCISE = re.compile(
    r"(?m)^\s*###\s*EXERCISE:\s*(?P<id>[\w.-]+)\s*(?:\((?P<points>[\d.]+)\s*points?\))?\s*$"
)
_STABLE_CELL_KEYS = ("tags",)


class MarkerError(ConfigError):
    """A solution notebook's markers are unbalanced, nested or misplaced."""


@dataclass(frozen=True)
class Exercise:
    """A graded cell of a solutions notebook."""

    id: str  # the name after ``### EXERCISE:``
    cell_id: str  # the cell's id, identical in the exercise notebook
    points: float
    source: str  # the full solution source: visible checks and hidden tests
    has_answer: bool  # the cell also holds a solution block (answer and checks in one cell)

    def hidden_tests(self) -> list[str]:
        """The hidden-test blocks of the cell, markers included, in order."""
        blocks: list[str] = []
        current: list[str] | None = None
        for line in self.source.splitlines():
            marker = _MARKER.match(line)
            if marker and marker["what"] == "HIDDEN TESTS":
                if marker["word"] == "BEGIN":
                    current = [line]
                elif current is not None:
                    blocks.append("\n".join([*current, line]))
                    current = None
            elif current is not None:
                current.append(line)
        return blocks


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read a notebook (nbformat 4) and give every cell a stable id.

    Cells without an id (notebooks older than nbformat 4.5) get one derived from the file name
    and the cell's position, so the exercise notebook and the grader agree on it.
    """
    nb = nbformat.read(str(path), as_version=4)
    for index, cell in enumerate(nb.cells):
        if not cell.get("id"):
            cell["id"] = hashlib.sha1(f"{path.name}:{index}".encode()).hexdigest()[:8]
    nb.nbformat_minor = max(nb.nbformat_minor, 5)
    return nb


def find_exercises(nb: nbformat.NotebookNode, name: str = "notebook") -> list[Exercise]:
    """The graded cells of a solutions notebook, in order; ``name`` is used in error messages."""
    found: list[Exercise] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        lines = cell.source.splitlines()
        labels = [(n, m) for n, line in enumerate(lines, 1) if (m := _EXERCISE.match(line))]
        if not labels:
            continue
        where = f"{name}, cell {index}, line {labels[0][0]}"
        if len(labels) > 1:
            raise MarkerError(f"{where}: one `### EXERCISE:` line per cell, found {len(labels)}")
        match = labels[0][1]
        try:
            points = float(match["points"] or 1)
        except ValueError:
            raise MarkerError(f"{where}: write the points as a number, e.g. (2 points)") from None
        if any(e.id == match["id"] for e in found):
            raise MarkerError(f"{where}: exercise id {match['id']!r} is used twice")
        has_answer = any((m := _MARKER.match(line)) and m["what"] == "SOLUTION" for line in lines)
        found.append(Exercise(match["id"], cell["id"], points, cell.source, has_answer))
    return found


def _stub(indent: str, hint: str) -> list[str]:
    """``raise NotImplementedError("hint")``, wrapped the way ruff format would wrap it."""
    literal = json.dumps(hint, ensure_ascii=False)
    line = f"{indent}raise NotImplementedError({literal})"
    if len(line) <= 100:
        return [line]
    return [f"{indent}raise NotImplementedError(", f"{indent}    {literal}", f"{indent})"]


def _strip_code(source: str, where: str) -> str:
    """Replace solution blocks by stubs and drop hidden tests in one code cell's source."""
    out: list[str] = []
    block: tuple[str, int, str] | None = None  # (kind, line number, indent)
    hint = DEFAULT_HINT
    for number, line in enumerate(source.splitlines(), 1):
        marker = _MARKER.match(line)
        if marker:
            word, what = marker["word"], marker["what"]
            if word == "BEGIN":
                if block:
                    raise MarkerError(
                        f"{where}, line {number}: `### BEGIN {what}` inside the "
                        f"`### BEGIN {block[0]}` block opened on line {block[1]}: close it first"
                    )
                block, hint = (what, number, marker["indent"]), DEFAULT_HINT
            else:
                if not block or block[0] != what:
                    opened = f" (the open block is {block[0]})" if block else ""
                    raise MarkerError(
                        f"{where}, line {number}: `### END {what}` without a matching "
                        f"`### BEGIN {what}`{opened}"
                    )
                if what == "SOLUTION":
                    out.extend(_stub(block[2], hint))
                else:
                    out.append(block[2] + TESTS_PLACEHOLDER)
                block = None
            continue
        if block:
            if block[0] == "SOLUTION" and (m := _HINT.match(line)):
                hint = m["hint"] or DEFAULT_HINT
            continue
        if _HINT.match(line):
            raise MarkerError(
                f"{where}, line {number}: `### HINT:` belongs inside a solution block"
            )
        out.append(line)
    if block:
        raise MarkerError(
            f"{where}, line {block[1]}: `### BEGIN {block[0]}` is never closed: "
            f"add `### END {block[0]}`"
        )
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)


def _strip_markdown(source: str, where: str) -> str:
    """Replace the answer in a markdown cell; the block may run to the end of the cell."""
    out: list[str] = []
    opened: int | None = None
    for number, line in enumerate(source.splitlines(), 1):
        marker = _MARKER.match(line)
        if marker and marker["what"] == "SOLUTION":
            if (marker["word"] == "BEGIN") == (opened is not None):
                problem = (
                    f"`### BEGIN SOLUTION` inside the block opened on line {opened}"
                    if opened
                    else "`### END SOLUTION` without a `### BEGIN SOLUTION`"
                )
                raise MarkerError(f"{where}, line {number}: {problem}")
            if marker["word"] == "BEGIN":
                opened = number
                out.append(MARKDOWN_STUB)
            else:
                opened = None
            continue
        if opened is None:
            out.append(line)
    return "\n".join(out).strip("\n")


def make_exercise(solution: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The student version of a solutions notebook (see the module docstring)."""
    find_exercises(solution, name)  # validates the EXERCISE cells
    cells = []
    for index, cell in enumerate(solution.cells):
        where = f"{name}, cell {index}"
        metadata = {k: cell.metadata[k] for k in _STABLE_CELL_KEYS if cell.metadata.get(k)}
        if cell.cell_type == "code":
            if "HIDDEN TESTS" in cell.source and not _EXERCISE.search(cell.source):
                raise MarkerError(
                    f"{where}: hidden tests need an `### EXERCISE: <id>` line in their cell, "
                    "so the grader can name the exercise and find the cell"
                )
            new_source = _strip_code(cell.source, where)
            new = nbformat.v4.new_code_cell(new_source, id=cell["id"], metadata=metadata)
        elif cell.cell_type == "markdown":
            new_source = _strip_markdown(cell.source, where)
            new = nbformat.v4.new_markdown_cell(new_source, id=cell["id"], metadata=metadata)
        else:
            new = nbformat.v4.new_raw_cell(cell.source, id=cell["id"], metadata=metadata)
        cells.append(new)
    metadata: dict[str, Any] = {}
    if "kernelspec" in solution.metadata:
        metadata["kernelspec"] = dict(solution.metadata.kernelspec)
    if "language_info" in solution.metadata:
        # the kernel's own report, as refresh stores it: Lab then leaves an opened notebook clean
        metadata["language_info"] = dict(solution.metadata.language_info)
    return nbformat.v4.new_notebook(cells=cells, metadata=metadata)


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """Serialise exactly as ``nbformat.write`` does (indent 1, sorted keys, final newline)."""
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def build_exercises(
    solutions_dir: str | Path = "solutions",
    exercises_dir: str | Path = "exercises",
    check: bool = False,
) -> list[Path]:
    """Write ``exercises_dir/<name>.ipynb`` for every ``solutions_dir/*.ipynb``.

    Returns the exercise files that were out of date: written (or, with ``check=True``, that
    would be written), plus exercise notebooks without a solution, which are removed (or,
    with ``check=True``, only reported). With ``check=True`` nothing is written.
    """
    solutions, exercises = Path(solutions_dir), Path(exercises_dir)
    if not solutions.is_dir():
        raise NotFoundError(
            f"no solutions folder {str(solutions)!r}: run from the course root or pass --solutions"
        )
    changed: list[Path] = []
    wanted: set[str] = set()
    for source in sorted(solutions.glob("*.ipynb")):
        wanted.add(source.name)
        try:
            solution = read_notebook(source)
        except (OSError, ValueError) as err:  # JSON or schema errors are ValueErrors
            raise ConfigError(f"{source}: not a readable notebook: {err}") from None
        exercise = make_exercise(solution, str(source))
        with_colab_cells(exercise, repository_path(exercises / source.name))
        text = notebook_text(exercise)
        target = exercises / source.name
        if target.is_file() and target.read_text(encoding="utf-8") == text:
            continue
        changed.append(target)
        if not check:
            exercises.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8", newline="\n")
    for extra in sorted(exercises.glob("*.ipynb")):
        if extra.name not in wanted:
            changed.append(extra)
            if not check:
                extra.unlink()
    return changed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``aigc-course exercises``."""
    parser.add_argument("action", choices=["build"], help="build exercises/ from solutions/")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if any exercise notebook is stale, missing or extra",
    )
    parser.add_argument(
        "--solutions", default="solutions", help="solutions folder (default: %(default)s)"
    )
    parser.add_argument(
        "--exercises", default="exercises", help="exercises folder (default: %(default)s)"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``aigc-course exercises build [--check]``."""
    changed = build_exercises(args.solutions, args.exercises, check=args.check)
    solutions = Path(args.solutions)
    if args.check:
        if not changed:
            print(f"exercises are up to date with {args.solutions}/")
            return 0
        print(f"{len(changed)} exercise notebook(s) out of date with {args.solutions}/:")
        for path in changed:
            state = (
                "extra"
                if not (solutions / path.name).exists()
                else ("stale" if path.exists() else "missing")
            )
            print(f"  {state:8s}{path}")
        print("fix: run `aigc-course exercises build` and commit exercises/")
        return 1
    for path in changed:
        verb = "wrote" if path.exists() else "removed"
        print(f"{verb} {path}")
    print(f"{len(changed)} exercise notebook(s) changed")
    return 0
