"""JupyterLab in a real browser: a Lab server, headless Chromium driven by Playwright, and the
checks ``tests/test_browser.py`` runs on every page (see :func:`audit_notebooks`) and widget
(see :class:`WidgetRun`).

nbval runs the code but never renders the markdown. Here every notebook is opened the way a
student opens it (Debian's ``chromium``, JupyterLab's own mermaid and MathJax, offline) and each
problem a reader would see is reported by kind (:data:`KINDS`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: Set (by ``.ci/run``) where the browser tests must run: a missing browser fails, never skips.
REQUIRE_ENV = "AIGC_REQUIRE_BROWSER"
#: Optional: the browser to drive (default: ``chromium`` or ``chromium-browser`` on PATH).
CHROMIUM_ENV = "AIGC_CHROMIUM"
#: Chromium's background services try the network; offline their refused connections would
#: show up as failed requests, so they are switched off.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
WINDOW = {"width": 1366, "height": 768}  # a common laptop screen
MIN_DIAGRAM_TEXT_PX = 12.0
#: Cell tag of a cell that displays an interactive widget (refresh adds it; see notebooks.py).
WIDGET_TAG = "widget"
#: The served folder's second view of the repository, where widget notebooks run.
LIVE = "live"
LIVE_FOLDERS = ("notebooks", "solutions")  # where the widget notebooks run and write files
KINDS = {
    "mermaid": "a diagram that did not render (mermaid syntax error)",
    "mathjax": "a formula MathJax could not typeset, or an undefined macro",
    "raw-dollar": "a $ left in the rendered text: maths that was never typeset",
    "image": "an image that did not load",
    "console": "an error in the browser's console, or an uncaught exception",
    "request": "a request that failed or was answered with an HTTP error",
    "legibility": f"diagram text under {MIN_DIAGRAM_TEXT_PX:.0f} px in a {WINDOW['width']}-px window",
    "dirty": "the notebook counts as modified right after opening",
    "render": "the page did not open or finish rendering in time",
}
# Lab settings for the tests: never write a notebook back (a test must not touch the files it
# checks), shut a notebook's kernel down when its tab closes, attach every cell to the page
# (so that all of them render and have a size), and never ask the internet for news.
SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"kernelShutdown": True, "windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}
_MERMAID_BLOCK = re.compile(r"^\s*```+\s*mermaid\s*$", re.MULTILINE)


def diagram_count(notebook: dict) -> int:
    """How many mermaid diagrams a notebook's markdown holds (from its JSON)."""
    return sum(
        len(_MERMAID_BLOCK.findall("".join(c["source"])))
        for c in notebook["cells"]
        if c["cell_type"] == "markdown"
    )


def find_chromium() -> str | None:
    """The Chromium executable to drive, or None when there is none."""
    if os.environ.get(CHROMIUM_ENV):
        return os.environ[CHROMIUM_ENV]
    return shutil.which("chromium") or shutil.which("chromium-browser")


