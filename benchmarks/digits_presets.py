"""How well the digits presets of the built-in methods forget, over seeds and classes.

``python benchmarks/digits_presets.py [--methods ft,ga] [seeds...]``: for every forget
class 0-9 and seeds 0-2 (default), runs each built-in method (default: all) with the dataset's
defaults and reports UA (forget accuracy, lower = more forgetting) and RA/TRA (retain
train/test accuracy, higher = better), and in how many runs both targets hold (UA <= 0.2
with RA >= 0.95). The Original forgets nothing (UA = 1) and the Retrain model reaches UA = 0.
"""

from __future__ import annotations

import sys

import numpy as np

import mucomp_widget as mu

METHODS = ("ft", "ga", "rl", "scrub", "salun", "neggrad_plus", "l1_sparse", "ssd", "bad_teacher",
           "boundary_shrink")


def main(seeds=(0, 1, 2), methods=METHODS) -> None:
    ds = mu.datasets.digits()
    rows = {m: [] for m in methods}
    for seed in seeds:  # Original/Retrain come from the model cache ($MUCOMP_HOME) after a first run
        for cls in range(ds.num_classes):
            study = mu.Study(ds, mu.forget.classes(cls), seed=seed, progress=False)
            for m in methods:
                run = study.unlearn(m)
                r = run.metrics
                rows[m].append((r["UA"], r["RA"], r["TRA"], run.rte))
    print(f"{len(seeds)} seeds x {ds.num_classes} forget classes per method")
    print("| method | UA mean | UA max | RA mean | RA min | TRA min | both targets | RTE mean (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for m, v in rows.items():
        v = np.array(v)
        met = int(((v[:, 0] <= 0.2) & (v[:, 1] >= 0.95)).sum())
        print(f"| {m} | {v[:, 0].mean():.3f} | {v[:, 0].max():.3f} | {v[:, 1].mean():.3f} | "
              f"{v[:, 1].min():.3f} | {v[:, 2].min():.3f} | {met}/{len(v)} | {v[:, 3].mean():.2f} |")


if __name__ == "__main__":
    args = sys.argv[1:]
    chosen = METHODS
    if "--methods" in args:
        i = args.index("--methods")
        chosen = tuple(args[i + 1].split(","))
        del args[i:i + 2]
    main(tuple(int(s) for s in args) or (0, 1, 2), chosen)
