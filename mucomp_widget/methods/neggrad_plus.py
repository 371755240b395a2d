"""NegGrad+: descend on the retain set and ascend on the forget set in the same step.

Kurmanji, Triantafillou, Hayes & Triantafillou, "Towards Unbounded Machine Unlearning",
NeurIPS 2023 (the NegGrad+ baseline; code github.com/meghdadk/SCRUB).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from .constraints import Bool, Float, Int
from .registry import register_method


@register_method(
    "neggrad_plus",
    defaults={"epochs": 10, "lr": 0.01, "batch_size": 128, "forget_batch_size": 64,
              "alpha": 0.95, "prox": 5e-4, "train_mode": False},
    constraints={"alpha": Float(0, 1), "forget_batch_size": Int(1), "prox": Float(0),
                 "train_mode": Bool()},
    label="NegGrad+",
)
def neggrad_plus(model, forget_loader, retain_loader, *, epochs, lr, alpha, forget_batch_size,
                 prox, train_mode, ctx):
    """Each step pairs a retain batch with a forget batch and minimises
    ``alpha * (CE(retain) + prox/2 * ||theta - theta_0||^2) - (1 - alpha) * CE(forget)``,
    theta_0 the starting weights; plain SGD (no momentum, no weight decay) at a constant lr.
    An epoch is one pass over the retain set (``batch_size``); forget batches
    (``forget_batch_size``) come from one shuffled pass over the forget set, replayed in the
    same order when the retain set has more batches (``zip(retain, itertools.cycle(forget))``).
    No gradient clipping.

    This is exactly ``negative_grad`` / ``run_neggrad_epoch`` of the paper code's
    small-scale notebook (``small_scale_unlearning.ipynb``): alpha 0.95, lr 0.01, 10
    epochs, retain batch 128 and forget batch 64, and the model kept in eval mode while it
    trains (``train_mode=False``: BatchNorm uses and keeps its running statistics, dropout
    is off); tested step by step in tests/test_methods_field_a.py. The notebook's proximal
    term uses ``args.weight_decay``, the weight decay the Original was trained with (its
    ``main.py`` default 5e-4, also the CIFAR-10/ResNet-18 recipe's), hence ``prox=5e-4``.
    ``train_mode=True, prox=0`` gives the update of the repository's other NegGrad+
    (``train_negrad`` in ``thirdparty/repdistiller/helper/loops.py``, used by its MIA
    and large-scale IC-test notebooks): train mode, no proximal term.

    The digits preset trains in train mode (``train_mode=True``, alpha 0.9, lr 0.03): in
    eval mode the small digits CNN either kept the class (forget accuracy 1.0) or lost
    retain accuracy, from one class to the next, at every alpha and lr tried.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    start = [p.detach().clone() for p in params]
    forget = forget_loader.replace(batch_size=forget_batch_size)
    opt = torch.optim.SGD(model.parameters(), lr=lr)

    def proximal():
        return sum(((p.float() - p0.float()) ** 2).sum() for p, p0 in zip(params, start)) * (prox / 2)

    ctx.loop_started()
    for epoch in range(1, epochs + 1):
        model.train(train_mode)
        total, count = torch.zeros((), device=ctx.device), 0
        for (x_r, y_r), (x_f, y_f) in zip(retain_loader, itertools.cycle(forget)):
            with ctx.autocast():
                retain_loss = F.cross_entropy(model(x_r), y_r)
                forget_loss = F.cross_entropy(model(x_f), y_f)
            if prox:
                retain_loss = retain_loss + proximal()
            loss = alpha * retain_loss - (1 - alpha) * forget_loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach().float() * len(y_r)
            count += len(y_r)
        model.eval()
        ctx.report(epoch, total.item() / max(count, 1))
    return model