def kernel_language_info() -> dict:
    """The ``language_info`` a fresh ``python3`` kernel reports on this machine."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3")
    try:
        return client.kernel_info(reply=True, timeout=60)["content"]["language_info"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """JupyterLab on a free localhost port, without a token, with every Jupyter directory
    (config, data, runtime, settings, workspaces) in a temporary folder.

    It serves ``site``, a temporary folder with a link to each top-level entry of ``root`` (so
    notebooks open and run in their real folders), the same links again in ``live/``, and an
    empty ``scratch/`` for test notebooks.
    Use as a context manager; leaving it stops the server and its kernels.
    """

    def __init__(self, root: Path, env: dict[str, str] | None = None, timeout: float = 120):
        self.root, self.timeout = Path(root), timeout
        # Jupyter gives each notebook path one kernel session, shared by every tab showing it:
        # `live/` is a second view of the repository, so that the notebooks run by the widget
        # tests never share a kernel with the same notebooks opened by the page checks.
        self.views = ("", LIVE)
        self.env = {**os.environ, **(env or {})}
        self.env.pop("MPLBACKEND", None)  # kernels inherit it; plt.show() would show nothing
        self.tmp = Path(tempfile.mkdtemp(prefix="aigc-lab-"))
        self.site = self.tmp / "site"
        self.scratch = self.site / "scratch"
        self.data_dir = self.tmp / "data"
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log_path = self.tmp / "server.log"

    def __enter__(self) -> LabServer:
        self.scratch.mkdir(parents=True)
        for view in self.views:
            (self.site / view).mkdir(exist_ok=True)
            for entry in self.root.iterdir():
                if entry.name.startswith(".") or entry.name in ("scratch", LIVE):
                    continue
                if view == LIVE and entry.name in LIVE_FOLDERS:
                    # a real folder of links: what the live kernels write (runs/...) stays here,
                    # away from the same notebook run by nbval on the other pytest worker
                    (self.site / view / entry.name).mkdir()
                    for child in entry.iterdir():
                        if child.name != "runs":
                            (self.site / view / entry.name / child.name).symlink_to(child)
                else:
                    (self.site / view / entry.name).symlink_to(entry)
        dirs = {
            "JUPYTER_CONFIG_DIR": "config",
            "JUPYTER_DATA_DIR": "data",
            "JUPYTER_RUNTIME_DIR": "runtime",
            "JUPYTERLAB_SETTINGS_DIR": "settings",
            "JUPYTERLAB_WORKSPACES_DIR": "workspaces",
        }
        for var, name in dirs.items():
            (self.tmp / name).mkdir()
            self.env[var] = str(self.tmp / name)
        # The debugger's sidebar asks each new kernel for its debug state; closing a notebook a
        # moment after its kernel starts (what the page audit does, never a student) cancels
        # that request, and Lab logs "Could not restore the debugger state" to the console.
        labconfig = self.tmp / "config" / "labconfig"
        labconfig.mkdir()
        (labconfig / "page_config.json").write_text(
            json.dumps({"disabledExtensions": {"@jupyterlab/debugger-extension": True}})
        )
        for plugin, values in SETTINGS.items():
            path = self.tmp / "settings" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            f"--port={self.port}",
            "--ServerApp.ip=127.0.0.1",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={self.site}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: see _open_with_command
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # CI containers run as root
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                cmd, cwd=self.site, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/status", timeout=5):
                    return self
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log_text = self.log()
                    self.__exit__(None, None, None)
                    raise RuntimeError(f"JupyterLab did not start:\n{log_text}") from None
                time.sleep(0.25)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def trust(self, path: Path) -> None:
        """Sign a scratch notebook with this server's key, as `jupyter trust` would."""
        import nbformat
        from nbformat.sign import NotebookNotary

        notary = NotebookNotary(data_dir=str(self.data_dir))
        nb = nbformat.read(path, as_version=4)
        notary.sign(nb)
        notary.store.close()

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # Lab stops its kernels, then exits
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


@contextlib.contextmanager
def lab_and_browser(root: Path, executable: str, env: dict[str, str]) -> Iterator[tuple]:
    """A Lab server on ``root`` and one headless Chromium: ``(server, browser)``."""
    from playwright.sync_api import sync_playwright

    with LabServer(root, env) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield server, browser
        finally:
            browser.close()


