"""Sweeps and hyperparameter searches on Ray (optional: ``pip install 'mucomp_widget[ray]'``).

``study.sweep(..., executor="ray")`` runs each trial as a Ray task; ``study.tune(...,
executor="ray")`` searches with Optuna's TPE sampler through Ray Tune. What every trial
reads (the dataset, the base model's weights, the Retrain model's outputs) is put in Ray's
object store once per call. A trial runs the method and the model's one inference pass in
its worker with the kernel's own code (:func:`mucomp_widget.trial.run_method`) and hands
back weights and outputs; the study scores and records each like a run made in the kernel,
in the order they finish, so the widget shows them as they come.

``ray.init(...)`` is the caller's choice (a laptop, a cluster address); without it, a local
Ray starts with this machine's cores.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import threading
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import torch

from . import manifest
from .errors import ConfigError, MucompError
from .evaluation import infer
from .evaluation.summary import METRIC_INFO, evaluate
from .evaluation.trace import EpochTracer
from .loaders import DeviceData
from .models import load_state_dict
from .training import prepare_model
from .trial import run_method

__all__ = ["Failure", "TuneResult", "require_ray", "objective_info", "objective_value"]


@dataclass
class Failure:
    """A trial that produced no run: what it was asked to do, and why it did not."""

    method: str
    hyperparameters: dict
    seed: int
    error: str
    group: str | None = None

    def __repr__(self) -> str:
        return f"<Failure {self.method} {self.hyperparameters} seed={self.seed}: {self.error}>"


@dataclass
class TuneResult:
    """What :meth:`Study.tune` found.

    ``trials``: one row per trial in the order they were asked (hyperparameters, ``objective``,
    ``run`` id, ``error``); ``runs``: the runs recorded, in the order they finished;
    ``best``: the run with the best objective (None if every trial failed).
    """

    objective: str
    direction: str
    trials: object  # pandas.DataFrame
    runs: list = field(default_factory=list)
    best: object = None

    def __repr__(self) -> str:
        best = self.best.id if self.best is not None else None
        return f"<TuneResult {self.objective} ({self.direction}) trials={len(self.trials)} best={best!r}>"


def require_ray():
    """The ``ray`` module, with Ray running: the caller's ``ray.init`` or a local one."""
    try:
        import ray
    except ImportError:
        raise ConfigError("executor='ray' needs Ray: pip install 'mucomp_widget[ray]' (Ray and "
                          "Optuna), or use executor='local'.") from None
    if not ray.is_initialized():
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    return ray


def _optuna():
    try:
        import optuna
    except ImportError:
        raise ConfigError("study.tune needs Optuna: pip install 'mucomp_widget[ray]' (Ray and "
                          "Optuna).") from None
    return optuna


# ---------------------------------------------------------------- objectives

def objective_info(name: str):
    """The results column ``name`` as a tuning objective: its declaration (:data:`METRIC_INFO`)."""
    infos = {m.key: m for m in METRIC_INFO}
    if name not in infos:
        raise ConfigError(f"objective {name!r} is not a results column; use one of {list(infos)} "
                          "(default 'AvgGap', the mean gap to Retrain).")
    return infos[name]


def objective_value(info, values: dict, retrain: dict) -> float:
    """A run's objective from its results-row ``values``: the column itself for "higher" and
    "lower", its distance to the Retrain model's value or to the target otherwise (smaller
    is better). NaN (not measured) counts as the worst value."""
    v = float(values.get(info.key, math.nan))
    if info.direction == "retrain":
        v = abs(v - float(retrain.get(info.key, math.nan)))
    elif info.direction == "target":
        v = abs(v - info.target)
    if math.isnan(v):
        return -math.inf if info.direction == "higher" else math.inf
    return v


def direction_of(info) -> str:
    return "max" if info.direction == "higher" else "min"


# ---------------------------------------------------------------- what a trial reads

@dataclass
class Shared:
    """Everything a trial reads besides its method and hyperparameters, shipped once."""

    token: str
    dataset: object
    arch: object
    forget_ids: np.ndarray
    retain_ids: np.ndarray
    num_classes: int
    forget_classes: tuple
    probe_ids: np.ndarray
    cka_sets: dict
    base_weights: dict
    setup: object
    trace_ids: dict
    base_outputs: object
    retrain_outputs: object = None
    retrain_metrics: dict | None = None
    references: dict = field(default_factory=dict)  # outputs to score CKA against
    retrain_rte: float | None = None


_DATA: dict = {}  # per worker process: the device copy of the latest dataset it was sent


def _device_data(shared: Shared, device: torch.device) -> DeviceData:
    key = (shared.token, str(device))
    if key not in _DATA:
        _DATA.clear()
        _DATA[key] = DeviceData(shared.dataset, device)
    return _DATA[key]


