"""Privacy score (PS): a worst-case threshold attack against the Retrain model (pure numpy).

The Machine Unlearning Comparator (Lee et al., TVCG 2026) asks how well an attacker can
tell the unlearned model from the Retrain model by their outputs on the forget samples.
It scores each forget sample by its output entropy and its top-1 confidence, sweeps a
threshold over both metrics in both directions, turns each threshold's (FPR, FNR) into
an (epsilon, delta) estimate as the NeurIPS 2023 Machine Unlearning Challenge does
(Triantafillou et al., 2024), and reports PS = 1 - the strongest attack score. PS = 1:
the attack cannot tell the two apart; PS = 0: it separates them perfectly.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ..errors import ConfigError, check_positive
from .mia import log_softmax

ENTROPY_RANGE = (0.0, 2.5)
CONFIDENCE_RANGE = (-2.5, 10.0)
N_THRESHOLDS = 51
DELTA = 1e-5
EPS = 1e-10
ENTROPY_TEMPERATURE = 2.0
CONFIDENCE_TEMPERATURE = 1.0

_RANGES = {"entropy": ENTROPY_RANGE, "confidence": CONFIDENCE_RANGE}
_DIRECTIONS = ("above_unlearn", "above_retrain")
_GRIDS = ("reference", "exact")


def _check_logits(logits, name: str = "logits") -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] < 1 or z.shape[1] < 2:
        raise ConfigError(
            f"{name} must be a 2-D array of shape (n_samples >= 1, n_classes >= 2), "
            f"got shape {z.shape}."
        )
    bad = int((~np.isfinite(z)).any(axis=1).sum())
    if bad:
        raise ConfigError(
            f"{name} has non-finite values (NaN or inf) in {bad} of {z.shape[0]} rows; "
            "the model diverged, so its privacy score is undefined."
        )
    return z


def _check_pair(unlearned_forget_logits, retrain_forget_logits) -> tuple[np.ndarray, np.ndarray]:
    u = _check_logits(unlearned_forget_logits, "unlearned_forget_logits")
    r = _check_logits(retrain_forget_logits, "retrain_forget_logits")
    if u.shape != r.shape:
        raise ConfigError(
            f"unlearned_forget_logits {u.shape} and retrain_forget_logits {r.shape} must "
            "have the same shape: row i of both is the same forget sample."
        )
    return u, r


def entropy_values(logits, temperature: float = ENTROPY_TEMPERATURE) -> np.ndarray:
    """Shannon entropy (nats) of softmax(logits / temperature), one value per row.

    Computed from log-probabilities, so saturated logits give 0, not NaN.
    """
    z = _check_logits(logits) / temperature
    log_p = log_softmax(z)
    return -(np.exp(log_p) * log_p).sum(axis=1)


def confidence_values(logits, temperature: float = CONFIDENCE_TEMPERATURE) -> np.ndarray:
    """Logit of the top-1 probability, log p_max - log(1 - p_max), one value per row.

    With p = softmax(z) this equals z_max - logsumexp(z without its max entry), which
    stays finite where 1 - p_max underflows (logits like [1000, 0, 0]).
    """
    z = _check_logits(logits) / temperature
    top = z.argmax(axis=1)
    rows = np.arange(len(z))
    z_max = z[rows, top]
    others = z.copy()
    others[rows, top] = -np.inf
    return z_max - logsumexp(others, axis=1)


def attack_values(logits) -> dict:
    """Per-sample attack metrics, unrounded: entropy at T = 2 and confidence at T = 1."""
    return {"entropy": entropy_values(logits), "confidence": confidence_values(logits)}


def epsilon_from_rates(fpr, fnr, delta: float = DELTA) -> np.ndarray:
    """Epsilon of an (epsilon, delta) guarantee that an attack with these error rates refutes.

    The NeurIPS 2023 Machine Unlearning Challenge estimator (Triantafillou et al., 2024):
    epsilon = max(0, min(ln(1 - delta - FPR) - ln FNR, ln(1 - delta - FNR) - ln FPR)) on
    rates clipped into [EPS, 1 - delta - EPS]. As in the reference system, a perfect
    attack (FPR = FNR = 0) gives epsilon = inf and an attack that always or never fires
    (either rate >= 1 - delta) gives 0.
    """
    fpr, fnr = np.broadcast_arrays(np.asarray(fpr, dtype=np.float64), np.asarray(fnr, dtype=np.float64))
    sfp = np.clip(fpr, EPS, 1 - delta - EPS)
    sfn = np.clip(fnr, EPS, 1 - delta - EPS)
    eps = np.maximum(0.0, np.minimum(np.log(1 - delta - sfp) - np.log(sfn),
                                     np.log(1 - delta - sfn) - np.log(sfp)))
    eps = np.where((fpr >= 1 - delta) | (fnr >= 1 - delta), 0.0, eps)
    return np.where((fpr == 0) & (fnr == 0), np.inf, eps)


def attack_score_from_rates(fpr, fnr, delta: float = DELTA) -> np.ndarray:
    """Attack score 1 - 2^-epsilon in [0, 1]: 0 for a useless attack, 1 for a perfect one."""
    return 1.0 - 2.0 ** -epsilon_from_rates(fpr, fnr, delta)


def _check_values(values, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ConfigError(f"{name} must be a non-empty 1-D array of per-sample values, got shape {v.shape}.")
    return v


def _grid(u: np.ndarray, r: np.ndarray, metric: str, grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The values to compare and the thresholds to sweep, for one metric."""
    if metric not in _RANGES:
        raise ConfigError(f"metric must be one of {sorted(_RANGES)}, got {metric!r}.")
    if isinstance(grid, str):
        if grid == "reference":
            lo, hi = _RANGES[metric]
            return (np.clip(np.round(u, 2), lo, hi), np.clip(np.round(r, 2), lo, hi),
                    np.linspace(lo, hi, N_THRESHOLDS))
        if grid == "exact":
            return u, r, np.union1d(u, r)
        raise ConfigError(f"grid must be one of {list(_GRIDS)} or a 1-D array of thresholds, got {grid!r}.")
    thresholds = np.asarray(grid, dtype=np.float64)
    if thresholds.ndim != 1 or thresholds.size == 0 or not np.isfinite(thresholds).all():
        raise ConfigError(
            f"an explicit grid must be a non-empty 1-D array of finite thresholds, got shape {thresholds.shape}."
        )
    return u, r, thresholds


