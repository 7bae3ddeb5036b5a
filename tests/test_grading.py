"""The grader: full marks for the solution, zero for the untouched exercise, and every kind of
broken submission graded (not crashed on), without touching the submitted files.

One class of submissions is graded once (a kernel per notebook) and shared by the tests.
"""

import hashlib
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from aigc_course import cli
from aigc_course.exercises import make_exercise, notebook_text, read_notebook
from aigc_course.grading import GradeReport, grade

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "tests" / "fixtures" / "exercises" / "solutions"
NAME = "01_fixture.ipynb"
TIMEOUT = 5


def _exercise() -> nbformat.NotebookNode:
    return make_exercise(read_notebook(SOLUTIONS / NAME))


def _answer(nb, cell_id: str, source: str) -> None:
    next(c for c in nb.cells if c.id == cell_id).source = source


def _write(path: Path, nb) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(notebook_text(nb), encoding="utf-8")


def _class(folder: Path) -> None:
    """One submission per case: a folder per student, or a file named after the student."""
    (folder / "alice").mkdir()
    shutil.copy(SOLUTIONS / NAME, folder / "alice" / NAME)  # the solution itself
    _write(folder / "bob" / NAME, _exercise())  # handed in untouched

    carol = _exercise()  # wrong relu; she also "disabled" the visible check; right total
    _answer(carol, "ex1-answer", "def relu(x):\n    return np.abs(x)")
    _answer(carol, "ex1-check", "### EXERCISE: relu\npass")
    _answer(carol, "ex2-answer", "total = 55")
    _write(folder / "carol.ipynb", carol)

    dave = _exercise()  # a syntax error, and a cell that writes a file in its working folder
    _answer(dave, "ex1-answer", "def relu(x)\n    return x")
    _answer(dave, "ex2-answer", "open('scratch.txt', 'w').write('x')\ntotal = 55")
    _write(folder / "dave.ipynb", dave)

    eve = _exercise()  # an infinite loop
    _answer(eve, "ex1-answer", "def relu(x):\n    return np.maximum(x, 0)")
    _answer(eve, "ex2-answer", "while True:\n    pass")
    _write(folder / "eve.ipynb", eve)

    frank = _exercise()  # deleted the second exercise's cell
    _answer(frank, "ex1-answer", "def relu(x):\n    return np.maximum(x, 0)")
    frank.cells = [c for c in frank.cells if c.id != "ex2-check"]
    _write(folder / "frank.ipynb", frank)

    (folder / "grace.ipynb").write_text('{"cells": [', encoding="utf-8")  # not JSON at all


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    } | {"folders": str(sorted(str(p) for p in folder.rglob("*") if p.is_dir()))}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    _class(folder)
    before = _hashes(folder)
    out = tmp_path_factory.mktemp("out") / "grades.json"
    report = grade(folder, SOLUTIONS, timeout=TIMEOUT, json_out=out)
    return report, out, before, _hashes(folder)


def _status(report: GradeReport, student: str) -> dict[str, tuple[str, str]]:
    return {r.exercise: (r.status, r.message) for r in report.results if r.student == student}


def test_solution_gets_full_marks_and_untouched_exercise_zero(graded):
    report = graded[0]
    assert _status(report, "alice") == {"relu": ("passed", ""), "total": ("passed", "")}
    assert _status(report, "bob") == {"relu": ("not attempted", ""), "total": ("not attempted", "")}
    totals = report.totals()
    assert totals["alice"] == (3, 3) and totals["bob"] == (0, 3)


def test_wrong_answer_fails_even_if_the_visible_check_was_removed(graded):
    status = _status(graded[0], "carol")
    assert status["relu"][0] == "failed"
    # the visible check runs from the solution's copy of the cell, whatever she did to hers
    assert status["relu"][1].startswith("relu([-1, 0, 2]): 1 of 3 values differ")
    assert status["total"] == ("passed", "")
    assert graded[0].totals()["carol"] == (2, 3)


def test_syntax_error_is_an_error_not_a_crash(graded):
    status = _status(graded[0], "dave")
    assert status["relu"] == ("error", "SyntaxError: expected ':' (line 1) (in an earlier cell)")
    assert status["total"] == ("passed", "")


def test_infinite_loop_times_out(graded):
    status = _status(graded[0], "eve")
    assert status["total"] == ("error", f"timed out after {TIMEOUT} s (in an earlier cell)")
    assert status["relu"] == ("passed", "")  # cells before the loop still count


