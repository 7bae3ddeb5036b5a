"""Grading results: one row per student and exercise, a table, and the JSON file."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aigc_course.atomic import atomic_write

STATUSES = ("passed", "failed", "not attempted", "error", "missing")


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
    hints: int = 0  # hints opened, as recorded in the notebook (self-reported: see hints.py)


@dataclass
class GradeReport:
    """All results of one grading run; ``totals()`` sums points per student.

    ``flags`` holds, per student, what an instructor should look at although it changed no
    score by itself: code in the submission that reaches for the grader's machinery, a
    submission that tampered with the grader (its exercises score 0).
    """

    results: list[ExerciseResult] = field(default_factory=list)
    flags: dict[str, list[str]] = field(default_factory=dict)

    def totals(self) -> dict[str, tuple[float, float]]:
        """``{student: (points, max_points)}``, students in order of appearance."""
        sums: dict[str, tuple[float, float]] = {}
        for r in self.results:
            got, best = sums.get(r.student, (0.0, 0.0))
            sums[r.student] = (got + r.points, best + r.max_points)
        return sums

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"students": {name: {"points", "max_points", "results", "flags"}}}``."""
        students: dict[str, Any] = {}
        for name, (got, best) in self.totals().items():
            rows = [asdict(r) for r in self.results if r.student == name]
            for row in rows:
                del row["student"]
            students[name] = {
                "points": got,
                "max_points": best,
                "results": rows,
                "flags": self.flags.get(name, []),
            }
        return {"students": students}

    def write_json(self, path: str | Path) -> None:
        """Write :meth:`to_dict` to ``path`` atomically: a reader sees the old file or the new."""
        text = json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n"
        atomic_write(path, lambda f: f.write(text.encode("utf-8")))

    def table(self) -> str:
        """A plain-text table: one row per student and exercise (with the hints the notebook
        records as opened), then one total per student, then the flags."""
        head = ("student", "notebook", "exercise", "status", "points", "hints", "message")
        rows = [
            (r.student, r.notebook, r.exercise, r.status, _score(r.points, r.max_points),
             str(r.hints), r.message)
            for r in self.results
        ]  # fmt: skip
        hints: dict[str, int] = {}
        for r in self.results:
            hints[r.student] = hints.get(r.student, 0) + r.hints
        rows += [
            (name, "total", "", "", _score(got, best), str(hints[name]), "")
            for name, (got, best) in self.totals().items()
        ]
        widths = [max(len(row[i]) for row in [head, *rows]) for i in range(6)]
        lines = []
        for row in [head, *rows]:
            cells = [text.ljust(width) for text, width in zip(row, widths, strict=False)]
            lines.append("  ".join([*cells, short(row[6])]).rstrip())
        for name, flags in self.flags.items():
            lines += [f"flag  {name}: {flag}" for flag in flags]
        return "\n".join(lines)


def _score(got: float, best: float) -> str:
    return f"{got:g}/{best:g}"


def short(message: str, limit: int = 90) -> str:
    """The first line of a message, cut to ``limit`` characters."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"
