"""The only place evaluation touches a model: one forward pass over train and test.

The pass yields the logits of every sample and, through a forward hook, the penultimate
features of a probe subset of the training set, in the same pass. Every metric is then a
function of these arrays.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..loaders import DeviceData, TensorLoader
from ..models import FeatureHook
from ..training import autocast


@dataclass
class Outputs:
    """Logits of every training and test sample, features of the probe samples."""

    train_logits: np.ndarray
    test_logits: np.ndarray
    probe_ids: np.ndarray
    probe_features: np.ndarray

    @property
    def images_forwarded(self) -> int:
        return len(self.train_logits) + len(self.test_logits)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, **{k: getattr(self, k) for k in self.__dataclass_fields__})
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Outputs":
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return cls(**{k: z[k] for k in cls.__dataclass_fields__})


@torch.no_grad()
def infer(model: nn.Module, data: DeviceData, *, probe_ids=None, feature_layer: str | None = None,
          batch_size: int = 1024) -> Outputs:
    """Forward every training and test sample once, without augmentation, in eval mode."""
    model.eval()
    probe_ids = np.zeros(0, dtype=np.int64) if probe_ids is None else np.asarray(probe_ids, np.int64)
    logits, features = {}, None
    for split in ("train", "test"):
        n = len(data.labels(split))
        loader = TensorLoader(data, np.arange(n), batch_size, split=split)
        chunks, feats = [], []
        want = split == "train" and feature_layer is not None and len(probe_ids) > 0
        hook = FeatureHook(model, feature_layer) if want else None
        if want:
            is_probe = np.zeros(n, dtype=bool)
            is_probe[probe_ids] = True
            start = 0
        with hook if want else contextlib.nullcontext():
            for x, _y in loader:
                with autocast(data.device):
                    out = model(x)
                chunks.append(out.float().cpu())
                if want:
                    rows = np.flatnonzero(is_probe[start:start + len(x)])
                    feats.append(hook.output[torch.from_numpy(rows).to(x.device)].float().cpu())
                    start += len(x)
        logits[split] = torch.cat(chunks).numpy()
        if want:
            features = torch.cat(feats).numpy()
    if features is None:
        features = np.zeros((len(probe_ids), 0), dtype=np.float32)
    # Rows came out in id order; report them in the order probe_ids asked for.
    order = np.searchsorted(np.sort(probe_ids), probe_ids)
    return Outputs(logits["train"], logits["test"], probe_ids, features[order])
