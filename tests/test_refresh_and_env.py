"""The refresh command, the set-up every notebook starts with, course.py's environments."""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

import aigc_course
from aigc_course import notebooks

ROOT = Path(__file__).resolve().parents[1]


def _notebook(path: Path, *sources: str, tags: dict[int, list[str]] | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    for i, t in (tags or {}).items():
        nb.cells[i].metadata["tags"] = t
    nb.metadata["papermill"] = {"duration": 1.23}  # unstable metadata the refresh must drop
    nbformat.write(nb, path)
    return path


def test_refresh_executes_in_the_notebooks_folder_with_stable_metadata(
    tmp_path: Path, monkeypatch
) -> None:
    (tmp_path / "data.txt").write_text("here")
    path = _notebook(
        tmp_path / "nb.ipynb",
        "import os, sys\nprint('a'); sys.stdout.flush()\nprint('b')",
        "print(open('data.txt').read(), os.environ['AIGC_OFFLINE'], os.environ.get('AIGC_SMOKE'))\n"
        "print(os.environ['AIGC_DATA_SOURCE'], os.environ['CUDA_VISIBLE_DEVICES'])",
        tags={1: ["parameters"]},
    )
    # a reader's own settings must not leak into stored outputs
    monkeypatch.setenv("AIGC_DATA_SOURCE", "auto")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    notebooks.refresh_notebook(path, timeout=120)
    nb = nbformat.read(path, as_version=4)
    link, install, *ours = nb.cells  # the Colab cells come first (no title cell here)
    assert link.cell_type == "markdown" and "colab.research.google.com" in link.source
    assert install.execution_count == 1 and install.outputs == []
    assert [c.execution_count for c in ours] == [2, 3]
    assert set(nb.metadata) == {"kernelspec", "language_info"}
    # the kernel's whole report, as JupyterLab will write it when a student opens the notebook
    assert {"name", "version", "mimetype", "codemirror_mode"} <= set(nb.metadata.language_info)
    assert ours[1].metadata == {"tags": ["parameters"]}
    first = ours[0].outputs
    assert len(first) == 1 and first[0].text == "a\nb\n", "consecutive prints are merged"
    assert ours[1].outputs[0].text == "here 1 None\nshipped -1\n"


def _course():
    """course.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("course", ROOT / "course.py")
    course = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(course)
    return course


def test_the_test_command_runs_with_the_refresh_environment() -> None:
    """Stored outputs come from refresh and are compared under course.py's TEST_ENV: the two
    must agree on everything that changes outputs (TEST_ENV adds only the smoke switch and a
    cache folder)."""
    course = _course()
    assert course.TEST_ENV.items() >= notebooks.REFRESH_ENV.items()
    assert set(course.TEST_ENV) - set(notebooks.REFRESH_ENV) == {"AIGC_SMOKE", "AIGC_CACHE_DIR"}


INSTALLER_SETTINGS = [
    "UV_SYSTEM_CERTS", "UV_NATIVE_TLS", "UV_DEFAULT_INDEX", "PIP_INDEX_URL", "PIP_CERT", "SSL_CERT_FILE"
]  # fmt: skip


@pytest.fixture()
def course(monkeypatch):
    """course.py, in an environment without the installers' own settings."""
    for name in INSTALLER_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    return _course()


def test_the_installer_trusts_the_systems_certificates_unless_told_otherwise(
    course, monkeypatch
) -> None:
    """uv trusts only its bundled roots unless told: behind a network that inspects HTTPS with a
    root the system trusts, installing failed. The pinned uv must know the variable (a misspelt
    one would be ignored silently): it refuses a value it cannot read."""
    assert course.uv_env()["UV_SYSTEM_CERTS"] == "1"
    monkeypatch.setenv("UV_SYSTEM_CERTS", "0")
    assert course.uv_env()["UV_SYSTEM_CERTS"] == "0", "the user's own setting wins"
    monkeypatch.setenv("UV_SYSTEM_CERTS", "")
    assert course.uv_env()["UV_SYSTEM_CERTS"] == "1", "uv refuses an empty value"
    monkeypatch.delenv("UV_SYSTEM_CERTS")
    monkeypatch.setenv("UV_NATIVE_TLS", "0")
    assert "UV_SYSTEM_CERTS" not in course.uv_env(), "uv's older name for it wins too"
    monkeypatch.setenv("UV_NATIVE_TLS", "")
    env = course.uv_env()
    assert env["UV_SYSTEM_CERTS"] == "1" and "UV_NATIVE_TLS" not in env, "empty: refused by uv"
    monkeypatch.delenv("UV_NATIVE_TLS")
    uv = Path(sys.executable).with_name("uv.exe" if os.name == "nt" else "uv")
    if not uv.exists():
        pytest.skip(f"no {uv.name} beside this Python: `python3 course.py test` installs it")
    pip_list = [str(uv), "pip", "list", "--python", sys.executable, "--offline"]
    for extra, works in [({}, True), ({"UV_SYSTEM_CERTS": "maybe"}, False)]:
        env = {**course.uv_env(), **extra}
        done = subprocess.run(pip_list, env=env, capture_output=True, text=True, timeout=60)
        assert (done.returncode == 0) == works, (extra, done.stderr)
        if not works:
            assert "UV_SYSTEM_CERTS" in done.stderr


def test_a_mirror_or_certificate_named_for_one_installer_serves_the_other(
    course, monkeypatch
) -> None:
    mirror, own = "https://mirror.example/simple", "https://pip-only.example/simple"
    assert "PIP_INDEX_URL" not in course.pip_env(), "no mirror: pip's own configuration"
    assert "UV_DEFAULT_INDEX" not in course.uv_env()
    monkeypatch.setenv("UV_DEFAULT_INDEX", mirror)
    monkeypatch.setenv("PIP_INDEX_URL", "")  # empty counts as unset
    assert course.pip_env()["PIP_INDEX_URL"] == mirror
    monkeypatch.setenv("PIP_INDEX_URL", own)
    assert course.pip_env()["PIP_INDEX_URL"] == own, "the user's own pip mirror wins"
    assert course.uv_env()["UV_DEFAULT_INDEX"] == mirror, "and uv keeps its own"
    monkeypatch.delenv("UV_DEFAULT_INDEX")
    assert course.uv_env()["UV_DEFAULT_INDEX"] == own
    monkeypatch.setenv("PIP_CERT", "/etc/proxy-root.pem")
    assert course.uv_env()["SSL_CERT_FILE"] == "/etc/proxy-root.pem"
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/other.pem")
    assert course.uv_env()["SSL_CERT_FILE"] == "/etc/other.pem"
    monkeypatch.delenv("PIP_CERT")
    assert "PIP_CERT" not in course.pip_env(), "OpenSSL's variable is not handed to pip"


def test_the_installer_runs_pip_and_uv_in_those_environments(course, monkeypatch) -> None:
    """install_locked runs pip (which fetches uv) in pip_env and uv in uv_env; so does lock."""
    mirror = "https://mirror.example/simple"
    monkeypatch.setenv("UV_DEFAULT_INDEX", mirror)
    seen = {}

    def pip_run(cmd, **kwargs):
        seen["pip"] = (cmd, kwargs.get("env"))
        return subprocess.CompletedProcess(cmd, 0)

    def uv_popen(cmd, env):
        seen["uv"] = (cmd, env)
        raise RuntimeError("stop before installing")

    monkeypatch.setattr(course, "subprocess", types.SimpleNamespace(run=pip_run))
    monkeypatch.setattr(course, "_popen", uv_popen)
    with pytest.raises(RuntimeError, match="stop before installing"):
        course.install_locked(".[test]")
    pip_cmd, pip_env = seen["pip"]
    assert pip_cmd[-1] == course.UV and pip_env["PIP_INDEX_URL"] == mirror
    uv_cmd, uv_env = seen["uv"]
    assert uv_cmd[1:3] == ["pip", "install"] and uv_env["UV_SYSTEM_CERTS"] == "1"
    assert uv_env["UV_DEFAULT_INDEX"] == mirror

    def run(cmd, env=None, capture=False):  # `course.py lock` re-resolving with uv
        seen["lock"] = (cmd, env)
        return 1

    monkeypatch.setattr(course, "ensure_venv", lambda extras: None)
    monkeypatch.setattr(course, "run", run)
    assert course.lock(argparse.Namespace(upgrade=False)) == 1
    lock_cmd, lock_env = seen["lock"]
    assert lock_cmd[1:3] == ["pip", "compile"] and lock_env["UV_SYSTEM_CERTS"] == "1"


def test_a_failing_notebook_is_left_untouched(tmp_path: Path) -> None:
    path = _notebook(tmp_path / "bad.ipynb", "print('fine')", "1 / 0")
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(RuntimeError, match="left unchanged"):
        notebooks.refresh_notebook(path, timeout=120)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert not list(tmp_path.glob(".bad.ipynb.*")), "no temporary file left behind"


def test_refresh_refuses_what_is_not_a_notebook(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a notebook"):
        notebooks.refresh_notebook(tmp_path / "missing.ipynb")


def test_setup_is_safe_twice_and_rejects_bad_seeds(capsys) -> None:
    aigc_course.setup(seed=3)
    aigc_course.setup(seed=3)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all("seed 3" in line for line in lines)
    assert aigc_course.environment_report()["seed"] == 3
    with pytest.raises(ValueError, match="non-negative integer"):
        aigc_course.setup(seed=-1)


def test_setup_seeds_numpy_and_tensorflow() -> None:
    import numpy as np

    from aigc_course._tf import tf

    aigc_course.setup(seed=5, quiet=True)
    a = (np.random.rand(3), tf.random.normal([3]).numpy())
    aigc_course.setup(seed=5, quiet=True)
    b = (np.random.rand(3), tf.random.normal([3]).numpy())
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_knob_follows_the_smoke_switch(monkeypatch) -> None:
    monkeypatch.setenv("AIGC_SMOKE", "1")
    assert aigc_course.knob(100, smoke=2) == 2
    monkeypatch.setenv("AIGC_SMOKE", "0")
    assert aigc_course.knob(100, smoke=2) == 100


def test_frozen_progress_bars_are_replaced_by_a_note() -> None:
    nb = nbformat.v4.new_notebook()
    bar = nbformat.v4.new_output(
        "display_data",
        data={
            "application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2},
            "text/plain": "training:   0%|          | 0/2000 [00:00<?, ?it/s]",
        },
    )
    other = nbformat.v4.new_output(
        "display_data",
        data={
            "application/vnd.jupyter.widget-view+json": {"model_id": "def", "version_major": 2},
            "text/plain": "interactive(children=(FloatSlider(value=0.5),))",
        },
    )
    nb.cells = [nbformat.v4.new_code_cell("x", outputs=[bar, other], execution_count=1)]
    out = notebooks.normalise(nb).cells[0].outputs
    assert out[0].data == {"text/plain": notebooks.PROGRESS_NOTE}
    assert out[1].data == {"text/plain": "interactive(children=(FloatSlider(value=0.5),))"}
    assert nb.cells[0].metadata.tags == [notebooks.WIDGET_TAG]  # for the browser test


def test_keras_live_progress_bars_keep_only_their_last_frame() -> None:
    frame = "\r\x1b[1m{0}/300\x1b[0m \x1b[32m━━\x1b[0m \x1b[1m0s\x1b[0m 5ms/step - loss: {1}"
    text = "Epoch 1/3\n" + "".join(frame.format(i, i / 10) + "\b" * 40 for i in (1, 2, 300))
    text += "\nplain line\n"
    nb = nbformat.v4.new_notebook()
    stream = nbformat.v4.new_output("stream", name="stdout", text=text)
    nb.cells = [nbformat.v4.new_code_cell("x", outputs=[stream], execution_count=1)]
    out = notebooks.normalise(nb).cells[0].outputs[0]
    assert out.text == "Epoch 1/3\n300/300 ━━ 0s 5ms/step - loss: 30.0\nplain line\n"


def test_only_cells_with_an_interactive_widget_are_tagged() -> None:
    bar = nbformat.v4.new_output(
        "display_data",
        data={
            "application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2},
            "text/plain": "training:   0%|          | 0/2000 [00:00<?, ?it/s]",
        },
    )
    text = nbformat.v4.new_output("stream", text="hello\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("x", outputs=[bar], execution_count=1),
        nbformat.v4.new_code_cell("y", outputs=[text], execution_count=2),
    ]
    notebooks.normalise(nb)
    assert [c.metadata.get("tags", []) for c in nb.cells] == [[], []]


def test_refresh_stores_no_path_of_the_machine(tmp_path: Path) -> None:
    """Tracebacks and prints name files by absolute path; the stored notebook must not."""
    (tmp_path / "helper.py").write_text("def boom():\n    raise ValueError('from helper')\n")
    path = _notebook(
        tmp_path / "paths.ipynb",
        "import os\nprint(os.getcwd(), os.path.expanduser('~/x'))",
        "import helper\nhelper.boom()",
        "import nbformat\nnbformat.reads('not json', as_version=4)",
        tags={1: ["raises-exception"], 2: ["raises-exception"]},
    )
    notebooks.refresh_notebook(path, timeout=120)
    text = path.read_text()
    nb = nbformat.read(path, as_version=4)
    printed, from_helper, from_package = (c.outputs for c in nb.cells[2:])
    assert printed[0].text == ". ~/x\n"
    assert any("./helper.py" in line for line in from_helper[0].traceback)
    assert any(".../site-packages/nbformat/" in line for line in from_package[0].traceback)
    for local in (str(tmp_path), str(Path.home()), str(Path(nbformat.__file__).parent)):
        assert local not in text


def test_local_paths_are_rewritten_whole_names_only() -> None:
    rules = notebooks.local_paths("/srv/course/notebooks")
    rewrite = notebooks.without_local_paths
    assert rewrite("/srv/course/notebooks/runs/a", rules) == "./runs/a"
    assert rewrite("/srv/course/aigc_course/x.py", rules) == "../aigc_course/x.py"
    assert rewrite("/srv/courses/x and /x/srv/course", rules) == "/srv/courses/x and /x/srv/course"
    assert rewrite("/opt/py/lib/site-packages/keras/a.py", rules) == ".../site-packages/keras/a.py"
