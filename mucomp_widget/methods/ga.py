"""Gradient Ascent (GA, "NegGrad"): maximise the loss on the forget set.

Thudi et al., "Unrolling SGD: Understanding Factors Influencing Machine Unlearning",
EuroS&P 2022; Graves et al., "Amnesiac Machine Learning", AAAI 2021.
"""

from __future__ import annotations

from ._common import cross_entropy, run_epoch, sgd
from .constraints import Float
from .registry import register_method


@register_method("ga", defaults={"epochs": 7, "lr": 1e-4, "batch_size": 256, "clip": 100.0},
                 constraints={"clip": Float(0)}, label="Gradient Ascent")
def gradient_ascent(model, forget_loader, retain_loader, *, epochs, lr, clip, ctx):
    """Loss = -cross-entropy on forget batches only, gradient norm clipped at ``clip``
    (0 = no clipping). No retain repair.

    The reference system's update (``unlearn_GA_thread.py``): SGD (momentum 0.9, wd 5e-4)
    at a constant lr (its MultiStepLR milestones at 80/120 epochs are never reached),
    clip 100; the same batches give the same weights (tests/test_reference_modes.py).
    """
    opt = sgd(model, lr)
    ctx.loop_started()
    for epoch in range(1, epochs + 1):
        loss = run_epoch(model, forget_loader, opt, lambda m, b: -cross_entropy(m, b), ctx,
                         clip=clip)
        ctx.report(epoch, loss)
    return model
