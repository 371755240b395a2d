"""Weights and Grams beyond the memory budget live on disk and come back unchanged."""

import gc
import sys

import numpy as np
import pytest
import torch

import mucomp_widget as mu
from mucomp_widget.errors import ConfigError
from mucomp_widget.spill import SpilledGrams


@pytest.fixture
def pair(make_study):
    """The same runs in a study that keeps everything and one that spills every run."""
    kept, spilled = make_study(memory_budget=None).prepare(), make_study(memory_budget=0).prepare()
    for study in (kept, spilled):
        study.unlearn("ga", epochs=2)
        study.unlearn("ft", epochs=1)
    return kept, spilled


def test_spilled_runs_give_the_same_weights_outputs_and_metrics(pair):
    kept, spilled = pair
    store = spilled._weights
    assert store.spilled == ["ga-1", "ft-1"] and store.in_memory == 0
    assert kept._weights.spilled == []
    for run in kept.runs:
        other = spilled[run.id]
        a, b = run.state_dict, other.state_dict
        assert all(torch.equal(a[k], b[k]) for k in a)
        assert run.metrics == pytest.approx(other.metrics, nan_ok=True)
        x, _ = kept._device_data().batch("test", torch.arange(64))  # normalised inputs
        with torch.no_grad():
            assert torch.equal(run.model(x), other.model(x))
        assert np.array_equal(run.outputs.test_logits, other.outputs.test_logits)
    # the Grams are on disk and read back equal
    grams = spilled._outputs["ga-1"].grams
    assert isinstance(grams, SpilledGrams) and len(grams) == len(kept._outputs["ga-1"].grams)
    for key, g in kept._outputs["ga-1"].grams.items():
        assert key in grams and np.array_equal(grams[key], g)
    # the Original and the Retrain model always stay in memory
    assert isinstance(spilled._outputs["original"].grams, dict)
    assert isinstance(spilled._outputs["retrain"].grams, dict)


def test_a_spilled_study_rescoring_saving_and_loading(pair, tmp_path):
    kept, spilled = pair
    for study in (kept, spilled):  # a new Retrain rescores every run's CKA from its Grams
        study.load_retrain(kept["ft-1"].state_dict)
    for run in kept.runs:
        a, b = run.details["cka"], spilled[run.id].details["cka"]
        assert a.keys() == b.keys()
        for ref in a:
            assert a[ref] == pytest.approx(b[ref])
    spilled.save(tmp_path / "s")
    again = mu.Study.load(tmp_path / "s", workdir=spilled.workdir, progress=False, memory_budget=0)
    assert again._weights.spilled == ["ga-1", "ft-1"]
    assert again["ga-1"].metrics == pytest.approx(kept["ga-1"].metrics, nan_ok=True)


def test_deleting_a_spilled_run_removes_its_files_and_the_folder_goes_with_the_study(make_study):
    study = make_study(memory_budget=0).prepare()
    study.unlearn("ga", epochs=1)
    study.unlearn("ga", epochs=1)
    folder = study._weights._folder
    assert len(list(folder.iterdir())) == 4  # weights and Grams of two runs
    study.delete("ga-1")
    assert len(list(folder.iterdir())) == 2
    del study
    gc.collect()
    assert not folder.exists()


def test_a_budget_keeps_the_newest_runs_in_memory(make_study):
    study = make_study(memory_budget=None)
    study.unlearn("ga", epochs=1)
    per_run = study._weights.in_memory
    study = make_study(memory_budget=int(per_run * 2.5))
    for _ in range(4):
        study.unlearn("ga", epochs=1)
    assert study._weights.spilled == ["ga-1", "ga-2"]
    assert study._weights.in_memory <= study._weights.budget


@pytest.mark.parametrize("bad", [-1, 1.5, "8GB", True])
def test_a_bad_budget_is_refused(make_study, bad):
    with pytest.raises(ConfigError, match="memory_budget"):
        make_study(memory_budget=bad)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status (Linux)")
def test_resident_memory_grows_by_what_the_runs_store(tmp_path):
    """The C heap's freed pages go back to the system after every run: a run adds about
    what it stores (outputs, weights), not the inference pass's transient buffers (which,
    on CIFAR-shaped images, used to add 10-45 MB per run)."""
    def rss():
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))

    rng = np.random.default_rng(0)
    y_tr, y_te = rng.integers(0, 10, 3000), rng.integers(0, 10, 600)
    x_tr = rng.integers(0, 256, (3000, 3, 32, 32), dtype=np.uint8)
    x_te = rng.integers(0, 256, (600, 3, 32, 32), dtype=np.uint8)
    ds = mu.datasets.from_arrays(x_tr, y_tr, x_te, y_te, name="cifar-shaped")
    study = mu.Study(ds, mu.forget.classes(3), "small_cnn", workdir=tmp_path, progress=False,
                     recipe={"epochs": 1}, memory_budget=None).prepare()
    base = study.original.state_dict
    study.add_checkpoint(base)  # first-call costs (imports, caches) before measuring
    start = rss()
    for i in range(8):
        study.add_checkpoint({k: v + 1e-3 * i if v.is_floating_point() else v for k, v in base.items()})
    stored = sum(o.train_logits.nbytes + o.test_logits.nbytes + o.probe_features.nbytes
                 + sum(g.nbytes for g in o.grams.values()) for o in study._outputs.values())
    per_run = (rss() - start) / 8
    assert per_run < 2 * stored / len(study._outputs) + 2**20, (per_run, stored / len(study._outputs))
