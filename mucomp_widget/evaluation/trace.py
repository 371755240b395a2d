"""Epoch traces: UA, RA, TUA, TRA, PS and MIA-efficacy after every epoch of a run.

Like the reference system's epoch-wise metrics, but on small fixed sample sets (so a trace
costs a fraction of an epoch) and with the option to keep the epoch whose model is
closest to Retrain (smallest Avg. Gap), as asked for in OpenUnlearning issue #187.
"""

from __future__ import annotations

import numpy as np
import torch

from .accuracy import avg_gap
from .inference import logits_of
from .summary import trace_metrics

TRACE_KEYS = ("UA", "RA", "TUA", "TRA", "PS", "MIA", "AvgGap")


class EpochTracer:
    """Called after each epoch with the model being trained; records metrics per epoch.

    ``ids`` holds sorted ``train``/``test`` sample ids; ``base_outputs`` and
    ``retrain_outputs`` are the full inference outputs of the run's base model (epoch 0,
    free) and of the Retrain model (its logits on the same samples, free).
    """

    def __init__(self, data, setup, ids: dict, base_outputs, retrain_outputs, retrain_metrics,
                 keep_best: bool = False):
        self.data, self.setup, self.ids = data, setup, ids
        self.keep_best = keep_best
        self.retrain_metrics = retrain_metrics
        forget = np.intersect1d(setup.split.forget_train, ids["train"])
        self._retrain_forget = retrain_outputs.train_logits[forget]
        self.history = {"epoch": [], **{k: [] for k in TRACE_KEYS}}
        self.best_epoch: int | None = None
        self._best_gap = np.inf
        self._best_state = None
        self._record(0, base_outputs.train_logits[ids["train"]], base_outputs.test_logits[ids["test"]])

    def _record(self, epoch: int, train_logits, test_logits) -> dict:
        m = trace_metrics(train_logits, test_logits, self.setup, self.ids, self._retrain_forget)
        m["AvgGap"] = avg_gap(m, self.retrain_metrics) if self.retrain_metrics else float("nan")
        self.history["epoch"].append(epoch)
        for k in TRACE_KEYS:
            self.history[k].append(float(m.get(k, np.nan)))
        return {k: self.history[k][-1] for k in TRACE_KEYS}

    def __call__(self, epoch: int, model: torch.nn.Module) -> dict:
        tr = logits_of(model, self.data, "train", self.ids["train"])
        te = logits_of(model, self.data, "test", self.ids["test"])
        m = self._record(epoch, tr, te)
        if self.keep_best and np.isfinite(m["AvgGap"]) and m["AvgGap"] < self._best_gap:
            self._best_gap, self.best_epoch = m["AvgGap"], epoch
            self._best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        return m

    def restore_best(self, model: torch.nn.Module) -> torch.nn.Module:
        """Load the best epoch's weights into ``model`` (when keeping the best epoch)."""
        if self._best_state is not None and self.best_epoch != self.history["epoch"][-1]:
            model.load_state_dict(self._best_state)
        return model
