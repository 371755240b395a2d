"""Sweeps and searches on a local Ray with 2 CPUs (the optional extra; `make test` installs it)."""

import math
import os
import signal

import numpy as np
import pytest
import ray
import torch

import mucomp_widget as mu
from mucomp_widget.distributed import Failure
from mucomp_widget.errors import ConfigError


SCORES = ("UA", "RA", "TUA", "TRA", "PS", "MIA", "MIA-Ent", "MIA-Loss", "AUC", "U-AUC", "AvgGap")


@pytest.fixture(scope="module")
def local_ray():
    started = not ray.is_initialized()
    for attempt in range(3):  # Ray gives its node 30 s to start: a loaded machine may need more
        if not started:
            break
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            break
        except Exception:
            ray.shutdown()
            if attempt == 2:
                raise
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture
def study(make_study, local_ray):
    return make_study().prepare()


def same_number(a, b) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_a_ray_sweep_gives_the_local_sweep_number_for_number(study):
    # six runs: 2 learning rates x 2 seeds, then 2 epoch counts
    local = study.sweep("ga", seeds=[0, 5], lr=[0.01, 0.03], epochs=2)
    remote = study.sweep("ga", seeds=[0, 5], executor="ray", lr=[0.01, 0.03], epochs=2)
    assert len(local) == len(remote) == 4
    local += study.sweep("ga", lr=0.02, epochs=[1, 3])
    remote += study.sweep("ga", lr=0.02, epochs=[1, 3], executor="ray")
    assert all(isinstance(r, mu.Run) for r in remote), remote
    for a, b in zip(local, remote):
        assert (a.hyperparameters, a.seed, a.base) == (b.hyperparameters, b.seed, b.base)
        assert a.id != b.id and b.id in study
        sa, sb = a.state_dict, b.state_dict
        assert all(torch.equal(sa[k], sb[k]) for k in sa), f"{a.id} and {b.id} weights differ"
        assert a.losses == b.losses
        for m in SCORES:
            assert same_number(a.metrics[m], b.metrics[m]), (m, a.metrics[m], b.metrics[m])
        assert np.array_equal(a.outputs.train_logits, b.outputs.train_logits)
        assert b.images == a.images and b.rte > 0
        assert b.provenance["code"] == a.provenance["code"]
    # seeded points keep their groups: two runs (seeds 0 and 5) per learning rate
    groups = [r.group for r in remote[:4]]
    assert groups[0] == groups[1] != groups[2] == groups[3] and None not in groups
    assert set(groups).isdisjoint(r.group for r in local[:4])
    summary = study.summary().set_index("group")
    assert summary.loc[groups[0], "n"] == 2


def test_a_trial_that_raises_becomes_a_failure_and_the_others_are_kept(study):
    @mu.register_method("raises_at_lr", defaults={"epochs": 1, "lr": 0.01, "batch_size": 64})
    def raises_at_lr(model, forget_loader, retain_loader, *, lr, ctx, **kw):
        if lr > 0.015:
            raise ValueError(f"lr {lr} is too large for this method")
        ga = mu.methods.get_method("ga").fn  # (a module-level helper would not reach Ray's workers)
        return ga(model, forget_loader, retain_loader, epochs=1, lr=lr, clip=0.0, ctx=ctx)

    before = set(study.results["id"])
    out = study.sweep("raises_at_lr", lr=[0.01, 0.02, 0.012], executor="ray")
    assert [type(r) for r in out] == [mu.Run, Failure, mu.Run], out
    assert "ValueError" in out[1].error and "too large" in out[1].error
    assert out[1].hyperparameters["lr"] == 0.02 and out[1].seed == study.seed
    assert set(study.results["id"]) - before == {out[0].id, out[2].id}


