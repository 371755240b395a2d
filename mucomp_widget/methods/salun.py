"""SalUn: random labelling restricted to the weights most salient for forgetting.

Fan, Liu, Zhang, Wei, Wang & Liu, "SalUn: Empowering Machine Unlearning via Gradient-based
Weight Saliency in Both Image Classification and Generation", ICLR 2024.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._common import WEIGHT_DECAY, run_epoch, sgd
from .constraints import Choice, Float
from .registry import register_method


def saliency_mask(model, forget_loader, ratio: float, variant: str = "paper") -> dict[str, torch.Tensor]:
    """1 for the weights most salient for forgetting, 0 elsewhere; global over all
    parameters, gradients of the gradient-ascent loss -CE taken in eval mode.

    ``"paper"`` (SalUn's ``generate_mask.py``): saliency = |sum over the forget batches of
    the gradient of each batch's mean loss| (with equal batches, proportional to the
    gradient of the loss summed over the forget set, whatever the batch size); exactly
    int(ratio * #weights) weights are kept. ``"reference"`` (the reference system's
    ``_compute_gradient_saliency``): saliency = |gradient of each batch's mean loss|,
    accumulated over the first 5 forget batches; every weight at or above the
    int(ratio * #weights)-th largest saliency is kept.
    """
    reference = variant == "reference"
    sal = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    model.eval()
    for i, (x, y) in enumerate(forget_loader, 1):
        model.zero_grad(set_to_none=True)
        (-F.cross_entropy(model(x), y)).backward()
        for n, p in model.named_parameters():
            if p.grad is not None:
                sal[n] += p.grad.detach().abs() if reference else p.grad.detach()
        if reference and i == 5:
            break
    model.zero_grad(set_to_none=True)
    flat = torch.cat([s.flatten() for s in sal.values()]).abs()
    k = int(ratio * flat.numel())
    keep = torch.zeros_like(flat, dtype=torch.bool)
    if k > 0 and reference:
        keep = flat >= torch.topk(flat, k).values[-1]
    elif k > 0:
        keep[torch.topk(flat, k).indices] = True
    parts = keep.to(flat.dtype).split([s.numel() for s in sal.values()])
    return {n: part.view_as(s) for (n, s), part in zip(sal.items(), parts)}


@register_method(
    "salun",
    defaults={"epochs": 5, "lr": 1e-3, "batch_size": 128, "mask_ratio": 0.5, "clip": 100.0,
              "variant": "paper"},
    constraints={"variant": Choice("paper", "reference"),
                 "mask_ratio": Float(0, 1, low_open=True), "clip": Float(0)},
    label="SalUn",
)
def salun(model, forget_loader, retain_loader, *, epochs, lr, mask_ratio, clip, variant, ctx):
    """Each epoch: a pass over the forget set with random labels, then a pass over the
    retain set with true labels; cross-entropy, SGD (momentum 0.9, wd 5e-4) at a constant
    lr, every gradient multiplied by the saliency mask of :func:`saliency_mask`, which
    keeps the ``mask_ratio`` share of the weights; gradient norm clipped at ``clip``
    (0 = no clipping) after masking.

    ``variant="paper"`` (default; SalUn's ``unlearn/RL.py``, whose CIFAR-10 example keeps
    50 %): labels uniform over all classes, and masked weights stay exactly fixed (weight
    decay reaches only the salient ones), as in that code since its "Fix weight decay"
    commit (#33; before it, weight decay shrank masked weights). It does not clip:
    ``clip=0`` gives its update exactly. ``variant="reference"`` (the reference system's
    ``unlearn_SalUn_thread.py``): labels uniform over the retained classes, weight decay
    shrinks masked weights too, and after each step the batch is forwarded again in train
    mode (its accuracy display), which updates BatchNorm statistics a second time;
    ``variant="reference", mask_ratio=0.75`` gives its update exactly. Both are tested
    step by step in tests/test_reference_modes.py. Random labels come from the run's
    seeded generator.

    The default variant is the paper's because SalUn is the paper's method; clip (100),
    epochs, lr and batch size default to the reference's values. For class-wise
    forgetting the paper's labels include the forgotten class: on digits that left the
    forget accuracy between 0 and 0.97 (mean 0.30, 3 seeds x 10 classes), so the digits
    preset runs the reference variant (benchmarks/RESULTS.md).
    """
    reference = variant == "reference"
    mask = saliency_mask(model, forget_loader, mask_ratio, variant)
    classes = torch.tensor([c for c in range(ctx.num_classes)
                            if not (reference and c in ctx.forget_classes)])

    def masked(m):
        for n, p in m.named_parameters():
            if p.grad is not None:
                if not reference:  # weight decay on the salient weights only
                    p.grad.add_(p.detach(), alpha=WEIGHT_DECAY)
                p.grad.mul_(mask[n])

    def relabelled(m, batch):
        x, y = batch
        fake = classes[torch.randint(len(classes), y.shape, generator=ctx.generator)]
        return F.cross_entropy(m(x), fake.to(y.device))

    def true_labels(m, batch):
        return F.cross_entropy(m(batch[0]), batch[1])

    def forward_again(m, batch):
        with torch.no_grad():
            m(batch[0])

    opt = sgd(model, lr, weight_decay=WEIGHT_DECAY if reference else 0.0)
    after = forward_again if reference else None
    ctx.loop_started()
    for epoch in range(1, epochs + 1):
        run_epoch(model, forget_loader, opt, relabelled, ctx, clip=clip, before_clip=masked,
                  after_step=after)
        loss = run_epoch(model, retain_loader, opt, true_labels, ctx, clip=clip,
                         before_clip=masked, after_step=after)
        ctx.report(epoch, loss)
    return model
