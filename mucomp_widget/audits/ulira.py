"""U-LiRA: can the unlearned model be told apart from retrained ones, example by example?

Hayes, Shumailov, Triantafillou, Khalifa & Papernot, "Inexact Unlearning Needs More
Careful Evaluations to Avoid a False Sense of Privacy", SaTML 2025. It adapts LiRA
(Carlini et al., "Membership Inference Attacks From First Principles", S&P 2022) to
unlearning: for each forget sample, the attacker knows how the sample's logit-scaled
confidence is distributed under models that trained on it and then *unlearned* it with
the method, and under models *retrained* without it, and asks which of the two the
audited model's value comes from.

How it runs here (:func:`audit`, reached through ``study.audit("ulira", run_id, ...)``):

1. Shadows. ``K`` shadow Originals are trained with the study's recipe and architecture,
   each on a random half of the training set, drawn as LiRA's ``train.py`` draws its
   ``keep`` masks: every training sample (forget samples included) is IN for exactly
   ``K/2`` shadows, a uniformly random choice of them. For each shadow a shadow Retrain is
   trained on its half minus the forget samples (same seed, as the study trains its
   Original and Retrain). Shadows do not depend on the method: they are kept in memory
   (``study._audit_cache``) and on disk in the study's model cache, under a key made of
   the dataset fingerprint, architecture, recipe, forget set, ``K``, the seed, the shadow
   index, which model it is and a hash of its training ids, so a second audit (another
   method, another process) only unlearns. In memory, the shadow Originals' weights (on
   the CPU: K copies of the model) and the shadow Retrains' phi values are kept.
2. Unlearning. Each shadow Original unlearns its own forget samples (forget set ∩ its
   half) with its own retain set (its half minus the forget set), through the same path
   as :meth:`Study.unlearn` (hyperparameters resolved with the dataset's defaults, a
   :class:`RunContext`, :func:`invoke`, loaders shuffled by a generator seeded with the
   unlearning seed). The unlearned shadows' values are kept in memory per (method,
   hyperparameters, seed).
3. Feature and Gaussians. phi = log p_y - log sum_{y' != y} p_y' of every forget sample
   (:func:`~mucomp_widget.evaluation.mia.logit_confidence`, stable in the logits). Per
   forget sample x: the "unlearned" values are phi under the K/2 shadows that had x IN
   and unlearned it, the "retrained" values phi under all K shadow Retrains (none saw x).
   See :func:`fit_gaussians` for the fit.
4. Game. The audited run's score s(x) = log N(phi_run(x); unlearned) -
   log N(phi_run(x); retrained) (:func:`log_likelihood_ratio`). Positives: the run's
   scores on the forget samples; negatives: the study's Retrain model's scores on the
   same samples. See :func:`attack` for what is reported.
5. Reference line, "how much the Original leaks": the study's Original in the same game
   for a method that unlearns nothing, i.e. with the shadow Originals themselves as the
   "unlearned" values (no method involved, so it is the same line in every audit of the
   study). The Original scored with the audited method's own Gaussians is reported too
   (``original_same_gaussians``), but it is no reference: where the method's unlearned
   shadows sit close to the retrained ones, the Original's phi lies far outside both
   Gaussians and its score's sign follows the noise in the two centres (measured on
   digits, class 3, K = 4: FT's own AUC 0.69, the Original under FT's Gaussians 0.68,
   the Original's reference line 1.00).

Departures from the papers, and why:

- Shadow sizes. LiRA's targets are trained on a random half like its shadows; here the
  audited run and the study's Retrain come from the full training set while the shadows
  see half of it (training 2K full-size models for a notebook audit would double the
  cost and would not change which samples are IN). The shift affects positives and
  negatives alike, and the negatives are a real Retrain model, so a run that behaves like
  retraining still scores at chance.
- Shared variance in the global mode (LiRA's ``plot.py`` "fixed variance" also uses one
  standard deviation for both Gaussians, but computes it uncentred over the IN values of
  all examples; here it is the pooled spread of every value around its own example's
  centre, IN and OUT together). With one shared width, the ranking of targets, and so the
  ROC, does not depend on its value; only the scale of the scores does.
- Hayes et al. train a fresh target model per trial; here there is one audited run (the
  study's) against one Retrain model, so intervals come from resampling forget samples,
  not from repeated trials. They do not contain the model-level noise of the two
  models' seeds, which shifts phi on many forget samples at once (on a forgotten class,
  all of them): on digits, class 3, K = 4, Retrain models of 8 seeds scored against each
  other gave AUCs of 0.45-0.56 (0.33-0.67 with K = 8's Gaussians), while each pair's
  sample-level interval was a few hundredths wide. Read an AUC within about 0.1 of 0.5
  on one pair of models as chance; several runs with other seeds tell more.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import rankdata

from .. import __version__
from ..errors import ConfigError, MucompError
from ..evaluation.inference import logits_of
from ..evaluation.mia import logit_confidence, roc
from ..loaders import TensorLoader
from ..methods.registry import RunCancelled, RunContext, invoke, resolve_hyperparameters, spec_for
from ..progress import progress_bar
from ..store import ModelCache
from ..training import cache_key, prepare_model, seeded, train_model

__all__ = ["ULiraResult", "ULiraAttack", "audit", "shadow_membership", "fit_gaussians",
           "log_likelihood_ratio", "attack", "logit_confidence"]

#: Target false-positive rates at which TPR is reported (where the negatives support them).
TARGET_FPRS = (0.001, 0.01, 0.1)
#: Below this many shadows, the Gaussians share one global width (see fit_gaussians).
PER_EXAMPLE_MIN_SHADOWS = 64
#: Per-example widths are floored at this share of the pooled width.
STD_FLOOR = 0.1
_VARIANCES = ("auto", "global", "per_example")
_LOG_2PI = math.log(2 * math.pi)


# ---------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ULiraAttack:
    """One model's U-LiRA game: its scores on the forget samples (positives) against the
    study's Retrain model's (negatives), both from the same two Gaussians per sample.

    ``scores[i]`` / ``retrain_scores[i]``: log-likelihood ratio (unlearned vs retrained) of
    forget sample i under this model / the Retrain model; higher means "looks like a
    shadow that trained on the sample and unlearned it". ``accuracy``: balanced accuracy
    of the best threshold, max over thresholds of (1 + TPR - FPR) / 2, as LiRA's
    ``plot.py`` (never below 0.5: the attack predicts "unlearned" above the threshold).
    ``accuracy_ci`` / ``auc_ci``: paired percentile bootstrap over forget samples (a
    resample keeps both models' scores of the same samples), seeded; the best-threshold
    accuracy is a maximum, so its interval shows spread and lies above its null value.
    ``accuracy_chance``: the ``level`` quantile of the best accuracy when the two scores of
    each sample are swapped at random (two models whose scores are exchangeable sample by
    sample): an accuracy above it tells the model apart from retraining at that level, as
    far as the sampling of forget samples goes (not the models' seeds: module docstring).
    ``auc_chance``: the central ``level`` interval of the AUC under the same swaps;
    ``p_value``: two-sided, share of swaps whose AUC is at least as far from 0.5 (with the
    +1 correction). ``fpr``/``tpr``: the ROC, every threshold. ``tpr_at[t]``: TPR at FPR
    ``t`` (0.1 %, 1 %, 10 %), the best threshold with at most floor(t n) false positives;
    None when t < 1/n (n negatives cannot show a smaller non-zero FPR), with the reason
    in ``tpr_at_reason``. ``leaks[i]``: ``scores[i] > threshold``, the threshold that at
    most floor(``threshold_fpr`` n) of the n Retrain scores exceed (``threshold_fpr`` is
    1 %, or 5 % when n < 100, where 1 % would admit no false positive at all).
    """

    scores: np.ndarray
    retrain_scores: np.ndarray
    accuracy: float
    accuracy_ci: tuple
    accuracy_chance: float
    auc: float
    auc_ci: tuple
    auc_chance: tuple
    p_value: float
    fpr: np.ndarray
    tpr: np.ndarray
    tpr_at: dict
    tpr_at_reason: dict
    threshold: float
    threshold_fpr: float
    leaks: np.ndarray

    @property
    def leak_fraction(self) -> float:
        """Share of forget samples flagged as leaking."""
        return float(self.leaks.mean()) if len(self.leaks) else math.nan


@dataclass
class ULiraResult:
    """What ``study.audit("ulira", run_id, ...)`` found (also kept in ``study._audits``).

    ``run``: the audited run's id; ``method``, ``hyperparameters``, ``unlearn_seed``: how
    the shadows were unlearned; ``shadows`` (K) and ``seed``: the shadow set;
    ``variance``: "global" or "per_example" (see :func:`fit_gaussians`).
    ``sample_ids``: forget training ids, one row per sample in every per-sample array.
    ``target``: the run's game (:class:`ULiraAttack`); ``original``: the reference line,
    the study's Original in the game of a method that unlearns nothing (the shadow
    Originals as the "unlearned" values), the same in every audit of the study;
    ``original_same_gaussians``: the Original scored with this method's Gaussians (not a
    reference: see the module docstring).
    ``in_mask[k, i]``: shadow k trained on forget sample i; ``phi_unlearned[k, i]``: phi
    under shadow k after unlearning (NaN where the sample was not IN);
    ``phi_retrained[k, i]``: phi under shadow k's Retrain; ``phi_shadow_original[k, i]``:
    phi under shadow Original k (NaN where OUT); ``phi_target``,
    ``phi_retrain``, ``phi_original``: phi under the run, the study's Retrain, the
    study's Original. ``mu_*``/``sd_*``: the fitted Gaussians per sample.
    ``trained_models``: shadow models trained by this call (0 when all came from a cache);
    ``shadow_seconds`` / ``unlearn_seconds``: time spent getting the shadows / unlearning
    them in this call (0 for what was cached).
    The run's numbers are also reachable directly: ``result.auc``, ``result.accuracy``,
    ``result.scores``, ``result.leaks``, ...
    """

    run: str
    method: str
    hyperparameters: dict
    unlearn_seed: int
    shadows: int
    seed: int
    variance: str
    sample_ids: np.ndarray
    target: ULiraAttack
    original: ULiraAttack
    original_same_gaussians: ULiraAttack
    in_mask: np.ndarray
    phi_unlearned: np.ndarray
    phi_retrained: np.ndarray
    phi_shadow_original: np.ndarray
    phi_target: np.ndarray
    phi_retrain: np.ndarray
    phi_original: np.ndarray
    mu_unlearned: np.ndarray
    sd_unlearned: np.ndarray
    mu_retrained: np.ndarray
    sd_retrained: np.ndarray
    n_boot: int
    level: float
    trained_models: int = 0
    shadow_seconds: float = 0.0
    unlearn_seconds: float = 0.0

    # the run's game, reachable without ``.target``
    scores = property(lambda self: self.target.scores)
    leaks = property(lambda self: self.target.leaks)
    accuracy = property(lambda self: self.target.accuracy)
    accuracy_ci = property(lambda self: self.target.accuracy_ci)
    accuracy_chance = property(lambda self: self.target.accuracy_chance)
    auc = property(lambda self: self.target.auc)
    auc_ci = property(lambda self: self.target.auc_ci)
    p_value = property(lambda self: self.target.p_value)
    fpr = property(lambda self: self.target.fpr)
    tpr = property(lambda self: self.target.tpr)
    tpr_at = property(lambda self: self.target.tpr_at)

    def summary(self) -> dict:
        """The headline numbers of the run and of the Original, JSON-ready."""
        def one(a: ULiraAttack) -> dict:
            return {"accuracy": a.accuracy, "accuracy_ci": list(a.accuracy_ci),
                    "accuracy_chance": a.accuracy_chance, "auc": a.auc, "auc_ci": list(a.auc_ci),
                    "p_value": a.p_value, "tpr_at": {str(k): v for k, v in a.tpr_at.items()},
                    "leak_fraction": a.leak_fraction}
        return {"run": self.run, "method": self.method, "shadows": self.shadows, "seed": self.seed,
                "variance": self.variance, "n_forget": int(len(self.sample_ids)),
                "target": one(self.target), "original": one(self.original)}

    def to_frame(self):
        """One row per forget sample: id, phi under the run, its score, the leak flag and
        the two fitted Gaussians (pandas DataFrame)."""
        import pandas as pd

        return pd.DataFrame({
            "id": self.sample_ids, "phi": self.phi_target, "score": self.target.scores,
            "leaks": self.target.leaks, "retrain_score": self.target.retrain_scores,
            "original_score": self.original.scores, "mu_unlearned": self.mu_unlearned,
            "sd_unlearned": self.sd_unlearned, "mu_retrained": self.mu_retrained,
            "sd_retrained": self.sd_retrained,
        })

    def __repr__(self) -> str:
        t, o = self.target, self.original
        return (f"<ULiraResult run={self.run!r} method={self.method!r} K={self.shadows} "
                f"acc={t.accuracy:.3f} [{t.accuracy_ci[0]:.3f}, {t.accuracy_ci[1]:.3f}] "
                f"(chance <= {t.accuracy_chance:.3f}) auc={t.auc:.3f} "
                f"[{t.auc_ci[0]:.3f}, {t.auc_ci[1]:.3f}] leaks={int(t.leaks.sum())}/{len(t.leaks)}; "
                f"original auc={o.auc:.3f}>")


# ---------------------------------------------------------------------------- pure pieces


def shadow_membership(n_train: int, shadows: int, seed: int) -> np.ndarray:
    """``(shadows, n_train)`` bool: shadow k trains on sample j.

    LiRA's ``keep`` draw: per sample, a uniformly random set of exactly ``shadows / 2``
    shadows holds it, so every sample is IN for exactly half of them and each shadow sees
    about half of the data.
    """
    return _rng(seed, 0x5AD0).random((shadows, n_train)).argsort(axis=0) < shadows // 2


def _rng(*parts) -> np.random.Generator:
    """A generator seeded with integers (negative seeds, which torch accepts, wrap around)."""
    return np.random.default_rng([int(p) % 2 ** 64 for p in parts])


def fit_gaussians(phi_unlearned, phi_retrained, variance: str = "auto"):
    """Per-sample Gaussians of phi -> ``(mu_u, sd_u, mu_r, sd_r, mode)``.

    ``phi_unlearned`` is ``(K, n)`` with NaN where shadow k did not train on sample i;
    ``phi_retrained`` is ``(K', n)``. Centres are per-sample medians (as LiRA's
    ``plot.py``: robust to one shadow the method threw far off). Widths:

    - ``"global"``: one width shared by both Gaussians of every sample, the pooled spread
      sqrt(mean(residual^2)) of every value around its own sample's centre, unlearned and
      retrained values together. LiRA's fixed-variance variant, which Carlini et al.
      found stronger with fewer than 64 shadows: with K/2 unlearned values per sample (8
      at K = 16) a per-sample width is mostly noise, while the pooled one uses K/2 + K
      values times n samples. With one shared width the score is a monotone function of
      phi per sample (its direction set by the two centres), so a model far outside both
      distributions (the Original against a method that forgets) is scored by which
      centre it lies beyond, not by which Gaussian happens to be wider.
    - ``"per_example"``: each sample's own standard deviation per distribution (LiRA
      online), floored at ``STD_FLOOR`` (10 %) of the pooled width so that a few shadows
      that agree by chance cannot make a zero-width Gaussian.
    - ``"auto"`` (default): "global" below ``PER_EXAMPLE_MIN_SHADOWS`` (64) shadows,
      "per_example" from there.

    The pooled width is floored at 1e-6 (all shadows giving one value).
    """
    u = np.asarray(phi_unlearned, dtype=np.float64)
    r = np.asarray(phi_retrained, dtype=np.float64)
    if u.ndim != 2 or r.ndim != 2 or u.shape[1] != r.shape[1]:
        raise ConfigError(f"phi_unlearned {u.shape} and phi_retrained {r.shape} must be 2-D "
                          "(models x samples) with the same number of samples.")
    seen = np.isfinite(u)
    if not seen.any(axis=0).all() or not np.isfinite(r).all() or len(r) < 1:
        raise ConfigError("every sample needs at least one unlearned value and finite "
                          "retrained values.")
    if variance not in _VARIANCES:
        raise ConfigError(f"variance must be one of {list(_VARIANCES)}, got {variance!r}.")
    mode = variance
    if mode == "auto":
        mode = "global" if len(r) < PER_EXAMPLE_MIN_SHADOWS else "per_example"
    mu_u = np.array([np.median(u[seen[:, i], i]) for i in range(u.shape[1])])
    mu_r = np.median(r, axis=0)
    resid = np.concatenate([(u - mu_u)[seen], (r - mu_r).ravel()])
    pooled = max(float(np.sqrt(np.mean(resid ** 2))), 1e-6)
    if mode == "global":
        sd_u = np.full(u.shape[1], pooled)
        sd_r = np.full(u.shape[1], pooled)
    else:
        dev_u = np.where(seen, u - np.where(seen, u, 0).sum(0) / seen.sum(0), 0.0)
        sd_u = np.sqrt((dev_u ** 2).sum(0) / seen.sum(0))
        sd_r = r.std(axis=0)
        sd_u = np.maximum(sd_u, STD_FLOOR * pooled)
        sd_r = np.maximum(sd_r, STD_FLOOR * pooled)
    return mu_u, sd_u, mu_r, sd_r, mode


def log_likelihood_ratio(phi, mu_u, sd_u, mu_r, sd_r) -> np.ndarray:
    """log N(phi; mu_u, sd_u) - log N(phi; mu_r, sd_r), elementwise (float64)."""
    phi, mu_u, sd_u, mu_r, sd_r = (np.asarray(a, dtype=np.float64) for a in (phi, mu_u, sd_u, mu_r, sd_r))
    log_u = -0.5 * ((phi - mu_u) / sd_u) ** 2 - np.log(sd_u)
    log_r = -0.5 * ((phi - mu_r) / sd_r) ** 2 - np.log(sd_r)
    return log_u - log_r


def _rowwise(fn, pos: np.ndarray, neg: np.ndarray, cells: int = 2_000_000) -> np.ndarray:
    """``fn`` over blocks of rows, so that a block holds at most about ``cells`` values."""
    step = max(1, cells // (pos.shape[1] + neg.shape[1]))
    return np.concatenate([fn(pos[i:i + step], neg[i:i + step]) for i in range(0, len(pos), step)])


def _best_accuracy(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Best-threshold balanced accuracy of each row pair (``(B, n)`` and ``(B, m)``)."""
    if len(pos) > 1 and len(pos) * (pos.shape[1] + neg.shape[1]) > 2_000_000:
        return _rowwise(_best_accuracy, pos, neg)
    n, m = pos.shape[1], neg.shape[1]
    s = np.concatenate([pos, neg], axis=1)
    lab = np.concatenate([np.ones_like(pos), np.zeros_like(neg)], axis=1)
    order = np.argsort(-s, axis=1, kind="stable")
    s_sorted = np.take_along_axis(s, order, axis=1)
    l_sorted = np.take_along_axis(lab, order, axis=1)
    tpr = np.cumsum(l_sorted, axis=1) / n
    fpr = np.cumsum(1 - l_sorted, axis=1) / m
    cut = np.ones_like(s, dtype=bool)  # a threshold can fall only between distinct values
    cut[:, :-1] = s_sorted[:, :-1] != s_sorted[:, 1:]
    acc = np.where(cut, (1 + tpr - fpr) / 2, 0.5)
    return np.maximum(acc.max(axis=1), 0.5)


