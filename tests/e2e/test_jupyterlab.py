"""The Comparator in a real JupyterLab, driven by a real Chromium.

A JupyterLab server (see _server.py: quiet, offline, temporary directories) serves a copy of
notebooks/quickstart.ipynb. The browser opens the notebook, runs all cells through the Run
menu, then checks what the kernel sees of in-browser interactions (lasso -> ``w.selection``),
that runs made in Python and by BUILD or an upload in the browser show up as rows, that
nothing sticks out of the widget at several window widths, and that it follows JupyterLab's
dark theme.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ._server import (WIDGET, check_a_build_adds_a_row, check_a_python_run_appears,
                      check_lasso_reaches_the_kernel, check_run_all_rendered, open_and_run_all, serve)
from ._ui import STORE, TIMEOUT_MS, PageWatch, artifact_name, overflow_at_width, store_get

UPLOAD_MS = 60_000   # an uploaded checkpoint is read and evaluated in the kernel


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory, e2e_home, browser):
    # `browser` first: without Chromium the test is skipped before a server is started.
    yield from serve(tmp_path_factory, e2e_home, "lab")


@pytest.fixture(scope="module")
def lab(lab_server, browser, artifacts_dir):
    """The quickstart notebook open in JupyterLab with all cells run and the widget rendered."""
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    page.watch = PageWatch(page)
    try:
        yield open_and_run_all(page, lab_server, artifacts_dir, "jupyterlab")
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

def test_run_all_renders_the_widget(lab):
    check_run_all_rendered(lab)
    assert lab.page.watch.errors == []


def test_lasso_selection_reaches_the_kernel(lab):
    check_lasso_reaches_the_kernel(lab)


def test_build_adds_a_row_while_the_kernel_stays_usable(lab, artifacts_dir):
    page = lab.page
    new = check_a_build_adds_a_row(lab)
    lab.widget().evaluate("el => el.scrollIntoView({block: 'start'})")
    page.locator(f"section[aria-label=Models] tbody tr[data-id='{new}']").scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts_dir / "jupyterlab_after_build.png"))
    assert page.watch.errors == []


def test_a_run_made_in_python_appears_in_the_widget(lab):
    check_a_python_run_appears(lab)
    assert lab.page.watch.errors == []


# Checkpoints written by the kernel, which shares the file system with the browser here: the
# weights of the notebook's SalUn run, and a file that is no checkpoint at all.
WRITE_CHECKPOINTS = """import torch, pathlib
up_ok = pathlib.Path("up_ok.pt").resolve()
torch.save(run.state_dict, up_ok)
up_bad = pathlib.Path("up_bad.pt").resolve()
up_bad.write_bytes(b"not a checkpoint")
print("ok:", up_ok)
print("bad:", up_bad)"""


@pytest.fixture(scope="module")
def checkpoints(lab, lab_server) -> dict:
    """{"ok": path, "bad": path} of the two files, as the kernel wrote them."""
    out = lab.execute(WRITE_CHECKPOINTS)
    paths = {k: Path(v) for k, v in re.findall(r"^(ok|bad): (.+)$", "\n".join(out), re.M)}
    assert set(paths) == {"ok", "bad"}, out
    for path in paths.values():   # the kernel runs in the server's root directory
        assert path.parent == lab_server.root.resolve() and path.is_file(), path
    return paths


def _upload(page, path: Path) -> None:
    upload = page.locator('section[aria-label="Model builder"] input[type=file].mucomp-bld-upload-input')
    upload.wait_for(state="attached", timeout=5_000)
    upload.set_input_files(str(path))


def test_upload_adds_an_uploaded_row(lab, checkpoints):
    page = lab.page
    before = [r["id"] for r in store_get(page, "runs")]
    _upload(page, checkpoints["ok"])
    page.wait_for_function(f"n => {STORE}.runs.length > n", arg=len(before), timeout=UPLOAD_MS)
    new = [r for r in store_get(page, "runs") if r["id"] not in before]
    assert [r["type"] for r in new] == ["Uploaded"], new
    page.locator(f"section[aria-label=Models] tbody tr[data-id='{new[0]['id']}']").wait_for(state="attached")
    assert store_get(page, "error") == ""
    assert page.watch.errors == []


def test_upload_of_a_bad_file_shows_an_error_and_adds_no_row(lab, checkpoints):
    page = lab.page
    before = [r["id"] for r in store_get(page, "runs")]
    _upload(page, checkpoints["bad"])
    bar = lab.widget().locator(".mucomp-error[role=alert]")
    bar.wait_for(state="visible", timeout=UPLOAD_MS)
    assert "up_bad.pt" in bar.inner_text()
    assert [r["id"] for r in store_get(page, "runs")] == before
    assert page.locator("section[aria-label=Models] tbody tr").count() == len(before)
    assert page.watch.errors == []


@pytest.mark.parametrize("width", [700, 1000, 1600])
def test_nothing_overflows_the_widget(lab, width, artifacts_dir):
    page = lab.page
    try:
        out = overflow_at_width(page, width, root=WIDGET)
        lab.widget().evaluate("el => el.scrollIntoView({block: 'start'})")   # where it is after the reflow
        inner = lab.widget().evaluate("el => el.clientWidth")
        page.screenshot(path=str(artifacts_dir / f"jupyterlab_width_{width}.png"))
        assert out == [], f"at a {width} px window ({inner} px of widget) these stick out of the widget: {out}"
    finally:
        page.set_viewport_size({"width": 1600, "height": 1000})


# Last in this module: it leaves JupyterLab's theme setting changed until it switches back.
def test_the_widget_follows_the_dark_theme(lab, artifacts_dir):
    page = lab.page
    root = lab.widget()
    assert page.evaluate("() => document.body.dataset.jpThemeLight") == "true"
    assert root.get_attribute("data-theme") == "light"
    try:
        page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
        page.wait_for_function("el => el.dataset.theme === 'dark'", arg=root.element_handle())
        # Dark for real: the widget's own background is dark, not just the attribute.
        bg = root.evaluate("el => getComputedStyle(el).backgroundColor")
        r, g, b, *alpha = (float(v) for v in re.findall(r"[\d.]+", bg))
        assert alpha != [0] and 0.299 * r + 0.587 * g + 0.114 * b < 128, bg
        root.evaluate("el => el.scrollIntoView({block: 'start'})")
        page.mouse.move(0, 0)
        page.screenshot(path=str(artifacts_dir / "jupyterlab_dark.png"))
        assert page.watch.errors == []
    finally:
        page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'")
    page.wait_for_function("el => el.dataset.theme === 'light'", arg=root.element_handle())
