"""Cost and numbers of the U-LiRA audit (study.audit("ulira", ...)) on digits, class 3.

Targets (2-core CPU): the K = 16 shadow Originals and Retrains in <= 3 minutes, each
further method in seconds (its 16 shadow unlearnings plus scoring). The first audit
trains the shadows; every later one only unlearns them.

    python benchmarks/bench_ulira.py [K] [method ...]     # default: 16 ft ga

Prints the machine, torch's thread count and the load average before and after, since
other processes on the machine slow training down.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time

import mucomp_widget as mu


def _line(name: str, res, wall: float) -> str:
    t, o = res.target, res.original
    tpr = ", ".join(f"{100 * k:g}%: {'n/a' if v is None else f'{v:.3f}'}" for k, v in t.tpr_at.items())
    return (f"{name:>6}: wall {wall:6.1f} s (shadows {res.shadow_seconds:6.1f} s, trained "
            f"{res.trained_models}; unlearning {res.unlearn_seconds:5.1f} s) | acc {t.accuracy:.3f} "
            f"[{t.accuracy_ci[0]:.3f}, {t.accuracy_ci[1]:.3f}] chance<={t.accuracy_chance:.3f} | "
            f"AUC {t.auc:.3f} [{t.auc_ci[0]:.3f}, {t.auc_ci[1]:.3f}] p={t.p_value:.3g} | TPR@FPR {tpr} | "
            f"leaks {int(t.leaks.sum())}/{len(t.leaks)} | Original AUC {o.auc:.3f}")


def main(shadows: int = 16, methods=("ft", "ga")) -> None:
    import torch

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load average before {os.getloadavg()[0]:.2f}")
    ds = mu.datasets.digits()
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        study = mu.Study(ds, mu.forget.classes(3), workdir=cache, progress=False).prepare()
        runs = {m: study.unlearn(m) for m in methods}
        print(f"Original + Retrain + {len(methods)} runs: {time.perf_counter() - t0:.1f} s; "
              f"{len(study.split.forget_train)} forget samples, K = {shadows}")
        for i, m in enumerate(methods):
            t = time.perf_counter()
            res = study.audit("ulira", runs[m].id, shadows=shadows)
            print(_line(m, res, time.perf_counter() - t), flush=True)
            if i == 0:
                print(f"        ({2 * shadows} shadow models: "
                      f"{res.shadow_seconds / max(res.trained_models, 1):.2f} s each)")
        # known answer: another seed's Retrain, audited as if the first method made it
        other = mu.Study(ds, mu.forget.classes(3), seed=1, workdir=cache, progress=False).retrain
        up = study.add_checkpoint(other.state_dict, name="retrain-seed1")
        t = time.perf_counter()
        res = study.audit("ulira", up.id, shadows=shadows, method=methods[0])
        print(_line("Rtr-s1", res, time.perf_counter() - t))
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    k = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    main(k, tuple(sys.argv[2:]) or ("ft", "ga"))
