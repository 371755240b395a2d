"""The package as users get it: the wheel and the sdist built as `make wheel` builds them.

The test builds the sdist and, from that sdist, the wheel (``python -m build``, as `make wheel`)
with no Node.js on PATH, checks that both carry the front-end bundle and pass ``twine check``,
installs the wheel into a fresh venv, still without Node.js, and has that venv's Python write a
Comparator's exported page, which a headless Chromium must render. The dependencies (torch is
gigabytes) are not downloaded again: the wheel is installed with ``--no-deps`` and a ``.pth``
file makes the project venv's site-packages visible behind the fresh venv's own. Folders named
by path lines of a ``.pth`` file are not searched for ``.pth`` files themselves, so the project's
editable install (a ``.pth`` there naming the source tree) does not apply in the fresh venv.

Without a Chromium the browser step is skipped, unless ``MUCOMP_REQUIRE_BROWSER=1`` (CI), as
in tests/e2e/conftest.py. Takes about a minute (building, and training two small models).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ("mucomp_widget/static/widget.js", "mucomp_widget/static/widget.css")
NODE_TOOLS = ("node", "nodejs", "npm", "npx", "corepack", "yarn")
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run"]

pytestmark = [
    pytest.mark.packaging,
    # `make test` reruns the suite with one torch thread to catch numbers that depend on the
    # thread count; packaging has no such numbers, and building twice would only cost a minute.
    pytest.mark.skipif(bool(os.environ.get("MUCOMP_TEST_THREADS")),
                       reason="packaging does not depend on the torch thread count (ran in the first pass)"),
]

# Written and run by the fresh venv's Python: a tiny digits study (two epochs), its exported page,
# and where mucomp_widget was imported from.
EXPORT = """
import json, sys
from pathlib import Path
import mucomp_widget as mu

out = Path(sys.argv[1])
study = mu.Study(mu.datasets.digits(), mu.forget.classes(3), workdir=out / "home", progress=False,
                 recipe={"epochs": 2}, probe_size=300, cka_size=100)
page = mu.Comparator(study).to_html(out / "comparator.html")
print(json.dumps({"file": mu.__file__, "page": str(page), "sys_path": sys.path,
                  "bundle": [str(Path(mu.__file__).parent / "static" / n) for n in ("widget.js", "widget.css")]}))
"""


def nodeless_path(*dirs: Path) -> str:
    """A PATH of the given folders, checked to hold no Node.js tool."""
    path = os.pathsep.join(str(d) for d in dirs)
    found = {t: shutil.which(t, path=path) for t in NODE_TOOLS}
    assert not any(found.values()), f"a Node.js tool is on the test's PATH: {found}"
    return path


def run(cmd, *, path: str, cwd: Path, timeout: int) -> subprocess.CompletedProcess:
    """Run ``cmd`` with PATH replaced (no Node.js) and no PYTHONPATH; fail showing its output."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = path
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, (f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n"
                                  f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def chromium_or_skip() -> str:
    """The Chromium to use; skip without one, or fail where MUCOMP_REQUIRE_BROWSER=1 (CI)."""
    path = os.environ.get("MUCOMP_CHROMIUM") or DEFAULT_CHROMIUM
    resolved = path if os.path.isabs(path) else shutil.which(path)
    try:
        import playwright.sync_api  # noqa: F401
        missing = None
    except ImportError:
        missing = "the playwright package is not installed"
    if not missing and (not resolved or not os.path.isfile(resolved) or not os.access(resolved, os.X_OK)):
        missing = f"no Chromium executable at {path!r}"
    if missing:
        if os.environ.get("MUCOMP_REQUIRE_BROWSER", "") == "1":
            pytest.fail(f"{missing} (MUCOMP_REQUIRE_BROWSER=1, so this is an error, not a skip)", pytrace=False)
        pytest.skip(f"{missing}; set MUCOMP_CHROMIUM to a Chromium binary to run the browser step")
    return resolved


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    """The sdist and the wheel built from it, with no Node.js on PATH."""
    for name in BUNDLE:
        assert (ROOT / name).is_file(), (f"{name} is missing: build the front end first "
                                         "(`make install` or `npm run build`)")
    out = tmp_path_factory.mktemp("dist")
    path = nodeless_path(Path(sys.executable).parent)
    run([sys.executable, "-m", "build", "--outdir", out, ROOT], path=path, cwd=out, timeout=300)
    wheels, sdists = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0], "path": path}