def test_a_killed_worker_is_retried_and_no_finished_run_is_lost(study, tmp_path):
    marker = str(tmp_path / "killed-once")

    @mu.register_method("dies_once", defaults={"epochs": 1, "lr": 0.01, "batch_size": 64})
    def dies_once(model, forget_loader, retain_loader, *, lr, ctx, **kw):
        if lr > 0.015 and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)  # the worker process dies mid-trial
        ga = mu.methods.get_method("ga").fn  # (a module-level helper would not reach Ray's workers)
        return ga(model, forget_loader, retain_loader, epochs=1, lr=lr, clip=0.0, ctx=ctx)

    out = study.sweep("dies_once", lr=[0.01, 0.02, 0.012], executor="ray", retries=2)
    assert os.path.exists(marker)
    assert all(isinstance(r, mu.Run) for r in out), out
    assert all(r.id in study for r in out)

    # Without retries the killed trial is a failure; the others are still recorded.
    os.remove(marker)
    out = study.sweep("dies_once", lr=[0.01, 0.02, 0.012], executor="ray", retries=0)
    assert [type(r) for r in out] == [mu.Run, Failure, mu.Run], out
    assert "died" in out[1].error
    assert out[0].id in study and out[2].id in study


def test_cancel_stops_pending_trials_and_keeps_finished_ones(study):
    def cancel_after_first(event):
        if event.get("event") == "run_finished":
            study.cancel()

    study.add_listener(cancel_after_first)
    try:
        out = study.sweep("ga", lr=[0.01, 0.011, 0.012, 0.013, 0.014, 0.015], epochs=3,
                          executor="ray")
    finally:
        study.remove_listener(cancel_after_first)
    runs = [r for r in out if isinstance(r, mu.Run)]
    failed = [r for r in out if isinstance(r, Failure)]
    assert runs and failed and len(runs) + len(failed) == 6
    assert all(r.id in study for r in runs)
    assert all("cancelled" in f.error for f in failed)
    assert len([r for r in study.runs if r.method == "ga"]) == len(runs)


def test_ray_arguments_are_checked_before_anything_runs(study):
    n = len(study.runs)
    with pytest.raises(ConfigError, match="executor"):
        study.sweep("ga", lr=[0.01], executor="dask")
    with pytest.raises(ConfigError, match="num_gpus"):
        study.sweep("ga", lr=[0.01], executor="ray", resources={"num_gpus": 1})
    with pytest.raises(ConfigError, match="unknown key"):
        study.sweep("ga", lr=[0.01], executor="ray", resources={"gpus": 1})
    with pytest.raises(ConfigError, match="retries"):
        study.sweep("ga", lr=[0.01], executor="ray", retries=-1)
    with pytest.raises(ConfigError, match="objective"):
        study.tune("ga", {"lr": (1e-3, 1e-1)}, objective="accuracy")
    with pytest.raises(ConfigError, match="space"):
        study.tune("ga", {"lr": "small"})
    with pytest.raises(ConfigError, match="lr"):
        study.tune("ga", {"lr": (-1.0, 0.1)})
    with pytest.raises(ConfigError, match="both"):
        study.tune("ga", {"lr": (1e-3, 1e-1)}, lr=0.01)
    assert len(study.runs) == n


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_tuning_improves_the_objective_over_its_first_trials(study, executor):
    """GA's learning rate over five decades against UA's distance to Retrain's (0): the
    random first third mostly draws rates too small to forget; TPE then moves to larger ones."""
    result = study.tune("ga", {"lr": (1e-6, 0.1, "log")}, objective="UA", trials=12, epochs=2,
                        executor=executor, max_concurrent=2 if executor == "ray" else None)
    values = list(result.trials["objective"])
    assert len(values) == 12 and result.trials["error"].isna().all()
    assert len(result.runs) == 12 and all(r.id in study for r in result.runs)
    assert np.median(values[-4:]) < np.median(values[:4]), values
    retrain_ua = study.retrain.metrics["UA"]
    assert abs(result.best.metrics["UA"] - retrain_ua) == min(values)
    assert result.best.hyperparameters["epochs"] == 2


def test_local_tuning_is_reproducible(make_study):
    a = make_study().tune("ga", {"lr": (1e-3, 1e-1, "log"), "epochs": [1, 2]}, trials=3)
    b = make_study().tune("ga", {"lr": (1e-3, 1e-1, "log"), "epochs": [1, 2]}, trials=3)
    assert a.trials[["lr", "epochs", "objective"]].equals(b.trials[["lr", "epochs", "objective"]])
    # the default objective is the mean gap to Retrain, smaller is better
    assert a.direction == "min" and a.best.metrics["AvgGap"] == a.trials["objective"].min()
