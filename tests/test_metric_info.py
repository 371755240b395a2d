"""Metric declarations: one per score evaluate() computes, sent to the widget as data."""

import json
import math

import numpy as np
import pytest

import mucomp_widget as mu
from mucomp_widget import _payload
from mucomp_widget.evaluation import Outputs
from mucomp_widget.evaluation.summary import (
    AUDIT_INFO, COLUMNS, DIRECTIONS, METRIC_INFO, SCORE_INFO, EvalSetup, MetricInfo, evaluate,
)
from mucomp_widget.forget import ForgetSplit


def _outputs(rng, y_train, y_test, k, shift):
    """Logits that favour the true class by `shift` (noisy), for train and test."""
    def logits(y):
        z = rng.normal(size=(len(y), k))
        z[np.arange(len(y)), y] += shift
        return z
    return Outputs(train_logits=logits(y_train), test_logits=logits(y_test),
                   probe_ids=np.arange(0), probe_features=np.zeros((0, 1)))


@pytest.fixture(scope="module")
def evaluated():
    """evaluate() on synthetic logits with every reference present: all scores defined."""
    rng = np.random.default_rng(0)
    k = 3
    y_train, y_test = np.arange(240) % k, np.arange(90) % k
    split = ForgetSplit(forget_train=np.flatnonzero(y_train == 0), retain_train=np.flatnonzero(y_train != 0),
                        forget_test=np.flatnonzero(y_test == 0), retain_test=np.flatnonzero(y_test != 0),
                        forget_classes=(0,))
    setup = EvalSetup(y_train=y_train, y_test=y_test, split=split, num_classes=k,
                      shadow_in=split.retain_train, shadow_out=split.retain_test, n_boot=10)
    original, retrain, unlearned = (_outputs(rng, y_train, y_test, k, s) for s in (4.0, 2.0, 3.0))
    retrain_metrics, _ = evaluate(retrain, setup, original=original, retrain=retrain)
    return evaluate(unlearned, setup, original=original, retrain=retrain, retrain_metrics=retrain_metrics)


def test_every_computed_score_is_declared_and_every_declared_one_computed(evaluated):
    metrics, _ = evaluated
    assert list(metrics) == [m.key for m in SCORE_INFO]
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    # the table's other metric columns, the costs, are the Study's measurements, declared too
    assert [m.key for m in METRIC_INFO] == [*metrics, "RTE", "RTE_ratio", "peak_MB", "images"]


def test_declared_intervals_are_the_ones_the_widget_receives(evaluated):
    _, details = evaluated
    ci_keys = {"PS": "ps_ci", "AUC": "auc_ci", "U-AUC": "u_auc_ci", "MIA": "mia_range"}
    declared = {m.interval[0]: m.interval[1] for m in METRIC_INFO if m.interval}
    assert set(declared) == set(ci_keys)
    assert declared["MIA"] == "range" and {declared[k] for k in ("PS", "AUC", "U-AUC")} == {"ci"}
    assert all(details[ci_keys[k]] is not None for k in declared)


def test_declarations_are_valid():
    keys = [m.key for m in METRIC_INFO]
    assert len(set(keys)) == len(keys)
    for m in METRIC_INFO:
        assert m.direction in DIRECTIONS
        assert m.label and m.description and m.family
        assert (m.target is not None) == (m.direction == "target")
        assert m.interval is None or m.interval[1] in ("ci", "range")
    costs = [(m.key, m.unit, m.direction, m.family) for m in METRIC_INFO[-4:]]
    assert costs == [("RTE", "s", "lower", "efficiency"), ("RTE_ratio", "x", "lower", "efficiency"),
                     ("peak_MB", "MB", "lower", "efficiency"), ("images", "images", "lower", "efficiency")]
    with pytest.raises(ValueError, match="direction"):
        MetricInfo("X", "X", "made up", "sideways", "summary")
    with pytest.raises(ValueError, match="target"):
        MetricInfo("X", "X", "made up", "target", "summary")


def test_columns_read_each_declaration_with_its_direction():
    assert list(COLUMNS) == [m.key for m in (*METRIC_INFO, *AUDIT_INFO)]
    assert mu.metrics.COLUMNS is COLUMNS
    assert COLUMNS["relearn_steps"].endswith("closest to Retrain is best")
    assert COLUMNS["PS"].endswith("higher is better")
    assert COLUMNS["U-AUC"].endswith("closest to 0.5 is best")
    assert COLUMNS["UA"].endswith("closest to Retrain is best")


def test_meta_sends_the_declarations_in_table_order(make_study):
    meta = _payload.meta(make_study())
    sent = json.loads(json.dumps(meta, allow_nan=False))["metrics"]
    assert "columns" not in meta
    assert [m["key"] for m in sent] == [m.key for m in (*METRIC_INFO, *AUDIT_INFO)]
    assert all(set(m) == {"key", "label", "description", "direction", "family", "unit", "target",
                          "interval", "default"} for m in sent)
    by_key = {m["key"]: m for m in sent}
    assert by_key["U-AUC"]["target"] == 0.5 and by_key["U-AUC"]["interval"] == {"key": "U-AUC", "kind": "ci"}
    assert by_key["RTE"]["unit"] == "s" and by_key["UA"]["interval"] is None
