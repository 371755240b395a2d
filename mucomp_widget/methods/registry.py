"""The method registry and the calling convention every method follows.

A method is a plain function::

    def my_method(model, forget_loader, retain_loader, *, epochs, lr, device, **hp):
        ...                      # change `model` in place, or build and return a new one
        return model

It receives a deep copy of its base model (already on ``device``), loaders that yield
``(x, y)`` batches on ``device``, and its hyperparameters as keywords. Besides the
hyperparameters it may accept ``batch_size``, ``device``, ``seed``, ``num_classes``,
``forget_classes`` and ``ctx`` (a :class:`RunContext`: per-epoch loss reporting,
cancellation, a seeded generator, mixed precision). Keywords a method does not declare are
not passed, unless it takes ``**hp``. Built-in methods are registered with exactly the
public :func:`register_method`.
"""

from __future__ import annotations

import inspect
import re
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from ..cost import Meter
from ..errors import ConfigError, MethodError, MucompError, UnknownMethodError
from ..models import non_finite_parameters
from ..training import autocast
from .constraints import COMMON, Constraint

__all__ = ["MethodSpec", "RunContext", "RunCancelled", "RunTimeout", "register_method", "available",
           "get_method", "spec_for", "resolve_hyperparameters", "check_scope", "invoke"]

#: What every method gets unless its registration or the dataset says otherwise
#: (the reference system's defaults for "other/Upload").
COMMON_DEFAULTS = {"epochs": 3, "lr": 0.01, "batch_size": 128}
_RESERVED = ("device", "seed", "num_classes", "forget_classes", "ctx")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.+-]*$")
#: What forget sets a method handles: "any" (the default) or "class" (whole classes only).
SCOPES = ("any", "class")


class RunCancelled(MucompError):
    """Raised inside a run when the user asked to stop it; the study is left unchanged."""


class RunTimeout(MethodError):
    """Raised inside a run that went past its time limit; the study is left unchanged."""


