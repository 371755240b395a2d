"""Terminal and notebook progress bars (tqdm) for training and unlearning runs."""

from __future__ import annotations

import sys


class _Bar:
    def __init__(self, label: str, total: int, unit: str):
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, desc=label, unit=unit, leave=False, file=sys.stderr,
                         dynamic_ncols=True)

    def update(self, done: int, loss: float | None = None) -> None:
        self._bar.n = done
        if loss is not None:
            self._bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


def progress_bar(label: str, total: int, unit: str = "epoch") -> _Bar:
    """One tqdm bar for a run (epochs as units, the latest loss as a postfix) or for the
    trials of a sweep or search (``unit="trial"``)."""
    return _Bar(label, total, unit)
