"""What values a method's hyperparameters may take, declared as data and checked once.

A registration names its constraints next to its defaults::

    @mu.register_method("scrub", defaults={"msteps": 2, ...},
                        constraints={"msteps": mu.Int(0), "alpha": mu.Float(0), ...})

:func:`~mucomp_widget.methods.registry.resolve_hyperparameters` checks every value against
them for ``Study.unlearn``, ``Study.sweep`` (the whole grid, before the first run) and the
widget's builder; the builder also shows them (``describe``). A failed check is a
:class:`~mucomp_widget.errors.ConfigError` that names the method, the hyperparameter, the
value and what is allowed.
"""

from __future__ import annotations

import math
import numbers

from ..errors import ConfigError

__all__ = ["Constraint", "Int", "Float", "Bool", "Choice"]


class Constraint:
    """Base class: ``check(value)`` returns the value in canonical form or raises ValueError
    with what is allowed; ``describe()`` is the JSON the builder shows."""

    kind = "any"

    def check(self, value):
        raise NotImplementedError

    def allowed(self) -> str:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"type": self.kind, "allowed": self.allowed()}

    def validate(self, method: str, name: str, value):
        """``check`` with a ConfigError naming the method, the hyperparameter and the value."""
        try:
            return self.check(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"method {method!r}: {name} must be {self.allowed()}, got {value!r}."
            ) from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.allowed()})"


class _Number(Constraint):
    integer = False

    def __init__(self, low=None, high=None, *, low_open: bool = False, high_open: bool = False):
        for bound in (low, high):
            if bound is not None and (isinstance(bound, bool) or not isinstance(bound, numbers.Real)
                                      or not math.isfinite(bound)):
                raise ConfigError(f"{type(self).__name__} bounds must be finite numbers or None, got {bound!r}.")
        if low is not None and high is not None and low > high:
            raise ConfigError(f"{type(self).__name__}: low {low!r} is above high {high!r}.")
        self.low, self.high = low, high
        self.low_open, self.high_open = bool(low_open), bool(high_open)

    def check(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError
        value = float(value)
        if not math.isfinite(value):
            raise ValueError
        if self.integer:
            if not value.is_integer():
                raise ValueError
            value = int(value)
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            raise ValueError
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            raise ValueError
        return value

    def allowed(self) -> str:
        what = "an integer" if self.integer else "a number"
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        return what + (" " + " and ".join(parts) if parts else "")

    def describe(self) -> dict:
        return {**super().describe(), "min": self.low, "max": self.high,
                "min_open": self.low_open, "max_open": self.high_open}


class Int(_Number):
    """An integer in [low, high] (either bound may be None); 3.0 is read as 3."""

    kind = "int"
    integer = True


class Float(_Number):
    """A finite real number in [low, high]; ``low_open``/``high_open`` exclude a bound."""

    kind = "float"


class Bool(Constraint):
    """True or False (not 0/1, which are more likely a typo for another hyperparameter)."""

    kind = "bool"

    def check(self, value):
        if not isinstance(value, bool):
            raise TypeError
        return value

    def allowed(self) -> str:
        return "True or False"


class Choice(Constraint):
    """One of a fixed set of values (strings or numbers)."""

    kind = "choice"

    def __init__(self, *choices):
        if not choices:
            raise ConfigError("Choice needs at least one allowed value.")
        self.choices = tuple(choices)

    def check(self, value):
        for c in self.choices:
            if type(value) is type(c) and value == c:
                return value
        raise ValueError

    def allowed(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def describe(self) -> dict:
        return {**super().describe(), "choices": list(self.choices)}


#: epochs, lr and batch size of every method.
COMMON = {"epochs": Int(1), "lr": Float(0, low_open=True), "batch_size": Int(1)}
