import numpy as np
import pytest
import torch

import mucomp_widget as mu
from mucomp_widget.errors import ConfigError
from mucomp_widget.loaders import DeviceData, TensorLoader, _augment
from mucomp_widget.training import Recipe, resolve_device
from tests.test_datasets import _write_cifar


def test_auto_device_prefers_an_accelerator():
    dev = resolve_device("auto")
    if torch.cuda.is_available():
        assert dev.type == "cuda" and dev.index == torch.cuda.current_device()
    else:
        assert dev.type in ("cpu", "mps")
    assert resolve_device("cpu") == torch.device("cpu")


def test_recipe_validates_its_fields():
    with pytest.raises(ConfigError, match="lr must be > 0"):
        Recipe(lr=0)
    with pytest.raises(ConfigError, match="batch_size must be an integer"):
        Recipe(batch_size=1.5)


def test_loader_batches_cover_the_indices_once(digits):
    data = DeviceData(digits, torch.device("cpu"))
    ids = np.arange(0, 300, 3)
    loader = TensorLoader(data, ids, 32, shuffle=True, return_ids=True,
                          generator=torch.Generator().manual_seed(0))
    seen = torch.cat([b[2] for b in loader])
    assert len(loader) == 4 and sorted(seen.tolist()) == ids.tolist()
    x, y, b = next(iter(loader))
    assert torch.equal(y, digits.y_train[b]) and torch.allclose(x, digits.normalize(digits.x_train[b]))


def test_augmentation_crops_and_flips_like_torchvision():
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4) / 100 + 0.01
    g = torch.Generator().manual_seed(0)
    out = _augment(x, {"pad": 1, "flip": True}, g)
    assert out.shape == x.shape
    for i in range(2):
        # Every output is a shifted (and maybe mirrored) window of the zero-padded input.
        padded = torch.nn.functional.pad(x[i], (1, 1, 1, 1))
        windows = [padded[:, r:r + 4, c:c + 4] for r in range(3) for c in range(3)]
        windows += [w.flip(2) for w in windows]
        assert any(torch.equal(out[i], w) for w in windows)
    again = _augment(x, {"pad": 1, "flip": True}, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_cifar_sized_study_runs_resnet18_end_to_end(tmp_path):
    """The CIFAR-10 path on a CPU: tiny local files, resnet18, augmentation, one epoch."""
    _write_cifar(tmp_path, per_batch=8, n_test=10)
    ds = mu.datasets.cifar10(tmp_path)
    study = mu.Study(ds, mu.forget.random(count=6), workdir=tmp_path / "w", progress=False,
                     recipe={"epochs": 1, "batch_size": 16})
    assert study.arch.name == "resnet18"
    run = study.unlearn("ft", epochs=1, batch_size=16)
    assert run.outputs.probe_features.shape == (40, 512)
    assert set(study.results["id"]) == {"original", "retrain", "ft-1"}
