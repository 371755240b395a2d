"""The Comparator in a real JupyterLab, driven by a real Chromium.

A JupyterLab server is started on loopback (no token, random free port) with its own config,
data, runtime, settings and workspace directories, serving a temporary copy of
notebooks/quickstart.ipynb. The browser opens the notebook, runs all cells through the Run
menu, then checks what the kernel sees of in-browser interactions (lasso -> ``w.selection``)
and that a BUILD from the browser adds a row while the kernel stays usable.

What keeps JupyterLab quiet and offline (so no dialog or toast gets in the way):
- ``--LabApp.news_url=None`` and ``--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate``:
  the server never fetches news or update information;
- user settings ``@jupyterlab/apputils-extension:notification`` = {"fetchNews": "false",
  "checkForUpdates": false} (in a temporary JUPYTERLAB_SETTINGS_DIR): no "Would you like to get
  notified about official Jupyter news?" toast;
- ``--LabApp.extension_manager=readonly``: the extension manager does not query PyPI;
- ``@jupyterlab/notebook-extension:tracker`` windowingMode "none": every cell stays in the DOM,
  so cells can be located by position;
- ``--LabApp.expose_app_in_browser=True``: ``window.jupyterapp`` is used (read only) to wait for
  the kernel and for cell execution counts.
The notebook names the ``python3`` kernel, so JupyterLab starts it without asking; if a
"Select Kernel" dialog shows up anyway, the test picks the Python 3 kernel in it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ._ui import STORE, TIMEOUT_MS, PageWatch, artifact_name, canvas_ink, draw_lasso, hover_a_point, store_get

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"
SERVER_START_S = 90
RUN_ALL_MS = 300_000      # the whole notebook: trains ~10 small models on digits
LAYOUT_MS = 180_000       # UMAP layouts are computed in the kernel after the widget shows


# ---------------------------------------------------------------- the server

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list:
    """The processes started by ``pid`` (its kernels), recursively, as psutil.Process objects
    (which know their start time, so a reused PID is never mistaken for them); [] without psutil."""
    try:
        import psutil

        return psutil.Process(pid).children(recursive=True)
    except Exception:
        return []


def _log_tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


class LabServer:
    def __init__(self, base: Path, home: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.root = base / "root"
        self.log = base / "jupyterlab.log"
        dirs = {name: base / name for name in ("config", "data", "runtime", "settings", "workspaces", "ipython")}
        for d in (self.root, *dirs.values()):
            d.mkdir(parents=True, exist_ok=True)
        # A copy without outputs or execution counts, so "every cell has run" means this run.
        nb = json.loads(NOTEBOOK.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                cell["outputs"], cell["execution_count"] = [], None
        (self.root / NOTEBOOK.name).write_text(json.dumps(nb, indent=1))
        settings = {
            "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
                {"fetchNews": "false", "checkForUpdates": False},
            "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        }
        for rel, value in settings.items():
            f = dirs["settings"] / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps(value))
        env = {
            **os.environ,
            "MUCOMP_HOME": str(home),           # the kernel's model cache: temporary
            "JUPYTER_CONFIG_DIR": str(dirs["config"]),
            "JUPYTER_DATA_DIR": str(dirs["data"]),
            "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
            "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
            "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
            "IPYTHONDIR": str(dirs["ipython"]),
            "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
            "PYTHONUNBUFFERED": "1",
        }
        cmd = [
            sys.executable, "-m", "jupyter", "lab", "--no-browser",
            "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root}", "--ServerApp.disable_check_xsrf=True",
            "--ServerApp.allow_root=True",  # CI containers often run as root
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            "--LabApp.expose_app_in_browser=True",
        ]
        self._logf = open(self.log, "wb")
        self.proc = subprocess.Popen(cmd, env=env, cwd=base, stdout=self._logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{_log_tail(self.log)}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"JupyterLab did not answer on {self.url}/api/status in {SERVER_START_S} s:\n"
                           f"{_log_tail(self.log)}")

    def stop(self) -> None:
        """Shut the server down (it stops its kernels), then make sure nothing it started lives on."""
        kids = _children(self.proc.pid)
        if self.proc.poll() is None:
            try:
                req = urllib.request.Request(f"{self.url}/api/shutdown", method="POST", data=b"")
                urllib.request.urlopen(req, timeout=5).close()
            except (urllib.error.URLError, OSError):
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        for kid in kids:  # kernels of this server that outlived it
            try:
                if kid.is_running():
                    kid.kill()
            except Exception:  # gone meanwhile
                pass
        self._logf.close()


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory, e2e_home, browser):
    # `browser` first: without Chromium the test is skipped before a server is started.
    server = LabServer(tmp_path_factory.mktemp("jupyterlab"), e2e_home)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------- the notebook page

NOTEBOOK_JS = "window.jupyterapp.shell.currentWidget"
KERNEL_STATUS = f"() => {NOTEBOOK_JS}?.sessionContext?.session?.kernel?.status ?? null"
ALL_EXECUTED = f"""() => {{
  const cells = {NOTEBOOK_JS}.content.model.cells;
  for (let i = 0; i < cells.length; i++) {{
    const c = cells.get(i);
    if (c.type === 'code' && !c.executionCount) return false;
  }}
  return true;
}}"""
ERROR_OUTPUTS = f"""() => {{
  const cells = {NOTEBOOK_JS}.content.model.cells, out = [];
  for (let i = 0; i < cells.length; i++) {{
    const c = cells.get(i);
    if (c.type !== 'code') continue;
    for (const o of c.toJSON().outputs) if (o.output_type === 'error') out.push(o.ename + ': ' + o.evalue);
  }}
  return out;
}}"""
LAYOUTS_READY = f"""() => {{
  const s = {STORE};
  return Boolean(s.models[s.modelA]?.coords && s.models[s.modelB]?.coords);
}}"""


def _accept_kernel_dialog(page) -> None:
    """Wait until the notebook's kernel is idle, choosing Python 3 if JupyterLab asks."""
    page.wait_for_function(f"() => ({KERNEL_STATUS})() === 'idle' || Boolean(document.querySelector('.jp-Dialog'))",
                           timeout=TIMEOUT_MS)
    dialog = page.locator(".jp-Dialog")
    if dialog.count() and "Select Kernel" in dialog.inner_text():
        select = dialog.locator("select")
        if select.count():
            option = select.locator("option", has_text="Python 3").first
            select.select_option(value=option.get_attribute("value"))
        dialog.get_by_role("button", name="Select").click()
        page.wait_for_function(f"() => ({KERNEL_STATUS})() === 'idle'", timeout=TIMEOUT_MS)


