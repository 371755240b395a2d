"""Larger probe sets (issue 11, item 7): 2,000, 10,000, 20,000 and 50,000 points per plot.

(a) Embedding, each size in a fresh Python process limited to 2 threads (torch, numba's
``NUMBA_NUM_THREADS``, OpenMP): 512-d features in 10 Gaussian clusters (CIFAR-10-like:
10 classes, a ResNet's 512-d penultimate layer), the Original's UMAP (``embed(x)``) and a
second model placed in its map (``embed(x2, reference=(x, coords))``, x2 = x plus noise as
in bench_embedding.py). numba's kernels are loaded (``warm_up()``) before the clock
starts, so compiling is not counted. Peak RSS (``ru_maxrss``) after loading the features,
after the UMAP and after the placement.

(b) Front end, headless Chromium (software rasteriser, as bench_widget.py): an exported
Comparator page (same bundle, shim and data contract as ``Comparator.to_html``) whose study
has N probe points and two models in the plots (bench_widget's synthetic state). First
render: from navigation start to two animation frames after ``render()`` returned (HTML
parse and base64 decode of the state included), and from the module script's start (the
shim's ``__mucomp_render_ms``, bench_widget's figure). Hover, 1 s after that (the page
builds the plots' quadtrees when idle): a pointer move over the Model A plot to the next
animation frame (overlay redrawn); the first move is reported alone, then the median and
max over 20 moves that hit a point. Zoom: a wheel step to two animation frames (both
plots repainted). Bytes: what a live widget sends for the probe (probe arrays once, plus
each model's per-point arrays: layout, prediction, top-3 classes and probabilities),
computed from the payload, and the exported page's size. JS heap after the hovers.

Usage: python benchmarks/bench_probe.py [--part embed|browser|all]
[--sizes 2000,10000,20000,50000] [--repeats 2] [--json out.json] [--bundle old/widget.js].
Each size runs --repeats times, sizes interleaved; the start time and load average of every
run are printed (the machine may be shared). --bundle measures another build of the front
end (e.g. the previous commit's, built with esbuild) in place of the installed one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_embedding import clustered  # noqa: E402

SIZES = (2000, 10000, 20000, 50000)
THREADS = 2

CHILD = """
import json, resource, sys, time
import torch
torch.set_num_threads(int(sys.argv[3]))
import numpy as np
from mucomp_widget.evaluation.embedding import embed, warm_up
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MB (Linux: KB)
warm_up()
x, x2 = np.load(sys.argv[1]), np.load(sys.argv[2])
out = {"rss_loaded": rss()}
t = time.perf_counter()
coords = embed(x)
out["original_s"] = time.perf_counter() - t
out["rss_original"] = rss()
t = time.perf_counter()
placed = embed(x2, reference=(x, coords))
out["placed_s"] = time.perf_counter() - t
out["rss_placed"] = rss()
spread = float(np.sqrt(((coords - coords.mean(0)) ** 2).sum(1).mean()))
out["shift"] = float(np.linalg.norm(placed - coords, axis=1).mean()) / spread
print(json.dumps(out))
"""


def embed_once(n: int, tmp: str) -> dict:
    a, b = os.path.join(tmp, f"a{n}.npy"), os.path.join(tmp, f"b{n}.npy")
    if not os.path.exists(a):
        x = clustered(n)
        np.save(a, x)
        np.save(b, x + 0.2 * np.random.default_rng(1).normal(size=x.shape).astype(np.float32))
    env = dict(os.environ, NUMBA_NUM_THREADS=str(THREADS), OMP_NUM_THREADS=str(THREADS))
    started = time.strftime("%H:%M:%S")
    load0 = os.getloadavg()[0]
    proc = subprocess.run([sys.executable, "-c", CHILD, a, b, str(THREADS)], env=env, check=True,
                          capture_output=True, text=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return dict(out, n=n, started=started, load=load0)


# ---------------------------------------------------------------- browser

FIRST_PAINT_HOOK = "window.__mucomp_render_ms = performance.now() - t0;"

ZOOM_JS = """
async ({x, y, dy}) => {
  const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
  const target = document.elementFromPoint(x, y);
  const t = performance.now();
  target.dispatchEvent(new WheelEvent("wheel", {bubbles: true, cancelable: true, clientX: x, clientY: y,
                                                deltaY: dy, deltaMode: 0}));
  await frame();
  await frame();
  return performance.now() - t;
}
"""


def probe_bytes(state: dict) -> dict:
    """Bytes a live widget sends that grow with the probe: the probe arrays once, and per
    model its per-point arrays (the rest of a model's payload does not depend on N)."""
    from mucomp_widget import _codecs

    per_point = ("coords", "pred", "top_classes", "top_probs")
    probe = sum(len(v["buffer"]) for v in state["_probe"].values() if isinstance(v, dict) and "buffer" in v)
    first = next(iter(state["_snapshot"]["put"].values()))["data"]
    model = sum(len(first[k]["buffer"]) for k in per_point)
    return {"probe_bytes": probe, "model_bytes": model}


def write_pages(sizes, tmp: str, bundle: str | None = None) -> dict:
    """Exported pages of the synthetic study per size; ``bundle``: another build of the
    front end in place of mucomp_widget/static/widget.js (to compare with an earlier one)."""
    import base64

    from bench_widget import synthetic_state

    from mucomp_widget.export import write_page
    from mucomp_widget.widget import STATIC

    pages = {}
    for n in sizes:
        state = synthetic_state(n)
        path = write_page(state, Path(tmp) / f"probe{n}.html", f"probe {n}")
        text = path.read_text()
        if FIRST_PAINT_HOOK not in text:
            raise SystemExit("export.py's shim changed: update FIRST_PAINT_HOOK in bench_probe.py")
        text = text.replace(FIRST_PAINT_HOOK, FIRST_PAINT_HOOK + " window.__mucomp_nav_ms = performance.now();")
        if bundle:
            ours = base64.b64encode((STATIC / "widget.js").read_bytes()).decode()
            assert ours in text
            text = text.replace(ours, base64.b64encode(Path(bundle).read_bytes()).decode())
        path.write_text(text)
        pages[n] = dict(probe_bytes(state), path=path, page_bytes=path.stat().st_size)
    return pages


def measure_page(path: Path, hovers: int = 20, zooms: int = 6, idle_ms: int = 1000) -> dict:
    from bench_widget import ARGS, CHROMIUM, HOVER_JS
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS + ["--enable-precise-memory-info"])
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        t = time.perf_counter()
        page.goto(path.as_uri(), timeout=120000)
        page.wait_for_function("window.__mucomp_nav_ms !== undefined", timeout=120000, polling=50)
        out = {"wall_ms": 1000 * (time.perf_counter() - t), "nav_ms": page.evaluate("window.__mucomp_nav_ms"),
               "render_ms": page.evaluate("window.__mucomp_render_ms"), "errors": errors}
        # A person reaches the plot after the page shows: give the page the idle time in
        # which it builds the plots' quadtrees (requestIdleCallback), as it would have.
        page.wait_for_timeout(idle_ms)
        canvases = page.locator(".mucomp-emb-canvas")
        box = canvases.first.bounding_box()
        rng = np.random.default_rng(1)
        # Aim at points: centres of the synthetic clusters are spread over the plot, so
        # random positions in the middle 80 % hit one often enough.
        times, first = [], None
        tries = 0
        while len(times) < hovers and tries < 50 * hovers:
            tries += 1
            x = box["x"] + box["width"] * rng.uniform(0.1, 0.9)
            y = box["y"] + box["height"] * rng.uniform(0.1, 0.9)
            r = page.evaluate(HOVER_JS, {"x": x, "y": y})
            if first is None:
                first = r["ms"]  # the first hit test (quadtree built here unless the page was idle)
                continue
            if r["hit"]:
                times.append(r["ms"])
        out["hover_first_ms"], out["hover_ms"], out["hover_tries"] = first, times, tries
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        out["zoom_ms"] = [page.evaluate(ZOOM_JS, {"x": cx, "y": cy, "dy": -100 if i % 2 == 0 else 100})
                          for i in range(zooms)]
        out["heap_mb"] = page.evaluate("performance.memory ? performance.memory.usedJSHeapSize / 1e6 : null")
        out["chromium"] = browser.version
        browser.close()
    return out


