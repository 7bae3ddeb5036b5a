"""A hostile class: every attack on the grader we know of, each with the score it must get.

One class of submissions (on the fixture's two exercises) is graded once, two at a time, and
shared by the tests. Every test also relies on :func:`hostile`'s own checks: no file outside
the sandbox changed (hashes before and after), no process outlived grading, the grader
finished. The cheats answer wrongly or not at all and must score 0; the vandals answer
correctly, so their full marks show that their attacks changed nothing.

Needs bubblewrap; CI sets AIGC_REQUIRE_SANDBOX=1 so that these tests cannot skip there.
"""

import hashlib
import json
import os
import tempfile
import textwrap
import uuid
from pathlib import Path

import nbformat
import pytest

from aigc_course.exercises import make_exercise, notebook_text, read_notebook
from aigc_course.grading import grade, plan, session
from aigc_course.grading.sandbox import Limits, sandbox_available

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "tests" / "fixtures" / "exercises" / "solutions"
NAME = "01_fixture.ipynb"
MARK = uuid.uuid4().hex[:8]  # in every file name and process the attacks leave behind
RELU = "def relu(x):\n    return np.maximum(x, 0)"
TOTAL = "total = 55"
WRONG = {"ex1-answer": "def relu(x):\n    return x", "ex2-answer": "total = 54"}
RIGHT = {"ex1-answer": RELU, "ex2-answer": TOTAL}

if not sandbox_available():
    if os.environ.get("AIGC_REQUIRE_SANDBOX") == "1":
        pytest.fail("bubblewrap cannot build a sandbox here (see aigc_course.grading.sandbox)")
    pytest.skip("bubblewrap cannot build a sandbox here", allow_module_level=True)

#: student -> (answers by cell id, cells inserted before cell ids); "@" = after the setup cell
ATTACKS: dict[str, tuple[dict[str, str], dict[str, str]]] = {}


def attack(name: str, code: str, answers: dict[str, str] = WRONG, before: str = "@") -> None:
    ATTACKS[name] = (answers, {before: textwrap.dedent(code).strip().replace("MARK", MARK)})


