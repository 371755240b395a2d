"""A real Jupyter server (JupyterLab or Notebook 7) for the browser tests, and the notebook page
it serves: open the quickstart notebook, Run All, add and run cells.

The server listens on loopback (no token, random free port) with its own config, data, runtime,
settings and workspace directories, serving a temporary copy of notebooks/quickstart.ipynb.
Notebook 7 is built from JupyterLab's components, so one set of flags and user settings keeps
both quiet and offline (no dialog or toast gets in the way):
- ``--LabApp.news_url=None`` and ``--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate``:
  the server never fetches news or update information (Notebook 7 loads JupyterLab's server
  extension too, so these apply there as well; Notebook 7 has no news or update options of its own);
- user settings ``@jupyterlab/apputils-extension:notification`` = {"fetchNews": "false",
  "checkForUpdates": false} (in a temporary JUPYTERLAB_SETTINGS_DIR): no "Would you like to get
  notified about official Jupyter news?" toast;
- ``--LabApp.extension_manager=readonly``: the extension manager does not query PyPI;
- ``@jupyterlab/notebook-extension:tracker`` windowingMode "none": every cell stays in the DOM,
  so cells can be located by position;
- ``--LabApp.expose_app_in_browser=True`` (``--JupyterNotebookApp.…`` for Notebook 7):
  ``window.jupyterapp`` is used to wait for the kernel and for cell execution counts, and to
  switch JupyterLab's theme.
The notebook names the ``python3`` kernel, so the server starts it without asking; if a
"Select Kernel" dialog shows up anyway, the page picks the Python 3 kernel in it.
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

from ._ui import STORE, TIMEOUT_MS, PageWatch, canvas_ink, draw_lasso, hover_a_point, store_get

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"
SERVER_START_S = 90
RUN_ALL_MS = 600_000      # the whole notebook: trains ~10 small models on digits (2 busy cores)
LAYOUT_MS = 180_000       # UMAP layouts are computed in the kernel after the widget shows
LIVE_RUN_MS = 10_000      # a run made in Python reaches the widget this soon after its cell ends

# The notebook page's address, per app.
APPS = {"lab": "/lab/tree/{}", "notebook": "/notebooks/{}"}


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


def log_tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


class JupyterServer:
    """``jupyter lab`` (app="lab") or ``jupyter notebook`` (app="notebook", Notebook 7)."""

    def __init__(self, base: Path, home: Path, app: str = "lab"):
        assert app in APPS, app
        self.app = app
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.root = base / "root"
        self.log = base / f"jupyter-{app}.log"
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
            sys.executable, "-m", "jupyter", app, "--no-browser",
            "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root}", "--ServerApp.disable_check_xsrf=True",
            "--ServerApp.allow_root=True",  # CI containers often run as root
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            "--LabApp.expose_app_in_browser=True",
        ]
        if app == "notebook":
            cmd.append("--JupyterNotebookApp.expose_app_in_browser=True")
        self._logf = open(self.log, "wb")
        self.proc = subprocess.Popen(cmd, env=env, cwd=base, stdout=self._logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def notebook_url(self, name: str = NOTEBOOK.name) -> str:
        return self.url + APPS[self.app].format(name)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter {self.app} exited with {self.proc.returncode}:\n{log_tail(self.log)}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"jupyter {self.app} did not answer on {self.url}/api/status in {SERVER_START_S} s:\n"
                           f"{log_tail(self.log)}")

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


def serve(tmp_path_factory, home: Path, app: str):
    """A started server of ``app``, stopped when the generator is closed (for module fixtures)."""
    server = JupyterServer(tmp_path_factory.mktemp(f"jupyter-{app}"), home, app)
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
CELL_ERRORS = f"""(i) => {NOTEBOOK_JS}.content.model.cells.get(i).toJSON().outputs
  .filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue)"""
WIDGET = ".jp-OutputArea .mucomp"


def _accept_kernel_dialog(page) -> None:
    """Wait until the notebook's kernel is idle, choosing Python 3 if the page asks."""
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
    """The quickstart notebook open in a page of a JupyterServer."""

    def __init__(self, page, server: JupyterServer):
        self.page = page
        self.server = server

    def cells(self):
        return self.page.locator(".jp-Notebook .jp-Cell")

    def widget(self):
        return self.page.locator(WIDGET)

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

    def run(self, cell, timeout_ms: int = TIMEOUT_MS) -> list[str]:
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

    def execute(self, code: str, timeout_ms: int = TIMEOUT_MS) -> list[str]:
        """Append a cell holding ``code``, run it, and return its output texts; fails when the
        cell raised."""
        index = self.cells().count()
        out = self.run(self.add_cell(code), timeout_ms)
        raised = self.page.evaluate(CELL_ERRORS, index)
        assert raised == [], f"cell {code!r} raised: {raised}"
        return [t.strip() for t in out]


