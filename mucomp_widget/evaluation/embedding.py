"""2-D UMAP layouts of a model's penultimate features, in the Original model's map.

The Machine Unlearning Comparator (Lee et al., TVCG 2026) shows the probe samples of two
models side by side as UMAP scatter plots (McInnes et al., 2018, arXiv:1802.03426) with
``n_neighbors=9, min_dist=0.45``, and fits every model independently, so one sample lands
in unrelated places in A and B. Here only the Original model gets a UMAP; every other
model's samples are placed in the Original's map by where their features fall among the
Original's features (:func:`embed` with ``reference=``), so places are comparable and a
sample whose features changed moves to where such features sit.

Speed: called as the reference system does, umap-learn takes ~12 s for 2,000 points in a
fresh process, mostly a pair-by-pair Python loop over a numba metric (its small-data path)
and numba compiling kernels that umap does not cache on disk. :func:`embed` passes umap an
exact k-NN graph instead and lets numba cache those kernels; :func:`warm_up` compiles
everything ahead of time.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import math
import threading
import warnings

import numpy as np

from ..errors import ConfigError, check_positive
from .mia import softmax

PCA_DIMS = 50
"""Features wider than this are reduced to this many principal components first."""

TRIM = 0.5
"""Share of the samples that a model's features are aligned on: those that fit best."""

EXACT_PCA_FROM = 5000
"""From this many samples the principal components come from the features' covariance
matrix (d x d, exact) instead of a seeded randomized SVD: at 50,000 x 512 on one BLAS
thread 2.4 s instead of 12.7 s per reduction (one run on a loaded 2-core machine; see
benchmarks/bench_probe.py for whole embeddings). Smaller probes keep the randomized
solver, so their layouts are unchanged."""

# umap-learn (0.5.x) kernels on embed's path that it compiles again in every process
# (~3.5 s for 2,000 points). Only the serial optimisation epoch, which seeded fits use: its
# parallel twin wraps the same Python function, and numba's cache cannot tell them apart.
_UNCACHED_KERNELS = (
    ("umap.umap_", "smooth_knn_dist"),
    ("umap.umap_", "compute_membership_strengths"),
    ("umap.layouts", "_nb_optimize_layout_euclidean_single_epoch"),
)

_BLAS_LOCK = threading.Lock()


