#!/usr/bin/env python3
"""Set up the course and open it, or set it up and run every test.

    python3 course.py lab     # create .venv, install the course, open JupyterLab
    python3 course.py test    # create .venv, install the course and test tools, run all checks
    python3 course.py lock    # maintainers: re-resolve requirements-lock.txt, test, refresh

Works with any Python 3.10-3.12 on Linux, macOS and Windows, using only the standard
library until the virtual environment exists. Every package is installed at the version
pinned in requirements-lock.txt (the versions the notebooks' stored outputs were made with);
installing is skipped when nothing changed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import venv
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
#: Exact versions of every package, for Linux, macOS and Windows x Python 3.10-3.12 (made by
#: `python3 course.py lock`). Installs use it as constraints: pyproject.toml says what is
#: needed (with ranges, for people who install the package alone), the lock says which version.
LOCK = ROOT / "requirements-lock.txt"
#: The installer (see install_locked) and resolver: `lock` re-resolves (maintainers only)
#: every extra, for every platform and every Python from 3.10 (pyproject's range) up.
UV = "uv==0.13.9"
LOCK_RESOLVE = (
    "pip compile pyproject.toml --extra test --extra gpu --universal --python-version 3.10"
    " --no-python-downloads --quiet"
)

#: The environment every test runs under: CI's switch for tiny notebooks, never the network,
#: the data every installation has (AIGC_DATA_SOURCE=shipped: Debian's datasets, Keras' cache
#: or AIGC_DATA_DIR change nothing), the CPU even where there is a GPU, stable hashing, quiet
#: TensorFlow, and a classifier cache inside the clone. aigc-course refresh uses the same
#: settings (aigc_course/notebooks.py, REFRESH_ENV), so stored outputs match on every machine.
TEST_ENV = {
    "AIGC_SMOKE": "1",
    "AIGC_OFFLINE": "1",
    "AIGC_DATA_SOURCE": "shipped",
    "CUDA_VISIBLE_DEVICES": "-1",
    "PYTHONHASHSEED": "0",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "AIGC_CACHE_DIR": str(ROOT / ".aigc_cache" / "test"),
}
LINTED = [
    "aigc_course",
    "conftest.py",
    "tests",
    "notebooks",
    "solutions",
    "exercises",
    "benchmarks",
    "scripts",
    "course.py",
]
#: pytest workers: most notebooks pin TensorFlow to one thread (to print the same numbers on every
#: machine), so two workers keep two cores busy; conftest.py keeps each notebook on one worker.
WORKERS = min(2, os.cpu_count() or 1)
PYTEST = [
    "tests",
    "notebooks",
    "solutions",
    "--nbval",
    "--nbval-current-env",
    "--nbval-sanitize-with",
    "tests/sanitize.cfg",
    "-p",
    "no:cacheprovider",
    "--durations=40",  # where CI's minutes go, in every log
    *(["-n", str(WORKERS), "--dist", "loadscope"] if WORKERS > 1 else []),
]


def fail(message: str) -> None:
    print(f"course.py: {message}", file=sys.stderr)
    sys.exit(1)


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


class _Progress:
    """One status line that the installer's output updates: rewritten in place on a terminal,
    printed every few packages in a log, so a first install shows progress, not a wall of text."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.width = 0

    def show(self, text: str, keep: bool = False) -> None:
        if self.tty:
            print("\r" + text.ljust(self.width), end="\n" if keep else "", flush=True)
            self.width = 0 if keep else len(text)
        else:
            print(text, flush=True)

    def note(self, text: str) -> None:  # a line of its own, e.g. a warning
        if self.tty and self.width:
            print("\r" + " " * self.width + "\r", end="")
            self.width = 0
        print(text, flush=True)


def _popen(cmd: list[str], env: dict[str, str] | None) -> subprocess.Popen:
    """``cmd`` in the repository with its output (stdout and stderr) readable line by line."""
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    )


def install_locked(target: str) -> None:
    """Install ``target`` into .venv at the lock's versions, summarised as progress.

    uv (pinned, installed by the venv's own pip) does the work: it downloads in parallel and
    installed the ~140 packages in 21-33 s (28 s with their bytecode compiled) where pip took
    84-86 s (2026-12-02, CI's kind of 2-core machine, empty caches). Its own text is shown only
    on failure."""
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if subprocess.run([*pip, UV], cwd=ROOT, env=pip_env()).returncode != 0:
        fail(
            f"could not install {UV} (the installer the course uses) with pip: check your "
            "internet connection or proxy (a PyPI mirror or a proxy's certificate: see the "
            "README, Quick start), then run this command again."
        )
    cmd = [str(BIN / "uv"), "pip", "install", "--python", str(PYTHON)]
    # --compile-bytecode, as pip does: without it a machine with PYTHONDONTWRITEBYTECODE set
    # (CI's is) compiles TensorFlow's sources again in every process that imports it.
    cmd += ["--compile-bytecode", "--constraint", LOCK.name, "--editable", target]
    progress, tail, downloads = _Progress(), deque(maxlen=60), 0
    with _popen(cmd, uv_env()) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line)
            text = line.strip()
            if text.startswith("Resolved "):
                progress.show(f"  {text[0].lower()}{text[1:]}")
            elif text.startswith("Downloading "):
                downloads += 1
                if progress.tty or downloads % 5 == 1:
                    progress.show(f"  downloading: {downloads} large package(s), now {text[12:]}")
            elif text.startswith("Prepared "):
                progress.show("  installing (TensorFlow takes a moment) ...")
            elif text.lower().startswith(("warning:", "error:")):
                progress.note("  uv: " + text)
    if proc.returncode != 0:
        progress.note("".join(tail))
        fail(
            "installing the course failed (the installer's last lines are above). Check your "
            "internet connection or proxy (a PyPI mirror or a proxy's certificate: see the "
            "README, Quick start), then run this command again; nothing else was changed."
        )
    progress.show("  packages installed", keep=True)