class LabPage:
    """One browser tab running JupyterLab; it records console errors and failed requests."""

    _count = itertools.count()

    def __init__(self, browser, server: LabServer):
        self.server = server
        # A workspace of its own: JupyterLab restores a shared workspace's layout in every tab,
        # so a second tab would reopen the first one's notebooks, attach to their kernels and
        # log "Comm not found" for widgets it never created.
        self.workspace = f"tab{next(self._count)}"
        self.page = browser.new_page(viewport=WINDOW)
        self.events: list[tuple[str, str]] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda err: self.events.append(("console", f"uncaught {err}")))
        self.page.on("requestfailed", self._on_request_failed)
        self.page.on("response", self._on_response)
        self.loaded = False

    def _on_console(self, message) -> None:
        if message.type == "error":
            self.events.append(("console", message.text[:500]))

    def _on_request_failed(self, request) -> None:
        self.events.append(("request", f"{request.url[:200]}: {request.failure}"))

    def _on_response(self, response) -> None:
        if response.status >= 400:
            self.events.append(("request", f"{response.url[:200]}: HTTP {response.status}"))

    def open(self, path: str) -> Opening:
        """Start opening the notebook at ``path`` (relative to the served folder): the first
        one by its address, the next ones with the file browser's open command in the same Lab."""
        opening = Opening(self, Path(path).name, self.page.evaluate(_TAB_IDS_JS))
        if not self.loaded:
            self.page.goto(
                f"{self.server.url}/lab/workspaces/{self.workspace}/tree/{path}",
                wait_until="commit",
            )
            self.loaded = True
        else:
            self._open_with_command(path)
        return opening

    def open_and_wait(self, path: str, timeout: float = 120) -> str:
        """Open ``path`` and return the id of its notebook panel once it shows."""
        opening = self.open(path)
        deadline = time.monotonic() + timeout
        while (panel := opening.panel()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} did not open in {timeout:.0f} s")
            time.sleep(0.2)
        return panel

    def _open_with_command(self, path: str) -> None:
        # The file browser's own command (the Lab is started with its app exposed to the page).
        # Typing into the command palette instead failed now and then on a busy machine: a
        # keystroke lost while the palette was still opening cost a 15-s retry.
        self.page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.commands.hasCommand('docmanager:open')"
        )
        self.page.evaluate(
            "(path) => { window.jupyterapp.commands.execute('docmanager:open', {path}); }", path
        )

    def state(self, panel: str) -> dict | None:
        return self.page.evaluate(_STATE_JS, panel)

    def activate(self, panel: str) -> None:
        """Bring the notebook panel ``panel`` to the front (click its tab)."""
        self.page.locator(f'.lm-DockPanel .lm-TabBar-tab[data-id="{panel}"]').click()

    def close_notebook(self, panel: str) -> None:
        """Close a notebook without saving (its kernel shuts down, see SETTINGS)."""
        tab = self.page.locator(f'.lm-DockPanel .lm-TabBar-tab[data-id="{panel}"]')
        dirty = "jp-mod-dirty" in (tab.get_attribute("class") or "")
        tab.locator(".lm-TabBar-tabCloseIcon").click()
        if dirty:
            self.page.locator(".jp-Dialog button", has_text="Discard").click(timeout=10000)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.page.close()


class Opening:
    """A notebook being opened in a :class:`LabPage`: :meth:`panel` finds its panel's id (a
    new tab with the notebook's name, current, showing cells), or None while not there yet."""

    def __init__(self, lab: LabPage, name: str, tabs_before: list[str]):
        self.lab, self.name, self.before = lab, name, tabs_before

    def panel(self) -> str | None:
        try:
            return self.lab.page.evaluate(_NEW_PANEL_JS, [self.name, self.before])
        except Exception:  # the page is still loading: no document to ask yet
            return None


# ---------------------------------------------------------------------------------------------
# What the page shows, read in the browser. A notebook panel is found by its element id, which
# is also the data-id of its tab.

_TAB_IDS_JS = """() => Array.from(document.querySelectorAll('.lm-DockPanel .lm-TabBar-tab'))
  .map(t => t.getAttribute('data-id'))"""

_NEW_PANEL_JS = """([name, before]) => {
  const tab = document.querySelector('.lm-DockPanel .lm-TabBar-tab.lm-mod-current');
  if (!tab || before.includes(tab.getAttribute('data-id'))) return null;
  if (tab.textContent.trim() !== name) return null;
  const panel = document.getElementById(tab.getAttribute('data-id'));
  return panel && panel.querySelector('.jp-Cell') ? panel.id : null;
}"""

