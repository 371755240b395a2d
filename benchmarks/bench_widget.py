"""Front-end speed in headless Chromium (software rasteriser, 2 cores). Issue 4 targets:
first render of two plots of 2,000 points <= 1 s; hover feedback at 20,000 points per
plot <= 50 ms. Issue 9 target: the table stays responsive with 125 runs (<= 50 ms per
interaction: a row click that picks Model B, Shift+click for A, sorting by a column,
showing a column, showing all rows).

Builds exported pages (the same bundle, shim and data contract as `Comparator.to_html`)
from synthetic state with n probe points per model, opens them in Debian's Chromium
through Playwright, and measures in the page: render = from the start of the page's
module script to two animation frames after `render()` returned; hover = from a
`pointermove`/`mousemove` dispatched over a point of the Model A plot (moves that hit a
point only) to the next animation frame, which includes redrawing the overlay.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from mucomp_widget import _codecs
from mucomp_widget.export import write_page
from mucomp_widget.evaluation.summary import METRIC_INFO

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--disable-quic"]


def synthetic_state(n: int, k: int = 10, forget: int = 3, seed: int = 0, n_runs: int = 3) -> dict:
    """Widget state with n probe points per model for ``n_runs`` models (Original, Retrain,
    then unlearned runs that differ by learning rate)."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % k).astype(np.uint8)
    centers = rng.normal(scale=10, size=(k, 2))
    forget_pos = np.flatnonzero(labels == forget)
    thresholds = {"entropy": np.linspace(0, 2.5, 51), "confidence": np.linspace(-2.5, 10, 51)}

    def curves():
        out = {}
        for m, t in thresholds.items():
            fpr = np.linspace(1, 0, 51)
            fnr = np.clip(np.linspace(0, 1, 51) * rng.uniform(0.5, 1), 0, 1)
            c = {"threshold": t, "fpr": fpr, "fnr": fnr, "attack_score": np.clip(1 - fpr - fnr, 0, 1)}
            out[m] = {"above_unlearn": c, "above_retrain": dict(c)}
        return out

    models, runs = {}, []
    ids_types = [("original", "Original"), ("retrain", "Retrain")] + [(f"ft-{i}", "Unlearned")
                                                                        for i in range(1, n_runs - 1)]
    for i, (rid, typ) in enumerate(ids_types):
        pred = labels.copy()
        if rid != "original":
            pred[forget_pos] = (forget + 1) % k
        coords = centers[labels] + rng.normal(size=(n, 2))
        models[rid] = {
            "coords": coords.astype(np.float32), "pred": pred,
            "top_classes": np.stack([pred, (pred + 1) % k, (pred + 2) % k], 1).astype(np.uint8),
            "top_probs": np.tile(np.array([200, 40, 15], np.uint8), (n, 1)),
            "class_acc": {s: np.full(k, 0.95, np.float32) for s in ("train", "test")},
            "pred_matrix": {s: np.eye(k, dtype=np.float32) for s in ("train", "test")},
            "conf_matrix": {s: np.eye(k, dtype=np.float32) for s in ("train", "test")},
            "cka": {r: {s: np.linspace(1, 0.5, 4).astype(np.float32) for s in
                        ("train_forget", "train_retain", "test_forget", "test_retain")} for r in ("original", "retrain")},
            "gaps": {}, "trace": None, "ci": {"PS": [0.4, 0.6], "AUC": None, "U-AUC": None}, "roc": {},
            "attack": {m: {"q": rng.integers(0, 65535, len(forget_pos)).astype(np.uint16), "lo": 0.0,
                           "step": 2.5 / 65535} for m in thresholds},
            "curves": curves(),
            "worst": {"metric": "entropy", "direction": "above_unlearn", "threshold": 1.0,
                      "attack_score": 0.5, "fpr": 0.2, "fnr": 0.3},
        }
        hp = {} if i < 2 else {"epochs": 10, "lr": round(0.001 * i, 6), "batch_size": 128}
        runs.append({"id": rid, "type": typ, "method": None if i < 2 else "ft", "base": None if i < 2 else "original",
                     "epochs": hp.get("epochs"), "lr": hp.get("lr"), "batch_size": hp.get("batch_size"), "seed": 0,
                     **{m.key: float(rng.uniform(0.3, 0.9)) for m in METRIC_INFO}, "RTE": 1.0 + i,
                     "has_trace": False, "best_epoch": None, "hp": hp})
    ids = np.arange(n, dtype=np.uint32)
    probe = {"ids": ids, "labels": labels, "is_forget": (labels == forget).astype(np.uint8),
             "forget_ids": ids[forget_pos], "forget_labels": labels[forget_pos],
             "forget_probe_pos": forget_pos.astype(np.int32)}
    meta = {"dataset": f"synthetic-{n}", "class_names": [str(c) for c in range(k)], "num_classes": k,
            "forget_classes": [forget], "classwise": True, "forget": f"classes({forget})",
            "architecture": "none", "metrics": [m.to_json() for m in METRIC_INFO], "methods": [], "blocks": ["b1", "b2", "b3", "fc"],
            "cka_sets": ["train_forget", "train_retain", "test_forget", "test_retain"],
            "n_probe": n, "n_forget": int(len(forget_pos)), "grid": "reference"}
    snapshot = {"order": [r["id"] for r in runs], "patch": {}, "drop": [],
                 "put": {r["id"]: {"row": r, "data": models[r["id"]]} for r in runs}}
    return {"_meta": meta, "_uid": f"bench-{n}-{n_runs}", "_snapshot": _codecs.encode_tree(snapshot),
            "_probe": _codecs.encode_tree(probe), "_sprite": None, "_progress": {}, "_error": "",
            "_static": True, "model_a": "original", "model_b": "ft-1",
            "selection": _codecs.encode(np.zeros(0, np.uint32)), "threshold": None,
            "metric": "entropy", "theme": "light"}


