"""Linear CKA from stored Grams: one model against the Original and the Retrain model.

    python benchmarks/bench_cka.py [n ...]          # default: 500 2000 5000

Times what the evaluation computes per layer and subset, ``cka_from_grams(g, original)``
and ``cka_from_grams(g, retrain)`` with read-only (stored) Grams, against the same two
values from HSIC written with n x n matrix products and no kept self terms (the code up to
issue 11), and prints both values' largest difference.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from mucomp_widget.evaluation.similarity import cka_from_grams, gram


def _hsic_matmul(k, l):
    n = len(k)
    k, l = k - np.diag(np.diag(k)), l - np.diag(np.diag(l))
    kl = k @ l
    return (np.trace(kl) + k.sum() * l.sum() / ((n - 1) * (n - 2)) - 2 * kl.sum() / (n - 2)) / (n * (n - 3))


def _cka_matmul(k, l):
    return _hsic_matmul(k, l) / np.sqrt(_hsic_matmul(k, k) * _hsic_matmul(l, l))


def _best(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main(sizes) -> None:
    rng = np.random.default_rng(0)
    print(f"numpy {np.__version__}, torch threads {torch.get_num_threads()}")
    print("| n | before (s) | now, first model (s) | now, next models (s) | max difference |")
    print("|---|---|---|---|---|")
    for n in sizes:
        grams = []
        for _ in range(3):
            g = gram(rng.normal(size=(n, 64)))
            g.flags.writeable = False
            grams.append(g)
        model, original, retrain = grams
        t_old, old = _best(lambda: (_cka_matmul(model, original), _cka_matmul(model, retrain)), 1)
        first = time.perf_counter()
        new = (cka_from_grams(model, original), cka_from_grams(model, retrain))
        first = time.perf_counter() - first
        other = gram(rng.normal(size=(n, 64)))
        other.flags.writeable = False
        t_next, _ = _best(lambda: (cka_from_grams(other, original), cka_from_grams(other, retrain)))
        diff = max(abs(a - b) for a, b in zip(old, new))
        print(f"| {n} | {t_old:.3f} | {first:.3f} | {t_next:.3f} | {diff:.1e} |")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [500, 2000, 5000])
