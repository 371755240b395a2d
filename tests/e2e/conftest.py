"""Shared fixtures of the real-browser (end-to-end) tests.

The tests drive a real Chromium through Playwright's sync API. Playwright cannot download its
own browser here, so it launches a system Chromium: ``$MUCOMP_CHROMIUM`` or ``/usr/bin/chromium``.
Without one (or without the ``playwright`` package) the tests are skipped, unless
``MUCOMP_REQUIRE_BROWSER=1`` (set in CI), where they fail instead, so CI cannot go green by
silently skipping them.

Every test leaves a screenshot named after itself in ``tests/e2e/artifacts/`` (taken at
teardown, by ``new_page`` here and by the per-test hooks of test_jupyterlab.py and
test_notebook7.py, so a failing test leaves one too); the directory is gitignored.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ._ui import TIMEOUT_MS, PageWatch, artifact_name

E2E_DIR = Path(__file__).parent
ARTIFACTS = E2E_DIR / "artifacts"
DEFAULT_CHROMIUM = "/usr/bin/chromium"

CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-quic",
]


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: real-browser test (Chromium through Playwright)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if E2E_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.e2e)


def browser_required() -> bool:
    return os.environ.get("MUCOMP_REQUIRE_BROWSER", "") == "1"


def unavailable(reason: str):
    """Skip (a developer machine without a browser) or fail (CI: MUCOMP_REQUIRE_BROWSER=1)."""
    if browser_required():
        pytest.fail(f"{reason} (MUCOMP_REQUIRE_BROWSER=1, so this is an error, not a skip)", pytrace=False)
    pytest.skip(f"{reason}; set MUCOMP_CHROMIUM to a Chromium binary to run the browser tests")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("MUCOMP_CHROMIUM") or DEFAULT_CHROMIUM
    resolved = shutil.which(path) if not os.path.isabs(path) else path
    if not resolved or not os.path.isfile(resolved) or not os.access(resolved, os.X_OK):
        unavailable(f"no Chromium executable at {path!r}")
    return resolved


# Playwright and the browser live per test module, not per session: Playwright's sync API keeps
# an event loop of its own, which must not outlive the e2e modules into other tests (nbclient).
@pytest.fixture(scope="module")
def playwright_instance():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed")
    pw = sync_playwright().start()
    yield pw
    pw.stop()


@pytest.fixture(scope="module")
def browser(playwright_instance, chromium_path):
    """One headless Chromium per test module."""
    try:
        b = playwright_instance.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS,
                                                timeout=TIMEOUT_MS)
    except Exception as exc:  # a binary that does not start is "no browser" as well
        unavailable(f"Chromium at {chromium_path!r} did not start: {exc}")
    yield b
    b.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def e2e_home(tmp_path_factory) -> Path:
    """MUCOMP_HOME of the browser tests: the model cache shared by the exported page's study
    and the JupyterLab kernel (so the quickstart notebook finds the Original and the Retrain
    model already trained). Nothing is written to ~/.cache."""
    return tmp_path_factory.mktemp("mucomp-e2e-home")


@pytest.fixture
def new_page(browser, artifacts_dir, request):
    """A factory of fresh pages (own context, 1600x1000 viewport); each page gets a ``.watch``
    (PageWatch) and is screenshotted to artifacts/<test name>.png at teardown."""
    contexts = []

    def make(**kw):
        kw.setdefault("viewport", {"width": 1600, "height": 1000})
        ctx = browser.new_context(**kw)
        ctx.set_default_timeout(TIMEOUT_MS)
        page = ctx.new_page()
        page.watch = PageWatch(page)
        contexts.append((ctx, page))
        return page

    yield make
    for i, (ctx, page) in enumerate(contexts):
        suffix = "" if i == 0 else f"-{i}"
        try:
            page.screenshot(path=str(artifacts_dir / artifact_name(request.node.name, suffix)), full_page=True)
        except Exception:  # a crashed page must not hide the test's own failure
            pass
        ctx.close()
