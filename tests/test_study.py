import math

import numpy as np
import pandas as pd
import pytest
import torch

import mucomp_widget as mu
from mucomp_widget.errors import ConfigError, StudyError
from mucomp_widget.methods import RunCancelled
from tests.conftest import tiny_arrays

COLUMNS = ["id", "type", "method", "base", "epochs", "lr", "batch_size", "seed",
           "UA", "RA", "TUA", "TRA", "PS", "MIA", "MIA-Ent", "MIA-Loss", "AUC", "U-AUC", "AvgGap",
           "RTE", "RTE_ratio", "peak_MB", "images"]


def test_results_table_has_one_row_per_model(class3_study):
    df = class3_study.results
    assert isinstance(df, pd.DataFrame) and list(df.columns) == COLUMNS
    assert df["id"].tolist()[:2] == ["original", "retrain"]
    assert df["type"].tolist()[:2] == ["Original", "Retrain"]
    assert set(df["type"][2:]) == {"Unlearned"} and df["id"].is_unique
    assert math.isnan(df.loc[0, "RTE"]) and df.loc[1, "RTE"] > 0  # Retrain: its training time
    scores = df[COLUMNS[8:-4]]  # UA ... AvgGap, not the costs
    assert ((scores >= 0) & (scores <= 1)).all().all()


def test_run_ids_never_collide(make_study):
    study = make_study()
    a = study.unlearn("ft", epochs=1)
    b = study.unlearn("ft", epochs=1)
    study.delete(b.id)
    c = study.unlearn("ft", epochs=1)
    assert [a.id, b.id, c.id] == ["ft-1", "ft-2", "ft-3"]
    with pytest.raises(StudyError, match="reference model"):
        study.delete("original")


def test_sweep_runs_the_cartesian_grid(make_study):
    study = make_study()
    runs = study.sweep("ga", lr=[1e-4, 1e-3], epochs=[1, 2])
    got = sorted((r.hyperparameters["lr"], r.hyperparameters["epochs"]) for r in runs)
    assert got == [(1e-4, 1), (1e-4, 2), (1e-3, 1), (1e-3, 2)]
    assert len({r.id for r in runs}) == 4


def test_sweep_checks_the_whole_grid_first(make_study):
    study = make_study()
    with pytest.raises(ConfigError, match="lr must be a number > 0, got -1"):
        study.sweep("ga", lr=[1e-3, -1])
    assert [r.type for r in study.runs if r.type == "Unlearned"] == []
    with pytest.raises(ConfigError, match="empty"):
        study.sweep("ga", lr=[])


def test_second_study_loads_cached_reference_models(make_study, class3_study):
    events = []
    study = make_study()
    study.add_listener(events.append)
    study.prepare()
    assert not [e for e in events if e["event"] == "epoch"]  # nothing was trained
    for rid in ("original", "retrain"):
        a, b = study[rid].state_dict, class3_study[rid].state_dict
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_different_forget_set_shares_the_original_but_not_the_retrain(make_study):
    s3, s5 = make_study(), make_study(mu.forget.classes(5))
    s3.prepare(), s5.prepare()
    assert torch.equal(s3.original.state_dict["fc.weight"], s5.original.state_dict["fc.weight"])
    assert not torch.equal(s3.retrain.state_dict["fc.weight"], s5.retrain.state_dict["fc.weight"])
    assert s5.retrain.metrics["UA"] <= 0.05


def test_same_seed_same_numbers(digits, tmp_path):
    def build(workdir, noise):
        torch.randn(noise)  # the caller's RNG state must not matter
        s = mu.Study(digits, mu.forget.classes(3), workdir=workdir, progress=False)
        s.unlearn("rl")
        s.unlearn("salun")
        return s

    a, b = build(tmp_path / "a", 3), build(tmp_path / "b", 11)
    measured = ["RTE", "RTE_ratio", "peak_MB"]  # seconds and memory of this process: not numbers of the seed
    pd.testing.assert_frame_equal(a.results.drop(columns=measured), b.results.drop(columns=measured))
    for rid in ("original", "retrain", "rl-1", "salun-1"):
        sa, sb = a[rid].state_dict, b[rid].state_dict
        assert all(torch.equal(sa[k], sb[k]) for k in sa), rid
        assert np.array_equal(a[rid].outputs.train_logits, b[rid].outputs.train_logits)
    other = mu.Study(digits, mu.forget.classes(3), workdir=tmp_path / "a", progress=False)
    assert not torch.equal(other.unlearn("rl", seed=1).state_dict["fc.weight"], a["rl-1"].state_dict["fc.weight"])