# Progress of a notebook's rendering, polled a few times a second (so it stays cheap: counts,
# and the search for a $ only once every markdown cell has rendered). `pendingMath` is whether
# the rendered text still holds a $: MathJax replaces the maths it typesets, so it turns false
# when MathJax is done (or stays true when a $ will never be typeset: a fault the audit reports).
# `kernel` is the panel's own kernel from Lab's model ("connected idle" once it answered), not
# the status bar, which can still show the previously active notebook's kernel.
_STATE_JS = """(id) => {
  const panel = document.getElementById(id);
  if (!panel) return null;
  const markdown = panel.querySelectorAll('.jp-MarkdownCell').length;
  const rendered = panel.querySelectorAll('.jp-MarkdownCell .jp-RenderedMarkdown');
  let pendingMath = null;
  if (rendered.length === markdown) {
    pendingMath = false;
    for (const r of rendered) {
      const walker = document.createTreeWalker(r, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT, {
        acceptNode: n => n.nodeType === Node.TEXT_NODE
          ? (n.data.includes('$') ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_SKIP)
          : (['CODE', 'PRE', 'MJX-CONTAINER'].includes(n.nodeName)
            ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_SKIP),
      });
      if (walker.nextNode()) { pendingMath = true; break; }
    }
  }
  const mermaid = panel.querySelectorAll('.jp-RenderedMermaid');
  const widget = Array.from(window.jupyterapp.shell.widgets('main')).find(w => w.id === id);
  const context = widget && widget.sessionContext;
  const session = context && context.isReady && context.session;
  const kernel = session && session.kernel
    ? `${session.kernel.connectionStatus} ${session.kernel.status}` : 'none';
  const tab = document.querySelector(`.lm-DockPanel .lm-TabBar-tab[data-id="${id}"]`);
  return {
    markdown,
    rendered: rendered.length,
    pendingMath,
    mermaid: mermaid.length,
    mermaidDone: panel.querySelectorAll(
      '.jp-RenderedMermaid.jp-mod-warning, .jp-RenderedMermaid img').length,
    formulas: panel.getElementsByTagName('mjx-container').length,
    imagesLoading: Array.from(panel.getElementsByTagName('img')).filter(i => !i.complete).length,
    kernel,
    dirty: Boolean(tab && tab.classList.contains('jp-mod-dirty')),
  };
}"""

# Problems visible in the page, per cell (with every cell attached, DOM order = notebook order).
_AUDIT_JS = """(id) => {
  const panel = document.getElementById(id);
  const out = {mermaid: [], mathjax: [], dollars: [], images: []};
  Array.from(panel.querySelectorAll('.jp-Cell')).forEach((cell, index) => {
    const where = `cell ${index}`;
    cell.querySelectorAll('.jp-RenderedMermaid.jp-mod-warning').forEach(m => out.mermaid.push(
      `${where}: ${m.textContent.replace(/\\s+/g, ' ').trim().slice(0, 300)}`));
    cell.querySelectorAll('mjx-container').forEach(math => {
      const error = math.querySelector('mjx-merror');
      if (error) {
        out.mathjax.push(`${where}: ${error.getAttribute('data-mjx-error')} in ` +
          (math.querySelector('mjx-assistive-mml merror') || error).textContent.slice(0, 200));
      }
      // MathJax's noundefined package shows an unknown macro as red text, not as an error box
      const macro = math.querySelector('mjx-assistive-mml mtext[mathcolor="red"]') ||
        math.querySelector('mjx-math mjx-mtext[style*="color: red"]');
      if (macro) out.mathjax.push(`${where}: undefined macro ${macro.textContent}`.trim());
    });
    const md = cell.classList.contains('jp-MarkdownCell') && cell.querySelector('.jp-RenderedMarkdown');
    if (md) {
      const copy = md.cloneNode(true);
      copy.querySelectorAll('code, pre, mjx-container').forEach(e => e.remove());
      const text = copy.textContent;
      const count = (text.match(/\\$/g) || []).length;
      if (count) {
        const at = text.indexOf('$');
        out.dollars.push({index, count, context: text.slice(Math.max(0, at - 40), at + 40)});
      }
    }
    cell.querySelectorAll('img').forEach(img => {
      if (!img.complete || img.naturalWidth === 0)
        out.images.push(`${where}: ${(img.getAttribute('src') || '').slice(0, 120)}`);
    });
  });
  return out;
}"""

