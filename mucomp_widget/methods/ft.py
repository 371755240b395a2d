"""Fine-Tuning (FT): keep training on the retain set and rely on catastrophic forgetting.

Warnecke et al., "Machine Unlearning of Features and Labels", NDSS 2023; used as the FT
baseline by Jia et al. (NeurIPS 2023) and Fan et al. (SalUn, ICLR 2024).
"""

from __future__ import annotations

import torch

from ._common import cross_entropy, run_epoch, sgd
from .constraints import Float
from .registry import register_method


@register_method("ft", defaults={"epochs": 10, "lr": 0.01, "batch_size": 128, "eta_min": 0.0},
                 constraints={"eta_min": Float(0)}, label="Fine-Tuning")
def fine_tune(model, forget_loader, retain_loader, *, epochs, lr, eta_min, ctx):
    """Cross-entropy on the retain set only; SGD (momentum 0.9, wd 5e-4) with a cosine
    schedule over the epochs, from ``lr`` to ``eta_min``.

    Default ``eta_min = 0``: the lr decays to zero. The reference system
    (``unlearn_FT.py``) floors it at 0.01, which equals its default lr (so the lr never
    moves) and makes smaller lrs *rise* during training; ``eta_min=0.01`` gives its update
    exactly (tests/test_reference_modes.py).
    """
    opt = sgd(model, lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=eta_min)
    ctx.loop_started()
    for epoch in range(1, epochs + 1):
        loss = run_epoch(model, retain_loader, opt, cross_entropy, ctx)
        sched.step()
        ctx.report(epoch, loss)
    return model
