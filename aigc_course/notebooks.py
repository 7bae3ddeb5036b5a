"""Re-execute course notebooks in place, reproducibly (``aigc-course refresh``).

Committed notebooks carry their outputs: students read them on the web and nbval compares
CI's fresh run against them. This command is the only way those outputs are made, so they
always come from a clean kernel, the default parameters and the same environment CI uses:
no network, the shipped data, the CPU, a fixed hash seed, TensorFlow's logs quiet. Metadata is
reduced to what is stable (no timestamps, no widget state) and a notebook is only overwritten,
atomically, when every cell ran; a failure leaves the file as it was.

Two things keep a committed notebook from changing in a student's clone or revealing the
machine it was made on. Its ``language_info`` is exactly what the kernel reported: JupyterLab
writes the kernel's report into a notebook as soon as the kernel starts, so anything else marks
a notebook that was only opened as modified, and autosave then rewrites it. And no output names
a folder of the refreshing machine: tracebacks show ``.../site-packages/keras/...``, paths in
the course ``../aigc_course/...``, relative to the notebook.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

import nbformat

from aigc_course.atomic import atomic_write
from aigc_course.colab import repository_path, with_colab_cells
from aigc_course.errors import ConfigError, NotFoundError

#: Environment every refresh runs under (CI's, minus the smoke switch): no network, only the
#: data shipped with the package (whatever else this machine holds) and the CPU, so that the
#: stored outputs are the ones every machine reproduces.
REFRESH_ENV = {
    "AIGC_OFFLINE": "1",
    "AIGC_DATA_SOURCE": "shipped",
    "CUDA_VISIBLE_DEVICES": "-1",
    "PYTHONHASHSEED": "0",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
}
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
_CELL_METADATA_KEPT = ("tags", "exercise")
#: Tag of the cells that display an interactive widget (added by refresh):
#: tests/test_browser.py runs the notebook up to each one and moves its sliders.
WIDGET_TAG = "widget"
#: A tqdm bar drawn as a widget stores only its first frame ("0%|...") as text; that frozen
#: frame would mislead a reader, so it is replaced (tests/sanitize.cfg maps live bars to the same).
PROGRESS_NOTE = "(a progress bar: run the notebook to see it move)"
_TQDM_TEXT = re.compile(r"\d+%\|.*\| *[\d.]+[kMG]?/[\d.?]+[kMG]? \[")
#: Keras' live progress bar redraws itself with carriage returns, backspaces and colour codes:
#: hundreds of frames per line in a stored stream. Only each line's last frame is kept, plain.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _last_frames(text: str) -> str:
    """``text`` with every redrawn line (``\\r``) reduced to its final frame, without the
    terminal's backspaces and colour codes: what a reader of the stored page should see."""
    if "\r" not in text:
        return text
    lines = [line.replace("\b", "").rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n")]
    return "\n".join(_ANSI.sub("", line) if "\x1b[" in line else line for line in lines)


def _merge_streams(outputs: list) -> list:
    """Join consecutive stdout (or stderr) chunks: how a print is split is timing, not content."""
    merged: list = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (
            out.get("output_type") == "stream"
            and prev is not None
            and prev.get("output_type") == "stream"
            and prev.get("name") == out.get("name")
        ):
            prev["text"] += out["text"]
        else:
            merged.append(out)
    return merged


_SITE_PACKAGES = re.compile(r"/[^\s\"'\x1b]*?/(?:site|dist)-packages/")


# A path starts after a character that cannot be part of a name, or after a colour code
# (tracebacks are coloured: "\x1b[32m/home/...").
_NOT_INSIDE_A_NAME = r"(?:(?<![\w.-])|(?<=\x1b\[\dm)|(?<=\x1b\[\d\dm))"


def local_paths(folder: str | os.PathLike) -> list[tuple[re.Pattern, str]]:
    """How :func:`without_local_paths` rewrites this machine's folders, most specific first:
    the notebook's ``folder`` becomes relative, the repository above it ``..``, home ``~``."""
    folder = Path(folder).resolve()
    rules = [(folder, "."), (folder.parent, ".."), (Path.home().resolve(), "~")]
    return [
        (re.compile(_NOT_INSIDE_A_NAME + re.escape(str(path)) + r"(?![\w.-])"), short)
        for path, short in rules
        if len(path.parts) > 1  # never rewrite "/" itself
    ]


def without_local_paths(text: str, rules: list[tuple[re.Pattern, str]]) -> str:
    """``text`` with installed packages shown as ``.../site-packages/...`` and the folders of
    ``rules`` (see :func:`local_paths`) replaced, so that no output names the machine."""
    text = _SITE_PACKAGES.sub(".../site-packages/", text)
    for pattern, short in rules:
        text = pattern.sub(short, text)
    return text


def _rewrite_paths(out: nbformat.NotebookNode, rules: list[tuple[re.Pattern, str]]) -> None:
    if out.get("output_type") == "stream":
        out["text"] = without_local_paths(_last_frames(out["text"]), rules)
    elif out.get("output_type") == "error":
        out["evalue"] = without_local_paths(out["evalue"], rules)
        out["traceback"] = [without_local_paths(line, rules) for line in out["traceback"]]
    for mime, value in out.get("data", {}).items():
        if mime.startswith("text/") and isinstance(value, str):
            out["data"][mime] = without_local_paths(value, rules)


def normalise(
    nb: nbformat.NotebookNode, folder: str | os.PathLike | None = None
) -> nbformat.NotebookNode:
    """Keep only stable metadata so that a refresh changes nothing but real outputs.

    The ``language_info`` the kernel reported (nbclient stores it while executing) is kept
    whole; ``folder``, the notebook's folder, enables rewriting local paths in outputs.
    """
    language_info = dict(nb.metadata.get("language_info") or {"name": "python"})
    nb.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC, "language_info": language_info})
    rules = local_paths(folder) if folder is not None else []
    for cell in nb.cells:
        cell.metadata = nbformat.from_dict(
            {k: cell.metadata[k] for k in _CELL_METADATA_KEPT if k in cell.metadata}
        )
        if cell.cell_type == "code":
            cell.outputs = _merge_streams(cell.outputs)
            for out in cell.get("outputs", []):
                _rewrite_paths(out, rules)
                # Widget views are live objects; their saved state is noise in the file.
                data = out.get("data", {})
                widget = data.pop("application/vnd.jupyter.widget-view+json", None)
                if widget and _TQDM_TEXT.search(str(data.get("text/plain", ""))):
                    data["text/plain"] = PROGRESS_NOTE
                elif widget and WIDGET_TAG not in cell.metadata.setdefault("tags", []):
                    cell.metadata.tags.append(WIDGET_TAG)  # the browser test drives it
                if out.get("output_type") in {"display_data", "execute_result"} and not data:
                    out["data"] = {"text/plain": "(interactive widget: run the notebook to use it)"}
    nbformat.validate(nb)
    return nb