# --- cheats: wrong answers that tried to pass anyway (all must score 0) -----------------------
attack("rebinder", "check_relu = lambda *a, **k: None\ncheck_close = check_shape = check_relu")
attack(
    "patcher",  # before the import cell: the checks module itself
    """
    import aigc_course.checks as c
    c.check_close = c.check_shape = lambda *a, **k: None
    c.check = lambda f: (lambda *a, **k: None)
    """,
    before="setup",
)
attack(
    "transformer",  # every later cell wrapped in try/except
    """
    def wrap(lines):
        return ["try:\\n"] + ["    " + line for line in lines] + ["\\nexcept BaseException:\\n    pass\\n"]
    get_ipython().input_transformers_post.append(wrap)
    """,
)
attack(
    "hooks",
    """
    import ast, sys
    class NoCalls(ast.NodeTransformer):
        def visit_Expr(self, node):
            return None if isinstance(node.value, ast.Call) else node
    ip = get_ipython()
    ip.ast_transformers.append(NoCalls())
    ip.set_custom_exc((BaseException,), lambda *a, **k: None)
    ip.events.register("post_run_cell", lambda *a: None)
    sys.excepthook = lambda *a: None
    """,
)
attack(
    "numpy_patcher",
    """
    import numpy
    numpy.isclose = lambda a, b, **k: numpy.ones(numpy.broadcast(a, b).shape, bool)
    numpy.allclose = lambda *a, **k: True
    numpy.ndarray  # (a C type: cannot be patched)
    """,
)
attack("builtins_patcher", "import builtins\nbuiltins.bool = lambda *a: True\nbuiltins.all = bool")
attack(
    "code_swapper",  # refused by the audit hook: the cell errors, the checks stay intact
    """
    import aigc_course.checks as c
    c.check_close.__code__ = (lambda *a, **k: None).__code__
    """,
)
attack(
    "defaults_swapper",  # a tolerance of 1e9 would pass anything
    """
    import aigc_course.checks as c
    c.check_close.__kwdefaults__ = {"atol": 1e9, "rtol": 1e9, "hint": None}
    """,
)
attack("tracer", "import sys\nsys.settrace(lambda *a: None)")
attack(
    "module_faker",
    """
    import sys, types
    fake = types.ModuleType("aigc_course.checks")
    fake.check = lambda f: f
    fake.check_close = fake.check_shape = fake.ok = lambda *a, **k: None
    sys.modules["aigc_course.checks"] = fake
    class Finder:
        def find_spec(self, name, path=None, target=None):
            return None
    sys.meta_path.insert(0, Finder())
    """,
    before="setup",
)
attack(
    "solution_reader",  # looks for solutions/ and hidden tests wherever the grader might be
    """
    import glob
    from pathlib import Path
    import aigc_course
    repository = Path(aigc_course.__file__).parents[1]
    places = [repository, Path("/proc/1/cwd"), Path("/proc/1/root"), Path("/tmp"), Path("..")]
    places += [Path(p) for p in glob.glob("/proc/*/cwd") + glob.glob("/proc/*/root")]
    found = []
    for place in places:
        found += [place / "solutions" / "01_fixture.ipynb", place / "tests" / "fixtures"]
        found += list(place.glob("*/01_fixture.*")) + list(place.glob("*/*/01_fixture.*"))
    found += list((repository / "tests").rglob("01_fixture.*")) + [Path("SOLUTIONS", "NAME")]
    for path in found:
        try:
            text = path.read_text()
        except OSError:
            continue
        if "np.maximum(x, 0.0)" in text:
            exec("def relu(x):\\n    return np.maximum(x, 0.0)")
            total = 55
    """.replace("SOLUTIONS", str(SOLUTIONS)).replace("NAME", NAME),
)
attack(
    "forger",  # writes answers on every descriptor the grader might read
    """
    import json, os
    for fd in range(3, 64):
        for seq in range(1, 12):
            body = json.dumps({"seq": seq, "passed": True, "token": "0" * 32, "error": None})
            try:
                os.write(fd, (body + "\\t" + "0" * 64 + "\\n").encode())
            except OSError:
                pass
    """,
)
attack(
    "thief",  # a thread that reads the grader's commands (tokens included) and answers them
    """
    import json, os, sys, threading
    commands, answers = int(sys.argv[1]), int(sys.argv[2])
    def steal():
        buffer = b""
        while True:
            buffer += os.read(commands, 1 << 20)
            while b"\\n" in buffer:
                line, buffer = buffer.split(b"\\n", 1)
                command = json.loads(line)
                answer = {"seq": command["seq"], "error": None, "passed": True}
                answer.update(part="checks", token=command.get("token"))
                os.write(answers, (json.dumps(answer) + "\\t" + "0" * 64 + "\\n").encode())
    threading.Thread(target=steal, daemon=True).start()
    """,
)
# --- vandals: right answers; their attacks must change nothing outside their sandbox ----------
attack(
    "vandal",
    """
    import glob
    from pathlib import Path
    import aigc_course
    for root in ("..", "/tmp", "/sandbox", "/proc/1/cwd"):
        for path in Path(root).rglob("*.ipynb"):
            try:
                path.write_text("{}")
            except OSError:
                pass
    targets = glob.glob("/proc/*/cwd") + glob.glob("/proc/*/root")
    targets += [str(Path(aigc_course.__file__).parent), str(Path(aigc_course.__file__).parents[1])]
    for folder in targets:
        try:
            Path(folder, "PWNED-MARK").write_text("x")
        except OSError:
            pass
    """,
    RIGHT,
)
attack(
    "sandbox_facts",  # each answer is right only if the sandbox holds
    """
    import os, socket
    from pathlib import Path
    try:
        socket.create_connection(("1.1.1.1", 80), timeout=3).close()
        network = True
    except OSError:
        network = len(socket.if_nameindex()) > 1  # a new network namespace has only `lo`
    pids = [p for p in os.listdir("/proc") if p.isdigit()]
    repository = Path("SOLUTIONS").exists() or Path("ROOT", "solutions").exists()
    try:
        Path("ROOT", "PWNED-MARK").write_text("x")
        writable = True
    except OSError:
        writable = False
    sealed = not network and len(pids) <= 3 and not repository and not writable
    relu = (lambda x: np.maximum(x, 0)) if sealed else (lambda x: x)
    total = 55 if sealed else 0
    """.replace("SOLUTIONS", str(SOLUTIONS)).replace("ROOT", str(ROOT)),
    {"ex1-answer": "", "ex2-answer": ""},
    before="ex1-check",
)
attack(
    "daemon",
    """
    import os, subprocess
    subprocess.Popen(["sleep", "4243.MARK"], start_new_session=True)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execvp("sleep", ["sleep", "4242.MARK"])
        os._exit(0)
    """,
    RIGHT,
)
attack(
    "disk_filler",  # 200 MB fits in the private folder; 1 GB more (in 100 MB files) must not
    """
    chunk = b"x" * (1 << 20)
    with open("/tmp/aigc-hostile-MARK.bin", "wb") as f:
        for _ in range(200):
            f.write(chunk)
    try:
        for n in range(10):
            with open(f"/tmp/aigc-hostile-MARK-{n}.bin", "wb") as f:
                for _ in range(100):
                    f.write(chunk)
        capped = False
    except OSError:
        capped = True
    """,
    {**RIGHT, "ex2-answer": "total = 55 if capped else 0"},
)
attack("printer", 'print("x" * 50_000_000)', RIGHT)
attack(
    "forker",  # forks until the process cap stops it
    """
    import os, time
    capped = False
    for _ in range(600):
        try:
            pid = os.fork()
        except OSError:
            capped = True
            break
        if pid == 0:
            time.sleep(4244)
            os._exit(0)
    """,
    {**RIGHT, "ex2-answer": "total = 55 if capped else 0"},
)
attack("memory_hog", "", {**RIGHT, "ex2-answer": f"hog = np.empty(6 * 1024**3, np.uint8)\n{TOTAL}"})
attack("asker", "", {**RIGHT, "ex2-answer": f"name = input('your name? ')\n{TOTAL}"})
attack(
    "killer",  # kills its parent, its process group, every process it can see
    """
    import os, signal
    for pid in [os.environ.get("JPY_PARENT_PID"), os.getppid(), 1]:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (TypeError, ValueError, OSError):
            pass
    os.killpg(0, signal.SIGKILL)
    """,
    RIGHT,
    before="ex2-answer",
)
attack("quitter", "import os\nos._exit(0)", RIGHT, before="ex2-answer")


