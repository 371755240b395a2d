"""Study: one dataset, one forget set, one architecture, and every model built for them.

The Study trains (or loads) the Original and the Retrain model, runs unlearning methods
on copies of a base model, evaluates each model with one inference pass, and keeps a
record of everything. The CLI and the widget are thin front ends over it.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import math
import threading
import time
import unicodedata
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import __version__, manifest
from .cost import Meter
from .datasets import Dataset
from .errors import CheckpointError, ConfigError, MucompError, StudyError
from .evaluation import Outputs, infer
from .evaluation.embedding import disparity, embed, top_probabilities
from .evaluation.summary import COST_INFO, SCORE_INFO, EvalSetup, evaluate
from .evaluation.trace import EpochTracer
from .forget import ClassForget, ForgetSpec, from_dict as forget_from_dict
from .loaders import DeviceData, TensorLoader
from .methods.registry import (
    RunCancelled, check_scope, resolve_hyperparameters, spec_for,
)
from .models import load_state_dict, non_finite_parameters, read_state_dict, resolve_architecture
from .progress import progress_bar
from .spill import WeightStore, release_free_memory, resolve_budget
from .store import (
    SAVED_STUDY_FIELDS, ModelCache, check_record, default_workdir, expect, prune_blobs, read_blob,
    read_json, weights_from_bytes, weights_to_safetensors, write_blob, write_json,
)
from .training import Recipe, cache_key, prepare_model, resolve_device, seeded, train_model
from .trial import run_method

__all__ = ["Study", "Run"]

ORIGINAL, RETRAIN = "original", "retrain"
METRICS = tuple(m.key for m in SCORE_INFO)
FORMAT = 3  # 3: weights as safetensors; 2: data files named by content hash (1: by run id)
READS = (1, 2, 3)
PROBE_LIMIT = 50_000
"""Largest ``probe_size``: CIFAR-10's whole training set. The embedding's exact neighbour
search grows as n^2 (about 1.5 min for the Original's layout and 40 s per other model at
50,000 on 2 cores; benchmarks/RESULTS.md, "Larger probe sets")."""

#: The columns after the scores: RTE, then what else a run cost (see :meth:`Study.results`).
COSTS = ("RTE", *(m.key for m in COST_INFO))


def _count(v) -> int | None:
    """A non-negative integer from a cache sidecar, or None (absent or edited)."""
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def _costs(run: "Run", retrain_rte: float | None) -> dict:
    """The cost columns of ``run``: RTE (s), RTE as a share of Retrain's, peak MB, images."""
    nan = math.nan
    ratio = (run.rte / retrain_rte if run.rte is not None and retrain_rte else nan)
    return {"RTE": nan if run.rte is None else run.rte, "RTE_ratio": ratio,
            "peak_MB": nan if run.peak_memory is None else run.peak_memory / 2**20,
            "images": nan if run.images is None else run.images}


@dataclass(frozen=True)
class Embedding:
    """A model's 2-D layout of the probe samples, with what tooltips show.

    ``coords[i]`` places training sample ``ids[i]``; ``top_classes``/``top_probs`` are its
    three most likely classes under softmax(z / 2), as the reference system keeps them.
    ``disparity`` is how far the retained samples sit from their places in the Original's
    layout, as a share of its spread (0 for the Original; NaN in a layout saved before it
    was measured, which :meth:`Study.embedding` computes again).
    """

    ids: np.ndarray
    coords: np.ndarray
    top_classes: np.ndarray
    top_probs: np.ndarray
    disparity: float = float("nan")

    def __post_init__(self):
        object.__setattr__(self, "disparity", float(self.disparity))  # np.load gives a 0-d array


@dataclass(eq=False)
class Run:
    """One model of a study and how it came about.

    ``type`` is Original, Retrain, Unlearned or Uploaded; ``rte`` is the unlearning
    loop's seconds (the training time for a Retrain model trained here); ``losses`` the
    training loss per epoch. ``model`` builds a fresh copy of the weights. ``group`` is
    shared by the runs of one ``unlearn(..., seeds=[...])`` call (or one grid point of a
    seeded sweep): same method, base and hyperparameters, one seed each; None for a run
    made alone (see :meth:`Study.summary`). ``images`` and ``peak_memory`` (bytes) are what
    the run cost besides time (:mod:`mucomp_widget.cost`; None where not measured, e.g. a
    model loaded from the cache or a checkpoint). ``provenance`` is the environment the run was
    made in and the version of the code that made it (:mod:`mucomp_widget.manifest`);
    None for runs saved before it was recorded.
    """

    id: str
    type: str
    method: str | None = None
    base: str | None = None
    hyperparameters: dict = field(default_factory=dict)
    seed: int | None = None
    rte: float | None = None
    wall_time: float | None = None
    losses: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    source: str | None = None
    created_at: str = ""
    trace: dict = field(default_factory=dict)
    best_epoch: int | None = None
    group: str | None = None
    images: int | None = None
    peak_memory: int | None = None
    provenance: dict | None = field(default=None, repr=False)
    _study: "Study | None" = field(default=None, repr=False)

    @property
    def model(self) -> nn.Module:
        """A fresh module with this run's weights, on the study's device, in eval mode."""
        return self._study._build_model(self.id)

    @property
    def state_dict(self) -> dict:
        """A copy of the weights (CPU tensors): changing it never changes the study."""
        return {k: v.clone() for k, v in self._study._weights[self.id].items()}

    @property
    def outputs(self) -> Outputs:
        """Logits of every sample, probe features and layer Grams from the inference pass
        (read-only arrays: they are the study's record)."""
        return _read_only(self._study._outputs[self.id])

    @property
    def details(self) -> dict:
        """Everything behind the metrics: per-class accuracy, prediction and confidence
        matrices (train and test), the privacy attack (per-sample values, four threshold
        curves, worst case), ROC curves, bootstrap intervals, gaps to Retrain and
        layer-wise CKA against the Original and the Retrain model (read-only arrays)."""
        return _read_only(self._study._details_of(self.id))

    def record(self) -> dict:
        """JSON-ready description of the run (no arrays)."""
        return {
            "id": self.id, "type": self.type, "method": self.method, "base": self.base,
            "hyperparameters": self.hyperparameters, "seed": self.seed, "rte": self.rte,
            "wall_time": self.wall_time, "losses": self.losses, "metrics": self.metrics,
            "source": self.source, "created_at": self.created_at, "trace": self.trace,
            "best_epoch": self.best_epoch, "group": self.group, "images": self.images,
            "peak_memory": self.peak_memory, "provenance": self.provenance,
        }

    def __repr__(self) -> str:
        m = ", ".join(f"{k}={v:.3f}" for k, v in self.metrics.items() if isinstance(v, float) and not math.isnan(v))
        what = f" {self.method}" if self.method else ""
        return f"<Run {self.id!r} {self.type}{what} {m}>"