def _fraction_at_least(sorted_values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """mean(values >= t) for every threshold t at once."""
    n = len(sorted_values)
    return (n - np.searchsorted(sorted_values, thresholds, side="left")) / n


def _sweep(u: np.ndarray, r: np.ndarray, thresholds: np.ndarray) -> dict:
    at_least = {"above_unlearn": _fraction_at_least(np.sort(u), thresholds),
                "above_retrain": _fraction_at_least(np.sort(r), thresholds)}
    curves = {}
    for direction, other in zip(_DIRECTIONS, reversed(_DIRECTIONS)):
        tpr, fpr = at_least[direction], at_least[other]
        fnr = 1.0 - tpr
        curves[direction] = {"threshold": thresholds, "tpr": tpr, "fpr": fpr, "fnr": fnr,
                             "attack_score": attack_score_from_rates(fpr, fnr)}
    return curves


def attack_curves(unlearned_values, retrain_values, metric: str, grid="reference") -> dict:
    """Threshold sweep of one metric in both directions.

    ``above_X`` predicts "model X" for a sample whose value is >= the threshold, so X's
    values are the positives. ``grid``: "reference" rounds values to 2 decimals, clips
    them into the metric's range and sweeps 51 evenly spaced thresholds, as the reference
    system does; "exact" sweeps every distinct raw value, which reaches every attainable
    (TPR, FPR) pair and so the true worst case; an array sweeps those thresholds on raw
    values.
    """
    u = _check_values(unlearned_values, "unlearned_values")
    r = _check_values(retrain_values, "retrain_values")
    return _sweep(*_grid(u, r, metric, grid))


def _worst(curves: dict) -> dict:
    """Strongest row; ties go to entropy before confidence, above_unlearn first, lower threshold."""
    best = None
    for metric in _RANGES:
        for direction in _DIRECTIONS:
            c = curves[metric][direction]
            i = int(np.argmax(c["attack_score"]))
            if best is None or c["attack_score"][i] > best["attack_score"]:
                best = {"metric": metric, "direction": direction, "threshold": float(c["threshold"][i]),
                        "attack_score": float(c["attack_score"][i]),
                        "fpr": float(c["fpr"][i]), "fnr": float(c["fnr"][i])}
    return best


def _all_curves(values_u: dict, values_r: dict, grid) -> dict:
    return {m: _sweep(*_grid(values_u[m], values_r[m], m, grid)) for m in _RANGES}


def privacy_attack(unlearned_forget_logits, retrain_forget_logits, grid="reference") -> dict:
    """PS with everything behind it: per-sample values, all four curves and the worst attack.

    Both arrays hold logits of the same forget training samples (row i = same sample).
    PS = 1 - max attack score over entropy and confidence, both directions, all
    thresholds (Lee et al., TVCG 2026); the Retrain model against itself scores 1.
    """
    u, r = _check_pair(unlearned_forget_logits, retrain_forget_logits)
    values = {"unlearned": attack_values(u), "retrain": attack_values(r)}
    curves = _all_curves(values["unlearned"], values["retrain"], grid)
    worst = _worst(curves)
    return {"ps": 1.0 - worst["attack_score"], "values": values, "curves": curves, "worst": worst}


def privacy_score(unlearned_forget_logits, retrain_forget_logits, grid="reference") -> float:
    """PS in [0, 1]: 1 - the strongest threshold attack telling unlearned from Retrain."""
    return privacy_attack(unlearned_forget_logits, retrain_forget_logits, grid)["ps"]


def privacy_score_ci(unlearned_forget_logits, retrain_forget_logits, grid="reference",
                     n_boot: int = 200, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of PS.

    Paired: each resample draws forget samples with replacement and keeps both models'
    outputs on the same samples. PS is a maximum over many thresholds, so resampling
    noise tends to raise the best attack: read the interval as the spread of PS, not as
    an unbiased correction of it.
    """
    u, r = _check_pair(unlearned_forget_logits, retrain_forget_logits)
    n_boot = check_positive("n_boot", n_boot, integer=True)
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ConfigError(f"level must be a number in (0, 1), got {level!r}.")
    values_u, values_r = attack_values(u), attack_values(r)
    rng = np.random.default_rng(seed)
    scores = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, len(u), len(u))
        curves = _all_curves({m: v[idx] for m, v in values_u.items()},
                             {m: v[idx] for m, v in values_r.items()}, grid)
        scores[b] = 1.0 - _worst(curves)["attack_score"]
    tail = (1.0 - level) / 2
    lo, hi = np.quantile(scores, [tail, 1.0 - tail])
    return float(lo), float(hi)
