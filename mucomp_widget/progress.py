"""Terminal and notebook progress bars (tqdm) for training and unlearning runs."""

from __future__ import annotations

import sys


class _Bar:
    def __init__(self, label: str, total: int):
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, desc=label, unit="epoch", leave=False, file=sys.stderr,
                         dynamic_ncols=True)

    def update(self, epoch: int, loss: float) -> None:
        self._bar.n = epoch
        self._bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


def progress_bar(label: str, total: int) -> _Bar:
    """One tqdm bar for a run: epochs as units, the latest loss as a postfix."""
    return _Bar(label, total)
