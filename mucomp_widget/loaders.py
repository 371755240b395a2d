"""Mini-batches straight from in-memory tensors, normalised and augmented on the device.

The data of a split is copied to the device once; each batch is an index into it. On a
GPU this removes the per-sample Python transforms of a torch DataLoader (the reference
system's loaders run with ``num_workers=0``), and on a CPU it costs nothing extra.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .datasets import Dataset
from .training import device_policy, to_device

__all__ = ["DeviceData", "TensorLoader"]


class DeviceData:
    """One dataset's raw tensors, on one device.

    Copies go through :func:`~mucomp_widget.training.to_device`: on CUDA from pinned memory
    without blocking the host; batches are channels_last where the device policy says so.
    """

    def __init__(self, dataset: Dataset, device: torch.device):
        self.dataset = dataset
        self.device = torch.device(device)
        self._x = {s: to_device(dataset.split(s)[0], self.device) for s in ("train", "test")}
        self._y = {s: to_device(dataset.split(s)[1], self.device) for s in ("train", "test")}

    def labels(self, split: str) -> torch.Tensor:
        return self._y[split]

    def batch(self, split: str, idx: torch.Tensor, augment: dict | None = None,
              generator: torch.Generator | None = None):
        """Normalised inputs and labels of the samples ``idx`` (a CPU index tensor)."""
        dev_idx = to_device(idx, self.device)
        x = self.dataset.to_unit(self._x[split][dev_idx])
        if augment and x.dim() == 4:
            x = _augment(x, augment, generator)
        x = self.dataset.standardize(x)
        if device_policy(self.device).channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, self._y[split][dev_idx]


def _augment(x: torch.Tensor, spec: dict, generator: torch.Generator | None) -> torch.Tensor:
    """Random crop after zero padding and random horizontal flip, on [0, 1] pixels.

    The same augmentation the reference system applies with torchvision's
    ``RandomCrop(size, padding)`` and ``RandomHorizontalFlip``, vectorised over the batch.
    """
    n, c, h, w = x.shape
    pad = int(spec.get("pad", 0))
    if pad:
        xp = F.pad(x, (pad, pad, pad, pad))
        oy = to_device(torch.randint(0, 2 * pad + 1, (n,), generator=generator), x.device)
        ox = to_device(torch.randint(0, 2 * pad + 1, (n,), generator=generator), x.device)
        rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        chans = torch.arange(c, device=x.device)[None, :, None, None]
        x = xp[batch, chans, rows, cols]
    if spec.get("flip"):
        flip = to_device(torch.rand(n, generator=generator) < 0.5, x.device)
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x


class TensorLoader:
    """Iterable of ``(x, y)`` batches (``(x, y, ids)`` with ``return_ids=True``).

    ``indices`` are sample ids of ``split``. Shuffling and augmentation draw from
    ``generator`` (a CPU ``torch.Generator``), so a seed gives the same batches on
    every device. Batches are already on ``device``; ``x.to(device)`` is a no-op.
    """

    def __init__(self, data: DeviceData, indices, batch_size: int, *, split: str = "train",
                 shuffle: bool = False, augment: dict | None = None,
                 generator: torch.Generator | None = None, return_ids: bool = False):
        self.data = data
        self.indices = np.asarray(indices, dtype=np.int64)
        self.batch_size = int(batch_size)
        self.split = split
        self.shuffle = shuffle
        self.augment = augment
        self.generator = generator
        self.return_ids = return_ids

    @property
    def device(self) -> torch.device:
        return self.data.device

    @property
    def num_classes(self) -> int:
        return self.data.dataset.num_classes

    def __len__(self) -> int:
        return -(-len(self.indices) // self.batch_size)

    def __iter__(self):
        idx = torch.from_numpy(self.indices)
        if self.shuffle:
            idx = idx[torch.randperm(len(idx), generator=self.generator)]
        for start in range(0, len(idx), self.batch_size):
            b = idx[start:start + self.batch_size]
            x, y = self.data.batch(self.split, b, self.augment, self.generator)
            yield (x, y, b.to(self.device)) if self.return_ids else (x, y)

    def replace(self, **changes) -> "TensorLoader":
        """A copy with some settings changed, e.g. ``replace(indices=..., return_ids=True)``."""
        kw = dict(indices=self.indices, batch_size=self.batch_size, split=self.split,
                  shuffle=self.shuffle, augment=self.augment, generator=self.generator,
                  return_ids=self.return_ids)
        kw.update(changes)
        return TensorLoader(self.data, **kw)

    def __repr__(self) -> str:
        return (f"TensorLoader({len(self.indices)} {self.split} samples, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle})")
