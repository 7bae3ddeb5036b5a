"""The grader's side of one submission's run: start the runner (sandboxed), send it the plan's
steps one by one, check every answer, and end the whole process tree whatever happens.

An answer counts only if it carries a valid HMAC made with this run's key (known to the
runner's start-up code, never written anywhere the notebook can read), answers the command
just sent, and — for an exercise that passed — echoes that exercise's random token. Anything
else on the answer pipe means the notebook wrote there itself: the run is stopped and
reported as tampering. The grader also keeps its own clock for every step (the runner's alarm
plus ``RunConfig.grace`` seconds): a runner that does not answer in time is killed.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from aigc_course.grading import runner, sandbox
from aigc_course.grading.plan import Step

STARTUP_LIMIT = 300.0  # seconds for the runner to import the course and TensorFlow
ANSWER_LIMIT = 4 << 20  # bytes of one answer line; more is garbage


class Tampered(Exception):
    """The answer pipe carried something the runner did not send."""


@dataclass
class Outcome:
    """What happened to one step: its error, whether an exercise's checks passed, or why it
    never ran."""

    error: dict | None = None  # {"ename", "evalue"}
    passed: bool = False
    part: str = ""  # for exercises: "answer" (the student's part of the cell) or "checks"
    not_run: str = ""


@dataclass(frozen=True)
class RunConfig:
    """How to run submissions: limits, sandbox or not, and what the sandbox must not see."""

    timeout: float = 120
    total_timeout: float = 1200
    sandboxed: bool = True
    limits: sandbox.Limits = sandbox.Limits()
    secrets: tuple[Path, ...] = ()
    grace: float = 10.0  # seconds the grader waits beyond a step's own time limit


class _Runner:
    """A started runner process and its three pipes."""

    def __init__(self, notebook: Path, config: RunConfig, slot: int) -> None:
        self.key = secrets.token_bytes(32)
        command_r, self.command_w = os.pipe()
        self.answer_r, answer_w = os.pipe()
        output_r, output_w = os.pipe()
        paths = sandbox.python_path()
        boot = [sys.executable, "-I", "-c", runner.BOOT, str(command_r), str(answer_w), *paths]
        self.sandboxed = config.sandboxed
        if config.sandboxed:
            prefix = sandbox.bwrap_command(notebook, list(config.secrets), config.limits.disk_mb)
            cwd, env = None, None
            self.uid = sandbox.ROOT_UID_BASE + slot if os.geteuid() == 0 else None
        else:
            prefix, cwd = [], notebook.parent
            env = sandbox.runner_env(notebook.parent / "home", notebook.parent / "tmp")
            self.uid = None
        try:
            self.process = subprocess.Popen(
                [*prefix, *boot],
                stdin=subprocess.DEVNULL,
                stdout=output_w,
                stderr=output_w,
                pass_fds=(command_r, answer_w),
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        except BaseException:
            for fd in (self.command_w, self.answer_r, output_r):
                os.close(fd)
            raise
        finally:
            for fd in (command_r, answer_w, output_w):
                os.close(fd)
        self.output: deque[bytes] = deque()
        self.drain = threading.Thread(target=self._drain, args=(output_r, config), daemon=True)
        self.drain.start()
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.answer_r, selectors.EVENT_READ)
        self.buffer = b""
        self.seq = 0
        self.closed = False  # the runner closed its end of the answer pipe: it is gone

    def _drain(self, fd: int, config: RunConfig) -> None:
        """Read the notebook's own output to the end, keeping only its last bytes."""
        kept, cap = 0, config.limits.output_kb * 1024
        with os.fdopen(fd, "rb", buffering=0) as pipe:
            while chunk := pipe.read(1 << 16):
                self.output.append(chunk)
                kept += len(chunk)
                while kept - len(self.output[0]) >= cap:
                    kept -= len(self.output.popleft())

    def send(self, message: dict) -> None:
        data = (json.dumps(message) + "\n").encode()
        try:
            while data:
                data = data[os.write(self.command_w, data) :]
        except BrokenPipeError:
            pass  # the runner is gone: receive() reports how it ended

    def receive(self, limit: float) -> dict | None:
        """The next answer, checked; ``None`` if none came within ``limit`` seconds or the
        runner ended (see :meth:`ended`)."""
        deadline = time.monotonic() + limit
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not self.selector.select(left):
                return None
            chunk = os.read(self.answer_r, 1 << 20)
            if not chunk:
                self.closed = True
                return None
            self.buffer += chunk
            if len(self.buffer) > ANSWER_LIMIT:
                raise Tampered("an answer longer than any the runner sends")
        line, self.buffer = self.buffer.split(b"\n", 1)
        body, _, mac = line.rpartition(b"\t")
        good = hmac.new(self.key, body, "sha256").hexdigest().encode()
        if not hmac.compare_digest(mac, good):
            raise Tampered("an answer that the runner did not sign")
        message = json.loads(body)
        if message.get("seq", self.seq) != self.seq or self.buffer:
            raise Tampered("an answer to a command that was never sent")
        return message

    def ended(self) -> str:
        """How the runner process ended, in words (after ``receive`` returned ``None``)."""
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "it stopped answering"
        if code > 128 and self.sandboxed:  # bwrap reports a killed child as 128 + signal
            code = 128 - code
        if code < 0:
            name = signal.Signals(-code).name
            return f"it was killed by {name}" + (" (perhaps out of memory)" if code == -9 else "")
        return f"it exited with code {code}"

    def last_output(self, lines: int = 3) -> str:
        text = b"".join(self.output).decode("utf-8", "replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def close(self) -> None:
        """End the sandbox and everything in it; close the pipes."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
        self.selector.close()
        for fd in (self.command_w, self.answer_r):
            os.close(fd)
        self.drain.join(timeout=5)


def run(notebook: Path, steps: list[Step], preamble: str, config: RunConfig, slot: int = 0,
        hidden: dict | None = None) -> tuple[list[Outcome], list[str]]:  # fmt: skip
    """Run ``steps`` for the notebook copy at ``notebook``; return one :class:`Outcome` per
    step and the flags for the instructor (tampering). Never raises for the student's sake."""
    outcomes = [Outcome() for _ in steps]
    flags: list[str] = []
    proc = _Runner(notebook, config, slot)
    try:
        proc.send(
            {
                "op": "setup",
                "key": proc.key.hex(),
                "preamble": preamble,
                "rlimits": config.limits.rlimits(),
                "uid": proc.uid,
            }
        )
        if proc.receive(STARTUP_LIMIT) is None:
            why = f"the grading process did not start: {proc.ended()}: {proc.last_output()}"
            return [Outcome(not_run=why) for _ in steps], flags
        deadline = time.monotonic() + config.total_timeout
        for n, step in enumerate(steps):
            left = deadline - time.monotonic()
            if left <= 0:
                for rest in outcomes[n:]:
                    rest.not_run = "not run: overall time limit reached"
                break
            limit = min(config.timeout, left)
            proc.seq += 1
            command = {"seq": proc.seq, "timeout": limit}
            if step.exercise is None:
                command.update(op="cell", source=step.source)
            else:
                token = secrets.token_hex(16)
                test = (hidden or {}).get(step.exercise.id)
                command.update(op="grade", exercise=step.exercise.id, token=token)
                command.update(student=step.source, checks=step.checks)
                if test is not None:
                    command["hidden"] = vars(test)
            proc.send(command)
            answer = proc.receive(limit + config.grace)
            if answer is None:
                died = proc.closed or proc.process.poll() is not None
                why = proc.ended() if died else "it did not answer in time and was stopped"
                outcomes[n].error = (
                    {"ename": "TimeoutError", "evalue": f"timed out after {round(limit, 1):g} s"}
                    if not died
                    else {
                        "ename": "DeadKernelError",
                        "evalue": f"the notebook's process died: {why}",
                    }
                )
                for rest in outcomes[n + 1 :]:
                    rest.not_run = (
                        f"not run: the notebook's process ended in an earlier cell ({why})"
                    )
                break
            outcome = outcomes[n]
            outcome.error = answer.get("error")
            if step.exercise is not None:
                outcome.part = answer.get("part", "")
                outcome.passed = bool(answer.get("passed")) and answer.get("token") == token
                if answer.get("passed") and not outcome.passed:
                    raise Tampered("a pass without this exercise's token")
        else:
            proc.seq += 1
            proc.send({"op": "end", "seq": proc.seq})
            if proc.receive(config.grace) is not None:
                try:  # let it exit by itself (and flush its output) before close() kills it
                    proc.process.wait(timeout=config.grace)
                except subprocess.TimeoutExpired:
                    pass
    except Tampered as err:
        flags.append(f"the notebook tampered with the grader ({err}): all its exercises score 0")
        outcomes = [Outcome(not_run="void: the notebook tampered with the grader") for _ in steps]
    finally:
        proc.close()
    return outcomes, flags