class Notebook:
    def __init__(self, page):
        self.page = page

    def cells(self):
        return self.page.locator(".jp-Notebook .jp-Cell")

    def add_cell(self, code: str):
        """Append a code cell with the real keyboard: select the last cell, B, Enter, type."""
        page, cells = self.page, self.cells()
        n = cells.count()
        cells.nth(n - 1).locator(".jp-InputPrompt").click()   # command mode on the last cell
        page.keyboard.press("b")                                # insert a cell below
        new = cells.nth(n)
        new.wait_for(state="visible")
        page.keyboard.press("Enter")                            # edit mode
        new.locator(".cm-content").wait_for(state="visible")
        page.keyboard.insert_text(code)
        return new

    def run(self, cell, timeout_ms: int = TIMEOUT_MS) -> str:
        """Run ``cell`` in place (Ctrl+Enter), wait for its new execution count, return its output."""
        page = self.page
        prompt = cell.locator(".jp-InputPrompt")
        before = prompt.inner_text()
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Control+Enter")
        handle = prompt.element_handle()
        page.wait_for_function(
            "([el, before]) => el.textContent !== before && /\\[\\d+\\]/.test(el.textContent)",
            arg=[handle, before], timeout=timeout_ms)
        return cell.locator(".jp-OutputArea-output").all_inner_texts()


@pytest.fixture(scope="module")
def lab(lab_server, browser, artifacts_dir):
    """The quickstart notebook open in JupyterLab with all cells run and the widget rendered."""
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    page.watch = PageWatch(page)
    try:
        page.goto(f"{lab_server.url}/lab/tree/{NOTEBOOK.name}")
        page.locator(".jp-NotebookPanel").wait_for(state="visible")
        _accept_kernel_dialog(page)
        # More room for the widget: fold the file browser away (if the left area is open).
        open_tab = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
        if open_tab.count():
            open_tab.first.click()

        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells").first.click()

        # Every code cell has run, or one failed (Run All stops there): no waiting for nothing.
        page.wait_for_function(f"() => ({ALL_EXECUTED})() || ({ERROR_OUTPUTS})().length > 0",
                               timeout=RUN_ALL_MS)
        errors = page.evaluate(ERROR_OUTPUTS)
        assert errors == [], f"notebook cells raised: {errors}"
        page.wait_for_function(f"() => ({KERNEL_STATUS})() === 'idle'", timeout=RUN_ALL_MS)
        root = page.locator(".jp-OutputArea .mucomp")
        root.wait_for(state="visible")
        page.wait_for_function(LAYOUTS_READY, timeout=LAYOUT_MS)
        root.evaluate("el => el.scrollIntoView({block: 'start'})")
        page.screenshot(path=str(artifacts_dir / "jupyterlab_notebook_rendered.png"))
        yield Notebook(page)
    except Exception:
        page.screenshot(path=str(artifacts_dir / "jupyterlab_setup_failed.png"))
        print(f"JupyterLab log:\n{_log_tail(lab_server.log, 80)}")
        raise
    finally:
        ctx.close()


