"""Cost of evaluating one model (issue 3; targets: <= 1 s for a digits model on the CPU,
everything but the embedding; at most 1.2 x (train + test) images forwarded per model).

Evaluation = the one inference pass (logits of every sample, probe features, Grams of
every block on the CKA sets) + every metric (accuracies, privacy score with its bootstrap
interval, the MIA families, ROC curves, CKA against Original and Retrain).
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time

import mucomp_widget as mu


def main(repeats: int = 5) -> None:
    import torch

    ds = mu.datasets.digits()
    with tempfile.TemporaryDirectory() as cache:
        study = mu.Study(ds, mu.forget.classes(3), workdir=cache, progress=False)
        run = study.unlearn("salun")
        model = run.model
        infer_t, score_t = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = study._evaluate(model)
            t1 = time.perf_counter()
            study._score(run.id)
            t2 = time.perf_counter()
            infer_t.append(t1 - t0)
            score_t.append(t2 - t1)
    total = [a + b for a, b in zip(infer_t, score_t)]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}")
    print(f"digits model, {repeats} repeats (median): inference {statistics.median(infer_t):.3f} s, "
          f"metrics {statistics.median(score_t):.3f} s, total {statistics.median(total):.3f} s "
          f"(max {max(total):.3f} s)")
    print(f"images forwarded per model: {out.forwarded} = "
          f"{out.forwarded / (ds.n_train + ds.n_test):.2f} x (train + test)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
