"""The boundary of every method call: declared constraints, cancel, time limit, dtypes."""

import threading
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import mucomp_widget as mu
from mucomp_widget.errors import ConfigError, MethodError
from mucomp_widget.methods import RunCancelled, RunTimeout


@pytest.fixture
def study(make_study):
    s = make_study()
    s.prepare()
    return s


def _register_steps():
    @mu.register_method("test_steps", defaults={"epochs": 1, "steps": 2, "mode": "a", "flag": False,
                                                "scale": 0.5},
                        constraints={"steps": mu.Int(1, 10), "mode": mu.Choice("a", "b"),
                                     "flag": mu.Bool(), "scale": mu.Float(0, 1, low_open=True)})
    def steps(model, forget_loader, retain_loader, *, steps, mode, flag, scale):
        return model

    return steps


@pytest.mark.parametrize(("hp", "message"), [
    ({"steps": -5}, r"method 'test_steps': steps must be an integer >= 1 and <= 10, got -5\."),
    ({"steps": "two"}, r"steps must be an integer >= 1 and <= 10, got 'two'"),
    ({"steps": 2.5}, r"steps must be an integer"),
    ({"mode": "c"}, r"mode must be one of 'a', 'b', got 'c'"),
    ({"flag": 1}, r"flag must be True or False, got 1"),
    ({"scale": 0.0}, r"scale must be a number > 0 and <= 1, got 0\.0"),
    ({"scale": float("nan")}, r"scale must be a number > 0 and <= 1, got nan"),
    ({"lr": float("inf")}, r"lr must be a number > 0, got inf"),
    ({"epochs": "3"}, r"epochs must be an integer >= 1, got '3'"),
])
def test_constraints_are_checked_before_anything_runs(study, hp, message):
    _register_steps()
    with pytest.raises(ConfigError, match=message):
        study.unlearn("test_steps", **hp)
    with pytest.raises(ConfigError, match=message):  # the whole grid, before the first run
        study.sweep("test_steps", **{k: [v if k != "epochs" else 1, v] for k, v in hp.items()})
    assert [r.type for r in study.runs] == ["Original", "Retrain"]


def test_constrained_values_arrive_in_canonical_form(study):
    seen = {}

    @mu.register_method("test_canonical", defaults={"steps": 2}, constraints={"steps": mu.Int(1)})
    def canonical(model, forget_loader, retain_loader, *, steps, epochs):
        seen.update(steps=steps, epochs=epochs)

    run = study.unlearn("test_canonical", steps=3.0, epochs=np.int64(1))
    assert seen == {"steps": 3, "epochs": 1} and type(seen["steps"]) is int
    assert run.hyperparameters["steps"] == 3


def test_registration_checks_constraints_and_defaults():
    with pytest.raises(ConfigError, match=r"method 'test_bad': steps must be an integer >= 1"):
        @mu.register_method("test_bad", defaults={"steps": 0}, constraints={"steps": mu.Int(1)})
        def bad(model, forget_loader, retain_loader, *, steps):
            return model
    with pytest.raises(ConfigError, match="constraint of 'steps' must be mu.Int"):
        mu.register_method("test_bad2", constraints={"steps": int})
    with pytest.raises(ConfigError, match="'stepz', which the function does not accept"):
        @mu.register_method("test_bad3", constraints={"stepz": mu.Int(1)})
        def bad3(model, forget_loader, retain_loader, *, steps=1):
            return model
    with pytest.raises(ConfigError, match="low 2 is above high 1"):
        mu.Int(2, 1)
    with pytest.raises(ConfigError, match="at least one"):
        mu.Choice()


def test_every_builtin_hyperparameter_is_constrained():
    for name in mu.methods.available():
        spec = mu.methods.get_method(name)
        if spec.builtin:
            assert set(spec.defaults) <= set(spec.constraints), name