def _notebook(answers: dict[str, str], inserted: dict[str, str]) -> nbformat.NotebookNode:
    nb = make_exercise(read_notebook(SOLUTIONS / NAME))
    for cell in nb.cells:
        if cell.id in answers:
            cell.source = answers[cell.id]
    for where, code in inserted.items():
        ids = [c.id for c in nb.cells]
        at = ids.index("setup") + 1 if where == "@" else ids.index(where)
        nb.cells.insert(at, nbformat.v4.new_code_cell(code, id=f"attack-{at}"))
    return nb


def _hashes(*folders: Path) -> dict[str, str]:
    found = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _ours_or_orphaned(pid: int) -> bool:
    """A process this test started (at any depth), or one whose parent died (adopted by init or
    a subreaper with no live grader above it): not a runner of a grader another test is running
    at the same time on the machine (the suite runs on two workers)."""
    parent = _parent(pid)
    if parent in (0, 1):
        return True
    while pid > 1:
        pid = _parent(pid)
        if pid == os.getpid():
            return True
    return False


def _processes_with(text: str, anywhere: bool = True) -> list[str]:
    """Processes whose command line holds ``text``: on the whole machine, or with
    ``anywhere=False`` only those :func:`_ours_or_orphaned` (for text that is not unique to
    this test, like the runner's command)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in command and (anywhere or _ours_or_orphaned(int(entry.name))):
            found.append(f"{entry.name}: {command}")
    return found


def _children() -> list[str]:
    mine = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            mine.append(entry.name)
    return mine


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Grade the class (with hidden tests) and check the machine afterwards."""
    folder = tmp_path_factory.mktemp("class")
    for student, (answers, inserted) in ATTACKS.items():
        (folder / f"{student}.ipynb").write_text(notebook_text(_notebook(answers, inserted)))
    hidden = tmp_path_factory.mktemp("hidden")
    (hidden / "01_fixture.py").write_text(
        "from aigc_course.checks import check_close\n\n\n"
        "def test_relu(relu):\n    check_close('relu(-7)', relu(-7.0), 0.0)\n"
    )
    canary = Path(tempfile.mkdtemp(prefix=f"aigc-hostile-canary-{MARK}-"))
    (canary / "victim.ipynb").write_text('{"precious": true}')
    watched = [ROOT / d for d in ("aigc_course", "solutions", "exercises", "notebooks")]
    watched += [SOLUTIONS, folder, hidden, canary]
    before = _hashes(*watched)
    out = tmp_path_factory.mktemp("out") / "grades.json"
    report = grade(folder, SOLUTIONS, timeout=60, json_out=out, hidden_tests=hidden, jobs=2)
    after = _hashes(*watched)
    leftovers = {m: _processes_with(m) for m in (f"4242.{MARK}", f"4243.{MARK}")}
    runner = "aigc_course.grading.runner import main"
    leftovers[runner] = _processes_with(runner, anywhere=False)
    left_files = [str(p) for p in Path(tempfile.gettempdir()).glob(f"aigc-hostile-{MARK}*")]
    left_files += [str(p) for p in ROOT.rglob(f"PWNED-{MARK}")]
    yield report, before, after, leftovers, left_files, out
    for path in canary.iterdir():
        path.unlink()
    canary.rmdir()


