"""Where a submission runs: a bubblewrap sandbox, or (only when asked) none.

With bubblewrap (``bwrap``, Linux) every submission gets its own namespaces: it sees only its
own processes (a new PID namespace: when the runner ends, the kernel ends every process it
left behind), has no network, and its file system is built from scratch:

* read-only: the system's ``/usr`` and ``/etc``, the Python installation and the folders on
  ``sys.path`` (never one that contains the solutions, hidden tests or submissions), the
  ``aigc_course`` package, and the data folders the course reads (``AIGC_DATA_DIR``, Keras'
  dataset cache, ``AIGC_CACHE_DIR``);
* writable: ``/sandbox`` only, a ``tmpfs`` of ``Limits.disk_mb`` (home, ``/tmp`` and the
  working folder live there), which disappears with the sandbox (when the course itself lives
  under ``/tmp``, ``/tmp`` is a second tmpfs of the same cap instead of a link into it);
* its own copy of the submitted notebook, read-only, in the working folder.

The runner then caps its own memory, processes, file size and CPU time with ``setrlimit``
before it runs any student code (see :mod:`aigc_course.grading.runner`); when the grader runs
as root, the runner also drops to an unprivileged user id of its own, because Linux does not
count root's processes. Without bubblewrap (macOS, Windows, or ``bwrap`` missing or not
allowed to create namespaces) :func:`check_sandbox` explains why and grading stops, unless the
instructor passes ``--unsafe-no-sandbox``.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import aigc_course
from aigc_course.errors import CourseError

SANDBOX = Path("/sandbox")  # the submission's private, writable tmpfs
WORKDIR = SANDBOX / "work"  # its working folder (the notebook's own folder)
#: A uid per parallel job when the grader runs as root (ids no account uses).
ROOT_UID_BASE = 61000
#: Variables the runner keeps from the grader's environment (everything else is dropped).
PASSED_ENV = ("AIGC_", "TF_CPP_", "TF_ENABLE_", "TF_NUM_", "TF_DETERMINISTIC", "KERAS_BACKEND")
RUNNER_ENV = {
    "AIGC_OFFLINE": "1",
    "PYTHONHASHSEED": "0",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "MPLBACKEND": "Agg",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
}
INSTALL_HINT = (
    "Install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: "
    "`sudo dnf install bubblewrap`) and grade on Linux (WSL2 or a Linux VM on macOS and "
    "Windows). If you trust every submission, pass --unsafe-no-sandbox instead."
)


class SandboxUnavailable(CourseError, RuntimeError):
    """No sandbox can be built here; the message says why and what to do."""


@dataclass(frozen=True)
class Limits:
    """Caps for one submission; the defaults suit the course's notebooks on a laptop."""

    memory_mb: int = 4096  # private memory (RLIMIT_DATA): heap, arrays, tensors
    processes: int = 64  # processes and threads of the sandbox's user (RLIMIT_NPROC)
    disk_mb: int = 256  # size of /sandbox, the only writable folder (tmpfs)
    output_kb: int = 64  # the end of the notebook's own stdout/stderr kept for diagnostics
    cpu_seconds: int = 3600  # CPU time of the runner (RLIMIT_CPU), a backstop for timeouts

    def rlimits(self) -> dict[str, int]:
        """``{RLIMIT_NAME: value}`` the runner applies to itself before running student code."""
        mib = 1024 * 1024
        return {
            "RLIMIT_DATA": self.memory_mb * mib,
            "RLIMIT_NPROC": self.processes,
            "RLIMIT_FSIZE": self.disk_mb * mib,
            "RLIMIT_CPU": self.cpu_seconds,
            "RLIMIT_CORE": 0,
            "RLIMIT_NOFILE": 1024,
        }


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def python_path() -> list[str]:
    """The folders the runner puts in front of its ``sys.path``: the folder holding the
    ``aigc_course`` package, and the grader's ``site-packages`` folders (a user site too).

    Nothing else from the grader's ``sys.path``: its script folder or working folder could
    hold anything, and inside the sandbox ``/tmp`` is the student's.
    """
    package_parent = str(Path(aigc_course.__file__).resolve().parent.parent)
    sites = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")]
    return list(dict.fromkeys([package_parent, *sites]))