@pytest.fixture(autouse=True)
def _screenshot_each_test(request, artifacts_dir):
    yield
    nb = request.node.funcargs.get("lab")
    if nb is not None:
        try:
            nb.page.screenshot(path=str(artifacts_dir / artifact_name(request.node.name)))
        except Exception:
            pass


# ---------------------------------------------------------------- tests

def test_run_all_renders_the_widget(lab, lab_server):
    page = lab.page
    assert page.evaluate(ERROR_OUTPUTS) == []
    prompts = [p for p in page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_inner_texts()]
    assert prompts and all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in prompts), prompts
    # The last cell shows the (still empty) selection, as Python sees it.
    last = lab.cells().last.locator(".jp-OutputArea-output").all_inner_texts()
    assert any("array([], dtype=int64)" in t for t in last), last

    assert page.locator(".jp-OutputArea .mucomp").count() == 1
    assert page.get_by_role("tab", name="Embedding Space").get_attribute("aria-selected") == "true"
    canvases = page.locator(".jp-OutputArea canvas.mucomp-emb-canvas")
    for side in range(2):
        ink = canvas_ink(canvases.nth(side))
        assert ink["painted"] > 0.02 * ink["w"] * ink["h"] and ink["colours"] >= 8, (side, ink)
    rows = page.locator("section[aria-label=Models] tbody tr").count()
    assert rows == len(store_get(page, "runs")) >= 3

    host = f"127.0.0.1:{lab_server.port}"
    foreign = [u for u in page.watch.requests
               if not (u.startswith(f"http://{host}/") or u.startswith(f"ws://{host}/")
                       or u.startswith(("data:", "blob:")))]
    assert foreign == [], f"JupyterLab or the widget reached outside the local server: {foreign}"
    assert page.watch.errors == []


def test_lasso_selection_reaches_the_kernel(lab):
    page = lab.page
    canvas = page.locator(".jp-OutputArea canvas.mucomp-emb-canvas").first
    canvas.scroll_into_view_if_needed()
    (x, y), _ = hover_a_point(page, canvas)
    lasso = page.get_by_role("button", name="Lasso selection (or Shift+drag)")
    if lasso.get_attribute("aria-pressed") != "true":
        lasso.click()
    draw_lasso(page, canvas, (x, y), radius=30)
    page.wait_for_function(f"() => {STORE}.selection.length > 0")
    selected = store_get(page, "selection")

    cell = lab.add_cell("print(len(w.selection), w.selection[:5].tolist())")
    expected = f"{len(selected)} {selected[:5]}"
    # The trait is sent ~150 ms after the lasso ends; run the cell again until it has arrived.
    deadline = time.monotonic() + 30
    while True:
        out = [t.strip() for t in lab.run(cell)]
        if out == [expected] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert out == [expected], f"the kernel sees {out}, the page selected {len(selected)}: {selected[:5]}"
    assert len(selected) > 0


def test_build_adds_a_row_while_the_kernel_stays_usable(lab, artifacts_dir):
    page = lab.page
    runs_before = [r["id"] for r in store_get(page, "runs")]
    rows = page.locator("section[aria-label=Models] tbody tr")
    assert rows.count() == len(runs_before)
    assert "build 1 model" in page.locator(".mucomp-bld-summary").inner_text()

    build = page.locator("button.mucomp-bld-build")
    assert build.is_enabled()
    build.click()
    # Python acknowledges through the _progress trait (running), or is already done.
    page.wait_for_function(f"""() => {{ const s = {STORE};
        return s.progress.running || s.runs.length > {len(runs_before)}; }}""")

    cell = lab.add_cell('print("kernel alive", 6 * 7)')
    out = lab.run(cell, timeout_ms=TIMEOUT_MS)
    building = page.evaluate(f"() => Boolean({STORE}.progress.running)")
    assert [t.strip() for t in out] == ["kernel alive 42"]
    print(f"kernel answered while the build was {'still running' if building else 'already done'}")

    page.wait_for_function(f"() => {STORE}.runs.length === {len(runs_before) + 1}", timeout=RUN_ALL_MS)
    page.wait_for_function(f"() => !{STORE}.progress.running")
    new = [r["id"] for r in store_get(page, "runs") if r["id"] not in runs_before]
    assert len(new) == 1
    assert store_get(page, "error") == ""
    page.locator(f"section[aria-label=Models] tbody tr[data-id='{new[0]}']").wait_for(state="attached")
    assert rows.count() == len(runs_before) + 1
    assert store_get(page, "modelB") == new[0]   # Model B follows the newest run
    assert "Done." in page.locator(".mucomp-bld-progress").inner_text()
    # The new Model B gets its embedding too (computed in the kernel after the build).
    page.wait_for_function(LAYOUTS_READY, timeout=LAYOUT_MS)

    page.locator(".jp-OutputArea .mucomp").evaluate("el => el.scrollIntoView({block: 'start'})")
    page.locator(f"section[aria-label=Models] tbody tr[data-id='{new[0]}']").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "jupyterlab_after_build.png"))
    assert page.watch.errors == []