def test_deleted_cell_is_missing(graded):
    status = _status(graded[0], "frank")
    assert status["total"][0] == "missing" and status["relu"] == ("passed", "")


def test_invalid_notebook_is_reported(graded):
    status = _status(graded[0], "grace")
    assert set(status) == {"-"}
    assert status["-"][0] == "error" and status["-"][1].startswith("not a valid notebook")


def test_submissions_are_never_modified(graded):
    _, _, before, after = graded
    assert before == after  # same files, same bytes: nothing written next to them (scratch.txt)


def test_json_report_matches_the_table(graded):
    report, out, _, _ = graded
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data == report.to_dict()
    assert data["students"]["alice"]["points"] == 3.0
    assert data["students"]["eve"]["results"][1]["status"] == "error"
    table = report.table().splitlines()
    assert table[0].split() == ["student", "notebook", "exercise", "status", "points", "message"]
    assert any(line.split()[:5] == ["carol", NAME, "relu", "failed", "0/1"] for line in table)
    assert table[-1].split() == ["grace", "total", "0/0"]


def test_overall_time_limit_stops_a_slow_notebook(tmp_path):
    nb = _exercise()
    _answer(nb, "ex1-answer", "def relu(x):\n    return np.maximum(x, 0)")
    _answer(nb, "ex2-answer", "import time\n\ntime.sleep(60)\ntotal = 55")
    _write(tmp_path / "slow.ipynb", nb)
    report = grade(tmp_path / "slow.ipynb", SOLUTIONS, timeout=30, total_timeout=6)
    status = _status(report, "slow")
    assert status["relu"] == ("passed", "")
    assert status["total"][0] == "error"
    assert status["total"][1].startswith("timed out after") and "earlier cell" in status["total"][1]


def test_cli_prints_the_table_and_exits_zero_even_for_failing_students(tmp_path, capsys):
    _write(tmp_path / "bob.ipynb", _exercise())
    argv = ["grade", str(tmp_path / "bob.ipynb"), "--solutions", str(SOLUTIONS), "--timeout", "30"]
    assert cli.main([*argv, "--json", str(tmp_path / "g.json")]) == 0
    out = capsys.readouterr().out
    assert "bob      total" in out and "0/3" in out
    assert json.loads((tmp_path / "g.json").read_text())["students"]["bob"]["points"] == 0


def test_cli_usage_errors_exit_non_zero(tmp_path, capsys):
    assert cli.main(["grade", str(tmp_path / "nope.ipynb"), "--solutions", str(SOLUTIONS)]) == 2
    assert "no such notebook or folder" in capsys.readouterr().err
    assert cli.main(["grade", str(SOLUTIONS), "--solutions", str(tmp_path / "none")]) == 2
    assert "no solutions folder" in capsys.readouterr().err
    assert cli.main(["grade", str(SOLUTIONS), "--timeout", "0", "--solutions", str(SOLUTIONS)]) == 2


def test_importing_the_grader_does_not_import_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys, aigc_course.grading, aigc_course.exercises; print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_answer_and_checks_in_one_graded_cell(tmp_path):
    """The student's answer is kept; the hidden tests go back at their placeholder (or at the
    end if the student deleted it)."""
    source = (
        "### EXERCISE: even (2 points)\n### BEGIN SOLUTION\ny = 4\n### END SOLUTION\n"
        "assert y > 0\n### BEGIN HIDDEN TESTS\nassert y % 2 == 0, 'y must be even'\n"
        "### END HIDDEN TESTS"
    )
    solution = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source, id="even")])
    _write(tmp_path / "solutions" / "05_one_cell.ipynb", solution)
    exercise = make_exercise(read_notebook(tmp_path / "solutions" / "05_one_cell.ipynb"))
    stub = exercise.cells[0].source
    for student, answer in [
        (
            "kim",
            stub.replace('raise NotImplementedError("replace this line with your code")', "y = 8"),
        ),
        ("lee", "### EXERCISE: even (2 points)\ny = 5"),  # placeholder and visible check deleted
        ("max", stub),
    ]:
        exercise.cells[0].source = answer
        _write(tmp_path / "class" / student / "05_one_cell.ipynb", exercise)
    report = grade(tmp_path / "class", tmp_path / "solutions", timeout=30)
    assert _status(report, "kim") == {"even": ("passed", "")}
    assert _status(report, "lee") == {"even": ("failed", "y must be even")}
    assert _status(report, "max") == {"even": ("not attempted", "")}
    assert report.totals() == {"kim": (2, 2), "lee": (0, 2), "max": (0, 2)}