def test_builder_sees_the_constraints(study):
    from mucomp_widget import _payload

    _register_steps()
    meta = _payload.meta(study)
    entry = next(m for m in meta["methods"] if m["name"] == "test_steps")
    c = entry["constraints"]
    assert c["steps"] == {"type": "int", "allowed": "an integer >= 1 and <= 10", "min": 1, "max": 10,
                          "min_open": False, "max_open": False}
    assert c["mode"]["choices"] == ["a", "b"] and c["flag"]["type"] == "bool"
    assert c["lr"]["min"] == 0 and c["lr"]["min_open"] is True
    assert entry["defaults"]["mode"] == "a" and entry["defaults"]["flag"] is False


def _silent(stop_after=None):
    """A method that never reports: forward passes until told otherwise."""
    calls = {"n": 0}

    def silent(model, forget_loader, retain_loader, **hp):
        x, _ = next(iter(forget_loader))
        while True:
            calls["n"] += 1
            model(x)
            if stop_after is not None and calls["n"] >= stop_after:
                return model

    return silent, calls


def test_cancel_reaches_a_method_that_never_reports(study):
    silent, calls = _silent()

    def cancel_once_running():  # from another thread, as the widget's Cancel does
        while calls["n"] < 2:
            time.sleep(0.01)
        study.cancel()

    threading.Thread(target=cancel_once_running, daemon=True).start()
    t = time.perf_counter()
    with pytest.raises(RunCancelled):  # the time limit only keeps a bug from hanging the suite
        study.unlearn(silent, time_limit=300)
    assert time.perf_counter() - t < 30 and calls["n"] > 1
    assert [r.type for r in study.runs] == ["Original", "Retrain"]
    assert study.unlearn("ga", epochs=1).type == "Unlearned"  # the study still works


def test_cancel_reaches_copies_the_method_makes(study):
    import copy

    def copies(model, forget_loader, retain_loader, **hp):
        twin = copy.deepcopy(model)
        x, _ = next(iter(forget_loader))
        study.cancel()
        twin(x)
        return twin

    with pytest.raises(RunCancelled):
        study.unlearn(copies)


def test_time_limit_stops_a_long_run(study):
    silent, calls = _silent()
    t = time.perf_counter()
    with pytest.raises(RunTimeout, match=r"method 'silent' ran past its time limit of 0.3 s"):
        study.unlearn(silent, time_limit=0.3)
    assert time.perf_counter() - t < 30
    assert [r.type for r in study.runs] == ["Original", "Retrain"]
    with pytest.raises(ConfigError, match="time_limit must be a positive number"):
        study.unlearn("ga", time_limit=0)
    with pytest.raises(ConfigError, match="time_limit must be a positive number"):
        study.sweep("ga", lr=[1e-3], time_limit=-1)


def test_returned_model_keeps_no_guard(study):
    """After the run, the guard is off: a later cancel cannot break the stored model."""
    silent, _ = _silent(stop_after=3)
    run = study.unlearn(silent, time_limit=60)
    study.cancel()
    model = run.model
    x = study.dataset.x_train[:4].float()
    model(x.to(study.device) if x.ndim == 4 else x)


def test_double_precision_model_is_cast_back(study):
    def to_double(model, forget_loader, retain_loader, **hp):
        model.double()
        x, y = next(iter(forget_loader))
        opt = torch.optim.SGD(model.parameters(), lr=1e-3)
        F.cross_entropy(model(x.double()), y).backward()
        opt.step()
        return model

    run = study.unlearn(to_double)
    assert all(v.dtype == study.original.state_dict[k].dtype for k, v in run.state_dict.items())
    assert np.isfinite(run.metrics["UA"])


def test_integer_buffers_must_keep_their_dtype(study):
    def floaty(model, forget_loader, retain_loader, **hp):
        for name, b in model.named_buffers():
            if not b.is_floating_point():
                b.data = b.data.float()
                return model
        pytest.skip("the digits model has no integer buffer")

    with pytest.raises(MethodError, match="keep the base model's dtypes"):
        study.unlearn(floaty)