def _install_digest() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + LOCK.read_bytes()).hexdigest()


def ensure_venv(extras: str) -> None:
    """Create .venv and install the course (with ``extras``) from the lock, unless current."""
    if not (3, 10) <= sys.version_info[:2] <= (3, 12):
        fail(
            f"this course needs Python 3.10, 3.11 or 3.12 (TensorFlow's range); you ran "
            f"{sys.version.split()[0]}. Run it with e.g. `python3.11 course.py ...`."
        )
    if not LOCK.is_file():
        fail(f"{LOCK.name} is missing: restore it with `git checkout {LOCK.name}`.")
    stamp = VENV / f".installed-{extras or 'base'}"
    if PYTHON.exists() and stamp.exists() and stamp.read_text() == _install_digest():
        return
    start = time.perf_counter()
    if PYTHON.exists():
        print(f"Updating .venv/ to {LOCK.name} and pyproject.toml ...", flush=True)
    else:
        print(
            "Setting up the course in .venv/ (the first time takes a few minutes and downloads "
            "about 750 MB, 2.5 GB on disk; later runs start at once).",
            flush=True,
        )
        try:
            venv.EnvBuilder(with_pip=True).create(VENV)
        except (subprocess.CalledProcessError, OSError) as err:
            shutil.rmtree(VENV, ignore_errors=True)
            fail(
                f"could not create the virtual environment ({err}). On Debian/Ubuntu install "
                "the venv module first: `sudo apt install python3-venv`, then run this again."
            )
        print(f"  virtual environment created (Python {sys.version.split()[0]})", flush=True)
    install_locked(f".[{extras}]" if extras else ".")
    stamp.write_text(_install_digest())
    print(f"Set up in {_minutes(time.perf_counter() - start)}.", flush=True)


def run(cmd: list[str], env: dict[str, str] | None = None, capture: bool = False):
    """Run ``cmd`` in the repository; returns its exit code (and its output with ``capture``)."""
    print("$", " ".join(cmd), flush=True)
    if not capture:
        return subprocess.run(cmd, cwd=ROOT, env=env).returncode
    lines = []
    with _popen(cmd, env) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            lines.append(line)
    return proc.returncode, "".join(lines)


#: Settings a user gives one installer that the other needs too, as (from, to) names: uv reads
#: no pip configuration. A PyPI mirror goes both ways. PIP_CERT (the root certificate of a
#: network that inspects HTTPS) goes to uv; SSL_CERT_FILE is not given to pip: other programs
#: read it too, and it would replace the certificates pip trusts.
TO_PIP = [("UV_DEFAULT_INDEX", "PIP_INDEX_URL")]
TO_UV = [("PIP_INDEX_URL", "UV_DEFAULT_INDEX"), ("PIP_CERT", "SSL_CERT_FILE")]


def _copy_unset(env: dict[str, str], pairs: list[tuple[str, str]]) -> dict[str, str]:
    """``env`` with each ``from`` setting copied to its ``to`` name where that is unset or empty."""
    for source, target in pairs:
        if env.get(source) and not env.get(target):
            env[target] = env[source]
    return env


def pip_env() -> dict[str, str]:
    """The environment pip installs uv in: the user's, with a mirror named for uv.

    It becomes PIP_INDEX_URL, which outranks an index-url in pip.conf."""
    return _copy_unset(dict(os.environ), TO_PIP)


