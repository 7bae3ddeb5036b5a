"""The grader: full marks for the solution, zero for the untouched exercise, and every kind of
broken submission graded (not crashed on), without touching the submitted files.

One class of submissions is graded once (a runner per notebook) and shared by the tests. They
run in the sandbox when bubblewrap works here, else unconfined (these notebooks are harmless);
tests/test_grading_hostile.py needs the sandbox.
"""

import hashlib
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from aigc_course import cli
from aigc_course.exercises import make_exercise, notebook_text, read_notebook
from aigc_course.grading import GradeReport, grade, sandbox
from aigc_course.grading.sandbox import sandbox_available

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "tests" / "fixtures" / "exercises" / "solutions"
NAME = "01_fixture.ipynb"
TIMEOUT = 5
#: Sandboxed where possible; the sandbox's own tests are in test_grading_hostile.py.
MODE = {} if sandbox_available() else {"unsafe_no_sandbox": True}
CLI_MODE = [] if sandbox_available() else ["--unsafe-no-sandbox"]


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

    hank = _exercise()  # right numbers, but a float where the hidden test wants an int
    _answer(hank, "ex1-answer", "def relu(x):\n    return np.maximum(x, 0)")
    _answer(hank, "ex2-answer", "total = 55.0")
    opened = [f"[hint {n}/3 · relu]\nsome hint text\n" for n in (1, 2)]  # as hint() prints
    next(c for c in hank.cells if c.id == "ex1-answer").outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=text) for text in opened
    ]
    _write(folder / "hank.ipynb", hank)


HIDDEN_TESTS = """
def test_total(total):
    assert isinstance(total, int), "total must be a whole number (an int)"
"""


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
    hidden = tmp_path_factory.mktemp("hidden")  # the instructor's own, outside the repository
    (hidden / "01_fixture.py").write_text(HIDDEN_TESTS, encoding="utf-8")
    seen = []  # (done, total, students in the JSON file at that moment), per notebook graded

    def progress(done, total, student, rows, seconds):
        in_file = json.loads(out.read_text(encoding="utf-8"))["students"]
        seen.append((done, total, student, len(in_file), student in in_file))

    report = grade(
        folder,
        SOLUTIONS,
        timeout=TIMEOUT,
        json_out=out,
        jobs=2,
        hidden_tests=hidden,
        progress=progress,
        **MODE,
    )
    return report, out, before, _hashes(folder), seen


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
    message = "SyntaxError: expected ':' (line 1) (in an earlier cell: cell 4 `def relu(x)`)"
    assert status["relu"] == ("error", message)
    assert status["total"] == ("passed", "")


def test_infinite_loop_times_out(graded):
    status = _status(graded[0], "eve")
    message = f"timed out after {TIMEOUT} s (in an earlier cell: cell 7 `while True:`)"
    assert status["total"] == ("error", message)
    assert status["relu"] == ("passed", "")  # cells before the loop still count


def test_deleted_cell_is_missing(graded):
    status = _status(graded[0], "frank")
    assert status["total"][0] == "missing" and status["relu"] == ("passed", "")


def test_invalid_notebook_is_reported(graded):
    status = _status(graded[0], "grace")
    assert set(status) == {"-"}
    assert status["-"][0] == "error" and status["-"][1].startswith("not a valid notebook")


