"""Layer-wise representation similarity: linear CKA (pure numpy).

Linear centred kernel alignment (Kornblith et al., "Similarity of Neural Network
Representations Revisited", ICML 2019) compares two layers through the Gram matrices of
their activations on the same samples, so only ``n x n`` Grams need to be kept per layer,
not the activations. We use the debiased HSIC estimator (Song et al., JMLR 2012; as in
Nguyen et al., ICLR 2021), which removes the bias towards 1 that the plain estimator shows
for few samples and wide layers. The reference system uses ``pytorch-cka`` >= 1.0.1 on
500 forget / 4,500 other samples: the same unbiased HSIC, but computed per loader batch
of 1,000 samples and summed over the batches, the ratio clamped to [0, 1].
``cka_from_grams(k, l, minibatch=1000)`` computes exactly that from the full Grams.
"""

from __future__ import annotations

import weakref

import numpy as np

from ..errors import ConfigError

__all__ = ["gram", "cka", "cka_from_grams"]


def gram(x) -> np.ndarray:
    """Linear-kernel Gram matrix ``X X^T`` of ``(n, ...)`` activations, flattened per sample."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return x @ x.T


def _hsic(k: np.ndarray, l: np.ndarray, debiased: bool) -> float:
    """HSIC of two Grams in O(n^2): no n x n matrix product (tr(KL) = sum(K * L^T),
    1^T K L 1 = (1^T K)(L 1))."""
    n = k.shape[0]
    if not debiased:  # tr(HKH L) / (n-1)^2, HKH by subtracting row, column and grand means
        kc = k - k.mean(axis=1, keepdims=True) - k.mean(axis=0, keepdims=True) + k.mean()
        return float(np.sum(kc * l.T)) / (n - 1) ** 2
    # Unbiased HSIC (Song et al. 2012, eq. 5) on Grams with zeroed diagonals.
    k = k - np.diag(np.diag(k))
    l = l - np.diag(np.diag(l))
    term = (np.sum(k * l.T) + k.sum() * l.sum() / ((n - 1) * (n - 2))
            - 2.0 * float(k.sum(axis=0) @ l.sum(axis=1)) / (n - 2))
    return float(term) / (n * (n - 3))


#: HSIC(K, K) of read-only Grams (a stored model's), by array identity, dropped with the
#: array: every model's CKA against the Original and the Retrain reuses theirs.
_SELF_TERMS: dict = {}


def _self_hsic(g: np.ndarray, debiased: bool) -> float:
    if g.flags.writeable:  # the caller may change it: no caching
        return _hsic(g, g, debiased)
    key = (id(g), debiased)
    value = _SELF_TERMS.get(key)
    if value is None:
        value = _SELF_TERMS[key] = _hsic(g, g, debiased)
        weakref.finalize(g, _SELF_TERMS.pop, key, None)
    return value


def cka_from_grams(k, l, debiased: bool = True, *, minibatch: int | None = None) -> float:
    """CKA of two representations given their ``n x n`` Gram matrices over the same samples.

    Returns NaN when there are too few samples (debiased needs n >= 4) or a representation
    is constant. ``minibatch=b`` computes it as pytorch-cka >= 1.0.1 does with a loader of
    batch size ``b`` (the reference system: 1,000): the unbiased HSIC of each consecutive
    block of ``b`` samples (the diagonal blocks of the Grams), summed over the blocks, the
    ratio clamped to [0, 1] (0 for a constant representation); NaN if a block has fewer
    than 4 samples, where pytorch-cka refuses the batch.
    """
    k, l = np.asarray(k, dtype=np.float64), np.asarray(l, dtype=np.float64)
    if k.shape != l.shape or k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise ConfigError(f"Gram matrices must be square and of the same shape, got {k.shape} and {l.shape}.")
    n = k.shape[0]
    if minibatch is not None:
        whole = isinstance(minibatch, (int, np.integer)) and not isinstance(minibatch, bool)
        if not (whole and minibatch >= 1 and debiased):
            raise ConfigError(
                f"minibatch must be a positive integer used with debiased=True (pytorch-cka's "
                f"unbiased HSIC), got minibatch={minibatch!r}, debiased={debiased!r}."
            )
        return _minibatch_cka(k, l, int(minibatch))
    if n < (4 if debiased else 2):
        return float("nan")
    kl = _hsic(k, l, debiased)
    kk, ll = _self_hsic(k, debiased), _self_hsic(l, debiased)
    if kk <= 0 or ll <= 0:
        return float("nan")
    return kl / np.sqrt(kk * ll)


def _minibatch_cka(k: np.ndarray, l: np.ndarray, b: int) -> float:
    n = k.shape[0]
    starts = range(0, n, b)
    if n == 0 or any(min(b, n - i) < 4 for i in starts):
        return float("nan")
    kl = kk = ll = 0.0
    for i in starts:
        kb, lb = k[i:i + b, i:i + b], l[i:i + b, i:i + b]
        kl += _hsic(kb, lb, True)
        kk += _hsic(kb, kb, True)
        ll += _hsic(lb, lb, True)
    denominator = np.sqrt(max(kk * ll, 0.0)) or 1e-6
    return float(np.clip(kl / denominator, 0.0, 1.0))


def cka(x, y, debiased: bool = True, *, minibatch: int | None = None) -> float:
    """Linear CKA between activations ``x`` (n, ...) and ``y`` (n, ...) of the same samples.

    1 for identical representations; invariant to orthogonal transforms and isotropic
    scaling of either side; near 0 for unrelated ones. ``minibatch``: as in
    :func:`cka_from_grams`.
    """
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ConfigError(f"x and y must hold the same samples, got {len(x)} and {len(y)} rows.")
    return cka_from_grams(gram(x), gram(y), debiased, minibatch=minibatch)