# The smallest text of each rendered mermaid diagram, in CSS pixels on screen. A diagram is an
# <img> of an SVG: the SVG is laid out at its own size in an isolated frame, its text sizes read
# there and scaled by how much the <img> shrinks (or grows) it on the page.
_DIAGRAM_TEXT_JS = """(id) => {
  const cells = Array.from(document.getElementById(id).querySelectorAll('.jp-Cell'));
  const sizes = [];
  for (const img of cells.flatMap(c => Array.from(c.querySelectorAll('.jp-RenderedMermaid img')))) {
    const src = img.getAttribute('src');
    const data = src.slice(src.indexOf(',') + 1);
    const text = src.includes(';base64,') ? atob(data) : decodeURIComponent(data);
    const svg = new DOMParser().parseFromString(text, 'image/svg+xml').documentElement;
    const frame = document.createElement('iframe');
    frame.style.cssText = 'position:absolute;left:-30000px;top:0;width:4000px;height:4000px;border:0';
    document.body.appendChild(frame);
    const doc = frame.contentDocument;
    doc.body.style.margin = '0';
    const node = doc.importNode(svg, true);
    doc.body.appendChild(node);
    const box = node.viewBox && node.viewBox.baseVal;
    const own = node.getBoundingClientRect();
    const w = box && box.width ? box.width : own.width;
    const h = box && box.height ? box.height : own.height;
    node.setAttribute('width', w);
    node.setAttribute('height', h);
    node.style.maxWidth = 'none';
    let smallest = Infinity;
    const walker = doc.createTreeWalker(node, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const t = walker.currentNode;
      if (!t.textContent.trim() || t.parentElement.closest('style')) continue;
      const size = parseFloat(frame.contentWindow.getComputedStyle(t.parentElement).fontSize);
      if (size > 0) smallest = Math.min(smallest, size);
    }
    const shown = img.getBoundingClientRect();
    frame.remove();
    const px = smallest === Infinity ? null : smallest * Math.min(shown.width / w, shown.height / h);
    sizes.push({cell: cells.findIndex(c => c.contains(img)), px});
  }
  return sizes;
}"""


@dataclass
class Report:
    """What went wrong on one page, by kind (see :data:`KINDS`), and what was measured."""

    path: str
    problems: dict[str, list[str]] = field(default_factory=dict)
    diagram_text_px: list[float] = field(default_factory=list)
    formulas: int = 0
    seconds: float = 0.0

    def add(self, kind: str, message: str) -> None:
        assert kind in KINDS, kind
        self.problems.setdefault(kind, []).append(message)

    def of(self, *kinds: str) -> list[str]:
        """The problems of these kinds, one line each."""
        return [f"{k}: {m}" for k in kinds for m in self.problems.get(k, [])]


def _escaped_dollars(source: str) -> int:
    """Literal dollar signs the author asked for (``\\$``), outside code."""
    return re.sub(r"```.*?```|`[^`\n]*`", "", source, flags=re.DOTALL).count("\\$")