HOVER_JS = """
async ({x, y}) => {
  const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
  const target = document.elementFromPoint(x, y);
  const opts = {bubbles: true, clientX: x, clientY: y, pointerId: 1, pointerType: "mouse"};
  const t = performance.now();
  target.dispatchEvent(new PointerEvent("pointermove", opts));
  target.dispatchEvent(new MouseEvent("mousemove", opts));
  await frame();
  const ms = performance.now() - t;
  return {ms, hit: document.querySelector(".mucomp").__mucompStore.get().hovered !== null};
}
"""


TABLE_JS = """
async ({action, index, shift}) => {
  const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
  const root = document.querySelector(".mucomp");
  const pick = (sel) => { const all = root.querySelectorAll(sel); return all[index % all.length]; };
  const target = {
    row: () => pick("tr[data-id]:not(.mucomp-tbl-a):not(.mucomp-tbl-b)"),
    sort: () => pick(".mucomp-tbl-sort"),
    column: () => pick("details.mucomp-tbl-menu:nth-of-type(2) input[type=checkbox]"),
    allrows: () => root.querySelector(".mucomp-tbl-allrows"),
  }[action]();
  const t = performance.now();
  target.dispatchEvent(new MouseEvent("click", {bubbles: true, shiftKey: shift}));
  await frame();
  return performance.now() - t;
}
"""


def measure_table(page_path: Path, repeats: int = 10) -> dict:
    """ms from a click in the table to the next animation frame, per kind of interaction."""
    from playwright.sync_api import sync_playwright

    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(page_path.as_uri())
        page.wait_for_function("window.__mucomp_ready === true", timeout=60000)
        for name, action, shift in (("row click -> B", "row", False), ("Shift+click -> A", "row", True),
                                    ("sort", "sort", False), ("show a column", "column", False),
                                    ("all rows on/off", "allrows", False)):
            out[name] = [page.evaluate(TABLE_JS, {"action": action, "index": i, "shift": shift})
                         for i in range(repeats)]
        browser.close()
    return out


def measure(page_path: Path, hovers: int = 0) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_path.as_uri())
        page.wait_for_function("window.__mucomp_ready === true", timeout=60000)
        page.wait_for_function("window.__mucomp_render_ms !== undefined", timeout=60000)
        out = {"render_ms": page.evaluate("window.__mucomp_render_ms"), "errors": errors}
        if hovers:
            box = page.locator(".mucomp-tabpanel canvas").first.bounding_box()
            rng = np.random.default_rng(1)
            times = []
            while len(times) < hovers:  # count only moves that land on a point
                x = box["x"] + box["width"] * rng.uniform(0.1, 0.9)
                y = box["y"] + box["height"] * rng.uniform(0.1, 0.9)
                r = page.evaluate(HOVER_JS, {"x": x, "y": y})
                if r["hit"]:
                    times.append(r["ms"])
            out["hover_ms"] = times
        browser.close()
    return out


def main(repeats: int = 3) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        p2k = write_page(synthetic_state(2000), Path(tmp) / "p2k.html", "bench 2k")
        p20k = write_page(synthetic_state(20000), Path(tmp) / "p20k.html", "bench 20k")
        p125 = write_page(synthetic_state(2000, n_runs=125), Path(tmp) / "p125.html", "bench 125 runs")
        renders = [measure(p2k)["render_ms"] for _ in range(repeats)]
        hover = measure(p20k, hovers=30)
        table = measure_table(p125)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, headless Chromium (software raster)")
    print(f"first render, two plots of 2,000 points: median {statistics.median(renders):.0f} ms, "
          f"max {max(renders):.0f} ms ({', '.join(f'{r:.0f}' for r in renders)})")
    h = hover["hover_ms"]
    print(f"hover feedback, 20,000 points per plot, {len(h)} moves: median {statistics.median(h):.1f} ms, "
          f"p90 {np.percentile(h, 90):.1f} ms, max {max(h):.1f} ms")
    if hover["errors"]:
        print("page errors:", hover["errors"])
    print("table with 125 runs, ms from the click to the next frame (10 each):")
    for name, ms in table.items():
        print(f"  {name:18s} median {statistics.median(ms):5.1f}, max {max(ms):5.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
