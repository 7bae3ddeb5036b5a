"""Building exercises/ from solutions/: stubs, hidden tests, stable bytes, --check, marker errors.

The last tests execute every real ``solutions/*.ipynb`` and its generated exercise through the
grader: the solution must pass all its graded cells, the untouched exercise none.
"""

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from aigc_course import cli
from aigc_course.exercises import (
    DEFAULT_HINT,
    MARKDOWN_STUB,
    TESTS_PLACEHOLDER,
    MarkerError,
    build_exercises,
    find_exercises,
    make_exercise,
    notebook_text,
    read_notebook,
)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "exercises" / "solutions"
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


@pytest.fixture
def course(tmp_path):
    """A copy of the fixture solutions folder and an empty exercises folder."""
    shutil.copytree(FIXTURES, tmp_path / "solutions")
    return tmp_path / "solutions", tmp_path / "exercises"


def _built(course) -> nbformat.NotebookNode:
    solutions, exercises = course
    build_exercises(solutions, exercises)
    return nbformat.read(exercises / "01_fixture.ipynb", as_version=4)


def _cell(nb, cell_id):
    return next(c for c in nb.cells if c.id == cell_id)


def test_solution_blocks_become_stubs_with_their_hint(course):
    nb = _built(course)
    answer = _cell(nb, "ex1-answer").source
    assert answer.splitlines() == [
        "def relu(x):",
        '    """Rectified linear unit, element-wise."""',
        '    raise NotImplementedError("keep the positive part with np.maximum")',
    ]
    top_level = _cell(nb, "ex2-answer").source
    assert top_level.splitlines()[0] == f'raise NotImplementedError("{DEFAULT_HINT}")'
    assert "print(total)" in top_level  # code after the block stays


def test_markdown_answers_and_hidden_tests_are_removed(course):
    nb = _built(course)
    question = _cell(nb, "ex3-question").source
    assert question.startswith("**Question.** Why does ReLU")  # text before the marker is kept
    assert question.endswith(MARKDOWN_STUB) and "does not saturate" not in question
    check_cell = _cell(nb, "ex1-check").source
    assert check_cell.splitlines() == ["### EXERCISE: relu", "check_relu(relu)", TESTS_PLACEHOLDER]
    text = (course[1] / "01_fixture.ipynb").read_text(encoding="utf-8")
    for secret in ("BEGIN SOLUTION", "HIDDEN TESTS", "np.maximum(x, 0.0)", "relu(-3.0)", "HINT"):
        assert secret not in text


