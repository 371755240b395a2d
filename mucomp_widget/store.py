"""Persistence: atomic file writes, the trained-model cache and saved studies.

Weights are written with ``torch.save(state_dict)`` and read back with
``torch.load(weights_only=True)``; nothing is ever unpickled as an arbitrary object.
A saved study's data files are named by the SHA-256 of their content (never by a run
name) and listed in ``study.json``, which is replaced last: a save that fails part-way
leaves the previous save readable, and a damaged or swapped file is detected on load.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import tempfile
from pathlib import Path

import torch

from .errors import StudyError

__all__ = ["default_workdir", "atomic_write", "ModelCache", "write_json", "read_json",
           "save_weights", "load_weights", "weights_to_bytes", "weights_to_safetensors",
           "weights_from_bytes",
           "write_blob", "read_blob", "prune_blobs", "expect", "check_record",
           "SAVED_STUDY_FIELDS", "SAVED_RUN_FIELDS", "OPTIONAL_RUN_FIELDS"]

_DIGEST = re.compile(r"[0-9a-f]{64}")


def default_workdir() -> Path:
    """``$MUCOMP_HOME``, else ``$XDG_CACHE_HOME/mucomp_widget``, else ``~/.cache/mucomp_widget``."""
    if os.environ.get("MUCOMP_HOME"):
        return Path(os.environ["MUCOMP_HOME"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mucomp_widget"


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: Path, obj) -> None:
    atomic_write(path, json.dumps(obj, indent=1, sort_keys=False, default=_json_default).encode())


def _json_default(o):
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise StudyError(f"{path} does not exist.") from None
    except json.JSONDecodeError as exc:
        raise StudyError(f"{path} is not valid JSON ({exc}).") from None


def weights_to_bytes(state_dict: dict) -> bytes:
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, buf)
    return buf.getvalue()


def weights_to_safetensors(state_dict: dict) -> bytes:
    """A state dict as safetensors bytes (how a saved study keeps its weights: no pickle)."""
    from safetensors.torch import save

    return save({k: v.detach().cpu().contiguous() for k, v in state_dict.items()})


def weights_from_bytes(data: bytes, kind: str = "pt") -> dict:
    """A state dict (``str`` -> tensor) from ``torch.save`` bytes (``kind="pt"``, read with
    ``weights_only``) or safetensors bytes; ValueError if it is not one."""
    if kind == "safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load

        try:
            return load(data)
        except SafetensorError as exc:
            raise ValueError(f"it is not a safetensors file ({exc})") from None
    sd = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if not isinstance(sd, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in sd.items()
    ):
        raise ValueError("it is not a mapping of parameter names to tensors")
    return sd


def save_weights(path: Path, state_dict: dict) -> None:
    atomic_write(path, weights_to_bytes(state_dict))


def load_weights(path: Path) -> dict:
    return weights_from_bytes(Path(path).read_bytes())


# ---------------------------------------------------------------- saved-study files


def write_blob(folder: Path, data: bytes, ext: str) -> str:
    """Write ``data`` as ``folder/<sha256>.<ext>`` and return the digest."""
    if folder.is_symlink():
        raise StudyError(f"{folder} is a symbolic link; a study folder's files must live inside it. "
                         "Remove the link or save to another folder.")
    digest = hashlib.sha256(data).hexdigest()
    atomic_write(folder / f"{digest}.{ext}", data)
    return digest


def read_blob(folder: Path, digest, ext: str, study_json: Path, field: str) -> bytes:
    """The bytes of ``folder/<digest>.<ext>``, checked against the digest."""
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise StudyError(f"{study_json}: {field} must be a SHA-256 hex digest, got {digest!r}.")
    path = folder / f"{digest}.{ext}"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StudyError(f"{path} ({field} in {study_json}) cannot be read: {exc.strerror or exc}. "
                         "Restore the study folder from a copy.") from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise StudyError(f"{path} ({field} in {study_json}) is damaged: its content does not match "
                         "the hash recorded when it was saved. Restore the study folder from a copy.")
    return data


def prune_blobs(folder: Path, keep: set[str]) -> None:
    """Delete data files of earlier saves that ``study.json`` no longer lists."""
    if not folder.is_dir() or folder.is_symlink():
        return
    for path in folder.iterdir():
        if _DIGEST.fullmatch(path.stem) and path.stem not in keep and not path.is_dir():
            path.unlink(missing_ok=True)


def expect(obj, key, kinds: tuple, study_json: Path, prefix: str = ""):
    """``obj[key]`` if present and one of ``kinds`` (``"number"``: int or float, never
    bool; ``None``: null), else a StudyError naming the file and the field."""
    name = f"{prefix}{key}" if isinstance(key, str) else f"{prefix}[{key}]"
    try:
        value = obj[key]
    except (KeyError, IndexError, TypeError):
        raise StudyError(f"{study_json}: {name} is missing. The file was edited or damaged; "
                         "restore it from a copy or save the study again.") from None
    for kind in kinds:
        if kind is None and value is None:
            return value
        if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        if isinstance(kind, type) and isinstance(value, kind) and not isinstance(value, bool):
            return value
    names = " or ".join("null" if k is None else k if isinstance(k, str) else k.__name__ for k in kinds)
    raise StudyError(f"{study_json}: {name} must be {names}, got {value!r}. The file was edited "
                     "or damaged; restore it from a copy or save the study again.")


# What study.json holds (besides format, files and the run records' own fields).
SAVED_STUDY_FIELDS = {
    "dataset": (dict,), "forget": (dict,), "model": (str, None), "architecture": (str,),
    "feature_layer": (str, None), "seed": (int,), "recipe": (dict,), "probe_size": (int,),
    "cka_size": (int,), "trace_size": (int,), "grid": (str, list), "counters": (dict,),
    "runs": (list,),
}
SAVED_RUN_FIELDS = {
    "id": (str,), "type": (str,), "method": (str, None), "base": (str, None),
    "hyperparameters": (dict,), "seed": (int, None), "rte": ("number", None),
    "wall_time": ("number", None), "losses": (list,), "metrics": (dict,), "source": (str, None),
    "created_at": (str,), "trace": (dict,), "best_epoch": (int, None), "group": (str, None),
    "provenance": (dict, None), "images": (int, None), "peak_memory": (int, None),
}
#: Run fields that studies saved by earlier versions lack; a missing one loads as None.
OPTIONAL_RUN_FIELDS = frozenset({"group", "provenance", "images", "peak_memory"})


def check_record(runs: list, i: int, study_json: Path) -> None:
    """Check the fields of run record ``runs[i]`` of a saved study (metrics are numbers).

    A field of :data:`OPTIONAL_RUN_FIELDS` may be missing (a study saved before it
    existed); present, it is checked like every other field."""
    rec = expect(runs, i, (dict,), study_json, "runs")
    at = f"runs[{i}]."
    for key, kinds in SAVED_RUN_FIELDS.items():
        if key in OPTIONAL_RUN_FIELDS and key not in rec:
            continue
        expect(rec, key, kinds, study_json, at)
    for key in rec["metrics"]:
        expect(rec["metrics"], key, ("number", None), study_json, f"{at}metrics.")
    for j in range(len(rec["losses"])):
        expect(rec["losses"], j, ("number",), study_json, f"{at}losses")


class ModelCache:
    """Trained Original/Retrain weights under ``workdir/models/<key>.pt`` with a JSON sidecar."""

    def __init__(self, workdir: Path):
        self.root = Path(workdir) / "models"

    def get(self, key: str):
        """``(state_dict, meta)`` or None; a damaged entry (unreadable, non-finite weights,
        a sidecar without ``train_time``/``losses``) counts as missing and is trained again."""
        pt, meta = self.root / f"{key}.pt", self.root / f"{key}.json"
        if not (pt.is_file() and meta.is_file()):
            return None
        try:
            sd, info = load_weights(pt), json.loads(meta.read_text())
            expect(info, "train_time", ("number",), meta)
            for i in range(len(expect(info, "losses", (list,), meta))):
                expect(info["losses"], i, ("number",), meta, "losses")
        except Exception:
            return None
        if not math.isfinite(info["train_time"]) or any(
            v.is_floating_point() and not torch.isfinite(v).all() for v in sd.values()
        ):
            return None
        return sd, info

    def put(self, key: str, state_dict: dict, meta: dict) -> None:
        save_weights(self.root / f"{key}.pt", state_dict)
        write_json(self.root / f"{key}.json", meta)
