"""The runner: executes one submission inside the sandbox, on the grader's orders.

Started by :mod:`aigc_course.grading.session` as ``python -I -c BOOT COMMAND_FD ANSWER_FD``
with two pipes: commands arrive on one and answers leave on the other, one JSON object per
line; the notebook's own output (descriptors 1 and 2) goes to a pipe the grader drains.

1. ``setup`` (before any student code): caps its resources (``setrlimit``), drops root,
   imports the solution's modules and takes the snapshot of :mod:`aigc_course.grading.guard`,
   and arms the audit hook. The key in this message signs every answer (HMAC-SHA256) and is
   kept in :func:`main`'s local variables only.
2. ``cell``: one of the student's cells, through IPython, in the student's world.
3. ``grade``: an exercise's checks (the solution's graded cell and any hidden test), compiled
   here and run in the pristine world on a copy of the student's namespace with the checks'
   own names put back. Only if they raise nothing does the answer carry the exercise's token.
4. ``end``.

Every command gets exactly one answer, signed with the key, so a notebook that writes to the
answer pipe itself is caught. Each command has a time limit (``SIGALRM`` raises
:class:`CellTimeout`); the grader's own watchdog kills the sandbox if that fails.
"""

from __future__ import annotations

import builtins
import gc
import json
import os
import resource
import signal
import sys
from collections.abc import Callable
from typing import Any

#: What the sandbox runs: ``python -I -c BOOT <command fd> <answer fd> <sys.path entries>``.
BOOT = (
    "import sys; fds = [int(a) for a in sys.argv[1:3]]; sys.path[:0] = sys.argv[3:]; "
    "from aigc_course.grading.runner import main; main(*fds)"
)
MESSAGE_LIMIT = 2000  # characters of an error message sent back


class CellTimeout(BaseException):
    """A command ran past its time limit (a BaseException, so `except Exception` cannot hide it)."""


def _no_input(*args: Any, **kwargs: Any) -> str:
    raise RuntimeError("input() cannot be answered while grading: remove it from the notebook")


def _limit(rlimits: dict[str, int], uid: int | None) -> None:
    for name, value in rlimits.items():
        resource.setrlimit(getattr(resource, name), (value, value))
    if uid is not None and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)  # also clears every capability
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: no ptrace, no /proc/pid/mem
    for folder in ("HOME", "TMPDIR"):
        os.makedirs(os.environ[folder], exist_ok=True)


def _shell() -> Any:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    builtins.input = _no_input
    return shell


def _describe(error: BaseException | None, timeout: float) -> dict[str, str] | None:
    """``{"ename", "evalue"}`` of an exception (its ``str`` is student code: run it timed)."""
    if error is None:
        return None
    if isinstance(error, CellTimeout):
        return {"ename": "TimeoutError", "evalue": f"timed out after {round(timeout, 1):g} s"}
    try:
        if isinstance(error, SyntaxError):
            value = f"{error.msg} (line {error.lineno})"
        else:
            value = str(error)
        if isinstance(error, MemoryError) and not value:
            value = "out of memory (the grader caps each notebook's memory)"
    except BaseException:  # noqa: BLE001 - a broken __str__ is the student's
        value = "(the error message could not be printed)"
    return {"ename": type(error).__name__, "evalue": value[:MESSAGE_LIMIT]}


def _run_cell(shell: Any, source: str) -> Callable[[], BaseException | None]:
    def run() -> BaseException | None:
        result = shell.run_cell(source, store_history=False)
        return result.error_before_exec or result.error_in_exec

    return run


def _run_checks(shell: Any, command: dict, preamble_code: Any) -> Callable[[], None]:
    """The exercise's checks on a copy of the student's namespace, with the solution's
    imported names (the checks among them) put back on top."""
    trusted: dict[str, Any] = {"__name__": "__grader__"}
    exec(preamble_code, trusted)
    namespace = dict(shell.user_ns)
    namespace.update(trusted)
    namespace["__builtins__"] = builtins
    checks = compile(command["checks"], f"<checks of exercise {command['exercise']}>", "exec")
    hidden = command.get("hidden")
    test = None
    if hidden:
        module: dict[str, Any] = {"__name__": "hidden_tests", "__builtins__": builtins}
        exec(compile(hidden["source"], hidden["filename"], "exec"), module)
        test = module[hidden["function"]]

    def run() -> None:
        exec(checks, namespace)
        if test is not None:
            code = test.__code__
            wanted = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
            missing = [name for name in wanted if name not in shell.user_ns]
            if missing:
                raise NameError(f"the hidden test needs `{missing[0]}`, which the notebook lacks")
            test(**{name: shell.user_ns[name] for name in wanted})

    return run