# ---------------------------------------------------------------- report

def when(runs) -> str:
    """Start times of the runs and the 1-minute load average then."""
    return ", ".join("{} ({:.1f})".format(r["started"], r["load"]) for r in runs)


def fmt_runs(vals, digits=1):
    return " / ".join(f"{v:.{digits}f}" for v in vals)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=("embed", "browser", "all"), default="all")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json")
    ap.add_argument("--bundle", help="measure this build of the front end instead of the installed one")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d"),
              "threads": THREADS}
    print(f"machine: {result['machine']}, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f} at {time.strftime('%H:%M:%S')}")

    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("embed", "all"):
            runs = {n: [] for n in sizes}
            for rep in range(args.repeats):  # interleaved, so contention spreads over sizes
                for n in sizes:
                    r = embed_once(n, tmp)
                    runs[n].append(r)
                    print(f"  embed n={n} run {rep + 1}: {json.dumps(r)}", flush=True)
            result["embed"] = runs
            print(f"\n(a) embedding, 512-d, 10 clusters, fresh process, {THREADS} threads; runs separated by /")
            print("| probe points | Original's UMAP (s) | placed in its map (s) | peak RSS (MB): loaded / "
                  "after UMAP / after placement | started (load avg) |")
            print("|---|---|---|---|---|")
            for n, rs in runs.items():
                print(f"| {n:,} | {fmt_runs([r['original_s'] for r in rs])} | {fmt_runs([r['placed_s'] for r in rs])} | "
                      f"{fmt_runs([r['rss_loaded'] for r in rs], 0)} ; {fmt_runs([r['rss_original'] for r in rs], 0)} ; "
                      f"{fmt_runs([r['rss_placed'] for r in rs], 0)} | "
                      f"{when(rs)} |")

        if args.part in ("browser", "all"):
            pages = write_pages(sizes, tmp, args.bundle)
            runs = {n: [] for n in sizes}
            for rep in range(args.repeats):
                for n in sizes:
                    started, load0 = time.strftime("%H:%M:%S"), os.getloadavg()[0]
                    r = measure_page(pages[n]["path"])
                    r.update(started=started, load=load0)
                    runs[n].append(r)
                    print(f"  browser n={n} run {rep + 1}: nav {r['nav_ms']:.0f} ms, render {r['render_ms']:.0f} ms, "
                          f"first hover {r['hover_first_ms']:.1f} ms, hover median "
                          f"{statistics.median(r['hover_ms']):.1f} max {max(r['hover_ms']):.1f} ms, zoom median "
                          f"{statistics.median(r['zoom_ms']):.0f} ms, heap {r['heap_mb']:.0f} MB, "
                          f"errors {r['errors']}", flush=True)
            result["browser"] = runs
            result["bytes"] = {n: {k: v for k, v in pages[n].items() if k != "path"} for n in sizes}
            result["chromium"] = next(iter(runs.values()))[0]["chromium"]
            print(f"\n(b) front end, headless Chromium {result['chromium']} (software raster), two plots of N "
                  f"points; runs separated by /")
            print("| probe points | first render from navigation (ms) | from module start (ms) | first hover "
                  "(ms) | hover median (ms) | hover max (ms) | zoom step, median (ms) | "
                  "JS heap (MB) | sent: probe + per model (KB) | exported page (MB) | started (load avg) |")
            print("|---|---|---|---|---|---|---|---|---|---|---|")
            for n, rs in runs.items():
                b = pages[n]
                print(f"| {n:,} | {fmt_runs([r['nav_ms'] for r in rs], 0)} | {fmt_runs([r['render_ms'] for r in rs], 0)} | "
                      f"{fmt_runs([r['hover_first_ms'] for r in rs])} | "
                      f"{fmt_runs([statistics.median(r['hover_ms']) for r in rs])} | "
                      f"{fmt_runs([max(r['hover_ms']) for r in rs])} | "
                      f"{fmt_runs([statistics.median(r['zoom_ms']) for r in rs], 0)} | "
                      f"{fmt_runs([r['heap_mb'] for r in rs], 0)} | "
                      f"{b['probe_bytes'] / 1000:,.0f} + {b['model_bytes'] / 1000:,.0f} | {b['page_bytes'] / 1e6:.1f} | {when(rs)} |")
    print("\nJSON:")
    print(json.dumps(result, default=str))
    if args.json:
        Path(args.json).write_text(json.dumps(result, default=str, indent=1))


if __name__ == "__main__":
    main()
