import math

import numpy as np

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import mucomp_widget as mu
from mucomp_widget.errors import CheckpointError, ConfigError, MethodError, StudyError


@pytest.fixture
def study(make_study):
    s = make_study()
    s.prepare()
    return s


def test_registered_custom_method_runs_like_a_builtin(study):
    calls = {}

    @mu.register_method("test_negative_ft", defaults={"epochs": 2, "lr": 0.05, "weight": 0.5})
    def negative_ft(model, forget_loader, retain_loader, *, epochs, lr, weight, device, ctx):
        calls.update(device=device, weight=weight, n_forget=len(forget_loader.indices))
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        for epoch in range(1, epochs + 1):
            model.train()
            for (xf, yf), (xr, yr) in zip(forget_loader, retain_loader):
                loss = F.cross_entropy(model(xr), yr) - weight * F.cross_entropy(model(xf), yf)
                opt.zero_grad()
                loss.backward()
                opt.step()
            ctx.report(epoch, loss.item())
        return model

    assert "test_negative_ft" in mu.methods.available()
    run = study.unlearn("test_negative_ft", weight=0.25)
    assert run.id == "test_negative_ft-1" and run.type == "Unlearned"
    assert run.hyperparameters == {"epochs": 2, "lr": 0.05, "batch_size": 128, "weight": 0.25}
    assert calls == {"device": study.device, "weight": 0.25, "n_forget": len(study.split.forget_train)}
    assert len(run.losses) == 2
    row = study.results.set_index("id").loc[run.id]
    assert row["method"] == "test_negative_ft" and row["base"] == "original"


def test_plain_callable_with_kwargs_changes_model_in_place(study):
    seen = {}

    def shrink_head(model, forget_loader, retain_loader, **hp):
        seen.update(hp)
        with torch.no_grad():
            model.fc.weight.mul_(hp["factor"])
        # returns None: the study takes the model it handed over

    run = study.unlearn(shrink_head, factor=0.5, epochs=1)
    assert run.method == "shrink_head"
    assert {"epochs", "lr", "batch_size", "device", "seed", "num_classes", "forget_classes", "ctx",
            "factor"} <= set(seen)
    assert torch.allclose(run.state_dict["fc.weight"], study.original.state_dict["fc.weight"] * 0.5)
    # The base model itself was not touched.
    assert study.original.state_dict["fc.weight"].abs().sum() > run.state_dict["fc.weight"].abs().sum()


def _returns_int(model, forget_loader, retain_loader, **hp):
    return 3


def _widens_head(model, forget_loader, retain_loader, **hp):
    model.fc = nn.Linear(model.fc.in_features, 11)
    return model


def _poisons(model, forget_loader, retain_loader, **hp):
    with torch.no_grad():
        model.fc.bias.fill_(math.nan)
    return model


def _crashes(model, forget_loader, retain_loader, **hp):
    raise ZeroDivisionError("boom")


@pytest.mark.parametrize("fn, match", [
    (_returns_int, "'_returns_int' returned int.*nn.Module"),
    (_widens_head, "'_widens_head' changed the architecture.*fc.weight"),
    (_poisons, "'_poisons' produced non-finite weights.*fc.bias"),
    (_crashes, "'_crashes' raised ZeroDivisionError: boom"),
])
def test_failing_custom_methods_leave_the_study_intact(study, fn, match):
    ok = study.unlearn("ft", epochs=1)
    before = study.results.copy()
    with pytest.raises(MethodError, match=match):
        study.unlearn(fn)
    after = study.results
    assert after.equals(before)
    row = before.set_index("id").loc[ok.id]
    assert all(np.isclose(v, row[k], equal_nan=True) for k, v in study[ok.id].metrics.items())
    again = study.unlearn("ft", epochs=1)
    assert again.id != ok.id


def test_register_method_validates_its_arguments():
    with pytest.raises(ConfigError, match="not allowed"):
        mu.register_method("bad name")
    with pytest.raises(ConfigError, match="lr must be a number > 0"):
        mu.register_method("x_method", defaults={"lr": -1})
    with pytest.raises(ConfigError, match="built-in"):
        mu.register_method("ft")(lambda *a, **k: None)


def test_add_checkpoint_evaluates_outside_work(study, tmp_path):
    path = tmp_path / "unlearned.pth"
    src = study.unlearn("rl")
    torch.save(src.state_dict, path)
    run = study.add_checkpoint(path, name="from-elsewhere")
    assert run.type == "Uploaded" and run.source == str(path)
    assert run.metrics == src.metrics
    with pytest.raises(StudyError, match="already exists"):
        study.add_checkpoint(path, name="from-elsewhere")
    auto = study.add_checkpoint(path)
    assert auto.id == "upload-1"
    torch.save(src.model, tmp_path / "pickled.pth")
    with pytest.raises(CheckpointError, match="pickled Python objects"):
        study.add_checkpoint(tmp_path / "pickled.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth is not a checkpoint this reader knows") as err:
        study.add_checkpoint(tmp_path / "junk.pth")
    assert "pickled" not in str(err.value)
    wrong = {k: v for k, v in src.state_dict.items() if not k.startswith("fc.")}
    torch.save(wrong, tmp_path / "headless.pth")
    with pytest.raises(CheckpointError, match="missing keys: fc.weight, fc.bias"):
        study.add_checkpoint(tmp_path / "headless.pth")


def test_unlearn_from_an_earlier_run(study):
    first = study.unlearn("ga")
    second = study.unlearn("ft", base=first.id, epochs=2)
    assert second.base == first.id
    with pytest.raises(StudyError, match="no run 'nope'"):
        study.unlearn("ft", base="nope")
