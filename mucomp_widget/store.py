"""Persistence: atomic file writes, the trained-model cache and saved studies.

Weights are written with ``torch.save(state_dict)`` and read back with
``torch.load(weights_only=True)``; nothing is ever unpickled as an arbitrary object.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

from .errors import StudyError

__all__ = ["default_workdir", "atomic_write", "ModelCache", "write_json", "read_json",
           "save_weights", "load_weights"]


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


def save_weights(path: Path, state_dict: dict) -> None:
    import io

    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, buf)
    atomic_write(path, buf.getvalue())


def load_weights(path: Path) -> dict:
    return torch.load(str(path), map_location="cpu", weights_only=True)


class ModelCache:
    """Trained Original/Retrain weights under ``workdir/models/<key>.pt`` with a JSON sidecar."""

    def __init__(self, workdir: Path):
        self.root = Path(workdir) / "models"

    def get(self, key: str):
        """``(state_dict, meta)`` or None; a damaged entry counts as missing."""
        pt, meta = self.root / f"{key}.pt", self.root / f"{key}.json"
        if not (pt.is_file() and meta.is_file()):
            return None
        try:
            return load_weights(pt), json.loads(meta.read_text())
        except Exception:
            return None

    def put(self, key: str, state_dict: dict, meta: dict) -> None:
        save_weights(self.root / f"{key}.pt", state_dict)
        write_json(self.root / f"{key}.json", meta)
