"""numpy arrays <-> ``{buffer, dtype, shape}`` for widget traits.

Buffers travel as binary websocket frames (no JSON lists of numbers). float64 becomes
float32 and int64 becomes int32, as jupyter-scatter does, since JS has no float64 use for
plotting and no int64 typed arrays worth their cost.
"""

from __future__ import annotations

import numpy as np

_NARROW = {np.dtype("float64"): np.float32, np.dtype("int64"): np.int32, np.dtype("uint64"): np.uint32,
           np.dtype("bool"): np.uint8, np.dtype("float16"): np.float32}
_JS_DTYPES = {"float32", "int32", "uint32", "int16", "uint16", "int8", "uint8"}


def encode(a) -> dict:
    """One array as a dict whose ``buffer`` ipywidgets sends as a binary frame."""
    a = np.asarray(a)
    if a.dtype in _NARROW:
        a = a.astype(_NARROW[a.dtype])
    if a.dtype.name not in _JS_DTYPES:
        raise TypeError(f"cannot send an array of dtype {a.dtype} to the widget")
    a = np.ascontiguousarray(a)
    return {"buffer": memoryview(a.tobytes()), "dtype": a.dtype.name, "shape": list(a.shape)}


def decode(obj) -> np.ndarray:
    """Inverse of :func:`encode` (the buffer may arrive as bytes, memoryview or bytearray)."""
    dtype = np.dtype(obj["dtype"])
    if dtype.name not in _JS_DTYPES:
        raise TypeError(f"unexpected dtype {dtype} from the widget")
    return np.frombuffer(bytes(obj["buffer"]), dtype=dtype).reshape(obj["shape"])


def encode_tree(value):
    """Encode every numpy array inside nested dicts/lists; leave other values as they are."""
    if isinstance(value, np.ndarray):
        return encode(value)
    if isinstance(value, dict):
        return {k: encode_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_tree(v) for v in value]
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return None if v != v else v  # NaN -> null: JSON has no NaN
    if isinstance(value, np.integer):
        return int(value)
    return value


def tree_to_json(value, _widget=None):
    """``to_json`` hook for traits that hold nested arrays."""
    return encode_tree(value)


def array_to_json(value, _widget=None):
    return None if value is None else encode(value)


def array_from_json(value, _widget=None):
    return None if value is None else decode(value)


def nbytes(tree) -> int:
    """Bytes an encoded tree puts on the wire (buffers plus a JSON estimate of the rest)."""
    import json

    total = 0

    def strip(v):
        nonlocal total
        if isinstance(v, dict):
            if "buffer" in v and "dtype" in v:
                total += len(v["buffer"])
                return {"dtype": v["dtype"], "shape": v["shape"]}
            return {k: strip(x) for k, x in v.items()}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v

    rest = strip(tree)
    return total + len(json.dumps(rest))


def message_bytes(content: dict, buffers) -> int:
    """Bytes a custom message puts on the wire: its JSON plus its binary buffers."""
    import json

    return len(json.dumps(content)) + sum(len(b) for b in buffers)
