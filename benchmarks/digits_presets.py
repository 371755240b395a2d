"""How well the digits presets of the five built-in methods forget, over seeds and classes.

For every forget class 0-9 and seeds 0-2, runs each built-in method with the dataset's
defaults and reports UA (forget accuracy, lower = more forgetting) and RA/TRA (retain
train/test accuracy, higher = better). The Original forgets nothing (UA = 1) and the
Retrain model reaches UA = 0.
"""

from __future__ import annotations

import sys
import tempfile

import numpy as np

import mucomp_widget as mu

METHODS = ("ft", "ga", "rl", "scrub", "salun")


def main(seeds=(0, 1, 2)) -> None:
    ds = mu.datasets.digits()
    rows = {m: [] for m in METHODS}
    with tempfile.TemporaryDirectory() as cache:
        for seed in seeds:
            for cls in range(ds.num_classes):
                study = mu.Study(ds, mu.forget.classes(cls), seed=seed, workdir=cache, progress=False)
                for m in METHODS:
                    r = study.unlearn(m).metrics
                    rows[m].append((r["UA"], r["RA"], r["TRA"]))
    print(f"{len(seeds)} seeds x {ds.num_classes} forget classes per method")
    print("| method | UA mean | UA max | RA mean | RA min | TRA min |")
    print("|---|---|---|---|---|---|")
    for m, v in rows.items():
        v = np.array(v)
        print(f"| {m} | {v[:, 0].mean():.3f} | {v[:, 0].max():.3f} | {v[:, 1].mean():.3f} | "
              f"{v[:, 1].min():.3f} | {v[:, 2].min():.3f} |")


if __name__ == "__main__":
    main(tuple(int(s) for s in sys.argv[1:]) or (0, 1, 2))
