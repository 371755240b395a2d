"""The ``mucomp`` command: run a comparison from the terminal.

    mucomp run --preset digits --forget-class 3 --methods ft,ga,rl,scrub,salun --out DIR
    mucomp methods
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import sys
import tempfile
from pathlib import Path

from .errors import ConfigError, MucompError

PRESETS = ("digits", "cifar10", "fashion_mnist")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mucomp", description="Machine Unlearning Comparator from the terminal.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="train/load Original and Retrain, run methods, write results")
    r.add_argument("--preset", choices=PRESETS, default="digits",
                   help="dataset: digits (embedded, no download), cifar10 or fashion_mnist")
    r.add_argument("--data-root", help="folder with the torchvision files of cifar10/fashion_mnist")
    r.add_argument("--download", action="store_true", help="download the dataset if it is missing")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--forget-class", help="class(es) to forget, e.g. 3 or 3,5 (default 3)")
    g.add_argument("--forget-fraction", type=float, help="forget a random fraction of the training set")
    g.add_argument("--forget-count", type=int, help="forget this many random training samples")
    r.add_argument("--methods", default="ft,ga,rl,scrub,salun",
                   help="comma-separated registered methods (default: the five built-ins)")
    r.add_argument("--hp", action="append", default=[], metavar="METHOD.KEY=VALUE",
                   help="override a hyperparameter, e.g. --hp ft.lr=0.1 (repeatable)")
    r.add_argument("--model", default="auto", help="architecture: auto, resnet18, small_cnn, mlp")
    r.add_argument("--original", metavar="PATH", help="state dict to use as the Original model")
    r.add_argument("--retrain", metavar="PATH", help="state dict to use as the Retrain model")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    r.add_argument("--workdir", help="cache of trained models (default ~/.cache/mucomp_widget)")
    r.add_argument("--out", default="mucomp-results", help="folder for results.json, results.csv, manifest.json and the saved study")
    r.add_argument("--json", action="store_true", help="print the results JSON on stdout instead of a table")
    r.add_argument("--no-progress", action="store_true", help="hide progress bars")
    sub.add_parser("methods", help="list registered methods and their default hyperparameters")
    return p


def _parse_hp(items: list[str], methods: list[str]) -> dict:
    out: dict = {}
    for item in items:
        key, sep, raw = item.partition("=")
        method, dot, name = key.partition(".")
        if not sep or not dot or not method or not name:
            raise ConfigError(f"--hp {item!r} must look like METHOD.KEY=VALUE, e.g. ft.lr=0.1.")
        if method not in methods:
            raise ConfigError(f"--hp {item!r} names method {method!r}, which is not in --methods {','.join(methods)}.")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        out.setdefault(method, {})[name] = value
    return out


def _dataset(args):
    from . import datasets

    if args.preset == "digits":
        return datasets.digits()
    if not args.data_root:
        raise ConfigError(f"--preset {args.preset} needs --data-root DIR (add --download to fetch it).")
    loader = datasets.cifar10 if args.preset == "cifar10" else datasets.fashion_mnist
    return loader(args.data_root, download=args.download)


def _forget(args):
    from . import forget

    if args.forget_fraction is not None:
        return forget.random(fraction=args.forget_fraction, seed=args.seed)
    if args.forget_count is not None:
        return forget.random(count=args.forget_count, seed=args.seed)
    raw = args.forget_class or "3"
    try:
        classes = [int(c) for c in raw.split(",")]
    except ValueError:
        raise ConfigError(f"--forget-class must be integers separated by commas, got {raw!r}.") from None
    return forget.classes(classes)


def _clean(obj):
    """NaN -> None so the JSON is valid for every parser."""
    if isinstance(obj, float):
        return None if math.isnan(obj) else obj
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def _writable_folder(path: Path, flag: str) -> None:
    """Create ``path`` if needed and prove a file can be written in it, before any work."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path} is a file; give a folder (it is created if missing).")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ConfigError(f"{flag} {path} is not a writable folder ({exc.strerror or exc}); "
                          "give another one.") from None


def _check_places(args) -> None:
    out = Path(args.out)
    _writable_folder(out, "--out")
    if (out / "study").exists() and not (out / "study").is_dir():
        raise ConfigError(f"--out {out} holds a file named study where the saved study goes; "
                          "move it or give another --out.")
    for name in ("results.csv", "results.json", "manifest.json"):
        if (out / name).is_dir():
            raise ConfigError(f"--out {out} holds a folder named {name} where that file goes; "
                              "move it or give another --out.")
    if args.workdir:
        _writable_folder(Path(args.workdir), "--workdir")


def _run(args) -> int:
    from . import methods as registry
    from .methods.registry import check_scope, resolve_hyperparameters
    from . import manifest
    from .store import atomic_write
    from .study import Study

    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    for name in names:
        registry.get_method(name)  # fail fast on a typo, before any training
    overrides = _parse_hp(args.hp, names)
    _check_places(args)
    study = Study(_dataset(args), _forget(args), args.model, seed=args.seed, device=args.device,
                  workdir=args.workdir, progress=not args.no_progress)
    for name in names:  # refuse a class-only method or a bad value before any training
        spec = registry.get_method(name)
        check_scope(spec, study.split.forget_classes)
        resolve_hyperparameters(spec, study.dataset.method_defaults, overrides.get(name, {}))
    if args.original:
        study.load_original(args.original)
    if args.retrain:
        study.load_retrain(args.retrain)
    study.prepare()
    for name in names:
        study.unlearn(name, **overrides.get(name, {}))
    out = Path(args.out)
    study.save(out / "study")
    df = study.results
    atomic_write(out / "results.csv", df.to_csv(index=False).encode())
    payload = _clean({
        "dataset": study.dataset.name, "forget": study.forget.to_dict(),
        "architecture": study.arch.name, "seed": study.seed, "device": str(study.device),
        "runs": [r.record() for r in study.runs],
        "results": df.astype(object).where(df.notna(), None).to_dict(orient="records"),
    })
    text = json.dumps(payload, indent=1)
    atomic_write(out / "results.json", text.encode())
    atomic_write(out / "manifest.json", json.dumps(_clean(manifest.build(study)), indent=1).encode())
    if args.json:
        print(text)
    else:
        hidden = ("base", "seed", "MIA-Ent", "MIA-Loss", "AUC", "U-AUC", "RTE_ratio", "peak_MB", "images")
        shown = [c for c in df.columns if c not in hidden]
        table = df[shown].fillna({"method": "-"})
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="-"))
        print(f"\nAll columns in {out}/results.csv and results.json; the study in {out}/study, "
              f"for mucomp_widget.Study.load('{out / 'study'}').")
    return 0


def _methods() -> int:
    from . import methods as registry

    names = registry.available()
    specs = [registry.get_method(name) for name in names]
    wn = max(len(n) for n in names)
    wl = max(len(s.label) for s in specs)
    for name, spec in zip(names, specs):
        hp = {**registry.COMMON_DEFAULTS, **spec.defaults}
        scope = " (whole classes only)" if spec.scope == "class" else ""
        print(f"{name:{wn}s}  {spec.label:{wl}s}  "
              + ", ".join(f"{k}={v}" for k, v in hp.items()) + scope)
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args) if args.command == "run" else _methods()
    except MucompError as exc:
        print(f"mucomp: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a disk that fills up or goes away while results are written
        print(f"mucomp: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mucomp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