def test_hidden_tests_from_the_instructors_folder_run_after_the_checks(graded):
    status = _status(graded[0], "hank")
    assert status == {
        "relu": ("passed", ""),
        "total": ("failed", "total must be a whole number (an int)"),
    }


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"02_other.py": ""}, r"02_other.py: no solutions notebook 02_other.ipynb"),
        ({"01_fixture.py": "def test_sum(total): pass"}, r"test_sum matches no exercise .*relu, test_total"),
        ({"01_fixture.py": "def test_total(:"}, r"01_fixture.py, line 1: "),
        ({}, r"no hidden tests \(\*.py\) in"),
    ],
)  # fmt: skip
def test_hidden_tests_folder_errors_are_usage_errors(tmp_path, capsys, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    argv = ["grade", str(SOLUTIONS), "--solutions", str(SOLUTIONS), "--hidden-tests", str(tmp_path)]
    assert cli.main([*argv, *CLI_MODE]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_progress_and_the_json_file_follow_every_notebook(graded):
    seen = graded[4]
    assert [(done, total) for done, total, *_ in seen] == [(n, 8) for n in range(1, 9)]
    assert all(in_file == done and present for done, _, _, in_file, present in seen)


def test_ordinary_mistakes_are_not_flagged(graded):
    assert graded[0].flags == {}  # flags are for code that reaches for the grader's machinery


def test_submissions_are_never_modified(graded):
    _, _, before, after, _ = graded
    assert before == after  # same files, same bytes: nothing written next to them (scratch.txt)


def test_json_report_matches_the_table(graded):
    report, out, _, _, _ = graded
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data == report.to_dict()
    assert data["students"]["alice"]["points"] == 3.0
    assert data["students"]["eve"]["results"][1]["status"] == "error"
    table = report.table().splitlines()
    head = ["student", "notebook", "exercise", "status", "points", "hints", "message"]
    assert table[0].split() == head
    assert any(line.split()[:6] == ["carol", NAME, "relu", "failed", "0/1", "0"] for line in table)
    assert table[-1].split() == ["hank", "total", "1/3", "2"]


def test_hints_opened_are_read_from_the_notebook(graded):
    report, out, _, _, _ = graded
    hank = json.loads(out.read_text(encoding="utf-8"))["students"]["hank"]["results"]
    assert {r["exercise"]: r["hints"] for r in hank} == {"relu": 2, "total": 0}
    assert all(r.hints == 0 for r in report.results if r.student == "alice")


def test_overall_time_limit_stops_a_slow_notebook(tmp_path):
    nb = _exercise()
    _answer(nb, "ex1-answer", "def relu(x):\n    return np.maximum(x, 0)")
    _answer(nb, "ex2-answer", "import time\n\ntime.sleep(60)\ntotal = 55")
    _write(tmp_path / "slow.ipynb", nb)
    report = grade(tmp_path / "slow.ipynb", SOLUTIONS, timeout=30, total_timeout=6, **MODE)
    status = _status(report, "slow")
    assert status["relu"] == ("passed", "")
    assert status["total"][0] == "error"
    assert status["total"][1].startswith("timed out after") and "earlier cell" in status["total"][1]


def test_cli_prints_the_table_and_exits_zero_even_for_failing_students(tmp_path, capsys):
    _write(tmp_path / "bob.ipynb", _exercise())
    argv = ["grade", str(tmp_path / "bob.ipynb"), "--solutions", str(SOLUTIONS), "--timeout", "30"]
    argv += CLI_MODE
    assert cli.main([*argv, "--json", str(tmp_path / "g.json")]) == 0
    captured = capsys.readouterr()
    assert "bob      total" in captured.out and "0/3" in captured.out
    assert "[1/1] bob  01_fixture.ipynb  0/3" in captured.err  # progress, as it goes
    assert json.loads((tmp_path / "g.json").read_text())["students"]["bob"]["points"] == 0


def test_cli_usage_errors_exit_non_zero(tmp_path, capsys):
    assert cli.main(["grade", str(tmp_path / "nope.ipynb"), "--solutions", str(SOLUTIONS)]) == 2
    assert "no such notebook or folder" in capsys.readouterr().err
    assert cli.main(["grade", str(SOLUTIONS), "--solutions", str(tmp_path / "none")]) == 2
    assert "no solutions folder" in capsys.readouterr().err
    assert cli.main(["grade", str(SOLUTIONS), "--timeout", "0", "--solutions", str(SOLUTIONS)]) == 2
    assert cli.main(["grade", str(SOLUTIONS), "--jobs", "0", "--solutions", str(SOLUTIONS)]) == 2


@pytest.mark.parametrize(
    ("patch", "reason"),
    [
        (("shutil", "which", lambda name: None), "bubblewrap (bwrap) is not installed"),
        (("platform", "system", lambda: "Darwin"), "there is no sandbox for Darwin"),
    ],
)
def test_without_a_sandbox_grading_refuses_unless_told(capsys, monkeypatch, patch, reason):
    module, name, fake = patch
    monkeypatch.setattr(getattr(sandbox, module), name, fake)
    sandbox._probe.cache_clear()
    try:
        argv = ["grade", str(SOLUTIONS / NAME), "--solutions", str(SOLUTIONS), "--timeout", "30"]
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert f"error: no sandbox: {reason}" in err and "--unsafe-no-sandbox" in err
        assert cli.main([*argv, "--unsafe-no-sandbox"]) == 0
        captured = capsys.readouterr()
        assert "WARNING: grading WITHOUT a sandbox" in captured.err
        assert "solutions  total" in captured.out and "3/3" in captured.out
    finally:
        monkeypatch.undo()
        sandbox._probe.cache_clear()


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
    report = grade(tmp_path / "class", tmp_path / "solutions", timeout=30, **MODE)
    assert _status(report, "kim") == {"even": ("passed", "")}
    assert _status(report, "lee") == {"even": ("failed", "y must be even")}
    assert _status(report, "max") == {"even": ("not attempted", "")}
    assert report.totals() == {"kim": (2, 2), "lee": (0, 2), "max": (0, 2)}


def test_notebooks_graded_in_parallel_are_parsed_one_at_a_time(monkeypatch):
    """grade() reads notebooks in threads; CPython 3.11's AST constructor fails when two threads
    build trees at once (CPython issue 106905, seen once in CI). Every parse the grading threads
    make goes through one lock: a slow ``ast.parse`` never sees a second caller inside."""
    import ast
    import threading
    import time

    from aigc_course.grading import flags

    real_parse, inside, most = ast.parse, [0], [0]
    count = threading.Lock()

    def slow_parse(*args, **kwargs):
        with count:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.01)
        try:
            return real_parse(*args, **kwargs)
        finally:
            with count:
                inside[0] -= 1

    monkeypatch.setattr(ast, "parse", slow_parse)
    nb, template = read_notebook(SOLUTIONS / NAME), _exercise()
    threads = [
        threading.Thread(target=flags.suspicious_lines, args=(nb, template)) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1, f"{most[0]} threads were inside ast.parse at once"
