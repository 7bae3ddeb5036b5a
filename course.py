#!/usr/bin/env python3
"""Set up the course and open it, or set it up and run every test.

    python3 course.py lab     # create .venv, install the course, open JupyterLab
    python3 course.py test    # create .venv, install the course and test tools, run all checks

Works with any Python 3.10-3.12 on Linux, macOS and Windows, using only the standard
library until the virtual environment exists. Installing is skipped when nothing changed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")

#: The environment every test runs under: CI's switch for tiny notebooks, never the network,
#: stable hashing, quiet TensorFlow, and a classifier cache inside the clone.
TEST_ENV = {
    "AIGC_SMOKE": "1",
    "AIGC_OFFLINE": "1",
    "PYTHONHASHSEED": "0",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "AIGC_CACHE_DIR": str(ROOT / ".aigc_cache" / "test"),
}
LINTED = [
    "aigc_course",
    "tests",
    "notebooks",
    "solutions",
    "exercises",
    "benchmarks",
    "scripts",
    "course.py",
]


def fail(message: str) -> None:
    print(f"course.py: {message}", file=sys.stderr)
    sys.exit(1)


def ensure_venv(extras: str) -> None:
    """Create .venv and install the course (with ``extras``) unless it is already current."""
    if not (3, 10) <= sys.version_info[:2] <= (3, 12):
        fail(
            f"this course needs Python 3.10, 3.11 or 3.12 (TensorFlow's range); you ran "
            f"{sys.version.split()[0]}. Run it with e.g. `python3.11 course.py ...`."
        )
    if not PYTHON.exists():
        print(f"Creating a virtual environment in {VENV} ...", flush=True)
        try:
            venv.EnvBuilder(with_pip=True).create(VENV)
        except (subprocess.CalledProcessError, OSError) as err:
            shutil.rmtree(VENV, ignore_errors=True)
            fail(
                f"could not create the virtual environment ({err}). On Debian/Ubuntu install "
                "the venv module first: `sudo apt install python3-venv`, then run this again."
            )
    stamp = VENV / f".installed-{extras or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    target = f".[{extras}]" if extras else "."
    print(
        f"Installing the course and its dependencies ({target}); this takes a few minutes "
        "the first time ...",
        flush=True,
    )
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check"]
    subprocess.run([*pip, "--quiet", "--upgrade", "pip"], check=False, cwd=ROOT)
    if subprocess.run([*pip, "--quiet", "--editable", target], cwd=ROOT).returncode != 0:
        fail(
            "installing the course failed (see pip's message above). Check your internet "
            "connection or proxy, then run this command again; nothing else was changed."
        )
    stamp.write_text(digest)


def run(cmd: list[str], env: dict[str, str] | None = None) -> int:
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


def lab(args: argparse.Namespace) -> int:
    ensure_venv("")
    # Opening a file makes its folder Jupyter's root unless told otherwise; the root stays the
    # repository so that exercises/ and solutions/ are in the file browser too.
    cmd = [str(BIN / "jupyter"), "lab", "--ServerApp.root_dir=.", "notebooks/00_start_here.ipynb"]
    if args.no_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and Colab-like machines run as root
    return run(cmd)


def test(args: argparse.Namespace) -> int:
    ensure_venv("test")
    env = {**os.environ, **TEST_ENV}
    env.pop("MPLBACKEND", None)  # kernels inherit it; plt.show() would then show nothing
    steps = [
        [str(BIN / "ruff"), "check", *LINTED],
        [str(BIN / "aigc-course"), "exercises", "build", "--check"],
        [
            str(BIN / "pytest"),
            "tests",
            "notebooks",
            "solutions",
            "--nbval",
            "--nbval-current-env",
            "--nbval-sanitize-with",
            "tests/sanitize.cfg",
            "-p",
            "no:cacheprovider",
            *args.pytest_args,
        ],
    ]
    for step in steps:
        code = run(step, env)
        if code != 0:
            print(f"course.py test: step failed with exit code {code}: {' '.join(step)}")
            return code
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
    args = parser.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