def _python_roots() -> list[Path]:
    """Folders the runner's Python needs: the installation(s) and importable folders."""
    roots = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    roots |= {p for p in python_path()[1:] if os.path.isdir(p)}
    roots.add(str(Path(aigc_course.__file__).parent))
    return [Path(os.path.realpath(r)) for r in roots] + [Path(r).absolute() for r in roots]


def _data_roots() -> dict[str, Path]:
    """Data the course reads, as ``{environment variable: folder}`` (only folders that exist)."""
    found: dict[str, Path] = {}
    for variable, default in (
        ("AIGC_DATA_DIR", None),
        ("AIGC_CACHE_DIR", Path.home() / ".cache" / "aigc_course"),
        ("KERAS_HOME", Path.home() / ".keras"),
    ):
        value = os.environ.get(variable, "").strip()
        folder = Path(value).expanduser() if value else default
        if folder is not None and folder.is_dir():
            found[variable] = folder.absolute()
    return found


def read_only_binds(secrets: list[Path]) -> list[Path]:
    """The host folders the sandbox may read, minus any that would expose a ``secret``.

    A folder on ``sys.path`` that contains a secret (e.g. the course repository, which holds
    ``solutions/``, when Python runs from its root) is skipped: the ``aigc_course`` package
    inside it is bound on its own. A secret *inside* a folder the runner needs is an error.
    """
    secrets = [Path(os.path.realpath(s)) for s in secrets]
    package = Path(os.path.realpath(Path(aigc_course.__file__).parent))
    wanted: set[Path] = set()
    for root in _python_roots():
        if not root.exists() or _is_within(root, Path("/usr")):
            continue
        inside = [secret for secret in secrets if _is_within(secret, root)]
        if inside:
            if root != package and not _is_within(root, package):
                continue  # e.g. the repository root: only its aigc_course/ is needed
            raise SandboxUnavailable(
                f"{inside[0]} is inside {root}, which the sandbox must read: move it out"
            )
        wanted.add(root)
    wanted.add(package)
    for folder in _data_roots().values():
        if any(_is_within(secret, folder) or _is_within(folder, secret) for secret in secrets):
            raise SandboxUnavailable(
                f"the data folder {folder} overlaps {secrets}: keep solutions, hidden tests "
                "and submissions out of the course's data and cache folders"
            )
        wanted.add(folder)
    # drop folders inside other bound folders (bwrap would mount them twice)
    return sorted(p for p in wanted if not any(p != q and _is_within(p, q) for q in wanted))


def runner_env(home: Path, tmp: Path) -> dict[str, str]:
    """The runner's whole environment: fixed settings, the course's own variables, paths."""
    env = {k: v for k, v in os.environ.items() if k.startswith(PASSED_ENV)}
    env.update(RUNNER_ENV)
    env.update({k: str(v) for k, v in _data_roots().items()})
    python_bin = str(Path(sys.executable).parent)
    env.update(HOME=str(home), TMPDIR=str(tmp), PATH=f"{python_bin}:/usr/local/bin:/usr/bin:/bin")
    return env


