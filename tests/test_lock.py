"""requirements-lock.txt: it covers what pyproject.toml asks for, on every supported platform and
Python, and the environment the tests run in is the locked one (stored outputs are compared
exactly, so a different Keras, NumPy or matplotlib would be a different course)."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest brings tomli on Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements-lock.txt"
RELOCK = "run `python3 course.py lock` (it keeps every other pin) and commit the lock"
#: The platforms and Pythons the README promises: (sys_platform, os_name, platform_system).
PLATFORMS = [("linux", "posix", "Linux"), ("darwin", "posix", "Darwin"), ("win32", "nt", "Windows")]
PYTHONS = ["3.10", "3.11", "3.12"]


def _locked() -> list[Requirement]:
    lines = LOCK.read_text(encoding="utf-8").splitlines()
    return [Requirement(line) for line in lines if line and not line.startswith((" ", "#"))]


def _environment(platform: tuple[str, str, str], python: str) -> dict[str, str]:
    sys_platform, os_name, system = platform
    return {
        **default_environment(),
        "sys_platform": sys_platform,
        "os_name": os_name,
        "platform_system": system,
        "python_version": python,
        "python_full_version": f"{python}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }


def _pins(env: dict[str, str]) -> dict[str, str]:
    """Package -> the one version the lock pins for ``env``."""
    pins: dict[str, str] = {}
    for req in _locked():
        if req.marker is None or req.marker.evaluate(env):
            name = canonicalize_name(req.name)
            (spec,) = req.specifier
            assert spec.operator == "==", f"{LOCK.name}: {req} is not an exact pin"
            assert name not in pins, f"{LOCK.name} pins {name} twice for {env['sys_platform']}"
            pins[name] = spec.version
    return pins


def _wanted() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in project["dependencies"] + extras["test"] + extras["gpu"]]


@pytest.mark.parametrize("python", PYTHONS)
@pytest.mark.parametrize("platform", PLATFORMS, ids=[p[0] for p in PLATFORMS])
def test_lock_pins_every_requirement_within_its_range(platform, python) -> None:
    env = _environment(platform, python)
    pins = _pins(env)
    for req in _wanted():
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{LOCK.name} has no pin for {req.name}: {RELOCK}"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{LOCK.name} pins {name}=={pins[name]}, outside pyproject's {req}: {RELOCK}"
        )


def test_tests_run_in_the_locked_environment() -> None:
    """What `python3 course.py test` installs: every locked package at its locked version."""
    env = default_environment()
    wrong = []
    for name, version in _pins(env).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # e.g. the gpu extra's CUDA libraries, installed only on request
        if installed != version:
            wrong.append(f"{name} {installed} (locked: {version})")
    assert not wrong, (
        "this environment is not the one requirements-lock.txt describes, so stored outputs may "
        "differ: " + ", ".join(wrong) + ". `python3 course.py test` installs the locked versions."
    )
    for core in ("tensorflow", "keras", "numpy", "matplotlib", "jupyterlab"):
        assert canonicalize_name(core) in _pins(env), f"{core} is not locked"
