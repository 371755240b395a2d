"""Unlearning methods: the registry and the built-in methods, one module each."""

from .constraints import Bool, Choice, Constraint, Float, Int
from .registry import (
    COMMON_DEFAULTS,
    MethodSpec,
    RunCancelled,
    RunTimeout,
    RunContext,
    available,
    get_method,
    register_method,
)
from . import ft, ga, rl, salun, scrub  # noqa: F401  (registers the built-ins)
from . import neggrad_plus, l1_sparse, ssd, bad_teacher, boundary_shrink  # noqa: F401

__all__ = ["Bool", "Choice", "Constraint", "Float", "Int", "COMMON_DEFAULTS", "MethodSpec", "RunCancelled", "RunContext", "RunTimeout", "available",
           "get_method", "register_method"]
