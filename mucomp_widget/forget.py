"""Forget sets: which training samples a model must forget.

A spec (``classes``, ``random`` or ``indices``) is cheap and serialisable; ``resolve``
turns it into index arrays for one dataset's labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import ForgetSetError

__all__ = ["ForgetSpec", "ForgetSplit", "classes", "random", "indices", "from_dict"]


@dataclass(frozen=True)
class ForgetSplit:
    """Resolved forget/retain indices.

    ``forget_test``/``retain_test`` split the test set by class for class-wise forgetting;
    for sample-wise forgetting ``forget_test`` is empty and ``retain_test`` is the whole
    test set. ``forget_classes`` is empty for sample-wise forgetting.
    """

    forget_train: np.ndarray
    retain_train: np.ndarray
    forget_test: np.ndarray
    retain_test: np.ndarray
    forget_classes: tuple[int, ...]

    @property
    def classwise(self) -> bool:
        return bool(self.forget_classes)


class ForgetSpec:
    """Base class of forget-set specifications."""

    kind: str = ""

    def resolve(self, y_train, y_test, num_classes: int) -> ForgetSplit:
        raise NotImplementedError

    def to_dict(self) -> dict:
        raise NotImplementedError

    def key(self) -> str:
        """Stable text that identifies this forget set in cache keys."""
        return repr(sorted(self.to_dict().items()))

    def __eq__(self, other) -> bool:
        return isinstance(other, ForgetSpec) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.key())


def _is_int(v) -> bool:
    return (
        isinstance(v, (int, np.integer, float, np.floating))
        and not isinstance(v, bool)
        and float(v).is_integer()
    )


def _sample_split(y_train, y_test, forget_idx: np.ndarray) -> ForgetSplit:
    n = len(y_train)
    mask = np.zeros(n, dtype=bool)
    mask[forget_idx] = True
    if mask.all():
        raise ForgetSetError(
            f"the forget set holds all {n} training samples; nothing would be left to retain."
        )
    return ForgetSplit(
        forget_train=np.flatnonzero(mask),
        retain_train=np.flatnonzero(~mask),
        forget_test=np.zeros(0, dtype=np.int64),
        retain_test=np.arange(len(y_test)),
        forget_classes=(),
    )


class ClassForget(ForgetSpec):
    """Forget every training sample of one or more classes (the reference system's setting)."""

    kind = "classes"

    def __init__(self, cls):
        values = list(cls) if isinstance(cls, (list, tuple, set, np.ndarray, range)) else [cls]
        if not values:
            raise ForgetSetError("classes() needs at least one class, got an empty list.")
        out = []
        for c in values:
            if not _is_int(c):
                raise ForgetSetError(f"forget classes must be integers, got {c!r}.")
            out.append(int(c))
        self.classes = tuple(sorted(set(out)))

    def resolve(self, y_train, y_test, num_classes: int) -> ForgetSplit:
        y_train, y_test = np.asarray(y_train), np.asarray(y_test)
        for c in self.classes:
            if not 0 <= c < num_classes:
                raise ForgetSetError(
                    f"forget class {c} is out of range: this dataset has classes 0..{num_classes - 1}."
                )
        if len(self.classes) >= num_classes:
            raise ForgetSetError(
                f"forgetting classes {list(self.classes)} would forget every class; "
                "leave at least one class to retain."
            )
        fmask = np.isin(y_train, self.classes)
        empty = [c for c in self.classes if not np.any(y_train == c)]
        if empty:
            raise ForgetSetError(
                f"forget class {empty[0]} has no training samples, so the forget set would be "
                "empty; pick a class that occurs in y_train."
            )
        tmask = np.isin(y_test, self.classes)
        return ForgetSplit(
            forget_train=np.flatnonzero(fmask),
            retain_train=np.flatnonzero(~fmask),
            forget_test=np.flatnonzero(tmask),
            retain_test=np.flatnonzero(~tmask),
            forget_classes=self.classes,
        )

    def to_dict(self) -> dict:
        return {"kind": self.kind, "classes": list(self.classes)}

    def __repr__(self) -> str:
        c = self.classes[0] if len(self.classes) == 1 else list(self.classes)
        return f"classes({c})"


class RandomForget(ForgetSpec):
    """Forget a seeded uniform random subset of the training set."""

    kind = "random"

    def __init__(self, fraction=None, count=None, seed: int = 0):
        if (fraction is None) == (count is None):
            raise ForgetSetError(
                "random() needs exactly one of fraction=... (in (0, 1)) or count=... (>= 1)."
            )
        if fraction is not None:
            if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
                raise ForgetSetError(
                    f"fraction must be strictly between 0 and 1, got {fraction!r}; "
                    "for example fraction=0.1 forgets 10 % of the training set."
                )
            fraction = float(fraction)
        if count is not None:
            if not _is_int(count) or count < 1:
                raise ForgetSetError(f"count must be a positive integer, got {count!r}.")
            count = int(count)
        self.fraction, self.count, self.seed = fraction, count, int(seed)

    def resolve(self, y_train, y_test, num_classes: int) -> ForgetSplit:
        n = len(y_train)
        k = self.count if self.count is not None else int(round(self.fraction * n))
        if k < 1:
            raise ForgetSetError(
                f"fraction={self.fraction} of {n} training samples rounds to an empty forget set; "
                "raise the fraction or pass count=..."
            )
        if k >= n:
            raise ForgetSetError(
                f"count={k} leaves nothing to retain: the training set has {n} samples."
            )
        rng = np.random.default_rng(self.seed)
        return _sample_split(y_train, y_test, np.sort(rng.choice(n, size=k, replace=False)))

    def to_dict(self) -> dict:
        return {"kind": self.kind, "fraction": self.fraction, "count": self.count, "seed": self.seed}

    def __repr__(self) -> str:
        what = f"fraction={self.fraction}" if self.fraction is not None else f"count={self.count}"
        return f"random({what}, seed={self.seed})"


class IndexForget(ForgetSpec):
    """Forget the training samples at the given indices."""

    kind = "indices"

    def __init__(self, idx):
        arr = np.asarray(list(idx) if not isinstance(idx, np.ndarray) else idx)
        if arr.size == 0:
            raise ForgetSetError("indices() needs at least one training index, got none.")
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise ForgetSetError(
                f"indices must be a flat list of integers, got an array of dtype {arr.dtype} "
                f"and shape {arr.shape}."
            )
        self.indices = np.unique(arr.astype(np.int64))

    def resolve(self, y_train, y_test, num_classes: int) -> ForgetSplit:
        n = len(y_train)
        bad = self.indices[(self.indices < 0) | (self.indices >= n)]
        if bad.size:
            raise ForgetSetError(
                f"forget index {int(bad[0])} is out of range: the training set has indices 0..{n - 1}."
            )
        return _sample_split(y_train, y_test, self.indices)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "indices": self.indices.tolist()}

    def __repr__(self) -> str:
        head = ", ".join(str(i) for i in self.indices[:5])
        return f"indices([{head}{', ...' if len(self.indices) > 5 else ''}])"


def classes(cls) -> ClassForget:
    """Forget whole classes: ``classes(3)`` or ``classes([3, 5])``."""
    return ClassForget(cls)


def random(fraction: float | None = None, count: int | None = None, seed: int = 0) -> RandomForget:
    """Forget a random subset: ``random(fraction=0.1)`` or ``random(count=500, seed=1)``."""
    return RandomForget(fraction=fraction, count=count, seed=seed)


def indices(idx) -> IndexForget:
    """Forget specific training samples by index."""
    return IndexForget(idx)


def from_dict(d: dict) -> ForgetSpec:
    """Rebuild a spec written by ``to_dict``."""
    kind = d.get("kind")
    if kind == "classes":
        return ClassForget(d["classes"])
    if kind == "random":
        return RandomForget(fraction=d.get("fraction"), count=d.get("count"), seed=d.get("seed", 0))
    if kind == "indices":
        return IndexForget(d["indices"])
    raise ForgetSetError(f"unknown forget-set kind {kind!r}; expected classes, random or indices.")
