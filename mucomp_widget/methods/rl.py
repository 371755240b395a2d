"""Random Labeling (RL): train on the retain set and on forget samples with wrong labels.

Golatkar et al., "Eternal Sunshine of the Spotless Net", CVPR 2020 (the random-label
baseline); Graves et al., "Amnesiac Machine Learning", AAAI 2021.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ._common import other_labels, run_epoch, sgd
from .registry import register_method


@register_method("rl", defaults={"epochs": 3, "lr": 1e-3, "batch_size": 64},
                 label="Random Labeling")
def random_labeling(model, forget_loader, retain_loader, *, epochs, lr, ctx):
    """Cross-entropy on shuffled batches of forget and retain samples together, where each
    forget sample gets a fresh random label, uniform over the retained classes (any other
    class for sample-wise forgetting), in every batch. SGD (momentum 0.9, wd 5e-4) at a
    constant lr.

    The reference system's update (``unlearn_RL_thread.py``; it creates a MultiStepLR but
    never steps it): given the same batches and labels, the same weights
    (tests/test_reference_modes.py). Its labels cannot be matched draw for draw: it
    re-seeds torch from the clock in every batch, so its runs cannot be repeated; ours
    come from the run's seeded generator.
    """
    forget_ids = torch.from_numpy(forget_loader.indices).to(ctx.device)
    mixed = retain_loader.replace(
        indices=np.concatenate([forget_loader.indices, retain_loader.indices]),
        shuffle=True, return_ids=True,
    )

    def loss_fn(m, batch):
        x, y, ids = batch
        is_forget = torch.isin(ids, forget_ids)
        fake = other_labels(y, ctx.num_classes, ctx.forget_classes, ctx.generator)
        return F.cross_entropy(m(x), torch.where(is_forget, fake, y))

    opt = sgd(model, lr)
    ctx.loop_started()
    for epoch in range(1, epochs + 1):
        ctx.report(epoch, run_epoch(model, mixed, opt, loss_fn, ctx))
    return model
