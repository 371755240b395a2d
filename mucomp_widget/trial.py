"""One unlearning trial: a method on a copy of a base model, the same wherever it runs.

:meth:`Study.unlearn` runs a trial in the kernel; the Ray executor
(:mod:`mucomp_widget.distributed`) runs the same function in a worker process, so a sweep
gives the same numbers in either place (same seed, same torch thread count).
"""

from __future__ import annotations

import torch
from torch import nn

from .evaluation.trace import EpochTracer
from .loaders import DeviceData, TensorLoader
from .methods.registry import Invocation, MethodSpec, RunContext, invoke
from .training import prepare_model, seeded

__all__ = ["run_method"]


def run_method(spec: MethodSpec, model: nn.Module, data: DeviceData, *, forget_ids, retain_ids,
               hp: dict, seed: int, device: torch.device, num_classes: int, forget_classes,
               on_epoch=None, should_stop=None, time_limit: float | None = None,
               tracer: EpochTracer | None = None, keep_best: bool = False) -> tuple[Invocation, nn.Module]:
    """Run ``spec`` on ``model`` (already a copy) -> (what the call produced, the final model).

    Both loaders shuffle with one CPU generator seeded by ``seed``, and the method runs under
    ``torch.manual_seed(seed)``; with ``keep_best`` the tracer's best epoch replaces the
    last one.
    """
    gen = torch.Generator().manual_seed(int(seed))
    forget_loader = TensorLoader(data, forget_ids, hp["batch_size"], shuffle=True, generator=gen)
    retain_loader = TensorLoader(data, retain_ids, hp["batch_size"], shuffle=True, generator=gen)
    ctx = RunContext(device=device, seed=int(seed), num_classes=num_classes,
                     forget_classes=forget_classes, epochs=hp["epochs"], on_epoch=on_epoch,
                     should_stop=should_stop, time_limit=time_limit, method=spec.name)
    with seeded(int(seed), device):
        result = invoke(spec, model, forget_loader, retain_loader, hp, ctx)
    final = prepare_model(result.model, device)
    if keep_best:
        final = tracer.restore_best(final)
    return result, final