class PageAudit:
    """Open one notebook in a :class:`LabPage`, wait (step by step, see :meth:`step`) until
    every markdown cell, diagram and formula has rendered and its kernel is idle, then report."""

    def __init__(self, lab: LabPage, path: str, notebook: dict, timeout: float = 300):
        self.lab, self.path, self.notebook, self.timeout = lab, path, notebook, timeout
        self.report = Report(path)
        self.markdown = sum(c["cell_type"] == "markdown" for c in notebook["cells"])
        self.diagrams = diagram_count(notebook)
        self.start = time.monotonic()
        self.first_event = len(lab.events)
        self.panel: str | None = None
        self.last: dict | None = None
        self.since = self.start
        self.failed = False
        try:
            self.opening = lab.open(path)
        except Exception as err:
            self._fail(f"could not open it: {type(err).__name__}: {str(err)[:300]}")

    def _fail(self, message: str) -> None:
        self.report.add("render", message)
        self.failed = True

    def step(self) -> bool:
        """Look once; True when the page is complete (or hopeless) and :meth:`finish` may run."""
        if self.failed:
            return True
        now = time.monotonic()
        if self.panel is None:
            self.panel = self.opening.panel()
        state = self.lab.state(self.panel) if self.panel else None
        if state != self.last:
            self.last, self.since = state, now
        if now - self.start > self.timeout:
            self._fail(f"not rendered after {self.timeout:.0f} s; last state {state}")
            return True
        if state is None:
            return False
        complete = (
            state["markdown"] == state["rendered"] == self.markdown
            and state["mermaid"] == state["mermaidDone"] == self.diagrams
            and state["imagesLoading"] == 0
            and state["kernel"] == "connected idle"
        )
        # Unchanged for a moment once complete; longer while a $ is left (MathJax still
        # typesetting, or a $ it never will: the audit then reports it).
        quiet = 1.0 if state["pendingMath"] else 0.5
        return complete and now - self.since >= quiet

    def finish(self) -> Report:
        report, lab = self.report, self.lab
        try:
            if not self.failed:
                self._audit()
        except Exception as err:
            report.add("render", f"{type(err).__name__}: {str(err)[:300]}")
        finally:
            if self.panel:
                try:
                    lab.close_notebook(self.panel)
                except Exception as err:
                    report.add("render", f"could not close it: {type(err).__name__}: {err}")
        for kind, message in lab.events[self.first_event :]:
            report.add(kind, message)
        report.seconds = time.monotonic() - self.start
        return report

    def _audit(self) -> None:
        report, page, panel = self.report, self.lab.page, self.panel
        found = page.evaluate(_AUDIT_JS, panel)
        for kind in ("mermaid", "mathjax"):
            for message in found[kind]:
                report.add(kind, message)
        for message in found["images"]:
            report.add("image", message)
        for hit in found["dollars"]:
            source = "".join(self.notebook["cells"][hit["index"]]["source"])
            if hit["count"] > _escaped_dollars(source):
                report.add(
                    "raw-dollar",
                    f"cell {hit['index']}: {hit['count']} '$' in the rendered text "
                    f"(...{hit['context']}...): maths that was not typeset (a literal dollar "
                    "sign is written \\$)",
                )
        report.formulas = self.last["formulas"]
        sizes = [d for d in page.evaluate(_DIAGRAM_TEXT_JS, panel) if d["px"]]
        report.diagram_text_px = [d["px"] for d in sizes]
        for d in sizes:
            if d["px"] < MIN_DIAGRAM_TEXT_PX:
                report.add(
                    "legibility",
                    f"cell {d['cell']}: the diagram's smallest text is {d['px']:.1f} px in a "
                    f"{WINDOW['width']}-px window (at least {MIN_DIAGRAM_TEXT_PX:.0f}): shorten "
                    "its labels or lay it out top-down (flowchart TD) so it need not shrink",
                )
        if self.lab.state(panel)["dirty"]:
            report.add(
                "dirty",
                "JupyterLab marks it modified as soon as its kernel starts (autosave would then "
                "rewrite it in a student's clone): store the kernel's language_info, e.g. with "
                "`aigc-course refresh`",
            )


def audit_notebooks(
    labs: list[LabPage], notebooks: list[tuple[str, dict]], timeout: float = 300
) -> dict[str, Report]:
    """Audit ``(path, notebook JSON)`` pairs, one notebook at a time in each of ``labs`` (tabs
    of one browser, each with its own Lab), round-robin; returns a report per path."""
    queue, active, reports = deque(notebooks), {}, {}
    while queue or active:
        for lab in labs:
            if lab not in active and queue:
                path, notebook = queue.popleft()
                active[lab] = PageAudit(lab, path, notebook, timeout)
        for lab, audit in list(active.items()):
            if audit.step():
                reports[audit.path] = audit.finish()
                del active[lab]
        time.sleep(0.25)
    return reports


