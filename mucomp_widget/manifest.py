"""Reproducibility manifest: what produced a study's numbers, and what differs now.

``Study.save`` writes ``manifest.json`` beside ``study.json``: the environment (package
versions, Python, platform, device, torch's thread count), the dataset's fingerprint,
hashes of the forget/retain index sets, and for every run its method, hyperparameters,
seeds, the version of the code that made it and the environment it was made in
(``Run.provenance``). ``Study.load`` compares each run's environment and method code with
the present ones and warns, naming every difference: on another machine, thread count or
library version, a run made again may not reproduce the saved numbers bit for bit.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import platform
from importlib import metadata

import numpy as np
import torch

from . import __version__

#: Distributions whose versions change numbers (or the saved files).
PACKAGES = ("mucomp_widget", "torch", "torchvision", "numpy", "scikit-learn", "umap-learn", "pandas")
MANIFEST_VERSION = 1


class EnvironmentChangedWarning(UserWarning):
    """A loaded study's runs were made under another environment or other method code."""


def _version(dist: str) -> str | None:
    if dist == "mucomp_widget":
        return __version__
    if dist == "torch":  # with its build tag (+cpu, +cu130): the builds compute differently
        return torch.__version__
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_name() -> str:
    """The CPU's model name (numbers can differ between CPU vendors), else the platform's."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info(device: torch.device) -> dict:
    """``{"type": "cpu" | "cuda" | "mps", "name": ...}`` for ``device``."""
    device = torch.device(device)
    if device.type == "cuda":
        return {"type": "cuda", "name": torch.cuda.get_device_name(device)}
    if device.type == "cpu":
        return {"type": "cpu", "name": _cpu_name()}
    return {"type": device.type, "name": device.type}


@functools.lru_cache(maxsize=1)
def _fixed() -> tuple:
    """What cannot change within a process: versions, Python, platform (read once; every
    run records its environment)."""
    return ({dist: _version(dist) for dist in PACKAGES}, platform.python_version(),
            f"{platform.system()} {platform.machine()}")


def environment(device: torch.device) -> dict:
    """The present environment as the manifest records it (JSON-ready)."""
    packages, python, plat = _fixed()
    return {
        "packages": dict(packages),
        "python": python,
        "platform": plat,
        "device": device_info(device),
        "torch_threads": torch.get_num_threads(),
    }


def code_version(fn) -> dict | None:
    """Where ``fn`` lives and a hash of its source, so an edited method shows; None if
    ``fn`` is None. The hash is None where Python cannot read the source (a lambda typed
    at a prompt, a C function)."""
    if fn is None:
        return None
    try:
        digest = hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()[:16]
    except (OSError, TypeError):
        digest = None
    return {"module": getattr(fn, "__module__", None),
            "name": getattr(fn, "__qualname__", type(fn).__name__), "sha256": digest}


def provenance(device: torch.device, fn=None, **extra) -> dict:
    """What a new run records: the environment it is made in and the code that made it."""
    return {"environment": environment(device), "code": code_version(fn), **extra}


def index_hash(ids) -> str:
    """SHA-256 of a set of sample indices (sorted, int64, little-endian)."""
    a = np.sort(np.asarray(ids, dtype="<i8").ravel())
    return hashlib.sha256(a.tobytes()).hexdigest()


def build(study) -> dict:
    """The manifest of ``study`` (JSON-ready)."""
    split = study.split
    return {
        "manifest_version": MANIFEST_VERSION,
        "environment": environment(study.device),
        "dataset": {"name": study.dataset.name, "fingerprint": study.dataset.fingerprint(),
                    "n_train": study.dataset.n_train, "n_test": study.dataset.n_test},
        "forget": study.forget.to_dict(),
        "indices": {name: {"n": int(len(ids)), "sha256": index_hash(ids)} for name, ids in (
            ("forget_train", split.forget_train), ("retain_train", split.retain_train),
            ("forget_test", split.forget_test), ("retain_test", split.retain_test))},
        "study_seed": study.seed,
        "recipe": study.recipe.to_dict(),
        "runs": [{"id": r.id, "type": r.type, "method": r.method, "base": r.base,
                  "hyperparameters": r.hyperparameters, "seed": r.seed, "group": r.group,
                  "created_at": r.created_at, "provenance": r.provenance}
                 for r in study.runs],
    }


def _flat(env: dict) -> dict:
    """``{"torch": "2.14.1", "device": "cpu (AMD EPYC ...)", ...}`` for comparison."""
    out = {dist: v for dist, v in (env.get("packages") or {}).items()}
    dev = env.get("device") or {}
    out.update({"python": env.get("python"), "platform": env.get("platform"),
                "device": f"{dev.get('type')} ({dev.get('name')})" if dev else None,
                "torch threads": env.get("torch_threads")})
    return out


def differences(runs, now: dict, current_code) -> list[str]:
    """One line per difference between the runs' recorded provenance and ``now``.

    ``runs`` are Run objects; ``current_code(run)`` gives the code version the run's method
    has now (None when unknown: an unregistered function, a reference model). A run
    without provenance (saved by an earlier version) is skipped.
    """
    present = _flat(now)
    changed: dict[tuple, list[str]] = {}
    for run in runs:
        prov = run.provenance
        if not isinstance(prov, dict) or not isinstance(prov.get("environment"), dict):
            continue
        for key, was in _flat(prov["environment"]).items():
            if key in present and was != present[key]:
                changed.setdefault((key, was, present[key]), []).append(run.id)
        code, new = prov.get("code"), current_code(run)
        if isinstance(code, dict) and new is not None and code.get("sha256") and new.get("sha256") \
                and code["sha256"] != new["sha256"]:
            changed.setdefault((f"the code of method {run.method!r}", "saved", "edited since"),
                               []).append(run.id)
    lines = []
    for (key, was, is_now), ids in changed.items():
        shown = ", ".join(ids[:4]) + (f" and {len(ids) - 4} more" if len(ids) > 4 else "")
        lines.append(f"{key}: {was} -> {is_now} (runs {shown})")
    return lines