def bwrap_command(notebook_copy: Path, secrets: list[Path], disk_mb: int) -> list[str]:
    """The ``bwrap`` arguments that build the sandbox; the runner's command follows them."""
    args = ["bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net"]
    args += ["--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
    if os.geteuid() == 0:
        # root's processes are not counted by RLIMIT_NPROC: the runner switches to an
        # unprivileged uid itself, and needs these two capabilities (only) to do so
        args += ["--cap-add", "CAP_SETUID,CAP_SETGID"]
    else:
        args += ["--unshare-user"]
        if _bwrap_version() >= (0, 8):
            args += ["--disable-userns"]  # no nested namespaces to escape the process cap
    for folder in ("/usr", "/etc"):
        args += ["--ro-bind", folder, folder]
    for link in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            args += ["--ro-bind", link, link]
    binds = read_only_binds(secrets)
    parents = {parent for folder in binds for parent in folder.parents if parent != Path("/")}
    tmp_holds_the_course = Path("/tmp") in parents  # e.g. a clone in /tmp
    if tmp_holds_the_course:
        # /tmp cannot be the link to the student's folder: it is a second capped tmpfs instead,
        # under which the course's folders are bound like anywhere else
        parents.discard(Path("/tmp"))
        args += ["--perms", "1777", "--size", str(disk_mb * 1024 * 1024), "--tmpfs", "/tmp"]
    for parent in sorted(parents, key=lambda p: len(p.parts)):
        args += ["--perms", "0755", "--dir", str(parent)]  # bwrap would make them 0700
    for folder in binds:
        args += ["--ro-bind", str(folder), str(folder)]
    args += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev"]
    args += ["--perms", "1777", "--size", str(disk_mb * 1024 * 1024), "--tmpfs", str(SANDBOX)]
    args += ["--perms", "1777", "--dir", str(WORKDIR)]
    args += ["--ro-bind", str(notebook_copy), str(WORKDIR / "submission.ipynb")]
    if not tmp_holds_the_course:
        args += ["--symlink", str(SANDBOX / "tmp"), "/tmp"]
    args += ["--remount-ro", "/"]
    args += ["--chdir", str(WORKDIR), "--clearenv"]
    for key, value in runner_env(SANDBOX / "home", SANDBOX / "tmp").items():
        args += ["--setenv", key, value]
    return [*args, "--"]


@functools.lru_cache(maxsize=1)
def _bwrap_version() -> tuple[int, ...]:
    done = subprocess.run(["bwrap", "--version"], capture_output=True, text=True, timeout=30)
    words = done.stdout.split()
    try:
        return tuple(int(part) for part in words[-1].split("."))
    except (IndexError, ValueError):
        return (0,)


@functools.lru_cache(maxsize=1)
def _probe() -> str:
    """'' when a trial sandbox runs Python; else why not (cached: one probe per process)."""
    if platform.system() != "Linux":
        return f"there is no sandbox for {platform.system()}: grading needs Linux namespaces"
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    version = _bwrap_version()
    if version < (0, 6):
        found = ".".join(map(str, version))
        return f"bubblewrap {found} is too old (the sandbox needs 0.6 or newer, for --size)"
    scratch = Path(os.environ.get("TMPDIR", "/tmp"))
    probe = scratch / f"aigc-grade-probe-{os.getpid()}.ipynb"
    probe.write_text("{}", encoding="utf-8")
    try:
        command = [*bwrap_command(probe, [], 16), sys.executable, "-I", "-c", "import aigc_course"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bwrap could not start: {err}"
    finally:
        probe.unlink(missing_ok=True)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return f"bwrap cannot create a sandbox here ({reason})"
    return ""


def check_sandbox() -> None:
    """Raise :class:`SandboxUnavailable` (with what to do) unless bubblewrap works here."""
    reason = _probe()
    if reason:
        raise SandboxUnavailable(f"no sandbox: {reason}. {INSTALL_HINT}")


def sandbox_available() -> bool:
    """Whether :func:`check_sandbox` would pass (for tests and messages)."""
    return not _probe()


UNSAFE_WARNING = (
    "WARNING: grading WITHOUT a sandbox (--unsafe-no-sandbox). Submitted code runs as you: it "
    "can read and change your files (solutions and hidden tests included), use the network "
    "and leave processes behind. Only do this for submissions you trust."
)
