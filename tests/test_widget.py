"""The Comparator's Python side: traits, codecs, payload sizes, requests, HTML export."""

import json
import tempfile
import re
import sys
import time
from unittest import mock

import numpy as np
import pytest

import mucomp_widget as mu
from mucomp_widget import _codecs, _payload
from mucomp_widget.errors import ConfigError, StudyError


def wait_for(cond, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


class Front:
    """What a browser showing the widget holds: the runs messages applied in order, as
    js/lib/runs.js does (put replaces a run, patch extends it, drop removes it)."""

    def __init__(self, w):
        self.messages = []
        self.rows, self.models, self.order = {}, {}, []
        w.send = self._receive
        w._on_msg(w, {"type": "hello"}, [])
        w._sync()  # the answer to hello, now rather than from the widget's thread

    def _receive(self, content, buffers=None):
        if content.get("type") != "runs":
            return
        self.messages.append((content, _codecs.message_bytes(content, buffers or [])))
        for rid in content["drop"]:
            self.rows.pop(rid, None)
            self.models.pop(rid, None)
        for rid, entry in content["put"].items():
            self.rows[rid], self.models[rid] = entry["row"], entry["data"]
        for rid, extra in content["patch"].items():
            self.models[rid] = {**self.models[rid], **extra}
        if content["order"] is None:
            self.order = [r for r in self.order if r not in content["drop"]] + content["append"]
        else:
            self.order = content["order"]

    @property
    def runs(self):
        return [self.rows[rid] for rid in self.order]

    def ids(self):
        return [r["id"] for r in self.runs]


@pytest.fixture
def widget(class3_study):
    w = mu.Comparator(class3_study)
    yield w
    w.close()


@pytest.fixture
def front(widget):
    return Front(widget)


def test_codecs_round_trip_and_narrow_dtypes():
    for arr in (np.arange(6, dtype=np.float64).reshape(2, 3), np.array([1, 2], np.int64),
                np.array([True, False]), np.arange(4, dtype=np.uint16)):
        enc = _codecs.encode(arr)
        assert isinstance(enc["buffer"], memoryview) and enc["dtype"] in _codecs._JS_DTYPES
        np.testing.assert_array_equal(_codecs.decode(enc), arr)
    assert _codecs.encode(np.zeros(2))["dtype"] == "float32"
    assert _codecs.encode_tree({"a": [np.float64("nan"), np.int64(3)]}) == {"a": [None, 3]}
    with pytest.raises(TypeError):
        _codecs.encode(np.array(["x"]))


def test_traits_are_public_and_validated(widget, class3_study):
    assert (widget.model_a, widget.model_b) == ("original", "retrain")
    assert widget.metric == "entropy" and widget.theme == "auto" and widget.threshold is None
    seen = []
    widget.observe(lambda ch: seen.append(ch["new"]), names=["model_b"])
    widget.model_b = "ga-1"
    assert seen == ["ga-1"]
    with pytest.raises(StudyError, match="no run 'nope'"):
        widget.model_a = "nope"
    with pytest.raises(Exception):
        widget.theme = "blue"
    widget.model_b = "retrain"


def test_selection_round_trips_from_the_browser(widget):
    ids = np.array([5, 17, 230], dtype=np.uint32)
    widget.set_state({"selection": {"buffer": memoryview(ids.tobytes()), "dtype": "uint32", "shape": [3]}})
    assert isinstance(widget.selection, np.ndarray)
    np.testing.assert_array_equal(widget.selection, [5, 17, 230])
    widget.selection = [1, 2]
    assert widget.selection.dtype == np.int64 and widget.selection.tolist() == [1, 2]
    with pytest.raises(ConfigError, match="training-sample ids"):
        widget.selection = [10**7]
    widget.selection = ids
    state = widget.get_state("selection")["selection"]
    assert state["dtype"] == "uint32" and bytes(state["buffer"]) == ids.tobytes()


def test_data_travels_as_binary_and_stays_small(widget, front, class3_study):
    assert wait_for(lambda: "coords" in front.models.get("retrain", {}))
    assert set(front.ids()) == {r.id for r in class3_study.runs}
    for content, _size in front.messages:
        # No long JSON lists of numbers: arrays went to binary buffers.
        assert not re.search(r"\[(?:-?\d+(?:\.\d+)?,\s*){64,}", json.dumps(content))
    assert sum(len(c["buffer_paths"]) for c, _ in front.messages) > 20
    for rid in class3_study._runs:
        size = _codecs.nbytes(_codecs.encode_tree(_payload.model(class3_study, rid)))
        assert size <= 80_000, (rid, size)


def test_payload_matches_the_study(widget, class3_study):
    p = _payload.model(class3_study, "salun-1")
    run = class3_study["salun-1"]
    f = class3_study.split.forget_train
    assert p["pred"].shape == (len(class3_study.probe_ids),)
    ent = p["attack"]["entropy"]
    values = ent["lo"] + ent["q"].astype(float) * ent["step"]
    np.testing.assert_allclose(values, run.details["privacy"]["values"]["unlearned"]["entropy"], atol=1e-3)
    assert len(values) == len(f)
    curves = p["curves"]["entropy"]["above_unlearn"]
    assert len(curves["threshold"]) == 51
    worst = max(float(p["curves"][m][d]["attack_score"].max()) for m in ("entropy", "confidence")
                for d in ("above_unlearn", "above_retrain"))
    assert 1 - worst == pytest.approx(run.metrics["PS"], abs=1e-6)
    probe = _payload.probe(class3_study)
    assert probe["forget_ids"].tolist() == f.tolist()
    rows = _payload.runs(class3_study)
    assert [r["id"] for r in rows] == class3_study.results["id"].tolist()
    json.dumps(rows)  # plain JSON, NaN turned into null


def test_the_builder_offers_every_method_with_its_settings(make_study):
    """Every registered method, with the study's dataset values and its constraints; a
    class-only method is offered but not usable on a sample-wise forget set."""
    by_class = {m["name"]: m for m in _payload.meta(make_study())["methods"]}
    by_count = {m["name"]: m for m in _payload.meta(make_study(mu.forget.random(count=30)))["methods"]}
    assert list(by_class) == mu.methods.available()
    assert {"neggrad_plus", "l1_sparse", "ssd", "bad_teacher", "boundary_shrink"} <= set(by_class)
    bt = by_class["bad_teacher"]
    assert bt["label"] == "Bad Teacher" and bt["defaults"]["lr"] == mu.datasets.digits().method_defaults["bad_teacher"]["lr"]
    assert bt["constraints"]["retain_share"] == {
        "type": "float", "allowed": "a number > 0 and <= 1", "min": 0, "max": 1,
        "min_open": True, "max_open": False}
    assert by_class["neggrad_plus"]["constraints"]["train_mode"]["type"] == "bool"
    assert by_class["boundary_shrink"]["scope"] == "class" and by_class["boundary_shrink"]["usable"]
    assert not by_count["boundary_shrink"]["usable"] and by_count["ssd"]["usable"]
    json.dumps(by_class)


def test_sprite_holds_every_probe_thumbnail(widget, class3_study):
    from PIL import Image
    import io
    s = widget._sprite
    img = Image.open(io.BytesIO(bytes(s["image"])))
    assert s["n"] == len(class3_study.probe_ids)
    assert img.size[0] == s["cols"] * s["w"] and img.size[1] >= -(-s["n"] // s["cols"]) * s["h"]


def test_a_large_probe_gets_smaller_thumbnails_in_a_bounded_sheet(class3_study, monkeypatch):
    from PIL import Image
    import io
    full = _payload.sprite(class3_study)
    monkeypatch.setattr(_payload, "SPRITE_PIXELS", len(class3_study.probe_ids) * 8 * 8 // 4)
    small = _payload.sprite(class3_study)
    assert (small["h"], small["w"], small["n"]) == (4, 4, full["n"])
    img = Image.open(io.BytesIO(bytes(small["image"])))
    assert img.size[0] * img.size[1] <= 2 * len(class3_study.probe_ids) * 16
    # each thumbnail is the 2 x 2 block average of the full-size one (PNG: lossless)
    big = np.asarray(Image.open(io.BytesIO(bytes(full["image"]))))
    one = big[:8, :8].reshape(4, 2, 4, 2).mean(axis=(1, 3)).round()
    assert np.array_equal(np.asarray(img)[:4, :4], one.astype(np.uint8))


def test_build_request_adds_a_row_and_follows_model_b(widget, front, class3_study):
    w = widget
    before = len(class3_study.runs)
    seen_b = []
    w.observe(lambda ch: seen_b.append((ch["new"], ch["new"] in front.models)), names=["model_b"])
    w._on_msg(w, {"type": "build", "method": "ft", "grid": {"epochs": [1], "lr": [0.05, 0.1]}}, [])
    assert wait_for(lambda: not w._progress.get("running", True) and len(front.runs) == before + 2)
    assert w.model_b == front.runs[-1]["id"] and w._progress["message"] == "Done."
    assert w._progress["queued"] == 0
    # Model B moves to each new run only once the browser holds that run's data.
    assert [b for b, _ in seen_b] == front.ids()[before:] and all(held for _, held in seen_b)
    new_ids = front.ids()[before:]
    w._on_msg(w, {"type": "delete", "id": new_ids[1]}, [])
    assert wait_for(lambda: new_ids[1] not in front.ids() and new_ids[1] not in front.models)
    assert w.model_b == "retrain"  # it showed the deleted run
    class3_study.delete(new_ids[0])


def test_build_with_epoch_metrics_and_cancel(widget, front, class3_study):
    w = widget
    before = len(class3_study.runs)

    def cancel_on_first_epoch(event):
        if event.get("event") == "epoch" and event.get("run") == "ga":
            w.cancel()

    w._on_msg(w, {"type": "build", "method": "ft", "grid": {"epochs": [2]}, "trace": True,
                  "keep_best": True}, [])
    assert wait_for(lambda: len(front.runs) == before + 1 and not w._progress.get("running", True))
    new = class3_study[front.runs[-1]["id"]]
    assert new.trace and new.best_epoch is not None and front.runs[-1]["has_trace"]
    class3_study.add_listener(cancel_on_first_epoch)
    w.build("ga", epochs=[3], lr=[1e-3, 2e-3, 3e-3])
    assert wait_for(lambda: w._progress.get("message") == "Cancelled.")
    class3_study.remove_listener(cancel_on_first_epoch)
    assert len(class3_study.runs) == before + 1 and w._queued == 0
    class3_study.delete(new.id)


def test_bad_build_request_shows_an_error_not_a_crash(widget):
    w = widget
    w._on_msg(w, {"type": "build", "method": "ft", "grid": {"lr": [-1]}}, [])
    assert "lr must be a number > 0" in w._error
    w._on_msg(w, {"type": "build", "method": "nope", "grid": {}}, [])
    assert "unknown method 'nope'" in w._error


def test_close_releases_the_study_and_the_threads(class3_study):
    w = mu.Comparator(class3_study)
    assert w._on_event in class3_study._listeners
    w.close()
    assert w._on_event not in class3_study._listeners
    for thread in w._threads:
        thread.join(timeout=60)
        assert not thread.is_alive()


def test_comparator_needs_a_study():
    with pytest.raises(ConfigError, match="Study"):
        mu.Comparator("digits")


def test_save_png_resolves_when_the_browser_answers(widget, tmp_path):
    sent = []
    with mock.patch.object(widget, "send", side_effect=sent.append):
        fut = widget.save_png(tmp_path / "shot.png")
    assert sent[0]["type"] == "snapshot"
    png = b"\x89PNG\r\n\x1a\nfake"
    widget._on_msg(widget, {"type": "png", "request": sent[0]["request"]}, [memoryview(png)])
    assert fut.result(timeout=1) == tmp_path / "shot.png"
    assert (tmp_path / "shot.png").read_bytes() == png


def test_to_html_writes_a_self_contained_page(widget, tmp_path):
    path = widget.to_html(tmp_path / "report.html")
    page = path.read_text()
    assert "<script type=\"module\">" in page and "mucomp-root" in page
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
    state = json.loads(re.search(r'<script id="mucomp-state" type="application/json">(.*?)</script>',
                                 page, re.S).group(1).replace("<\\/", "</"))
    snapshot = state["state"]["_snapshot"]
    assert set(snapshot["put"]) == set(snapshot["order"]) == {r.id for r in widget.study.runs}
    assert all(p[0] in ("_snapshot", "_probe", "_sprite", "selection") for p in state["buffer_paths"])
    # Every model's layout is in the page, so any pair can be chosen offline.
    coords = [p for p in state["buffer_paths"] if p[0] == "_snapshot" and p[-2:] == ["coords", "buffer"]]
    assert len(coords) == len(widget.study.runs)


def test_colab_gets_the_custom_widget_manager(widget, monkeypatch):
    fake = mock.MagicMock()
    monkeypatch.setitem(sys.modules, "google", mock.MagicMock())
    monkeypatch.setitem(sys.modules, "google.colab", mock.MagicMock())
    monkeypatch.setitem(sys.modules, "google.colab.output", fake)
    bundle = widget._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data


def test_runs_made_anywhere_reach_the_browser_within_a_second(widget, front, class3_study, tmp_path):
    """unlearn, sweep, add_checkpoint, delete and load_retrain in Python all show up."""
    def arrives(cond):
        return wait_for(cond, timeout=1.0)

    assert wait_for(lambda: set(front.ids()) == {r.id for r in class3_study.runs})
    run = class3_study.unlearn("ft", epochs=1)
    assert arrives(lambda: run.id in front.ids() and run.id in front.models)
    swept = class3_study.sweep("ga", lr=[1e-4, 2e-4], epochs=[1])
    assert arrives(lambda: all(r.id in front.ids() for r in swept))
    ckpt = class3_study.add_checkpoint(run.state_dict, name="from elsewhere")
    assert arrives(lambda: "from elsewhere" in front.ids())
    assert front.rows["from elsewhere"]["type"] == "Uploaded"
    widget.model_b = ckpt.id
    class3_study.delete(ckpt.id)
    assert arrives(lambda: ckpt.id not in front.ids() and ckpt.id not in front.models)
    assert widget.model_b == "retrain"
    # A new Retrain rescores every run: each is sent again with its new gaps.
    old_gap = front.models[run.id]["gaps"]
    n_before = len(front.messages)
    class3_study.load_retrain(run.state_dict)
    assert arrives(lambda: front.models[run.id]["gaps"] != old_gap)
    resent = set().union(*(c["put"] for c, _ in front.messages[n_before:]))
    assert resent == set(front.ids())
    assert front.ids() == class3_study.results["id"].tolist()


def test_each_run_travels_once(widget, front, class3_study):
    """Adding a run sends that run only: the bytes do not grow with the runs held, and a
    layout made later adds its coordinates only."""
    assert wait_for(lambda: "coords" in front.models.get("retrain", {}))
    sizes = []
    for lr in (1e-4, 2e-4, 3e-4, 4e-4):
        n = len(front.messages)
        run = class3_study.unlearn("ga", epochs=1, lr=lr)
        assert wait_for(lambda: run.id in front.models)
        new = front.messages[n:]
        assert [set(c["put"]) for c, _ in new] == [{run.id}]
        sizes.append(sum(size for _, size in new))
        n = len(front.messages)
        widget.model_b = run.id  # its layout is computed and sent as a patch
        assert wait_for(lambda: "coords" in front.models[run.id], timeout=120)
        patch = [c for c, _ in front.messages[n:]]
        assert all(not c["put"] and set(c["patch"]) <= {run.id} for c in patch)
    assert max(sizes) - min(sizes) < 0.05 * min(sizes), sizes
    assert max(sizes) <= 80_000


def test_several_widgets_follow_one_study(class3_study):
    widgets = [mu.Comparator(class3_study) for _ in range(2)]
    try:
        fronts = [Front(w) for w in widgets]
        run = class3_study.unlearn("rl", epochs=1)
        assert all(wait_for(lambda f=f: run.id in f.ids(), timeout=2.0) for f in fronts)
        widgets[0].close()
        class3_study.delete(run.id)
        assert wait_for(lambda: run.id not in fronts[1].ids(), timeout=2.0)
        assert run.id in fronts[0].ids()  # a closed widget no longer listens
    finally:
        for w in widgets:
            w.close()


def test_a_reloaded_browser_gets_every_run_again(widget, front, class3_study):
    assert wait_for(lambda: set(front.ids()) == {r.id for r in class3_study.runs})
    again = Front(widget)  # a new page says hello: it holds nothing
    assert wait_for(lambda: set(again.ids()) == {r.id for r in class3_study.runs})
    assert set(again.messages[0][0]["put"]) == set(again.ids())


def _upload(w, name, data, chunk=1000):
    count = max(1, -(-len(data) // chunk))
    for i in range(count):
        w._on_msg(w, {"type": "upload", "upload": "t1", "name": name, "size": len(data), "index": i,
                      "count": count}, [memoryview(data[i * chunk:(i + 1) * chunk])])


def test_upload_from_the_browser_adds_a_run(widget, front, class3_study, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the chunks are collected
    path = tmp_path / "mine.pt"
    torch.save(class3_study["ga-1"].state_dict, path)
    before = set(front.ids())
    _upload(widget, "mine.pt", path.read_bytes(), chunk=64 * 1024)
    assert wait_for(lambda: len(front.ids()) == len(before) + 1), (widget._error, widget._progress)
    (new,) = set(front.ids()) - before
    assert front.rows[new]["type"] == "Uploaded" and widget.model_b == new
    assert "mine.pt" in class3_study[new].source and widget._error == ""
    assert front.rows[new]["UA"] == pytest.approx(class3_study["ga-1"].metrics["UA"])
    assert not list(tmp_path.glob("mucomp-upload-*"))  # the temporary copy is gone
    class3_study.delete(new)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_upload_errors_show_in_the_widget(widget, front, class3_study, tmp_path, monkeypatch):
    import pickle

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = front.ids()
    _upload(widget, "junk.pt", b"not a checkpoint" * 10)
    assert wait_for(lambda: "junk.pt" in widget._error)
    assert "mucomp-upload-" not in widget._error  # the user's file is named, not the temporary copy
    assert "not a checkpoint" in widget._error and "pickled" not in widget._error
    widget._error = ""
    evil = pickle.dumps({"w": __import__("collections").OrderedDict()})
    _upload(widget, "evil.pt", evil)
    assert wait_for(lambda: widget._error != "")
    widget._error = ""
    widget._on_msg(widget, {"type": "upload", "upload": "big", "name": "huge.pt", "size": 2**40, "index": 0,
                            "count": 2**19}, [memoryview(b"x")])
    assert "huge.pt" in widget._error and "MB" in widget._error and "add_checkpoint" in widget._error
    widget._error = ""
    widget._on_msg(widget, {"type": "upload", "upload": "t2", "name": "gap.pt", "size": 10, "index": 0,
                            "count": 3}, [memoryview(b"1234")])
    widget._on_msg(widget, {"type": "upload", "upload": "t2", "name": "gap.pt", "size": 10, "index": 2,
                            "count": 3}, [memoryview(b"1234")])
    assert "gap.pt" in widget._error and "again" in widget._error
    time.sleep(0.3)
    assert front.ids() == before and widget._uploads == {}
    assert not widget._progress.get("running")
    assert wait_for(lambda: not list(tmp_path.glob("mucomp-upload-*")))


def test_audits_and_seed_groups_reach_the_browser(widget, front, class3_study):
    """A seeded call's runs arrive with their group; a relearning probe made in Python
    arrives with the run (its curves) and Retrain (its own), and the row says so."""
    runs = class3_study.unlearn("ga", seeds=[0, 1], epochs=1)
    assert wait_for(lambda: all(r.id in front.rows for r in runs))
    assert {front.rows[r.id]["group"] for r in runs} == {runs[0].group}
    assert front.rows["retrain"]["group"] is None and not front.rows[runs[0].id]["has_relearn"]
    res = class3_study.audit("relearn", runs[0].id, steps=4, samples=8)
    assert wait_for(lambda: "relearn" in front.models[runs[0].id] and "relearn" in front.models["retrain"])
    sent = front.models[runs[0].id]["relearn"]
    assert list(sent["ua_run"]["shape"]) == [5] and list(sent["ua_retrain"]["shape"]) == [5]  # steps 0..4
    assert sent["steps"] == 4 and sent["threshold"] == res.threshold
    assert sent["steps_run"] == res.steps_run and sent["steps_retrain"] == res.steps_retrain
    assert front.rows[runs[0].id]["has_relearn"] and front.rows["retrain"]["has_relearn"]


def test_a_ulira_audit_reaches_the_browser(widget, front, class3_study):
    """The run's game, the Original's reference line and the leaking samples, most telling first."""
    run = class3_study.unlearn("ga", epochs=1)
    assert wait_for(lambda: run.id in front.models)
    res = class3_study.audit("ulira", run.id, shadows=4, n_boot=50)
    assert wait_for(lambda: "ulira" in front.models[run.id])
    sent = front.models[run.id]["ulira"]
    assert sent["shadows"] == 4 and sent["method"] == "ga"
    assert sent["target"]["accuracy"] == pytest.approx(res.accuracy)
    assert sent["original"]["roc"]["auc"] == pytest.approx(res.original.auc)
    n_leaks = int(res.leaks.sum())
    assert sent["target"]["leaks"] == n_leaks and list(sent["leak_ids"]["shape"]) == [n_leaks]
    n = len(class3_study.split.forget_train)  # TPR at an FPR finer than 1/n travels as null
    assert all(v is None for k, v in sent["target"]["roc"]["tpr_at"].items() if float(k) < 1 / n)
    p = _payload.model(class3_study, run.id)["ulira"]
    order = np.argsort(-res.scores[res.leaks], kind="stable")
    assert np.array_equal(p["leak_ids"], res.sample_ids[res.leaks][order])
