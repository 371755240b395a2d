"""The reproducibility manifest: what study.save records, and what Study.load says when the
environment or a method's code has changed since."""

from __future__ import annotations

import hashlib
import json
import warnings
from importlib import metadata

import numpy as np
import pytest
import torch

import mucomp_widget as mu
from mucomp_widget import manifest
from mucomp_widget.cli import main
from mucomp_widget.manifest import EnvironmentChangedWarning


@pytest.fixture
def saved(make_study, tmp_path):
    study = make_study()
    study.unlearn("ga", seeds=[0, 1])
    return study, study.save(tmp_path / "st")


def test_save_writes_what_produced_the_numbers(saved):
    study, root = saved
    m = json.loads((root / "manifest.json").read_text())
    env = m["environment"]
    assert env["packages"]["torch"] == torch.__version__
    assert env["packages"]["numpy"] == np.__version__
    assert env["packages"]["scikit-learn"] == metadata.version("scikit-learn")
    assert env["packages"]["mucomp_widget"] == mu.__version__
    assert set(manifest.PACKAGES) == set(env["packages"])
    assert env["torch_threads"] == torch.get_num_threads() and env["device"]["type"] == "cpu"
    assert env["device"]["name"] and env["python"].count(".") == 2
    assert m["dataset"]["fingerprint"] == study.dataset.fingerprint()
    # the index hashes are those of the split, and they tell forget from retain
    f = study.split.forget_train
    assert m["indices"]["forget_train"] == {
        "n": len(f), "sha256": hashlib.sha256(np.sort(f).astype("<i8").tobytes()).hexdigest()}
    assert len({v["sha256"] for v in m["indices"].values()}) == 4
    runs = {r["id"]: r for r in m["runs"]}
    assert list(runs) == [r.id for r in study.runs]
    ga = [r for r in study.runs if r.method == "ga"]
    for run in ga:
        rec = runs[run.id]
        assert rec["hyperparameters"] == run.hyperparameters and rec["seed"] == run.seed
        assert rec["group"] == run.group and rec["group"] is not None
        code = rec["provenance"]["code"]
        assert code["module"] == "mucomp_widget.methods.ga" and len(code["sha256"]) == 16
        assert rec["provenance"]["environment"] == env
    assert {runs[r.id]["seed"] for r in ga} == {0, 1}
    assert runs["retrain"]["provenance"]["code"]["name"] == "train_model"
    # trained by this session's code (the test cache starts empty): where it was trained too
    assert runs["original"]["provenance"]["trained_in"]["packages"] == env["packages"]


def test_the_manifest_round_trips(saved, tmp_path):
    study, root = saved
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same environment, same code: nothing to say
        loaded = mu.Study.load(root, workdir=study.workdir, progress=False)
    for a, b in zip(study.runs, loaded.runs):
        assert a.provenance == b.provenance
    again = json.loads((loaded.save(tmp_path / "again") / "manifest.json").read_text())
    first = json.loads((root / "manifest.json").read_text())
    assert again == first


def test_load_names_what_changed(saved, monkeypatch):
    study, root = saved
    real = manifest.environment

    def elsewhere(device):
        env = real(device)
        env["packages"]["torch"] = "9.9.9"
        env["torch_threads"] = env["torch_threads"] + 3
        return env

    monkeypatch.setattr(manifest, "environment", elsewhere)
    with pytest.warns(EnvironmentChangedWarning) as caught:
        mu.Study.load(root, workdir=study.workdir, progress=False)
    text = str(caught[0].message)
    assert f"torch: {torch.__version__} -> 9.9.9" in text
    assert f"torch threads: {torch.get_num_threads()} -> {torch.get_num_threads() + 3}" in text
    assert "ga-1" in text and "original" in text and "numpy" not in text


def test_load_names_an_edited_method(make_study, tmp_path):
    @mu.register_method("tweak", defaults={"epochs": 1, "lr": 0.01})
    def tweak(model, forget_loader, retain_loader, *, epochs, lr):
        return model

    study = make_study()
    run = study.unlearn("tweak")
    root = study.save(tmp_path / "st")

    @mu.register_method("tweak", defaults={"epochs": 1, "lr": 0.01}, overwrite=True)
    def tweak(model, forget_loader, retain_loader, *, epochs, lr):  # noqa: F811
        model.zero_grad()
        return model

    with pytest.warns(EnvironmentChangedWarning, match=rf"the code of method 'tweak'.*{run.id}"):
        mu.Study.load(root, workdir=study.workdir, progress=False)


def test_studies_saved_before_the_manifest_load_quietly(saved):
    study, root = saved
    meta = json.loads((root / "study.json").read_text())
    for rec in meta["runs"]:
        del rec["provenance"]
    (root / "study.json").write_text(json.dumps(meta))
    (root / "manifest.json").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = mu.Study.load(root, workdir=study.workdir, progress=False)
    assert all(r.provenance is None for r in loaded.runs)


def test_bad_provenance_is_refused(saved):
    study, root = saved
    meta = json.loads((root / "study.json").read_text())
    meta["runs"][0]["provenance"] = "made on my laptop"
    (root / "study.json").write_text(json.dumps(meta))
    with pytest.raises(mu.MucompError, match="provenance"):
        mu.Study.load(root, workdir=study.workdir, progress=False)


def test_mucomp_run_writes_the_manifest(tmp_path, workdir, capsys):
    assert main(["run", "--methods", "rl", "--out", str(tmp_path), "--workdir", str(workdir),
                 "--no-progress"]) == 0
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m == json.loads((tmp_path / "study" / "manifest.json").read_text())
    assert [r["id"] for r in m["runs"]] == ["original", "retrain", "rl-1"]
