"""The Comparator: one anywidget that shows a Study's models as linked views.

The widget never trains or evaluates: it asks the Study, in background threads, so the
notebook stays usable while a grid of runs is built. Results reach the browser through
traitlets as binary buffers (``_payload``); the browser sends back the chosen models, the
selection, the threshold and requests (build, cancel, delete, snapshot).
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
from pathlib import Path

import anywidget
import numpy as np
import traitlets as t

from . import _payload
from ._codecs import array_from_json, array_to_json, tree_to_json
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


class Comparator(anywidget.AnyWidget):
    """Compare the models of a Study side by side.

    ``model_a``/``model_b`` are run ids (emerald and purple in every view); ``selection``
    is a numpy array of training-sample ids chosen with the lasso; ``threshold`` is the
    attack view's custom threshold (None: the middle of the metric's range); ``metric`` is
    ``"entropy"`` or ``"confidence"``; ``theme`` is ``"auto"``, ``"light"`` or ``"dark"``.
    All of them can be read, set and observed from Python.
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

    _meta = t.Dict().tag(sync=True)
    _runs = t.List().tag(sync=True)
    _probe = t.Dict().tag(sync=True, to_json=tree_to_json)
    _models = t.Dict().tag(sync=True, to_json=tree_to_json)
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
        super().__init__(**kwargs)
        self._jobs: queue.Queue = queue.Queue()
        self._layouts: queue.Queue = queue.Queue()
        self._pending_png: dict[int, tuple[concurrent.futures.Future, Path]] = {}
        self._png_counter = 0
        self._queued = 0  # runs waiting in queued builds
        self._lock = threading.RLock()
        self._probe = _payload.probe(study)
        self._sprite = _payload.sprite(study)
        self.model_a, self.model_b = model_a, model_b
        self._refresh()
        self.on_msg(self._on_msg)
        study.add_listener(self._on_event)
        self._threads = [threading.Thread(target=self._work, args=(q,), daemon=True, name=f"mucomp-{name}")
                         for q, name in ((self._jobs, "jobs"), (self._layouts, "layouts"))]
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

    # ---------------------------------------------------------------- data to the browser

    def _refresh(self, ids=None) -> None:
        """Resend the table and the payloads of ``ids`` (default: every run); methods
        registered since the widget was made reach the builder too."""
        with self._lock:
            self._meta = _payload.meta(self.study)
            models = dict(self._models)
            present = {r.id for r in self.study.runs}
            for rid in list(models):
                if rid not in present:
                    del models[rid]
            for rid in (present if ids is None else ids):
                if rid in present:
                    models[rid] = _payload.model(self.study, rid)
            self._runs = _payload.runs(self.study)
            self._models = models

    def _request_layouts(self, ids=None) -> None:
        for rid in ids or (self.model_a, self.model_b):
            if "coords" not in self._models.get(rid, {}):
                self._layouts.put(("layout", rid))

    def _work(self, jobs: queue.Queue) -> None:
        while True:
            kind, arg = jobs.get()
            if kind == "stop":
                return
            try:
                if kind == "layout":
                    if arg in self.study and "coords" not in self._models.get(arg, {}):
                        self.study.embedding(arg)  # fits the Original's layout first if needed
                        self._refresh(["original", arg])
                elif kind == "build":
                    self._build(**arg)
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
                self._refresh([run.id])
                self.model_b = run.id
        finally:
            with self._lock:
                self._queued -= total - started  # runs of this build that never started
        self._progress = {"running": False, "index": total, "total": total, "message": "Done.",
                          "queued": self._queued}

    def _on_event(self, event: dict) -> None:
        if event.get("event") == "epoch" and self._progress.get("running"):
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
            elif kind == "delete":
                rid = content["id"]
                for trait in ("model_a", "model_b"):
                    if getattr(self, trait) == rid:
                        setattr(self, trait, "original" if trait == "model_a" else "retrain")
                self.study.delete(rid)
                self._refresh([])
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

    def close(self) -> None:
        """Close the widget: stop listening to the study and end its worker threads (a
        running build finishes its current run first)."""
        if hasattr(self, "_threads"):  # not when __init__ failed early (close runs from __del__)
            self.study.remove_listener(self._on_event)
            for jobs in (self._jobs, self._layouts):
                jobs.put(("stop", None))
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
        self._refresh()
        return write_html(self, Path(path), title=title)
