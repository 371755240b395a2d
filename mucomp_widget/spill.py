"""A study's weights and Gram matrices beyond a memory budget, kept on disk.

A stored ResNet-18 run holds about 45 MB of weights and 14 MB of layer Grams that the views
never read (weights only build a model; Grams only score CKA), against 7 MB of outputs they
do read. Past the study's ``memory_budget`` the oldest runs' weights and Grams move to
safetensors files, written once, and are read back when asked for; logits, probe features
and metrics stay in memory. The Original and the Retrain model always stay: every run is
unlearned from or scored against them.
"""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import sys
import tempfile
import weakref
from collections.abc import Mapping, MutableMapping
from pathlib import Path

import numpy as np

from .errors import ConfigError

__all__ = ["WeightStore", "SpilledGrams", "resolve_budget", "release_free_memory"]

PINNED = ("original", "retrain")


def resolve_budget(budget) -> int | None:
    """``"auto"`` (a quarter of this machine's memory), bytes (int >= 0) or None (never spill)."""
    if budget is None:
        return None
    if budget == "auto":
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
        except (ValueError, OSError, AttributeError):  # not a POSIX system: 4 GiB
            return 4 * 2**30
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 0:
        raise ConfigError(f"memory_budget must be 'auto', a number of bytes >= 0 or None (never "
                          f"spill), got {budget!r}; e.g. memory_budget=8 * 2**30 for 8 GiB.")
    return int(budget)


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim``; a no-op
    elsewhere). An inference pass allocates and frees large buffers; glibc then raises its
    mmap threshold and serves later ones from the heap, whose freed pages it keeps: without
    this, a study's resident memory grew by 10-45 MB per run beyond what it stores (small CNN
    on CIFAR-shaped data; benchmarks/bench_memory.py)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return None


def _nbytes(arrays) -> int:
    return int(sum(a.numel() * a.element_size() if hasattr(a, "numel") else a.nbytes for a in arrays))


class SpilledGrams(Mapping):
    """Gram matrices in a safetensors file, each read when asked for (read-only)."""

    def __init__(self, path: Path, keys):
        self._path, self._names = Path(path), {tuple(k): "|".join(k) for k in keys}

    def __getitem__(self, key):
        from safetensors import safe_open

        name = self._names[tuple(key)]
        with safe_open(str(self._path), framework="np") as f:
            return f.get_tensor(name)

    def __contains__(self, key) -> bool:
        return tuple(key) in self._names if isinstance(key, tuple) else False

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class WeightStore(MutableMapping):
    """Run id -> state dict, in memory up to ``budget`` bytes (weights and Grams of the runs
    that are not the Original or the Retrain), the oldest beyond it on disk.

    ``outputs`` is the study's run id -> Outputs mapping: a run's Grams move to disk with its
    weights (its Outputs' ``grams`` become a :class:`SpilledGrams`). Files go to a private
    folder under ``parent``, removed with the store.
    """

    def __init__(self, outputs: dict, budget: int | None, parent: Path):
        self._outputs, self.budget, self._parent = outputs, budget, Path(parent)
        self._memory: dict[str, dict] = {}
        self._disk: dict[str, Path] = {}
        self._sizes: dict[str, int] = {}
        self._folder: Path | None = None
        self._cleanup = None

    # ------------------------------------------------------------------ mapping

    def __getitem__(self, run_id: str) -> dict:
        if run_id in self._memory:
            return self._memory[run_id]
        if run_id in self._disk:
            from safetensors.torch import load_file

            return load_file(str(self._disk[run_id]))
        raise KeyError(run_id)

    def __setitem__(self, run_id: str, state_dict: dict) -> None:
        self._forget(run_id)
        self._memory[run_id] = state_dict
        out = self._outputs.get(run_id)
        grams = out.grams.values() if out is not None and isinstance(out.grams, dict) else ()
        self._sizes[run_id] = _nbytes(state_dict.values()) + _nbytes(grams)
        self._fit()

    def __delitem__(self, run_id: str) -> None:
        if run_id not in self:
            raise KeyError(run_id)
        self._forget(run_id)

    def __contains__(self, run_id) -> bool:
        return run_id in self._memory or run_id in self._disk

    def __iter__(self):
        return iter([*self._memory, *self._disk])

    def __len__(self) -> int:
        return len(self._memory) + len(self._disk)

    # ------------------------------------------------------------------ accounting

    @property
    def in_memory(self) -> int:
        """Bytes of weights and Grams of unpinned runs held in memory."""
        return sum(self._sizes[k] for k in self._memory if k not in PINNED)

    @property
    def spilled(self) -> list[str]:
        """Ids of the runs whose weights and Grams are on disk, oldest first."""
        return list(self._disk)

    def _fit(self) -> None:
        if self.budget is None:
            return
        for run_id in [k for k in self._memory if k not in PINNED]:  # oldest first
            if self.in_memory <= self.budget:
                return
            self._spill(run_id)

    def _spill(self, run_id: str) -> None:
        from safetensors.numpy import save_file as save_arrays
        from safetensors.torch import save_file

        folder = self._ensure_folder()
        stem = f"{len(self._disk) + len(self._memory)}-{os.urandom(4).hex()}"
        path = folder / f"{stem}.weights.safetensors"
        save_file({k: v.contiguous() for k, v in self._memory[run_id].items()}, str(path))
        out = self._outputs.get(run_id)
        if out is not None and isinstance(out.grams, dict) and out.grams:
            gpath = folder / f"{stem}.grams.safetensors"
            save_arrays({"|".join(k): np.ascontiguousarray(g) for k, g in out.grams.items()}, str(gpath))
            out.grams = SpilledGrams(gpath, list(out.grams))
        del self._memory[run_id]
        self._disk[run_id] = path

    def _forget(self, run_id: str) -> None:
        self._memory.pop(run_id, None)
        self._sizes.pop(run_id, None)
        path = self._disk.pop(run_id, None)
        if path is not None:
            path.unlink(missing_ok=True)
            Path(str(path).replace(".weights.", ".grams.")).unlink(missing_ok=True)

    def _ensure_folder(self) -> Path:
        if self._folder is None:
            self._parent.mkdir(parents=True, exist_ok=True)
            self._folder = Path(tempfile.mkdtemp(prefix="spill-", dir=self._parent))
            self._cleanup = weakref.finalize(self, shutil.rmtree, str(self._folder), True)
        return self._folder
