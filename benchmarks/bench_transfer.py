"""Bytes the Comparator sends per added run, from run 3 to run 125 (issue 9 target: flat,
<= 80 KB at 2,000 probe points).

A CIFAR-10-sized training split without images: 50,000 training samples of 10 classes (32
features, an MLP), one class forgotten (5,000 forget samples, each with attack values),
2,000 probe points; 2,000 test samples (the SVC attacks fit on the test set, and at
CIFAR-10's 10,000 one run takes a minute on 2 cores; the bytes sent do not depend on it). Runs come from a registered method that only perturbs the weights (no training),
and the SVC attack's range is drawn from 1 redraw instead of 10 (its two numbers are sent
either way), so the 123 runs take minutes, not hours. For each run the widget sends what a user sees
when the build follows the newest run: the run's record and arrays, then its layout. The
messages are counted as they leave (JSON plus binary buffers). For comparison, the design
before issue 9 resent every model held, twice per run (after the run and after its layout);
its bytes are computed from the same payloads.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time

import numpy as np
import torch

import mucomp_widget as mu
from mucomp_widget import _codecs, _payload
from mucomp_widget.evaluation import summary

MARKS = (3, 10, 25, 50, 100, 125)


def jitter(model, forget_loader, retain_loader, *, scale, ctx):
    """Not an unlearning method: adds small noise to every weight (a cheap distinct run)."""
    gen = torch.Generator().manual_seed(ctx.seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * scale)
    return model


def main(n_runs: int = 125) -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(10, 32)) * 2
    y_tr, y_te = np.arange(50_000) % 10, np.arange(2_000) % 10
    x_tr = (centers[y_tr] + rng.normal(size=(50_000, 32))).astype(np.float32)
    x_te = (centers[y_te] + rng.normal(size=(2_000, 32))).astype(np.float32)
    ds = mu.datasets.from_arrays(x_tr, y_tr, x_te, y_te, name="cifar-sized")
    summary.MIA_DRAWS = 1
    mu.register_method("jitter", {"scale": 0.01, "epochs": 1}, overwrite=True)(jitter)
    with tempfile.TemporaryDirectory() as tmp:
        study = mu.Study(ds, mu.forget.classes(0), workdir=tmp, progress=False,
                         recipe={"epochs": 2, "batch_size": 512})
        w = mu.Comparator(study)
        sent: list[int] = []
        w.send = lambda content, buffers=None: sent.append(_codecs.message_bytes(content, buffers or []))
        w._on_msg(w, {"type": "hello"}, [])
        for rid in ("original", "retrain"):
            study.embedding(rid)
        w._sync()
        per_run, old, payloads = [], [], {rid: 0 for rid in ("original", "retrain")}
        for rid in payloads:
            payloads[rid] = _codecs.nbytes(_codecs.encode_tree(_payload.model(study, rid)))
        t0 = time.perf_counter()
        for k in range(3, n_runs + 1):
            w._dirty.clear()
            first = len(sent)
            run = study.unlearn("jitter", seed=k, scale=0.002 * (1 + k % 7))
            w._sync()
            study.embedding(run.id)
            w._sync()
            per_run.append(sum(sent[first:]))
            payloads[run.id] = _codecs.nbytes(_codecs.encode_tree(_payload.model(study, run.id)))
            held = sum(payloads.values())
            old.append(held - payloads[run.id] + held)  # before the layout, then after it
        w.close()
    elapsed = time.perf_counter() - t0
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"torch {torch.__version__}; {n_runs - 2} runs in {elapsed:.0f} s")
    print("runs held | sent for the new run (KB) | the design before issue 9 (KB)")
    for mark in MARKS:
        if mark <= n_runs:
            i = mark - 3
            print(f"{mark:9d} | {per_run[i] / 1000:25.1f} | {old[i] / 1000:30.1f}")
    print(f"per run, runs 3..{n_runs}: min {min(per_run) / 1000:.1f} KB, max {max(per_run) / 1000:.1f} KB; "
          f"total {sum(per_run) / 1e6:.2f} MB (before: {sum(old) / 1e6:.0f} MB)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 125)
