"""SCRUB: a student that moves away from its teacher on the forget set and stays close on
the retain set.

Kurmanji, Triantafillou, Hayes & Triantafillou, "Towards Unbounded Machine Unlearning",
NeurIPS 2023.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ._common import run_epoch, sgd
from .constraints import Choice, Float, Int
from .registry import register_method


def distill_kl(student_logits, teacher_logits, t: float):
    """KL(teacher || student) on temperature-softened outputs, scaled by T^2 (Hinton et al.)."""
    log_s = F.log_softmax(student_logits.float() / t, dim=1)
    p_t = F.softmax(teacher_logits.float() / t, dim=1)
    return F.kl_div(log_s, p_t, reduction="batchmean") * t * t


def retain_fisher(model, retain_loader, max_samples: int = 1000) -> dict[str, torch.Tensor]:
    """The reference system's diagonal Fisher of the retain set (``_compute_fisher_information``).

    In eval mode, the squared gradient of each batch's *mean* cross-entropy, summed over
    the first batches of ``retain_loader`` until ``max_samples`` samples were seen, divided
    by the number of samples seen.
    """
    fisher = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    model.eval()
    seen = 0
    for x, y in retain_loader:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        for n, p in model.named_parameters():
            if p.grad is not None:
                fisher[n] += p.grad.detach() ** 2
        seen += len(y)
        if seen >= max_samples:
            break
    model.zero_grad(set_to_none=True)
    return {n: f / max(seen, 1) for n, f in fisher.items()}


@register_method(
    "scrub",
    defaults={"epochs": 5, "lr": 0.01, "batch_size": 128, "alpha": 0.5, "gamma": 1.0,
              "kd_t": 2.0, "msteps": 2, "clip": 1.0, "variant": "paper"},
    constraints={"variant": Choice("paper", "reference"), "alpha": Float(0), "gamma": Float(0),
                 "kd_t": Float(0, low_open=True), "msteps": Int(0), "clip": Float(0)},
    label="SCRUB",
)
def scrub(model, forget_loader, retain_loader, *, epochs, lr, alpha, gamma, kd_t, msteps, clip,
          variant, ctx):
    """In each of the first ``msteps`` epochs a max step over the forget set, then in every
    epoch a min step over the retain set (loss = alpha * KL + gamma * cross-entropy).
    KL(teacher || student) at temperature ``kd_t``, scaled by kd_t^2; the teacher is a
    frozen copy of the base model. SGD (momentum 0.9, wd 5e-4) at a constant lr, gradient
    norm clipped at ``clip`` (0 = no clipping).

    ``variant="paper"`` (default): max-step loss -KL, the update of the paper's code
    (``train_distill`` in github.com/meghdadk/SCRUB, which does not clip: ``clip=0``).
    ``variant="reference"``: the reference system's loop (``unlearn_SCRUB_thread.py``):
    max-step loss -alpha * KL, its gradients multiplied by 1 / (F + 1e-8), F the retain
    Fisher of :func:`retain_fisher`, *before* clipping. The reference hard-codes
    msteps = 100 (a max step in every epoch): ``variant="reference", msteps=100`` gives its
    update exactly. Both are tested step by step in tests/test_reference_modes.py.

    The default variant is the paper's because SCRUB is the paper's method (the Fisher
    scaling is the reference system's own addition), with msteps = 2 as in the paper
    code's large-scale notebook; alpha, gamma, kd_t, clip, epochs, lr and batch size
    default to the reference's values.
    """
    teacher = copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    reference = variant == "reference"
    if reference:
        inv_fisher = {n: 1.0 / (f + 1e-8) for n, f in retain_fisher(model, retain_loader).items()}

    def scale(m: nn.Module):
        for n, p in m.named_parameters():
            if p.grad is not None:
                p.grad.mul_(inv_fisher[n])

    def kl_to_teacher(m, x):
        with torch.no_grad():
            t_logits = teacher(x)
        s_logits = m(x)
        return s_logits, distill_kl(s_logits, t_logits, kd_t)

    def max_loss(m, batch):
        kl = kl_to_teacher(m, batch[0])[1]
        return -alpha * kl if reference else -kl

    def min_loss(m, batch):
        s_logits, kl = kl_to_teacher(m, batch[0])
        return alpha * kl + gamma * F.cross_entropy(s_logits, batch[1])

    opt = sgd(model, lr)
    ctx.loop_started()
    for epoch in range(1, epochs + 1):
        if epoch <= msteps:
            run_epoch(model, forget_loader, opt, max_loss, ctx, clip=clip,
                      before_clip=scale if reference else None)
        loss = run_epoch(model, retain_loader, opt, min_loss, ctx, clip=clip)
        ctx.report(epoch, loss)
    return model
