"""What the Comparator sends to the browser: compact arrays built from a Study.

Everything here is a pure function of the Study's stored outputs and details, so the
widget and the HTML export send the same thing. Shapes and dtypes are the contract with
``js/lib/types.js``.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd

from .evaluation.embedding import top_probabilities

ROC_POINTS = 256
#: Largest checkpoint the builder's upload takes (a ResNet-18 state dict is about 45 MB);
#: larger files go through ``study.add_checkpoint`` in Python.
MAX_UPLOAD_BYTES = 512 * 2**20
#: Bytes per upload message: well under the Jupyter server's websocket message limit.
UPLOAD_CHUNK_BYTES = 2**21


def _label_dtype(num_classes: int):
    return np.uint8 if num_classes <= 256 else np.uint16


def quantize(values) -> dict:
    """float values -> uint16 codes with ``lo`` and ``step`` (value = lo + code * step).

    Attack values need about 2 decimals (the reference rounds them to 2); 16 bits keep
    ~1e-4 of the range and halve the bytes of float32.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return {"q": np.zeros(0, np.uint16), "lo": 0.0, "step": 1.0}
    lo, hi = float(v.min()), float(v.max())
    step = (hi - lo) / 65535 if hi > lo else 1.0
    return {"q": np.round((v - lo) / step).astype(np.uint16), "lo": lo, "step": step}


