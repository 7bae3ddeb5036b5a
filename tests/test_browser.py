"""Every page of the course in a real browser, as a student sees it in JupyterLab.

One Lab server and one headless Chromium (see ``tests/jupyterlab_browser.py``) open every
notebook in ``notebooks/``, ``exercises/`` and ``solutions/`` and fail on what a reader would
meet: a diagram or formula that does not render, a ``$`` left in the text, a broken image, an
error in the console or a failed request, diagram text too small to read at laptop size, and a
notebook that turns "modified" as soon as it is opened. Every widget (a cell tagged ``widget``)
is run in a live kernel in smoke mode and its slider moved by keyboard and by mouse.

Scratch notebooks, each with one planted fault, prove that every check can fail. Without
Chromium the tests skip with a message, except where ``AIGC_REQUIRE_BROWSER=1`` (CI): there
they fail instead.
"""

from __future__ import annotations

import base64
import json
import os
import zlib
from pathlib import Path

import jupyterlab_browser as lab_browser
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
COURSE = [
    p.relative_to(ROOT).as_posix()
    for folder in ("notebooks", "exercises", "solutions")
    for p in sorted((ROOT / folder).glob("*.ipynb"))
]
NOTEBOOKS = {path: json.loads((ROOT / path).read_text(encoding="utf-8")) for path in COURSE}
DIAGRAMS = {path: n for path, nb in NOTEBOOKS.items() if (n := lab_browser.diagram_count(nb))}
# Exercises stop at their stubs, so only chapters and solutions are run up to their widgets.
WIDGETS = [
    (path, cell)
    for path in COURSE
    if not path.startswith("exercises/")
    for cell in lab_browser.widget_cells(NOTEBOOKS[path])
]
RENDER_KINDS = ("mermaid", "mathjax", "raw-dollar", "image", "console", "request", "render")
SLOTS = 2  # notebooks rendered at once (two tabs, each its own Lab): measured 1.4x one tab


def _widget_id(widget: tuple[str, int]) -> str:
    return f"{widget[0]}::cell{widget[1]}"


# ---------------------------------------------------------------------------------------------
# Scratch notebooks: a clean control and planted faults


