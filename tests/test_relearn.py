"""The relearning probe: study.audit("relearn", run_id, ...)."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

import mucomp_widget as mu
from mucomp_widget.audits.relearn import RelearnResult
from mucomp_widget.errors import ConfigError, StudyError


@pytest.fixture(scope="module")
def relearn_study(digits, workdir):
    """Digits, class 3 forgotten by GA (the dataset's tuned hyperparameters) and by FT."""
    study = mu.Study(digits, mu.forget.classes(3), workdir=workdir, progress=False).prepare()
    study.unlearn("ga")
    study.unlearn("ft", epochs=1)
    return study


@pytest.fixture
def study(relearn_study):
    """The shared study with its audits removed again after each test."""
    yield relearn_study
    for key in [k for k in relearn_study._audits if k[0] == "relearn"]:
        del relearn_study._audits[key]


def snapshot(study):
    return {r.id: (r.state_dict, r.outputs.train_logits.copy(), dict(r.metrics)) for r in study.runs}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_relearning_brings_a_ga_forgotten_class_back(study, seed):
    run = study["ga-1"]
    n = len(study.split.forget_train)
    assert run.metrics["UA"] < 0.6  # GA did forget: there is something to bring back
    res = study.audit("relearn", run.id, steps=20, seed=seed)
    assert isinstance(res, RelearnResult) and res.run == run.id and res.seed == seed
    assert len(res.ua_run) == len(res.ua_retrain) == 21 and len(res.losses) == 20
    # step 0 is the model as stored: its UA is the table's (one sample of rounding at most)
    assert abs(res.ua_run[0] - run.metrics["UA"]) <= 1 / n + 1e-12
    assert abs(res.ua_retrain[0] - study.retrain.metrics["UA"]) <= 1 / n + 1e-12
    # a few labelled forget samples bring much of the class back within 20 steps
    assert res.ua_run[-1] >= res.ua_run[0] + 0.3
    assert all(0 <= v <= 1 for v in res.ua_run + res.ua_retrain)
    # steps_to: the first step at or above the threshold, None when never reached
    for t in (0.0, res.threshold, 0.9, 1.0):
        k = res.steps_to(t)
        if k is None:
            assert max(res.ua_run) < t
        else:
            assert res.ua_run[k] >= t and max(res.ua_run[:k], default=-1) < t
    assert res.steps_run == res.steps_to() and res.steps_retrain == res.steps_to(curve="retrain")
    assert res.steps_to(0.0) == 0


def test_the_probe_is_seeded(study):
    a = study.audit("relearn", "ga-1", steps=5, seed=3)
    b = study.audit("relearn", "ga-1", steps=5, seed=3)
    assert a.ua_run == b.ua_run and a.ua_retrain == b.ua_retrain and a.losses == b.losses
    assert np.array_equal(a.ids, b.ids)
    c = study.audit("relearn", "ga-1", steps=5, seed=4)
    assert not np.array_equal(c.ids, a.ids)  # another seed draws another slice


def test_the_audit_changes_no_stored_weights(study):
    before, table = snapshot(study), study.results
    study.audit("relearn", "ga-1", steps=10, lr=0.05)
    after = snapshot(study)
    assert before.keys() == after.keys()
    for rid, (sd, logits, metrics) in before.items():
        sd2, logits2, metrics2 = after[rid]
        assert all(torch.equal(sd[k], sd2[k]) for k in sd), rid
        assert np.array_equal(logits, logits2) and metrics == metrics2
    pd.testing.assert_frame_equal(study.results.drop(columns="relearn_steps"), table)


def test_retrain_is_probed_on_the_same_slice(study):
    opts = dict(samples=20, steps=8, lr=0.02, batch_size=8, seed=5)
    ga = study.audit("relearn", "ga-1", **opts)
    ft = study.audit("relearn", "ft-1", **opts)
    own = study.audit("relearn", "retrain", **opts)  # Retrain audited itself
    assert np.array_equal(ga.ids, ft.ids) and np.array_equal(ga.ids, own.ids)
    assert len(ga.ids) == 20 and np.isin(ga.ids, study.split.forget_train).all()
    assert len(np.unique(ga.ids)) == 20
    assert ga.ua_retrain == ft.ua_retrain == own.ua_run == own.ua_retrain
    assert ga.ua_run != ga.ua_retrain  # not Retrain's curve under another name
    stored = study._audits[("relearn", "retrain")]
    assert stored.ua_run == ga.ua_retrain and np.array_equal(stored.ids, ga.ids)


def test_the_slice_is_stratified_over_forgotten_classes(digits, workdir, relearn_study):
    study = mu.Study(digits, mu.forget.classes([3, 5]), workdir=workdir, progress=False)
    study.load_retrain(relearn_study.retrain.state_dict)  # any weights: only the slice is checked
    res = study.audit("relearn", "original", samples=21, steps=1)
    y = digits.y_train.numpy()
    counts = np.bincount(y[res.ids], minlength=10)
    n3, n5 = (y == 3).sum(), (y == 5).sum()
    assert counts[3] + counts[5] == 21 and counts.sum() == 21
    assert abs(counts[3] - 21 * n3 / (n3 + n5)) < 1 and abs(counts[5] - 21 * n5 / (n3 + n5)) < 1
    default = study.audit("relearn", "original", steps=1)  # default: 10 % of the forget set
    assert default.samples == round(0.1 * len(study.split.forget_train))


def test_bad_parameters_are_refused(study):
    n = len(study.split.forget_train)
    cases = [
        (dict(samples=0), "samples must be an integer >= 1, got 0"),
        (dict(samples=2.5), "samples must be an integer >= 1, got 2.5"),
        (dict(samples=n + 1), f"samples={n + 1} is more than the {n} forget"),
        (dict(steps=0), "steps must be an integer >= 1, got 0"),
        (dict(steps=True), "steps must be an integer >= 1, got True"),
        (dict(lr=0), "lr must be a number > 0, got 0"),
        (dict(lr=float("nan")), "lr must be a number > 0, got nan"),
        (dict(lr="0.1"), "lr must be a number > 0, got '0.1'"),
        (dict(batch_size=0), "batch_size must be an integer >= 1, got 0"),
        (dict(threshold=1.5), "threshold must be a forget accuracy between 0 and 1, got 1.5"),
        (dict(threshold=-0.1), "got -0.1"),
        (dict(seed="a"), "seed must be an integer, got 'a'"),
        (dict(epochs=3), "no option 'epochs'"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
            study.audit("relearn", "ga-1", **kwargs)
    with pytest.raises(ConfigError, match="needs a run"):
        study.audit("relearn")
    with pytest.raises(StudyError, match="no run 'nope'"):
        study.audit("relearn", "nope")
    assert not [k for k in study._audits if k[0] == "relearn"]  # failed calls stored nothing
    assert "relearn_steps" not in study.results.columns
    res = study.audit("relearn", "ga-1", steps=1)
    with pytest.raises(ConfigError, match="threshold"):
        res.steps_to(2)
    with pytest.raises(ConfigError, match="curve"):
        res.steps_to(curve="original")


def test_results_show_the_steps_to_relearn(study):
    assert "relearn_steps" not in study.results.columns  # no audit, no column
    events = []
    study.add_listener(events.append)
    try:
        res = study.audit("relearn", "ga-1", steps=20)
    finally:
        study.remove_listener(events.append)
    assert events[0] == {"event": "stage", "run": "ga-1", "stage": "relearn"}
    assert events[-1] == {"event": "changed", "runs": ["ga-1", "retrain"]}
    df = study.results.set_index("id")
    assert list(study.results.columns)[-1] == "relearn_steps"

    def cell(rid):
        v = df.loc[rid, "relearn_steps"]
        return None if math.isnan(v) else int(v)

    assert res.steps_run is not None  # GA's class comes back within 20 steps (test above)
    assert cell("ga-1") == res.steps_run and cell("retrain") == res.steps_retrain
    assert cell("original") is None and cell("ft-1") is None  # never audited
    # a threshold never reached: NaN, and the column follows the latest audit of the run
    study.audit("relearn", "ga-1", steps=1, lr=1e-6, threshold=1.0)
    assert cell_after(study, "ga-1") is None


def cell_after(study, rid):
    v = study.results.set_index("id").loc[rid, "relearn_steps"]
    return None if math.isnan(v) else int(v)