# ---------------------------------------------------------------------------------------------
# Widgets


def widget_cells(notebook: dict) -> list[int]:
    """Indices of the cells tagged :data:`WIDGET_TAG`."""
    return [
        i
        for i, c in enumerate(notebook["cells"])
        if WIDGET_TAG in c.get("metadata", {}).get("tags", [])
    ]


# Hashes of the images in a cell's output (the widget's picture) and its visible text.
_OUTPUT_JS = """async ([id, index]) => {
  const panel = document.getElementById(id);
  const cell = panel.querySelectorAll('.jp-Cell')[index];
  const area = cell.querySelector('.jp-OutputArea');
  const images = [];
  for (const img of area.querySelectorAll('img')) {
    const bytes = await (await fetch(img.src)).arrayBuffer();
    const digest = await crypto.subtle.digest('SHA-256', bytes);
    images.push(Array.from(new Uint8Array(digest)).map(b => b.toString(16).padStart(2, '0')).join(''));
  }
  return {images, text: area.innerText};
}"""

# Whether the notebook panel ``id`` has its kernel connected and idle (from Lab's own model).
_KERNEL_IDLE_JS = """(id) => {
  for (const widget of window.jupyterapp.shell.widgets('main')) {
    if (widget.id !== id) continue;
    const context = widget.sessionContext;
    const kernel = context && context.isReady && context.session && context.session.kernel;
    return Boolean(kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle');
  }
  return false;
}"""

# Marks a cell's prompt with data-started="1" as soon as its text changes ("[*]:" when the cell
# is queued, then its new count): proof that the key press reached the notebook.
_WATCH_PROMPT_JS = """(prompt) => {
  prompt.removeAttribute('data-started');
  const observer = new MutationObserver(() => {
    prompt.setAttribute('data-started', '1');
    observer.disconnect();
  });
  observer.observe(prompt, {childList: true, characterData: true, subtree: true});
}"""

# Which cells ran: their prompts ("[3]:", "[*]:", "[ ]:") and any error output.
_RUN_JS = """([id, upto]) => {
  const panel = document.getElementById(id);
  const cells = Array.from(panel.querySelectorAll('.jp-Cell')).slice(0, upto + 1);
  const code = cells.filter(c => c.classList.contains('jp-CodeCell'));
  const errors = cells.flatMap(c => Array.from(c.querySelectorAll(
      '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"], ' +
      '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
    .filter(o => /Traceback|Error/.test(o.innerText)).map(o => o.innerText.slice(-600)));
  const last = cells[upto];
  return {
    prompts: code.map(c => (c.querySelector('.jp-InputPrompt') || {}).innerText || ''),
    sliders: last.querySelectorAll('.jp-OutputArea .widget-slider').length,
    errors,
  };
}"""


@dataclass
class Interaction:
    """What moving a widget's first slider did (see :meth:`WidgetRun.interact`)."""

    how: str  # "keyboard" or "mouse"
    value_before: str
    value_after: str
    images_before: list[str]
    images_after: list[str]
    text_changed: bool

    @property
    def picture_changed(self) -> bool:
        return bool(self.images_after) and self.images_after != self.images_before


