"""l1-sparse unlearning: fine-tune on the retain set with a decaying l1 penalty on the weights.

Jia, Liu, Ram, Yao, Liu, Liu, Sharma & Liu, "Model Sparsity Can Simplify Machine
Unlearning", NeurIPS 2023 ("sparsity-aware unlearning"; code
github.com/OPTML-Group/Unlearn-Sparse, ``unlearn/FT.py``, ``FT_l1``, run as ``FT_prune``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._common import run_epoch, sgd
from .constraints import Float
from .registry import register_method

#: The paper code's MultiStepLR milestones (``--decreasing_lr 91,136``, gamma 0.1): only
#: runs longer than 91 epochs reach them.
MILESTONES = (91, 136)


def l1_weight(alpha: float, epoch: int, epochs: int) -> float:
    """The penalty's weight in 0-based ``epoch`` of ``epochs``: ``alpha * (1 - epoch/epochs)``,
    constant within an epoch (alpha in the first epoch, alpha/epochs in the last)."""
    return alpha * (1 - epoch / epochs)


@register_method(
    "l1_sparse",
    defaults={"epochs": 10, "lr": 0.01, "batch_size": 256, "alpha": 1e-4},
    constraints={"alpha": Float(0)},
    label="l1-sparse",
)
def l1_sparse(model, forget_loader, retain_loader, *, epochs, lr, alpha, ctx):
    """Cross-entropy on the retain set plus ``alpha_e * ||theta||_1``, the l1 norm (sum of
    absolute values) of every parameter, BatchNorm and biases included (not buffers);
    ``alpha_e = alpha * (1 - e / epochs)`` in 0-based epoch e, so it steps down linearly,
    once per epoch, from alpha towards 0. SGD (momentum 0.9, wd 5e-4) with the code's
    MultiStepLR (x0.1 at epochs 91 and 136; constant for shorter runs).

    The update of ``FT_l1`` in the paper code (``unlearn/FT.py`` with ``unlearn/impl.py``,
    its default ``--no-l1-epochs 0`` and ``--warmup 0``), tested step by step in
    tests/test_methods_field_a.py. Defaults: lr 0.01 and 10 epochs from its README's
    l1-sparse command; alpha 1e-4, the value its README leaves as ``${alpha}`` and that the
    CIFAR-10 scripts of the same group's follow-up code pass (Scissorhands,
    ``Classification/sh``); batch 256, the code's ``--batch_size`` default (the paper's
    Table A1 says 128, issue Unlearn-Sparse#4). Not exposed: ``--no-l1-epochs`` (final
    epochs without the penalty) and the warm-up, both off by default there.

    On digits the small CNN forgets a class only once the penalty has shrunk most weights,
    and then relearns the retained classes while alpha_e runs down; at a constant lr that
    relearning stays noisy for many epochs, so the digits preset runs 40 epochs at lr
    0.02, batch 64, alpha 6e-4.
    """
    params = [p for p in model.parameters()]
    opt = sgd(model, lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(MILESTONES), gamma=0.1)
    ctx.loop_started()
    for epoch in range(epochs):
        weight = l1_weight(alpha, epoch, epochs)

        def loss_fn(m, batch):
            loss = F.cross_entropy(m(batch[0]), batch[1])
            if weight:
                loss = loss + weight * sum(p.abs().sum() for p in params)
            return loss

        loss = run_epoch(model, retain_loader, opt, loss_fn, ctx)
        sched.step()
        ctx.report(epoch + 1, loss)
    return model