def test_save_and_load_keep_the_whole_study(class3_study, tmp_path):
    path = class3_study.save(tmp_path / "saved")
    again = mu.Study.load(path, workdir=tmp_path / "empty-cache", progress=False)
    pd.testing.assert_frame_equal(again.results, class3_study.results)
    for r in class3_study.runs:
        got = again[r.id]
        assert got.losses == r.losses and got.hyperparameters == r.hyperparameters
        assert all(torch.equal(got.state_dict[k], r.state_dict[k]) for k in r.state_dict)
        assert np.array_equal(got.outputs.probe_features, r.outputs.probe_features)
    new = again.unlearn("ft", epochs=1)
    assert new.id not in {r.id for r in class3_study.runs}


def test_study_on_user_arrays_saves_its_data(tmp_path):
    x_tr, y_tr, x_te, y_te = tiny_arrays()
    ds = mu.datasets.from_arrays(x_tr, y_tr, x_te, y_te, class_names=["a", "b", "c"], name="tiny")
    study = mu.Study(ds, mu.forget.random(count=12), workdir=tmp_path, progress=False,
                     recipe={"epochs": 3, "batch_size": 32})
    run = study.unlearn("ft", epochs=1)
    assert math.isnan(run.metrics["TUA"])  # sample-wise forgetting has no forget test set
    study.save(tmp_path / "s")
    again = mu.Study.load(tmp_path / "s", workdir=tmp_path, progress=False)
    assert again.dataset.class_names == ("a", "b", "c")
    pd.testing.assert_frame_equal(again.results, study.results)


def test_custom_architecture_must_be_given_again_on_load(tmp_path):
    from torch import nn
    x_tr, y_tr, x_te, y_te = tiny_arrays()
    ds = mu.datasets.from_arrays(x_tr, y_tr, x_te, y_te)

    def factory():
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 3))

    study = mu.Study(ds, mu.forget.classes(0), factory, feature_layer="2", workdir=tmp_path,
                     progress=False, recipe={"epochs": 2})
    study.save(tmp_path / "s")
    with pytest.raises(StudyError, match="factory"):
        mu.Study.load(tmp_path / "s", workdir=tmp_path)
    again = mu.Study.load(tmp_path / "s", model=factory, workdir=tmp_path, progress=False)
    assert again.original.metrics == study.original.metrics


def test_load_refuses_different_data(class3_study, tmp_path):
    path = class3_study.save(tmp_path / "saved")
    x_tr, y_tr, x_te, y_te = tiny_arrays()
    with pytest.raises(StudyError, match="differs"):
        mu.Study.load(path, dataset=mu.datasets.from_arrays(x_tr, y_tr, x_te, y_te))


def test_load_original_and_retrain_from_files(make_study, class3_study, tmp_path):
    torch.save(class3_study.original.state_dict, tmp_path / "o.pth")
    torch.save(class3_study.retrain.state_dict, tmp_path / "r.pth")
    study = make_study(workdir=tmp_path / "nothing-cached")
    study.load_original(tmp_path / "o.pth")
    study.load_retrain(tmp_path / "r.pth")
    df = study.results
    assert df["id"].tolist() == ["original", "retrain"]
    assert df.loc[0, "UA"] == class3_study.original.metrics["UA"]
    assert math.isnan(df.loc[1, "RTE"])  # not trained here: no training time
    study.unlearn("ga", epochs=1)
    with pytest.raises(StudyError, match="before unlearning"):
        study.load_original(tmp_path / "o.pth")


def test_cancel_stops_a_run_and_keeps_the_study(make_study):
    study = make_study()
    study.prepare()

    def stop_at_first_epoch(event):
        if event["event"] == "epoch":
            study.cancel()

    study.add_listener(stop_at_first_epoch)
    before = study.results
    with pytest.raises(RunCancelled):
        study.unlearn("ft", epochs=5)
    pd.testing.assert_frame_equal(study.results, before)
    study.remove_listener(stop_at_first_epoch)
    assert study.unlearn("ft", epochs=1).id == "ft-1"