def test_outputs_metadata_and_ids_are_stable(course):
    solution = read_notebook(course[0] / "01_fixture.ipynb")
    nb = _built(course)
    generated = [c.id for c in nb.cells if "colab" in c.metadata.get("tags", [])]
    assert generated == ["colab-link", "colab-install"]  # the exercise's own Colab cells
    assert [c.id for c in nb.cells if c.id not in generated] == [c.id for c in solution.cells]
    for cell in nb.cells:
        assert set(cell.metadata) <= {"tags"}
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
            ast.parse(cell.source)  # stubs keep every code cell valid Python
    assert _cell(nb, "setup").metadata == {"tags": ["setup"]}
    assert nb.metadata == {
        "kernelspec": {
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "name": "python3",
        },
        "language_info": {"name": "python", "version": "3.12.0"},  # the solution's, whole
    }
    raw = (course[1] / "01_fixture.ipynb").read_text(encoding="utf-8")
    assert raw == json.dumps(json.loads(raw), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def test_build_is_idempotent_and_check_detects_staleness(course, capsys):
    solutions, exercises = course
    target = exercises / "01_fixture.ipynb"
    assert build_exercises(solutions, exercises) == [target]
    first = target.read_bytes()
    assert build_exercises(solutions, exercises) == []
    assert build_exercises(solutions, exercises, check=True) == []
    assert target.read_bytes() == first

    argv = [
        "exercises",
        "build",
        "--check",
        "--solutions",
        str(solutions),
        "--exercises",
        str(exercises),
    ]
    assert cli.main(argv) == 0
    nb = nbformat.read(solutions / "01_fixture.ipynb", as_version=4)
    nb.cells[3].source = nb.cells[3].source.replace("np.maximum(x, 0.0)", "np.clip(x, 0.0, None)")
    nb.cells[0].source += "\n\nA new sentence."
    nbformat.write(nb, solutions / "01_fixture.ipynb")
    capsys.readouterr()
    assert cli.main(argv) == 1
    out = capsys.readouterr().out
    assert f"stale   {target}" in out and "run `aigc-course exercises build`" in out
    assert target.read_bytes() == first  # --check writes nothing

    assert cli.main(argv[:2] + argv[3:]) == 0  # build
    assert "A new sentence." in target.read_text(encoding="utf-8")
    assert cli.main(argv) == 0


def test_check_reports_missing_and_extra_notebooks(course, capsys):
    solutions, exercises = course
    exercises.mkdir()
    (exercises / "99_orphan.ipynb").write_text("{}", encoding="utf-8")
    argv = [
        "exercises",
        "build",
        "--check",
        "--solutions",
        str(solutions),
        "--exercises",
        str(exercises),
    ]
    assert cli.main(argv) == 1
    out = capsys.readouterr().out
    assert f"missing {exercises / '01_fixture.ipynb'}" in out
    assert f"extra   {exercises / '99_orphan.ipynb'}" in out
    assert sorted(build_exercises(solutions, exercises)) == sorted(
        [exercises / "01_fixture.ipynb", exercises / "99_orphan.ipynb"]
    )
    assert sorted(p.name for p in exercises.iterdir()) == ["01_fixture.ipynb"]


def test_notebooks_without_cell_ids_get_deterministic_ones(tmp_path):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    raw = {
        "cells": [
            {"cell_type": "code", "source": "### BEGIN SOLUTION\nx = 1\n### END SOLUTION",
             "metadata": {"collapsed": True}, "outputs": [], "execution_count": 3},
        ],
        "metadata": {"language_info": {"name": "python", "version": "3.11.4"}},
        "nbformat": 4,
        "nbformat_minor": 4,
    }  # fmt: skip
    (solutions / "02_old.ipynb").write_text(json.dumps(raw), encoding="utf-8")
    build_exercises(solutions, tmp_path / "a" / "exercises")
    build_exercises(solutions, tmp_path / "b" / "exercises")
    first = (tmp_path / "a" / "exercises" / "02_old.ipynb").read_bytes()
    assert first == (tmp_path / "b" / "exercises" / "02_old.ipynb").read_bytes()
    nb = nbformat.reads(first.decode(), as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.language_info == raw["metadata"]["language_info"]  # kept whole
    own = [c for c in nb.cells if "colab" not in c.metadata.get("tags", [])]
    assert own[0].id == read_notebook(solutions / "02_old.ipynb").cells[0].id


def test_long_hints_are_wrapped_like_ruff_format(tmp_path):
    hint = "a very long hint " * 8
    source = f"def f():\n    ### BEGIN SOLUTION\n    ### HINT: {hint}\n    return 1\n    ### END SOLUTION"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source, id="c")])
    lines = make_exercise(nb).cells[0].source.splitlines()
    assert lines[1:] == ["    raise NotImplementedError(", f'        "{hint.strip()}"', "    )"]
    ruff = Path(sys.executable).with_name("ruff")
    if ruff.exists():  # the stub is already formatted: `ruff format --check` has nothing to do
        (tmp_path / "stub.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
        config = ROOT / "pyproject.toml"
        done = subprocess.run([ruff, "format", "--check", "--config", config, tmp_path / "stub.py"])
        assert done.returncode == 0


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("### BEGIN SOLUTION\nx = 1", r"nb, cell 0, line 1: `### BEGIN SOLUTION` is never closed"),
        ("x = 1\n### END SOLUTION", r"cell 0, line 2: `### END SOLUTION` without a matching"),
        (
            "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION",
            r"cell 0, line 2: `### BEGIN SOLUTION` inside the `### BEGIN SOLUTION` block opened on line 1",
        ),
        (
            "### EXERCISE: a\n### BEGIN HIDDEN TESTS\nassert 1\n### END SOLUTION",
            r"line 4: `### END SOLUTION` without a matching `### BEGIN SOLUTION` \(the open block is HIDDEN TESTS\)",
        ),
        ("### HINT: use numpy\nx = 1", r"line 1: `### HINT:` belongs inside a solution block"),
        ("### BEGIN HIDDEN TESTS\nassert 1\n### END HIDDEN TESTS", r"cell 0: hidden tests need an `### EXERCISE: <id>`"),
        ("### EXERCISE: a\n### EXERCISE: b", r"cell 0, line 1: one `### EXERCISE:` line per cell"),
    ],
)  # fmt: skip
def test_marker_errors_name_notebook_cell_and_line(source, message):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source, id="c")])
    with pytest.raises(MarkerError, match=message):
        make_exercise(nb, "nb")