def _writable(shared: Shared) -> Shared:
    """``shared`` with writable copies of its index arrays (Ray hands numpy arrays back
    read-only, and torch warns when it wraps one)."""
    return dataclasses.replace(
        shared, forget_ids=np.array(shared.forget_ids), retain_ids=np.array(shared.retain_ids),
        probe_ids=np.array(shared.probe_ids),
        cka_sets={k: (sp, np.array(ids)) for k, (sp, ids) in shared.cka_sets.items()},
        trace_ids={k: np.array(v) for k, v in shared.trace_ids.items()})


def run_trial(shared: Shared, spec, hp: dict, seed: int, *, threads: int, use_cuda: bool,
              time_limit: float | None, trace: bool, keep_best: bool) -> SimpleNamespace:
    """One trial in a worker: the method on a copy of the base model, then its inference
    pass, with ``threads`` torch threads (the kernel's count: same numbers)."""
    torch.set_num_threads(int(threads))
    shared = _writable(shared)
    device = torch.device("cuda", torch.cuda.current_device()) if use_cuda else torch.device("cpu")
    data = _device_data(shared, device)
    net = shared.arch.build()
    load_state_dict(net, shared.base_weights, arch_name=shared.arch.name, source="the base model")
    model = prepare_model(net, device).eval()
    tracer = None
    if trace or keep_best:
        tracer = EpochTracer(data, shared.setup, shared.trace_ids, shared.base_outputs,
                             shared.retrain_outputs, shared.retrain_metrics, keep_best)
    result, model = run_method(
        spec, model, data, forget_ids=shared.forget_ids, retain_ids=shared.retain_ids, hp=hp,
        seed=seed, device=device, num_classes=shared.num_classes,
        forget_classes=shared.forget_classes,
        on_epoch=(lambda epoch, loss, m=None: tracer(epoch, m)) if tracer else None,
        time_limit=time_limit, tracer=tracer, keep_best=keep_best)
    outputs = infer(model, data, probe_ids=shared.probe_ids, feature_layer=shared.arch.feature_layer,
                    gram_sets=shared.cka_sets, blocks=shared.arch.blocks)
    return SimpleNamespace(
        weights={k: v.detach().cpu() for k, v in model.state_dict().items()}, outputs=outputs,
        rte=result.rte, wall=result.wall, losses=result.losses, images=result.images,
        peak_memory=result.peak_memory,
        history=tracer.history if tracer else {}, best_epoch=tracer.best_epoch if tracer else None,
        provenance=manifest.provenance(device, spec.fn))


