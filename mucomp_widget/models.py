"""Architectures, penultimate-feature hooks and safe checkpoint loading."""

from __future__ import annotations

import hashlib
import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .errors import CheckpointError, ConfigError

__all__ = [
    "Architecture", "resnet18", "small_cnn", "mlp", "resolve_architecture",
    "FeatureHook", "read_state_dict", "load_state_dict",
]


def resnet18(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """torchvision's ResNet-18 in the CIFAR layout of the reference system.

    conv1 is 3x3 with stride 1 and no bias, the max-pool is removed and fc maps 512 to
    ``num_classes``, so the reference system's published CIFAR-10 checkpoints load with a
    strict state-dict load (He et al., CVPR 2016).
    """
    from torchvision.models import resnet18 as tv_resnet18

    net = tv_resnet18(weights=None, num_classes=num_classes)
    net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    return net


class SmallCNN(nn.Module):
    """Three conv-BN-ReLU blocks, global average pooling and a linear head.

    Blocks halve the resolution while it is at least 8 pixels, so the same network
    suits 8x8 digits and 28x28 Fashion-MNIST. ``avgpool`` yields the penultimate features.
    """

    def __init__(self, num_classes: int, in_channels: int = 1, image_size: int = 8,
                 widths: tuple[int, ...] = (32, 64, 64)):
        super().__init__()
        size, prev = image_size, in_channels
        for i, w in enumerate(widths, start=1):
            layers = [nn.Conv2d(prev, w, 3, padding=1, bias=False), nn.BatchNorm2d(w),
                      nn.ReLU(inplace=True)]
            if size >= 8:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            self.add_module(f"block{i}", nn.Sequential(*layers))
            prev = w
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(prev, num_classes)
        self.n_blocks = len(widths)

    def forward(self, x):
        for i in range(1, self.n_blocks + 1):
            x = getattr(self, f"block{i}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def small_cnn(num_classes: int = 10, in_channels: int = 1, image_size: int = 8) -> nn.Module:
    """A small CNN for 8x8 and 28x28 inputs (see :class:`SmallCNN`)."""
    return SmallCNN(num_classes, in_channels, image_size)


class MLP(nn.Module):
    """Two hidden layers for feature-vector data; ``features`` is the penultimate layer."""

    def __init__(self, num_classes: int, in_features: int, hidden: int = 256):
        super().__init__()
        self.layer1 = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True))
        self.features = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(inplace=True))
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x):
        return self.fc(self.features(self.layer1(x.flatten(1))))


def mlp(num_classes: int, in_features: int) -> nn.Module:
    """A two-hidden-layer perceptron for (N, D) data (see :class:`MLP`)."""
    return MLP(num_classes, in_features)


@dataclass
class Architecture:
    """A model factory plus the names evaluation needs.

    ``build()`` returns a fresh, randomly initialised module; ``feature_layer`` names the
    submodule whose output is the penultimate feature vector; ``blocks`` lists the block
    outputs used for layer-wise similarity.
    """

    name: str
    build: Callable[[], nn.Module]
    feature_layer: str
    blocks: tuple[str, ...] = ()
    builtin: bool = True

    def signature(self) -> str:
        """Hash of the parameter names and shapes, so cache keys change with the layout."""
        sd = self.build().state_dict()
        h = hashlib.blake2b(digest_size=8)
        h.update(self.name.encode())
        for k, v in sd.items():
            h.update(f"{k}:{tuple(v.shape)};".encode())
        return h.hexdigest()


RESNET18_BLOCKS = ("conv1", "layer1.0", "layer1.1", "layer2.0", "layer2.1",
                   "layer3.0", "layer3.1", "layer4.0", "layer4.1", "fc")
BUILTIN = ("resnet18", "small_cnn", "mlp")


def resolve_architecture(model, input_shape: tuple[int, ...], num_classes: int,
                         feature_layer: str | None = None) -> Architecture:
    """Turn ``model`` ("auto", a built-in name, or a zero-argument factory) into an Architecture."""
    if isinstance(model, nn.Module):
        raise ConfigError(
            "model must be a name or a factory that builds a fresh module, got a module "
            f"instance of {type(model).__name__}. Pass model=lambda: {type(model).__name__}(...) "
            "to train it here, or keep model='auto' and call study.load_original(...) with "
            "trained weights."
        )
    if isinstance(model, str):
        name = model
        if name == "auto":
            if len(input_shape) == 1:
                name = "mlp"
            elif input_shape[0] == 3 and min(input_shape[1:]) >= 32:
                name = "resnet18"
            else:
                name = "small_cnn"
        if name == "resnet18":
            if len(input_shape) != 3:
                raise ConfigError(f"resnet18 needs (C, H, W) images, this dataset has {input_shape}.")
            arch = Architecture(name, lambda: resnet18(num_classes, input_shape[0]),
                                "avgpool", RESNET18_BLOCKS)
        elif name == "small_cnn":
            if len(input_shape) != 3:
                raise ConfigError(f"small_cnn needs (C, H, W) images, this dataset has {input_shape}.")
            arch = Architecture(
                name, lambda: small_cnn(num_classes, input_shape[0], min(input_shape[1:])),
                "avgpool", ("block1", "block2", "block3", "fc"))
        elif name == "mlp":
            if len(input_shape) != 1:
                raise ConfigError(f"mlp needs (N, D) feature vectors, this dataset has {input_shape}.")
            arch = Architecture(name, lambda: mlp(num_classes, input_shape[0]),
                                "features", ("layer1", "features", "fc"))
        else:
            raise ConfigError(
                f"unknown architecture {model!r}; choose one of 'auto', "
                f"{', '.join(repr(b) for b in BUILTIN)}, or pass a factory such as "
                "model=lambda: MyNet()."
            )
        if feature_layer is not None:
            arch.feature_layer = feature_layer
        return arch
    if callable(model):
        if feature_layer is None:
            raise ConfigError(
                "a custom model factory needs feature_layer=..., the name of the submodule "
                "whose output is the penultimate feature vector (e.g. 'avgpool')."
            )
        name = getattr(model, "__qualname__", None) or type(model).__name__
        arch = Architecture(f"custom:{name}", _checked_factory(model), feature_layer,
                            (feature_layer,), False)
        find_module(arch.build(), feature_layer)
        return arch
    raise ConfigError(f"model must be 'auto', a built-in name or a factory, got {model!r}.")


