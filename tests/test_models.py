import pickle

import pytest
import torch
from torch import nn

from mucomp_widget.errors import CheckpointError, ConfigError
from mucomp_widget.models import (
    FeatureHook, load_state_dict, read_state_dict, resnet18, resolve_architecture, small_cnn,
)


def reference_resnet18():
    """The reference system's get_resnet18(), built the way its models/resnet.py does."""
    import torchvision
    net = torchvision.models.resnet18(weights=None)
    net.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    net.fc = nn.Linear(512, 10)
    return net


def test_reference_checkpoint_loads_strictly_into_resnet18(tmp_path):
    ref = reference_resnet18()
    path = tmp_path / "0000.pth"
    torch.save(ref.state_dict(), path)
    ours = load_state_dict(resnet18(10), read_state_dict(path), arch_name="resnet18", source=str(path))
    x = torch.randn(2, 3, 32, 32)
    ref.eval(), ours.eval()
    with torch.no_grad():
        assert torch.equal(ref(x), ours(x))
    assert ours.conv1.weight.shape == (64, 3, 3, 3) and isinstance(ours.maxpool, nn.Identity)


def test_wrapped_and_dataparallel_checkpoints_are_unwrapped(tmp_path):
    sd = reference_resnet18().state_dict()
    path = tmp_path / "wrapped.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3}, path)
    got = read_state_dict(path)
    assert set(got) == set(sd)


def test_checkpoint_of_another_architecture_names_the_keys(tmp_path):
    sd = reference_resnet18().state_dict()
    sd["fc.weight"] = torch.zeros(100, 512)
    sd.pop("layer4.1.bn2.bias")
    sd["head.extra"] = torch.zeros(1)
    path = tmp_path / "other.pth"
    torch.save(sd, path)
    with pytest.raises(CheckpointError) as info:
        load_state_dict(resnet18(10), read_state_dict(path), arch_name="resnet18", source=str(path))
    msg = str(info.value)
    assert "layer4.1.bn2.bias" in msg and "head.extra" in msg
    assert "fc.weight (100, 512) vs (10, 512)" in msg


class Marker:
    def __reduce__(self):
        import os
        return (os.system, ("touch PICKLE_RAN",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickled_objects_are_refused_without_running_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    whole = tmp_path / "whole.pth"
    torch.save(small_cnn(10), whole)  # a whole module, not a state dict
    with pytest.raises(CheckpointError, match="not a plain state dict.*state_dict"):
        read_state_dict(whole)
    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as f:
        pickle.dump({"weight": Marker()}, f)
    with pytest.raises(CheckpointError):
        read_state_dict(evil)
    assert not (tmp_path / "PICKLE_RAN").exists()


def test_non_state_dicts_and_missing_files_are_refused(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(CheckpointError, match="not a state dict"):
        read_state_dict(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        read_state_dict(tmp_path / "missing.pt")


def test_safetensors_checkpoints_load(tmp_path):
    from safetensors.torch import save_file

    sd = small_cnn(10).state_dict()
    path = tmp_path / "model.safetensors"
    save_file(sd, str(path))
    got = read_state_dict(path)
    assert set(got) == set(sd) and all(torch.equal(got[k], v) for k, v in sd.items())


@pytest.mark.parametrize("content", [
    "half", b"", b"not a safetensors file at all",
    (2 ** 62).to_bytes(8, "little") + b"{}",  # a header length far beyond the file
    (20).to_bytes(8, "little") + b'{"a": 1}' + b" " * 12,  # a header that is not tensors
])
def test_damaged_safetensors_raise_checkpoint_errors(tmp_path, content):
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file(small_cnn(10).state_dict(), str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if content == "half" else content)
    with pytest.raises(CheckpointError, match="safetensors"):
        read_state_dict(path)


@pytest.mark.parametrize("source, match", [
    ("a\0b.pt", "does not exist"), (".", "is not a file"), (42, "file path, a state dict or a module"),
    (None, "file path"), ([torch.zeros(1)], "file path"),
])
def test_odd_checkpoint_sources_are_refused(source, match):
    with pytest.raises(CheckpointError, match=match):
        read_state_dict(source)


def test_auto_architecture_follows_the_data():
    assert resolve_architecture("auto", (1, 8, 8), 10).name == "small_cnn"
    assert resolve_architecture("auto", (1, 28, 28), 10).name == "small_cnn"
    assert resolve_architecture("auto", (3, 32, 32), 10).name == "resnet18"
    assert resolve_architecture("auto", (20,), 3).name == "mlp"
    net = resolve_architecture("auto", (1, 28, 28), 10).build()
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ConfigError, match="unknown architecture 'vgg'.*small_cnn"):
        resolve_architecture("vgg", (1, 8, 8), 10)


def test_feature_hook_captures_penultimate_features():
    net = small_cnn(10).eval()
    with FeatureHook(net, "avgpool") as hook:
        net(torch.randn(5, 1, 8, 8))
    assert hook.output.shape == (5, 64)
    assert not net.avgpool._forward_hooks


def test_custom_factory_needs_a_feature_layer_that_exists():
    def factory():
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
    with pytest.raises(ConfigError, match="feature_layer"):
        resolve_architecture(factory, (1, 8, 8), 10)
    with pytest.raises(ConfigError, match=r"no submodule 'body'.*\['0', '1', '2', '3'\]"):
        resolve_architecture(factory, (1, 8, 8), 10, feature_layer="body")
    arch = resolve_architecture(factory, (1, 8, 8), 10, feature_layer="2")
    assert arch.name == "custom:test_custom_factory_needs_a_feature_layer_that_exists.<locals>.factory"
    with pytest.raises(ConfigError, match="instance"):
        resolve_architecture(factory(), (1, 8, 8), 10)
