"""The Original/Retrain training recipe, devices, seeding and mixed precision.

Every CUDA-only speed-up (bfloat16 autocast, channels_last, pinned memory, non-blocking
copies) is one flag of :func:`device_policy`, decided here and read where it applies;
:func:`forced_policy` sets flags for a block, so each of those branches also runs, and is
tested, on a CPU wherever torch allows it. cuDNN autotuning, off under determinism, is
:func:`cudnn_flags` (the library leaves torch's global cuDNN flags alone unless asked).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .errors import ConfigError, check_positive

__all__ = ["Recipe", "resolve_device", "autocast", "train_model", "cache_key", "seeded",
           "DevicePolicy", "device_policy", "forced_policy", "cudnn_flags", "cudnn_settings",
           "prepare_model", "to_device", "can_pin", "one_cycle"]


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


@dataclass(frozen=True)
class DevicePolicy:
    """How work runs on one device; each field is one speed-up that only CUDA gets by default.

    ``autocast_dtype``: the autocast dtype of forward passes (None: float32, no autocast).
    ``channels_last``: models and image batches in NHWC layout. ``pin_memory``: host
    tensors are pinned before they are copied to the device (where torch can pin).
    ``non_blocking``: host-to-device copies do not wait for the host.
    """

    autocast_dtype: torch.dtype | None = None
    channels_last: bool = False
    pin_memory: bool = False
    non_blocking: bool = False


_AUTOCAST_DTYPES = (None, torch.bfloat16, torch.float16)
_FORCED: dict = {}


@functools.lru_cache(maxsize=None)
def _cuda_bf16(index: int | None) -> bool:
    """Whether that CUDA device computes in bfloat16 (asked once per device: it is read per batch)."""
    if not torch.cuda.is_available():
        return False
    with torch.cuda.device(index if index is not None else torch.cuda.current_device()):
        return torch.cuda.is_bf16_supported()


def device_policy(device) -> DevicePolicy:
    """The policy for ``device``: on CUDA bfloat16 autocast (where supported; no loss scaling
    needed), channels_last (faster convolutions on tensor cores), pinned memory and
    non-blocking copies; plain float32 and default layouts elsewhere. Flags forced by
    :func:`forced_policy` win."""
    device = torch.device(device)
    cuda = device.type == "cuda"
    policy = DevicePolicy(
        autocast_dtype=torch.bfloat16 if cuda and _cuda_bf16(device.index) else None,
        channels_last=cuda, pin_memory=cuda, non_blocking=cuda)
    return dataclasses.replace(policy, **_FORCED) if _FORCED else policy


@contextlib.contextmanager
def forced_policy(**flags):
    """Force fields of :func:`device_policy` for every device within the block.

    ``forced_policy(autocast_dtype=torch.bfloat16, channels_last=True)`` runs the CUDA code
    paths on a CPU (tests, ``benchmarks/gpu_check.py --dry-run-cpu``). Process-wide and not
    thread-local: meant for tests and benchmarks, not for a running widget.
    """
    fields = {f.name for f in dataclasses.fields(DevicePolicy)}
    unknown = sorted(set(flags) - fields)
    if unknown:
        raise ConfigError(f"forced_policy has no flag {unknown[0]!r}; flags are {sorted(fields)}.")
    if flags.get("autocast_dtype") not in _AUTOCAST_DTYPES:
        raise ConfigError(f"autocast_dtype must be None, torch.bfloat16 or torch.float16, got "
                          f"{flags['autocast_dtype']!r}.")
    bad = [k for k in fields - {"autocast_dtype"} if k in flags and not isinstance(flags[k], bool)]
    if bad:
        raise ConfigError(f"forced_policy flag {bad[0]!r} must be True or False, got {flags[bad[0]]!r}.")
    saved = dict(_FORCED)
    _FORCED.update(flags)
    try:
        yield device_policy("cpu")
    finally:
        _FORCED.clear()
        _FORCED.update(saved)


def autocast(device: torch.device):
    """Autocast to the policy's dtype on ``device`` (bfloat16 on CUDA); a no-op without one."""
    device = torch.device(device)
    dtype = device_policy(device).autocast_dtype
    if dtype is None or not torch.amp.is_autocast_available(device.type):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def can_pin() -> bool:
    """Whether this torch can pin host memory (it needs a CUDA driver)."""
    return torch.cuda.is_available()


