"""The Comparator: one anywidget that shows a Study's models as linked views.

The widget never trains or evaluates: it asks the Study, in background threads, so the
notebook stays usable while a grid of runs is built. Results reach the browser through
traitlets as binary buffers (``_payload``); the browser sends back the chosen models, the
selection, the threshold and requests (build, cancel, delete, snapshot).
"""

from __future__ import annotations

import concurrent.futures
import os
import queue
import tempfile
import threading
import time
import uuid
from pathlib import Path

import anywidget
import numpy as np
import traitlets as t

from . import _codecs, _payload
from ._codecs import array_from_json, array_to_json, tree_to_json
from ._payload import MAX_UPLOAD_BYTES
from .errors import ConfigError, MucompError, StudyError
from .methods import RunCancelled

STATIC = Path(__file__).parent / "static"
if not (STATIC / "widget.js").is_file():  # pragma: no cover - only in a broken source checkout
    raise MucompError(
        f"the widget's front-end bundle {STATIC / 'widget.js'} is missing; build it with "
        "`npm install && npm run build` in the repository (make does this), or install a wheel."
    )


def _selection_to_json(value, widget):
    return array_to_json(np.asarray(value, dtype=np.uint32), widget)


def _selection_from_json(value, widget):
    arr = array_from_json(value, widget)
    return np.zeros(0, dtype=np.int64) if arr is None else arr.astype(np.int64)


def runs_message(order, put, patch, drop, append=()) -> tuple[dict, list]:
    """The "runs" message: ``put`` replaces runs (row and data), ``patch`` adds to a run's
    data (its layout), ``drop`` removes runs; ``order`` is the table order, or None for
    "the order held, less ``drop``, then ``append``". Arrays leave the JSON as binary
    buffers, found again through ``buffer_paths``."""
    from ipywidgets.widgets.widget import _remove_buffers

    content = _codecs.encode_tree({"type": "runs", "order": order, "append": list(append), "put": put,
                                   "patch": patch, "drop": drop})
    stripped, paths, buffers = _remove_buffers(content)
    return {**stripped, "buffer_paths": paths}, buffers


class _Upload:
    """A checkpoint arriving from the browser in chunks, written to a temporary file."""

    def __init__(self, name: str, size: int, count: int):
        self.name, self.size, self.count = name, size, count
        self.received, self.next = 0, 0
        suffix = ".safetensors" if name.lower().endswith(".safetensors") else ".pt"
        fd, path = tempfile.mkstemp(prefix="mucomp-upload-", suffix=suffix)
        self.path = Path(path)
        self.file = os.fdopen(fd, "wb")

    def add(self, index: int, data: bytes) -> bool:
        """Write chunk ``index``; True when the file is complete."""
        if index != self.next:
            raise ConfigError(f"upload of {self.name!r}: chunk {index} arrived, {self.next} was expected; "
                              "upload the file again.")
        if self.received + len(data) > self.size:
            raise ConfigError(f"upload of {self.name!r}: more bytes arrived than its size ({self.size}); "
                              "upload the file again.")
        self.file.write(data)
        self.received += len(data)
        self.next += 1
        if self.next < self.count:
            return False
        self.file.close()
        if self.received != self.size:
            raise ConfigError(f"upload of {self.name!r} is incomplete: {self.received} of {self.size} bytes "
                              "arrived; upload the file again.")
        return True

    def discard(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)


