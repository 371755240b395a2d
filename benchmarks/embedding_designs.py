"""How each way of relating a model's layout to the Original's shows change (issue 8).

For seeds 0-4, each design lays out the Original's features and then a second model's:
- copy: the Original's own features; mean displacement as a share of the spread (want ~0);
- near copy: 10 Gaussian clusters in 64-D plus N(0, 0.2^2) noise (want small);
- merge: 10 Gaussian clusters in 64-D, class 0's features replaced by class 1's plus noise;
  class 0's mean distance to class 1's centre over its distance to its own old place
  (want << 1);
- digits (class 3 forgotten, every built-in method at its defaults, plus Retrain): the
  forget samples' and the retained samples' mean displacement, as shares of the spread
  (want forget > retained).
Designs: the previous one (UMAP started from the Original's layout, 100 epochs at a
quarter of the learning rate, then Procrustes), (a) independent seeded UMAPs + Procrustes,
(b) UMAP started from the Original's layout with umap's full schedule + Procrustes,
placement in the Original's map with the features aligned on all samples, and the chosen
one, ``embed(..., reference=(features, coords))`` (aligned on the best half).
Run: ``python benchmarks/embedding_designs.py`` (trains a digits study first, ~3 min).
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings

import numpy as np

from mucomp_widget.evaluation import embedding as E

METHODS = ("ft", "ga", "rl", "scrub", "salun")


def umap_from(x, seed, init, n_epochs=None, lr=1.0):
    import umap

    x = E._reduce(np.asarray(x, np.float64), seed)
    fitter = umap.UMAP(n_neighbors=9, min_dist=0.45, random_state=seed, n_jobs=1, init=init,
                       precomputed_knn=E._exact_knn(x, 9), n_epochs=n_epochs, learning_rate=lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fitter.fit_transform(x)


def previous(x, ref_x, ref, seed):
    return E.align(umap_from(x, seed, ref.astype(np.float32), n_epochs=100, lr=0.25), ref)


def independent(x, ref_x, ref, seed):
    return E.align(umap_from(x, seed, "pca"), ref)


def full_schedule_from_original(x, ref_x, ref, seed):
    return E.align(umap_from(x, seed, ref.astype(np.float32)), ref)


def placed_all_rows(x, ref_x, ref, seed):
    ref_x = E._reduce(np.asarray(ref_x, np.float64), seed)
    return E._place(E.align(E._reduce(np.asarray(x, np.float64), seed), ref_x), ref_x, ref, 9)


def chosen(x, ref_x, ref, seed):
    return E.embed(x, reference=(ref_x, ref), seed=seed)


DESIGNS = {"previous (UMAP from the Original's layout, 100 epochs, lr 0.25)": previous,
           "(a) independent UMAP + Procrustes": independent,
           "(b) UMAP from the Original's layout, full schedule + Procrustes": full_schedule_from_original,
           "placement, features aligned on all samples": placed_all_rows,
           "placement, features aligned on the best half (chosen)": chosen}


def clustered(seed, n=500, d=64, k=10):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    centers = rng.normal(scale=4.0, size=(k, d))
    return (centers[labels] + rng.normal(size=(n, d))).astype(np.float32), labels


def digits_features() -> tuple[dict, np.ndarray]:
    import mucomp_widget as mu

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MUCOMP_HOME"] = tmp
        study = mu.Study(mu.datasets.digits(), mu.forget.classes(3), workdir=tmp, progress=False)
        for name in METHODS:
            study.unlearn(name)
        runs = {"original": study.original, "retrain": study.retrain, **{m: study[f"{m}-1"] for m in METHODS}}
        return ({k: np.array(run.outputs.probe_features) for k, run in runs.items()},
                np.isin(study.probe_ids, study.split.forget_train))


def main(seeds=range(5)) -> None:
    features, forget = digits_features()
    for title, design in DESIGNS.items():
        print(f"\n{title}")
        for seed in seeds:
            x, labels = clustered(seed)
            ref = E.embed(x, seed=seed).astype(np.float64)
            copy = E.disparity(design(x, x, ref, seed), ref)
            noisy = x + 0.2 * np.random.default_rng(200 + seed).normal(size=x.shape).astype(np.float32)
            near = E.disparity(design(noisy, x, ref, seed), ref)
            changed = x.copy()
            noise = np.random.default_rng(100 + seed).normal(size=x[labels == 1].shape)
            changed[labels == 0] = x[labels == 1] + noise.astype(np.float32)
            after = design(changed, x, ref, seed)
            gone = np.linalg.norm(after[labels == 0] - after[labels == 1].mean(0), axis=1).mean()
            stayed = np.linalg.norm(after[labels == 0] - ref[labels == 0].mean(0), axis=1).mean()
            orig = features["original"]
            layout = E.embed(orig, seed=seed).astype(np.float64)
            cells = [f"seed {seed}: copy {copy:.3f}, near copy {near:.3f}, merge {gone / stayed:.3f}, digits copy "
                     f"{E.disparity(design(orig, orig, layout, seed), layout):.3f}"]
            for name in (*METHODS, "retrain"):
                placed = design(features[name], orig, layout, seed)
                f, r = E.disparity(placed, layout, forget), E.disparity(placed, layout, ~forget)
                cells.append(f"{name} {f:.2f}/{r:.2f}{'' if f > r else ' FAIL'}")
            print(" | ".join(cells), flush=True)


if __name__ == "__main__":
    main(range(int(sys.argv[1])) if len(sys.argv) > 1 else range(5))
