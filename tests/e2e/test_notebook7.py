"""The Comparator in a real Notebook 7, driven by a real Chromium.

A Notebook 7 server (see _server.py: quiet, offline, temporary directories) serves a copy of
notebooks/quickstart.ipynb at /notebooks/quickstart.ipynb. The browser runs all cells through
the Run menu, then checks that a lasso reaches the kernel, that a run made in Python and one
built in the browser show up as rows, and that the widget fits Notebook 7's page at 1600 px.
"""

from __future__ import annotations

import re

import pytest

from ._server import (WIDGET, check_a_build_adds_a_row, check_a_python_run_appears,
                      check_lasso_reaches_the_kernel, check_run_all_rendered, open_and_run_all, serve)
from ._ui import TIMEOUT_MS, PageWatch, artifact_name, overflow_at_width


@pytest.fixture(scope="module")
def nb7_server(tmp_path_factory, e2e_home, browser):
    # `browser` first: without Chromium the test is skipped before a server is started.
    yield from serve(tmp_path_factory, e2e_home, "notebook")


@pytest.fixture(scope="module")
def nb7(nb7_server, browser, artifacts_dir):
    """The quickstart notebook open in Notebook 7 with all cells run and the widget rendered."""
    ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    page.watch = PageWatch(page)
    try:
        yield open_and_run_all(page, nb7_server, artifacts_dir, "notebook7")
    finally:
        ctx.close()


@pytest.fixture(autouse=True)
def _screenshot_each_test(request, artifacts_dir):
    yield
    nb = request.node.funcargs.get("nb7")
    if nb is not None:
        try:
            nb.page.screenshot(path=str(artifacts_dir / artifact_name("notebook7_" + request.node.name)))
        except Exception:
            pass


# Notebook 7.6 throws this by itself, while it loads its settings and before any cell runs
# (with or without user settings): its bundled @jupyterlab/shortcuts-extension reads
# `registry.plugins[shortcuts.id].schema` in a pluginChanged handler before that plugin is
# loaded (jupyter/notebook#7862). Every frame of its stack is in Notebook 7's own
# notebook_core bundle; the same error from anywhere else is not excused.
NOTEBOOK7_OWN_ERROR = "Cannot read properties of undefined (reading 'schema')"
NOTEBOOK7_CORE = re.compile(r"/static/notebook/notebook_core\.[0-9a-f]+\.js")


def page_errors(page) -> list[str]:
    """The page's errors with stacks, less Notebook 7's own one (above)."""
    out = []
    for message, stack in zip(page.watch.errors, page.watch.stacks):
        frames = [line for line in stack.splitlines()[1:] if "://" in line]   # frames with a script
        if message == NOTEBOOK7_OWN_ERROR and frames and all(NOTEBOOK7_CORE.search(f) for f in frames):
            continue
        out.append(stack)
    return out


def test_run_all_renders_the_widget(nb7):
    check_run_all_rendered(nb7)
    assert page_errors(nb7.page) == []


def test_lasso_selection_reaches_the_kernel(nb7):
    check_lasso_reaches_the_kernel(nb7)
    assert page_errors(nb7.page) == []


def test_a_run_made_in_python_appears_in_the_widget(nb7):
    check_a_python_run_appears(nb7)
    assert page_errors(nb7.page) == []


def test_build_adds_a_row_while_the_kernel_stays_usable(nb7):
    check_a_build_adds_a_row(nb7)
    assert page_errors(nb7.page) == []


def test_nothing_overflows_the_widget_at_1600_px(nb7, artifacts_dir):
    page = nb7.page
    out = overflow_at_width(page, 1600, root=WIDGET)
    nb7.widget().evaluate("el => el.scrollIntoView({block: 'start'})")   # where it is after the reflow
    inner = nb7.widget().evaluate("el => el.clientWidth")
    page.screenshot(path=str(artifacts_dir / "notebook7_width_1600.png"))
    assert out == [], f"at a 1600 px window ({inner} px of widget) these stick out of the widget: {out}"
