"""Memory of a 125-run study, with and without a memory budget, and bytes on disk per run.

A study of a small CNN on CIFAR-shaped arrays (3x32x32, 10 classes, 3,000 training and 600
test images; the Original and Retrain trained for one epoch) gains 125 uploaded runs (the
Original's weights, perturbed). Each setting runs in a fresh process; figures: the process's
resident set (RSS) before the runs and after every 25, the bytes each run holds (weights,
layer Grams, outputs) and the bytes per run of ``study.save`` and of the spill folder. The
per-run parts are then extrapolated to ResNet-18 on CIFAR-10 (50,000 + 10,000 images) from its
parameter count and its number of blocks, at the study's default ``cka_size`` (300).

    python benchmarks/bench_memory.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, os, sys, tempfile, resource
from pathlib import Path
import numpy as np, torch
torch.set_num_threads(2)
import mucomp_widget as mu

def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024

budget = None if sys.argv[1] == "none" else int(sys.argv[1])
rng = np.random.default_rng(0)
y_tr, y_te = rng.integers(0, 10, 3000), rng.integers(0, 10, 600)
x_tr = rng.integers(0, 256, (3000, 3, 32, 32), dtype=np.uint8)
x_te = rng.integers(0, 256, (600, 3, 32, 32), dtype=np.uint8)
for x, y in ((x_tr, y_tr), (x_te, y_te)):  # a class signal in the mean colour
    x[:] = np.clip(x.astype(int) // 2 + (y * 12)[:, None, None, None], 0, 255)
ds = mu.datasets.from_arrays(x_tr, y_tr, x_te, y_te, name="cifar-shaped")
home = tempfile.mkdtemp(prefix="bench-mem-")
study = mu.Study(ds, mu.forget.classes(3), "small_cnn", workdir=home, progress=False,
                 recipe={"epochs": 1}, memory_budget=budget).prepare()
base = study.original.state_dict
out = {"budget": budget, "rss_start": rss(), "rss": []}
for i in range(125):
    sd = {k: v + 1e-3 * torch.randn_like(v) if v.is_floating_point() else v for k, v in base.items()}
    study.add_checkpoint(sd)
    if (i + 1) % 25 == 0:
        out["rss"].append(rss())
o = study._outputs[study.runs[-1].id]
grams = study._outputs["original"].grams
out["per_run"] = {
    "weights": sum(v.numel() * v.element_size() for v in base.values()),
    "grams": sum(g.nbytes for g in grams.values()),
    "outputs": o.train_logits.nbytes + o.test_logits.nbytes + o.probe_features.nbytes,
    "gram_sets": len({k[0] for k in grams}), "blocks": len({k[1] for k in grams}),
}
save = Path(home) / "saved"
study.save(save)
size = lambda p: sum(f.stat().st_size for f in Path(p).rglob("*") if f.is_file())
out["save_bytes_per_run"] = size(save / "models") / 127 + size(save / "outputs") / 127
folder = study._weights._folder
out["spill_bytes_per_run"] = size(folder) / len(study._weights.spilled) if folder else 0
out["spilled"] = len(study._weights.spilled)
out["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(out))
"""

MB = 2**20


def resnet18_per_run(cka_size: int = 300, sets: int = 4) -> dict:
    """ResNet-18 on CIFAR-10: weights from its parameters, Grams per block and set, outputs."""
    from mucomp_widget.models import resnet18

    net = resnet18(10)
    weights = sum(t.numel() * t.element_size() for t in net.state_dict().values())
    blocks = 10  # the study's CKA blocks of ResNet-18: stem, 8 basic blocks, the classifier
    return {"weights": weights, "grams": sets * blocks * cka_size**2 * 4,
            "outputs": (50_000 + 10_000) * 10 * 4 + 2000 * 512 * 4}


def main() -> None:
    results = []
    for budget in ("none", "0"):
        proc = subprocess.run([sys.executable, "-c", CHILD, budget], capture_output=True, text=True,
                              env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if proc.returncode:
            sys.exit(proc.stderr)
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print("small CNN on CIFAR-shaped arrays, 125 uploaded runs; RSS after 0/25/50/75/100/125 runs (MB)")
    for r in results:
        series = " ".join(f"{v / MB:6.0f}" for v in [r["rss_start"], *r["rss"]])
        growth = (r["rss"][-1] - r["rss_start"]) / 125 / MB
        print(f"  memory_budget={r['budget']!s:5s} {series}   {growth:.2f} MB/run, "
              f"{r['spilled']} runs spilled, peak {r['peak_rss'] / MB:.0f} MB")
    per = results[0]["per_run"]
    print(f"  per run held: weights {per['weights'] / MB:.2f} MB, Grams {per['grams'] / MB:.2f} MB "
          f"({per['gram_sets']} sets x {per['blocks']} blocks), outputs {per['outputs'] / MB:.2f} MB")
    print(f"  on disk per run: study.save {results[0]['save_bytes_per_run'] / MB:.2f} MB, "
          f"spill folder {results[1]['spill_bytes_per_run'] / MB:.2f} MB")
    big = resnet18_per_run()
    held = sum(big.values())
    print(f"ResNet-18 / CIFAR-10, extrapolated per run: weights {big['weights'] / MB:.1f} MB, Grams "
          f"{big['grams'] / MB:.1f} MB, outputs {big['outputs'] / MB:.1f} MB -> 125 runs: "
          f"{125 * held / 2**30:.1f} GiB without a budget, {125 * big['outputs'] / 2**30:.2f} GiB "
          "of outputs with everything else spilled")
    print(json.dumps({"small_cnn": results, "resnet18_per_run": big}))


if __name__ == "__main__":
    main()