def test_markdown_marker_errors_and_duplicate_exercise_ids():
    md = nbformat.v4.new_markdown_cell("Q?\n### END SOLUTION", id="m")
    with pytest.raises(MarkerError, match=r"nb, cell 0, line 2: `### END SOLUTION` without"):
        make_exercise(nbformat.v4.new_notebook(cells=[md]), "nb")
    cells = [nbformat.v4.new_code_cell("### EXERCISE: a\nx = 1", id=i) for i in ("p", "q")]
    with pytest.raises(MarkerError, match=r"cell 1, line 1: exercise id 'a' is used twice"):
        find_exercises(nbformat.v4.new_notebook(cells=cells), "nb")


def test_marker_errors_reach_the_command_line_as_usage_errors(course, capsys):
    solutions, exercises = course
    nb = nbformat.read(solutions / "01_fixture.ipynb", as_version=4)
    nb.cells[3].source = nb.cells[3].source.replace("    ### END SOLUTION", "")
    nbformat.write(nb, solutions / "01_fixture.ipynb")
    argv = ["exercises", "build", "--solutions", str(solutions), "--exercises", str(exercises)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "01_fixture.ipynb, cell 3, line 3: `### BEGIN SOLUTION` is never closed" in err
    assert not exercises.exists()


def test_the_committed_exercises_are_up_to_date():
    """What CI runs: exercises/ must be rebuilt and committed whenever solutions/ changes."""
    stale = build_exercises(ROOT / "solutions", ROOT / "exercises", check=True)
    assert stale == [], f"run `aigc-course exercises build` and commit: {[str(p) for p in stale]}"


# --- every real solutions notebook: the solution passes its checks, the stub does not ---------


def assert_solution_passes_and_exercise_does_not(solution: Path, tmp_path: Path) -> None:
    """Execute ``solution`` and its generated exercise with the grader; every graded cell must
    pass in the solution and none in the untouched exercise. Reusable for any notebook."""
    from aigc_course.grading import grade
    from aigc_course.grading.sandbox import sandbox_available

    graded = find_exercises(read_notebook(solution), str(solution))
    assert graded, (
        f"{solution.name} has no graded cell: add a `### EXERCISE: <id>` line to each cell "
        "that checks an answer (see docs/instructors.md)"
    )
    exercise = tmp_path / "student" / solution.name
    exercise.parent.mkdir()
    exercise.write_text(notebook_text(make_exercise(read_notebook(solution))), encoding="utf-8")
    mode = {} if sandbox_available() else {"unsafe_no_sandbox": True}  # our own notebooks
    report = grade([solution, exercise], solution.parent, timeout=300, jobs=2, **mode)
    by_student = {
        who: {r.exercise: (r.status, r.message) for r in report.results if r.student == who}
        for who in (solution.parent.name, "student")
    }
    for exercise_id, (status, message) in by_student[solution.parent.name].items():
        assert status == "passed", f"solution {solution.name}/{exercise_id}: {status}: {message}"
    assert report.flags == {}, f"honest notebooks flagged: {report.flags}"
    for exercise_id, (status, message) in by_student["student"].items():
        assert (
            status == "not attempted"
        ), f"exercise {solution.name}/{exercise_id}: {status}: {message}"


def test_fixture_solution_passes_and_its_exercise_does_not(tmp_path):
    assert_solution_passes_and_exercise_does_not(FIXTURES / "01_fixture.ipynb", tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(not SOLUTIONS, reason="no solutions/*.ipynb yet")
@pytest.mark.parametrize("solution", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_solution_passes_and_exercise_does_not(solution, tmp_path, monkeypatch):
    monkeypatch.setenv("AIGC_SMOKE", "1")
    assert_solution_passes_and_exercise_does_not(solution, tmp_path)