def refresh_notebook(path: str | os.PathLike, timeout: int = 1800, smoke: bool = False) -> float:
    """Execute one notebook in a fresh kernel in its own folder and store the outputs.

    Returns the wall time in seconds. Raises ``RuntimeError`` naming the failing cell.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = Path(path)
    if not path.is_file() or path.suffix != ".ipynb":
        raise NotFoundError(f"{path}: not a notebook file (expected an existing .ipynb)")
    nb = nbformat.read(path, as_version=4)
    with_colab_cells(nb, repository_path(path))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None

    saved = {k: os.environ.get(k) for k in (*REFRESH_ENV, "AIGC_SMOKE", "MPLBACKEND")}
    os.environ.update(REFRESH_ENV)
    os.environ.pop("MPLBACKEND", None)  # the kernel must use its inline backend
    if smoke:
        os.environ["AIGC_SMOKE"] = "1"
    else:
        os.environ.pop("AIGC_SMOKE", None)
    start = time.perf_counter()
    try:
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent.resolve())}},
            record_timing=False,
        )
        client.execute()
    except CellExecutionError as err:
        raise RuntimeError(f"{path}: a cell failed, notebook left unchanged.\n{err}") from None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    text = nbformat.writes(normalise(nb, path.parent))
    atomic_write(path, lambda f: f.write((text if text.endswith("\n") else text + "\n").encode()))
    return time.perf_counter() - start


def _expand(paths: Iterable[str]) -> list[Path]:
    found: list[Path] = []
    for p in map(Path, paths):
        found.extend(sorted(p.glob("*.ipynb")) if p.is_dir() else [p])
    return found


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        default=["notebooks", "solutions"],
        help="notebooks or folders (default: notebooks/ and solutions/)",
    )
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell (default 1800)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="run with AIGC_SMOKE=1 (a quick try-out; never commit outputs made this way)",
    )


def run(args: argparse.Namespace) -> int:
    if args.timeout <= 0:
        raise ConfigError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    failures = 0
    for path in _expand(args.paths):
        print(f"refreshing {path} ...", flush=True)
        try:
            seconds = refresh_notebook(path, timeout=args.timeout, smoke=args.smoke)
        except RuntimeError as err:
            failures += 1
            print(err)
            continue
        print(f"  done in {seconds:.0f} s")
    return 1 if failures else 0
