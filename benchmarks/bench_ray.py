"""A 24-run digits sweep in the kernel and on Ray: what running on Ray costs per run.

Gradient Ascent on digits (forget class 3), 6 learning rates x 4 epoch counts. Each figure is
the wall time of one ``study.sweep`` call:

(a) in the kernel, 2 torch threads; (b) on a local Ray, one run at a time (``num_cpus=2`` per
run), 2 threads: (b - a) / 24 is Ray's overhead per run (the target: under 1 s); (c) in the
kernel, 1 thread; (d) on the same Ray, 2 runs at a time, 1 thread each; (e) as (d) on a
simulated cluster of 2 nodes with 1 CPU each (``ray.cluster_utils.Cluster``), to show the
same call runs unchanged across nodes. The first Ray sweep of a session also starts the
worker processes (each imports torch); it is reported apart ("cold") from the measured ones.
Each measured figure is the best of 2 calls, after a warm-up sweep in the kernel. Runs are
scored in the kernel (one process) as they come back, so scoring does not run in parallel.
Every Ray sweep's runs are checked to equal the kernel's number for number.

    python benchmarks/bench_ray.py
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time

import numpy as np
import ray
import torch

import mucomp_widget as mu

GRID = {"lr": [0.004, 0.006, 0.008, 0.01, 0.015, 0.02], "epochs": [1, 2, 3, 4]}


def timed(fn, repeats: int = 1):
    """Best wall time of ``repeats`` calls, and the last call's result."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def same(local, remote) -> bool:
    return all(isinstance(b, mu.Run) and all(
        torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
        for a, b in zip(local, remote))


def main() -> None:
    home = tempfile.mkdtemp(prefix="bench-ray-")
    study = mu.Study(mu.datasets.digits(), mu.forget.classes(3), workdir=home, progress=False)
    study.prepare()
    rows = {}

    torch.set_num_threads(2)
    study.sweep("ga", lr=[0.01, 0.02])  # warm-up: first-call costs (imports, caches) of scoring
    rows["a_local_2threads"], local2 = timed(lambda: study.sweep("ga", **GRID), 2)
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows["ray_init"] = time.perf_counter() - start
    rows["ray_cold_2runs"], _ = timed(lambda: study.sweep(
        "ga", lr=[0.01, 0.02], executor="ray", resources={"num_cpus": 1}))
    rows["b_ray_serial_2threads"], remote = timed(lambda: study.sweep(
        "ga", executor="ray", resources={"num_cpus": 2}, **GRID), 2)
    assert same(local2, remote), "Ray's runs differ from the kernel's"

    torch.set_num_threads(1)
    rows["c_local_1thread"], local1 = timed(lambda: study.sweep("ga", **GRID), 2)
    rows["d_ray_2workers_1thread"], remote = timed(lambda: study.sweep(
        "ga", executor="ray", resources={"num_cpus": 1}, **GRID), 2)
    assert same(local1, remote), "Ray's runs differ from the kernel's"
    ray.shutdown()

    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False)
    nodes = len([n for n in ray.nodes() if n["Alive"]])
    rows["cluster_cold_2runs"], _ = timed(lambda: study.sweep(
        "ga", lr=[0.01, 0.02], executor="ray", resources={"num_cpus": 1}))
    rows["e_cluster_2nodes_1thread"], remote = timed(lambda: study.sweep(
        "ga", executor="ray", resources={"num_cpus": 1}, **GRID), 2)
    assert same(local1, remote), "the cluster's runs differ from the kernel's"
    ray.shutdown()
    cluster.shutdown()

    n = len(local2)
    print(f"{n} runs of GA on digits; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, torch {torch.__version__}, ray {ray.__version__}")
    for key, value in rows.items():
        print(f"  {key:28s} {value:7.1f} s" + (f"   {value / n:5.2f} s/run" if key[1] == "_" else ""))
    print(f"  Ray overhead per run (b - a) / {n}: {(rows['b_ray_serial_2threads'] - rows['a_local_2threads']) / n:.2f} s")
    print(f"  2 workers vs the kernel at 1 thread (c / d): {rows['c_local_1thread'] / rows['d_ray_2workers_1thread']:.2f}x")
    print(f"  cluster nodes alive: {nodes}")
    print(json.dumps({"runs": n, "nodes": nodes, **{k: round(v, 2) for k, v in rows.items()}}))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
