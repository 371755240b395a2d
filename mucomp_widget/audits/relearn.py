"""Relearning probe: how quickly a few labelled forget samples bring the forgotten knowledge back.

``study.audit("relearn", run_id, samples=None, steps=50, lr=0.01, batch_size=16, seed=None,
threshold=0.5)`` fine-tunes a copy of the run's model for ``steps`` SGD steps on a small,
seeded, class-stratified slice of the forget training set (``samples`` of them, with their
true labels) and measures the forget accuracy UA after every step, on the *whole* forget
training set (the same quantity as ``run.metrics["UA"]``: for class-wise forgetting the
mean accuracy over the forgotten classes, else the accuracy on the forget samples). The
same probe (same slice, same batches, same steps) runs on the study's Retrain model, which
never saw the forget set: its curve is what "relearning from scratch knowledge" looks like
for this model and data. A run whose UA climbs much faster than Retrain's kept the
forgotten knowledge in its weights and merely suppressed it (the "relearning attack" of
the unlearning literature, field.md section 8 item 12).

Where the defaults come from:

- The attack itself, fine-tuning an unlearned model on a small part of its forget set
  and measuring how much of the forgotten behaviour returns, follows Hu et al., "Jogging
  the Memory of Unlearned LLMs via Targeted Relearning Attacks" (2024; relearning on a
  small part of the forget data), Fan et al., "Towards LLM Unlearning Resilient to
  Relearning Attacks: A Sharpness-Aware Minimization Perspective and Beyond" (ICML 2025;
  github.com/OPTML-Group/Unlearn-Smooth: a fixed number of relearning steps on forget
  data, 50 to 150 on MUSE and 100 on WMDP, AdamW at lr 1e-5 for 7B LLMs, weight decay
  0), and, for
  image classifiers, Siddiqui et al., "From Dormant to Deleted: Tamper-Resistant
  Unlearning Through Weight-Space Regularization" (NeurIPS 2025;
  github.com/shoaibahmed/vision_relearning: ResNet-18 on CIFAR-10, a random 10 % of the
  forget set as the relearn set (``--fraction-to-relearn 0.1``), relearn sets of 1 to 100
  examples in its grid, weight decay 0 during relearning, accuracy logged along the
  relearning steps and compared with the retrained-from-scratch model's; Adam at lr
  1e-5, batch 128).
- ``samples=None``: 10 % of the forget training set (at least 1), Siddiqui et al.'s
  default relearn fraction. Their relearn set is drawn at random; ours is
  class-stratified (our choice) so that every forgotten class is represented.
- ``steps=50``: our choice, at the low end of Fan et al.'s 50-150 relearning steps;
  UA is measured after every step, so the curve shows any earlier crossing.
- ``lr=0.01``, ``batch_size=16``, SGD with momentum 0.9: our choice. The papers above
  relearn with Adam/AdamW at lr 1e-5 (batch 128 of retain + relearn samples, or LLM
  batches); this probe takes SGD steps with the momentum the built-in methods use (0.9,
  the reference system's), at the FT baseline's learning rate (0.01, spec/field.md
  section 3), and a batch small enough that a slice of a few dozen samples gives
  several distinct batches. Weight decay is 0, as in those codes. On digits (class 3
  forgotten by FT, GA, RL, SCRUB or SalUn at the dataset's tuned hyperparameters) these
  defaults bring UA to the 0.5 threshold in 1 to 3 steps, Retrain in 7 to 11 (three
  slice seeds; measured on a 2-core x86-64 CPU).
- ``threshold=0.5``: our choice, the UA at which half of the forget set (class-wise:
  the mean over forgotten classes) is recognised again.

Departures from the papers' code (each a deliberate choice):

- Only forget samples are used (Siddiqui et al.'s ``only_forget`` relearn type, not
  their default of retain set + relearn set), so the probe is fast and measures the
  forget set alone.
- The model stays in eval mode while it is fine-tuned: BatchNorm layers keep the
  running statistics of the unlearned model instead of learning new ones from batches
  that hold only forgotten classes (which would change every prediction, forget or
  not, through the statistics rather than the weights). Gradients still reach every
  weight, BatchNorm's scale and shift included. No augmentation.
- UA is measured on the whole forget training set, slice included (the brief's
  definition, equal to ``metrics["UA"]`` at step 0); Siddiqui et al. report the relearn
  set and the remaining forget samples separately.

Nothing the study stores changes: the probe trains fresh copies of the run's and of
Retrain's weights. The result is kept as ``study._audits[("relearn", run_id)]`` and
Retrain's own probe as ``study._audits[("relearn", "retrain")]``; ``study.results``
shows ``relearn_steps`` for both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ..loaders import TensorLoader
from ..training import autocast, seeded

__all__ = ["RelearnResult", "audit", "DEFAULTS"]

#: Defaults of :func:`audit` (see the module docstring for where each comes from).
DEFAULTS = {"samples": None, "steps": 50, "lr": 0.01, "batch_size": 16, "seed": None,
            "threshold": 0.5}
MOMENTUM = 0.9
RETRAIN = "retrain"


@dataclass(frozen=True)
class RelearnResult:
    """One relearning probe of a run, and the same probe on the Retrain model.

    ``run`` is the audited run's id; ``samples``, ``steps``, ``lr``, ``batch_size``,
    ``seed`` and ``threshold`` the probe's parameters (``samples`` as used: the slice's
    size; ``batch_size`` as given, a batch never holds more than the slice). ``ids`` are
    the training-set ids of the slice, the same for both models. ``ua_run[k]`` and
    ``ua_retrain[k]`` are the forget accuracy (UA, as in ``metrics["UA"]``) after ``k``
    SGD steps, ``k = 0 .. steps`` (step 0: before any step). ``steps_run`` and
    ``steps_retrain`` are the first step at which each UA reached ``threshold`` (None if
    it never did within ``steps``); :meth:`steps_to` answers the same for another
    threshold. ``losses[k - 1]`` is the run copy's training loss at step ``k``.
    """

    run: str
    samples: int
    steps: int
    lr: float
    batch_size: int
    seed: int
    threshold: float
    ids: np.ndarray = field(repr=False)
    ua_run: list
    ua_retrain: list
    losses: list = field(default_factory=list, repr=False)

    @property
    def steps_run(self) -> int | None:
        """First step at which the run's UA reached ``threshold``; None if never."""
        return _first_at_least(self.ua_run, self.threshold)

    @property
    def steps_retrain(self) -> int | None:
        """First step at which Retrain's UA reached ``threshold``; None if never."""
        return _first_at_least(self.ua_retrain, self.threshold)

    def steps_to(self, threshold: float | None = None, curve: str = "run") -> int | None:
        """First step at which the ``curve`` ("run" or "retrain") reached UA >= ``threshold``
        (default: the audit's threshold); None if it never did within the probe's steps."""
        if curve not in ("run", "retrain"):
            raise ConfigError(f"curve must be 'run' or 'retrain', got {curve!r}.")
        t = self.threshold if threshold is None else _check_threshold(threshold)
        return _first_at_least(self.ua_run if curve == "run" else self.ua_retrain, t)

    def __repr__(self) -> str:
        return (f"RelearnResult(run={self.run!r}, samples={self.samples}, steps={self.steps}, "
                f"lr={self.lr}, threshold={self.threshold}: UA {self.ua_run[0]:.3f} -> "
                f"{self.ua_run[-1]:.3f}, reached at step {self.steps_run}; Retrain "
                f"{self.ua_retrain[0]:.3f} -> {self.ua_retrain[-1]:.3f}, at step {self.steps_retrain})")