def _checked_factory(factory):
    def build():
        net = factory()
        if not isinstance(net, nn.Module):
            raise ConfigError(
                f"the model factory returned {type(net).__name__}, not a torch.nn.Module."
            )
        return net
    return build


def find_module(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name``, or an error listing the names that exist."""
    try:
        return model.get_submodule(name)
    except AttributeError:
        names = [n for n, _ in model.named_children()]
        raise ConfigError(
            f"the model has no submodule {name!r}; its top-level submodules are {names}. "
            "Pass feature_layer= one of those (or a dotted path such as 'layer4.1')."
        ) from None


class FeatureHook:
    """Capture a submodule's output, flattened to ``(N, D)``, during forward passes."""

    def __init__(self, model: nn.Module, layer: str):
        self.module = find_module(model, layer)
        self.output: torch.Tensor | None = None
        self._handle = None

    def _hook(self, _module, _inputs, output):
        self.output = output.detach().flatten(1)

    def __enter__(self):
        self._handle = self.module.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc):
        self._handle.remove()
        self._handle = None


# ---------------------------------------------------------------------------- checkpoints

_WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "net", "module")


def read_state_dict(source) -> dict[str, torch.Tensor]:
    """Read a plain state dict from a path, a dict of tensors or a module.

    ``.safetensors`` files go through safetensors; everything else through
    ``torch.load(weights_only=True)``, which refuses pickled Python objects. A single
    wrapper key (``state_dict``, ``model``, ...) and ``module.``/``_orig_mod.`` prefixes
    (DataParallel, torch.compile) are removed.
    """
    if isinstance(source, nn.Module):
        return {k: v.detach().cpu() for k, v in source.state_dict().items()}
    if isinstance(source, dict):
        sd, where = source, "the given dict"
    else:
        if not isinstance(source, (str, os.PathLike)):
            raise CheckpointError(f"a checkpoint must be a file path, a state dict or a module, "
                                  f"got {type(source).__name__}.")
        path = Path(source).expanduser()
        where = str(path)
        if "\0" in where or not path.is_file():
            raise CheckpointError(f"checkpoint {where!r} does not exist or is not a file.")
        if path.suffix.lower() == ".safetensors":
            from safetensors import SafetensorError
            from safetensors.torch import load_file

            try:
                sd = load_file(str(path))
            except (SafetensorError, OSError, ValueError) as exc:
                raise CheckpointError(f"{where} is not a readable safetensors file ({exc}); save "
                                      "one with safetensors.torch.save_file(model.state_dict(), path).") from None
        else:
            try:
                sd = torch.load(str(path), map_location="cpu", weights_only=True)
            except Exception as exc:
                # torch names the refused global (class or function) of a pickled object;
                # any other failure means the bytes are not a torch.save file at all
                if re.search(r"Unsupported (global|class)|GLOBAL ", str(exc)):
                    raise CheckpointError(
                        f"{where} is not a plain state dict: it holds pickled Python objects, "
                        "which are refused because unpickling can run arbitrary code. Save it "
                        "with torch.save(model.state_dict(), path) instead of torch.save(model, path)."
                    ) from None
                lines = str(exc).strip().splitlines()
                said = "" if isinstance(exc, pickle.UnpicklingError) or not lines else f" (torch.load: {lines[0][:200]})"
                raise CheckpointError(
                    f"{where} is not a checkpoint this reader knows: neither a file written by "
                    f"torch.save(model.state_dict(), path) nor a .safetensors file{said}."
                ) from None
    if isinstance(sd, dict):
        for key in _WRAPPER_KEYS:
            inner = sd.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                sd = inner
                break
    if not isinstance(sd, dict) or not sd or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in sd.items()
    ):
        raise CheckpointError(
            f"{where} is not a state dict (a mapping of parameter names to tensors); save one "
            "with torch.save(model.state_dict(), path)."
        )
    for prefix in ("module.", "_orig_mod."):
        if all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    return sd


def _listing(names, limit: int = 6) -> str:
    names = list(names)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def load_state_dict(model: nn.Module, state_dict: dict, *, arch_name: str, source: str) -> nn.Module:
    """Strictly load ``state_dict`` into ``model``; name every mismatch if it does not fit."""
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items() if k in state_dict and state_dict[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys: {_listing(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_listing(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches (checkpoint vs model): {_listing(shapes)}")
        raise CheckpointError(
            f"{source} was saved from a different architecture than {arch_name!r}: "
            + "; ".join(parts)
            + ". Build the study with the architecture the checkpoint was trained with (model=...)."
        )
    model.load_state_dict(state_dict, strict=True)
    return model


def non_finite_parameters(model: nn.Module) -> list[str]:
    """Names of floating-point parameters and buffers that hold NaN or inf."""
    return [
        k for k, v in model.state_dict().items()
        if v.is_floating_point() and not torch.isfinite(v).all()
    ]
