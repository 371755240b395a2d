"""What a run costs besides seconds: peak memory and images processed.

The field reports unlearning time as wall-clock time (RTE in minutes in SalUn's and
l1-sparse's tables; seconds in the reference system) and as a ratio to retraining
(DeepUnlearn, Cadet et al. 2024: T_retrain / T_method, higher is better); the results'
``RTE_ratio`` is the reciprocal, T_method / T_retrain, so that every cost column reads
"lower is better". :class:`Meter` measures one run's other costs: on CUDA the peak of
``torch.cuda.max_memory_allocated`` above what was allocated at the start; on other
devices the peak growth of the process's resident set (RSS), sampled at the start, at
every ``count()`` (each forward pass, at most every 20 ms) and at the end, so a spike
between two samples can be missed. ``images`` counts the samples pushed through the
network (copies of it included, such as a method's teacher).
"""

from __future__ import annotations

import os
import time

import torch

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int | None:
    """The process's resident set size now, in bytes; None where it cannot be read."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil  # optional: macOS and Windows

        return int(psutil.Process().memory_info().rss)
    except Exception:
        return None


class Meter:
    """Peak memory growth and images of one run (a context manager)."""

    def __init__(self, device: torch.device, interval: float = 0.02):
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.interval = interval
        self.images = 0
        self._start = self._peak = None
        self._last = 0.0

    def __enter__(self) -> "Meter":
        if self.cuda:
            torch.cuda.synchronize(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._start = self._peak = rss_bytes()
        self._last = time.perf_counter()
        return self

    def count(self, batch) -> None:
        """Add a forward pass's batch to ``images``, and sample memory if it is time."""
        n = getattr(batch, "shape", None)
        if n is not None and len(n):
            self.images += int(n[0])
        now = time.perf_counter()
        if not self.cuda and now - self._last >= self.interval:
            self._last = now
            self._sample()

    def _sample(self) -> None:
        rss = rss_bytes()
        if rss is not None and self._peak is not None:
            self._peak = max(self._peak, rss)

    def __exit__(self, *exc) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)
            self._peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._sample()

    @property
    def peak_bytes(self) -> int | None:
        """Peak memory above the start (bytes); None where it could not be measured."""
        if self._start is None or self._peak is None:
            return None
        return max(int(self._peak - self._start), 0)