def _first_at_least(curve, threshold: float) -> int | None:
    for k, v in enumerate(curve):
        if v >= threshold:
            return k
    return None


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}.")
    if value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}.")
    return int(value)


def _check_threshold(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not 0 <= float(value) <= 1:
        raise ConfigError(f"threshold must be a forget accuracy between 0 and 1, got {value!r}.")
    return float(value)


def _options(study, options: dict) -> dict:
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"the relearn audit has no option {unknown[0]!r}; its options are "
                          f"{', '.join(DEFAULTS)}.")
    o = {**DEFAULTS, **options}
    n_forget = len(study.split.forget_train)
    if o["samples"] is None:
        o["samples"] = max(1, int(round(0.1 * n_forget)))
    o["samples"] = _check_int("samples", o["samples"], 1)
    if o["samples"] > n_forget:
        raise ConfigError(f"samples={o['samples']} is more than the {n_forget} forget training "
                          f"samples; give at most {n_forget} (a small slice, e.g. 10 %).")
    o["steps"] = _check_int("steps", o["steps"], 1)
    o["batch_size"] = _check_int("batch_size", o["batch_size"], 1)
    lr = o["lr"]
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating, np.integer)) \
            or not (0 < float(lr) < math.inf):
        raise ConfigError(f"lr must be a number > 0, got {lr!r}.")
    o["lr"] = float(lr)
    o["seed"] = study._run_seed(o["seed"])
    o["threshold"] = _check_threshold(o["threshold"])
    return o


