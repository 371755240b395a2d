"""2-D UMAP layouts of a model's penultimate features, aligned across models.

The Machine Unlearning Comparator (Lee et al., TVCG 2026) shows the probe samples of two
models side by side as UMAP scatter plots (McInnes et al., 2018, arXiv:1802.03426) with
``n_neighbors=9, min_dist=0.45``, and fits every model independently, so one sample lands
in unrelated places in A and B. Here a model's layout can start from the Original model's
layout and is then aligned onto it (orthogonal Procrustes), so places are comparable.

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
import threading
import warnings

import numpy as np

from ..errors import ConfigError, check_positive
from .mia import softmax

PCA_DIMS = 50
"""Features wider than this are reduced to this many principal components before UMAP."""

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


def align(coords, reference) -> np.ndarray:
    """Map ``coords`` onto ``reference`` by the best similarity transform (float64).

    Orthogonal Procrustes with isotropic scale (Schönemann, 1966; Gower, 1975): the
    rotation or reflection R, scale s and translation t minimising
    ``||s * coords @ R + t - reference||`` over rows that correspond one to one. It keeps
    the layout's shape and only moves it to where the reference puts the same samples.
    """
    x = _check_finite_2d("coords", coords, "an (n, m) array")
    y = _check_finite_2d("reference", reference, f"an array of the shape of coords {x.shape}")
    if x.shape != y.shape:
        raise ConfigError(f"reference must have the shape of coords {x.shape}, got {y.shape}.")
    xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
    u, sv, vt = np.linalg.svd(xc.T @ yc)
    norm = float((xc**2).sum())
    scale = sv.sum() / norm if norm > 0 else 0.0
    return scale * xc @ (u @ vt) + y.mean(axis=0)


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


def _umap(x: np.ndarray, reference, seed: int, n_neighbors: int, min_dist: float) -> np.ndarray:
    import umap

    _cache_umap_kernels()
    fitter = umap.UMAP(
        n_neighbors=n_neighbors, min_dist=min_dist, random_state=seed, n_jobs=1,
        precomputed_knn=_exact_knn(x, n_neighbors),
        init="pca" if reference is None else reference.astype(np.float32),
        # From the reference: umap's own schedule for points that start near their final
        # place (UMAP.transform), 100 epochs at a quarter of the learning rate.
        n_epochs=None if reference is None else 100,
        learning_rate=1.0 if reference is None else 0.25,
    )
    with warnings.catch_warnings():
        # Without an NNDescent index umap cannot place new points later; we never ask it to.
        warnings.filterwarnings("ignore", message=r"precomputed_knn\[2\]")
        return fitter.fit_transform(x)


def embed(features, *, reference=None, seed: int = 0, n_neighbors: int = 9,
          min_dist: float = 0.45) -> np.ndarray:
    """2-D UMAP layout of one model's features (n, d): a float32 array of shape (n, 2).

    ``n_neighbors`` and ``min_dist`` default to the reference system's values; ``seed``
    makes the layout reproducible, identical in any process. Features wider than 50 are
    first reduced to their 50 leading principal components (seeded randomized PCA), which
    keeps the neighbourhoods and makes the neighbour search cheap; nothing else is
    standardised. Neighbours are exact (all n^2 distances, in chunks: fine for a few
    thousand probe samples), which skips umap's slow small-data path and pynndescent.

    ``reference``, the (n, 2) layout of the Original model over the same samples in the
    same order, is where the optimisation starts (umap rescales any start to its own
    box); the result is then aligned onto it with :func:`align`, so a sample sits in
    comparable places across models while a changed model still shows its changes.
    Without it the start is the PCA of the features: umap's default spectral start runs
    ARPACK, whose internal random state made layouts of well-separated clusters differ
    between calls in one process. With fewer than ``n_neighbors + 2`` samples, or all
    samples identical (a collapsed model), UMAP is not defined; the layout is then the
    first two principal components (all zeros for one sample or identical ones).
    """
    x = _check_finite_2d("features", features, "an (n, d) array with n >= 1 samples and d >= 1 features")
    n = x.shape[0]
    if reference is not None:
        reference = _check_finite_2d("reference", reference, f"an ({n}, 2) layout of the same samples")
        if reference.shape != (n, 2):
            raise ConfigError(f"reference must be an ({n}, 2) layout of the same samples, got {reference.shape}.")
    n_neighbors = check_positive("n_neighbors", n_neighbors, integer=True)
    if n_neighbors < 2:
        raise ConfigError(f"n_neighbors must be >= 2 (the sample itself and a neighbour), got {n_neighbors}.")
    min_dist = check_positive("min_dist", min_dist, allow_zero=True)
    seed = check_positive("seed", seed, integer=True, allow_zero=True)

    with _one_blas_thread():
        if n < n_neighbors + 2 or not np.ptp(x, axis=0).any():
            xc = x - x.mean(axis=0)
            coords = xc @ np.linalg.svd(xc, full_matrices=False)[2][:2].T
            coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
        else:
            if x.shape[1] > PCA_DIMS:
                from sklearn.decomposition import PCA

                dims = min(PCA_DIMS, n - 1)
                x = PCA(n_components=dims, svd_solver="randomized", random_state=seed).fit_transform(x)
            coords = _umap(x, reference, seed, n_neighbors, min_dist)
    if reference is not None:
        coords = align(coords, reference)
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
    embed(features, reference=embed(features))


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