def _roc(roc: dict) -> dict:
    fpr, tpr = np.asarray(roc["fpr"]), np.asarray(roc["tpr"])
    if len(fpr) > ROC_POINTS:
        keep = np.unique(np.concatenate([[0, len(fpr) - 1], np.linspace(0, len(fpr) - 1, ROC_POINTS).astype(int),
                                         np.flatnonzero(fpr <= 0.01)[-ROC_POINTS // 4:]]))
        fpr, tpr = fpr[keep], tpr[keep]
    # JSON has no NaN: a TPR the data cannot support travels as null with its reason
    return {"fpr": fpr.astype(np.float32), "tpr": tpr.astype(np.float32), "auc": float(roc["auc"]),
            "tpr_at": {str(k): None if math.isnan(v) else float(v) for k, v in roc["tpr_at"].items()},
            "tpr_at_reason": {str(k): v for k, v in roc["tpr_at_reason"].items()},
            "min_fpr": float(roc["min_fpr"])}


def _ci(ci):
    return None if ci is None else [float(ci[0]), float(ci[1])]


def meta(study) -> dict:
    """Names and settings the views need (JSON only)."""
    from . import methods
    from .evaluation.summary import AUDIT_INFO, METRIC_INFO
    from .methods.registry import COMMON_DEFAULTS

    ds = study.dataset
    method_list = []
    for name in methods.available():
        spec = methods.get_method(name)
        defaults = {**COMMON_DEFAULTS, **spec.defaults, **ds.method_defaults.get(name, {})}
        method_list.append({
            "name": name, "label": spec.label,
            "defaults": {k: v for k, v in defaults.items() if isinstance(v, (int, float, bool, str))},
            "constraints": {k: c.describe() for k, c in spec.constraints.items()},
            "scope": spec.scope, "usable": spec.scope == "any" or bool(study.split.forget_classes),
        })
    return {
        "dataset": ds.name, "class_names": list(ds.class_names), "num_classes": ds.num_classes,
        "forget_classes": list(study.split.forget_classes), "classwise": study.split.classwise,
        "forget": repr(study.forget), "architecture": study.arch.name,
        "metrics": [m.to_json() for m in (*METRIC_INFO, *AUDIT_INFO)], "methods": method_list, "blocks": list(study.arch.blocks),
        "cka_sets": ["train_forget", "train_retain", "test_forget", "test_retain"],
        "n_probe": int(len(study.probe_ids)), "n_forget": int(len(study.split.forget_train)),
        "grid": study.setup.grid if isinstance(study.setup.grid, str) else "custom",
        "upload": {"max_bytes": MAX_UPLOAD_BYTES, "chunk_bytes": UPLOAD_CHUNK_BYTES},
    }


def _plain(v):
    """A table cell as JSON: None for missing, Python numbers for numpy ones."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v


def _hp_value(v):
    if isinstance(v, (bool, str)) or v is None:
        return v
    if isinstance(v, (int, float, np.integer, np.floating)):
        return _plain(v)
    return str(v)


def runs(study, ids=None) -> list[dict]:
    """The table rows (of ``ids``, default all, in table order), plus whether each run
    has an epoch trace or a relearning probe, every hyperparameter it was built with (``hp``) and its seed
    group (``group``: shared by the runs of one seeded call, None for a run made alone)."""
    rows = []
    for rec in study.results.to_dict(orient="records"):
        if ids is not None and rec["id"] not in ids:
            continue
        row = {k: _plain(v) for k, v in rec.items()}
        run = study[row["id"]]
        row["has_trace"] = bool(run.trace)
        row["has_relearn"] = ("relearn", run.id) in study._audits
        row["best_epoch"] = run.best_epoch
        row["group"] = run.group  # runs of one unlearn(..., seeds=[...]) share it; None alone
        row["hp"] = {k: _hp_value(v) for k, v in run.hyperparameters.items()}
        rows.append(row)
    return rows


def probe(study) -> dict:
    """The probe samples (embedded points) and the forget samples (attack view)."""
    y = study.dataset.y_train.numpy()
    ldt = _label_dtype(study.dataset.num_classes)
    ids = study.probe_ids
    forget = study.split.forget_train
    pos = np.full(study.dataset.n_train, -1, dtype=np.int32)
    pos[ids] = np.arange(len(ids), dtype=np.int32)
    return {
        "ids": ids.astype(np.uint32), "labels": y[ids].astype(ldt),
        "is_forget": np.isin(ids, forget).astype(np.uint8),
        "forget_ids": forget.astype(np.uint32), "forget_labels": y[forget].astype(ldt),
        "forget_probe_pos": pos[forget],
    }


def model(study, run_id: str) -> dict:
    """Everything the views show about one model, a few tens of KB for 2,000 probe points;
    with its layout (:func:`layout`) once that is computed."""
    run = study[run_id]
    out, d = run.outputs, run.details
    k = study.dataset.num_classes
    ldt = _label_dtype(k)
    logits = out.train_logits[study.probe_ids]
    classes, probs = top_probabilities(logits, k=min(3, k))
    p = {
        "pred": logits.argmax(1).astype(ldt),
        "top_classes": classes.astype(ldt),
        "top_probs": np.round(probs * 255).astype(np.uint8),
        "class_acc": {s: d["class_accuracy"][s].astype(np.float32) for s in ("train", "test")},
        "pred_matrix": {s: d["prediction_matrix"][s].astype(np.float32) for s in ("train", "test")},
        "conf_matrix": {s: d["confidence_matrix"][s].astype(np.float32) for s in ("train", "test")},
        "cka": {
            ref: {s: np.array([vals.get(f"{s}/{b}", np.nan) for b in study.arch.blocks], np.float32)
                  for s in ("train_forget", "train_retain", "test_forget", "test_retain")}
            for ref, vals in d["cka"].items()
        },
        "gaps": d.get("gaps", {}),
        "trace": run.trace or None,
        "ci": {"PS": _ci(d.get("ps_ci")), "AUC": _ci(d.get("auc_ci")), "U-AUC": _ci(d.get("u_auc_ci")),
               "MIA": _ci(d.get("mia_range"))},
        "roc": {},
    }
    if "roc_forget_vs_heldout" in d:
        p["roc"]["heldout"] = _roc(d["roc_forget_vs_heldout"])
    if "roc_vs_retrain" in d:
        p["roc"]["retrain"] = _roc(d["roc_vs_retrain"])
    if "privacy" in d:
        priv = d["privacy"]
        p["attack"] = {m: quantize(priv["values"]["unlearned"][m]) for m in ("entropy", "confidence")}
        p["curves"] = {
            m: {direction: {key: np.asarray(c[key], np.float32)
                            for key in ("threshold", "fpr", "fnr", "attack_score")}
                for direction, c in priv["curves"][m].items()}
            for m in ("entropy", "confidence")
        }
        p["worst"] = {k_: (float(v) if isinstance(v, (float, np.floating)) else v)
                      for k_, v in priv["worst"].items()}
    ulira = study._audits.get(("ulira", run_id))
    if ulira is not None:
        p["ulira"] = _ulira(ulira)
    relearn = study._audits.get(("relearn", run_id))
    if relearn is not None:
        p["relearn"] = _relearn(relearn)
    p.update(layout(study, run_id) or {})
    return p


def _game(a) -> dict:
    """One model's U-LiRA game (audits.ulira.ULiraAttack) as the audit view shows it."""
    n = len(a.retrain_scores)
    roc = {"fpr": a.fpr, "tpr": a.tpr, "auc": a.auc, "min_fpr": 1.0 / max(n, 1),
           "tpr_at": {k: math.nan if v is None else v for k, v in a.tpr_at.items()},
           "tpr_at_reason": a.tpr_at_reason}
    return {"roc": _roc(roc), "accuracy": float(a.accuracy), "accuracy_ci": _ci(a.accuracy_ci),
            "accuracy_chance": float(a.accuracy_chance), "auc_ci": _ci(a.auc_ci),
            "auc_chance": _ci(a.auc_chance), "p_value": float(a.p_value),
            "threshold_fpr": float(a.threshold_fpr), "leaks": int(np.sum(a.leaks))}


def _ulira(res) -> dict:
    """A run's latest U-LiRA audit: its game, the Original's as the reference line, and the
    forget samples that still leak, most telling first."""
    a = res.target
    order = np.argsort(-a.scores[a.leaks], kind="stable")
    return {"method": res.method, "shadows": int(res.shadows), "target": _game(a), "original": _game(res.original),
            "leak_ids": res.sample_ids[a.leaks][order].astype(np.uint32),
            "leak_scores": a.scores[a.leaks][order].astype(np.float32)}


def _relearn(res) -> dict:
    """A run's latest relearning probe: forget accuracy after each step, the run's and Retrain's."""
    return {"ua_run": np.asarray(res.ua_run, np.float32), "ua_retrain": np.asarray(res.ua_retrain, np.float32),
            "threshold": float(res.threshold), "steps_run": res.steps_run, "steps_retrain": res.steps_retrain,
            "samples": int(res.samples), "steps": int(res.steps), "lr": float(res.lr)}


def layout(study, run_id: str) -> dict | None:
    """The run's 2-D layout of the probe points, None until it is computed."""
    emb = study._embeddings.get(run_id)
    if emb is None or math.isnan(emb.disparity):  # NaN: an older version's layout, made again
        return None
    # disparity: retained samples' mean shift from their Original places, share of its spread.
    return {"coords": emb.coords.astype(np.float32),
            "disparity": float(emb.disparity) if math.isfinite(emb.disparity) else None}


SPRITE_PIXELS = 4096 * 4096
"""Most thumbnail pixels in one sheet (48 MB of RGB): 16,384 CIFAR-10 images at full size;
a larger probe gets thumbnails shrunk by an integer factor (50,000 CIFAR-10 images: 16 x 16)."""


def sprite(study, max_side: int = 4096) -> dict | None:
    """Thumbnails of the probe samples as one image: ``cols`` per row, ``h`` x ``w`` each
    (shrunk for probes of more than ``SPRITE_PIXELS`` pixels).

    PNG for grey images, lossy WebP for colour ones (a CIFAR-10 sheet of 2,000 images is
    ~0.5 MB instead of ~5 MB). None for feature-vector data.
    """
    ds = study.dataset
    if not ds.is_image:
        return None
    from PIL import Image

    imgs = ds.images(study.probe_ids)
    n, h, w, c = imgs.shape
    k = max(1, math.ceil(math.sqrt(n * h * w / SPRITE_PIXELS)))
    if k > 1:  # a large probe: k x k pixels averaged into one, so the sheet stays small
        h, w = h // k, w // k
        imgs = imgs[:, :h * k, :w * k].reshape(n, h, k, w, k, c).mean(axis=(2, 4)).round().astype(np.uint8)
    cols = max(1, min(n, max_side // w, int(math.ceil(math.sqrt(n * h / w)))))
    rows = int(math.ceil(n / cols))
    sheet = np.zeros((rows * h, cols * w, c), dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        sheet[r * h:(r + 1) * h, q * w:(q + 1) * w] = imgs[i]
    pil = Image.fromarray(sheet[:, :, 0] if c == 1 else sheet)
    buf = io.BytesIO()
    fmt = "PNG" if c == 1 else "WEBP"
    pil.save(buf, format=fmt, **({"quality": 85} if fmt == "WEBP" else {"optimize": True}))
    return {"image": memoryview(buf.getvalue()), "mime": f"image/{fmt.lower()}", "cols": cols,
            "h": h, "w": w, "n": n}