def _scores(report) -> dict[str, dict[str, tuple[str, str]]]:
    rows: dict[str, dict[str, tuple[str, str]]] = {}
    for r in report.results:
        rows.setdefault(r.student, {})[r.exercise] = (r.status, r.message)
    return rows


def test_every_submission_was_graded(hostile):
    report, *_ = hostile
    assert set(_scores(report)) == set(ATTACKS)


def test_no_file_outside_the_sandboxes_changed(hostile):
    _, before, after, _, left_files, _ = hostile
    assert before == after
    assert left_files == []


def test_no_process_outlived_grading(hostile):
    assert hostile[3] == {m: [] for m in hostile[3]}
    assert _children() == []


CHEATS = [
    "rebinder",
    "patcher",
    "transformer",
    "hooks",
    "numpy_patcher",
    "builtins_patcher",
    "code_swapper",
    "defaults_swapper",
    "tracer",
    "module_faker",
    "solution_reader",
]


@pytest.mark.parametrize("student", CHEATS)
def test_cheats_score_zero(hostile, student):
    report = hostile[0]
    assert report.totals()[student] == (0, 3), _scores(report)[student]


def test_refused_tricks_say_why(hostile):
    scores = _scores(hostile[0])
    for student in ("code_swapper", "defaults_swapper", "tracer"):
        assert "not allowed while grading" in scores[student]["relu"][1], scores[student]


@pytest.mark.parametrize("student", ["forger", "thief"])
def test_a_forged_answer_voids_the_notebook_and_is_flagged(hostile, student):
    report = hostile[0]
    assert report.totals()[student] == (0, 3)
    assert any("tampered with the grader" in f for f in report.flags[student])


def test_only_the_forgers_are_flagged_as_tampering(hostile):
    flags = hostile[0].flags
    tampering = {s for s, notes in flags.items() if any("tampered" in n for n in notes)}
    assert tampering == {"forger", "thief"}


@pytest.mark.parametrize("student", CHEATS)
def test_cheats_are_flagged_for_the_instructor(hostile, student):
    assert hostile[0].flags.get(student), f"{student} is not flagged"


@pytest.mark.parametrize("student", ["vandal", "sandbox_facts", "daemon", "disk_filler", "printer", "forker"])  # fmt: skip
def test_vandals_attacks_change_nothing_so_their_right_answers_pass(hostile, student):
    assert hostile[0].totals()[student] == (3, 3), _scores(hostile[0])[student]


def test_a_process_that_dies_is_reported_and_the_class_goes_on(hostile):
    scores = _scores(hostile[0])
    for student in ("killer", "quitter"):
        assert scores[student]["relu"] == ("passed", "")
        status, message = scores[student]["total"]
        assert status == "error" and "process" in message and "died" in message, message


def test_memory_and_input_are_errors_in_their_cell(hostile):
    scores = _scores(hostile[0])
    assert scores["memory_hog"]["relu"] == ("passed", "")
    message = scores["memory_hog"]["total"][1]
    assert (
        message.startswith("MemoryError")
        and "cell 8 `hog = np.empty(6 * 1024**3, np.uint8)`" in message
    )
    assert scores["asker"]["total"][1].startswith("RuntimeError: input() cannot be answered")