def _check_finite_2d(name: str, value, expected: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1 or not np.issubdtype(arr.dtype, np.number):
        raise ConfigError(f"{name} must be {expected}, got an array of shape {arr.shape} ({arr.dtype}).")
    if not np.isfinite(arr).all():
        raise ConfigError(f"{name} must be finite, got NaN or inf in an array of shape {arr.shape}.")
    return arr.astype(np.float64, copy=False)


def align(coords, reference, *, trim: float = 1.0) -> np.ndarray:
    """Map ``coords`` onto ``reference`` by the best similarity transform (float64).

    Orthogonal Procrustes with isotropic scale (Schönemann, 1966; Gower, 1975): the
    rotation or reflection R, scale s and translation t minimising
    ``||s * coords @ R + t - reference||`` over rows that correspond one to one, in any
    number of columns. With ``trim < 1`` the fit uses only the ``ceil(trim * n)`` rows that
    it maps closest to their reference (least trimmed squares, found by concentration
    steps from the rows nearest the median; Rousseeuw & Van Driessen, 2006), so rows that
    moved, such as forgotten samples, cannot drag the others out of place: a minority of
    rows thrown far away or collapsed onto one point leaves the others' fit exact.
    """
    x = _check_finite_2d("coords", coords, "an (n, m) array")
    y = _check_finite_2d("reference", reference, f"an array of the shape of coords {x.shape}")
    if x.shape != y.shape:
        raise ConfigError(f"reference must have the shape of coords {x.shape}, got {y.shape}.")
    if isinstance(trim, bool) or not isinstance(trim, (int, float)) or not 0 < trim <= 1:
        raise ConfigError(f"trim must be a share in (0, 1], got {trim!r}.")
    size = math.ceil(trim * len(x))
    # Start from the rows nearest their median: rows thrown far away cannot set the first fit.
    keep, best, fitted = np.zeros(len(x), dtype=bool), np.inf, None
    keep[np.argsort(((x - np.median(x, axis=0)) ** 2).sum(axis=1), kind="stable")[:size]] = True
    while True:  # the kept rows' error falls at every step (a concentration step), so it ends
        xk, yk = x[keep], y[keep]
        xm, ym = xk.mean(axis=0), yk.mean(axis=0)
        u, sv, vt = np.linalg.svd((xk - xm).T @ (yk - ym))
        norm = float(((xk - xm) ** 2).sum())
        mapped = (sv.sum() / norm if norm > 0 else 0.0) * (x - xm) @ (u @ vt) + ym
        errors = ((mapped - y) ** 2).sum(axis=1)
        closest = np.argsort(errors, kind="stable")[:size]
        if errors[closest].sum() >= best:
            return fitted
        best, fitted = errors[closest].sum(), mapped
        keep = np.zeros(len(x), dtype=bool)
        keep[closest] = True


def disparity(coords, reference, rows=None) -> float:
    """How far ``rows`` (a boolean mask; all when None) of a layout sit from their places in
    ``reference``: the mean distance as a share of the reference's spread (root-mean-square
    distance from its centre).

    0 where every row is at its place; about 1 for places unrelated to the reference's.
    A reference on a single point has no spread: 0 if the rows are on it too, else inf.
    """
    x = _check_finite_2d("coords", coords, "an (n, 2) layout")
    y = _check_finite_2d("reference", reference, f"a layout of the shape of coords {x.shape}")
    if x.shape != y.shape:
        raise ConfigError(f"reference must have the shape of coords {x.shape}, got {y.shape}.")
    rows = np.ones(len(x), dtype=bool) if rows is None else np.asarray(rows)
    if rows.shape != (len(x),) or rows.dtype != bool or not rows.any():
        raise ConfigError(f"rows must be a boolean mask of {len(x)} rows selecting at least one.")
    spread = float(np.sqrt(((y - y.mean(axis=0)) ** 2).sum(axis=1).mean()))
    moved = float(np.linalg.norm(x[rows] - y[rows], axis=1).mean())
    return moved / spread if spread > 0 else (0.0 if moved == 0 else float("inf"))


@functools.cache
def _cache_umap_kernels() -> None:
    """Let numba cache umap's other kernels on disk, as it does those marked ``cache=True``.

    The files go where numba puts every cache: next to umap's sources, or under the user's
    cache directory when those are read-only, or in ``NUMBA_CACHE_DIR`` when set. A kernel
    that a later umap renames is skipped, which only costs its compile time.
    """
    for module, name in _UNCACHED_KERNELS:
        kernel = getattr(importlib.import_module(module), name, None)
        if hasattr(kernel, "enable_caching"):
            kernel.enable_caching()


@contextlib.contextmanager
def _one_blas_thread():
    """numpy's and scipy's BLAS on one thread while embedding (not torch's OpenMP pool).

    The matrices are small, and OpenBLAS's second thread made an embedding ~1 s slower
    while a torch loop held the other core. One call at a time, so that overlapping calls
    (a background :func:`warm_up`) cannot restore the thread count out of order.
    """
    from threadpoolctl import threadpool_limits

    with _BLAS_LOCK, threadpool_limits(limits=1, user_api="blas"):
        yield


def _exact_knn(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours, each sample first at distance 0 (as umap's own are)."""
    from sklearn.neighbors import NearestNeighbors

    dists, idx = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(x).kneighbors(x)
    dists[:, 0] = 0.0  # computed as |x|^2 - 2 x.y + |y|^2, the self distance is up to ~1e-6, not 0
    return idx.astype(np.int32), dists.astype(np.float32)


def _reduce(x: np.ndarray, seed: int) -> np.ndarray:
    """The leading principal components (seeded randomized PCA; exact from
    ``EXACT_PCA_FROM`` samples) of features wider than ``PCA_DIMS``; constant features give
    zeros."""
    if x.shape[1] <= PCA_DIMS or len(x) < 2:
        return x
    dims = min(PCA_DIMS, len(x) - 1)
    if not np.ptp(x, axis=0).any():
        return np.zeros((len(x), dims))
    from sklearn.decomposition import PCA

    solver = "covariance_eigh" if len(x) >= EXACT_PCA_FROM else "randomized"
    return PCA(n_components=dims, svd_solver=solver, random_state=seed).fit_transform(x)


def _umap(x: np.ndarray, seed: int, n_neighbors: int, min_dist: float) -> np.ndarray:
    import umap

    _cache_umap_kernels()
    fitter = umap.UMAP(
        n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed, n_jobs=1,
        precomputed_knn=_exact_knn(x, n_neighbors), init="pca",
    )
    with warnings.catch_warnings():
        # Without an NNDescent index umap cannot place new points later; we never ask it to.
        warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]")
        return fitter.fit_transform(x)


def _place(x: np.ndarray, ref_x: np.ndarray, ref_coords: np.ndarray, n_neighbors: int) -> np.ndarray:
    """Each row of ``x`` at the weighted mean of the places of its nearest ``ref_x`` rows.

    The weights are UMAP's membership strengths exp(-d / sigma), with the bandwidth sigma
    that umap's ``smooth_knn_dist`` gives the row's neighbour distances (McInnes et al.,
    2018, Sec. 3.1).
    """
    from sklearn.neighbors import NearestNeighbors
    from umap.umap_ import smooth_knn_dist

    _cache_umap_kernels()
    k = min(n_neighbors, len(ref_x))
    dists, idx = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(ref_x).kneighbors(x)
    sigmas, _ = smooth_knn_dist(dists.astype(np.float32), float(k), local_connectivity=0.0)
    # Shifted by the nearest distance, which the normalisation cancels: the nearest weighs 1.
    weights = np.exp(-(dists - dists[:, :1]) / sigmas[:, None].astype(np.float64))
    return np.einsum("nk,nkc->nc", weights, ref_coords[idx]) / weights.sum(axis=1, keepdims=True)


def embed(features, *, reference=None, seed: int = 0, n_neighbors: int = 9,
          min_dist: float = 0.45) -> np.ndarray:
    """2-D layout of one model's features (n, d): a float32 array of shape (n, 2).

    Without ``reference``: the UMAP of the features, with the reference system's
    ``n_neighbors`` and ``min_dist``, umap's full schedule and a PCA start (umap's default
    spectral start runs ARPACK, whose internal random state made layouts of well-separated
    clusters differ between calls in one process). ``seed`` makes it reproducible:
    bit-identical on the same machine with the same thread count. Features wider than 50
    are first reduced to their 50 leading principal components (seeded randomized PCA;
    exact from ``EXACT_PCA_FROM`` samples), which keeps the neighbourhoods and makes the
    neighbour search cheap; neighbours are exact (all n^2 distances, in chunks: fine for a
    few thousand probe samples; O(n^2), most of a placement at 50,000), which skips
    umap's slow small-data path and pynndescent. With fewer than ``n_neighbors + 2``
    samples, or all samples identical (a collapsed model), UMAP is not defined; the layout
    is then the first two principal components (all zeros for one sample or identical ones).

    ``reference=(features, coords)``, the Original model's features and layout over the
    same samples in the same order, places this model's samples in the Original's map
    instead of fitting a new one: its features (reduced alike) are aligned onto the
    Original's by :func:`align` with ``trim=TRIM`` (the half of the samples that fit best
    decide the fit, so forgotten samples cannot drag it), then each sample goes to the
    weighted mean of the Original places of its ``n_neighbors`` nearest Original samples.
    A model with the Original's features gets the Original's layout up to that averaging
    (a few % of its spread), and a sample whose features became those of other samples
    lands among them. Independent UMAP fits arranged the clusters differently for every
    model, and a UMAP started from the Original's layout kept changed samples in place
    (benchmarks/RESULTS.md).
    """
    x = _check_finite_2d("features", features, "an (n, d) array with n >= 1 samples and d >= 1 features")
    n = x.shape[0]
    if reference is not None:
        if not isinstance(reference, (tuple, list)) or len(reference) != 2:
            raise ConfigError("reference must be the Original's (features, coords) pair, got "
                              f"{type(reference).__name__}.")
        ref_x = _check_finite_2d("reference features", reference[0], f"an array of shape {x.shape}")
        ref_coords = _check_finite_2d("reference coords", reference[1], f"an ({n}, 2) layout of the same samples")
        if ref_x.shape != x.shape:
            raise ConfigError(f"reference features must have the shape of features {x.shape}, got {ref_x.shape}.")
        if ref_coords.shape != (n, 2):
            raise ConfigError(f"reference coords must be an ({n}, 2) layout of the same samples, "
                              f"got {ref_coords.shape}.")
    n_neighbors = check_positive("n_neighbors", n_neighbors, integer=True)
    if n_neighbors < 2:
        raise ConfigError(f"n_neighbors must be >= 2 (the sample itself and a neighbour), got {n_neighbors}.")
    min_dist = check_positive("min_dist", min_dist, allow_zero=True)
    seed = check_positive("seed", seed, integer=True, allow_zero=True)

    with _one_blas_thread():
        if reference is not None:
            ref_x = _reduce(ref_x, seed)
            coords = _place(align(_reduce(x, seed), ref_x, trim=TRIM), ref_x, ref_coords, n_neighbors)
        elif n < n_neighbors + 2 or not np.ptp(x, axis=0).any():
            xc = x - x.mean(axis=0)
            coords = xc @ np.linalg.svd(xc, full_matrices=False)[2][:2].T
            coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
        else:
            coords = _umap(_reduce(x, seed), seed, n_neighbors, min_dist)
    return coords.astype(np.float32)


def warm_up() -> None:
    """Compile every numba kernel :func:`embed` uses, on a tiny input.

    The first call in a new environment takes 15-20 s (2 cores): numba compiles umap's and
    pynndescent's kernels and caches them on disk; without it, the first embedding pays
    this. Call it once after installing (``make install``). Later it only imports umap and
    loads the cached kernels (~1.3 s in a new process), which a background thread started
    with a study can take off the first embedding.
    """
    features = np.random.default_rng(0).normal(size=(60, 60))
    embed(features, reference=(features, embed(features)))


def top_probabilities(logits, k: int = 3, temperature: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """The k most likely classes of each sample and their probabilities, most likely first.

    Probabilities are softmax(logits / temperature); the reference system keeps
    softmax(z / 2) of every embedded point for its tooltips. Returns (classes as int32,
    probabilities as float32), both of shape (n, k); ties go to the lower class index.
    """
    z = _check_finite_2d("logits", logits, "an (n, num_classes) array")
    k = check_positive("k", k, integer=True)
    if k > z.shape[1]:
        raise ConfigError(f"k must be at most the number of classes {z.shape[1]}, got {k}.")
    temperature = check_positive("temperature", temperature)
    p = softmax(z / temperature)
    classes = np.argsort(-p, axis=1, kind="stable")[:, :k]
    return classes.astype(np.int32), np.take_along_axis(p, classes, axis=1).astype(np.float32)