def error_text(exc: BaseException) -> str:
    """What went wrong in a trial, in one line: the method's own error where Ray wraps it."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}"
    name = type(exc).__name__
    if "WorkerCrashed" in name or "ActorDied" in name or "NodeDied" in name:
        return f"{name}: the worker process running this trial died, and Ray's retries ran out."
    first = str(exc).strip().splitlines()
    return f"{name}: {first[0] if first else ''}"


def _task_options(resources: dict | None, device: torch.device) -> dict:
    """Ray resources per trial: ``num_cpus`` (default 1) and ``num_gpus`` (default 1 for a
    study on CUDA, else 0; fractions share a GPU)."""
    opts = {"num_cpus": 1, "num_gpus": 1 if device.type == "cuda" else 0}
    given = dict(resources or {})
    unknown = sorted(set(given) - set(opts))
    if unknown:
        raise ConfigError(f"resources has unknown key(s) {unknown}; use 'num_cpus' and 'num_gpus', "
                          "e.g. resources={'num_cpus': 1, 'num_gpus': 0.5}.")
    for key, value in given.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ConfigError(f"resources[{key!r}] must be a number >= 0, got {value!r}.")
    opts.update(given)
    if opts["num_gpus"] > 0 and device.type != "cuda":
        raise ConfigError(f"resources asks for {opts['num_gpus']} GPU(s) per trial but the study "
                          f"runs on {device}; create the Study with device='cuda' or drop num_gpus.")
    return opts


def _check_retries(retries) -> int:
    if isinstance(retries, bool) or not isinstance(retries, (int, np.integer)) or retries < 0:
        raise ConfigError(f"retries must be an integer >= 0 (Ray's max_retries), got {retries!r}.")
    return int(retries)


# ---------------------------------------------------------------- sweeps

def ray_sweep(study, spec, jobs: list, shared: Shared, *, time_limit, trace, keep_best,
              resources, retries) -> list:
    """Run ``jobs`` (dicts: hp, seed, group) as Ray tasks -> a Run or a :class:`Failure`
    each, in the order of ``jobs``; runs are recorded as they finish."""
    opts = _task_options(resources, study.device)
    retries = _check_retries(retries)
    ray = require_ray()
    shared_ref = ray.put(shared)
    task = ray.remote(run_trial).options(**opts, max_retries=retries, retry_exceptions=False)
    threads = torch.get_num_threads()
    refs = {task.remote(shared_ref, spec, job["hp"], job["seed"], threads=threads,
                        use_cuda=opts["num_gpus"] > 0, time_limit=time_limit, trace=trace,
                        keep_best=keep_best): i
            for i, job in enumerate(jobs)}
    out: list = [None] * len(jobs)
    bar = _bar(study, f"{spec.name} on Ray", len(jobs))

    def collect(ref) -> None:
        i = refs[ref]
        try:
            got = ray.get(ref)
        except Exception as exc:  # the method raised, or its worker died past retries
            out[i] = _failure(spec, jobs[i], error_text(exc))
            study._emit(event="run_failed", run=spec.name, error=out[i].error)
        else:
            out[i] = study._commit_trial(spec, jobs[i], got, keep_best)
        if bar is not None:
            bar.update(sum(r is not None for r in out))

    pending = list(refs)
    try:
        while pending:
            if study._stop.is_set():  # keep what has finished, stop the rest
                done, pending = ray.wait(pending, num_returns=len(pending), timeout=0)
                for ref in done:
                    collect(ref)
                for ref in pending:
                    ray.cancel(ref, force=True)
                    out[refs[ref]] = _failure(spec, jobs[refs[ref]], "cancelled before it finished")
                break
            done, pending = ray.wait(pending, num_returns=1, timeout=0.2)
            for ref in done:
                collect(ref)
    finally:
        if bar is not None:
            bar.close()
    return out


def _failure(spec, job: dict, error: str) -> Failure:
    return Failure(spec.name, dict(job["hp"]), int(job["seed"]), error, job.get("group"))


def _bar(study, label: str, total: int):
    if not study.progress:
        return None
    from .progress import progress_bar

    return progress_bar(label, total, unit="trial")


# ---------------------------------------------------------------- searches

def distributions(space: dict, spec, check) -> dict:
    """``space`` as Optuna distributions: a list is a choice among its values, ``(low, high)``
    a uniform range (integers if both ends are), ``(low, high, "log")`` a log-uniform one.
    ``check(hp)`` validates the ends against the method's constraints."""
    optuna = _optuna()
    if not isinstance(space, dict) or not space:
        raise ConfigError("space must be a non-empty dict, e.g. {'lr': (1e-4, 1e-1, 'log'), "
                          "'epochs': [3, 5, 8]}.")
    out = {}
    for name, value in space.items():
        if isinstance(value, list):
            if not value:
                raise ConfigError(f"space[{name!r}] is an empty list; give the values to choose from.")
            for v in value:
                check({name: v})
            out[name] = optuna.distributions.CategoricalDistribution(value)
            continue
        if not isinstance(value, tuple) or len(value) not in (2, 3) or (
                len(value) == 3 and value[2] != "log"):
            raise ConfigError(f"space[{name!r}] = {value!r}; use a list of values, (low, high) or "
                              "(low, high, 'log').")
        low, high = value[:2]
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in (low, high)) or not low < high:
            raise ConfigError(f"space[{name!r}] = {value!r}: low and high must be numbers with low < high.")
        log = len(value) == 3
        if log and low <= 0:
            raise ConfigError(f"space[{name!r}] = {value!r}: a log range needs low > 0.")
        check({name: low})
        check({name: high})
        if isinstance(low, int) and isinstance(high, int):
            out[name] = optuna.distributions.IntDistribution(low, high, log=log)
        else:
            out[name] = optuna.distributions.FloatDistribution(float(low), float(high), log=log)
    return out