def uv_env() -> dict[str, str]:
    """The environment uv runs in: the user's, trusting the operating system's certificates.

    uv trusts only its bundled roots unless told, so behind a network that inspects HTTPS with
    its own root certificate (some campus and company networks) it failed even where the system
    trusts that root ("invalid peer certificate: UnknownIssuer", seen with an empty environment
    on our test machine). A user's own UV_SYSTEM_CERTS (or the older UV_NATIVE_TLS) wins; uv
    refuses empty ones, so they are dropped. pip's PIP_INDEX_URL and PIP_CERT serve uv too."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "NO_COLOR": "1"}
    for name in ("UV_SYSTEM_CERTS", "UV_NATIVE_TLS"):
        if env.get(name) == "":
            del env[name]
    if "UV_SYSTEM_CERTS" not in env and "UV_NATIVE_TLS" not in env:
        env["UV_SYSTEM_CERTS"] = "1"
    return _copy_unset(env, TO_UV)


def test_env() -> dict[str, str]:
    env = {**os.environ, **TEST_ENV}
    env.pop("MPLBACKEND", None)  # kernels inherit it; plt.show() would then show nothing
    return env


def lab(args: argparse.Namespace) -> int:
    ensure_venv("")
    # Opening a file makes its folder Jupyter's root unless told otherwise; the root stays the
    # repository so that exercises/ and solutions/ are in the file browser too.
    cmd = [str(BIN / "jupyter"), "lab", "--ServerApp.root_dir=.", "notebooks/00_start_here.ipynb"]
    if args.no_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and Colab-like machines run as root
    print(
        "Opening JupyterLab at notebooks/00_start_here.ipynb (JupyterLab's own log follows; "
        "with --no-browser, open the http://127.0.0.1 address it prints). "
        "Stop it with Ctrl+C; `python3 course.py lab` opens it again.",
        flush=True,
    )
    return run(cmd)


def test(args: argparse.Namespace) -> int:
    ensure_venv("test")
    print(
        "Running every check CI runs: ruff, exercise freshness, unit tests, every notebook "
        "(13 to 28 minutes on a 2-core machine, depending on its CPU: measured in CI).",
        flush=True,
    )
    env = test_env()
    steps = [
        [str(BIN / "ruff"), "check", *LINTED],
        [str(BIN / "aigc-course"), "exercises", "build", "--check"],
        [str(BIN / "pytest"), *PYTEST, *args.pytest_args],
    ]
    for step in steps:
        code = run(step, env)
        if code != 0:
            print(f"course.py test: step failed with exit code {code}: {' '.join(step)}")
            return code
    print("course.py test: all checks passed.")
    return 0


_FAILURE_HEADER = re.compile(r"^_{3,} (.+?) _{3,}$", re.MULTILINE)


def _notebook_failures(output: str) -> tuple[list[str], list[str]]:
    """From pytest's report: notebooks whose stored outputs no longer match, and notebooks with a
    cell that raised (a refresh cannot fix those: the code needs fixing)."""
    changed, broken = set(), set()
    parts = _FAILURE_HEADER.split(output)  # text, header, text, header, text, ...
    for header, text in zip(parts[1::2], parts[2::2], strict=True):
        notebook = header.split("::", 1)[0]
        if notebook.endswith(".ipynb"):
            failed = "Cell execution caused an exception" in text
            (broken if failed else changed).add(notebook)
    return sorted(changed - broken), sorted(broken)


def lock(args: argparse.Namespace) -> int:
    """Re-resolve the lock, install it, run the suite, refresh notebooks whose outputs changed."""
    ensure_venv("test")  # installs uv too
    before = LOCK.read_bytes()
    compile_cmd = [str(BIN / "uv"), *LOCK_RESOLVE.split(), "--output-file", LOCK.name]
    compile_cmd += ["--custom-compile-command", "python3 course.py lock"]
    if args.upgrade:
        compile_cmd.append("--upgrade")
    if run(compile_cmd, uv_env()) != 0:
        return 1
    if LOCK.read_bytes() == before:
        print(f"{LOCK.name} is unchanged: nothing to do.")
        return 0
    ensure_venv("test")  # the lock changed, so this installs its versions
    code, output = run([str(BIN / "pytest"), *PYTEST], test_env(), capture=True)
    changed, broken = _notebook_failures(output)
    if broken:
        print(f"These notebooks raise errors with the new {LOCK.name}: {', '.join(broken)}.")
    elif changed:
        print(f"Stored outputs changed in {len(changed)} notebook(s); refreshing them.")
        if run([str(BIN / "aigc-course"), "refresh", *changed]) != 0:
            return 1
        code, output = run([str(BIN / "pytest"), *PYTEST], test_env(), capture=True)
    if code != 0:
        print(
            f"course.py lock: the suite fails with the new {LOCK.name} (see above). Fix the "
            f"code, or go back with `git checkout {LOCK.name}` and `python3 course.py test`."
        )
        return code
    print(
        f"course.py lock: {LOCK.name} updated and the suite passes. Review `git diff` (numbers "
        "quoted in the prose of refreshed notebooks!) and commit the lock with the notebooks."
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_lab = sub.add_parser("lab", help="set up and open the course in JupyterLab")
    p_lab.add_argument("--no-browser", action="store_true", help="print the URL instead")
    p_lab.set_defaults(func=lab)
    p_test = sub.add_parser("test", help="set up and run every check CI runs")
    p_test.add_argument("pytest_args", nargs="*", help="extra arguments for pytest (after --)")
    p_test.set_defaults(func=test)
    p_lock = sub.add_parser(
        "lock",
        help=f"maintainers: re-resolve {LOCK.name}, run the suite, refresh changed notebooks",
    )
    p_lock.add_argument(
        "--upgrade", action="store_true", help="move every package to its newest allowed version"
    )
    p_lock.set_defaults(func=lock)
    args = parser.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