class WidgetRun:
    """Run a notebook's cells up to a widget cell in a live kernel (a student pressing
    Shift+Enter from the top), then move the widget's first slider by keyboard and by mouse.

    :meth:`start` queues the cells and returns (the kernel works while other pages render);
    :meth:`wait` waits for the widget; :meth:`interact` moves its slider. Several runs may
    share one :class:`LabPage` (one tab each).
    """

    def __init__(self, lab: LabPage, path: str, cell: int):
        self.lab, self.path, self.cell = lab, path, cell
        self.panel: str | None = None

    def start(self, timeout: float = 300) -> None:
        lab = self.lab
        self.panel = lab.open_and_wait(self.path, timeout)
        # This notebook's own kernel, not the status bar: right after a tab opens, the status
        # bar can still show the previous notebook's idle kernel, and a cell run then was lost.
        lab.page.wait_for_function(_KERNEL_IDLE_JS, arg=self.panel, timeout=timeout * 1000)
        cells = lab.page.locator(f"#{self.panel} .jp-Cell")
        for i in range(self.cell + 1):
            if "jp-CodeCell" in (cells.nth(i).get_attribute("class") or ""):
                self._run_cell(i, timeout)

    def _run_cell(self, index: int, timeout: float, attempts: int = 3) -> None:
        """Select cell ``index`` and press Shift+Enter, as a student would, until its prompt
        shows it queued or run. On a busy machine a key press can land before the notebook
        has focus and be lost; the cells after it would then run without it."""
        page = self.lab.page
        cell = page.locator(f"#{self.panel} .jp-Cell").nth(index)
        prompt = cell.locator(".jp-InputPrompt")
        for attempt in range(attempts):
            prompt.click()  # select it (command mode)
            # a busy page may not have moved the selection yet: run only the cell meant
            cell.and_(page.locator(".jp-Cell.jp-mod-active")).wait_for(timeout=timeout * 1000)
            # The prompt may already show a stored count ("[5]:"): watch it change instead.
            prompt.evaluate(_WATCH_PROMPT_JS)
            page.keyboard.press("Shift+Enter")
            try:
                cell.locator(".jp-InputPrompt[data-started='1']").wait_for(timeout=10000)
                return
            except Exception:
                if attempt == attempts - 1:
                    raise RuntimeError(
                        f"cell {index} of {self.path}: Shift+Enter pressed {attempts} times, "
                        "the cell never started"
                    ) from None

    def wait(self, timeout: float = 600) -> list[str]:
        """Wait until the widget's sliders show; returns the errors seen instead, if any."""
        self.lab.activate(self.panel)
        deadline, idle_since = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            run = self.lab.page.evaluate(_RUN_JS, [self.panel, self.cell])
            if run["sliders"]:
                return []
            if run["errors"]:
                return run["errors"]
            busy = any("*" in p for p in run["prompts"])
            idle_since = None if busy else (idle_since or time.monotonic())
            if idle_since and time.monotonic() - idle_since > 15:
                return [f"the cells ran ({run['prompts']}) but cell {self.cell} shows no slider"]
            time.sleep(0.5)
        return [f"no slider after {timeout:.0f} s"]

    def _output(self) -> dict:
        return self.lab.page.evaluate(_OUTPUT_JS, [self.panel, self.cell])

    def interact(self, how: str, timeout: float = 60) -> Interaction:
        """Move the first slider (``how``: "keyboard" or "mouse") and wait for the picture."""
        self.lab.activate(self.panel)
        cell = self.lab.page.locator(f"#{self.panel} .jp-Cell").nth(self.cell)
        slider = cell.locator(".jp-OutputArea .widget-slider").first
        slider.scroll_into_view_if_needed()
        handle = slider.locator(".noUi-handle").first
        readout = slider.locator(".widget-readout").first
        before, value_before = self._output(), readout.inner_text()
        if how == "keyboard":
            handle.focus()
            for _ in range(5):
                self.lab.page.keyboard.press("ArrowRight")
            handle.blur()  # sliders with continuous_update=False report on release
        elif how == "mouse":
            track = slider.locator(".noUi-target").first.bounding_box()
            box = handle.bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            mouse = self.lab.page.mouse
            mouse.move(x, y)
            mouse.down()
            mouse.move(x - track["width"] / 4, y, steps=8)
            mouse.up()
        else:
            raise ValueError(f"how must be 'keyboard' or 'mouse', got {how!r}")
        deadline = time.monotonic() + timeout
        after = self._output()
        while after["images"] == before["images"] and time.monotonic() < deadline:
            time.sleep(0.25)
            after = self._output()
        return Interaction(
            how,
            value_before,
            readout.inner_text(),
            before["images"],
            after["images"],
            after["text"] != before["text"],
        )