def _timer(describe: Callable, all_signals: set) -> Callable:
    """``timed(run, timeout) -> (failed, description)``: run student code with signals
    unblocked, the garbage collector on and an alarm set. Built at start-up from captured
    references, because it runs right after student code that may have patched anything."""
    install, setitimer, sigmask, ignore = (
        signal.signal,
        signal.setitimer,
        signal.pthread_sigmask,
        signal.SIG_IGN,
    )
    alarm_signal, real, setmask, gc_on, gc_off = (
        signal.SIGALRM,
        signal.ITIMER_REAL,
        signal.SIG_SETMASK,
        gc.enable,
        gc.disable,
    )
    timeout_type, nothing = CellTimeout, set()

    def alarm(signum: int, frame: Any) -> None:
        raise timeout_type

    def timed(run: Callable[[], BaseException | None], timeout: float) -> tuple[bool, Any]:
        failed, described = True, None
        install(alarm_signal, alarm)
        gc_on()
        setitimer(real, timeout if timeout > 0.01 else 0.01, 1.0)
        sigmask(setmask, nothing)
        try:
            try:
                error = run()
            except BaseException as err:  # noqa: BLE001 - whatever the student raised
                error = err
            failed = error is not None
            described = describe(error, timeout)
        except timeout_type:
            described = describe(timeout_type(), timeout)
        finally:
            sigmask(setmask, all_signals)
            setitimer(real, 0)
            install(alarm_signal, ignore)  # an alarm still pending is dropped
            gc_off()
        return failed, described

    return timed


def main(command_fd: int, answer_fd: int) -> None:
    """Serve the grader until ``end`` (see the module docstring)."""
    import _hashlib
    from json.decoder import JSONDecoder
    from json.scanner import c_make_scanner

    parse, read, write, buffer = c_make_scanner(JSONDecoder()), os.read, os.write, [b""]

    def read_command() -> dict:
        while b"\n" not in buffer[0]:
            chunk = read(command_fd, 1 << 20)
            if not chunk:
                raise SystemExit(0)  # the grader went away
            buffer[0] += chunk
        line, buffer[0] = buffer[0].split(b"\n", 1)
        return parse(line.decode(), 0)[0]

    setup = read_command()
    sign, key = _hashlib.hmac_digest, bytes.fromhex(setup["key"])

    def answer(message: dict) -> None:
        body = json.dumps(message, ensure_ascii=True).encode()
        line = body + b"\t" + sign(key, body, "sha256").hex().encode() + b"\n"
        while line:
            line = line[write(answer_fd, line) :]

    for fd in (command_fd, answer_fd):
        os.set_inheritable(fd, False)
    _limit(setup["rlimits"], setup.get("uid"))
    from aigc_course.grading import guard

    guard.run_preamble(setup["preamble"])
    preamble_code = compile(setup["preamble"], "<solution preamble>", "exec")
    shell = _shell()
    for stream in (sys.stdout, sys.stderr):  # the grader keeps the end of it: keep it flowing
        stream.reconfigure(line_buffering=True)
    all_signals = signal.valid_signals()
    signal.pthread_sigmask(signal.SIG_SETMASK, all_signals)
    gc.disable()
    timed = _timer(_describe, all_signals)
    to_pristine, protected = guard.take_snapshot()
    arm = guard.install_audit_hook(protected)
    answer({"ready": True, "python": sys.version.split()[0]})
    arm()
    student_world: Callable[[], None] = lambda: None  # noqa: E731 - nothing swapped yet
    while True:
        command = read_command()
        seq, op, limit = command["seq"], command["op"], command.get("timeout", 0)
        if op == "end":
            answer({"seq": seq})
            return
        failed, error, part = False, None, "answer"
        source = command["source"] if op == "cell" else command.get("student")
        if source is not None and (op == "cell" or source.strip()):
            student_world()
            failed, error = timed(_run_cell(shell, source), limit)
            student_world = to_pristine(full=False)
        if op == "cell":
            answer({"seq": seq, "error": error})
            continue
        if not failed:  # op == "grade": the checks, in the pristine world
            part, back = "checks", to_pristine()
            try:
                run = _run_checks(shell, command, preamble_code)
            except BaseException as err:  # noqa: BLE001 - e.g. a syntax error in hidden tests
                failed, error = True, _describe(err, limit)
            else:
                failed, error = timed(run, limit)
            to_pristine(full=False)  # whatever the answer did to the runner's modules meanwhile
            token = None if failed else command["token"]
            answer({"seq": seq, "part": part, "error": error, "passed": not failed, "token": token})
            back()
        else:
            answer({"seq": seq, "part": part, "error": error, "passed": False, "token": None})
