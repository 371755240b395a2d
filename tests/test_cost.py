"""What a run costs besides time: RTE as a share of Retrain's, peak memory, images."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import mucomp_widget as mu
from mucomp_widget.cost import Meter, rss_bytes


def test_images_count_every_sample_through_the_network(make_study):
    study = make_study()
    run = study.unlearn("ft", epochs=2)
    n_retain = len(study.split.retain_train)
    assert run.images == 2 * n_retain  # FT: two passes over the retain set
    ga = study.unlearn("ga", epochs=3)
    assert ga.images == 3 * len(study.split.forget_train)
    # SCRUB's teacher is a copy of the network: its forward passes count too
    scrub = study.unlearn("scrub", epochs=1, msteps=1)
    assert scrub.images > len(study.split.forget_train) + n_retain
    # Retrain, trained by this code (the test cache starts empty): its epochs over the retain set
    assert study.retrain.images == study.recipe.epochs * n_retain


def test_cost_columns_in_results_and_summary(make_study):
    study = make_study()
    runs = study.unlearn("ga", seeds=[0, 1])
    df = study.results.set_index("id")
    for run in runs:
        row = df.loc[run.id]
        assert row["images"] == run.images
        if study.retrain.rte:
            assert row["RTE_ratio"] == pytest.approx(run.rte / study.retrain.rte)
        assert row["peak_MB"] >= 0 or math.isnan(row["peak_MB"])
    assert math.isnan(df.loc["original", "RTE_ratio"])  # the Original has no RTE
    assert df.loc["retrain", "RTE_ratio"] == pytest.approx(1.0)
    summary = study.summary().set_index("method").loc["ga"]
    assert summary["images_mean"] == np.mean([r.images for r in runs])


def test_meter_sees_memory_a_run_holds():
    rss = rss_bytes()
    if rss is None:
        pytest.skip("this platform does not report the resident set size")
    with Meter(torch.device("cpu"), interval=0.0) as meter:
        block = torch.ones(64 * 2**20 // 4)  # 64 MB, touched
        meter.count(block[:5].reshape(5, 1))
        del block
    assert meter.images == 5
    assert meter.peak_bytes >= 48 * 2**20  # the sample saw most of it


def test_costs_survive_save_and_load(make_study, tmp_path):
    study = make_study()
    run = study.unlearn("rl")
    loaded = mu.Study.load(study.save(tmp_path / "s"), workdir=study.workdir, progress=False)
    assert loaded[run.id].images == run.images and loaded[run.id].peak_memory == run.peak_memory