def test_progress_events_stream_epochs_and_stages(make_study):
    study = make_study()
    study.prepare()
    events = []
    study.add_listener(events.append)
    run = study.unlearn("rl", epochs=2)
    kinds = [e["event"] for e in events]
    assert kinds == ["run_started", "epoch", "epoch", "stage", "changed", "run_finished"]
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]
    assert events[-1]["run"] == run.id
    assert events[4]["runs"] == [run.id]  # stored and scored: views can show it
    del events[:]
    study.delete(run.id)
    assert events == [{"event": "deleted", "run": run.id}]


def test_bad_study_arguments(digits, tmp_path):
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="'cuda' was asked for but CUDA is not available"):
            mu.Study(digits, 3, device="cuda", workdir=tmp_path)
    with pytest.raises(ConfigError, match="device name"):
        mu.Study(digits, 3, device="tpu", workdir=tmp_path)
    with pytest.raises(ConfigError, match="mu.forget"):
        mu.Study(digits, "3", workdir=tmp_path)
    with pytest.raises(ConfigError, match="Dataset"):
        mu.Study(np.zeros(3), 3, workdir=tmp_path)
    with pytest.raises(mu.MucompError, match="forget class 12 is out of range: this dataset has classes 0..9"):
        mu.Study(digits, 12, workdir=tmp_path)
    with pytest.raises(ConfigError, match="epochs must be >= 1"):
        mu.Study(digits, 3, workdir=tmp_path, recipe={"epochs": 0})


def test_probe_subset_is_stratified_and_fixed(class3_study, digits):
    ids = class3_study.probe_ids
    assert np.array_equal(ids, np.arange(digits.n_train))  # 1,437 < 2,000: every sample
    small = mu.Study(digits, 3, probe_size=200, progress=False, workdir=class3_study.workdir)
    counts = np.bincount(digits.y_train.numpy()[small.probe_ids], minlength=10)
    assert len(small.probe_ids) == 200 and counts.min() >= 19 and counts.max() <= 21
    again = mu.Study(digits, 3, probe_size=200, progress=False, workdir=class3_study.workdir)
    assert np.array_equal(small.probe_ids, again.probe_ids)
    run = class3_study.original
    assert run.outputs.probe_features.shape == (len(ids), 64)
    assert run.outputs.train_logits.shape == (digits.n_train, 10)


_FRESH = """
import hashlib, sys, torch
import mucomp_widget as mu
torch.set_num_threads(int(sys.argv[2]))
s = mu.Study(mu.datasets.digits(), mu.forget.classes(3), workdir=sys.argv[1], progress=False,
             probe_size=200, cka_size=50).prepare()
run = s.unlearn("rl", epochs=1)
h = hashlib.sha256()
for rid in ("original", "retrain", run.id):
    for k, v in sorted(s[rid].state_dict.items()):
        h.update(k.encode()); h.update(v.numpy().tobytes())
    h.update(s[rid].outputs.train_logits.tobytes())
print(h.hexdigest(), s.results.drop(columns=["RTE", "RTE_ratio", "peak_MB"]).to_json())
"""


@pytest.mark.parametrize("threads", [1, 2])
def test_same_seed_same_thread_count_is_bit_identical_in_fresh_processes(tmp_path, threads):
    """What the README promises: same seed, same machine, same thread count -> same bits,
    whatever happened in the process before (each run trains its own models here)."""
    import subprocess
    import sys

    outs = [subprocess.run([sys.executable, "-c", _FRESH, str(tmp_path / f"w{i}"), str(threads)],
                           check=True, capture_output=True, text=True, timeout=600).stdout
            for i in range(2)]
    assert outs[0] == outs[1] and len(outs[0].split()[0]) == 64


@pytest.mark.parametrize("bad", [0, 10, 50_001, 2.5, True, "2000"])
def test_probe_size_outside_its_range_is_refused(digits, bad):
    with pytest.raises(mu.MucompError, match="probe_size"):
        mu.Study(digits, 3, probe_size=bad, progress=False)


def test_probe_size_limits_are_accepted(digits):
    assert len(mu.Study(digits, 3, probe_size=11, progress=False).probe_ids) == 11
    # larger than the training set: every training sample
    assert len(mu.Study(digits, 3, probe_size=50_000, progress=False).probe_ids) == digits.n_train