def _read_only(obj):
    """``obj`` with every array replaced by a read-only view, in new containers, so that
    what users are handed cannot change what the study stores."""
    if isinstance(obj, np.ndarray):
        view = obj.view()
        view.flags.writeable = False
        return view
    if isinstance(obj, dict):
        return {k: _read_only(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_read_only(v) for v in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(obj, **{f.name: _read_only(getattr(obj, f.name))
                                           for f in dataclasses.fields(obj) if f.init})
    return obj


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _check_time_limit(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ConfigError(f"time_limit must be a positive number of seconds or None, got {value!r}.")
    return float(value)


def _npz(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _stratified(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Up to ``size`` ids drawn evenly across classes with a seeded generator, sorted."""
    n = len(labels)
    if size >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = np.floor(counts / n * size).astype(int)
    for i in np.argsort(-(counts / n * size - quota))[: size - quota.sum()]:
        quota[i] += 1
    picks = [rng.choice(np.flatnonzero(labels == c), q, replace=False) for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(picks))


class Study:
    """Compare unlearning methods on one dataset and forget set.

    Parameters
    ----------
    dataset : Dataset
        From :mod:`mucomp_widget.datasets`.
    forget : ForgetSpec or int
        From :mod:`mucomp_widget.forget`; an int means ``forget.classes(int)``.
    model : "auto", "resnet18", "small_cnn", "mlp" or a factory
        A factory is a zero-argument callable returning a fresh ``nn.Module``; it needs
        ``feature_layer``, the submodule whose output is the penultimate feature vector.
    seed : int
        Seeds training, unlearning and every sampled subset. Same seed, same numbers on CPU.
        A study has one Original and one Retrain model, trained with this seed; unlearning
        runs may use other seeds (``unlearn(..., seeds=[0, 1, 2])``, see :meth:`summary`).
        For a spread over Original/Retrain training seeds as well (SUPREME's separate
        train, unlearn and evaluation seeds), make one Study per training seed with the
        same dataset, forget set and architecture (each trains, or loads from the cache,
        its own Original and Retrain), run the same methods in each, and put their
        summaries together::

            studies = [mu.Study(ds, forget, seed=s) for s in (0, 1, 2)]
            for st in studies:
                st.unlearn("ga", seeds=[0, 1, 2])
            pd.concat([st.summary().assign(study_seed=st.seed) for st in studies])
    device : "auto", "cpu", "cuda", "cuda:N" or "mps"
    workdir : path, optional
        Where trained Original/Retrain models are cached (default: ``$MUCOMP_HOME`` or
        ``~/.cache/mucomp_widget``). A second Study with the same dataset, architecture,
        forget set, recipe and seed loads them instead of training.
    recipe : Recipe or dict, optional
        Overrides the dataset's Original/Retrain training recipe.
    probe_size : int
        Training samples (stratified by class, the same for every model) whose penultimate
        features are kept for embeddings: 11 to 50,000 (``PROBE_LIMIT``; all of them when the
        training set is smaller). The default 2,000 embeds in seconds; 50,000 (CIFAR-10's
        whole training set) takes minutes per model on a laptop CPU.
    cka_size : int
        Samples per set (forget/retain x train/test) for layer-wise CKA; their block
        outputs are reduced to Gram matrices during the inference pass.
    trace_size : int
        Samples per retain/test set for epoch traces (``unlearn(..., trace=True)``); every
        forget training sample is always traced.
    grid : "reference", "exact" or an array
        Threshold grid of the privacy score: the reference system's 51 thresholds, or
        every distinct value (the true worst case).
    progress : bool
        Show tqdm progress bars.
    memory_budget : "auto", int or None
        Bytes of weights and layer Grams of unlearned and uploaded runs to keep in memory
        (``"auto"``: a quarter of this machine's memory; None: all). Beyond it the oldest
        runs' weights and Grams move to safetensors files under ``workdir/spill`` (removed
        with the study) and are read back when needed; outputs the views read (logits,
        probe features) and metrics stay in memory, as do the Original and Retrain models
        (:mod:`mucomp_widget.spill`).
    """

    def __init__(self, dataset: Dataset, forget, model="auto", *, seed: int = 0,
                 device="auto", workdir=None, recipe=None, feature_layer: str | None = None,
                 probe_size: int = 2000, cka_size: int = 300, trace_size: int = 500,
                 grid="reference", progress: bool = True, memory_budget="auto"):
        if not isinstance(dataset, Dataset):
            raise ConfigError(
                f"dataset must be a mucomp_widget Dataset, got {type(dataset).__name__}; use "
                "mu.datasets.digits(), cifar10(root), fashion_mnist(root) or from_arrays(...)."
            )
        if isinstance(forget, (int, np.integer)) and not isinstance(forget, bool):
            forget = ClassForget(int(forget))
        if not isinstance(forget, ForgetSpec):
            raise ConfigError(
                f"forget must come from mu.forget (classes, random or indices), got {forget!r}."
            )
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ConfigError(f"seed must be an integer, got {seed!r}.")
        self.dataset = dataset
        self.forget = forget
        self.seed = int(seed)
        self.split = forget.resolve(dataset.y_train.numpy(), dataset.y_test.numpy(), dataset.num_classes)
        self.arch = resolve_architecture(model, dataset.input_shape, dataset.num_classes, feature_layer)
        self._model_arg = model if isinstance(model, str) else None
        self.device = resolve_device(device)
        self.workdir = Path(workdir).expanduser() if workdir is not None else default_workdir()
        if isinstance(recipe, Recipe):
            self.recipe = recipe
        elif recipe is None or isinstance(recipe, dict):
            try:
                self.recipe = Recipe(**{**dataset.train_defaults, **(recipe or {})})
            except TypeError as exc:
                raise ConfigError(f"recipe has an unknown field: {exc}; fields are {list(Recipe.__dataclass_fields__)}.") from None
        else:
            raise ConfigError(f"recipe must be a Recipe or a dict, got {type(recipe).__name__}.")
        if (isinstance(probe_size, bool) or not isinstance(probe_size, (int, np.integer))
                or not 11 <= probe_size <= PROBE_LIMIT):
            raise ConfigError(
                f"probe_size must be an integer in [11, {PROBE_LIMIT:,}], got {probe_size!r}: UMAP "
                f"needs at least n_neighbors + 2 = 11 samples, and above {PROBE_LIMIT:,} (CIFAR-10's "
                "whole training set) the embedding's exact neighbour search takes minutes per model.")
        self.probe_size = int(probe_size)
        self.probe_ids = _stratified(dataset.y_train.numpy(), self.probe_size, self.seed)
        self.cka_size, self.trace_size = int(cka_size), int(trace_size)
        self.cka_sets = self._sample_sets(self.cka_size)
        # Every forget training sample is traced, so the trace's PS uses the same samples
        # as the table and the attack view; the other sets are subsets.
        trace_sets = {**self._sample_sets(self.trace_size),
                      "train_forget": ("train", self.split.forget_train)}
        self.trace_ids = {
            split: np.sort(np.concatenate([ids for sp, ids in trace_sets.values() if sp == split]))
            for split in ("train", "test")
        }
        self.setup = EvalSetup(
            y_train=dataset.y_train.numpy(), y_test=dataset.y_test.numpy(), split=self.split,
            num_classes=dataset.num_classes, shadow_in=self.split.retain_train,
            shadow_out=self.split.retain_test, grid=grid, seed=self.seed,
        )
        self.progress = progress
        self._runs: dict[str, Run] = {}
        self._outputs: dict[str, Outputs] = {}
        self._weights = WeightStore(self._outputs, resolve_budget(memory_budget), self.workdir / "spill")
        self._details: dict[str, dict] = {}
        self._embeddings: dict[str, Embedding] = {}
        self._counters: dict[str, int] = {}
        self._revisions: dict[str, int] = {}  # run id -> version of its metrics (views resend on change)
        self._next_revision = itertools.count(1)
        self._audits: dict = {}  # (audit kind, run id) -> the audit's latest result for that run
        self._audit_cache: dict = {}  # what audits keep between calls (U-LiRA's shadow models), by their own keys
        self._listeners: list = []
        self._lock = threading.RLock()
        self._embed_lock = threading.RLock()
        self._stop = threading.Event()
        self._data: DeviceData | None = None
        self._arch_sig: str | None = None

    # ------------------------------------------------------------------ access

    def __repr__(self) -> str:
        return (f"Study({self.dataset.name}, forget={self.forget!r}, model={self.arch.name}, "
                f"seed={self.seed}, device={self.device}, runs={len(self._runs)})")

    def __getitem__(self, run_id: str) -> Run:
        if isinstance(run_id, Run):
            run_id = run_id.id
        try:
            return self._runs[run_id]
        except KeyError:
            raise StudyError(
                f"no run {run_id!r} in this study; its runs are {list(self._runs) or 'none yet'}."
            ) from None

    def __contains__(self, run_id) -> bool:
        return (run_id.id if isinstance(run_id, Run) else run_id) in self._runs

    @property
    def runs(self) -> list[Run]:
        return list(self._runs.values())

    @property
    def original(self) -> Run:
        """The Original model, trained (or loaded from the cache) on first use."""
        self._ensure(ORIGINAL)
        return self._runs[ORIGINAL]

    @property
    def retrain(self) -> Run:
        """The Retrain model (trained without the forget set), trained on first use."""
        self._ensure(RETRAIN)
        return self._runs[RETRAIN]

    def prepare(self) -> "Study":
        """Train or load the Original and the Retrain model now."""
        self._ensure(ORIGINAL)
        self._ensure(RETRAIN)
        return self

    def add_listener(self, fn) -> None:
        """Call ``fn(event: dict)`` on events: progress (``run_started``, ``epoch``, ``stage``,
        ``run_finished``, ``run_failed``) and changes of stored runs (``changed`` with the
        ``runs`` whose records or metrics changed, or ``layout`` for a new layout; ``deleted``
        with its ``run``). Listeners run in the thread that made the change and must return
        quickly."""
        self._listeners.append(fn)

    def remove_listener(self, fn) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def cancel(self) -> None:
        """Ask the running job to stop after the current epoch."""
        self._stop.set()

    # ------------------------------------------------------------------ results

    @property
    def results(self) -> pd.DataFrame:
        """One row per model: identity, hyperparameters, then metric columns.

        After the scores come the costs: ``RTE`` (seconds of the unlearning loop; Retrain:
        its training time), ``RTE_ratio`` (RTE / Retrain's RTE; NaN when Retrain was
        loaded, not trained here), ``peak_MB`` (peak memory above the run's start: CUDA
        allocated memory, or the process's sampled RSS on a CPU) and ``images`` (samples
        pushed through the network or its copies); NaN where not measured.

        Once a run has been audited with ``study.audit("relearn", ...)``, a last column
        ``relearn_steps`` holds, per run, the steps of its latest relearning probe until
        its UA reached that audit's ``threshold`` (NaN: never audited, or the threshold
        was not reached within the audit's steps); the Retrain row holds the Retrain
        model's probe from the latest audit (:mod:`mucomp_widget.audits.relearn`). A study
        without relearning audits has no such column.
        """
        self.prepare()
        rows = []
        rank = {ORIGINAL: 0, RETRAIN: 1}
        ordered = sorted(list(self._runs.values()), key=lambda r: rank.get(r.id, 2))
        retrain_rte = self._runs[RETRAIN].rte
        for r in ordered:
            hp = r.hyperparameters
            rows.append({
                "id": r.id, "type": r.type, "method": r.method, "base": r.base,
                "epochs": hp.get("epochs"), "lr": hp.get("lr"), "batch_size": hp.get("batch_size"),
                "seed": r.seed, **{m: r.metrics.get(m, math.nan) for m in METRICS},
                **_costs(r, retrain_rte),
            })
        df = pd.DataFrame(rows, columns=["id", "type", "method", "base", "epochs", "lr",
                                         "batch_size", "seed", *METRICS, *COSTS])
        df = df.astype({"epochs": "Int64", "batch_size": "Int64", "seed": "Int64",
                        "lr": "float64", **{c: "float64" for c in COSTS}})
        relearn = {rid: res for (kind, rid), res in list(self._audits.items()) if kind == "relearn"}
        if relearn:
            steps = [getattr(relearn.get(rid), "steps_run", None) for rid in df["id"]]
            df["relearn_steps"] = np.array([math.nan if v is None else float(v) for v in steps],
                                           dtype=np.float64)
        return df

    def summary(self) -> pd.DataFrame:
        """Mean and spread of every metric over the runs of each group -> DataFrame.

        One row per group of runs made by ``unlearn(..., seeds=[...])`` (or one grid point
        of ``sweep(..., seeds=[...])``), and one per run made alone (Original, Retrain,
        uploads, unseeded runs: a group of one), in the order of :attr:`results`.
        Columns: ``group`` (None for a run made alone), ``runs`` (their ids), ``type``,
        ``method``, ``base``, ``epochs``, ``lr``, ``batch_size``, ``hyperparameters``
        (every one, the same for the whole group), ``seeds``, ``n`` (runs), then for each
        metric column of :attr:`results` (UA ... AvgGap, RTE ... images) ``<metric>_mean`` and
        ``<metric>_std``: the mean over the group's runs and their sample standard
        deviation (``ddof=1``; NaN for a group of one). A metric that is NaN for one run
        of a group is NaN in the summary. Directions are those of the metric columns
        (``mu.evaluation.summary.METRIC_INFO``). Each run keeps its own bootstrap
        intervals (``run.details["ps_ci"]``); the std here is the spread over seeds.
        """
        self.prepare()
        rank = {ORIGINAL: 0, RETRAIN: 1}
        ordered = sorted(list(self._runs.values()), key=lambda r: rank.get(r.id, 2))
        groups: dict = {}
        for r in ordered:
            groups.setdefault(("group", r.group) if r.group is not None else ("run", r.id), []).append(r)
        metrics = [*METRICS, *COSTS]
        retrain_rte = self._runs[RETRAIN].rte
        rows = []
        for members in groups.values():
            first = members[0]
            hp = first.hyperparameters
            row = {"group": first.group, "runs": [r.id for r in members], "type": first.type,
                   "method": first.method, "base": first.base, "epochs": hp.get("epochs"),
                   "lr": hp.get("lr"), "batch_size": hp.get("batch_size"),
                   "hyperparameters": dict(hp), "seeds": [r.seed for r in members],
                   "n": len(members)}
            costs = [_costs(r, retrain_rte) for r in members]
            for m in metrics:
                values = np.array([c[m] if m in COSTS else r.metrics.get(m, math.nan)
                                   for r, c in zip(members, costs)], dtype=np.float64)
                row[f"{m}_mean"] = float(np.mean(values))
                row[f"{m}_std"] = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
            rows.append(row)
        columns = ["group", "runs", "type", "method", "base", "epochs", "lr", "batch_size",
                   "hyperparameters", "seeds", "n",
                   *[f"{m}_{stat}" for m in metrics for stat in ("mean", "std")]]
        df = pd.DataFrame(rows, columns=columns)
        return df.astype({"epochs": "Int64", "batch_size": "Int64", "lr": "float64", "n": "int64"})

    # ------------------------------------------------------------------ internals

    def _run_seed(self, seed) -> int:
        if seed is None:
            return self.seed
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ConfigError(f"seed must be an integer, got {seed!r}.")
        return int(seed)

    @staticmethod
    def _run_seeds(seed, seeds) -> list[int] | None:
        """``seeds`` checked: None, or a non-empty list of distinct integers (not with ``seed``)."""
        if seeds is None:
            return None
        if seed is not None:
            raise ConfigError(f"give seed={seed!r} or seeds={seeds!r}, not both: seeds=[...] runs "
                              "the method once per seed, seed=... once.")
        if isinstance(seeds, (str, bytes, dict, set, frozenset)) or not isinstance(
                seeds, (list, tuple, range, np.ndarray)):
            raise ConfigError(f"seeds must be a list of integers, e.g. seeds=[0, 1, 2], got {seeds!r}.")
        values = list(seeds.tolist() if isinstance(seeds, np.ndarray) else seeds)
        if not values:
            raise ConfigError("seeds is empty; give at least one seed, e.g. seeds=[0, 1, 2].")
        bad = [v for v in values if isinstance(v, bool) or not isinstance(v, (int, np.integer))]
        if bad:
            raise ConfigError(f"seeds must be integers, got {bad[0]!r} in {values!r}.")
        values = [int(v) for v in values]
        dup = sorted({v for v in values if values.count(v) > 1})
        if dup:
            raise ConfigError(f"seeds must be distinct, got {dup[0]} more than once in {values!r}; "
                              "the same seed gives the same run.")
        return values

    def _new_group(self, stem: str) -> str:
        """A new group id ``<method>-g<n>``, never one that a run of this study holds."""
        used = {r.group for r in self._runs.values()}
        key = f"group:{stem}"  # its own counter: run ids are counted under the bare stem
        n = self._counters.get(key, 0)
        while True:
            n += 1
            candidate = f"{stem}-g{n}"
            if candidate not in used:
                self._counters[key] = n
                return candidate

    def _device_data(self) -> DeviceData:
        if self._data is None:
            self._data = DeviceData(self.dataset, self.device)
        return self._data

    def _emit(self, **event) -> None:
        for fn in list(self._listeners):
            fn(event)

    def _changed(self, run_ids) -> None:
        """New revisions for ``run_ids`` (their records or metrics changed), announced."""
        ids = list(run_ids)
        for rid in ids:
            self._revisions[rid] = next(self._next_revision)
        self._emit(event="changed", runs=ids)

    def _revision(self, run_id: str) -> int:
        """Version of a run's record and metrics: it changes whenever they do."""
        return self._revisions.get(run_id, 0)

    def _new_id(self, stem: str) -> str:
        n = self._counters.get(stem, 0)
        while True:
            n += 1
            candidate = f"{stem}-{n}"
            if candidate not in self._runs:
                self._counters[stem] = n
                return candidate

    def _build_model(self, run_id: str) -> nn.Module:
        net = self.arch.build()
        net.load_state_dict(self._weights[run_id])
        return prepare_model(net, self.device).eval()

    def _key(self, kind: str) -> str:
        if self._arch_sig is None:
            self._arch_sig = self.arch.signature()
        return cache_key(
            kind=kind, dataset=self.dataset.fingerprint(), arch=self._arch_sig,
            recipe=self.recipe.to_dict(), seed=self.seed,
            forget=self.forget.key() if kind == RETRAIN else None,
        )

    def _sample_sets(self, size: int) -> dict:
        """Seeded sets of at most ``size`` forget/retain samples of train and test."""
        y_tr, y_te = self.dataset.y_train.numpy(), self.dataset.y_test.numpy()
        out = {}
        for name, split, ids, labels in (
            ("train_forget", "train", self.split.forget_train, y_tr),
            ("train_retain", "train", self.split.retain_train, y_tr),
            ("test_forget", "test", self.split.forget_test, y_te),
            ("test_retain", "test", self.split.retain_test, y_te),
        ):
            if len(ids):
                out[name] = (split, ids[_stratified(labels[ids], size, self.seed)])
        return out

    def _evaluate(self, model: nn.Module) -> Outputs:
        """The one inference pass of a model."""
        return infer(model, self._device_data(), probe_ids=self.probe_ids,
                     feature_layer=self.arch.feature_layer, gram_sets=self.cka_sets,
                     blocks=self.arch.blocks)

    def _score(self, run_id: str) -> None:
        """(Re)compute a run's metrics from the stored outputs; no model is touched."""
        refs = {k: self._outputs[k] for k in (ORIGINAL, RETRAIN) if k in self._outputs}
        retrain_metrics = self._runs[RETRAIN].metrics if RETRAIN in self._runs and run_id != RETRAIN else None
        metrics, details = evaluate(self._outputs[run_id], self.setup, retrain=refs.get(RETRAIN),
                                    retrain_metrics=retrain_metrics, cka_against=refs)
        self._runs[run_id].metrics = metrics
        self._details[run_id] = details

    def _details_of(self, run_id: str) -> dict:
        details = self._details.get(run_id)
        if details is not None:
            return details
        with self._lock:
            if run_id not in self._details:
                self._score(run_id)
            return self._details[run_id]

    def embedding(self, run_id) -> Embedding:
        """The run's 2-D layout of the probe samples, in the Original's map.

        Computed on first use and kept (and saved with the study). The Original's layout
        is its UMAP; every other model's samples are placed in it by where their features
        fall among the Original's (:func:`~mucomp_widget.evaluation.embedding.embed`), so
        a sample sits in comparable places across models and one whose features changed
        moves (the reference system fits each model independently). ``disparity`` says
        how far the retained samples moved; the widget warns above 0.25 of the spread.
        """
        run = self[run_id]
        with self._embed_lock:  # not the study lock: layouts are made while a run trains
            emb = self._embeddings.get(run.id)
            if emb is None or np.isnan(emb.disparity):
                out = self._outputs[run.id]
                classes, probs = top_probabilities(out.train_logits[self.probe_ids])
                if run.id == ORIGINAL:
                    coords, moved = embed(out.probe_features, seed=self.seed), 0.0
                else:
                    original = self.embedding(ORIGINAL).coords
                    coords = embed(out.probe_features, seed=self.seed, reference=(
                        self._outputs[ORIGINAL].probe_features, original))
                    retained = ~np.isin(self.probe_ids, self.split.forget_train)
                    moved = disparity(coords, original, retained if retained.any() else None)
                emb = self._embeddings[run.id] = Embedding(self.probe_ids, coords, classes, probs, moved)
                self._emit(event="changed", runs=[run.id], layout=True)
            return _read_only(emb)

    def _commit(self, run: Run, model: nn.Module, outputs: Outputs) -> Run:
        """Store a run with its weights and outputs, and score it (and, for a new
        reference model, rescore every run against it)."""
        run._study = self
        run.created_at = run.created_at or _now()
        if run.provenance is None:  # a checkpoint: evaluated here, made elsewhere
            run.provenance = manifest.provenance(self.device)
        self._outputs[run.id] = outputs
        # after its outputs: the store may move weights and Grams to disk (mucomp_widget.spill)
        self._weights[run.id] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        self._runs[run.id] = run
        self._embeddings.pop(run.id, None)
        if run.id == ORIGINAL:
            self._embeddings.clear()  # every layout is placed in the Original's map
        if run.id in (ORIGINAL, RETRAIN):
            order = [RETRAIN] if RETRAIN in self._runs else []
            rescored = order + [r for r in self._runs if r != RETRAIN]
            for rid in rescored:
                self._score(rid)
            self._changed(rescored)
        else:
            self._score(run.id)
            self._changed([run.id])
        release_free_memory()  # the inference pass's freed buffers (mucomp_widget.spill)
        return run

    def _listen(self, label: str, epochs: int, tracer: EpochTracer | None = None):
        bar = progress_bar(label, epochs) if self.progress else None

        def on_epoch(epoch: int, loss: float, model: nn.Module | None = None):
            if bar is not None:
                bar.update(epoch, loss)
            extra = {"metrics": tracer(epoch, model)} if tracer is not None else {}
            self._emit(event="epoch", run=label, epoch=epoch, epochs=epochs, loss=loss, **extra)

        return on_epoch, bar

    def _ensure(self, kind: str) -> None:
        if kind in self._runs:
            return
        with self._lock:
            if kind in self._runs:
                return
            key = self._key(kind)
            cache = ModelCache(self.workdir)
            hit = cache.get(key)
            if hit is not None:
                net = self.arch.build()
                try:
                    net.load_state_dict(hit[0])
                except (RuntimeError, KeyError):  # an edited entry that no longer fits: retrain
                    hit = None
            idx = (np.arange(self.dataset.n_train) if kind == ORIGINAL else self.split.retain_train)
            label = "Original" if kind == ORIGINAL else "Retrain"
            hp = {"epochs": self.recipe.epochs, "lr": self.recipe.lr, "batch_size": self.recipe.batch_size}
            if hit is not None:
                meta = hit[1]
                net = prepare_model(net, self.device)
            else:
                self._stop.clear()
                on_epoch, bar = self._listen(label, self.recipe.epochs)
                self._emit(event="run_started", run=label, epochs=self.recipe.epochs)
                gen = torch.Generator().manual_seed(self.seed)
                loader = TensorLoader(self._device_data(), idx, self.recipe.batch_size, shuffle=True,
                                      augment=self.dataset.augment if self.recipe.augment else None,
                                      generator=gen)

                def report(epoch, loss):
                    on_epoch(epoch, loss)
                    if self._stop.is_set():
                        raise RunCancelled(f"training the {label} model was cancelled.")

                start = time.perf_counter()
                meter = Meter(self.device)
                try:
                    with seeded(self.seed, self.device), meter:
                        net = prepare_model(self.arch.build(), self.device)
                        hook = net.register_forward_pre_hook(lambda _m, args: meter.count(args[0]))
                        losses = train_model(net, loader, self.recipe, self.device, report)
                        hook.remove()
                finally:
                    if bar is not None:
                        bar.close()
                meta = {"train_time": time.perf_counter() - start, "losses": losses,
                        "images": meter.images, "peak_memory": meter.peak_bytes,
                        "created_at": _now(), "mucomp_version": __version__,
                        "environment": manifest.environment(self.device)}
                cache.put(key, net.state_dict(), meta)
            self._emit(event="stage", run=label, stage="evaluating")
            run = Run(id=kind, type=label, hyperparameters=hp, seed=self.seed,
                      rte=meta["train_time"] if kind == RETRAIN else None,
                      wall_time=meta["train_time"], losses=list(meta["losses"]),
                      created_at=meta.get("created_at", ""),
                      images=_count(meta.get("images")), peak_memory=_count(meta.get("peak_memory")),
                      provenance=manifest.provenance(self.device, train_model,
                                                     trained_in=meta.get("environment")))
            self._commit(run, net, self._evaluate(net))
            self._emit(event="run_finished", run=kind)

    def _read_checkpoint(self, path) -> tuple[nn.Module, str]:
        """Load a checkpoint into a fresh model of this study's architecture, checked."""
        source = str(path) if not isinstance(path, (dict, nn.Module)) else type(path).__name__
        net = load_state_dict(self.arch.build(), read_state_dict(path), arch_name=self.arch.name,
                              source=source)
        bad = non_finite_parameters(net)
        if bad:
            raise CheckpointError(f"{source} holds non-finite weights (NaN or inf) in {bad[:5]}.")
        return prepare_model(net, self.device), source

    def _load_reference(self, kind: str, path) -> Run:
        net, source = self._read_checkpoint(path)
        outputs = self._evaluate(net)
        label = "Original" if kind == ORIGINAL else "Retrain"
        with self._lock:
            return self._commit(Run(id=kind, type=label, source=source), net, outputs)

    # ------------------------------------------------------------------ public actions

    def load_original(self, path) -> Run:
        """Use trained weights (a state-dict file, dict or module) as the Original model."""
        with self._lock:
            dependent = [r.id for r in self._runs.values() if r.type in ("Unlearned",)]
            if dependent:
                raise StudyError(
                    f"the Original can only be replaced before unlearning; runs {dependent} were "
                    "built from the current one. Create a new Study to use other weights."
                )
            return self._load_reference(ORIGINAL, path)

    def load_retrain(self, path) -> Run:
        """Use trained weights as the Retrain (gold standard) model."""
        with self._lock:
            return self._load_reference(RETRAIN, path)

    def unlearn(self, method, *, base=None, seed: int | None = None, seeds=None,
                trace: bool = False, keep_best: bool = False, time_limit: float | None = None,
                **hyperparameters):
        """Run an unlearning method on a copy of ``base`` (default: the Original) -> Run.

        ``method`` is a registered name (see ``mu.methods.available()``) or a function
        with the method signature. Hyperparameters not given fall back to the dataset's
        tuned values, then to the method's registered defaults. ``trace=True`` records UA,
        RA, TUA, TRA, PS, MIA and Avg. Gap after every epoch on ``trace_size`` samples per
        set (``run.trace``); ``keep_best=True`` also keeps the epoch closest to Retrain
        (smallest Avg. Gap) as the run's model (``run.best_epoch``). Trace time is not
        counted in RTE. ``time_limit`` (seconds) stops a run that takes longer with a
        :class:`~mucomp_widget.methods.RunTimeout`; :meth:`cancel` and the time limit reach a
        method at its model's next forward pass.

        ``seed`` (default: the study's) seeds this run: loader order, random labels,
        random initialisations. ``seeds=[0, 1, 2]`` (a non-empty list of distinct
        integers; not together with ``seed``) runs the method once per seed, with the same
        base and hyperparameters, and returns the list of Runs; they share a new
        ``run.group`` (e.g. ``"ga-g1"``) and :meth:`summary` gives their mean and standard
        deviation per metric. Each run is stored as soon as it is finished, so a cancelled
        or failed call keeps the group's earlier runs. A run made without ``seeds`` has
        ``group`` None.
        """
        spec = spec_for(method)
        check_scope(spec, self.split.forget_classes)
        hp = resolve_hyperparameters(spec, self.dataset.method_defaults, hyperparameters)
        seed_list = self._run_seeds(seed, seeds)
        seed = self._run_seed(seed)
        time_limit = _check_time_limit(time_limit)
        base_id = self._base_id(base)  # an unknown base fails before any run
        self._stop.clear()  # once per call: a cancel between two seeds stops the next one
        if seed_list is None:
            return self._unlearn_one(spec, hp, base_id, seed, trace, keep_best, time_limit, None)
        with self._lock:
            group = self._new_group(spec.name)
        return [self._unlearn_one(spec, dict(hp), base_id, s, trace, keep_best, time_limit, group)
                for s in seed_list]

    def _unlearn_one(self, spec, hp: dict, base_id: str, seed: int, trace: bool, keep_best: bool,
                     time_limit: float | None, group: str | None) -> Run:
        """One unlearning run with checked arguments (see :meth:`unlearn`)."""
        base_run = self[base_id]
        with self._lock:
            model = base_run.model  # a fresh module: the base run's weights stay untouched
            tracer = self._tracer(base_id, keep_best) if trace or keep_best else None
            on_epoch, bar = self._listen(spec.name, hp["epochs"], tracer)
            self._emit(event="run_started", run=spec.name, epochs=hp["epochs"])
            try:
                result, model = run_method(
                    spec, model, self._device_data(), forget_ids=self.split.forget_train,
                    retain_ids=self.split.retain_train, hp=hp, seed=seed, device=self.device,
                    num_classes=self.dataset.num_classes, forget_classes=self.split.forget_classes,
                    on_epoch=on_epoch, should_stop=self._stop.is_set, time_limit=time_limit,
                    tracer=tracer, keep_best=keep_best)
            except BaseException as exc:
                self._emit(event="run_failed", run=spec.name, error=str(exc))
                raise
            finally:
                if bar is not None:
                    bar.close()
            self._emit(event="stage", run=spec.name, stage="evaluating")
            run = self._record(spec.name, hp, base_id, seed, group, result, tracer, keep_best,
                               manifest.provenance(self.device, spec.fn))
            self._commit(run, model, self._evaluate(model))
        self._emit(event="run_finished", run=run.id)
        return run

    def _tracer(self, base_id: str, keep_best: bool = False) -> EpochTracer:
        """Per-epoch metrics of a run from ``base_id`` (Retrain trained first if need be)."""
        self._ensure(RETRAIN)
        return EpochTracer(self._device_data(), self.setup, self.trace_ids, self._outputs[base_id],
                           self._outputs[RETRAIN], self._runs[RETRAIN].metrics, keep_best)

    def _record(self, method: str, hp: dict, base_id: str, seed: int, group: str | None, result,
                tracer, keep_best: bool, provenance: dict) -> Run:
        """The record of an unlearned run (not yet stored: see :meth:`_commit`)."""
        return Run(id=self._new_id(method), type="Unlearned", method=method, base=base_id,
                   hyperparameters=hp, seed=int(seed), rte=result.rte, wall_time=result.wall,
                   losses=result.losses, images=result.images, peak_memory=result.peak_memory,
                   trace=tracer.history if tracer else {},
                   best_epoch=tracer.best_epoch if keep_best else None, group=group,
                   provenance=provenance)

    def sweep(self, method, *, base=None, seed: int | None = None, seeds=None,
              trace: bool = False, keep_best: bool = False, time_limit: float | None = None,
              executor: str = "local", resources: dict | None = None, retries: int = 3,
              **grids) -> list:
        """Run ``method`` once per point of the cartesian grid of ``grids``.

        ``study.sweep("ga", lr=[1e-4, 1e-3], epochs=[5, 7])`` makes 4 runs. A scalar is a
        grid of one value. ``trace``, ``keep_best`` and ``time_limit`` apply to every run;
        every point of the grid is checked before the first run starts. With
        ``seeds=[...]`` every point runs once per seed, and the runs of one point form one
        group (see :meth:`unlearn` and :meth:`summary`): grid points x seeds runs, in
        grid order, the seeds of a point together.

        ``executor="ray"`` runs the runs as Ray tasks (:mod:`mucomp_widget.distributed`;
        ``pip install 'mucomp_widget[ray]'``), on the Ray the caller started with
        ``ray.init`` or on a local one with this machine's cores. ``resources`` per run:
        ``{"num_cpus": 1, "num_gpus": 0.5}`` (default one CPU, and one GPU for a study on
        CUDA). Each worker uses this kernel's torch thread count, so a run gives the same
        numbers as in the kernel. Runs are recorded as they finish; the list comes back in
        grid order, a :class:`~mucomp_widget.distributed.Failure` (with the error) where a
        run raised or its worker died more than ``retries`` times (Ray's ``max_retries``,
        for worker deaths only). :meth:`cancel` stops the runs not yet finished (they come
        back as Failures) and keeps the finished ones.
        """
        if executor not in ("local", "ray"):
            raise ConfigError(f"executor must be 'local' or 'ray', got {executor!r}.")
        seed_list = self._run_seeds(seed, seeds)
        self._run_seed(seed)
        time_limit = _check_time_limit(time_limit)
        keys = list(grids)
        values = [v if isinstance(v, (list, tuple, np.ndarray, range)) else [v] for v in grids.values()]
        empty = [k for k, v in zip(keys, values) if len(v) == 0]
        if empty:
            raise ConfigError(f"the grid for {empty[0]!r} is empty; give at least one value.")
        points = [dict(zip(keys, combo)) for combo in itertools.product(*values)]
        spec = spec_for(method)
        check_scope(spec, self.split.forget_classes)
        resolved = [resolve_hyperparameters(spec, self.dataset.method_defaults, point)
                    for point in points]  # the whole grid is checked before the first run
        if executor == "ray":
            return self._sweep_on_ray(spec, resolved, base, seed, seed_list, trace, keep_best,
                                      time_limit, resources, retries)
        if seed_list is None:
            return [self.unlearn(method, base=base, seed=seed, trace=trace, keep_best=keep_best,
                                 time_limit=time_limit, **point)
                    for point in points]
        runs: list[Run] = []
        for point in points:
            runs.extend(self.unlearn(method, base=base, seeds=seed_list, trace=trace,
                                     keep_best=keep_best, time_limit=time_limit, **point))
        return runs

    def _sweep_on_ray(self, spec, points: list, base, seed, seed_list, trace, keep_best,
                      time_limit, resources, retries) -> list:
        from . import distributed

        base_id = self._base_id(base)
        jobs = []
        for hp in points:
            if seed_list is None:
                jobs.append({"hp": hp, "seed": self._run_seed(seed), "group": None, "base": base_id})
                continue
            with self._lock:
                group = self._new_group(spec.name)
            jobs.extend({"hp": dict(hp), "seed": s, "group": group, "base": base_id}
                        for s in seed_list)
        self._stop.clear()
        return distributed.ray_sweep(self, spec, jobs, self._shared(base_id, trace or keep_best),
                                     time_limit=time_limit, trace=trace, keep_best=keep_best,
                                     resources=resources, retries=retries)

    def tune(self, method, space: dict, *, objective: str = "AvgGap", trials: int = 20,
             executor: str = "local", base=None, seed: int | None = None,
             time_limit: float | None = None, resources: dict | None = None, retries: int = 3,
             max_concurrent: int | None = None, **fixed):
        """Search ``method``'s hyperparameters with Optuna's TPE sampler -> TuneResult.

        ``space`` maps a hyperparameter to a list of values, a range ``(low, high)``
        (integers if both ends are) or a log range ``(low, high, "log")``; ``fixed`` sets
        others. ``objective`` is any results column, optimised in its declared direction:
        "higher"/"lower" columns as they are, the others by their distance to the Retrain
        model's value (or to their target); the default ``"AvgGap"`` is the mean gap to
        Retrain. Every trial becomes a run of this study (seed ``seed``, default the
        study's), recorded as it finishes. ``executor="local"`` runs the trials one after
        another in the kernel (reproducible: same seed, same trials); ``"ray"`` runs them
        through Ray Tune (:mod:`mucomp_widget.distributed`), ``max_concurrent`` at a time
        (default: as many as Ray's resources allow), with ``resources`` and ``retries`` as in
        :meth:`sweep`; the sampler then sees results in the order they finish.
        """
        from . import distributed

        if executor not in ("local", "ray"):
            raise ConfigError(f"executor must be 'local' or 'ray', got {executor!r}.")
        if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 1:
            raise ConfigError(f"trials must be a positive integer, got {trials!r}.")
        if max_concurrent is not None and (isinstance(max_concurrent, bool) or not isinstance(
                max_concurrent, (int, np.integer)) or max_concurrent < 1):
            raise ConfigError(f"max_concurrent must be a positive integer or None, got {max_concurrent!r}.")
        info = distributed.objective_info(objective)
        spec = spec_for(method)
        check_scope(spec, self.split.forget_classes)
        overlap = sorted(set(space) & set(fixed)) if isinstance(space, dict) else []
        if overlap:
            raise ConfigError(f"{overlap[0]!r} is both searched (space) and fixed; give it once.")
        resolve_hyperparameters(spec, self.dataset.method_defaults, fixed)
        dists = distributed.distributions(
            space, spec, lambda hp: resolve_hyperparameters(spec, self.dataset.method_defaults,
                                                            {**fixed, **hp}))
        seed = self._run_seed(seed)
        time_limit = _check_time_limit(time_limit)
        base_id = self._base_id(base)
        self._ensure(RETRAIN)
        self._stop.clear()
        if executor == "local":
            rows, runs = distributed.local_tune(self, method, spec, dists, fixed, info=info,
                                                trials=int(trials), seed=seed, base_id=base_id,
                                                time_limit=time_limit)
        else:
            rows, runs = distributed.ray_tune(self, spec, dists, fixed, self._shared(base_id, True),
                                              info=info, trials=int(trials), seed=seed,
                                              base_id=base_id, resources=resources, retries=retries,
                                              time_limit=time_limit, max_concurrent=max_concurrent)
        trials_df = pd.DataFrame(rows, columns=[*dists, "objective", "run", "error"])
        scored = [(v, r) for v, r in zip(trials_df["objective"], trials_df["run"])
                  if r is not None and r in self._runs and np.isfinite(v)]
        pick = max if info.direction == "higher" else min
        best = self[pick(scored, key=lambda vr: vr[0])[1]] if scored else None
        return distributed.TuneResult(objective=info.key, direction=distributed.direction_of(info),
                                      trials=trials_df, runs=runs, best=best)

    def _base_id(self, base) -> str:
        """The id of an unlearning base (default: the Original), trained first if need be."""
        base_id = ORIGINAL if base is None else (base.id if isinstance(base, Run) else base)
        if base_id in (ORIGINAL, RETRAIN):
            self._ensure(base_id)
        self[base_id]  # an unknown base fails here
        return base_id

    def _shared(self, base_id: str, with_retrain: bool):
        """What every trial of a Ray sweep or search reads (put in the object store once)."""
        from .distributed import Shared

        if with_retrain:
            self._ensure(RETRAIN)
        refs = {k: self._outputs[k] for k in (ORIGINAL, RETRAIN) if k in self._outputs}
        return Shared(
            token=f"{id(self)}-{self.dataset.fingerprint()}", dataset=self.dataset, arch=self.arch,
            forget_ids=self.split.forget_train, retain_ids=self.split.retain_train,
            num_classes=self.dataset.num_classes, forget_classes=self.split.forget_classes,
            probe_ids=self.probe_ids, cka_sets=self.cka_sets, base_weights=self._weights[base_id],
            setup=self.setup, trace_ids=self.trace_ids, base_outputs=self._outputs[base_id],
            retrain_outputs=refs.get(RETRAIN),
            retrain_metrics=self._runs[RETRAIN].metrics if RETRAIN in self._runs else None,
            references=refs, retrain_rte=self._runs[RETRAIN].rte if RETRAIN in self._runs else None)

    def _commit_trial(self, spec, job: dict, got, keep_best: bool) -> Run:
        """Record a run made in a Ray worker (:func:`mucomp_widget.distributed.run_trial`)."""
        net = self.arch.build()
        net.load_state_dict(got.weights)
        tracer = SimpleNamespace(history=got.history, best_epoch=got.best_epoch) if got.history else None
        with self._lock:
            run = self._record(spec.name, job["hp"], job["base"], job["seed"],
                               job.get("group"), got, tracer, keep_best, got.provenance)
            self._commit(run, net, got.outputs)
        self._emit(event="run_finished", run=run.id)
        return run

    def _row(self, run_id: str) -> dict:
        """A run's results-row values: its metrics and costs."""
        run = self._runs[run_id]
        return {**run.metrics, **_costs(run, self._runs[RETRAIN].rte)}

    def audit(self, kind: str, run_id=None, **options):
        """Audit a run beyond its one inference pass -> the audit's result object.

        ``"ulira"``: U-LiRA (Hayes et al., SaTML 2025), a per-example test of whether the
        run can be told apart from retrained models, from shadow models
        (:mod:`mucomp_widget.audits.ulira`). ``"relearn"``: how quickly fine-tuning on a
        small labelled slice of the forget set brings the forgotten knowledge back
        (:mod:`mucomp_widget.audits.relearn`). ``options`` are the audit's parameters.
        """
        from .audits import get_audit

        return get_audit(kind)(self, run_id, **options)

    def add_checkpoint(self, path, name: str | None = None) -> Run:
        """Evaluate weights unlearned elsewhere (the reference system's Upload).

        ``name`` may be any one-line text (it never becomes a file name) except the
        reference models' ids ``original`` and ``retrain``.
        """
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ConfigError(f"name must be a non-empty string, got {name!r}.")
        if name is not None and any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in name):
            raise ConfigError(f"name {name!r} holds a control character or line break; give a "
                              "one-line name.")
        if name in (ORIGINAL, RETRAIN):
            raise ConfigError(f"name {name!r} is the id of a reference model; pick another name.")
        if name is not None and name in self._runs:
            raise StudyError(f"a run named {name!r} already exists; pick another name.")
        net, source = self._read_checkpoint(path)
        outputs = self._evaluate(net)
        with self._lock:
            run_id = name if name is not None else self._new_id("upload")
            if run_id in self._runs:
                raise StudyError(f"a run named {run_id!r} already exists; pick another name.")
            run = Run(id=run_id, type="Uploaded", method="checkpoint", source=source)
            return self._commit(run, net, outputs)

    def delete(self, run_id) -> None:
        """Remove an unlearned or uploaded run (the Original and Retrain stay)."""
        run = self[run_id]
        if run.id in (ORIGINAL, RETRAIN):
            raise StudyError(f"{run.id!r} is a reference model and cannot be deleted.")
        with self._lock:
            for d in (self._runs, self._weights, self._outputs, self._details, self._embeddings,
                      self._revisions):
                d.pop(run.id, None)
            for key in [k for k in self._audits if k[1] == run.id]:
                del self._audits[key]
        self._emit(event="deleted", run=run.id)

    # ------------------------------------------------------------------ persistence

    def save(self, path) -> Path:
        """Write the whole study (records, weights, inference outputs) to a folder.

        Data files are named by the hash of their content, never by a run name, and
        ``study.json`` (which lists them) is replaced last, so an earlier save in the same
        folder stays readable until this one is complete. ``manifest.json`` records what
        produced the numbers (:mod:`mucomp_widget.manifest`).
        """
        root = Path(path).expanduser()
        self.prepare()
        with self._lock:
            try:
                if root.exists() and not root.is_dir():
                    raise StudyError(f"cannot save the study to {root}: it is a file, not a folder; "
                                     "pass a folder path.")
                files = {"runs": {}}
                for run_id in self._runs:
                    entry = files["runs"][run_id] = {
                        "weights": write_blob(root / "models", weights_to_safetensors(self._weights[run_id]),
                                              "safetensors"),
                        "outputs": write_blob(root / "outputs", self._outputs[run_id].to_bytes(), "npz"),
                    }
                    emb = self._embeddings.get(run_id)
                    if emb is not None:
                        entry["embedding"] = write_blob(root / "embeddings", _npz(asdict(emb)), "npz")
                if self.dataset.source.get("kind") == "arrays":
                    ds = self.dataset
                    files["dataset"] = write_blob(root / "data", _npz({
                        "x_train": ds.x_train.numpy(), "y_train": ds.y_train.numpy(),
                        "x_test": ds.x_test.numpy(), "y_test": ds.y_test.numpy()}), "npz")
                write_json(root / "manifest.json", manifest.build(self))
                write_json(root / "study.json", {
                    "format": FORMAT, "mucomp_version": __version__, "saved_at": _now(),
                    "dataset": {**self.dataset.source, "name": self.dataset.name,
                                "fingerprint": self.dataset.fingerprint(),
                                "class_names": list(self.dataset.class_names),
                                "value_range": list(self.dataset.value_range),
                                "mean": list(self.dataset.mean), "std": list(self.dataset.std),
                                "augment": self.dataset.augment},
                    "forget": self.forget.to_dict(), "model": self._model_arg,
                    "architecture": self.arch.name, "feature_layer": self.arch.feature_layer,
                    "seed": self.seed, "recipe": self.recipe.to_dict(), "probe_size": self.probe_size,
                    "cka_size": self.cka_size, "trace_size": self.trace_size,
                    "grid": self.setup.grid if isinstance(self.setup.grid, str) else list(self.setup.grid),
                    "counters": self._counters, "runs": [r.record() for r in self._runs.values()],
                    "files": files,
                })
                kept = {d for e in files["runs"].values() for d in e.values()} | {files.get("dataset")}
                for sub in ("models", "outputs", "embeddings", "data"):
                    prune_blobs(root / sub, kept)
            except OSError as exc:
                raise StudyError(f"cannot save the study to {root}: {exc.strerror or exc} "
                                 f"({exc.filename or root}). The study in memory is unchanged; "
                                 "pick a writable folder.") from None
        return root

    @classmethod
    def load(cls, path, *, dataset: Dataset | None = None, model=None, device="auto",
             workdir=None, progress: bool = True, memory_budget="auto") -> "Study":
        """Rebuild a study written by :meth:`save` (``memory_budget`` as in :class:`Study`).

        The dataset is rebuilt from what was recorded (digits, a CIFAR-10/Fashion-MNIST
        root, or the saved arrays) unless ``dataset`` is given; a custom architecture needs
        its factory again as ``model``. Every field and file is checked: a damaged or
        edited study raises StudyError naming the file. If runs were made under another
        environment (library versions, Python, device, torch threads) or their method's
        code has changed since, an :class:`~mucomp_widget.manifest.EnvironmentChangedWarning`
        names each difference: runs made now may not reproduce the saved numbers exactly.
        """
        from . import datasets as dsets

        root = Path(path).expanduser()
        where = root / "study.json"
        meta = read_json(where)
        if not isinstance(meta, dict):
            raise StudyError(f"{where} does not describe a study (it holds {type(meta).__name__}).")
        fmt = expect(meta, "format", (int,), where)
        if fmt not in READS:
            raise StudyError(f"{root} holds a study of format {fmt!r}; this version reads {list(READS)}.")
        for key, kinds in SAVED_STUDY_FIELDS.items():
            expect(meta, key, kinds, where)
        info = meta["dataset"]
        hashed = fmt >= 2  # data files named by content hash, listed under "files"
        files = expect(meta, "files", (dict,), where) if hashed else {}
        run_files = expect(files, "runs", (dict,), where, "files.") if hashed else {}
        weights_ext = "safetensors" if fmt >= 3 else "pt"

        def blob(sub, ext, what, name):
            if hashed:
                return read_blob(root / sub, name, ext, where, what)
            if Path(name).name != name or name in (".", "..") or "\0" in name:  # format 1: run ids
                raise StudyError(f"{where}: run id {name!r} cannot be a file name; this study "
                                 "was not written by Study.save.")
            try:
                return (root / sub / f"{name}.{ext}").read_bytes()
            except OSError as exc:
                raise StudyError(f"{root / sub / f'{name}.{ext}'} cannot be read: "
                                 f"{exc.strerror or exc}. Restore the study folder from a copy.") from None

        if dataset is None:
            kind = expect(info, "kind", (str,), where, "dataset.")
            if kind == "digits":
                split = {k: expect(info, k, kinds, where, "dataset.")
                         for k, kinds in (("test_size", ("number",)), ("seed", (int,)))}
                try:
                    dataset = dsets.digits(**split)
                except ValueError as exc:
                    raise StudyError(f"{where}: dataset {split} is not a valid digits split ({exc}).") from None
            elif kind in ("cifar10", "fashion_mnist"):
                data_root = expect(info, "root", (str,), where, "dataset.")
                dataset = (dsets.cifar10 if kind == "cifar10" else dsets.fashion_mnist)(data_root)
            elif kind == "arrays":
                data = (blob("data", "npz", "files.dataset", expect(files, "dataset", (str,), where, "files."))
                        if hashed else blob("", "npz", "dataset", "dataset"))
                try:
                    with np.load(io.BytesIO(data), allow_pickle=False) as z:
                        arrays = [z[k] for k in ("x_train", "y_train", "x_test", "y_test")]
                except Exception as exc:
                    raise StudyError(f"the saved dataset of {root} cannot be read ({exc}).") from None
                try:
                    dataset = dsets.from_arrays(*arrays, class_names=info.get("class_names"),
                                                name=info.get("name", "arrays"), mean=info.get("mean"),
                                                std=info.get("std"), augment=info.get("augment"))
                except MucompError as exc:
                    raise StudyError(f"{where}: the saved dataset is not valid: {exc}") from None
            else:
                raise StudyError(f"{root} records an unknown dataset kind {kind!r}; pass dataset=...")
        if dataset.fingerprint() != expect(info, "fingerprint", (str,), where, "dataset."):
            raise StudyError(
                f"the dataset differs from the one this study was saved with ({dataset.name!r}); "
                "pass the same data as dataset=..."
            )
        if model is None:
            model = meta["model"]
            if model is None:
                raise StudyError(
                    f"this study used a custom architecture ({meta['architecture']}); pass its "
                    "factory again: Study.load(path, model=factory)."
                )
        resolve_device(device)  # the caller's argument: its own ConfigError
        try:
            study = cls(dataset, forget_from_dict(meta["forget"]), model, seed=meta["seed"],
                        device=device, workdir=workdir, recipe=meta["recipe"],
                        feature_layer=meta["feature_layer"], probe_size=meta["probe_size"],
                        cka_size=meta["cka_size"], trace_size=meta["trace_size"], grid=meta["grid"],
                        progress=progress, memory_budget=memory_budget)
        except (ValueError, KeyError, TypeError) as exc:  # ConfigError and ForgetSetError too
            raise StudyError(f"{where}: the study's settings are not valid ({exc}).") from None
        counters = meta["counters"]
        for key in counters:
            expect(counters, key, (int,), where, "counters.")
        study._counters = dict(counters)
        n_classes = dataset.num_classes
        fits = study.arch.build()  # one module that every run's weights must load into
        for i, rec in enumerate(meta["runs"]):
            check_record(meta["runs"], i, where)
            if rec["id"] in study._runs:
                raise StudyError(f"{where}: runs[{i}].id {rec['id']!r} appears twice.")
            try:
                run = Run(**rec)
            except TypeError as exc:
                raise StudyError(f"{where}: runs[{i}] has a field this version does not know ({exc}).") from None
            names = (expect(run_files, run.id, (dict,), where, "files.runs.") if hashed
                     else {"weights": run.id, "outputs": run.id})
            at = f"files.runs.{run.id}."
            data = blob("models", weights_ext, at + "weights",
                        expect(names, "weights", (str,), where, at))
            try:
                sd = weights_from_bytes(data, weights_ext)
                load_state_dict(fits, sd, arch_name=study.arch.name,
                                source=f"the weights of run {run.id!r}")
                outputs = Outputs.from_bytes(blob("outputs", "npz", at + "outputs",
                                                  expect(names, "outputs", (str,), where, at)))
            except StudyError:
                raise
            except Exception as exc:
                raise StudyError(f"the files of run {run.id!r} in {root} cannot be read ({exc}). "
                                 "Restore the study folder from a copy.") from None
            shapes = {"train_logits": (dataset.n_train, n_classes), "test_logits": (dataset.n_test, n_classes),
                      "probe_features": (len(study.probe_ids),)}
            for name, shape in shapes.items():
                if getattr(outputs, name).shape[:len(shape)] != shape:
                    raise StudyError(f"the outputs of run {run.id!r} in {root} hold {name} of shape "
                                     f"{getattr(outputs, name).shape}, expected {shape}.")
            if not np.array_equal(outputs.probe_ids, study.probe_ids):
                raise StudyError(f"the outputs of run {run.id!r} in {root} were computed on other "
                                 "probe samples than this study's.")
            run._study = study
            study._runs[run.id], study._outputs[run.id] = run, outputs
            study._weights[run.id] = sd  # after its outputs: the store may move both to disk
            emb_name = names.get("embedding") if hashed else None
            if fmt == 1 and (root / "embeddings" / f"{run.id}.npz").is_file():
                emb_name = run.id
            if emb_name is not None:
                try:
                    with np.load(io.BytesIO(blob("embeddings", "npz", at + "embedding", emb_name)),
                                 allow_pickle=False) as z:
                        study._embeddings[run.id] = Embedding(**{k: z[k] for k in z.files})
                except Exception as exc:  # a layout can be computed again; nothing is lost
                    warnings.warn(f"the saved layout of run {run.id!r} is not usable ({exc}); "
                                  "it will be computed again.", stacklevel=2)
        missing = [k for k in (ORIGINAL, RETRAIN) if k not in study._runs]
        if missing:
            raise StudyError(f"{where}: runs holds no {missing[0]!r} model; every saved study has one.")
        changed = manifest.differences(study.runs, manifest.environment(study.device),
                                       study._current_code)
        if changed:
            warnings.warn(f"the study in {root} was made under another environment or other "
                          "method code; runs made now may not reproduce its numbers exactly:\n  "
                          + "\n  ".join(changed), manifest.EnvironmentChangedWarning, stacklevel=2)
        return study

    @staticmethod
    def _current_code(run: Run) -> dict | None:
        """The code version that would make ``run`` now: its registered method's, the
        training loop's for a trained reference model, None otherwise."""
        from .methods.registry import _REGISTRY

        if run.type == "Unlearned":
            spec = _REGISTRY.get(run.method)
            return manifest.code_version(spec.fn) if spec is not None else None
        if run.id in (ORIGINAL, RETRAIN) and run.source is None:
            return manifest.code_version(train_model)
        return None
