"""From what happened in a run to each exercise's status, points and message."""

from __future__ import annotations

import nbformat

from aigc_course.exercises import STUB_ERRORS
from aigc_course.grading.plan import Solution, Step, cell_label
from aigc_course.grading.report import ExerciseResult
from aigc_course.grading.session import Outcome

MISSING = "its cell was deleted: copy it back from the exercise notebook"


def _is_stub(error: dict) -> bool:
    return error.get("ename") in STUB_ERRORS or "not attempted" in str(error.get("evalue", ""))


def _text(error: dict) -> str:
    if error.get("ename") == "TimeoutError":
        return str(error.get("evalue", ""))
    return f"{error.get('ename')}: {error.get('evalue', '')}"


def classify(outcome: Outcome, earlier: list[tuple[str, dict]]) -> tuple[str, str]:
    """Status and message of an exercise from its outcome and the ``(cell label, error)`` of
    the cells since the previous exercise (a stub or a crash there is usually the cause)."""
    if outcome.passed:
        return "passed", ""
    error = outcome.error
    if error is None and not outcome.not_run:
        error = {"ename": "Error", "evalue": "the checks did not report a result"}
    if (error is not None and _is_stub(error)) or any(_is_stub(e) for _, e in earlier):
        return "not attempted", ""
    if earlier:
        label, cause = earlier[0]
        return "error", f"{_text(cause)} (in an earlier cell: {label})"
    if error is None:
        return "error", outcome.not_run
    if error.get("ename") in {"AssertionError", "CheckFailed"}:
        return "failed", str(error.get("evalue", ""))
    return "error", _text(error)


def results(
    student: str,
    nb: nbformat.NotebookNode,
    solution: Solution,
    steps: list[Step],
    outcomes: list[Outcome],
    where: dict[str, int],
) -> list[ExerciseResult]:
    """One :class:`ExerciseResult` per exercise of ``solution``, in the solution's order."""
    rows: dict[str, ExerciseResult] = {}
    earlier: list[tuple[str, dict]] = []
    for step, outcome in zip(steps, outcomes, strict=True):
        exercise = step.exercise
        if exercise is None:
            if outcome.error is not None:
                earlier.append((cell_label(nb, step.index), outcome.error))
            continue
        status, message = classify(outcome, earlier)
        points = exercise.points if status == "passed" else 0
        rows[exercise.id] = ExerciseResult(
            student, solution.name, exercise.id, status, points, exercise.points, message
        )
        earlier = []
    for exercise in solution.exercises:
        if exercise.id not in where:
            rows[exercise.id] = ExerciseResult(
                student, solution.name, exercise.id, "missing", 0, exercise.points, MISSING
            )
    return [rows[e.id] for e in solution.exercises]