class Comparator(anywidget.AnyWidget):
    """Compare the models of a Study side by side.

    ``model_a``/``model_b`` are run ids (emerald and purple in every view); ``selection``
    is a numpy array of training-sample ids chosen with the lasso; ``threshold`` is the
    attack view's custom threshold (None: the middle of the metric's range); ``metric`` is
    ``"entropy"`` or ``"confidence"``; ``theme`` is ``"auto"``, ``"light"`` or ``"dark"``.
    All of them can be read, set and observed from Python.

    The widget follows its study: a run added or deleted anywhere (``study.unlearn`` in a
    cell, a sweep, ``add_checkpoint``, ``load_retrain``, another Comparator) reaches the
    browser within a fraction of a second. Several Comparators may show one study.
    """

    _esm = STATIC / "widget.js"
    _css = STATIC / "widget.css"

    model_a = t.Unicode("original").tag(sync=True)
    model_b = t.Unicode("retrain").tag(sync=True)
    selection = t.Any(np.zeros(0, dtype=np.int64)).tag(
        sync=True, to_json=_selection_to_json, from_json=_selection_from_json)
    threshold = t.Float(None, allow_none=True).tag(sync=True)
    metric = t.Enum(("entropy", "confidence"), "entropy").tag(sync=True)
    theme = t.Enum(("auto", "light", "dark"), "auto").tag(sync=True)

    # Runs are not traits: each run's rows and arrays travel once, as a "runs" message
    # (see _sync), into a cache the browser keeps per widget (keyed by _uid).
    _uid = t.Unicode().tag(sync=True)
    _meta = t.Dict().tag(sync=True)
    _probe = t.Dict().tag(sync=True, to_json=tree_to_json)
    _sprite = t.Dict(allow_none=True, default_value=None).tag(sync=True)
    _progress = t.Dict().tag(sync=True)
    _error = t.Unicode("").tag(sync=True)
    _static = t.Bool(False).tag(sync=True)  # True in an exported page: no kernel

    def __init__(self, study, *, model_a: str = "original", model_b: str = "retrain", **kwargs):
        from .study import Study

        if not isinstance(study, Study):
            raise ConfigError(f"Comparator needs a mucomp_widget Study, got {type(study).__name__}.")
        self.study = study
        study.prepare()
        super().__init__(_uid=uuid.uuid4().hex, **kwargs)
        self._jobs: queue.Queue = queue.Queue()
        self._layouts: queue.Queue = queue.Queue()
        self._pending_png: dict[int, tuple[concurrent.futures.Future, Path]] = {}
        self._png_counter = 0
        self._queued = 0  # runs waiting in queued builds
        self._lock = threading.RLock()
        self._sync_lock = threading.Lock()
        self._sent: dict[str, tuple[int, bool]] = {}  # run id -> (revision, layout) the browser has
        self._order: list[str] | None = None
        self._front = False  # a browser asked for the runs ("hello"): from then on, send changes
        self._dirty = threading.Event()
        self._closed = False
        self._uploads: dict[str, _Upload] = {}
        self._probe = _payload.probe(study)
        self._sprite = _payload.sprite(study)
        self._meta = _payload.meta(study)
        self.model_a, self.model_b = model_a, model_b
        self.on_msg(self._on_msg)
        study.add_listener(self._on_event)
        self._threads = [threading.Thread(target=self._work, args=(q,), daemon=True, name=f"mucomp-{name}")
                         for q, name in ((self._jobs, "jobs"), (self._layouts, "layouts"))]
        self._threads.append(threading.Thread(target=self._follow, daemon=True, name="mucomp-sync"))
        for thread in self._threads:
            thread.start()
        self._request_layouts()

    # ---------------------------------------------------------------- traits

    @t.validate("model_a", "model_b")
    def _valid_model(self, proposal):
        value = proposal["value"]
        if value not in self.study:
            raise StudyError(
                f"no run {value!r} in this study; its runs are {[r.id for r in self.study.runs]}."
            )
        return value

    @t.validate("selection")
    def _valid_selection(self, proposal):
        ids = np.asarray(proposal["value"] if proposal["value"] is not None else [], dtype=np.int64).ravel()
        n = self.study.dataset.n_train
        if ids.size and (ids.min() < 0 or ids.max() >= n):
            raise ConfigError(f"selection holds training-sample ids, 0..{n - 1}; got {ids.min()}..{ids.max()}.")
        return ids

    @t.observe("model_a", "model_b")
    def _models_changed(self, _change):
        if hasattr(self, "_layouts"):
            self._request_layouts()

    # ---------------------------------------------------------------- runs to the browser

    def _sync(self) -> int:
        """Send the browser what changed since the last message: new or rescored runs
        whole, layouts made since, deleted ids, the table order. Returns the bytes sent."""
        with self._sync_lock:
            if not self._front or self._closed:
                return 0
            self._meta = _payload.meta(self.study)  # sent only when it changed (a method registered)
            rows = {r["id"]: r for r in _payload.runs(self.study)}
            order = list(rows)
            put, patch = {}, {}
            for rid in order:
                rev, sent = self.study._revision(rid), self._sent.get(rid)
                if sent is None or sent[0] != rev:
                    try:
                        data = _payload.model(self.study, rid)
                    except (KeyError, StudyError):  # deleted meanwhile: its "deleted" event syncs again
                        continue
                    put[rid] = {"row": rows[rid], "data": data}
                    self._sent[rid] = (rev, "coords" in data)
                elif not sent[1]:
                    lay = _payload.layout(self.study, rid)
                    if lay is not None:
                        patch[rid] = lay
                        self._sent[rid] = (rev, True)
            drop = [rid for rid in self._sent if rid not in rows]
            for rid in drop:
                del self._sent[rid]
            if not (put or patch or drop) and order == self._order:
                return 0
            # The table order travels only when it is not the old one plus the new runs at
            # the end, so the bytes per added run do not grow with the runs held.
            kept = [rid for rid in self._order or () if rid in rows]
            held = set(kept)
            append = [rid for rid in order if rid not in held]
            if self._order is not None and kept + append == order:
                content, buffers = runs_message(None, put, patch, drop, append)
            else:
                content, buffers = runs_message(order, put, patch, drop)
            self._order = order
            self.send(content, buffers)
            return _codecs.message_bytes(content, buffers)

    def _follow(self) -> None:
        """Worker: send changes soon after the study announces them (coalesced)."""
        while True:
            self._dirty.wait()
            if self._closed:
                return
            time.sleep(0.02)  # one message for a burst of events (a rescore of every run)
            self._dirty.clear()
            try:
                self._sync()
            except Exception as exc:  # pragma: no cover - shown in the widget, not lost
                self._error = f"could not send the runs to the browser: {type(exc).__name__}: {exc}"

    def _request_layouts(self, ids=None) -> None:
        for rid in ids or (self.model_a, self.model_b):
            if rid not in self.study._embeddings:
                self._layouts.put(("layout", rid))

    def _work(self, jobs: queue.Queue) -> None:
        while True:
            kind, arg = jobs.get()
            if kind == "stop":
                return
            try:
                if kind == "layout":
                    if arg in self.study:
                        self.study.embedding(arg)  # fits the Original's layout first if needed
                elif kind == "build":
                    self._build(**arg)
                elif kind == "upload":
                    self._add_upload(arg)
            except RunCancelled:
                self._progress = {"running": False, "message": "Cancelled."}
            except MucompError as exc:
                self._error = str(exc)
                self._progress = {"running": False, "message": ""}
            except Exception as exc:  # pragma: no cover - shown in the widget, not lost
                self._error = f"{type(exc).__name__}: {exc}"
                self._progress = {"running": False, "message": ""}

    # ---------------------------------------------------------------- building runs

    def build(self, method: str, *, base: str = "original", trace: bool = False,
              keep_best: bool = False, **grids) -> None:
        """Queue a grid of runs, as the model builder's BUILD button does.

        ``grids`` are hyperparameter lists (``lr=[1e-3, 1e-2]``); rows appear in the table
        as the runs finish, and Model B follows the newest run. ``trace``/``keep_best`` as
        in :meth:`Study.unlearn`.
        """
        from .methods.registry import resolve_hyperparameters, spec_for

        spec = spec_for(method)
        points = self._grid_points(grids)
        for p in points:
            resolve_hyperparameters(spec, self.study.dataset.method_defaults, p)
        with self._lock:
            self._queued += len(points)
            self._jobs.put(("build", {"method": method, "base": base, "points": points,
                                      "trace": bool(trace), "keep_best": bool(keep_best)}))
            self._progress = {**self._progress, "queued": self._queued}

    @staticmethod
    def _grid_points(grids: dict) -> list[dict]:
        import itertools

        keys = list(grids)
        values = [v if isinstance(v, (list, tuple)) else [v] for v in grids.values()]
        return [dict(zip(keys, combo)) for combo in itertools.product(*values)]

    def _build(self, method: str, base: str, points: list[dict], trace: bool, keep_best: bool) -> None:
        total, started = len(points), 0
        try:
            for started, point in enumerate(points, start=1):
                with self._lock:
                    self._queued -= 1
                self._progress = {"running": True, "index": started, "total": total, "method": method,
                                  "stage": "Unlearning", "epoch": 0, "epochs": point.get("epochs"),
                                  "loss": None, "message": "", "queued": self._queued}
                run = self.study.unlearn(method, base=base, trace=trace, keep_best=keep_best, **point)
                self._sync()  # the run's data first, then Model B points at it
                self.model_b = run.id
        finally:
            with self._lock:
                self._queued -= total - started  # runs of this build that never started
        self._progress = {"running": False, "index": total, "total": total, "message": "Done.",
                          "queued": self._queued}

    def _on_event(self, event: dict) -> None:
        if event.get("event") in ("changed", "deleted"):
            if event.get("event") == "deleted":
                for trait, fallback in (("model_a", "original"), ("model_b", "retrain")):
                    if getattr(self, trait) == event["run"]:
                        setattr(self, trait, fallback)
            self._dirty.set()
        elif event.get("event") == "epoch" and self._progress.get("running"):
            self._progress = {**self._progress, "stage": "Unlearning", "epoch": event["epoch"],
                              "epochs": event["epochs"], "loss": event["loss"]}
        elif event.get("event") == "stage" and self._progress.get("running"):
            self._progress = {**self._progress, "stage": event["stage"].capitalize()}

    def cancel(self) -> None:
        """Stop the running build after its current epoch and drop queued ones."""
        with self._lock:
            while True:
                try:
                    kind, arg = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if kind == "build":
                    self._queued -= len(arg["points"])
        self.study.cancel()

    # ---------------------------------------------------------------- messages

    def _on_msg(self, _widget, content, buffers) -> None:
        kind = content.get("type")
        try:
            if kind == "build":
                self._error = ""
                self.build(content["method"], base=content.get("base", "original"),
                           trace=content.get("trace", False), keep_best=content.get("keep_best", False),
                           **content.get("grid", {}))
            elif kind == "cancel":
                self.cancel()
            elif kind == "hello":  # a browser (re)started: it holds no runs
                with self._sync_lock:
                    self._sent.clear()
                    self._order = None
                    self._front = True
                self._dirty.set()
            elif kind == "delete":
                self.study.delete(content["id"])  # the "deleted" event resets A/B and syncs
            elif kind == "upload":
                self._receive_upload(content, buffers)
            elif kind == "png":
                fut, path = self._pending_png.pop(content.get("request"), (None, None))
                if fut is not None:
                    if buffers:
                        path.write_bytes(bytes(buffers[0]))
                        fut.set_result(path)
                    else:
                        fut.set_exception(MucompError(content.get("error", "the browser sent no image")))
        except MucompError as exc:
            self._error = str(exc)

    # ---------------------------------------------------------------- upload

    def _receive_upload(self, content: dict, buffers) -> None:
        """One chunk of a checkpoint sent by the builder's file input."""
        token, name = str(content.get("upload", "")), str(content.get("name", "checkpoint"))[:200]
        index, count, size = (int(content.get(k, -1)) for k in ("index", "count", "size"))
        try:
            if index == 0:
                if not 0 < size <= MAX_UPLOAD_BYTES:
                    raise ConfigError(
                        f"{name!r} is {size / 2**20:.1f} MB; the widget takes checkpoints of up to "
                        f"{MAX_UPLOAD_BYTES // 2**20} MB. Evaluate larger ones with "
                        "study.add_checkpoint(path) in Python.")
                self._error = ""
                if token in self._uploads:  # the browser started this upload again
                    self._uploads.pop(token).discard()
                self._uploads[token] = _Upload(name, size, max(count, 1))
            up = self._uploads.get(token)
            if up is None:
                raise ConfigError(f"upload of {name!r}: chunk {index} of an unknown upload; upload the file again.")
            done = up.add(index, bytes(buffers[0]) if buffers else b"")
        except MucompError:
            stale = self._uploads.pop(token, None)
            if stale is not None:
                stale.discard()
            self._progress = {"running": False, "message": ""}
            raise
        self._progress = {"running": True, "upload": True, "stage": "Uploading", "method": name,
                          "fraction": up.received / up.size, "message": ""}
        if done:
            self._jobs.put(("upload", self._uploads.pop(token)))

    def _add_upload(self, up: _Upload) -> None:
        """Evaluate an uploaded checkpoint with add_checkpoint's safe reader; it becomes Model B."""
        self._progress = {"running": True, "upload": True, "stage": "Evaluating", "method": up.name,
                          "fraction": 1.0, "message": ""}
        try:
            run = self.study.add_checkpoint(up.path)
        except MucompError as exc:
            # name the user's file, not the temporary copy
            raise type(exc)(str(exc).replace(str(up.path), up.name)) from None
        finally:
            up.discard()
        run.source = f"uploaded from the browser: {up.name}"
        self._sync()
        self.model_b = run.id
        self._progress = {"running": False, "message": f"Added {run.id} from {up.name}."}

    def close(self) -> None:
        """Close the widget: stop listening to the study and end its worker threads (a
        running build finishes its current run first)."""
        if hasattr(self, "_threads"):  # not when __init__ failed early (close runs from __del__)
            self.study.remove_listener(self._on_event)
            self._closed = True
            self._dirty.set()
            for jobs in (self._jobs, self._layouts):
                jobs.put(("stop", None))
            for up in self._uploads.values():
                up.discard()
            self._uploads.clear()
        super().close()

    # ---------------------------------------------------------------- export

    def save_png(self, path) -> concurrent.futures.Future:
        """Ask the browser for a PNG of what the widget shows; the file is written when it
        answers. Returns a Future that resolves to the path (the widget must be displayed).
        """
        path = Path(path)
        self._png_counter += 1
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._pending_png[self._png_counter] = (fut, path)
        self.send({"type": "snapshot", "request": self._png_counter})
        return fut

    def to_html(self, path, title: str | None = None) -> Path:
        """Write one self-contained page (bundle, data, a small model shim) that works
        offline and keeps every in-page interaction. Layouts of every model are computed
        first, so any pair can be chosen in the page."""
        from .export import write_html

        for run in self.study.runs:
            self.study.embedding(run.id)
        return write_html(self, Path(path), title=title)

    def _snapshot(self) -> dict:
        """Every run as one "runs" message's content (arrays in place), for a page."""
        rows = {r["id"]: r for r in _payload.runs(self.study)}
        return {"order": list(rows), "append": [], "patch": {}, "drop": [],
                "put": {rid: {"row": row, "data": _payload.model(self.study, rid)} for rid, row in rows.items()}}
