import io
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

import mucomp_widget as mu
from mucomp_widget.errors import DatasetError
from tests.conftest import tiny_arrays

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def test_digits_is_a_stratified_seeded_split(digits):
    assert (digits.n_train, digits.n_test) == (1437, 360)
    assert digits.input_shape == (1, 8, 8) and digits.num_classes == 10
    train_share = np.bincount(digits.y_train.numpy()) / digits.n_train
    test_share = np.bincount(digits.y_test.numpy()) / digits.n_test
    assert np.abs(train_share - test_share).max() < 0.01
    again = mu.datasets.digits()
    assert torch.equal(again.x_train, digits.x_train)
    assert again.fingerprint() == digits.fingerprint()
    x = digits.normalize(digits.x_train)
    assert abs(float(x.mean())) < 0.05 and abs(float(x.std()) - 1) < 0.05


def test_thumbnail_is_a_png_of_the_sample(digits):
    png = digits.thumbnail(5, size=32)
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.size == (32, 32)
    small = np.asarray(Image.open(io.BytesIO(digits.thumbnail(5))))
    expected = np.round(digits.x_train[5, 0].numpy() / 16 * 255).astype(np.uint8)
    assert np.array_equal(small, expected)
    with pytest.raises(DatasetError, match="out of range"):
        digits.thumbnail(10_000)


def _write_cifar(root, per_batch=4, n_test=6, seed=0):
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for name, n in [*((f"data_batch_{i}", per_batch) for i in range(1, 6)), ("test_batch", n_test)]:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        batches[name] = (data, labels)
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "labels": labels, "data": data,
                         "filenames": [f"{i}.png" for i in range(n)]}, f, protocol=2)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": CIFAR_NAMES, "num_cases_per_batch": per_batch,
                     "num_vis": 3072}, f, protocol=2)
    return batches


def test_cifar10_reads_torchvision_layout(tmp_path, monkeypatch):
    batches = _write_cifar(tmp_path)
    ds = mu.datasets.cifar10(tmp_path)
    assert (ds.n_train, ds.n_test) == (20, 6)
    assert ds.input_shape == (3, 32, 32) and list(ds.class_names) == CIFAR_NAMES
    assert ds.augment == {"pad": 4, "flip": True}
    # The same pixels torchvision itself reads from these files (its md5 check bypassed,
    # since the files are ours).
    import torchvision
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    tv = torchvision.datasets.CIFAR10(str(tmp_path), train=True, download=False)
    assert np.array_equal(ds.x_train.permute(0, 2, 3, 1).numpy(), tv.data)
    assert ds.y_train.tolist() == list(tv.targets)
    assert ds.y_test.tolist() == batches["test_batch"][1]
    # Normalisation uses the reference system's CIFAR-10 mean/std.
    x = ds.normalize(ds.x_train[:1])
    expected = (ds.x_train[0, 0, 0, 0] / 255 - 0.4914) / 0.2023
    assert torch.isclose(x[0, 0, 0, 0], expected.float())


def test_cifar10_missing_folder_says_how_to_download(tmp_path):
    with pytest.raises(DatasetError, match="download=True") as info:
        mu.datasets.cifar10(tmp_path / "nowhere")
    assert "cifar-10-batches-py" in str(info.value)


class _Evil:
    def __reduce__(self):
        import os
        return (os.system, ("touch EVIL_RAN",))


def test_cifar10_refuses_pickled_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write_cifar(tmp_path)
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "wb") as f:
        pickle.dump({"data": _Evil(), "labels": [0]}, f, protocol=2)
    with pytest.raises(DatasetError, match="not a CIFAR-10 python batch"):
        mu.datasets.cifar10(tmp_path)
    assert not (tmp_path / "EVIL_RAN").exists()


def _write_idx(path, array, magic):
    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic))
        for d in array.shape:
            f.write(struct.pack(">I", d))
        f.write(array.astype(np.uint8).tobytes())


def test_fashion_mnist_reads_torchvision_layout(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(1)
    xs = {p: rng.integers(0, 256, size=(n, 28, 28)) for p, n in (("train", 12), ("t10k", 5))}
    ys = {p: rng.integers(0, 10, size=len(x)) for p, x in xs.items()}
    for p in xs:
        _write_idx(raw / f"{p}-images-idx3-ubyte", xs[p], 2051)
        _write_idx(raw / f"{p}-labels-idx1-ubyte", ys[p], 2049)
    ds = mu.datasets.fashion_mnist(tmp_path)
    assert (ds.n_train, ds.n_test) == (12, 5)
    assert ds.input_shape == (1, 28, 28) and ds.class_names[9] == "Ankle boot"
    assert np.array_equal(ds.x_train[:, 0].numpy(), xs["train"])
    assert ds.y_test.tolist() == ys["t10k"].tolist()


def test_fashion_mnist_missing_files_say_how_to_download(tmp_path):
    with pytest.raises(DatasetError, match="download=True"):
        mu.datasets.fashion_mnist(tmp_path)


def test_from_arrays_accepts_channels_last_and_tensors():
    x_tr, y_tr, x_te, y_te = tiny_arrays(shape=(8, 8, 3))
    ds = mu.datasets.from_arrays(torch.from_numpy(x_tr), y_tr, x_te, torch.from_numpy(y_te),
                                 class_names=["a", "b", "c"], name="mine")
    assert ds.input_shape == (3, 8, 8) and ds.class_names == ("a", "b", "c")
    assert ds.value_range == (0.0, 255.0)
    assert np.array_equal(ds.images([0])[0], x_tr[0])
    flat = mu.datasets.from_arrays(np.random.rand(20, 5), np.arange(20) % 2,
                                   np.random.rand(4, 5), np.arange(4) % 2)
    assert flat.input_shape == (5,) and not flat.is_image


@pytest.mark.parametrize("args, match", [
    ((np.zeros((4, 8, 8)), np.zeros(3, int), np.zeros((2, 8, 8)), np.zeros(2, int)), "4 samples but y_train has 3"),
    ((np.zeros((4, 8, 8)), np.zeros(4), np.zeros((2, 8, 8)), np.zeros(2, int)), "integer class labels"),
    ((np.zeros((4, 8, 8)), np.zeros(4, int), np.zeros((2, 7, 7)), np.zeros(2, int)), "must match"),
    ((np.zeros((4, 2, 2, 2, 2)), np.zeros(4, int), np.zeros((2, 8)), np.zeros(2, int)), "expected"),
])
def test_from_arrays_rejects_inconsistent_input(args, match):
    with pytest.raises(DatasetError, match=match):
        mu.datasets.from_arrays(*args)


def test_from_arrays_needs_enough_class_names():
    x_tr, y_tr, x_te, y_te = tiny_arrays()
    with pytest.raises(DatasetError, match="3 names"):
        mu.datasets.from_arrays(x_tr, y_tr, x_te, y_te, class_names=["a", "b"])
