"""Notebook tests beyond nbval: hygiene of the committed files, papermill runs with injected
parameters, and proof that the nbval comparison really bites.

nbval itself runs over ``notebooks/`` and ``solutions/`` in the same pytest session (see
``course.py test``); these tests make sure what it compares is worth comparing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))
COMMITTED = NOTEBOOKS + SOLUTIONS  # stored with outputs, compared by nbval

IGNORE_TAG = "nbval-ignore-output"
NOISE = re.compile(
    r"absl::InitializeLog|cudart_stub|cuda_(?:platform|dnn|blas|fft)|cuInit|oneDNN custom"
    r"|^[IWE]\d{4} \d\d:\d\d|tensorflow/core/|computation placer",
    re.MULTILINE,
)
AUTHOR_PATHS = re.compile(
    r"/root/|/home/\w+|/work/|/Users/\w+|[A-Za-z]:\\\\Users|/tmp/(?!ipykernel)"
    r"|/[^\s\"'\x1b]*/(?:site|dist)-packages/"  # refresh shows these as .../site-packages/
)
#: Every key ipykernel reports in ``language_info``: JupyterLab writes the kernel's report into
#: an opened notebook, so a notebook storing less turns "modified" as soon as it is opened.
LANGUAGE_INFO_KEYS = {
    "name",
    "version",
    "mimetype",
    "codemirror_mode",
    "pygments_lexer",
    "nbconvert_exporter",
    "file_extension",
}


def _ids(paths: list[Path]) -> list[str]:
    return [f"{p.parent.name}/{p.name}" for p in paths]


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]


def _tags(cell) -> set[str]:
    return set(cell.metadata.get("tags", []))


def _output_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}")
        else:
            for mime, value in out.get("data", {}).items():
                if mime.startswith("text/"):
                    parts.append(value if isinstance(value, str) else "".join(value))
    return "".join(parts)


def machine_paths(nb) -> list[str]:
    """Paths of the machine a notebook was made on, anywhere in its outputs (tracebacks too)."""
    found = []
    for i, cell in enumerate(_code_cells(nb), start=1):
        texts = [_output_text(cell)]
        texts += [line for out in cell.outputs for line in out.get("traceback", [])]
        for text in texts:
            found += [f"code cell {i}: {m.group(0)!r}" for m in AUTHOR_PATHS.finditer(text)]
    return found


def test_there_are_notebooks() -> None:
    assert (ROOT / "notebooks" / "00_start_here.ipynb") in NOTEBOOKS
    assert len(NOTEBOOKS) >= 7, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", COMMITTED, ids=_ids(COMMITTED))
def test_committed_notebook_hygiene(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = _code_cells(nb)
    assert code, f"{path.name} has no code"

    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"{path.name}: execution counts {counts} are not 1..n; refresh it with "
        f"`aigc-course refresh {path.relative_to(ROOT)}` (never strip outputs: nbval then "
        "compares nothing)"
    )
    first = next(c for c in code if "colab" not in _tags(c)).source  # after the Colab install
    assert (
        "import aigc_course" in first and "aigc_course.setup(" in first
    ), f"{path.name}: the first code cell must import aigc_course and call aigc_course.setup()"
    params = [c for c in code if "parameters" in _tags(c)]
    assert len(params) == 1, f"{path.name}: expected exactly one cell tagged 'parameters'"

    for i, cell in enumerate(code, start=1):
        text = _output_text(cell)
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if "raises-exception" not in _tags(cell):
            assert not errors, f"{path.name} cell {i}: stored error {errors[0].ename}"
        assert not NOISE.search(text), f"{path.name} cell {i}: TensorFlow log noise in output"
    paths = machine_paths(nb)
    assert not paths, f"{path.name}: machine-specific paths in outputs (refresh it): {paths[:3]}"

    with_output = [c for c in code if c.outputs]
    compared = [c for c in with_output if IGNORE_TAG not in _tags(c)]
    assert len(compared) * 3 >= len(with_output), (
        f"{path.name}: only {len(compared)} of {len(with_output)} cells with output are compared "
        "by nbval; tag only training-dependent cells with nbval-ignore-output"
    )
    assert set(nb.metadata) <= {
        "kernelspec",
        "language_info",
    }, f"{path.name}: unstable notebook metadata {sorted(nb.metadata)}; refresh it"


def test_a_planted_machine_path_in_a_traceback_is_caught() -> None:
    nb = nbformat.read(ROOT / "notebooks" / "06_debugging_the_article.ipynb", as_version=4)
    assert not machine_paths(nb)
    errors = [o for c in _code_cells(nb) for o in c.outputs if o.output_type == "error"]
    assert errors, "chapter 06 stores the article's real errors; the plant needs a traceback"
    errors[0].traceback.append(
        "\x1b[32m/opt/alice/aigc/.venv/lib/python3.11/site-packages/keras/src/ops.py:12\x1b[39m"
    )
    found = machine_paths(nb)
    assert len(found) == 1 and "'/opt/alice/aigc/.venv/lib/python3.11/site-packages/'" in found[0]


def test_notebooks_store_the_language_info_a_kernel_reports() -> None:
    """Opening a notebook must not modify it: each stores the kernel's whole language_info,
    and all of them the same one (one refresh environment; see tests/test_browser.py for the
    check in JupyterLab itself)."""
    infos = {}
    for path in COMMITTED + EXERCISES:
        info = nbformat.read(path, as_version=4).metadata.get("language_info", {})
        missing = LANGUAGE_INFO_KEYS - set(info)
        assert not missing, (
            f"{path.relative_to(ROOT)}: language_info lacks {sorted(missing)}; refresh it with "
            "`aigc-course refresh` (exercises: `aigc-course exercises build`)"
        )
        infos.setdefault(json.dumps(info, sort_keys=True), []).append(path.name)
    assert len(infos) == 1, f"notebooks refreshed with different Pythons: {infos}"


@pytest.mark.parametrize("path", EXERCISES, ids=_ids(EXERCISES))
def test_exercise_notebooks_are_clean(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    assert (ROOT / "solutions" / path.name).exists(), f"{path.name} has no solutions notebook"
    for cell in _code_cells(nb):
        assert (
            not cell.outputs and cell.execution_count is None
        ), f"{path.name}: exercise notebooks are handed out without outputs"
        assert "### BEGIN SOLUTION" not in cell.source and "HIDDEN TESTS" not in cell.source


def test_each_notebook_is_one_scope_for_the_two_workers() -> None:
    """conftest.py keeps everything that runs one notebook on one pytest-xdist worker, in order:
    nbval's cells share a kernel, and nbval and papermill write the same runs/ files."""
    spec = importlib.util.spec_from_file_location("repository_conftest", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for path, test_id in zip(COMMITTED, _ids(COMMITTED), strict=True):
        name = path.relative_to(ROOT).as_posix()
        cells = {module.notebook_scope(f"{name}::Cell {i}") for i in (0, 7)}
        papermill = (
            f"tests/test_notebooks.py::test_papermill_runs_with_injected_parameters[{test_id}]"
        )
        assert cells == {module.notebook_scope(papermill)} == {name}
    assert module.notebook_scope("tests/test_data.py::test_a") != module.notebook_scope(
        "tests/test_data.py::test_b"
    ), "tests that run no notebook must be free to go to either worker"
    wrong = "tests/test_wrong_answers.py::test_a_wrong_answer_fails_naming_the_mistake"
    assert (
        module.notebook_scope(f"{wrong}[08/causal_mask-transposed]")
        == module.notebook_scope(
            "tests/test_wrong_answers.py::test_the_solution_passes_and_the_stub_is_not_attempted"
            "[08/causal_mask]"
        )
        != module.notebook_scope(f"{wrong}[07/schedule-x]")
    ), "one solutions run per chapter"
    for path in module.ONE_WORKER_MODULES:
        assert (ROOT / path).exists(), path
        assert module.notebook_scope(f"{path}::test_a") == module.notebook_scope(
            f"{path}::test_b[notebooks/00_start_here.ipynb]"
        ), "a costly module fixture is built once, even when a test's parameter is a notebook"


def _smoke_parameters(nb) -> dict:
    """The notebook's own parameters, as its parameters cell computes them under AIGC_SMOKE=1."""
    import aigc_course

    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    namespace: dict = {"aigc_course": aigc_course}
    exec(cell.source, namespace)  # noqa: S102 - the course's own, committed parameters cell
    simple = (bool, int, float, str, type(None))
    return {
        k: v
        for k, v in namespace.items()
        if k.isupper()
        and (
            isinstance(v, simple)
            or (isinstance(v, list | tuple) and all(isinstance(x, simple) for x in v))
        )
    }


def _papermill(path: Path, out: Path, parameters: dict) -> None:
    """Run a notebook with papermill. Errors stored in cells tagged ``raises-exception`` (chapter 6
    shows the article's real errors) are expected; papermill reports them anyway, so they are
    filtered here and any other error is re-raised."""
    import papermill

    try:
        papermill.execute_notebook(
            str(path),
            str(out),
            parameters=parameters,
            kernel_name="python3",
            cwd=str(path.parent),
            execution_timeout=600,
            progress_bar=False,
        )
    except papermill.PapermillExecutionError:
        result = nbformat.read(out, as_version=4)
        unexpected = [
            c
            for c in result.cells
            if c.cell_type == "code"
            and "raises-exception" not in c.metadata.get("tags", [])
            and any(o.output_type == "error" for o in c.get("outputs", []))
        ]
        if unexpected:
            raise


#: Chapters run by papermill with one parameter changed: (name, value, a line the run then
#: prints). The stored outputs show the default, so the line proves the injection took effect.
CHANGED_PARAMETERS = {"00_start_here.ipynb": ("SHOW_SAMPLES", 3, "Showing 3 real images")}


# The chapters, as an instructor batch-runs them. Solutions notebooks are not run a third time
# here: nbval runs them, the grader runs them (tests/test_exercises.py), and papermill runs their
# exercise twins with the same parameters cell (test_exercise_notebooks_stop_only_at_stubs).
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_papermill_runs_with_injected_parameters(path: Path, tmp_path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    parameters = _smoke_parameters(nb)
    changed = CHANGED_PARAMETERS.get(path.name)
    if changed:  # a value the notebook would not choose itself, and the line it then prints
        parameters[changed[0]] = changed[1]
    out = tmp_path / path.name
    _papermill(path, out, parameters)
    result = nbformat.read(out, as_version=4)
    injected = [c for c in result.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected, "papermill did not inject the parameters"
    for name in parameters:
        assert re.search(rf"^{name} = ", injected[0].source, re.MULTILINE)
    if changed:  # the injected value reached the code, not only the parameters cell
        texts = "".join(_output_text(c) for c in result.cells if c.cell_type == "code")
        assert changed[2] in texts, f"{changed[0]} = {changed[1]!r} did not change the run"


@pytest.mark.parametrize("path", EXERCISES, ids=_ids(EXERCISES))
def test_exercise_notebooks_stop_only_at_stubs(path: Path, tmp_path: Path) -> None:
    import papermill

    from aigc_course.exercises import STUB_ERRORS

    nb = nbformat.read(ROOT / "solutions" / path.name, as_version=4)
    try:
        _papermill(path, tmp_path / path.name, _smoke_parameters(nb))
    except papermill.PapermillExecutionError as err:
        assert (
            err.ename in STUB_ERRORS
        ), f"{path.name} failed before reaching a stub: {err.ename}: {err.evalue}"
    else:
        pytest.fail(f"{path.name} ran to the end: its stubs do not stop a student who skips them")


def _nbval(notebook: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--nbval",
        "--nbval-current-env",
        "-p",
        "no:cacheprovider",
        "--nbval-sanitize-with",
        str(ROOT / "tests" / "sanitize.cfg"),
        "-q",
        str(notebook),
    ]
    return subprocess.run(
        cmd,
        cwd=notebook.parent,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_nbval_bites_on_a_changed_stored_number(tmp_path: Path) -> None:
    """Change a stored number in a compared cell: nbval must fail that cell; unchanged, pass."""
    source = ROOT / "notebooks" / "00_start_here.ipynb"
    nb = json.loads(source.read_text(encoding="utf-8"))
    # The number of images shown: printed by a compared cell and untouched by the sanitize file
    # (which masks e.g. library versions, so a digit there would prove nothing).
    number = re.compile(r"Showing (\d+) real images")
    target, target_cell = None, None
    code_cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for index, cell in enumerate(code_cells):  # nbval names code cells "Cell <index>"
        if IGNORE_TAG in cell["metadata"].get("tags", []):
            continue
        for out in cell.get("outputs", []):
            if out["output_type"] == "stream" and number.search("".join(out["text"])):
                target, target_cell = out, index
    assert target, "00_start_here has no compared cell printing 'Showing N real images'"

    text = "".join(target["text"])
    found = number.search(text)
    changed = str(int(found.group(1)) + 1)
    target["text"] = text[: found.start(1)] + changed + text[found.end(1) :]
    bad = tmp_path / "bad" / source.name
    bad.parent.mkdir()
    bad.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    failed = _nbval(bad)
    assert failed.returncode != 0, "nbval passed a notebook whose stored output was changed"
    # Exactly the changed cell fails, and every other cell of this copy passes: the copy runs
    # where nbval can compare it (the unchanged notebook's own nbval run is the other half).
    summary = failed.stdout.strip().splitlines()[-1]
    expected = rf"=* ?1 failed, {len(code_cells) - 1} passed.*"
    assert re.fullmatch(expected, summary), failed.stdout[-3000:]
    assert re.search(rf"::Cell {target_cell}\b", failed.stdout), failed.stdout[-3000:]


DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture
def every_data_source(tmp_path: Path) -> dict[str, str]:
    """A machine with every optional source of Fashion-MNIST: Debian's package (needed), a folder
    in AIGC_DATA_DIR and a Keras download cache (both made from it)."""
    if not DEBIAN_FASHION.is_dir() and not os.environ.get("AIGC_EXPECT_FULL_DATA"):
        pytest.skip("needs the full Fashion-MNIST: sudo apt-get install dataset-fashion-mnist")
    files = sorted(DEBIAN_FASHION.glob("*-ubyte.gz"))
    assert len(files) == 4, f"{DEBIAN_FASHION} should hold the four IDX files"
    for folder in (
        tmp_path / "data" / "fashion_mnist",
        tmp_path / "keras" / "datasets" / "fashion-mnist",
    ):
        folder.mkdir(parents=True)
        for f in files:
            (folder / f.name).symlink_to(f)
    return {"AIGC_DATA_DIR": str(tmp_path / "data"), "KERAS_HOME": str(tmp_path / "keras")}


@pytest.mark.full_data
def test_stored_outputs_do_not_depend_on_optional_data(every_data_source) -> None:
    """00_start_here, which lists the data sources and loads both datasets in compared cells,
    matches its stored outputs on a machine that has Fashion-MNIST three times over: the test
    command pins AIGC_DATA_SOURCE=shipped, as refresh does. (Chapter 02 loads Fashion-MNIST too,
    but compares only shapes, which the source does not change.)"""
    result = _nbval(ROOT / "notebooks" / "00_start_here.ipynb", every_data_source)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.full_data
def test_without_the_pin_optional_data_would_change_stored_outputs(every_data_source) -> None:
    """The control: unpinned, the same machine prints other sources, so the test above can fail."""
    env = {**every_data_source, "AIGC_DATA_SOURCE": "auto"}
    result = _nbval(ROOT / "notebooks" / "00_start_here.ipynb", env)
    assert result.returncode != 0, "00_start_here matched although its data sources changed"
    assert "AIGC_DATA_DIR/fashion_mnist" in result.stdout, result.stdout[-3000:]
