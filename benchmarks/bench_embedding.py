"""Wall time of one 2-D embedding in a fresh Python process.

Each figure is a new interpreter that imports ``mucomp_widget.evaluation.embedding`` and
embeds 2,000 probe points of 512-d features (10 Gaussian clusters): (a) the Original's
UMAP with numba's on-disk cache empty (``NUMBA_CACHE_DIR`` pointed at an empty directory,
as right after installing without ``warm_up()``), (b) the same with that cache filled (the
first embedding of a study, after ``make install``), (c) a second model placed in the
Original's map (``reference=(features, coords)``, the features perturbed as a second
model's would be; warm cache). Target: (b) and (c) <= 10 s on a 2-core CPU machine. The
process's own split into import and embed, and a second embed in the same process, are
printed alongside, and for comparison plain ``umap.UMAP(n_neighbors=9, min_dist=0.45,
random_state=0)`` on the raw features, as the reference system calls it (warm cache).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

CHILD = """
import json, sys, time
start = time.perf_counter()
import numpy as np
from mucomp_widget.evaluation.embedding import embed
imported = time.perf_counter()
features = np.load(sys.argv[1])
reference = (np.load(sys.argv[2]), np.load(sys.argv[3])) if len(sys.argv) > 4 else None
coords = embed(features, reference=reference)
done, done_at = time.perf_counter(), time.time()
embed(features, reference=reference)
again = time.perf_counter() - done
np.save(sys.argv[-1], coords)
print(json.dumps({"import": imported - start, "embed": done - imported, "again": again, "done_at": done_at}))
"""

# The reference system's call, for comparison: umap-learn on the raw features.
BASELINE = """
import json, sys, time
start = time.perf_counter()
import numpy as np, umap
imported = time.perf_counter()
features = np.load(sys.argv[1])
fit = lambda: umap.UMAP(n_neighbors=9, min_dist=0.45, random_state=0).fit_transform(features)
fit()
done, done_at = time.perf_counter(), time.time()
fit()
again = time.perf_counter() - done
print(json.dumps({"import": imported - start, "embed": done - imported, "again": again, "done_at": done_at}))
"""


def clustered(n: int = 2000, d: int = 512, k: int = 10) -> np.ndarray:
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=3.0, size=(k, d))
    return (centers[np.arange(n) % k] + rng.normal(size=(n, d))).astype(np.float32)


def fresh_process(cache_dir: str, *args: str, code: str = CHILD) -> dict:
    """Timings of one new interpreter; wall is from its start to its first layout."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    start = time.time()
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, check=True,
                         capture_output=True, text=True).stdout
    timings = json.loads(out.strip().splitlines()[-1])
    return dict(timings, wall=timings["done_at"] - start)


def row(name: str, runs: list[dict]) -> str:
    walls = [r["wall"] for r in runs]
    med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    return (f"| {name} | {statistics.median(walls):.1f} s | {max(walls):.1f} s | "
            f"{med('import'):.1f} s | {med('embed'):.1f} s | {med('again'):.1f} s | "
            f"{', '.join(f'{w:.1f}' for w in walls)} |")


def main(repeats: int = 3) -> None:
    import numba
    import sklearn
    import torch
    import umap

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}, Python {platform.python_version()}, torch {torch.__version__}, "
          f"umap-learn {umap.__version__}, numba {numba.__version__}, scikit-learn {sklearn.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        model_a, model_b, out = (os.path.join(tmp, f) for f in ("a.npy", "b.npy", "coords.npy"))
        x = clustered()
        np.save(model_a, x)
        np.save(model_b, x + 0.2 * np.random.default_rng(1).normal(size=x.shape).astype(np.float32))
        cold = [fresh_process(os.path.join(tmp, f"numba-cold-{i}"), model_a, out) for i in range(repeats)]
        cache = os.path.join(tmp, "numba-cold-0")
        warm = [fresh_process(cache, model_a, out) for _ in range(repeats)]
        layout = os.path.join(tmp, "layout_a.npy")
        os.replace(out, layout)
        with_ref = [fresh_process(cache, model_b, model_a, layout, out) for _ in range(repeats)]
        fresh_process(os.path.join(tmp, "numba-baseline"), model_a, code=BASELINE)  # fills its cache
        baseline = [fresh_process(os.path.join(tmp, "numba-baseline"), model_a, code=BASELINE)
                    for _ in range(repeats)]

    print("\n| fresh process, 2,000 x 512 | median | max | import | embed | 2nd embed | runs |")
    print("|---|---|---|---|---|---|---|")
    print(row("(a) Original's UMAP, numba cache empty", cold))
    print(row("(b) Original's UMAP, numba cache warm", warm))
    print(row("(c) warm, placed in the Original's map", with_ref))
    print(row("umap-learn as the reference system calls it, warm", baseline))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
