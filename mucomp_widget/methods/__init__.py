"""Unlearning methods: the registry and the built-in methods, one module each."""

from .registry import (
    COMMON_DEFAULTS,
    MethodSpec,
    RunCancelled,
    RunContext,
    available,
    get_method,
    register_method,
)
from . import ft, ga, rl, salun, scrub  # noqa: F401  (registers the built-ins)

__all__ = ["COMMON_DEFAULTS", "MethodSpec", "RunCancelled", "RunContext", "available",
           "get_method", "register_method"]