def _png(width: int, height: int, grey: int) -> bytes:
    """A valid greyscale PNG, written by hand so that the control needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    rows = b"".join(b"\x00" + bytes([grey]) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG = base64.b64encode(_png(24, 16, 128)).decode()
SMALL_DIAGRAM = "```mermaid\nflowchart TD\n    A[noise z] --> B[generator] --> C[image]\n```"
# Twelve boxes side by side: to fit the page the diagram shrinks its text far below 12 px.
WIDE_DIAGRAM = (
    "```mermaid\nflowchart LR\n"
    + "\n".join(f"    S{i}[step number {i} of the pipeline] --> S{i + 1}" for i in range(12))
    + "\n```"
)
CONTROL = [
    "# A clean page\n\nInline maths $p_g = p_\\text{data}$ and a display:\n\n"
    "$$\\min_G \\max_D V(D, G) = \\mathbb{E}_{x}[\\log D(x)]$$\n\n"
    "A literal dollar sign, escaped: it costs \\$5.",
    SMALL_DIAGRAM,
    f"An image: ![grey](data:image/png;base64,{PNG})\n\nAnd `$code$` is not maths.",
]
# One planted fault per cell of one notebook (the control's cells come first): each must be
# reported at its own cell, by the check named.
CONTENT_FAULTS = {  # fault: (the kind of problem it must raise, its markdown)
    "mermaid syntax": ("mermaid", "```mermaid\nflowchart TD\n    A[start] -->\n```"),
    "TeX syntax": ("mathjax", "A double exponent: $x^2^3$."),
    "TeX macro": ("mathjax", "An undefined macro: $\\Expect[x]$."),
    "unescaped dollar": ("raw-dollar", "A price without an escaped dollar sign: it costs $5."),
    "broken image": ("image", "![broken](data:image/png;base64,iVBORw0KGgoAAAAN)"),
    "tiny diagram text": ("legibility", WIDE_DIAGRAM),
}
FAULT_CELLS = {fault: len(CONTROL) + i for i, fault in enumerate(CONTENT_FAULTS)}
WIDGET_SETUP = (
    "import io\n\nimport ipywidgets as w\nfrom PIL import Image\n\n\n"
    "def png(grey):\n    buffer = io.BytesIO()\n"
    "    Image.new('L', (40, 40), int(grey)).save(buffer, format='png')\n"
    "    return buffer.getvalue()\n\n\n"
    "slider = w.FloatSlider(value=100, min=0, max=250, step=10)\n"
    "image = w.Image(value=png(100), format='png')"
)
WIDGET_LIVE = "slider.observe(lambda change: setattr(image, 'value', png(change['new'])), 'value')"


def _notebook(markdown: list[str], language_info: dict, code: list[tuple[str, list]] = ()):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(m) for m in markdown]
    for source, tags in code:
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": tags}))
    nb.metadata = {
        "kernelspec": {
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "name": "python3",
        },
        "language_info": language_info,
    }
    return nb


def _scratch(server: lab_browser.LabServer, language_info: dict) -> dict[str, dict]:
    """Write the scratch notebooks into the server's scratch folder; returns path -> JSON."""
    console = _notebook(CONTROL, language_info)
    console.cells.append(
        nbformat.v4.new_code_cell(
            "# (stored output)",
            execution_count=1,
            outputs=[
                nbformat.v4.new_output(
                    "display_data",
                    data={"application/javascript": "console.error('planted console error')"},
                )
            ],
        )
    )
    widget_frozen = [("# frozen: the slider moves, the picture never changes", [])]
    notebooks = {
        "scratch/control.ipynb": _notebook(CONTROL, language_info),
        "scratch/content_faults.ipynb": _notebook(
            CONTROL + [markdown for _, markdown in CONTENT_FAULTS.values()], language_info
        ),
        "scratch/console_error.ipynb": console,
        "scratch/missing_file.ipynb": _notebook(
            [*CONTROL, "![a file that is not there](no_such_figure.png)"], language_info
        ),
        "scratch/stripped_language_info.ipynb": _notebook(CONTROL, {"name": "python"}),
        "scratch/widget_live.ipynb": _notebook(
            CONTROL[:1],
            language_info,
            [(WIDGET_SETUP, []), (WIDGET_LIVE, []), ("w.VBox([image, slider])", ["widget"])],
        ),
        "scratch/widget_frozen.ipynb": _notebook(
            CONTROL[:1],
            language_info,
            [(WIDGET_SETUP, []), *widget_frozen, ("w.VBox([image, slider])", ["widget"])],
        ),
    }
    for path, nb in notebooks.items():
        nbformat.write(nb, server.site / path)
    server.trust(server.site / "scratch/console_error.ipynb")  # Lab runs its output's script
    return {path: json.loads((server.site / path).read_text()) for path in notebooks}


# ---------------------------------------------------------------------------------------------
# Fixtures: one server, one browser, every page rendered once


def _browser() -> str:
    """Chromium's path; skips the test without it, or fails it where AIGC_REQUIRE_BROWSER is set."""
    problem = None
    executable = lab_browser.find_chromium()
    if executable is None:
        problem = "no Chromium found (Debian: `apt-get install chromium fonts-noto-cjk`)"
    else:
        try:
            import playwright  # noqa: F401
        except ImportError:
            problem = "Playwright for Python is missing (`pip install -e '.[test]'`)"
    if problem:
        if os.environ.get(lab_browser.REQUIRE_ENV):
            pytest.fail(f"{problem}; {lab_browser.REQUIRE_ENV} is set, so these tests must run")
        pytest.skip(f"browser tests skipped: {problem}")
    return executable


