"""Accuracy metrics of class-wise and sample-wise unlearning (pure numpy).

UA, RA, TUA and TRA as the Machine Unlearning Comparator defines them (Lee et al.,
TVCG 2026): raw accuracies, where lower UA/TUA means more forgetting and the target is
the Retrain model's value, not 0.
"""

from __future__ import annotations

import numpy as np

from .mia import softmax


def class_accuracy(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Accuracy per true class; NaN for a class without samples."""
    pred = np.asarray(logits).argmax(axis=1)
    labels = np.asarray(labels)
    correct = np.bincount(labels, weights=(pred == labels).astype(float), minlength=num_classes)
    total = np.bincount(labels, minlength=num_classes).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, correct / np.maximum(total, 1), np.nan)


def _acc(logits: np.ndarray, labels: np.ndarray, idx: np.ndarray) -> float:
    if len(idx) == 0:
        return float("nan")
    return float((np.asarray(logits)[idx].argmax(axis=1) == np.asarray(labels)[idx]).mean())


def unlearning_accuracies(train_logits, y_train, test_logits, y_test, split, num_classes) -> dict:
    """UA, RA, TUA and TRA of one model.

    Class-wise forgetting (``split.forget_classes`` set): UA/TUA are the mean train/test
    accuracy over the forgotten classes and RA/TRA the macro mean over the retained
    classes, as in the reference system. Sample-wise forgetting: UA is the accuracy on the
    forget samples, RA on the retain samples, TRA on the whole test set; TUA is undefined
    (NaN) because no test sample is forgotten.
    """
    if split.classwise:
        tr = class_accuracy(train_logits, y_train, num_classes)
        te = class_accuracy(test_logits, y_test, num_classes)
        forget = list(split.forget_classes)
        retain = [c for c in range(num_classes) if c not in split.forget_classes]
        return {
            "UA": float(np.nanmean(tr[forget])),
            "RA": float(np.nanmean(tr[retain])),
            "TUA": float(np.nanmean(te[forget])) if np.isfinite(te[forget]).any() else float("nan"),
            "TRA": float(np.nanmean(te[retain])) if np.isfinite(te[retain]).any() else float("nan"),
        }
    return {
        "UA": _acc(train_logits, y_train, split.forget_train),
        "RA": _acc(train_logits, y_train, split.retain_train),
        "TUA": float("nan"),
        "TRA": _acc(test_logits, y_test, split.retain_test),
    }


def prediction_matrix(logits, labels, num_classes: int) -> np.ndarray:
    """Share of each true class (rows) predicted as each class (columns).

    The reference system's ``label_dist``; rows of classes without samples are NaN.
    """
    pred = np.asarray(logits).argmax(axis=1)
    labels = np.asarray(labels)
    counts = np.zeros((num_classes, num_classes))
    np.add.at(counts, (labels, pred), 1.0)
    total = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        return np.where(total > 0, counts / np.maximum(total, 1), np.nan)


def confidence_matrix(logits, labels, num_classes: int) -> np.ndarray:
    """Mean softmax probability of each class (columns) over the samples of each true class.

    The reference system's ``conf_dist`` (temperature 1); rows without samples are NaN.
    """
    p = softmax(logits)
    labels = np.asarray(labels)
    sums = np.zeros((num_classes, num_classes))
    np.add.at(sums, labels, p)
    total = np.bincount(labels, minlength=num_classes)[:, None].astype(float)
    with np.errstate(invalid="ignore"):
        return np.where(total > 0, sums / np.maximum(total, 1), np.nan)


def gaps(metrics: dict, retrain: dict, keys) -> dict:
    """Absolute gap of each metric to the Retrain model's value (NaN where either is missing)."""
    out = {}
    for k in keys:
        a, b = metrics.get(k, np.nan), retrain.get(k, np.nan)
        out[k] = float(abs(a - b)) if a is not None and b is not None else float("nan")
    return out


def avg_gap(metrics: dict, retrain: dict, keys=("UA", "RA", "TRA", "MIA")) -> float:
    """The field's Avg. Gap: mean absolute gap to Retrain over UA, RA, TA and MIA-efficacy.

    Jia et al. (NeurIPS 2023, "Disparity Ave.") and Fan et al. (SalUn, ICLR 2024). TA is
    TRA here (test accuracy on the retained classes, the papers' class-wise convention).
    Lower is better; NaN terms (e.g. TUA for random forgetting) are skipped.
    """
    g = [v for v in gaps(metrics, retrain, keys).values() if np.isfinite(v)]
    return float(np.mean(g)) if g else float("nan")