def _forget_accuracy(model, data, split, labels) -> float:
    """UA of ``model`` as :func:`~mucomp_widget.evaluation.accuracy.unlearning_accuracies`
    defines it: mean per-class accuracy over the forgotten classes (class-wise
    forgetting), else the accuracy on the forget samples."""
    from ..evaluation.inference import logits_of

    ids = split.forget_train
    correct = logits_of(model, data, "train", ids).argmax(1) == labels[ids]
    if split.classwise:
        y = labels[ids]
        per_class = [correct[y == c].mean() for c in split.forget_classes if (y == c).any()]
        return float(np.mean(per_class)) if per_class else float("nan")
    return float(correct.mean())


def _probe(study, run_id: str, ids: np.ndarray, o: dict) -> tuple[list, list]:
    """Fine-tune a fresh copy of ``run_id``'s weights on the slice ``ids``; the UA after
    each step (step 0 first) and the loss of each step."""
    data = study._device_data()
    labels = study.dataset.y_train.numpy()
    model = study._build_model(run_id)  # a fresh module: the study's weights stay untouched
    model.eval()  # BatchNorm keeps the model's running statistics (module docstring)
    opt = torch.optim.SGD(model.parameters(), lr=o["lr"], momentum=MOMENTUM, weight_decay=0.0)
    gen = torch.Generator().manual_seed(o["seed"])
    loader = TensorLoader(data, ids, min(o["batch_size"], len(ids)), shuffle=True, generator=gen)
    ua, losses = [_forget_accuracy(model, data, study.split, labels)], []
    with seeded(o["seed"], study.device):
        while len(losses) < o["steps"]:
            for x, y in loader:
                if study._stop.is_set():
                    from ..methods.registry import RunCancelled
                    raise RunCancelled(f"the relearn audit of {run_id!r} was cancelled.")
                with autocast(study.device):
                    loss = F.cross_entropy(model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
                ua.append(_forget_accuracy(model, data, study.split, labels))
                if len(losses) == o["steps"]:
                    break
    return ua, losses


def audit(study, run_id=None, **options) -> RelearnResult:
    """Relearning probe of ``run_id`` (and of Retrain, on the same slice) -> RelearnResult.

    Options (module docstring for their sources): ``samples`` (forget samples in the
    slice; default 10 % of the forget set), ``steps`` (50), ``lr`` (0.01), ``batch_size``
    (16), ``seed`` (default: the study's; draws the slice and the batch order) and
    ``threshold`` (0.5, the UA that counts as relearned). Bad values raise ConfigError.
    """
    from ..study import _stratified

    if run_id is None:
        raise ConfigError("the relearn audit needs a run: study.audit('relearn', run_id, ...).")
    o = _options(study, options)
    study.prepare()  # the probe's reference: Retrain
    run = study[run_id]  # StudyError for an unknown id
    study._emit(event="stage", run=run.id, stage="relearn")
    study._stop.clear()
    forget = study.split.forget_train
    labels = study.dataset.y_train.numpy()
    ids = forget[_stratified(labels[forget], o["samples"], o["seed"])]
    with study._lock:
        ua_run, losses = _probe(study, run.id, ids, o)
        key = ("relearn", "retrain-probe", o["samples"], o["steps"], o["lr"], o["batch_size"], o["seed"])
        cached = study._audit_cache.get(key)
        retrain_weights = study._weights[RETRAIN]
        if run.id == RETRAIN:
            ua_retrain = ua_run
        elif cached is not None and cached[0] is retrain_weights:  # Retrain unchanged since
            ua_retrain = list(cached[1])
        else:
            ua_retrain, _ = _probe(study, RETRAIN, ids, o)
        study._audit_cache[key] = (retrain_weights, list(ua_retrain))
        params = dict(samples=len(ids), steps=o["steps"], lr=o["lr"], batch_size=o["batch_size"],
                      seed=o["seed"], threshold=o["threshold"], ids=ids.copy())
        result = RelearnResult(run=run.id, ua_run=ua_run, ua_retrain=ua_retrain, losses=losses,
                               **params)
        study._audits[("relearn", run.id)] = result
        if run.id != RETRAIN:
            study._audits[("relearn", RETRAIN)] = RelearnResult(
                run=RETRAIN, ua_run=list(ua_retrain), ua_retrain=list(ua_retrain), **params)
        study._changed([run.id] if run.id == RETRAIN else [run.id, RETRAIN])
    return result
