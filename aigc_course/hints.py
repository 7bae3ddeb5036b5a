"""Graded hints for the exercises: ``hint("jsd")`` prints the next one, concept before function.

Each chapter's hints live beside its checks, in ``aigc_course.checks.chNN.HINTS`` (exercise id
-> hints, gentlest first), so the exercise notebooks, the solutions and the tests share one
copy. A hint never holds the finished line: the first names the idea, the next the function or
the formula's shape, and the last says what to check when the answer is still wrong.

Every hint prints a marker line, ``[hint 2/3 · jsd]``. The grader counts the hints a student
opened from those markers in the submitted notebook's outputs and from the ``hint(...)`` calls
in its cells, whichever is more (:func:`opened_in`). That is self-reported: a student can clear
an output or open the hints in another notebook, so the count is a signal for the instructor,
never part of the score.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable

CHAPTERS = ("ch01", "ch02", "ch03", "ch04", "ch05", "ch06", "ch07", "ch08", "ch09")
MARKER = "[hint {n}/{total} · {id}]"
_MARKER_RE = re.compile(r"\[hint (\d+)/(\d+) · ([\w.-]+)\]")
_CALL_RE = re.compile(r"""\bhint\(\s*["']([\w.-]+)["']\s*(?:,\s*(?:level\s*=\s*)?(\d+))?\s*\)""")

_opened: dict[str, int] = {}


def all_hints() -> dict[str, tuple[str, ...]]:
    """Every exercise's hints: ``{exercise id: (first, second, ...)}``."""
    found: dict[str, tuple[str, ...]] = {}
    for chapter in CHAPTERS:
        module = importlib.import_module(f"aigc_course.checks.{chapter}")
        for exercise, hints in module.HINTS.items():
            found[exercise] = tuple(hints)
    return found


def hints_for(exercise: str) -> tuple[str, ...]:
    """The hints of one exercise; a clear error for an unknown id."""
    known = all_hints()
    if exercise not in known:
        close = [k for k in known if exercise.lower() in k or k in exercise.lower()]
        suggestion = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"no exercise {exercise!r}.{suggestion} Use the id after `### EXERCISE:` in the "
            'graded cell, e.g. hint("jsd")'
        )
    return known[exercise]


def hint(exercise: str, level: int | None = None) -> None:
    """Print the next hint for ``exercise`` (an id such as ``"jsd"``), or hint number ``level``.

    Hints are numbered from 1; asking again after the last one repeats the last. Opening hints
    costs no points; the grader reports how many you opened, so your instructor knows which
    exercises were hard.
    """
    hints = hints_for(exercise)
    if level is None:
        level = _opened.get(exercise, 0) + 1
    if not isinstance(level, int) or level < 1:
        raise ValueError(f"level must be a hint number from 1 to {len(hints)}, got {level!r}")
    level = min(level, len(hints))
    _opened[exercise] = max(_opened.get(exercise, 0), level)
    print(MARKER.format(n=level, total=len(hints), id=exercise))
    print(hints[level - 1])
    if level < len(hints):
        print(f'(still stuck? hint("{exercise}") again shows hint {level + 1})')


def opened_in(outputs: Iterable[str], sources: Iterable[str]) -> dict[str, int]:
    """Hints opened per exercise, from a notebook's output texts and code cells' sources: the
    highest hint number a marker shows, or the number of ``hint(...)`` calls, if higher."""
    shown: dict[str, int] = {}
    for text in outputs:
        for n, _, exercise in _MARKER_RE.findall(text):
            shown[exercise] = max(shown.get(exercise, 0), int(n))
    called: dict[str, int] = {}
    for source in sources:
        for exercise, level in _CALL_RE.findall(source):
            called[exercise] = (
                max(called.get(exercise, 0), int(level)) if level else called.get(exercise, 0) + 1
            )
    return {k: max(shown.get(k, 0), called.get(k, 0)) for k in {*shown, *called}}


def opened_in_notebook(nb) -> dict[str, int]:
    """:func:`opened_in` for an nbformat notebook (its stored outputs and code cells)."""
    outputs, sources = [], []
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        sources.append(cell.get("source", ""))
        for output in cell.get("outputs", []):
            text = output.get("text")
            if text is None:
                text = output.get("data", {}).get("text/plain", "")
            outputs.append(text if isinstance(text, str) else "".join(text))
    return opened_in(outputs, sources)
