"""The standalone metric API: every evaluation function on plain numpy arrays.

Use these on logits and labels from anywhere, without a Study::

    from mucomp_widget import metrics
    metrics.privacy_score(unlearned_forget_logits, retrain_forget_logits)
    metrics.mia_efficacy(retain_logits, retain_y, test_logits, test_y, forget_logits, forget_y)
    metrics.roc(member_scores, nonmember_scores)["tpr_at"][0.001]
    metrics.cka(features_a, features_b)

``METRIC_INFO`` declares each results-table column once (:class:`MetricInfo`: label,
description, direction, family, unit, interval); ``COLUMNS`` maps each column to a one-line
reading of its declaration: what it measures and which way is better.
"""

from .evaluation.accuracy import (
    avg_gap, class_accuracy, confidence_matrix, gaps, prediction_matrix, unlearning_accuracies,
)
from .evaluation.mia import (
    auc_ci, cross_entropy_loss, entropy, entropy_lr_mia, logit_confidence, loss_lr_cv_accuracy,
    roc, softmax, svc_mia_efficacy, svc_mia_efficacy_draws, true_class_probability,
)
from .evaluation.privacy import (
    attack_curves, attack_score_from_rates, attack_values, confidence_values, entropy_values,
    epsilon_from_rates, privacy_attack, privacy_score, privacy_score_ci,
)
from .evaluation.similarity import cka, cka_from_grams, gram
from .evaluation.summary import COLUMNS, METRIC_INFO, MetricInfo

#: SalUn / l1-sparse MIA-efficacy (the field's usual "MIA" column).
mia_efficacy = svc_mia_efficacy

__all__ = [
    "COLUMNS", "METRIC_INFO", "MetricInfo",
    "avg_gap", "class_accuracy", "confidence_matrix", "gaps", "prediction_matrix",
    "unlearning_accuracies", "auc_ci", "cross_entropy_loss", "entropy", "entropy_lr_mia",
    "logit_confidence", "loss_lr_cv_accuracy", "roc", "softmax", "svc_mia_efficacy",
    "svc_mia_efficacy_draws", "mia_efficacy", "true_class_probability", "attack_curves",
    "attack_score_from_rates",
    "attack_values", "confidence_values", "entropy_values", "epsilon_from_rates",
    "privacy_attack", "privacy_score", "privacy_score_ci", "cka", "cka_from_grams", "gram",
]
