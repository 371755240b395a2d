"""The only place evaluation touches a model: one forward pass over train and test.

The pass yields the logits of every sample, the penultimate features of a probe subset
(through a forward hook) and, for layer-wise similarity, the Gram matrix of every block's
output on a few small sample sets. Each of those sets is forwarded as its own batch, so
its Gram is formed while the activations exist and no sample is forwarded twice: a model
costs exactly one forward per training and test image. Every metric is then a function of
these arrays.
"""

from __future__ import annotations

import io
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..loaders import DeviceData
from ..models import FeatureHook, find_module
from ..training import autocast


@dataclass
class Outputs:
    """What one inference pass keeps of a model.

    ``grams[(subset, layer)]`` is the ``n x n`` Gram matrix of ``layer``'s output on the
    samples of ``subset``; ``forwarded`` counts the images pushed through the model.
    """

    train_logits: np.ndarray
    test_logits: np.ndarray
    probe_ids: np.ndarray
    probe_features: np.ndarray
    grams: dict = field(default_factory=dict)
    forwarded: int = 0

    def to_bytes(self) -> bytes:
        arrays = {"train_logits": self.train_logits, "test_logits": self.test_logits,
                  "probe_ids": self.probe_ids, "probe_features": self.probe_features,
                  "forwarded": np.array(self.forwarded)}
        for (subset, layer), g in self.grams.items():
            arrays[f"gram|{subset}|{layer}"] = g
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Outputs":
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            grams = {tuple(k.split("|")[1:]): z[k] for k in z.files if k.startswith("gram|")}
            return cls(z["train_logits"], z["test_logits"], z["probe_ids"], z["probe_features"],
                       grams, int(z["forwarded"]))


class _GramHook:
    """Turns a block's output into its Gram matrix as soon as it is computed.

    The product is taken in float32 with autocast off: the hook runs inside the forward's
    autocast (bfloat16 on CUDA), which would otherwise round the Gram to bfloat16 (and numpy
    has no bfloat16).
    """

    def __init__(self):
        self.gram = None

    def __call__(self, _module, _inputs, output):
        o = output.detach().flatten(1).float()
        with torch.autocast(device_type=o.device.type, enabled=False):
            self.gram = (o @ o.T).cpu().numpy()


@torch.no_grad()
def infer(model: nn.Module, data: DeviceData, *, probe_ids=None, feature_layer: str | None = None,
          gram_sets: dict | None = None, blocks=(), batch_size: int = 1024) -> Outputs:
    """Forward every training and test sample once, without augmentation, in eval mode.

    ``gram_sets`` maps a name to ``(split, ids)``; for each, the Grams of the outputs of
    ``blocks`` (submodule names) are kept. Sample sets must not overlap within a split.
    """
    model.eval()
    probe_ids = np.zeros(0, np.int64) if probe_ids is None else np.asarray(probe_ids, np.int64)
    gram_sets = gram_sets or {}
    grams, logits, forwarded = {}, {}, 0
    features = None
    for split in ("train", "test"):
        n = len(data.labels(split))
        own = [(name, np.asarray(ids, np.int64)) for name, (s, ids) in gram_sets.items()
               if s == split and len(ids)]
        taken = np.concatenate([ids for _, ids in own]) if own else np.zeros(0, np.int64)
        if len(np.unique(taken)) != len(taken):
            raise ValueError(f"gram sample sets of the {split} split overlap")
        rest = np.setdiff1d(np.arange(n), taken)
        batches = own + [(None, rest[i:i + batch_size]) for i in range(0, len(rest), batch_size)]
        out_logits = None
        want_features = split == "train" and feature_layer is not None and len(probe_ids) > 0
        if want_features:
            row_of = np.full(n, -1)
            row_of[probe_ids] = np.arange(len(probe_ids))
        with ExitStack() as stack:
            hook = stack.enter_context(FeatureHook(model, feature_layer)) if want_features else None
            for name, ids in batches:
                gram_hooks = {}
                handles = []
                if name is not None:
                    for layer in blocks:
                        gram_hooks[layer] = _GramHook()
                        handles.append(find_module(model, layer).register_forward_hook(gram_hooks[layer]))
                try:
                    x, _ = data.batch(split, torch.from_numpy(ids))
                    with autocast(data.device):
                        out = model(x).float()
                finally:
                    for h in handles:
                        h.remove()
                forwarded += len(ids)
                if out_logits is None:
                    out_logits = np.empty((n, out.shape[1]), dtype=np.float32)
                out_logits[ids] = out.cpu().numpy()
                for layer, gh in gram_hooks.items():
                    grams[(name, layer)] = gh.gram
                if want_features:
                    rows = row_of[ids]
                    sel = rows >= 0
                    if sel.any():
                        f = hook.output[torch.from_numpy(np.flatnonzero(sel)).to(x.device)].float().cpu().numpy()
                        if features is None:
                            features = np.empty((len(probe_ids), f.shape[1]), dtype=np.float32)
                        features[rows[sel]] = f
        logits[split] = out_logits
    if features is None:
        features = np.zeros((len(probe_ids), 0), dtype=np.float32)
    return Outputs(logits["train"], logits["test"], probe_ids, features, grams, forwarded)


@torch.no_grad()
def logits_of(model: nn.Module, data: DeviceData, split: str, ids, batch_size: int = 1024) -> np.ndarray:
    """Logits of the samples ``ids`` of ``split`` in eval mode; the model's mode is restored."""
    was_training = model.training
    model.eval()
    try:
        chunks = []
        ids = np.asarray(ids, np.int64)
        for i in range(0, len(ids), batch_size):
            x, _ = data.batch(split, torch.from_numpy(ids[i:i + batch_size]))
            with autocast(data.device):
                chunks.append(model(x).float().cpu().numpy())
        return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)
    finally:
        model.train(was_training)