def test_wheel_and_sdist_carry_the_bundle_and_pass_twine(dists):
    """Both archives hold the current bundle, so neither pip nor a user needs Node.js."""
    with zipfile.ZipFile(dists["wheel"]) as whl:
        for name in BUNDLE:
            assert whl.read(name) == (ROOT / name).read_bytes(), f"the wheel's {name} is not the built one"
    with tarfile.open(dists["sdist"]) as sdist:
        top = sdist.getnames()[0].split("/")[0]
        for name in BUNDLE:
            member = sdist.extractfile(f"{top}/{name}")
            assert member is not None and member.read() == (ROOT / name).read_bytes(), name
    proc = run([sys.executable, "-m", "twine", "check", "--strict", dists["wheel"], dists["sdist"]],
               path=dists["path"], cwd=dists["wheel"].parent, timeout=120)
    assert proc.stdout.count("PASSED") == 2, proc.stdout


def test_wheel_installed_without_node_renders_the_exported_page(dists, tmp_path):
    """A fresh venv gets the wheel (not the source tree) and writes a page Chromium renders."""
    chromium = chromium_or_skip()
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    path = nodeless_path(env_dir / "bin")
    # pip of the project venv installs into the fresh one (--python); nothing is downloaded.
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
         "--no-cache-dir", "--disable-pip-version-check", dists["wheel"]], path=path, cwd=tmp_path, timeout=300)
    site = Path(run([python, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    path=path, cwd=tmp_path, timeout=60).stdout.strip())
    (site / "zz_project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    script = tmp_path / "export_page.py"
    script.write_text(EXPORT)
    # -I: no PYTHONPATH, no user site, no script folder or cwd on sys.path.
    proc = run([python, "-I", script, tmp_path], path=path, cwd=tmp_path, timeout=300)
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(got["file"]).resolve().is_relative_to(env_dir.resolve()), got["file"]
    assert not any(Path(p).resolve() == ROOT for p in got["sys_path"] if p), got["sys_path"]
    for name, bundle in zip(BUNDLE, got["bundle"]):
        assert Path(bundle).is_file() and Path(bundle).resolve().is_relative_to(env_dir.resolve()), bundle
        assert Path(bundle).read_bytes() == (ROOT / name).read_bytes(), bundle

    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(60_000)
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(Path(got["page"]).resolve().as_uri())
            page.wait_for_function("window.__mucomp_ready === true")
            assert page.locator(".mucomp-title").inner_text() == "Machine Unlearning Comparator"
            cells = page.evaluate("() => Array.from(document.querySelectorAll('.mucomp td'), (td) => td.textContent)")
            assert "original" in cells and "retrain" in cells, cells
            assert page.locator("canvas.mucomp-emb-canvas").count() == 2
            assert errors == [], f"page errors: {errors}"
        finally:
            browser.close()


def colab_install_cell():
    """The first code cell of notebooks/cifar10.ipynb, as plain Python (IPython's transform)."""
    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager

    nb = nbformat.read(ROOT / "notebooks" / "cifar10.ipynb", as_version=4)
    source = next(c for c in nb.cells if c.cell_type == "code").source
    return source, TransformerManager().transform_cell(source)


def test_colab_install_cell_installs_the_uploaded_wheel(tmp_path, monkeypatch):
    """Outside Colab the cell does nothing; in Colab it pip-installs the wheel from `make wheel`
    found in the working folder, or asks for an upload, and says what to do without one."""
    import types

    source, code = colab_install_cell()
    assert "PACKAGE" not in source and "mucomp_widget-*.whl" in source
    monkeypatch.chdir(tmp_path)

    class Shell:
        def __init__(self, ns):
            self.ns, self.magics = ns, []

        def run_line_magic(self, name, line):
            self.magics.append((name, line.format(**self.ns)))

    def run_cell(upload=lambda: {}):
        ns = {}
        shell = Shell(ns)
        widgets = []
        ns["get_ipython"] = lambda: shell
        colab = types.ModuleType("google.colab")
        colab.files = types.SimpleNamespace(upload=upload)
        colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: widgets.append(True))
        with monkeypatch.context() as m:
            m.setitem(sys.modules, "google", types.ModuleType("google"))
            m.setitem(sys.modules, "google.colab", colab)
            exec(code, ns)
        return shell.magics, widgets

    ns = {"get_ipython": lambda: pytest.fail("the cell used IPython outside Colab")}
    exec(code, ns)
    assert "WHEEL" not in ns  # outside Colab: nothing installed

    with pytest.raises(FileNotFoundError, match=r"make wheel.*dist/mucomp_widget-\*\.whl"):
        run_cell()

    def upload():
        (tmp_path / "mucomp_widget-0.1.0-py3-none-any.whl").write_bytes(b"")
        return {"mucomp_widget-0.1.0-py3-none-any.whl": b""}

    magics, widgets = run_cell(upload)
    wheel = tmp_path / "mucomp_widget-0.1.0-py3-none-any.whl"
    assert magics == [("pip", f'install -q "{wheel}"')] and widgets == [True]
    magics, _ = run_cell(lambda: pytest.fail("asked for an upload with a wheel already there"))
    assert magics == [("pip", f'install -q "{wheel}"')]
