"""Every metric of one model, from its inference outputs and those of the reference models.

Pure functions of arrays: the Study calls :func:`evaluate` once per model after its single
inference pass, and again (without touching any model) when a reference model changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..forget import ForgetSplit
from .accuracy import (
    avg_gap, class_accuracy, confidence_matrix, gaps, prediction_matrix, unlearning_accuracies,
)
from .mia import (
    auc_ci, entropy_lr_mia, logit_confidence, loss_lr_cv_accuracy, roc, svc_mia_efficacy,
    svc_mia_efficacy_draws,
)
from .privacy import privacy_attack, privacy_score, privacy_score_ci
from .similarity import cka_from_grams

#: Which value of a metric is best (see MetricInfo).
DIRECTIONS = ("higher", "lower", "retrain", "target")


@dataclass(frozen=True)
class MetricInfo:
    """One results-table column, declared once: the widget, the notebook and the docs read it.

    ``direction`` says which value is best: "higher", "lower", "retrain" (closest to the
    Retrain model's value) or "target" (closest to ``target``). ``interval`` names the
    ``ci`` entry of the widget's model data that holds the value's interval, and its kind:
    "ci" (95 % bootstrap interval) or "range" (range over random choices of the method).
    ``default``: shown in the widget's table without asking.
    """

    key: str
    label: str
    description: str
    direction: str
    family: str  # "accuracy", "privacy", "efficiency" or "summary": groups and colours
    unit: str = ""  # "" for fractions in [0, 1]
    target: float | None = None
    interval: tuple[str, str] | None = None  # (ci key, kind)
    default: bool = True

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction of {self.key} is {self.direction!r}; use one of {DIRECTIONS}")
        if (self.direction == "target") != (self.target is not None):
            raise ValueError(f"{self.key}: a target goes with direction 'target', and only there")

    @property
    def meaning(self) -> str:
        """What it measures and which way is better, in one line."""
        best = {"higher": "higher is better", "lower": "lower is better",
                "retrain": "closest to Retrain is best", "target": f"closest to {self.target} is best"}
        return f"{self.description}; {best[self.direction]}"

    def to_json(self) -> dict:
        """The declaration as the widget receives it in ``meta["metrics"]``."""
        return {"key": self.key, "label": self.label, "description": self.description,
                "direction": self.direction, "family": self.family, "unit": self.unit,
                "target": self.target, "default": self.default,
                "interval": None if self.interval is None else dict(zip(("key", "kind"), self.interval))}


#: The scores :func:`evaluate` returns, in results-table order.
SCORE_INFO = (
    MetricInfo("UA", "UA", "accuracy on the forget training samples", "retrain", "accuracy"),
    MetricInfo("RA", "RA", "accuracy on the retain training samples", "retrain", "accuracy"),
    MetricInfo("TUA", "TUA", "test accuracy on the forgotten classes", "retrain", "accuracy"),
    MetricInfo("TRA", "TRA", "test accuracy on the retained classes", "retrain", "accuracy"),
    MetricInfo("PS", "PS", "privacy score, 1 - worst threshold-attack score against Retrain",
               "higher", "privacy", interval=("PS", "ci")),
    MetricInfo("MIA", "MIA", "SalUn/Sparse SVC MIA-efficacy (SalUn's protocol: first |test| retain vs "
               "test samples), share of forget samples judged non-member", "retrain", "privacy",
               interval=("MIA", "range")),
    MetricInfo("MIA-Ent", "MIA-Ent", "Bad-Teacher/SSD entropy MIA, share of forget samples judged member",
               "retrain", "privacy", default=False),
    MetricInfo("MIA-Loss", "MIA-Loss", "SCRUB/NeurIPS'23 loss-attack CV accuracy, forget vs held-out "
               "(0.5 = no signal)", "retrain", "privacy", default=False),
    MetricInfo("AUC", "AUC", "ROC AUC of forget (member) vs held-out samples on logit-scaled confidence",
               "retrain", "privacy", interval=("AUC", "ci"), default=False),
    MetricInfo("U-AUC", "U-AUC", "ROC AUC telling this model from Retrain on the forget samples",
               "target", "privacy", target=0.5, interval=("U-AUC", "ci"), default=False),
    MetricInfo("AvgGap", "AvgGap", "mean |gap| to Retrain over UA, RA, TRA, MIA", "lower", "summary"),
)

#: Run-time efficiency: measured by the Study around the unlearning loop, not by :func:`evaluate`.
RTE_INFO = MetricInfo("RTE", "RTE", "seconds of the unlearning loop (Retrain: its training time)",
                      "lower", "efficiency", unit="s")

#: What else a run cost, measured by the Study like RTE (:mod:`mucomp_widget.cost`).
COST_INFO = (
    MetricInfo("RTE_ratio", "RTE/Retrain", "RTE as a share of the Retrain model's training time "
               "(Retrain trained here; 1 = as slow as retraining; DeepUnlearn reports the "
               "reciprocal)", "lower", "efficiency",
               unit="x", default=False),
    MetricInfo("peak_MB", "Peak MB", "peak memory above the run's start: CUDA allocated memory on a "
               "GPU, the process's resident set (sampled) on a CPU", "lower", "efficiency",
               unit="MB", default=False),
    MetricInfo("images", "Images", "samples pushed through the network or its copies (teachers) "
               "during the run", "lower", "efficiency", unit="images", default=False),
)

#: Every results-table metric column, in table order.
METRIC_INFO = (*SCORE_INFO, RTE_INFO, *COST_INFO)

#: Columns the results gain once a run was audited (:meth:`Study.audit`), NaN for runs not audited.
AUDIT_INFO = (
    MetricInfo("relearn_steps", "Relearn", "fine-tuning steps on a few labelled forget samples until the "
               "forget accuracy reaches the probe's threshold (study.audit('relearn'))", "retrain",
               "robustness", unit="steps", default=False),
)

#: Column -> what it measures and which way is better (the declarations as plain text).
COLUMNS = {m.key: m.meaning for m in (*METRIC_INFO, *AUDIT_INFO)}


#: Random shadow-sample redraws behind the MIA column's range (one SVC fit each).
MIA_DRAWS = 10


@dataclass(frozen=True)
class EvalSetup:
    """What evaluation needs to know about a study besides the model outputs."""

    y_train: np.ndarray
    y_test: np.ndarray
    split: ForgetSplit
    num_classes: int
    shadow_in: np.ndarray  # retain training ids in id order (SalUn's MIA takes the first ones)
    shadow_out: np.ndarray  # test ids of retained classes: the non-members
    grid: object = "reference"
    seed: int = 0
    n_boot: int = 200

    @property
    def held_out(self) -> np.ndarray:
        """Test samples of the forgotten classes (class-wise) or the whole test set."""
        return self.split.forget_test if self.split.classwise else self.split.retain_test


def own_metrics(out, s: EvalSetup) -> tuple[dict, dict]:
    """Metrics that need only this model: accuracies and the MIA families.

    MIA uses SalUn's protocol (no seed: it reproduces SalUn's evaluation code on the same
    model and split); ``details["mia_range"]`` is the range of the value over that
    protocol's own, arbitrary choice of shadow samples and ``MIA_DRAWS`` random ones.
    """
    f = s.split.forget_train
    metrics = unlearning_accuracies(out.train_logits, s.y_train, out.test_logits, s.y_test,
                                    s.split, s.num_classes)
    fl, fy = out.train_logits[f], s.y_train[f]
    ho, hy = out.test_logits[s.held_out], s.y_test[s.held_out]
    si, sy = out.train_logits[s.shadow_in], s.y_train[s.shadow_in]
    so, soy = out.test_logits[s.shadow_out], s.y_test[s.shadow_out]
    mia = svc_mia_efficacy_draws(si, sy, so, soy, fl, fy, draws=MIA_DRAWS, seed=s.seed)
    metrics["MIA"] = mia[0]
    metrics["MIA-Ent"] = entropy_lr_mia(si, so, fl, seed=s.seed)
    details = {
        "class_accuracy": {"train": class_accuracy(out.train_logits, s.y_train, s.num_classes),
                           "test": class_accuracy(out.test_logits, s.y_test, s.num_classes)},
        "prediction_matrix": {"train": prediction_matrix(out.train_logits, s.y_train, s.num_classes),
                              "test": prediction_matrix(out.test_logits, s.y_test, s.num_classes)},
        "confidence_matrix": {"train": confidence_matrix(out.train_logits, s.y_train, s.num_classes),
                              "test": confidence_matrix(out.test_logits, s.y_test, s.num_classes)},
        "mia_range": (float(mia.min()), float(mia.max())),
    }
    if len(ho):
        metrics["MIA-Loss"] = loss_lr_cv_accuracy(fl, fy, ho, hy, seed=s.seed)
        member, nonmember = logit_confidence(fl, fy), logit_confidence(ho, hy)
        details["roc_forget_vs_heldout"] = roc(member, nonmember)
        metrics["AUC"] = details["roc_forget_vs_heldout"]["auc"]
        details["auc_ci"] = auc_ci(member, nonmember, n_boot=s.n_boot, seed=s.seed)
    else:
        metrics["MIA-Loss"] = metrics["AUC"] = float("nan")
    return metrics, details


def evaluate(out, s: EvalSetup, *, original=None, retrain=None, retrain_metrics=None,
             cka_against=None) -> tuple[dict, dict]:
    """All scalar metrics (results-table columns) and the details the views need.

    ``original``/``retrain`` are the reference models' Outputs (None while missing: the
    metrics that need them are NaN). ``retrain_metrics`` are the Retrain model's own
    metrics, for the gaps. ``cka_against`` maps a reference name to its Outputs.
    """
    metrics, details = own_metrics(out, s)
    f = s.split.forget_train
    if retrain is not None:
        u, r = out.train_logits[f], retrain.train_logits[f]
        attack = privacy_attack(u, r, grid=s.grid)
        metrics["PS"] = attack["ps"]
        details["privacy"] = attack
        details["ps_ci"] = privacy_score_ci(u, r, grid=s.grid, n_boot=s.n_boot, seed=s.seed)
        fy = s.y_train[f]
        phi_u, phi_r = logit_confidence(u, fy), logit_confidence(r, fy)
        details["roc_vs_retrain"] = roc(phi_u, phi_r)
        details["u_auc_ci"] = auc_ci(phi_u, phi_r, n_boot=s.n_boot, seed=s.seed)
        metrics["U-AUC"] = details["roc_vs_retrain"]["auc"]
    else:
        metrics["PS"] = metrics["U-AUC"] = float("nan")
    if retrain_metrics is None and retrain is out:
        retrain_metrics = metrics  # the Retrain model against itself: every gap is 0
    if retrain_metrics is not None:
        details["gaps"] = gaps(metrics, retrain_metrics, ("UA", "RA", "TUA", "TRA", "PS", "MIA",
                                                          "MIA-Ent", "MIA-Loss", "AUC"))
        metrics["AvgGap"] = avg_gap(metrics, retrain_metrics)
    else:
        metrics["AvgGap"] = float("nan")
    details["cka"] = {
        name: {f"{subset}/{layer}": cka_from_grams(g, ref.grams[(subset, layer)])
               for (subset, layer), g in out.grams.items() if (subset, layer) in ref.grams}
        for name, ref in (cka_against or {}).items()
    }
    declared = {m.key: float(metrics.pop(m.key)) for m in SCORE_INFO}
    return {**declared, **metrics}, details  # undeclared scores last: tests/test_metric_info.py flags them


def trace_metrics(logits_train, logits_test, s: EvalSetup, ids: dict, retrain_forget_logits) -> dict:
    """UA, RA, TUA, TRA, PS and MIA-efficacy on the small sample sets of an epoch trace.

    ``logits_train``/``logits_test`` hold the rows of the sorted ids ``ids["train"]`` and
    ``ids["test"]``; ``retrain_forget_logits`` the Retrain model's logits of the forget ids
    among ``ids["train"]``. The MIA shadow sets are the retained samples among the ids.
    """
    tr, te = ids["train"], ids["test"]
    sub = ForgetSplit(
        forget_train=np.flatnonzero(np.isin(tr, s.split.forget_train)),
        retain_train=np.flatnonzero(np.isin(tr, s.split.retain_train)),
        forget_test=np.flatnonzero(np.isin(te, s.split.forget_test)),
        retain_test=np.flatnonzero(np.isin(te, s.split.retain_test)),
        forget_classes=s.split.forget_classes,
    )
    y_tr, y_te = s.y_train[tr], s.y_test[te]
    m = unlearning_accuracies(logits_train, y_tr, logits_test, y_te, sub, s.num_classes)
    f = sub.forget_train
    m["PS"] = privacy_score(logits_train[f], retrain_forget_logits, grid=s.grid)
    m["MIA"] = svc_mia_efficacy(logits_train[sub.retain_train], y_tr[sub.retain_train],
                                logits_test[sub.retain_test], y_te[sub.retain_test],
                                logits_train[f], y_tr[f], seed=s.seed)
    return m
