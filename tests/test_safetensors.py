"""``.safetensors`` checkpoints through the Study's entry points: load_original, load_retrain and
add_checkpoint take them as they take torch.save files, and a damaged one is a CheckpointError
that names the file (read_state_dict itself is covered in test_models.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mucomp_widget.errors import CheckpointError, MucompError


def save(state_dict, path):
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state_dict.items()}, str(path))
    return path


def assert_same_predictions(got, want):
    """Same weights, and the same logits (so the same predictions) on every train and test sample."""
    sg, sw = got.state_dict, want.state_dict
    assert sg.keys() == sw.keys() and all(torch.equal(sg[k], sw[k]) for k in sw)
    for split in ("train_logits", "test_logits"):
        a, b = getattr(got.outputs, split), getattr(want.outputs, split)
        np.testing.assert_array_equal(a.argmax(1), b.argmax(1), err_msg=split)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=split)


def test_safetensors_load_through_every_entry_point(make_study, tmp_path):
    source = make_study()  # its Original and Retrain come from the session's model cache
    unlearned = source.unlearn("ft", epochs=1)
    o = save(source.original.state_dict, tmp_path / "original.safetensors")
    r = save(source.retrain.state_dict, tmp_path / "retrain.safetensors")
    u = save(unlearned.state_dict, tmp_path / "Unlearned.SafeTensors")  # the suffix in any case

    study = make_study(workdir=tmp_path / "nothing-cached")
    loaded = {"original": study.load_original(o), "retrain": study.load_retrain(r),
              "upload": study.add_checkpoint(u, name="from safetensors")}
    assert [run.id for run in study.runs] == ["original", "retrain", "from safetensors"]
    for (key, run), want, path in zip(loaded.items(), (source.original, source.retrain, unlearned), (o, r, u)):
        assert run.source == str(path), key
        assert_same_predictions(run, want)
        assert run.metrics["UA"] == want.metrics["UA"], key


@pytest.mark.parametrize("entry", ["load_original", "load_retrain", "add_checkpoint"])
def test_a_damaged_safetensors_file_names_itself(make_study, tmp_path, entry):
    study = make_study(workdir=tmp_path / "nothing-cached")
    path = save(study.arch.build().state_dict(), tmp_path / f"damaged-{entry}.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="safetensors") as err:
        getattr(study, entry)(path)
    assert isinstance(err.value, MucompError) and str(path) in str(err.value)
    assert [run.id for run in study.runs if run.id not in ("original", "retrain")] == []


def test_safetensors_of_another_architecture_name_the_file_and_the_keys(make_study, tmp_path):
    study = make_study(workdir=tmp_path / "nothing-cached")
    sd = study.arch.build().state_dict()
    last = [k for k in sd if k.endswith("weight")][-1]
    path = save({**sd, last: torch.zeros(3, *sd[last].shape[1:])}, tmp_path / "other.safetensors")
    with pytest.raises(CheckpointError, match="different architecture") as err:
        study.add_checkpoint(path)
    assert str(path) in str(err.value) and last in str(err.value)
