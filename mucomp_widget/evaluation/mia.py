"""Membership-inference (MIA) metrics of unlearning from cached logits (numpy, scikit-learn).

The field reports several incompatible numbers under the name "MIA"; each function here
implements one paper's definition and says which. None has a fixed ideal value: the
target is always the Retrain model's value on the same split (class-wise forgetting
gives Retrain an MIA-efficacy of about 1.0, random forgetting a much lower one).

Two traps: SalUn's ``m_entropy`` attack feature (Fan et al., ICLR 2024,
``evaluation/SVC_MIA.py``) has a bug, using log p where log(1 - p) is needed, so it is
not ported. SalUn and l1-sparse print MIA-efficacy as a percentage;
:func:`svc_mia_efficacy` returns the fraction, which must be multiplied by 100 to compare.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import auc, roc_curve
from sklearn.model_selection import StratifiedShuffleSplit, cross_val_score
from sklearn.svm import SVC

from ..errors import ConfigError, check_positive

_CV_TEST_SIZE = 0.1  # StratifiedShuffleSplit's default, used by the NeurIPS 2023 kit


def _logits(logits, name: str = "logits") -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] < 2:
        raise ConfigError(
            f"{name} must be a 2-D array (samples x classes, at least 2 classes), "
            f"got shape {z.shape}."
        )
    return z


def _labeled(logits, labels, name: str = "") -> tuple[np.ndarray, np.ndarray]:
    prefix = f"{name}_" if name else ""
    z = _logits(logits, f"{prefix}logits")
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != len(z):
        raise ConfigError(
            f"{prefix}labels must be 1-D with one label per row of {prefix}logits "
            f"({len(z)} rows), got shape {y.shape}."
        )
    if y.size and (y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= z.shape[1]):
        raise ConfigError(
            f"{prefix}labels must be integers in [0, {z.shape[1]}), got dtype {y.dtype} "
            f"with values in [{y.min()}, {y.max()}]."
        )
    return z, y.astype(np.intp)


def _nonempty(name: str, n: int) -> None:
    if n == 0:
        raise ConfigError(f"{name} is empty; it needs at least one sample.")


def _scores(scores, name: str) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise ConfigError(f"{name} must be a 1-D array of scores, got shape {s.shape}.")
    _nonempty(name, s.size)
    if not np.isfinite(s).all():
        bad = int((~np.isfinite(s)).sum())
        raise ConfigError(f"{name} must be finite, got {bad} NaN/inf values.")
    return s


def _subsample(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Indices of ``k`` of ``n`` samples without replacement (all of them when k >= n)."""
    return np.arange(n) if k >= n else np.sort(rng.choice(n, size=k, replace=False))


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of a float array, stable via log-sum-exp (no validation)."""
    return z - logsumexp(z, axis=1, keepdims=True)


def softmax(logits) -> np.ndarray:
    """Row-wise softmax in float64, stable for large logits (via log-sum-exp)."""
    return np.exp(log_softmax(_logits(logits)))


def true_class_probability(logits, labels) -> np.ndarray:
    """Softmax probability of each sample's true class (SalUn's "confidence" feature)."""
    z, y = _labeled(logits, labels)
    return np.exp(log_softmax(z)[np.arange(len(y)), y])


def entropy(logits) -> np.ndarray:
    """Shannon entropy of the softmax in nats, at temperature 1 (Bad Teacher's feature)."""
    lp = log_softmax(_logits(logits))
    return -(np.exp(lp) * lp).sum(axis=1)


def cross_entropy_loss(logits, labels) -> np.ndarray:
    """Per-sample cross-entropy loss -log p_y, stable via log-sum-exp (SCRUB's feature)."""
    z, y = _labeled(logits, labels)
    return -log_softmax(z)[np.arange(len(y)), y]


def logit_confidence(logits, labels) -> np.ndarray:
    """LiRA's logit-scaled confidence (Carlini et al., S&P 2022).

    phi = log p_y - log sum_{y' != y} p_y', computed as z_y - logsumexp(z_{-y}), which
    equals the definition exactly and stays finite where p_y rounds to 1. Higher means
    more member-like.
    """
    z, y = _labeled(logits, labels)
    rows = np.arange(len(y))
    others = z.copy()
    others[rows, y] = -np.inf
    return z[rows, y] - logsumexp(others, axis=1)


SVC_PROTOCOLS = ("salun", "subsample")


def _svc_fit_predict(p_in: np.ndarray, p_out: np.ndarray, p_t: np.ndarray) -> float:
    """SalUn's ``SVC_fit_predict`` on the confidence feature: share of targets judged non-member."""
    x = np.concatenate([p_in, p_out])[:, None]
    member = np.r_[np.ones(len(p_in)), np.zeros(len(p_out))]
    clf = SVC(C=3, kernel="rbf", gamma="auto").fit(x, member)
    return float(1.0 - clf.predict(p_t[:, None]).mean())


def svc_mia_efficacy_draws(
    shadow_in_logits,
    shadow_in_labels,
    shadow_out_logits,
    shadow_out_labels,
    target_logits,
    target_labels,
    *,
    protocol: str = "salun",
    draws: int = 10,
    max_shadow: int = 2000,
    seed: int = 0,
) -> np.ndarray:
    """:func:`svc_mia_efficacy` of the protocol's own shadow samples, then of ``draws`` redraws.

    Entry 0 is the reported value; entries 1.. each draw ``min(k, max_shadow)`` shadow
    samples at random (seeded) from each side, ``k`` being the protocol's own count (a
    side with no more samples than that is used whole). Their range shows how much the
    value owes to which shadow samples were taken, which one number hides. Beyond the cap
    (SalUn's protocol on CIFAR-10-sized sets, where one SVC fit takes seconds) the redraws
    are smaller, so their spread is wider than the value's own: conservative, not flattering.
    """
    if protocol not in SVC_PROTOCOLS:
        raise ConfigError(f"protocol must be one of {SVC_PROTOCOLS}, got {protocol!r}.")
    z_in, y_in = _labeled(shadow_in_logits, shadow_in_labels, "shadow_in")
    z_out, y_out = _labeled(shadow_out_logits, shadow_out_labels, "shadow_out")
    z_t, y_t = _labeled(target_logits, target_labels, "target")
    for name, z in (("shadow_in", z_in), ("shadow_out", z_out), ("target", z_t)):
        _nonempty(name, len(z))
    max_shadow = check_positive("max_shadow", max_shadow, integer=True)
    draws = check_positive("draws", draws, integer=True, allow_zero=True)
    p_in, p_out = true_class_probability(z_in, y_in), true_class_probability(z_out, y_out)
    p_t = true_class_probability(z_t, y_t)
    rng = np.random.default_rng(seed)
    k = min(len(p_in), len(p_out))
    capped = min(k, max_shadow)

    def redraw():
        return _subsample(rng, len(p_in), capped), _subsample(rng, len(p_out), capped)

    own = (np.arange(k), np.arange(k)) if protocol == "salun" else redraw()
    picks = [own] + [redraw() for _ in range(draws)]
    return np.array([_svc_fit_predict(p_in[i], p_out[o], p_t) for i, o in picks])


def svc_mia_efficacy(
    shadow_in_logits,
    shadow_in_labels,
    shadow_out_logits,
    shadow_out_labels,
    target_logits,
    target_labels,
    *,
    protocol: str = "salun",
    max_shadow: int = 2000,
    seed: int = 0,
) -> float:
    """MIA-efficacy of SalUn (Fan et al., ICLR 2024) and l1-sparse (Jia et al., NeurIPS 2023).

    An RBF SVC (C=3, gamma="auto") learns member (1) vs non-member (0) from the
    true-class softmax probability (float64 here, float32 in SalUn), with retain training
    samples as shadow members and held-out test samples (of the retained classes, for
    class-wise forgetting) as shadow non-members. Returns the fraction of target (forget)
    samples predicted NON-member: higher means the forget set looks more unseen. Compare
    with the Retrain model's value (about 1.0 for class-wise forgetting), not with 1.0.
    SalUn prints this times 100.

    ``protocol="salun"`` is SalUn's ``main_forget.py``/``main_random.py``: the first
    |shadow_out| shadow members in the order given (the retain set's order) against every
    shadow non-member, no cap and no randomness (where there are fewer members than
    non-members, which makes SalUn's code fail, the first |shadow_in| non-members are
    used). It is the default and the results table's protocol: the column is named after
    SalUn's metric, and a value that needs no seed is the number SalUn's code gives for
    the same model and data. ``"subsample"`` draws the same number from each side at
    random (``seed``), capped at ``max_shadow`` per side to bound the SVC's cost on large
    sets. Either way the value depends on which shadow samples were taken:
    :func:`svc_mia_efficacy_draws` measures by how much.
    """
    return float(svc_mia_efficacy_draws(
        shadow_in_logits, shadow_in_labels, shadow_out_logits, shadow_out_labels,
        target_logits, target_labels, protocol=protocol, draws=0, max_shadow=max_shadow,
        seed=seed)[0])


def entropy_lr_mia(
    shadow_in_logits, shadow_out_logits, target_logits, *, max_shadow: int = 2000, seed: int = 0
) -> float:
    """Entropy MIA of Bad Teacher (Chundawat et al., AAAI 2023) and SSD (Foster et al., AAAI 2024).

    LogisticRegression(class_weight="balanced") learns member (1, retain samples) vs
    non-member (0, test samples) from the softmax entropy; each side is capped at
    ``max_shadow`` samples (seeded) but not equalised, as the class weights already
    balance it, as in the original. Returns the fraction of target (forget) samples
    predicted MEMBER: lower means the forget set looks more unseen. Compare with the
    Retrain model's value, not with 0.
    """
    z_in = _logits(shadow_in_logits, "shadow_in_logits")
    z_out = _logits(shadow_out_logits, "shadow_out_logits")
    z_t = _logits(target_logits, "target_logits")
    for name, z in (("shadow_in", z_in), ("shadow_out", z_out), ("target", z_t)):
        _nonempty(name, len(z))
    max_shadow = check_positive("max_shadow", max_shadow, integer=True)
    rng = np.random.default_rng(seed)
    i_in = _subsample(rng, len(z_in), max_shadow)
    i_out = _subsample(rng, len(z_out), max_shadow)
    x = np.concatenate([entropy(z_in[i_in]), entropy(z_out[i_out])])[:, None]
    member = np.r_[np.ones(len(i_in)), np.zeros(len(i_out))]
    clf = LogisticRegression(class_weight="balanced").fit(x, member)
    return float(clf.predict(entropy(z_t)[:, None]).mean())


def loss_lr_cv_accuracy(
    member_logits,
    member_labels,
    nonmember_logits,
    nonmember_labels,
    *,
    n_splits: int = 10,
    seed: int = 0,
) -> float:
    """Loss-based MIA of SCRUB (Kurmanji et al., NeurIPS 2023) and the NeurIPS 2023 unlearning kit.

    Members are the forget samples, non-members held-out test samples. The larger set is
    subsampled (seeded) to the smaller's size, and a LogisticRegression on the per-sample
    cross-entropy loss is scored by mean accuracy over ``n_splits`` StratifiedShuffleSplit
    folds (10 % test, ``random_state=seed``). About 0.5 means the forget set is
    indistinguishable from unseen data; far from 0.5 in either direction leaks. Compare
    with the Retrain model's value. Returns NaN when a stratified split is impossible:
    fewer than 6 samples per side after balancing, so that the test fold cannot hold
    one sample of each side.
    """
    z_m, y_m = _labeled(member_logits, member_labels, "member")
    z_n, y_n = _labeled(nonmember_logits, nonmember_labels, "nonmember")
    _nonempty("member", len(z_m))
    _nonempty("nonmember", len(z_n))
    if isinstance(n_splits, bool) or not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ConfigError(f"n_splits must be an integer >= 2, got {n_splits!r}.")
    k = min(len(z_m), len(z_n))
    if k < 2 or math.ceil(_CV_TEST_SIZE * 2 * k) < 2:
        return float("nan")
    rng = np.random.default_rng(seed)
    i_m, i_n = _subsample(rng, len(z_m), k), _subsample(rng, len(z_n), k)
    x = np.concatenate([cross_entropy_loss(z_n[i_n], y_n[i_n]),
                        cross_entropy_loss(z_m[i_m], y_m[i_m])])[:, None]
    member = np.r_[np.zeros(k), np.ones(k)]
    cv = StratifiedShuffleSplit(n_splits=n_splits, test_size=_CV_TEST_SIZE, random_state=seed)
    return float(cross_val_score(LogisticRegression(), x, member, cv=cv, scoring="accuracy").mean())


def _percent(v: float) -> str:
    return f"{100 * v:.2g} %"


def roc(member_scores, nonmember_scores, fprs=(0.001, 0.01)) -> dict:
    """ROC curve of an attack score where higher means member (Carlini et al., S&P 2022).

    Used on LiRA's phi both for the member/non-member audit (forget vs held-out) and for
    the U-LiRA-style "unlearned vs Retrain" question (Hayes et al., SaTML 2025); an AUC
    near the Retrain model's own, or near 0.5 for unlearned vs Retrain, means success.
    The curve keeps every threshold, from (0, 0) to (1, 1).

    TPR at a target FPR t is the largest TPR among curve points with FPR <= t, without
    interpolation: the best threshold that makes at most floor(t n) false positives among
    the n non-members. LiRA's ``plot.py`` takes FPR strictly below t instead; the two differ
    only when t n is a whole number, where LiRA's allows one false positive fewer. "<=" is
    used so that the smallest supported target, t = 1/n (``min_fpr``), admits exactly one
    false positive. Below it only FPR = 0 is admitted, which says nothing about t (with 37
    non-members, TPR at 0.1 % and at 1 % FPR would be the same number), so ``tpr_at[t]`` is
    NaN for every t < 1/n and ``tpr_at_reason[t]`` says why.
    """
    m = _scores(member_scores, "member_scores")
    n = _scores(nonmember_scores, "nonmember_scores")
    for t in fprs:
        if not 0 < t <= 1:
            raise ConfigError(f"each target FPR must be in (0, 1], got {t!r}.")
    member = np.r_[np.ones(len(m)), np.zeros(len(n))]
    fpr, tpr, _ = roc_curve(member, np.concatenate([m, n]), drop_intermediate=False)
    min_fpr = 1.0 / len(n)
    unsupported = [t for t in fprs if t < min_fpr]
    return {
        "fpr": fpr,
        "tpr": tpr,
        "auc": float(auc(fpr, tpr)),
        "tpr_at": {t: float("nan") if t in unsupported else float(tpr[fpr <= t].max())
                   for t in fprs},
        "tpr_at_reason": {
            t: f"not estimable: {_percent(t)} FPR is below 1/{len(n)} = {_percent(min_fpr)}, "
               f"the smallest non-zero FPR that {len(n)} non-members can show"
            for t in unsupported
        },
        "min_fpr": min_fpr,
        "n_members": len(m),
        "n_nonmembers": len(n),
    }


def auc_ci(
    member_scores, nonmember_scores, n_boot: int = 200, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Bootstrap percentile interval of the ROC AUC.

    Each side is resampled with replacement independently; each resample's AUC is the
    Mann-Whitney U statistic over average ranks (ties count one half), which equals the
    trapezoidal AUC of :func:`roc` and is vectorised over all resamples.
    """
    m = _scores(member_scores, "member_scores")
    n = _scores(nonmember_scores, "nonmember_scores")
    n_boot = check_positive("n_boot", n_boot, integer=True)
    if not 0 < level < 1:
        raise ConfigError(f"level must be in (0, 1), got {level!r}.")
    rng = np.random.default_rng(seed)
    bm = m[rng.integers(0, len(m), size=(n_boot, len(m)))]
    bn = n[rng.integers(0, len(n), size=(n_boot, len(n)))]
    ranks = rankdata(np.concatenate([bm, bn], axis=1), axis=1)
    u = ranks[:, : len(m)].sum(axis=1) - len(m) * (len(m) + 1) / 2
    alpha = (1 - level) / 2
    lo, hi = np.quantile(u / (len(m) * len(n)), [alpha, 1 - alpha])
    return float(lo), float(hi)
