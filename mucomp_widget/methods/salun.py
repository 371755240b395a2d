"""SalUn: random labelling restricted to the weights most salient for forgetting.

Fan, Liu, Zhang, Wei, Wang & Liu, "SalUn: Empowering Machine Unlearning via Gradient-based
Weight Saliency in Both Image Classification and Generation", ICLR 2024.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ._common import WEIGHT_DECAY, other_labels, run_epoch, sgd
from .registry import register_method


def saliency_mask(model, forget_loader, ratio: float) -> dict[str, torch.Tensor]:
    """1 for the ``ratio`` share of weights with the largest |grad of the forget loss|.

    The forget loss is the gradient-ascent loss -CE summed over the whole forget set;
    the threshold is global over all parameters.
    """
    grads = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    model.eval()
    for x, y in forget_loader:
        model.zero_grad(set_to_none=True)
        (-F.cross_entropy(model(x), y, reduction="sum")).backward()
        for n, p in model.named_parameters():
            if p.grad is not None:
                grads[n] += p.grad.detach().abs()
    model.zero_grad(set_to_none=True)
    flat = torch.cat([g.flatten() for g in grads.values()])
    keep = max(1, int(round(ratio * flat.numel())))
    threshold = torch.topk(flat, keep, sorted=False).values.min()
    return {n: (g >= threshold).to(g.dtype) for n, g in grads.items()}


@register_method(
    "salun",
    defaults={"epochs": 5, "lr": 1e-3, "batch_size": 128, "mask_ratio": 0.5, "clip": 100.0},
    label="SalUn",
)
def salun(model, forget_loader, retain_loader, *, epochs, lr, mask_ratio, clip, ctx):
    """Each epoch: a pass over the forget set with random labels from the retained classes,
    then a pass over the retain set with true labels; cross-entropy, SGD (momentum 0.9),
    and every update multiplied by the saliency mask.

    Variants: ``mask_ratio`` = 0.5 keeps the top half of the weights, the paper's CIFAR-10
    setting (the reference system keeps 75 %); the saliency map uses the whole forget set
    (the reference uses its first 5 batches); weight decay (5e-4) is added to the gradient
    *before* masking, so masked weights stay exactly fixed (the reference lets weight decay
    shrink them). Random labels come from the run's seeded generator.
    """
    if not 0 < mask_ratio <= 1:
        raise ConfigError(f"mask_ratio must be in (0, 1], got {mask_ratio!r}.")
    mask = saliency_mask(model, forget_loader, mask_ratio)

    def masked(m):
        for n, p in m.named_parameters():
            if p.grad is not None:
                p.grad.add_(p.detach(), alpha=WEIGHT_DECAY).mul_(mask[n])

    def relabelled(m, batch):
        x, y = batch
        return F.cross_entropy(m(x), other_labels(y, ctx.num_classes, ctx.forget_classes, ctx.generator))

    def true_labels(m, batch):
        return F.cross_entropy(m(batch[0]), batch[1])

    opt = sgd(model, lr, weight_decay=0.0)
    ctx.loop_started()
    for epoch in range(1, epochs + 1):
        run_epoch(model, forget_loader, opt, relabelled, ctx, clip=clip, before_step=masked)
        loss = run_epoch(model, retain_loader, opt, true_labels, ctx, clip=clip, before_step=masked)
        ctx.report(epoch, loss)
    return model
