"""Errors a user can cause. Each message names the bad value and the fix."""

from __future__ import annotations


class MucompError(Exception):
    """Base class of every error mucomp_widget raises on purpose."""


class ConfigError(MucompError, ValueError):
    """A parameter value is outside what is allowed (lr <= 0, epochs < 1, ...)."""


class ForgetSetError(MucompError, ValueError):
    """A forget set that cannot be resolved: out-of-range class, empty, ..."""


class UnknownMethodError(MucompError, LookupError):
    """A method name that is not registered."""


class MethodError(MucompError, RuntimeError):
    """An unlearning method failed or handed back something unusable."""


class CheckpointError(MucompError, ValueError):
    """A checkpoint that is not a plain state dict or does not fit the architecture."""


class DatasetError(MucompError, FileNotFoundError):
    """A dataset that is missing on disk or malformed."""


class StudyError(MucompError, RuntimeError):
    """A study operation that cannot proceed (unknown run id, busy, bad saved study)."""


def check_positive(name: str, value, *, integer: bool = False, allow_zero: bool = False):
    """Validate a numeric hyperparameter at the boundary and return it."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
        integer and not float(value).is_integer()
    ):
        raise ConfigError(f"{name} must be {kind}, got {value!r}.")
    bound_ok = value >= 0 if allow_zero else value > 0
    if not bound_ok or value != value:
        limit = ">= 0" if allow_zero else ("> 0" if not integer else ">= 1")
        raise ConfigError(f"{name} must be {limit}, got {value!r}.")
    return int(value) if integer else float(value)