def _auc(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """ROC AUC of each row pair: the Mann-Whitney U over average ranks (ties count 1/2)."""
    if len(pos) > 1 and len(pos) * (pos.shape[1] + neg.shape[1]) > 2_000_000:
        return _rowwise(_auc, pos, neg)
    n, m = pos.shape[1], neg.shape[1]
    ranks = rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    return (ranks[:, :n].sum(axis=1) - n * (n + 1) / 2) / (n * m)


def attack(scores, retrain_scores, *, n_boot: int = 1000, level: float = 0.95, seed: int = 0,
           fprs=TARGET_FPRS) -> ULiraAttack:
    """The U-LiRA game of one model: its per-sample scores (positives) against the
    Retrain model's scores on the same samples (negatives) -> :class:`ULiraAttack`.

    Intervals: paired percentile bootstrap over samples (``n_boot`` resamples); the
    chance level: ``n_boot`` random swaps of each sample's two scores; both drawn from one
    generator seeded with ``seed``.
    """
    pos = np.asarray(scores, dtype=np.float64)
    neg = np.asarray(retrain_scores, dtype=np.float64)
    if pos.ndim != 1 or pos.shape != neg.shape or len(pos) == 0:
        raise ConfigError(f"scores {pos.shape} and retrain_scores {neg.shape} must be 1-D, "
                          "non-empty and of one length: entry i of both is forget sample i.")
    if not (np.isfinite(pos).all() and np.isfinite(neg).all()):
        raise ConfigError("scores must be finite; a model gave non-finite logits.")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ConfigError(f"n_boot must be an integer >= 1, got {n_boot!r}.")
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ConfigError(f"level must be a number in (0, 1), got {level!r}.")
    n = len(pos)
    curve = roc(pos, neg, fprs)
    acc = float(_best_accuracy(pos[None], neg[None])[0])
    auc = float(_auc(pos[None], neg[None])[0])
    rng = _rng(seed)
    idx = rng.integers(0, n, size=(int(n_boot), n))
    boot_acc = _best_accuracy(pos[idx], neg[idx])
    boot_auc = _auc(pos[idx], neg[idx])
    swap = rng.random((int(n_boot), n)) < 0.5
    null_pos, null_neg = np.where(swap, neg, pos), np.where(swap, pos, neg)
    null_acc = _best_accuracy(null_pos, null_neg)
    null_auc = _auc(null_pos, null_neg)
    tail = (1 - level) / 2
    alpha = 0.01 if n >= 100 else 0.05
    k = int(math.floor(alpha * n + 1e-9))
    threshold = float(np.sort(neg)[::-1][k])
    return ULiraAttack(
        scores=pos, retrain_scores=neg, accuracy=acc,
        accuracy_ci=tuple(float(v) for v in np.quantile(boot_acc, [tail, 1 - tail])),
        accuracy_chance=float(np.quantile(null_acc, level)),
        auc=auc, auc_ci=tuple(float(v) for v in np.quantile(boot_auc, [tail, 1 - tail])),
        auc_chance=tuple(float(v) for v in np.quantile(null_auc, [tail, 1 - tail])),
        p_value=float((1 + np.sum(np.abs(null_auc - 0.5) >= abs(auc - 0.5) - 1e-12)) / (1 + n_boot)),
        fpr=curve["fpr"], tpr=curve["tpr"],
        tpr_at={t: (None if math.isnan(v) else v) for t, v in curve["tpr_at"].items()},
        tpr_at_reason=dict(curve["tpr_at_reason"]),
        threshold=threshold, threshold_fpr=alpha, leaks=pos > threshold,
    )


# ---------------------------------------------------------------------------- shadows


class _Shadows:
    """The K shadow Originals (weights, CPU) and their Retrains' phi on the forget set."""

    def __init__(self, mask: np.ndarray, seed: int, seeds: list[int]):
        self.mask = mask
        self.seed = seed
        self.seeds = seeds
        self.last_loss = math.nan
        self.originals: dict[int, dict] = {}
        self.original_phi: dict[int, np.ndarray] = {}
        self.retrain_phi: dict[int, np.ndarray] = {}

    def complete(self) -> bool:
        return len(self.originals) == len(self.seeds) and len(self.retrain_phi) == len(self.seeds)


def _check_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be an integer, got {value!r}.")
    return int(value)


def _shadow_seed(seed: int, index: int) -> int:
    return int(_rng(seed, 0x5AD1, index).integers(2 ** 31 - 1))


def _key_base(study) -> dict:
    """What every shadow's cache key shares: the study's data, model and training."""
    if study._arch_sig is None:
        study._arch_sig = study.arch.signature()
    return {"dataset": study.dataset.fingerprint(), "arch": study._arch_sig,
            "recipe": study.recipe.to_dict(), "forget": study.forget.key()}


def _disk_key(base: dict, kind: str, shadows: int, seed: int, index: int, ids: np.ndarray) -> str:
    """The model-cache key of one shadow model (``kind``: "original" or "retrain")."""
    digest = hashlib.blake2b(np.ascontiguousarray(ids, dtype=np.int64).tobytes(), digest_size=10)
    return cache_key(kind=f"ulira-shadow-{kind}", **base, shadows=shadows, seed=seed, index=index,
                     ids=digest.hexdigest())


def _phi(study, model, ids) -> np.ndarray:
    logits = logits_of(model, study._device_data(), "train", ids)
    return logit_confidence(logits, study.dataset.y_train.numpy()[ids])


def _load(study, sd):
    net = study.arch.build()
    try:
        net.load_state_dict(sd)
    except (RuntimeError, KeyError):  # an edited entry that no longer fits: train again
        return None
    return prepare_model(net, study.device).eval()


def _train(study, ids: np.ndarray, seed: int, label: str):
    """Train one shadow model by the study's recipe on training ids ``ids``."""
    loader = TensorLoader(study._device_data(), ids, study.recipe.batch_size, shuffle=True,
                          augment=study.dataset.augment if study.recipe.augment else None,
                          generator=torch.Generator().manual_seed(seed))

    def report(epoch, loss):
        if study._stop.is_set():
            raise RunCancelled(f"U-LiRA was cancelled while training {label}; the shadow "
                               "models finished before are kept.")

    start = time.perf_counter()
    with seeded(seed, study.device):
        net = prepare_model(study.arch.build(), study.device)
        losses = train_model(net, loader, study.recipe, study.device, report)
    meta = {"train_time": time.perf_counter() - start, "losses": losses,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "mucomp_version": __version__,
            "n_train": int(len(ids))}
    return net.eval(), meta


def _ensure_shadows(study, shadows: int, seed: int, run_label: str) -> tuple[_Shadows, int]:
    """The study's shadow set for (K, seed): from memory, else the disk cache, else trained.

    Returns it and the number of models trained. Each shadow is stored (memory and disk)
    as soon as it is done, so a cancel keeps every finished one.
    """
    key = ("ulira", "shadows", shadows, seed)
    sh = study._audit_cache.get(key)
    if sh is None:
        mask = shadow_membership(study.dataset.n_train, shadows, seed)
        sh = study._audit_cache[key] = _Shadows(mask, seed, [_shadow_seed(seed, i) for i in range(shadows)])
    if sh.complete():
        return sh, 0
    forget = study.split.forget_train
    is_forget = np.zeros(study.dataset.n_train, dtype=bool)
    is_forget[forget] = True
    cache = ModelCache(study.workdir)
    base = _key_base(study)
    bar = progress_bar("U-LiRA shadows", shadows) if study.progress else None
    trained = 0
    try:
        for i in range(shadows):
            if bar is not None:
                bar.update(i, sh.last_loss)
            if i in sh.originals and i in sh.retrain_phi:
                continue
            if study._stop.is_set():
                raise RunCancelled("U-LiRA was cancelled; the shadow models finished before are kept.")
            study._emit(event="stage", run=run_label, stage=f"ulira shadows {i + 1}/{shadows}")
            for kind in ("original", "retrain"):
                if (kind == "original" and i in sh.originals) or (kind == "retrain" and i in sh.retrain_phi):
                    continue
                ids = np.flatnonzero(sh.mask[i] if kind == "original" else sh.mask[i] & ~is_forget)
                dkey = _disk_key(base, kind, shadows, seed, i, ids)
                hit = cache.get(dkey)
                net = _load(study, hit[0]) if hit is not None else None
                if net is None:
                    net, meta = _train(study, ids, sh.seeds[i], f"shadow {kind} {i + 1}/{shadows}")
                    trained += 1
                    cache.put(dkey, net.state_dict(), meta)
                else:
                    meta = hit[1]
                if meta["losses"]:
                    sh.last_loss = float(meta["losses"][-1])
                if kind == "original":
                    sh.originals[i] = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
                    sh.original_phi[i] = _phi(study, net, forget)
                else:
                    sh.retrain_phi[i] = _phi(study, net, forget)
        if bar is not None:
            bar.update(shadows, sh.last_loss)
    finally:
        if bar is not None:
            bar.close()
    return sh, trained


# ---------------------------------------------------------------------------- unlearning


def _resolve_method(study, run, method, hp: dict):
    """(spec, resolved hyperparameters, unlearning seed) for the audited run."""
    if method is None:
        if run.type != "Unlearned" or not run.method:
            raise ConfigError(
                f"run {run.id!r} is a{'n' if run.type[0] in 'AEIOU' else ''} {run.type} model, made "
                "by no unlearning method, so U-LiRA cannot know how to unlearn its shadows; pass "
                "method='name' (and its hyperparameters) to audit it as if that method made it."
            )
        try:
            spec = spec_for(run.method)
        except MucompError:
            raise ConfigError(
                f"run {run.id!r} was made by method {run.method!r}, which is not registered now; "
                "register it again or pass method=<the function>."
            ) from None
        user = {**run.hyperparameters, **hp}
        useed = run.seed if run.seed is not None else study.seed
    else:
        try:
            spec = spec_for(method)
        except MucompError as exc:
            raise ConfigError(str(exc)) from None
        if run.type == "Unlearned" and run.method == spec.name and not hp:
            user, useed = dict(run.hyperparameters), (run.seed if run.seed is not None else study.seed)
        else:
            user, useed = dict(hp), study.seed
    resolved = resolve_hyperparameters(spec, study.dataset.method_defaults, user)
    return spec, resolved, int(useed)


def _unlearn_shadows(study, sh: _Shadows, spec, hp: dict, useed: int, run_label: str) -> np.ndarray:
    """phi of the forget samples under each shadow after unlearning, ``(K, n_forget)``,
    NaN where the shadow never trained on the sample. Rows are kept in memory per
    (method, hyperparameters, seed) as they finish."""
    forget = study.split.forget_train
    shadows = len(sh.seeds)
    is_forget = np.zeros(study.dataset.n_train, dtype=bool)
    is_forget[forget] = True
    key = ("ulira", "unlearned", shadows, sh.seed, spec.name, id(spec.fn), json.dumps(hp, sort_keys=True, default=str), useed)
    rows = study._audit_cache.setdefault(key, {})
    data = study._device_data()
    bar = progress_bar(f"U-LiRA {spec.name}", shadows) if study.progress else None
    last_loss = math.nan
    try:
        for i in range(shadows):
            if bar is not None:
                bar.update(i, last_loss)
            if i in rows:
                continue
            if study._stop.is_set():
                raise RunCancelled("U-LiRA was cancelled; the shadow models are kept.")
            study._emit(event="stage", run=run_label, stage=f"ulira {spec.name} {i + 1}/{shadows}")
            row = np.full(len(forget), np.nan)
            own = sh.mask[i, forget]
            if own.any():
                model = _load(study, sh.originals[i])
                gen = torch.Generator().manual_seed(useed)
                forget_loader = TensorLoader(data, forget[own], hp["batch_size"], shuffle=True, generator=gen)
                retain_loader = TensorLoader(data, np.flatnonzero(sh.mask[i] & ~is_forget),
                                             hp["batch_size"], shuffle=True, generator=gen)
                ctx = RunContext(device=study.device, seed=useed, num_classes=study.dataset.num_classes,
                                 forget_classes=study.split.forget_classes, epochs=hp["epochs"],
                                 should_stop=study._stop.is_set, method=spec.name)
                with seeded(useed, study.device):
                    result = invoke(spec, model, forget_loader, retain_loader, hp, ctx)
                model = prepare_model(result.model, study.device).eval()
                last_loss = result.losses[-1] if result.losses else last_loss
                row[own] = _phi(study, model, forget[own])
            rows[i] = row
        if bar is not None:
            bar.update(shadows, last_loss)
    finally:
        if bar is not None:
            bar.close()
    return np.stack([rows[i] for i in range(shadows)])


# ---------------------------------------------------------------------------- entry point


def audit(study, run_id=None, *, shadows: int = 16, seed=None, method=None,
          variance: str = "auto", n_boot: int = 1000, level: float = 0.95, **hp) -> ULiraResult:
    """U-LiRA audit of run ``run_id`` -> :class:`ULiraResult` (see the module docstring).

    ``shadows``: K, an even number >= 4 (each forget sample is then IN for K/2 >= 2
    shadows). ``seed``: seeds the shadow set and the bootstrap (default: the study's).
    ``method`` and ``**hp``: how the shadows unlearn. Default for an Unlearned run of a
    registered method: the run's own method, hyperparameters and seed (``**hp`` overrides
    some of them). Original, Retrain and Uploaded runs need ``method=``; their shadows then
    unlearn with the method's defaults, the dataset's tuned values and ``**hp``, seeded
    with the study's seed. With ``run_id=None`` and ``method=``, the study first unlearns
    its Original with that method (a new run, as ``study.unlearn(method, **hp)``) and
    audits it. ``variance``: "auto", "global" or "per_example" (:func:`fit_gaussians`).
    ``n_boot``, ``level``: bootstrap resamples and interval level (:func:`attack`).

    Shadows are trained once per (study data, architecture, recipe, forget set, K, seed)
    and then come from memory or the study's model cache (``workdir``); a later audit of
    another method only unlearns them. :meth:`Study.cancel` stops it between epochs
    (:class:`RunCancelled`), keeping every shadow finished so far.
    """
    if isinstance(shadows, bool) or not isinstance(shadows, (int, np.integer)) or shadows < 4 or shadows % 2:
        raise ConfigError(f"shadows must be an even integer >= 4 (each forget sample is IN for "
                          f"half of them), got {shadows!r}.")
    shadows = int(shadows)
    seed = study.seed if seed is None else _check_int("seed", seed)
    if variance not in _VARIANCES:
        raise ConfigError(f"variance must be one of {list(_VARIANCES)}, got {variance!r}.")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ConfigError(f"n_boot must be an integer >= 1, got {n_boot!r}.")
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ConfigError(f"level must be a number in (0, 1), got {level!r}.")
    if run_id is None:
        if method is None:
            raise ConfigError("give the run to audit (study.audit('ulira', run_id)) or a method to "
                              "run and audit (study.audit('ulira', method='ga')).")
        run = study.unlearn(method, **hp)
        method, hp = None, {}
    else:
        if run_id in ("original", "retrain"):
            getattr(study, run_id)  # trained or loaded on first use
        run = study[run_id]
    spec, resolved, useed = _resolve_method(study, run, method, hp)
    lock = study._audit_cache.setdefault(("ulira", "lock"), threading.RLock())
    with lock:
        study._stop.clear()
        forget = study.split.forget_train
        labels = study.dataset.y_train.numpy()[forget]
        t0 = time.perf_counter()
        sh, trained = _ensure_shadows(study, shadows, seed, run.id)
        t1 = time.perf_counter()
        phi_u = _unlearn_shadows(study, sh, spec, resolved, useed, run.id)
        t2 = time.perf_counter()
        study._emit(event="stage", run=run.id, stage="ulira scoring")
        phi_r = np.stack([sh.retrain_phi[i] for i in range(shadows)])
        mu_u, sd_u, mu_r, sd_r, mode = fit_gaussians(phi_u, phi_r, variance)

        def phi_of(r):
            return logit_confidence(r.outputs.train_logits[forget], labels)

        phi_t, phi_rt, phi_o = phi_of(run), phi_of(study.retrain), phi_of(study.original)
        in_mask = sh.mask[:, forget]
        phi_so = np.where(in_mask, np.stack([sh.original_phi[i] for i in range(shadows)]), np.nan)
        ref = fit_gaussians(phi_so, phi_r, variance)[:4]

        def game(phi, gaussians):
            return attack(log_likelihood_ratio(phi, *gaussians), log_likelihood_ratio(phi_rt, *gaussians),
                          n_boot=n_boot, level=level, seed=seed)

        own = (mu_u, sd_u, mu_r, sd_r)
        games = [game(phi_t, own), game(phi_o, ref), game(phi_o, own)]
        result = ULiraResult(
            run=run.id, method=spec.name, hyperparameters=dict(resolved), unlearn_seed=useed,
            shadows=shadows, seed=seed, variance=mode, sample_ids=forget.copy(),
            target=games[0], original=games[1], original_same_gaussians=games[2],
            in_mask=in_mask, phi_unlearned=phi_u, phi_retrained=phi_r, phi_shadow_original=phi_so,
            phi_target=phi_t, phi_retrain=phi_rt,
            phi_original=phi_o, mu_unlearned=mu_u, sd_unlearned=sd_u, mu_retrained=mu_r,
            sd_retrained=sd_r, n_boot=int(n_boot), level=float(level), trained_models=trained,
            shadow_seconds=t1 - t0, unlearn_seconds=t2 - t1,
        )
        study._audits[("ulira", run.id)] = result
        study._changed([run.id])  # views (the Comparator) resend the run with its audit
    return result