@pytest.fixture(scope="module")
def chromium() -> str:
    return _browser()


def test_without_a_browser_the_tests_skip_or_in_ci_fail(monkeypatch) -> None:
    monkeypatch.delenv(lab_browser.CHROMIUM_ENV, raising=False)
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv(lab_browser.REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Chromium found"):
        _browser()
    monkeypatch.setenv(lab_browser.REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="AIGC_REQUIRE_BROWSER is set"):
        _browser()


@pytest.fixture(scope="module")
def language_info() -> dict:
    return lab_browser.kernel_language_info()


@pytest.fixture(scope="module")
def lab(chromium):
    env = {"AIGC_SMOKE": "1", "AIGC_OFFLINE": "1"}  # widgets run in smoke mode, offline
    with lab_browser.lab_and_browser(ROOT, chromium, env) as (server, browser):
        yield server, browser


@pytest.fixture(scope="module")
def scratch(lab, language_info) -> dict[str, dict]:
    return _scratch(lab[0], language_info)


@pytest.fixture(scope="module")
def widget_runs(lab, scratch):
    """Every widget notebook, opened in one tab each and run up to its widget. Started first,
    so that the kernels compute while the pages render."""
    server, browser = lab
    page = lab_browser.LabPage(browser, server)
    runs, started = {}, {}
    for widget in [*WIDGETS, ("scratch/widget_live.ipynb", 3), ("scratch/widget_frozen.ipynb", 3)]:
        path, cell = widget
        if not path.startswith("scratch/"):
            path = f"{lab_browser.LIVE}/{path}"  # its own kernel, not the page check's
        run = lab_browser.WidgetRun(page, path, cell)
        try:
            run.start()
            started[widget] = None
        except Exception as err:  # reported by the widget's own test
            started[widget] = f"{type(err).__name__}: {err}"
        runs[widget] = run
    yield runs, started
    page.close()


@pytest.fixture(scope="module")
def reports(lab, scratch, widget_runs) -> dict[str, lab_browser.Report]:
    server, browser = lab
    pages = [lab_browser.LabPage(browser, server) for _ in range(SLOTS)]
    todo = [(path, NOTEBOOKS[path]) for path in COURSE]
    todo += [(path, nb) for path, nb in scratch.items() if "widget" not in path]
    try:
        return lab_browser.audit_notebooks(pages, todo)
    finally:
        for page in pages:
            page.close()


def _explain(report: lab_browser.Report, kinds) -> str:
    lines = "\n  ".join(report.of(*kinds))
    return f"{report.path} in JupyterLab ({lab_browser.WINDOW['width']}-px window):\n  {lines}"


# ---------------------------------------------------------------------------------------------
# The course's pages


def test_every_notebook_is_opened(reports) -> None:
    folders = {path.split("/")[0] for path in COURSE}
    assert folders == {"notebooks", "exercises", "solutions"}, folders
    assert set(COURSE) <= set(reports)


@pytest.mark.parametrize("path", COURSE)
def test_page_renders_cleanly(path: str, reports) -> None:
    report = reports[path]
    assert not report.of(*RENDER_KINDS), _explain(report, RENDER_KINDS)


@pytest.mark.parametrize("path", sorted(DIAGRAMS))
def test_diagram_text_is_legible(path: str, reports) -> None:
    report = reports[path]
    assert len(report.diagram_text_px) == DIAGRAMS[path], "a diagram was not measured"
    assert not report.of("legibility"), _explain(report, ["legibility"])


@pytest.mark.parametrize("path", COURSE)
def test_opening_leaves_the_notebook_unmodified(path: str, reports, language_info) -> None:
    stored = NOTEBOOKS[path]["metadata"].get("language_info")
    if stored != language_info:
        message = (
            f"{path} stores language_info {stored}, this machine's kernel reports "
            f"{language_info}: JupyterLab marks it modified when its kernel starts. "
            "The notebooks were refreshed with another Python; refresh them with CI's."
        )
        if os.environ.get(lab_browser.REQUIRE_ENV):
            pytest.fail(message)
        pytest.skip(message)
    report = reports[path]
    assert not report.of("dirty"), _explain(report, ["dirty"])


# ---------------------------------------------------------------------------------------------
# Proof that each check fails on its fault


def test_the_control_page_passes_every_check(reports) -> None:
    report = reports["scratch/control.ipynb"]
    assert not report.problems, _explain(report, lab_browser.KINDS)
    assert report.formulas >= 2 and len(report.diagram_text_px) == 1


@pytest.mark.parametrize("fault", CONTENT_FAULTS)
def test_a_planted_fault_is_reported_at_its_cell(fault: str, reports) -> None:
    report = reports["scratch/content_faults.ipynb"]
    kind, at = CONTENT_FAULTS[fault][0], f"cell {FAULT_CELLS[fault]}:"
    assert any(m.startswith(at) for m in report.problems.get(kind, [])), _explain(
        report, lab_browser.KINDS
    )
    others = [
        m for k in RENDER_KINDS for m in report.problems.get(k, []) if not m.startswith("cell")
    ]
    assert not others, f"page-level problems where only cell faults were planted: {others}"


def test_a_console_error_is_reported(reports) -> None:
    report = reports["scratch/console_error.ipynb"]
    assert any("planted console error" in m for m in report.problems.get("console", [])), _explain(
        report, lab_browser.KINDS
    )


def test_a_failed_request_is_reported(reports) -> None:
    report = reports["scratch/missing_file.ipynb"]
    assert any("no_such_figure.png" in m for m in report.problems.get("request", [])), _explain(
        report, lab_browser.KINDS
    )


def test_a_notebook_without_the_kernels_language_info_turns_modified(reports) -> None:
    report = reports["scratch/stripped_language_info.ipynb"]
    assert report.of("dirty") and set(report.problems) == {"dirty"}, _explain(
        report, lab_browser.KINDS
    )


# ---------------------------------------------------------------------------------------------
# Widgets


def test_every_course_widget_is_found() -> None:
    found = {path for path, _ in WIDGETS}
    assert {"notebooks/04_gan_objective.ipynb", "notebooks/05_dcgan_mnist.ipynb"} <= found


@pytest.mark.parametrize("widget", WIDGETS, ids=[_widget_id(w) for w in WIDGETS])
def test_widget_responds_to_keyboard_and_mouse(widget, widget_runs, reports) -> None:
    runs, started = widget_runs
    assert started[widget] is None, f"{_widget_id(widget)} did not start: {started[widget]}"
    run = runs[widget]
    errors = run.wait()
    assert not errors, f"{_widget_id(widget)}: running the cells up to the widget failed: {errors}"
    for how in ("keyboard", "mouse"):
        moved = run.interact(how)
        assert moved.value_after != moved.value_before, f"{how}: the slider did not move"
        assert (
            moved.picture_changed
        ), f"{how}: slider {moved.value_before} -> {moved.value_after}, picture unchanged"
    problems = [f"{k}: {m}" for k, m in run.lab.events]
    assert not problems, f"{_widget_id(widget)}: {problems}"


def test_the_widget_check_fails_when_the_picture_is_frozen(widget_runs) -> None:
    runs, started = widget_runs
    live = runs[("scratch/widget_live.ipynb", 3)]
    frozen = runs[("scratch/widget_frozen.ipynb", 3)]
    assert not live.wait() and not frozen.wait()
    for how in ("keyboard", "mouse"):
        assert live.interact(how).picture_changed, f"{how}: the live control did not respond"
        stuck = frozen.interact(how, timeout=5)
        assert stuck.value_after != stuck.value_before and not stuck.picture_changed
