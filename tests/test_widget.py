"""The Comparator's Python side: traits, codecs, payload sizes, requests, HTML export."""

import json
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


@pytest.fixture
def widget(class3_study):
    w = mu.Comparator(class3_study)
    yield w
    w.close()


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


def test_data_travels_as_binary_and_stays_small(widget, class3_study):
    assert wait_for(lambda: "coords" in widget._models.get("retrain", {}))
    state = widget.get_state()
    from ipywidgets.widgets.widget import _remove_buffers
    stripped, paths, buffers = _remove_buffers(state)
    text = json.dumps(stripped)
    # No long JSON lists of numbers: arrays went to binary buffers.
    assert not re.search(r"\[(?:-?\d+(?:\.\d+)?,\s*){64,}", text)
    assert any(p[0] == "_models" for p in paths) and len(buffers) > 20
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


def test_sprite_holds_every_probe_thumbnail(widget, class3_study):
    from PIL import Image
    import io
    s = widget._sprite
    img = Image.open(io.BytesIO(bytes(s["image"])))
    assert s["n"] == len(class3_study.probe_ids)
    assert img.size[0] == s["cols"] * s["w"] and img.size[1] >= -(-s["n"] // s["cols"]) * s["h"]


def test_build_request_adds_a_row_and_follows_model_b(class3_study):
    w = mu.Comparator(class3_study)
    before = len(class3_study.runs)
    w._on_msg(w, {"type": "build", "method": "ft", "grid": {"epochs": [1], "lr": [0.05, 0.1]}}, [])
    assert wait_for(lambda: not w._progress.get("running", True) and len(w._runs) == before + 2)
    assert w.model_b == w._runs[-1]["id"] and w._progress["message"] == "Done."
    assert w._progress["queued"] == 0
    new_ids = [r["id"] for r in w._runs[before:]]
    w._on_msg(w, {"type": "delete", "id": new_ids[0]}, [])
    assert new_ids[0] not in [r["id"] for r in w._runs] and new_ids[0] not in w._models
    class3_study.delete(new_ids[1])


def test_build_with_epoch_metrics_and_cancel(class3_study):
    w = mu.Comparator(class3_study)
    before = len(class3_study.runs)

    def cancel_on_first_epoch(event):
        if event.get("event") == "epoch" and event.get("run") == "ga":
            w.cancel()

    w._on_msg(w, {"type": "build", "method": "ft", "grid": {"epochs": [2]}, "trace": True,
                  "keep_best": True}, [])
    assert wait_for(lambda: len(w._runs) == before + 1 and not w._progress.get("running", True))
    new = class3_study[w._runs[-1]["id"]]
    assert new.trace and new.best_epoch is not None and w._runs[-1]["has_trace"]
    class3_study.add_listener(cancel_on_first_epoch)
    w.build("ga", epochs=[3], lr=[1e-3, 2e-3, 3e-3])
    assert wait_for(lambda: w._progress.get("message") == "Cancelled.")
    class3_study.remove_listener(cancel_on_first_epoch)
    assert len(w._runs) == before + 1 and w._queued == 0
    class3_study.delete(new.id)


def test_bad_build_request_shows_an_error_not_a_crash(class3_study):
    w = mu.Comparator(class3_study)
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
    assert set(state["state"]["_models"]) == {r.id for r in widget.study.runs}
    assert all(p[0] in ("_models", "_probe", "_sprite", "selection") for p in state["buffer_paths"])
    # Every model's layout is in the page, so any pair can be chosen offline.
    coords = [p for p in state["buffer_paths"] if p[0] == "_models" and p[-2:] == ["coords", "buffer"]]
    assert len(coords) == len(widget.study.runs)


def test_colab_gets_the_custom_widget_manager(widget, monkeypatch):
    fake = mock.MagicMock()
    monkeypatch.setitem(sys.modules, "google", mock.MagicMock())
    monkeypatch.setitem(sys.modules, "google.colab", mock.MagicMock())
    monkeypatch.setitem(sys.modules, "google.colab.output", fake)
    bundle = widget._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data
