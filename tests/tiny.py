"""Tiny data, loaders and a Study-like call of a method, shared by the tests that compare a
method's update with a transcription of its paper's or the reference system's code."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import mucomp_widget as mu
from mucomp_widget.loaders import DeviceData, TensorLoader
from mucomp_widget.methods.registry import RunContext, get_method, invoke, resolve_hyperparameters

CLASSES, FORGET = 4, 1


def tiny_data(seed: int, n_forget: int = 26, n_retain: int = 40) -> DeviceData:
    """Feature vectors of 4 classes; the first n_forget training samples are class 1."""
    rng = np.random.default_rng(seed)
    y_retain = rng.choice([0, 2, 3], n_retain)
    y = np.concatenate([np.full(n_forget, FORGET), y_retain])
    x = rng.normal(size=(len(y), 6)).astype(np.float32) + y[:, None].astype(np.float32)
    ds = mu.datasets.from_arrays(x, y, x[:8], y[:8], name="tiny")
    return DeviceData(ds, torch.device("cpu"))


def loaders(data: DeviceData, batch_size: int, seed: int, n_forget: int = 26,
            forget_batch_size: int | None = None):
    """Shuffled forget and retain loaders sharing one seeded generator, as a Study makes them."""
    n = len(data.labels("train"))
    g = torch.Generator().manual_seed(seed)
    return (TensorLoader(data, np.arange(n_forget), forget_batch_size or batch_size, shuffle=True,
                         generator=g),
            TensorLoader(data, np.arange(n_forget, n), batch_size, shuffle=True, generator=g))


def ours(name: str, model: nn.Module, forget, retain, seed: int, forget_classes=(FORGET,),
         **user) -> nn.Module:
    """The method as a Study runs it: resolved and checked hyperparameters, then invoke."""
    spec = get_method(name)
    hp = resolve_hyperparameters(spec, {}, user)
    ctx = RunContext(device=torch.device("cpu"), seed=seed, num_classes=CLASSES,
                     forget_classes=forget_classes, epochs=hp["epochs"])
    return invoke(spec, model, forget, retain, hp, ctx).model


def assert_same_model(a: nn.Module, b: nn.Module, start: nn.Module):
    """Same weights and BatchNorm statistics; and training moved them (the test has teeth)."""
    sa, sb, s0 = a.state_dict(), b.state_dict(), start.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=1e-4, atol=1e-5, msg=lambda m: f"{k}: {m}")
    moved = max(float((sa[k].float() - s0[k].float()).abs().max()) for k in sa)
    assert moved > 1e-3