def open_and_run_all(page, server: JupyterServer, artifacts_dir: Path, prefix: str) -> Notebook:
    """Open the quickstart notebook in ``page``, Run All Cells through the Run menu, wait until
    every cell ran without error and the widget shows both embeddings. Screenshots go to
    ``<prefix>_notebook_rendered.png`` (or ``<prefix>_setup_failed.png`` with the server log
    printed, on failure)."""
    page.watch = getattr(page, "watch", None) or PageWatch(page)
    try:
        page.goto(server.notebook_url())
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
        root = page.locator(WIDGET)
        root.wait_for(state="visible")
        page.wait_for_function(LAYOUTS_READY, timeout=LAYOUT_MS)
        root.evaluate("el => el.scrollIntoView({block: 'start'})")
        page.screenshot(path=str(artifacts_dir / f"{prefix}_notebook_rendered.png"))
        return Notebook(page, server)
    except Exception:
        page.screenshot(path=str(artifacts_dir / f"{prefix}_setup_failed.png"))
        print(f"jupyter {server.app} log:\n{log_tail(server.log, 80)}")
        raise


# ---------------------------------------------------------------- checks shared by both hosts

def check_run_all_rendered(nb: Notebook) -> None:
    """Every cell ran, the widget shows painted embeddings and one row per run, and neither the
    host nor the widget reached outside the local server."""
    page = nb.page
    assert page.evaluate(ERROR_OUTPUTS) == []
    prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_inner_texts()
    assert prompts and all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in prompts), prompts
    # The last cell shows the (still empty) selection, as Python sees it.
    last = nb.cells().last.locator(".jp-OutputArea-output").all_inner_texts()
    assert any("array([], dtype=int64)" in t for t in last), last

    assert nb.widget().count() == 1
    assert page.get_by_role("tab", name="Embedding Space").get_attribute("aria-selected") == "true"
    canvases = page.locator(".jp-OutputArea canvas.mucomp-emb-canvas")
    for side in range(2):
        ink = canvas_ink(canvases.nth(side))
        assert ink["painted"] > 0.02 * ink["w"] * ink["h"] and ink["colours"] >= 8, (side, ink)
    rows = page.locator("section[aria-label=Models] tbody tr").count()
    assert rows == len(store_get(page, "runs")) >= 3

    host = f"127.0.0.1:{nb.server.port}"
    foreign = [u for u in page.watch.requests
               if not (u.startswith(f"http://{host}/") or u.startswith(f"ws://{host}/")
                       or u.startswith(("data:", "blob:")))]
    assert foreign == [], f"jupyter {nb.server.app} or the widget reached outside the local server: {foreign}"


def check_lasso_reaches_the_kernel(nb: Notebook) -> None:
    """A lasso drawn with the real mouse selects samples, and ``w.selection`` in the kernel
    holds the same ids."""
    page = nb.page
    canvas = page.locator(".jp-OutputArea canvas.mucomp-emb-canvas").first
    canvas.scroll_into_view_if_needed()
    (x, y), _ = hover_a_point(page, canvas)
    lasso = page.get_by_role("button", name="Lasso selection (or Shift+drag)")
    if lasso.get_attribute("aria-pressed") != "true":
        lasso.click()
    draw_lasso(page, canvas, (x, y), radius=30)
    page.wait_for_function(f"() => {STORE}.selection.length > 0")
    selected = store_get(page, "selection")

    cell = nb.add_cell("print(len(w.selection), w.selection[:5].tolist())")
    expected = f"{len(selected)} {selected[:5]}"
    # The trait is sent ~150 ms after the lasso ends; run the cell again until it has arrived.
    deadline = time.monotonic() + 30
    while True:
        out = [t.strip() for t in nb.run(cell)]
        if out == [expected] or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert out == [expected], f"the kernel sees {out}, the page selected {len(selected)}: {selected[:5]}"
    assert len(selected) > 0


def check_a_python_run_appears(nb: Notebook) -> None:
    """A run made in a notebook cell shows up in the displayed widget by itself, soon after the
    cell finished (no re-display, no refresh)."""
    page = nb.page
    before = [r["id"] for r in store_get(page, "runs")]
    out = nb.execute('r_live = study.unlearn("ft", epochs=1)\nprint("live run:", r_live.id)', timeout_ms=RUN_ALL_MS)
    found = re.findall(r"^live run: (\S+)$", "\n".join(out), re.M)   # (a progress bar may print too)
    assert len(found) == 1 and found[0] not in before, (out, before)
    run_id = found[0]
    try:
        page.wait_for_function(f"id => {STORE}.runs.some(r => r.id === id)", arg=run_id, timeout=LIVE_RUN_MS)
    except Exception:
        now = [r["id"] for r in store_get(page, "runs")]
        raise AssertionError(f"run {run_id!r} made in Python is not in the widget {LIVE_RUN_MS / 1000:.0f} s "
                             f"after its cell finished; the widget's runs: {now}") from None
    page.locator(f"section[aria-label=Models] tbody tr[data-id='{run_id}']").wait_for(state="attached")


def check_a_build_adds_a_row(nb: Notebook) -> str:
    """BUILD in the model builder runs in the background: the kernel answers a cell meanwhile,
    then one new row appears, becomes Model B and gets its embedding. Returns the new run's id."""
    page = nb.page
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

    out = nb.execute('print("kernel alive", 6 * 7)')
    building = page.evaluate(f"() => Boolean({STORE}.progress.running)")
    assert out == ["kernel alive 42"]
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
    return new[0]