@dataclass
class MethodSpec:
    """A registered method: its function, default hyperparameters, their constraints
    (epochs, lr and batch size always included), display label and ``scope``: the forget
    sets it handles, ``"any"`` or ``"class"`` (whole classes only; see :func:`check_scope`)."""

    name: str
    fn: Callable
    defaults: dict = field(default_factory=dict)
    label: str = ""
    builtin: bool = False
    constraints: dict = field(default_factory=lambda: dict(COMMON))
    scope: str = "any"

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.fn) or ""

    def accepts(self) -> tuple[set[str], bool]:
        """Keyword names the function declares, and whether it takes ``**kwargs``."""
        params = inspect.signature(self.fn).parameters.values()
        names = {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
        return names, any(p.kind is p.VAR_KEYWORD for p in params)


_REGISTRY: dict[str, MethodSpec] = {}


def register_method(name: str, defaults: dict | None = None, *, constraints: dict | None = None,
                    label: str | None = None, overwrite: bool = False, scope: str = "any"):
    """Decorator that registers an unlearning method under ``name``.

    ``defaults`` are its default hyperparameters (``epochs``, ``lr``, ``batch_size`` and any
    method-specific ones). ``constraints`` maps hyperparameter names to what they may be
    (:class:`~mucomp_widget.Int`, :class:`~mucomp_widget.Float`, :class:`~mucomp_widget.Bool`,
    :class:`~mucomp_widget.Choice`); every value is checked against them before a run
    starts, and the widget's builder shows them. Epochs, lr and batch size are always
    constrained. Registering a name again replaces the earlier function (handy when a
    notebook cell is re-run), except for built-in names, which need ``overwrite=True``.
    ``scope="class"`` declares a method that forgets whole classes only: a run on a
    sample-wise forget set is refused with a ConfigError before it starts.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            f"method name {name!r} is not allowed; use letters, digits, '_', '-', '.' or '+', "
            "starting with a letter or '_'."
        )
    if defaults is not None and not isinstance(defaults, dict):
        raise ConfigError(f"defaults must be a dict of hyperparameters, got {type(defaults).__name__}.")
    if constraints is not None and not isinstance(constraints, dict):
        raise ConfigError(f"constraints must be a dict of name -> constraint, got {type(constraints).__name__}.")
    if scope not in SCOPES:
        raise ConfigError(f"method {name!r}: scope must be 'any' or 'class', got {scope!r}.")
    rules = {**COMMON, **(constraints or {})}
    for key, rule in rules.items():
        if not isinstance(rule, Constraint):
            raise ConfigError(
                f"method {name!r}: the constraint of {key!r} must be mu.Int, mu.Float, mu.Bool or "
                f"mu.Choice, got {rule!r}."
            )
    defaults = check_hyperparameters(name, rules, dict(defaults or {}))

    def decorate(fn: Callable) -> Callable:
        if not callable(fn):
            raise ConfigError(f"register_method({name!r}) must decorate a function.")
        old = _REGISTRY.get(name)
        if old is not None and old.builtin and not overwrite:
            raise ConfigError(
                f"{name!r} is a built-in method; pick another name or pass overwrite=True."
            )
        spec = MethodSpec(name, fn, defaults, label or name,
                          builtin=fn.__module__.startswith(__package__), constraints=rules,
                          scope=scope)
        names, var_kw = spec.accepts()
        unknown = [k for k in rules if k not in COMMON and k not in names and not var_kw]
        if unknown:
            raise ConfigError(
                f"method {name!r} declares a constraint for {unknown[0]!r}, which the function "
                "does not accept; add it as a keyword argument or drop the constraint."
            )
        _REGISTRY[name] = spec
        return fn

    return decorate


def available() -> list[str]:
    """Names of the registered methods: built-ins first, in the order they were registered
    (the reference system's five first), then the user's by name."""
    return sorted(_REGISTRY, key=lambda n: (not _REGISTRY[n].builtin, "" if _REGISTRY[n].builtin else n))


def get_method(name: str) -> MethodSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownMethodError(
            f"unknown method {name!r}; registered methods are {', '.join(available())}. "
            "Register your own with @mucomp_widget.register_method(name)."
        ) from None


def spec_for(method) -> MethodSpec:
    """A MethodSpec for a registered name or an unregistered callable."""
    if isinstance(method, str):
        return get_method(method)
    if isinstance(method, MethodSpec):
        return method
    if callable(method):
        for spec in _REGISTRY.values():
            if spec.fn is method:
                return spec
        name = getattr(method, "__name__", type(method).__name__)
        if not _NAME.fullmatch(name):
            name = "custom"
        return MethodSpec(name, method, {}, name)
    raise UnknownMethodError(
        f"method must be a registered name or a function, got {method!r}; registered methods "
        f"are {', '.join(available())}."
    )


def check_hyperparameters(method: str, constraints: dict, hp: dict) -> dict:
    """``hp`` with every constrained value checked and in canonical form (3.0 -> 3)."""
    return {k: constraints[k].validate(method, k, v) if k in constraints else v for k, v in hp.items()}


def resolve_hyperparameters(spec: MethodSpec, dataset_defaults: dict, user: dict) -> dict:
    """Common defaults < registered defaults < the dataset's tuned values < the user's."""
    reserved = [k for k in user if k in _RESERVED]
    if reserved:
        raise ConfigError(
            f"{reserved[0]!r} is set by the study, not passed as a hyperparameter; "
            "set it on the Study (or seed=... on unlearn)."
        )
    names, var_kw = spec.accepts()
    unknown = [k for k in user if k not in names and k not in COMMON_DEFAULTS and not var_kw]
    if unknown:
        own = sorted(set(COMMON_DEFAULTS) | set(spec.defaults))
        raise ConfigError(
            f"method {spec.name!r} has no hyperparameter {unknown[0]!r}; "
            f"it accepts {', '.join(own)}."
        )
    hp = {**COMMON_DEFAULTS, **spec.defaults, **dataset_defaults.get(spec.name, {}), **user}
    return check_hyperparameters(spec.name, spec.constraints, hp)


def check_scope(spec: MethodSpec, forget_classes) -> None:
    """Raise ConfigError if ``spec`` forgets whole classes only and ``forget_classes`` is
    empty (a random or index forget set)."""
    if spec.scope == "class" and not tuple(forget_classes):
        raise ConfigError(
            f"method {spec.name!r} forgets whole classes only, and this study's forget set has "
            "no forget class (random or index forgetting). Make the study with a class forget "
            "set, mu.forget.classes(k), or pick a method that handles sample-wise forgetting."
        )


class RunContext:
    """What a running method can use besides its hyperparameters.

    ``report(epoch, loss)`` records the epoch's training loss, forwards progress (and
    epoch traces) and raises :class:`RunCancelled` when a stop was requested, or
    :class:`RunTimeout` past ``time_limit`` seconds from the call; :func:`invoke` makes every
    forward pass of the model check the same, so a method that never reports can still be
    stopped (not one that never runs its model). ``loop_started()`` marks the
    start of the unlearning loop: RTE runs from there (or from the call, if never marked)
    to the return, minus the time spent in ``report`` callbacks, as the reference system
    times its epoch loop. ``generator`` is a seeded CPU generator for the method's own
    random draws.
    """

    def __init__(self, *, device: torch.device, seed: int, num_classes: int,
                 forget_classes: tuple[int, ...], epochs: int, on_epoch=None, should_stop=None,
                 time_limit: float | None = None, method: str = "method"):
        self.device = device
        self.seed = seed
        self.num_classes = num_classes
        self.forget_classes = tuple(forget_classes)
        self.epochs = epochs
        self.generator = torch.Generator().manual_seed(int(seed))
        self.losses: list[float] = []
        self._on_epoch = on_epoch
        self._should_stop = should_stop
        self._loop_start: float | None = None
        self._callback_time = 0.0
        self.time_limit = time_limit
        self._deadline: float | None = None
        self._method = method
        self.model: nn.Module | None = None  # the module handed to the method

    def loop_started(self) -> None:
        self._loop_start = time.perf_counter()

    def autocast(self):
        return autocast(self.device)

    def check_cancelled(self) -> None:
        """Raise RunCancelled if a stop was asked for, RunTimeout past the time limit."""
        if self._should_stop is not None and self._should_stop():
            raise RunCancelled("the run was cancelled.")
        if self._deadline is not None and time.perf_counter() > self._deadline:
            raise RunTimeout(
                f"method {self._method!r} ran past its time limit of {self.time_limit:g} s and was "
                "stopped; the study and its earlier runs are unchanged. Raise time_limit or give "
                "the method less work (fewer epochs)."
            )

    def report(self, epoch: int, loss: float, model: nn.Module | None = None) -> None:
        """Record the epoch's loss; ``model`` is the module being trained if the method
        replaced the one it was given (epoch traces evaluate it)."""
        self.losses.append(float(loss))
        if self._on_epoch is not None:
            t = time.perf_counter()
            self._on_epoch(int(epoch), float(loss), model if model is not None else self.model)
            self._callback_time += time.perf_counter() - t
        self.check_cancelled()


def _restore_dtypes(method: str, model: nn.Module, dtypes: dict) -> None:
    """Cast floating-point weights back to the base model's dtypes, in place."""
    tensors = dict(model.named_parameters())
    tensors.update(model.named_buffers())
    for name, t in tensors.items():
        want = dtypes.get(name)
        if want is None or t.dtype == want:
            continue
        if not (t.is_floating_point() and want.is_floating_point):
            raise MethodError(
                f"method {method!r} turned {name} from {want} into {t.dtype}; keep the base "
                "model's dtypes (only floating-point precision is cast back)."
            )
        t.data = t.data.to(want)


@dataclass
class Invocation:
    """What one method call produced: ``images`` pushed through the network (or copies of
    it) and the peak memory above the start in bytes (:class:`mucomp_widget.cost.Meter`;
    None where it cannot be measured)."""

    model: nn.Module
    rte: float
    wall: float
    losses: list[float]
    images: int = 0
    peak_memory: int | None = None


def invoke(spec: MethodSpec, model: nn.Module, forget_loader, retain_loader, hp: dict,
           ctx: RunContext) -> Invocation:
    """Call a method on ``model`` (already a copy) and check what it hands back.

    Every forward pass of ``model`` (and of copies the method makes of it) first checks for
    a cancel request or the time limit, and is counted (images, memory samples). Floating-point weights handed back in another
    precision (a method that called ``model.double()``) are cast back to the base model's.
    """
    check_scope(spec, ctx.forget_classes)
    reference = {k: (tuple(v.shape), v.dtype) for k, v in model.state_dict().items()}
    ctx.model = model
    names, var_kw = spec.accepts()
    offered = {**hp, "device": ctx.device, "seed": ctx.seed, "num_classes": ctx.num_classes,
               "forget_classes": ctx.forget_classes, "ctx": ctx}
    kwargs = offered if var_kw else {k: v for k, v in offered.items() if k in names}
    guarding = [True]  # deepcopy keeps the hook function itself, so this switch reaches copies

    meter = Meter(ctx.device)

    def guard(_module, args):
        if guarding[0]:
            ctx.check_cancelled()
            if args:
                meter.count(args[0])

    handle = model.register_forward_pre_hook(guard)
    start = time.perf_counter()
    ctx._deadline = None if ctx.time_limit is None else start + ctx.time_limit
    try:
        with meter:
            out = spec.fn(model, forget_loader, retain_loader, **kwargs)
    except MucompError:
        raise
    except Exception as exc:
        raise MethodError(
            f"method {spec.name!r} raised {type(exc).__name__}: {exc}. The study and its "
            "earlier runs are unchanged."
        ) from exc
    finally:
        guarding[0] = False
        handle.remove()
        ctx._deadline = None
    end = time.perf_counter()
    if out is None:
        out = model
    if not isinstance(out, nn.Module):
        raise MethodError(
            f"method {spec.name!r} returned {type(out).__name__}; it must return the unlearned "
            "torch.nn.Module, or None after changing the given model in place."
        )
    _restore_dtypes(spec.name, out, {k: dtype for k, (_, dtype) in reference.items()})
    got = {k: (tuple(v.shape), v.dtype) for k, v in out.state_dict().items()}
    if got.keys() != reference.keys() or any(got[k][0] != reference[k][0] for k in got):
        missing = [k for k in reference if k not in got]
        extra = [k for k in got if k not in reference]
        reshaped = [f"{k} {reference[k][0]} -> {got[k][0]}" for k in got
                    if k in reference and got[k][0] != reference[k][0]]
        detail = "; ".join(p for p in (
            f"missing {missing[:5]}" if missing else "",
            f"added {extra[:5]}" if extra else "",
            f"reshaped {reshaped[:5]}" if reshaped else "") if p)
        raise MethodError(
            f"method {spec.name!r} changed the architecture ({detail}); an unlearned model must "
            "keep the base model's layers so it can be compared with it."
        )
    bad = non_finite_parameters(out)
    if bad:
        raise MethodError(
            f"method {spec.name!r} produced non-finite weights (NaN or inf) in {bad[:5]}; "
            "lower the learning rate or clip gradients."
        )
    loop_start = ctx._loop_start if ctx._loop_start is not None else start
    rte = max(end - loop_start - ctx._callback_time, 0.0)
    return Invocation(out, rte, end - start, list(ctx.losses), meter.images, meter.peak_bytes)