def to_device(t: torch.Tensor, device) -> torch.Tensor:
    """``t`` on ``device``, copied as the policy says: from pinned memory (where torch can
    pin) and without blocking the host (the copy is ordered before later work on the
    device's stream, so reading the result is safe)."""
    device = torch.device(device)
    policy = device_policy(device)
    if policy.pin_memory and t.device.type == "cpu" and device.type != "cpu" and can_pin():
        t = t.pin_memory()
    return t.to(device, non_blocking=policy.non_blocking)


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Move a model to ``device``, in channels_last where the policy says so (CUDA)."""
    model = model.to(device)
    if device_policy(device).channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def cudnn_flags(deterministic: bool) -> dict:
    """cuDNN settings: autotuned kernels (``benchmark``) for speed, unless determinism is
    asked for, where autotuning is off (it may pick different kernels from run to run)."""
    return {"benchmark": not deterministic, "deterministic": bool(deterministic)}


@contextlib.contextmanager
def cudnn_settings(deterministic: bool):
    """Set ``torch.backends.cudnn``'s flags by :func:`cudnn_flags` for a block, then restore them."""
    cudnn = torch.backends.cudnn
    saved = {k: getattr(cudnn, k) for k in ("benchmark", "deterministic")}
    for k, v in cudnn_flags(deterministic).items():
        setattr(cudnn, k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(cudnn, k, v)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device):
    """Seed torch for a block and restore the caller's RNG state afterwards."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        yield


#: Recipe fields added after 0.1.0 and their defaults. ``Recipe.to_dict`` leaves them out
#: while they hold these values, so the cache keys (and saved studies) of every recipe made
#: before they existed stay the same.
_LATER_FIELDS = {"schedule": "cosine", "warmup": 0.0, "label_smoothing": 0.0, "name": "reference"}
SCHEDULES = ("cosine", "onecycle")


@dataclass(frozen=True)
class Recipe:
    """How the Original and the Retrain model are trained from scratch.

    By default SGD with Nesterov momentum 0.9 and weight decay 5e-4, a cosine learning-rate
    schedule stepped once per epoch, and the dataset's augmentation (the reference system's
    ``services/train.py`` recipe; ``name="reference"``). Evaluation never augments.

    ``schedule="onecycle"`` steps the learning rate after every batch instead: a linear
    rise from 0 to ``lr`` over the first ``warmup`` share of the steps, then a linear fall
    to 0. ``label_smoothing`` (0 = plain cross-entropy) softens the training targets.
    ``name`` labels the recipe; it is part of the cache key. :meth:`fast_cifar10` is a
    preset that is *not* the reference recipe.
    """

    epochs: int = 20
    lr: float = 0.1
    batch_size: int = 128
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = True
    augment: bool = True
    schedule: str = "cosine"
    warmup: float = 0.0
    label_smoothing: float = 0.0
    name: str = "reference"

    def __post_init__(self):
        check_positive("epochs", self.epochs, integer=True)
        check_positive("lr", self.lr)
        check_positive("batch_size", self.batch_size, integer=True)
        check_positive("weight_decay", self.weight_decay, allow_zero=True)
        check_positive("momentum", self.momentum, allow_zero=True)
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {list(SCHEDULES)}, got {self.schedule!r}: "
                              "'cosine' steps once per epoch (the reference), 'onecycle' after every batch.")
        for key in ("warmup", "label_smoothing"):
            value = getattr(self, key)
            check_positive(key, value, allow_zero=True)
            if value >= 1:
                raise ConfigError(f"{key} must be below 1 (a share), got {value!r}; e.g. 0.2.")
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"name must be a non-empty string, got {self.name!r}.")

    @classmethod
    def fast_cifar10(cls, epochs: int = 15) -> "Recipe":
        """A short ResNet-18 recipe for CIFAR-10: NOT the reference system's recipe.

        The reference trains ResNet-18 for 200 epochs at batch 128 with a per-epoch cosine
        schedule (about an hour for its Retrain model: RTE 3519 s). The CIFAR-10 speed
        records show how much shorter training can be: airbench (Jordan 2024,
        arXiv:2404.00498) reaches 94 % test accuracy in 3.83 s on one A100 with its own small
        network, against about 7 minutes for a standard ResNet-18 training to 96 %. This
        preset keeps ResNet-18, so its models are comparable with the reference's
        checkpoints, and borrows the schedule of those fast trainings: batch 512, a
        one-cycle learning rate peaking at 0.2 after 20 % of the steps, label smoothing
        0.2, ``epochs`` (15) epochs; CUDA adds bfloat16 autocast and channels_last. Its
        accuracy on real CIFAR-10 is what ``benchmarks/gpu_check.py --root <folder>``
        prints; it has not been measured in this repository. ``name`` is
        ``"fast-cifar10"``, so its cached models never mix with the reference recipe's.
        """
        return cls(epochs=epochs, lr=0.2, batch_size=512, momentum=0.9, weight_decay=5e-4,
                   nesterov=True, augment=True, schedule="onecycle", warmup=0.2,
                   label_smoothing=0.2, name="fast-cifar10")

    def to_dict(self) -> dict:
        d = asdict(self)
        for key, default in _LATER_FIELDS.items():
            if d[key] == default:
                del d[key]
        return d


def one_cycle(total_steps: int, warmup: float):
    """Learning-rate factor of step ``s`` (0-based) of a one-cycle schedule: linear from
    1/(w+1) up to 1 at step ``w = round(warmup * total_steps)``, then linear down to
    1/(total - w) at the last step; never 0, so no step is wasted."""
    warm = min(int(round(warmup * total_steps)), total_steps - 1)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / (warm + 1)
        return max(total_steps - step, 0) / (total_steps - warm)

    return factor


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
    per_step = recipe.schedule == "onecycle"
    if per_step:
        steps = recipe.epochs * len(loader)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, one_cycle(max(steps, 1), recipe.warmup))
    else:
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=recipe.epochs)
    smoothing = {"label_smoothing": recipe.label_smoothing} if recipe.label_smoothing else {}
    losses = []
    for epoch in range(1, recipe.epochs + 1):
        model.train()
        total, count = torch.zeros((), device=device), 0
        for x, y in loader:
            with autocast(device):
                loss = F.cross_entropy(model(x), y, **smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if per_step:
                sched.step()
            total += loss.detach().float() * len(y)
            count += len(y)
        if not per_step:
            sched.step()
        losses.append(total.item() / max(count, 1))
        if report is not None:
            report(epoch, losses[-1])
    model.eval()
    return losses
