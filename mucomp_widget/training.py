"""The Original/Retrain training recipe, devices, seeding and mixed precision."""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError, check_positive

__all__ = ["Recipe", "resolve_device", "autocast", "train_model", "cache_key", "seeded"]


def _usable_devices() -> list[str]:
    """The device names this torch can run a study on, here and now."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def resolve_device(device="auto") -> torch.device:
    """``"auto"`` picks CUDA (the current device, never a fixed index), then MPS, then CPU.

    Anything else must be a device this torch can use (cpu, cuda[:N], mps); other torch
    device types (meta, xpu, ...) are refused here rather than failing mid-run.
    """
    usable = _usable_devices()
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise ConfigError(f"device must be one of {usable}, got {device!r}.")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("mps" if "mps" in usable else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda", "mps") or (dev.type != "cuda" and dev.index):
        raise ConfigError(f"device {device!r} is not a device name this torch can use; use one of {usable}.")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} was asked for but CUDA is not available; use one of {usable}.")
        n = torch.cuda.device_count()
        if dev.index is not None and dev.index >= n:
            raise ConfigError(f"device {device!r} does not exist: this machine has {n} CUDA device(s); "
                              f"use one of {usable}.")
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
    if dev.type == "mps" and "mps" not in usable:
        raise ConfigError(f"device 'mps' was asked for but Apple MPS is not available; use one of {usable}.")
    return torch.device(dev.type) if dev.type != "cuda" else dev


def autocast(device: torch.device):
    """bfloat16 autocast on CUDA (no loss scaling needed); a no-op elsewhere."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Move a model to ``device``; channels_last on CUDA, where convolutions run faster so."""
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model


@contextlib.contextmanager
def seeded(seed: int, device: torch.device):
    """Seed torch for a block and restore the caller's RNG state afterwards."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


@dataclass(frozen=True)
class Recipe:
    """How the Original and the Retrain model are trained from scratch.

    SGD with Nesterov momentum 0.9 and weight decay 5e-4, a cosine learning-rate schedule
    stepped once per epoch, and the dataset's augmentation (the reference system's
    ``services/train.py`` recipe). Evaluation never augments.
    """

    epochs: int = 20
    lr: float = 0.1
    batch_size: int = 128
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = True
    augment: bool = True

    def __post_init__(self):
        check_positive("epochs", self.epochs, integer=True)
        check_positive("lr", self.lr)
        check_positive("batch_size", self.batch_size, integer=True)
        check_positive("weight_decay", self.weight_decay, allow_zero=True)
        check_positive("momentum", self.momentum, allow_zero=True)

    def to_dict(self) -> dict:
        return asdict(self)


def cache_key(**parts) -> str:
    """A short stable hash of JSON-serialisable parts."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def train_model(model: nn.Module, loader, recipe: Recipe, device: torch.device,
                report=None) -> list[float]:
    """Train ``model`` in place by ``recipe``; returns the mean training loss per epoch.

    ``report(epoch, loss)`` is called after every epoch (it may raise to cancel).
    """
    opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                          weight_decay=recipe.weight_decay, nesterov=recipe.nesterov and recipe.momentum > 0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=recipe.epochs)
    losses = []
    for epoch in range(1, recipe.epochs + 1):
        model.train()
        total, count = torch.zeros((), device=device), 0
        for x, y in loader:
            with autocast(device):
                loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach().float() * len(y)
            count += len(y)
        sched.step()
        losses.append(total.item() / max(count, 1))
        if report is not None:
            report(epoch, losses[-1])
    model.eval()
    return losses