def test_hidden_tests_ran(hostile):
    scores = _scores(hostile[0])
    assert scores["vandal"]["relu"] == ("passed", "")  # right relu passes the hidden test too
    data = json.loads(hostile[5].read_text())
    assert data["students"]["forger"]["flags"] and data["students"]["vandal"]["points"] == 3


def _run_alone(tmp_path, answers, inserted, **config):
    """Run one submission through the session directly (for limits the class does not use)."""
    nb = _notebook(answers, {k: textwrap.dedent(v).strip() for k, v in inserted.items()})
    copy = tmp_path / "submission.ipynb"
    copy.write_text(notebook_text(nb))
    copy.chmod(0o644)
    tmp_path.chmod(0o755)
    solution = plan.load_solutions(SOLUTIONS)[NAME]
    steps, _ = plan.plan(nb, solution)
    runners = []
    original = session._Runner.close

    def close(runner):
        original(runner)
        runners.append(runner)

    session._Runner.close = close
    try:
        run = session.RunConfig(secrets=(SOLUTIONS,), **config)
        outcomes, _ = session.run(copy, steps, solution.preamble, run)
    finally:
        session._Runner.close = original
    graded = {s.exercise.id: o for s, o in zip(steps, outcomes, strict=True) if s.exercise}
    return graded, runners[0]


def test_a_notebook_that_ignores_its_alarm_is_killed_with_everything_it_started(tmp_path):
    immortal = """
    import signal, subprocess
    subprocess.Popen(["sleep", "4245.MARK"])
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    while True:
        pass
    """.replace("MARK", MARK)
    graded, _ = _run_alone(tmp_path, RIGHT, {"ex2-answer": immortal}, timeout=2, grace=2)
    assert graded["relu"].passed
    assert graded["total"].not_run.startswith("not run: the notebook's process ended")
    assert _processes_with(f"4245.{MARK}") == [] and _children() == []


def test_the_grader_keeps_only_the_end_of_a_flood_of_output(tmp_path):
    flood = 'print("x" * 20_000_000, flush=True)\nprint("the end")'
    graded, runner = _run_alone(tmp_path, RIGHT, {"@": flood}, limits=Limits(output_kb=16))
    assert graded["relu"].passed and graded["total"].passed
    kept = b"".join(runner.output)
    assert len(kept) <= 16 * 1024 + (1 << 16) and b"x\nthe end\n" in kept


def test_the_issues_chapter_04_cheats_score_zero(tmp_path):
    """Chapter 04's real checks module, patched before its import cell or rebound after it,
    with a wrong optimal_d (the cheats of issue 16, on the cells of solutions/04)."""
    real = read_notebook(ROOT / "solutions" / "04_gan_objective.ipynb")
    cells = {c.id: c for c in real.cells}
    imports = (
        "import numpy as np\n\nfrom aigc_course.checks.ch04 import check_optimal_discriminator"
    )
    solution = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(imports, id="imports"), cells["ch04-06"], cells["ch04-07"]]
    )
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "04_gan_objective.ipynb").write_text(notebook_text(solution))
    wrong = "def optimal_d(p_data, p_g):\n    return p_data"
    patch = (
        "import aigc_course.checks.ch04 as ch04\n"
        "ch04.check_optimal_discriminator = lambda *a, **k: None"
    )
    rebind = "check_optimal_discriminator = lambda *a, **k: None"
    for student, before, after in [("patched", patch, ""), ("rebound", "", rebind)]:
        nb = make_exercise(solution)
        nb.cells[1].source = wrong
        nb.cells.insert(1, nbformat.v4.new_code_cell(after, id="after-import"))
        nb.cells.insert(0, nbformat.v4.new_code_cell(before, id="before-import"))
        (tmp_path / "class" / student).mkdir(parents=True)
        (tmp_path / "class" / student / "04_gan_objective.ipynb").write_text(notebook_text(nb))
    report = grade(tmp_path / "class", tmp_path / "solutions", timeout=120, jobs=2)
    assert report.totals() == {"patched": (0, 1), "rebound": (0, 1)}, report.table()
    assert all(r.status == "failed" for r in report.results), report.table()
