"""Boundary Shrink: relabel each forget sample with the class an adversarial step on the
original model pushes it into, then fine-tune on the forget set with those labels.

Chen, Gao, Liu, Peng & Zhou, "Boundary Unlearning: Rapid Forgetting of Deep Networks via
Shifting the Decision Space", CVPR 2023. Code: the third-party mirror of the authors' zip,
github.com/TY-LEE-KR/Boundary-Unlearning-Code (``boundary_unlearning.boundary_shrink``,
``adv_generator.FGSM``), and OPTML-Group/Unlearn-Saliency ``unlearn/boundary_sh.py``.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..loaders import TensorLoader
from .constraints import Choice, Float, Int
from .registry import register_method


def class_only(method: str, forget_classes) -> None:
    """Raise ConfigError unless whole classes are forgotten."""
    if not forget_classes:
        raise ConfigError(
            f"method {method!r} forgets whole classes only, and this study's forget set has no "
            "forget class (random or index forgetting). Make the study with a class forget set, "
            "mu.forget.classes(k), or pick a method that handles sample-wise forgetting."
        )


class PixelSpace:
    """Maps the loaders' standardised inputs to [0, 1] pixels and back: the space where
    the paper's attack steps, clips to the bound, clamps and rounds to 8-bit levels.
    For loaders that are not the study's (no known mean/std) it is the identity, and
    the attack neither clamps nor rounds."""

    def __init__(self, loader):
        self.known = isinstance(loader, TensorLoader)
        if self.known:
            ds = loader.data.dataset
            self.mean = torch.tensor(ds.mean, dtype=torch.float32)
            self.std = torch.tensor(ds.std, dtype=torch.float32)

    def _stats(self, x):
        shape = (1, -1, 1, 1) if x.dim() == 4 else (1, -1)
        return self.mean.to(x.device).view(shape), self.std.to(x.device).view(shape)

    def to_unit(self, x):
        if not self.known:
            return x
        mean, std = self._stats(x)
        return x * std + mean

    def from_unit(self, u):
        if not self.known:
            return u
        mean, std = self._stats(u)
        return (u - mean) / std

    def project(self, u, u0, bound):
        """Back into the L-inf ball of radius ``bound`` around ``u0``, then (pixel space
        only) into [0, 1] and onto the 1/255 grid (the paper's ``clamper``)."""
        u = u0 + (u - u0).clamp(-bound, bound)
        if self.known:
            u = torch.round(u.clamp(0.0, 1.0) * 255) / 255
        return u


def neighbours(frozen: nn.Module, x: torch.Tensor, y: torch.Tensor, space: PixelSpace, *,
               bound: float, step: float, iters: int) -> torch.Tensor:
    """The untargeted L-inf attack of the paper's code on ``frozen`` (eval mode), in
    pixel space: ``iters`` times, ``u <- project(u + step * sign(grad_x CE(frozen(x), y)))``
    (:meth:`PixelSpace.project`). FGSM is one step with ``step = bound`` (its ``FGSM``
    and OPTML's ``FGSM_perturb``); PGD is its ``LinfPGD`` without random start. The
    gradient's sign is the same in pixel and standardised space (std > 0). Returns the
    neighbours in the model's input space, float32."""
    x0 = x.detach().float()
    u0 = space.to_unit(x0)
    x_adv = x0
    for _ in range(iters):
        x_adv = x_adv.detach().requires_grad_(True)
        loss = F.cross_entropy(frozen(x_adv).float(), y)
        (grad,) = torch.autograd.grad(loss, x_adv)
        u = space.project(space.to_unit(x_adv.detach()) + step * grad.sign(), u0, bound)
        x_adv = space.from_unit(u)
    return x_adv.detach()


def nearest_labels(frozen: nn.Module, x: torch.Tensor, y: torch.Tensor, space: PixelSpace, *,
                   attack: str = "fgsm", bound: float = 0.1, step: float = 8 / 255,
                   iters: int = 5) -> torch.Tensor:
    """The frozen model's prediction on each sample's adversarial neighbour: the paper's
    "nearest but incorrect" class (its own label where the attack does not cross a
    boundary, as in the paper's code)."""
    if attack == "fgsm":
        step, iters = bound, 1
    x_adv = neighbours(frozen, x, y, space, bound=bound, step=step, iters=iters)
    with torch.no_grad():
        return frozen(x_adv).argmax(dim=1)


@register_method(
    "boundary_shrink",
    defaults={"epochs": 10, "lr": 1e-5, "batch_size": 64, "attack": "fgsm", "bound": 0.1,
              "step": 8 / 255, "iters": 5, "momentum": 0.9, "weight_decay": 0.0},
    constraints={"attack": Choice("fgsm", "pgd"), "bound": Float(0, low_open=True),
                 "step": Float(0, low_open=True), "iters": Int(1),
                 "momentum": Float(0, 1, high_open=True), "weight_decay": Float(0)},
    label="Boundary Shrink",
    scope="class",
)
def boundary_shrink(model, forget_loader, retain_loader, *, epochs, lr, attack, bound, step,
                    iters, momentum, weight_decay, ctx):
    """For each forget batch: an adversarial step on a frozen copy of the original model
    (:func:`nearest_labels`) gives each sample a new label, the class its neighbour falls
    in; the model takes one SGD step (``momentum``, ``weight_decay``) on the cross-entropy
    of the *clean* batch against those labels, in train mode (so BatchNorm statistics
    move towards the forget data, as in the paper's code). ``epochs`` passes over the
    forget set; the retain set is never used. Class-wise forgetting only (registered with
    ``scope="class"``): a forget set without a forget class raises ConfigError before the
    model is touched.

    ``attack="fgsm"`` (default): one signed-gradient step of size ``bound`` in [0, 1]
    pixel space, clamped to [0, 1] and rounded to 1/255, as the paper's code runs it and
    OPTML hard-codes it (bound 0.1). ``attack="pgd"``: its ``LinfPGD`` (commented out in
    its ``boundary_shrink``; the README's bound/step/iter), ``iters`` steps of size
    ``step`` projected into the ``bound`` ball, no random start; ``step`` and ``iters``
    matter only for PGD.

    Defaults are the paper's code's for class-wise CIFAR-10 (``main.py`` and
    ``boundary_shrink``, with its AllCNN; no ResNet-18 values exist): FGSM bound 0.1,
    SGD lr 1e-5, momentum 0.9, no weight decay, 10 epochs, batch 64; PGD step 8/255,
    5 iterations. OPTML's runs (SalUn's tables, random forgetting) use lr 1e-6 / 5e-6,
    weight decay 5e-4 and batch 256.

    Departures from the paper's code: the attack un-normalises with the study's own
    mean/std. The mirror's attack un-normalises with hard-coded CIFAR constants (one
    mistyped) that are not the (0.5, 0.5, 0.5) normalisation of its data, so its steps
    and clamping are slightly off pixel space; OPTML's feeds [0, 1] images to a model
    that normalises inside, which is what this does. The attack's gradient comes from
    ``torch.autograd.grad`` (the paper's code accumulates it into the frozen model's
    ``.grad``, unused). Its optional curvature and reweighting extras ("Enhanced Boundary
    Unlearning") are not included. Mixed precision (on a GPU) covers the fine-tuning
    steps only; the attack runs in float32.

    On 8x8 digits one FGSM step of 0.1 crosses a boundary for only 15-79 % of a class's
    samples (a third of the 8s stay 8 at any bound), and the rest are trained on their
    own label; the digits preset uses PGD (bound 0.2, step 0.05, 5 iterations, all
    samples relabelled) and lr 1e-3.
    """
    class_only("boundary_shrink", ctx.forget_classes)
    space = PixelSpace(forget_loader)
    frozen = copy.deepcopy(model).eval()
    for p in frozen.parameters():
        p.requires_grad_(False)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    ctx.loop_started()
    for epoch in range(1, epochs + 1):
        total, count = torch.zeros((), device=ctx.device), 0
        for batch in forget_loader:
            x, y = batch[0], batch[1]
            target = nearest_labels(frozen, x, y, space, attack=attack, bound=bound, step=step,
                                    iters=iters)
            model.train()
            with ctx.autocast():
                loss = F.cross_entropy(model(x), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach().float() * len(y)
            count += len(y)
        model.eval()
        ctx.report(epoch, total.item() / max(count, 1))
    return model