def _sampler(optuna, seed: int, trials: int):
    """TPE seeded by ``seed``; its random start is the first third of the trials (at most
    Optuna's default of 10), so that a small budget still gets guided trials."""
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(1, min(10, trials // 3)))


def local_tune(study, method, spec, dists: dict, fixed: dict, *, info, trials: int, seed: int, base_id: str,
               time_limit) -> tuple[list, list]:
    """Optuna's TPE sampler in the kernel: one run per trial, in turn -> (trial rows, runs)."""
    optuna = _optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    search = optuna.create_study(direction="maximize" if direction_of(info) == "max" else "minimize",
                                 sampler=_sampler(optuna, seed, trials))
    rows, runs = [], []
    bar = _bar(study, f"tuning {spec.name}", trials)
    try:
        for n in range(trials):
            if study._stop.is_set():
                break
            trial = search.ask(dists)
            hp = {**fixed, **trial.params}
            try:
                run = study.unlearn(method, base=base_id, seed=seed, time_limit=time_limit, **hp)
            except MucompError as exc:
                search.tell(trial, state=optuna.trial.TrialState.FAIL)
                rows.append({**trial.params, "objective": math.nan, "run": None,
                             "error": f"{type(exc).__name__}: {exc}"})
                if study._stop.is_set():
                    break
                continue
            value = objective_value(info, study._row(run.id), study._row("retrain"))
            search.tell(trial, value if math.isfinite(value) else None,
                        state=None if math.isfinite(value) else optuna.trial.TrialState.FAIL)
            rows.append({**trial.params, "objective": value, "run": run.id, "error": None})
            runs.append(run)
            if bar is not None:
                bar.update(n + 1)
    finally:
        if bar is not None:
            bar.close()
    return rows, runs


def ray_tune(study, spec, dists: dict, fixed: dict, shared: Shared, *, info, trials: int, seed: int,
             base_id: str, resources, retries, time_limit, max_concurrent) -> tuple[list, list]:
    """Optuna's TPE sampler through Ray Tune: trials run in Ray workers, each sends its
    weights and outputs back through a queue the kernel drains, recording runs as they
    finish -> (trial rows in the order asked, runs in the order finished)."""
    opts = _task_options(resources, study.device)
    retries = _check_retries(retries)
    ray = require_ray()
    _optuna()
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch
    from ray.util.queue import Empty, Queue
    import optuna

    inbox = Queue()
    threads = torch.get_num_threads()
    retrain_row = study._row("retrain")

    defaults = study.dataset.method_defaults

    def trainable(config, shared=None):
        from .methods.registry import resolve_hyperparameters

        hp = resolve_hyperparameters(spec, defaults, {**fixed, **config})
        got = run_trial(shared, spec, hp, seed, threads=threads, use_cuda=opts["num_gpus"] > 0,
                        time_limit=time_limit, trace=False, keep_best=False)
        metrics, _ = evaluate(got.outputs, shared.setup, retrain=shared.retrain_outputs,
                              retrain_metrics=shared.retrain_metrics, cka_against=shared.references)
        from mucomp_widget.study import _costs  # the results table's own cost columns

        value = objective_value(info, {**metrics, **_costs(got, shared.retrain_rte)}, retrain_row)
        inbox.put((dict(config), hp, got))
        tune.report({"objective": value if math.isfinite(value) else float("nan")})

    mode = direction_of(info)
    search = OptunaSearch(space=dists, metric="objective", mode=mode,
                          sampler=_sampler(optuna, seed, trials))

    token = f"{id(study)}-{threading.get_ident()}"
    _CANCEL[token] = study._stop

    resources_per_trial = {"cpu": opts["num_cpus"], "gpu": opts["num_gpus"]}
    with tempfile.TemporaryDirectory(prefix="mucomp-tune-") as storage:
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(trainable, shared=shared), resources_per_trial),
            tune_config=tune.TuneConfig(search_alg=search, num_samples=trials,
                                        max_concurrent_trials=max_concurrent),
            run_config=tune.RunConfig(storage_path=storage, name="tune", verbose=0, stop=_Cancel(token),
                                      failure_config=tune.FailureConfig(max_failures=retries)),
        )
        finished: list = []
        errors: list = []

        def fit():
            try:
                finished.append(tuner.fit())
            except BaseException as exc:  # reported in the kernel below
                errors.append(exc)

        worker = threading.Thread(target=fit, name="mucomp-tune", daemon=True)
        worker.start()
        runs, by_config = [], {}
        bar = _bar(study, f"tuning {spec.name} on Ray", trials)
        try:
            while worker.is_alive() or not inbox.empty():
                try:
                    config, hp, got = inbox.get(timeout=0.2)
                except Empty:
                    continue
                run = study._commit_trial(spec, {"hp": hp, "seed": seed,
                                                 "group": None, "base": base_id}, got, False)
                runs.append(run)
                by_config[_config_key(config)] = run
                if bar is not None:
                    bar.update(len(runs))
        finally:
            if bar is not None:
                bar.close()
            worker.join()
            _CANCEL.pop(token, None)
        if errors:
            raise errors[0]
        rows = []
        for res in finished[0]:
            config = {k: v for k, v in (res.config or {}).items() if k in dists}
            run = by_config.get(_config_key(config))
            value = (res.metrics or {}).get("objective", math.nan)
            rows.append({**config, "objective": float(value) if value is not None else math.nan,
                         "run": run.id if run is not None else None,
                         "error": error_text(res.error) if res.error is not None else None})
    return rows, runs


_CANCEL: dict = {}  # search token -> the study's stop event (Tune pickles its stopper)


def _Cancel(token: str):
    """A Tune stopper that ends the whole search once the study is cancelled."""
    from ray import tune

    class Cancel(tune.Stopper):
        def __call__(self, trial_id, result):
            return False

        def stop_all(self):
            from mucomp_widget import distributed  # by name: the events cannot be pickled

            event = distributed._CANCEL.get(token)
            return event is not None and event.is_set()

    return Cancel()


def _config_key(config: dict) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in config.items()))
