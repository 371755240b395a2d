"""Spread over seeds: unlearn(..., seeds=[...]) groups, Study.summary, saving groups."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

import mucomp_widget as mu
from mucomp_widget import _payload
from mucomp_widget.errors import ConfigError, StudyError
from mucomp_widget.evaluation.privacy import privacy_score_ci
from mucomp_widget.evaluation.summary import METRIC_INFO

METRICS = [m.key for m in METRIC_INFO]  # the results table's metric columns, RTE last
RESULT_COLUMNS = ["id", "type", "method", "base", "epochs", "lr", "batch_size", "seed",
                  "UA", "RA", "TUA", "TRA", "PS", "MIA", "MIA-Ent", "MIA-Loss", "AUC", "U-AUC",
                  "AvgGap", "RTE", "RTE_ratio", "peak_MB", "images"]


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict, b.state_dict
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def seeded(digits, workdir):
    """Digits, class 3: one run made alone, GA under three seeds, FT under two."""
    study = mu.Study(digits, mu.forget.classes(3), workdir=workdir, progress=False).prepare()
    alone = study.unlearn("rl", epochs=1)
    ga = study.unlearn("ga", seeds=[0, 1, 2], epochs=2)
    ft = study.unlearn("ft", seeds=[3, 4], epochs=1, lr=0.1)
    return study, alone, ga, ft


def test_seeds_make_one_group_of_distinct_runs(seeded):
    study, alone, runs, ft = seeded
    assert isinstance(runs, list) and [r.seed for r in runs] == [0, 1, 2]
    assert alone.group is None
    assert len({r.id for r in runs + ft + [alone]}) == 6
    assert {r.group for r in runs} == {"ga-g1"} and {r.group for r in ft} == {"ft-g1"}
    assert all(r.hyperparameters == runs[0].hyperparameters for r in runs)
    assert all(r.base == "original" and r.type == "Unlearned" for r in runs)
    # separate seeds: different loader orders, so different weights and outputs
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert not same_weights(runs[a], runs[b])
        assert not np.array_equal(runs[a].outputs.train_logits, runs[b].outputs.train_logits)
    # the results table is unchanged by groups: same columns, one row per run
    df = study.results
    assert list(df.columns) == RESULT_COLUMNS and len(df) == 2 + 1 + 3 + 2
    rows = {row["id"]: row for row in _payload.runs(study)}
    assert rows[runs[1].id]["group"] == "ga-g1" and rows[alone.id]["group"] is None
    assert rows["original"]["group"] is None


def test_seeded_runs_are_reproducible(seeded, make_study):
    _, _, ga, _ = seeded
    study = make_study().prepare()  # Retrain too: PS and the gaps need it
    again = study.unlearn("ga", seeds=[2, 0], epochs=2)
    single = study.unlearn("ga", seed=1, epochs=2)  # seeds=[..., s, ...] runs as seed=s would
    for ra, rb in ((again[0], ga[2]), (again[1], ga[0]), (single, ga[1])):
        assert same_weights(ra, rb)
        np.testing.assert_equal(ra.metrics, rb.metrics)


def test_summary_gives_numpys_mean_and_std_per_group(seeded):
    study, alone, ga, ft = seeded
    summary = study.summary()
    expected_columns = ["group", "runs", "type", "method", "base", "epochs", "lr", "batch_size",
                        "hyperparameters", "seeds", "n",
                        *[f"{m}_{s}" for m in METRICS for s in ("mean", "std")]]
    assert list(summary.columns) == expected_columns
    assert [tuple(r) for r in summary["runs"]] == [("original",), ("retrain",), (alone.id,),
                                                  tuple(r.id for r in ga), tuple(r.id for r in ft)]
    results = study.results.set_index("id")
    for members in (ga, ft):
        row = summary[summary["group"] == members[0].group].iloc[0]
        ids = [r.id for r in members]
        assert row["n"] == len(ids) and row["seeds"] == [r.seed for r in members]
        assert row["method"] == members[0].method and row["hyperparameters"] == members[0].hyperparameters
        assert row["epochs"] == members[0].hyperparameters["epochs"]
        for m in METRICS:
            values = results.loc[ids, m].to_numpy(dtype=float)
            np.testing.assert_allclose(row[f"{m}_mean"], np.mean(values), rtol=1e-12, atol=0)
            np.testing.assert_allclose(row[f"{m}_std"], np.std(values, ddof=1), rtol=1e-9, atol=1e-15)
    # the spread is real: three seeds do not give one model
    ga_row = summary[summary["group"] == "ga-g1"]
    assert (ga_row[[f"{m}_std" for m in ("UA", "RA", "TRA", "PS", "AvgGap")]].to_numpy() > 0).any()
    # runs made alone, Original and Retrain: groups of one, their own values, std NaN
    for i, rid in enumerate(["original", "retrain", alone.id]):
        row = summary.iloc[i]
        assert pd.isna(row["group"]) and row["n"] == 1 and row["runs"] == [rid]
        for m in METRICS:
            v = results.loc[rid, m]
            assert (math.isnan(v) and math.isnan(row[f"{m}_mean"])) or row[f"{m}_mean"] == v
            assert math.isnan(row[f"{m}_std"])


def test_each_seeded_run_keeps_its_own_privacy_interval(seeded):
    study, _, runs, _ = seeded
    f = study.split.forget_train
    retrain = study.retrain.outputs.train_logits[f]
    intervals = []
    for r in runs:
        ci = r.details["ps_ci"]
        own = privacy_score_ci(r.outputs.train_logits[f], retrain, grid=study.setup.grid,
                               n_boot=study.setup.n_boot, seed=study.setup.seed)
        assert tuple(ci) == own  # computed from this run's own outputs
        assert ci[0] <= ci[1]
        intervals.append(tuple(ci))
    assert len(set(intervals)) > 1


@pytest.mark.parametrize("call", ["unlearn", "sweep"])
def test_bad_seeds_are_refused_before_any_run(make_study, call):
    study = make_study()
    go = getattr(study, call)
    cases = [
        (dict(seed=1, seeds=[0, 1]), "not both"),
        (dict(seeds=[0, 1, 0]), "distinct, got 0 more than once"),
        (dict(seeds=[]), "seeds is empty"),
        (dict(seeds=[0, 1.5]), "integers, got 1.5"),
        (dict(seeds=[True, 2]), "integers, got True"),
        (dict(seeds="012"), "list of integers"),
        (dict(seeds=3), "list of integers"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ConfigError, match=message):
            go("ga", epochs=1, **kwargs)
    assert study.runs == []  # refused before anything was trained or run
    if call == "unlearn":
        runs = go("ga", epochs=1, seeds=np.array([4, 2]))  # any sequence of distinct integers
        assert [r.seed for r in runs] == [4, 2] and runs[0].group == runs[1].group


def test_sweep_with_seeds_makes_one_group_per_grid_point(make_study):
    study = make_study()
    runs = study.sweep("ga", lr=[1e-4, 1e-3], epochs=1, seeds=[0, 1])
    assert len(runs) == 2 * 2 and len({r.id for r in runs}) == 4
    groups = {}
    for r in runs:
        groups.setdefault(r.group, []).append(r)
    assert len(groups) == 2 and None not in groups
    points = set()
    for members in groups.values():
        assert [r.seed for r in members] == [0, 1]
        hp = {(r.hyperparameters["lr"], r.hyperparameters["epochs"]) for r in members}
        assert len(hp) == 1
        points |= hp
    assert points == {(1e-4, 1), (1e-3, 1)}
    assert sorted(study.summary()["n"].tolist()) == [1, 1, 2, 2]  # Original, Retrain, 2 groups


def test_save_and_load_keep_groups_and_read_studies_saved_before_groups(make_study, tmp_path):
    study = make_study()
    alone = study.unlearn("ft", epochs=1)
    grouped = study.unlearn("ga", seeds=[0, 1], epochs=1)
    path = study.save(tmp_path / "saved")
    again = mu.Study.load(path, workdir=tmp_path / "cache", progress=False)
    assert [again[r.id].group for r in grouped] == ["ga-g1", "ga-g1"] and again[alone.id].group is None
    pd.testing.assert_frame_equal(again.summary(), study.summary())
    assert again.unlearn("ga", seeds=[7], epochs=1)[0].group == "ga-g2"  # the counter is kept

    # a study.json written before groups existed: no "group" key in any run record
    meta = json.loads((path / "study.json").read_text())
    for rec in meta["runs"]:
        del rec["group"]
    (path / "study.json").write_text(json.dumps(meta))
    old = mu.Study.load(path, workdir=tmp_path / "cache", progress=False)
    assert all(r.group is None for r in old.runs)
    pd.testing.assert_frame_equal(old.results, study.results)
    assert len(old.summary()) == len(old.runs)  # every run a group of one

    meta["runs"][2]["group"] = 5
    (path / "study.json").write_text(json.dumps(meta))
    with pytest.raises(StudyError, match=r"runs\[2\]\.group must be str or null, got 5"):
        mu.Study.load(path, workdir=tmp_path / "cache", progress=False)
