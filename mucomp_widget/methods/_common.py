"""Pieces the built-in methods share: optimiser, one training epoch, random relabelling."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: SGD settings of the reference system (``config/settings.py``).
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4


def sgd(model: nn.Module, lr: float, weight_decay: float = WEIGHT_DECAY) -> torch.optim.SGD:
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM, weight_decay=weight_decay)


def run_epoch(model: nn.Module, batches, opt, loss_fn, ctx, *, clip: float = 0.0,
              before_clip=None, after_step=None) -> float:
    """One pass over ``batches`` in train mode; ``loss_fn(model, batch)`` gives a batch's loss.

    Per batch: backward, ``before_clip(model)`` (may edit the gradients: SalUn's mask,
    SCRUB's inverse Fisher), gradient norm clipped at ``clip`` (0 = no clipping), optimiser
    step, ``after_step(model, batch)``. Returns the sample-weighted mean loss.
    """
    model.train()
    total, count = torch.zeros((), device=ctx.device), 0
    for batch in batches:
        with ctx.autocast():
            loss = loss_fn(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if before_clip is not None:
            before_clip(model)
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        if after_step is not None:
            after_step(model, batch)
        n = len(batch[1])
        total += loss.detach().float() * n
        count += n
    model.eval()
    return total.item() / max(count, 1)


def cross_entropy(model, batch):
    x, y = batch[0], batch[1]
    return F.cross_entropy(model(x), y)


def other_labels(y: torch.Tensor, num_classes: int, forget_classes, generator) -> torch.Tensor:
    """A uniformly random label for each sample that differs from its own label.

    Labels are drawn from the retained classes (all classes when no class is forgotten),
    excluding the sample's true class, with ``generator`` so a seed fixes them.
    """
    allowed = torch.tensor([c for c in range(num_classes) if c not in set(forget_classes)])
    pos = torch.full((num_classes,), -1, dtype=torch.long)
    pos[allowed] = torch.arange(len(allowed))
    y_cpu = y.detach().cpu()
    p = pos[y_cpu]                      # position of the true label among allowed, or -1
    present = p >= 0
    choices = len(allowed) - present.long()
    r = (torch.rand(len(y_cpu), generator=generator) * choices).long()
    r = r + (present & (r >= p)).long()  # skip over the true label
    return allowed[r].to(y.device)
