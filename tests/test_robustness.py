"""Bad input and faults that must never corrupt or lose a study (issue 8, item 5).

Run names that look like paths, handles that alias the study's arrays, hostile strings in
the exported page, broken data, unusable devices, damaged saved studies and cache entries.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import mucomp_widget as mu
from mucomp_widget.errors import ConfigError, DatasetError, StudyError
from mucomp_widget.export import write_html, write_page
from mucomp_widget.store import (
    ModelCache, save_weights, weights_to_bytes, weights_to_safetensors, write_blob, write_json,
)

from tests.conftest import tiny_arrays

HOSTILE = '<!--<script>&x</script>"\''
# Names a careful attacker tries as file names: escapes, absolute paths, separators of
# both systems, dot names, Windows devices, very long, non-ASCII, markup.
PATH_NAMES = ["../../escape", "a/b\\c", "..", ".", "CON.txt", "x" * 1000, "naïve ✓ 名前 " + HOSTILE]
SMALL = {"cka_size": 50, "probe_size": 300}  # cheaper evaluation; the cached models are the same


@pytest.fixture(scope="module")
def hostile(digits, workdir, tmp_path_factory):
    """A digits study with one upload per hostile name (Original weights or Retrain's),
    saved once; tests that damage the save work on a copy."""
    study = mu.Study(digits, mu.forget.classes(3), workdir=workdir, progress=False, **SMALL)
    sds = [study.original.state_dict, study.retrain.state_dict]
    absolute = tmp_path_factory.mktemp("elsewhere") / "absolute"  # an absolute path as a name
    for i, name in enumerate([*PATH_NAMES, str(absolute)]):
        study.add_checkpoint(sds[i % 2], name=name)
    folder = tmp_path_factory.mktemp("hostile")
    return {"study": study, "saved": study.save(folder / "study"), "folder": folder,
            "absolute": absolute}


def _copy(hostile, tmp_path) -> Path:
    return Path(shutil.copytree(hostile["saved"], tmp_path / "copy"))


def _meta(path: Path) -> dict:
    return json.loads((path / "study.json").read_text())


def _files(root: Path) -> dict:
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- 1. run names never become paths


def test_run_names_stay_inside_the_study_folder(hostile):
    folder = hostile["folder"]
    inside = {p for p in folder.rglob("*")}
    assert all(hostile["saved"] in p.parents or p == hostile["saved"] for p in inside), inside
    assert list(hostile["absolute"].parent.iterdir()) == []
    assert not (folder.parent / "escape.pt").exists() and not (folder / "escape.pt").exists()
    names = {p.name for p in hostile["saved"].rglob("*") if p.is_file()}
    assert not any(n.startswith(("CON", "x" * 10, "..", "naïve")) for n in names), names


def test_hostile_run_names_survive_save_and_load(hostile, workdir):
    again = mu.Study.load(hostile["saved"], workdir=workdir, progress=False)
    study = hostile["study"]
    assert [r.id for r in again.runs] == [r.id for r in study.runs]
    for name in [*PATH_NAMES, str(hostile["absolute"])]:
        assert again[name].metrics == pytest.approx(study[name].metrics, nan_ok=True)
        loaded = again[name].state_dict
        assert all(torch.equal(loaded[k], v) for k, v in study[name].state_dict.items())


@pytest.mark.parametrize("name", ["a\0b", "two\nlines", "line\u2028sep", "para\u2029sep", "tab\tname"])
def test_names_with_control_characters_are_refused(make_study, name):
    study = make_study()
    with pytest.raises(ConfigError, match="one-line name"):
        study.add_checkpoint(study.arch.build().state_dict(), name=name)


@pytest.mark.parametrize("name", ["original", "retrain"])
def test_a_checkpoint_cannot_take_a_reference_models_id(make_study, name):
    study = make_study()  # the reference models are not trained yet: nothing may take their place
    with pytest.raises(ConfigError, match="reference model"):
        study.add_checkpoint(study.arch.build().state_dict(), name=name)
    assert name not in study


def test_failed_save_keeps_the_previous_save_and_the_study(make_study, tmp_path, monkeypatch):
    study = make_study(**SMALL)
    study.add_checkpoint(study.original.state_dict, name="a")
    folder = study.save(tmp_path / "s")
    before = _files(folder)
    study.delete("a")
    study.add_checkpoint(study.retrain.state_dict, name="a")
    metrics = dict(study["a"].metrics)

    def disk_full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("mucomp_widget.study.write_json", disk_full)
    with pytest.raises(StudyError, match="No space left"):
        study.save(folder)
    monkeypatch.undo()
    assert study["a"].metrics == metrics  # the study in memory is untouched
    again = mu.Study.load(folder, workdir=study.workdir, progress=False)
    loaded = again["a"].state_dict  # the previous save is whole: its "a" is the Original
    assert all(torch.equal(loaded[k], v) for k, v in study.original.state_dict.items())
    assert {k: v for k, v in _files(folder).items() if k in before} == before


def test_saving_again_replaces_the_previous_save(make_study, tmp_path):
    study = make_study(**SMALL)
    study.add_checkpoint(study.retrain.state_dict, name="gone")
    folder = study.save(tmp_path / "s")
    study.delete("gone")
    study.save(folder)
    again = mu.Study.load(folder, workdir=study.workdir, progress=False)
    assert "gone" not in again
    referenced = {d for f in _meta(folder)["files"]["runs"].values() for d in f.values()}
    on_disk = {p.stem for p in folder.rglob("*")
               if p.is_file() and p.name not in ("study.json", "manifest.json")}
    assert on_disk == referenced  # files of the earlier save were removed


def test_save_refuses_a_file_and_a_symlinked_subfolder(hostile, tmp_path):
    study = hostile["study"]
    (tmp_path / "file").write_text("mine")
    with pytest.raises(StudyError, match="is a file"):
        study.save(tmp_path / "file")
    assert (tmp_path / "file").read_text() == "mine"
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "models").symlink_to(outside)
    with pytest.raises(StudyError, match="symbolic link"):
        study.save(tmp_path / "s")
    assert list(outside.iterdir()) == []


def test_a_symlinked_file_is_replaced_not_written_through(hostile, tmp_path, workdir):
    folder = _copy(hostile, tmp_path)
    target = tmp_path / "victim.txt"
    target.write_text("keep me")
    digest = _meta(folder)["files"]["runs"]["original"]["weights"]
    link = folder / "models" / f"{digest}.safetensors"
    link.unlink()
    link.symlink_to(target)
    with pytest.raises(StudyError, match="damaged"):  # what the link points at is not the weights
        mu.Study.load(folder, workdir=workdir, progress=False)
    hostile["study"].save(folder)
    assert target.read_text() == "keep me"
    assert not link.is_symlink()
    mu.Study.load(folder, workdir=workdir, progress=False)


# ---------------------------------------------------------------- 2. handles never alias the study


def test_state_dict_handles_are_copies(make_study):
    study = make_study(**SMALL)
    kept = {k: v.clone() for k, v in study.original.state_dict.items()}
    for v in study.original.state_dict.values():
        v.zero_()
    for k, v in study.original.state_dict.items():
        assert torch.equal(v, kept[k]), k
    run = study.unlearn("ft", epochs=1)  # starts from the Original's real weights
    assert run.metrics["RA"] > 0.5


def test_outputs_and_details_are_read_only(hostile):
    run = hostile["study"]["original"]
    logits = run.outputs.train_logits.copy()
    with pytest.raises(ValueError, match="read-only"):
        run.outputs.train_logits[:] = 0
    with pytest.raises(ValueError, match="read-only"):
        np.multiply(run.outputs.probe_features, 0, out=run.outputs.probe_features)
    run.outputs.grams.clear()
    assert run.outputs.grams
    assert np.array_equal(run.outputs.train_logits, logits)

    acc = run.details["class_accuracy"]["train"].copy()
    with pytest.raises(ValueError, match="read-only"):
        run.details["class_accuracy"]["train"][:] = 0
    details = run.details
    details.clear()
    assert np.array_equal(run.details["class_accuracy"]["train"], acc)


def test_layouts_are_read_only(class3_study):
    emb = class3_study.embedding("original")
    coords = emb.coords.copy()
    with pytest.raises(ValueError, match="read-only"):
        emb.coords[:] = 0
    with pytest.raises(ValueError, match="read-only"):
        emb.ids[0] = 5
    assert np.array_equal(class3_study.embedding("original").coords, coords)


def test_loaded_weights_do_not_alias_the_callers(make_study):
    study = make_study(**SMALL)
    source = study.original.state_dict
    kept = {k: v.clone() for k, v in source.items()}
    module = study.arch.build()
    module.load_state_dict(source)
    study.load_retrain(source)  # a dict
    run = study.add_checkpoint(module, name="mine")  # a module
    for v in [*source.values(), *module.state_dict().values()]:
        v.zero_()
    for rid in ("retrain", run.id):
        for k, v in study[rid].state_dict.items():
            assert torch.equal(v, kept[k]), (rid, k)


# ---------------------------------------------------------------- 3. the exported page


def _state_json(page: str) -> str:
    start = page.index('<script id="mucomp-state" type="application/json">')
    body = page[page.index(">", start) + 1:]
    return body[:body.index("</script>")]


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def test_exported_state_cannot_end_its_script_element(tmp_path):
    names = [HOSTILE, "a\u2028b\u2029c", "&lt;", "]]>", "<script>", "</SCRIPT >"]
    state = {"runs": names, "nested": {"x": names}, "_esm": "", "_css": ""}
    page = write_page(state, tmp_path / "p.html", title="</title><script>alert(1)</script>").read_text()
    text = _state_json(page)
    assert not set(text) & {"<", ">", "&", "\u2028", "\u2029"}
    assert json.loads(text)["state"]["nested"]["x"] == names
    head = page[:page.index("</head>")]
    assert "<script>alert" not in head and "&lt;/title&gt;" in head


def test_hostile_names_in_every_user_string_reach_the_page_as_text(tmp_path):
    x_tr, y_tr, x_te, y_te = tiny_arrays()
    classes = [HOSTILE, "b\u2028", "c & <d>"]
    ds = mu.datasets.from_arrays(x_tr, y_tr, x_te, y_te, class_names=classes, name=HOSTILE + "\u2029")
    study = mu.Study(ds, mu.forget.classes(0), workdir=tmp_path, progress=False, probe_size=60,
                     recipe={"epochs": 2})

    def method(model, forget_loader, retain_loader, *, epochs, lr, device, **hp):
        return model

    method.__name__ = HOSTILE  # an unregistered function's name becomes its run's label
    study.unlearn(method)
    study.add_checkpoint(study.original.state_dict, name=HOSTILE)
    from mucomp_widget.widget import Comparator

    widget = Comparator(study, model_b=HOSTILE)
    try:
        page = write_html(widget, tmp_path / "page.html").read_text()
    finally:
        widget.close()
    text = _state_json(page)
    assert not set(text) & {"<", ">", "&", "\u2028", "\u2029"}
    strings = set(_strings(json.loads(text)))
    assert {HOSTILE, ds.name, *classes} <= strings
    assert page.count("<script") == 3 and page.count("</script>") == 3


# ---------------------------------------------------------------- 4. data that would corrupt a study


def _arrays(**change):
    x_tr, y_tr, x_te, y_te = tiny_arrays()
    args = {"x_train": x_tr.astype(np.float32), "y_train": y_tr, "x_test": x_te.astype(np.float32),
            "y_test": y_te}
    args.update(change)
    return args


def _with(value, at=(3, 0, 1, 1)):
    x = tiny_arrays()[0].astype(np.float32)
    x[at] = value
    return x


@pytest.mark.parametrize("change, match", [
    ({"x_train": _with(np.nan)}, "NaN or infinite value.*sample 3"),
    ({"x_test": _with(np.inf)}, "x_test holds 1 NaN or infinite"),
    ({"x_train": _with(-np.inf).astype(np.float64)}, "NaN or infinite"),
    ({"x_train": np.full((120, 8, 8), 1e300)}, "after conversion to float32"),
    ({"x_train": np.array([["a"] * 4] * 120)}, "dtype <U1.*real numbers"),
    ({"x_train": np.empty((120, 4), dtype=object)}, "dtype object"),
    ({"x_train": np.zeros((120, 4), dtype=bool)}, "dtype bool"),
    ({"x_train": np.zeros((120, 4), dtype=complex)}, "dtype complex128"),
    ({"x_train": np.zeros((120, 0))}, "hold no values"),
    ({"std": 0.0}, "std must hold positive finite numbers"),
    ({"std": [-1.0]}, "std must hold positive"),
    ({"std": [np.nan]}, "std must hold positive"),
    ({"mean": [np.inf]}, "mean must hold finite"),
    ({"mean": [0.1, 0.2]}, "mean has 2 values but the data has 1 channels"),
    ({"mean": "0.5"}, "mean must be a number or a list of numbers"),
    ({"std": [[0.5]]}, "std must be a number or a list"),
    ({"class_names": ["a", "b", "a"]}, "'a' more than once"),
    ({"class_names": ["1", 1, "x"]}, "'1' more than once"),
    ({"class_names": "abc"}, "the string 'abc'"),
    ({"y_train": np.arange(120) % 3 == 0}, "integer class labels"),
    ({"y_train": (np.arange(120) % 3).astype(float)}, "integer class labels"),
    ({"y_train": np.r_[np.arange(119) % 3, 10**9]}, "labels go up to 1000000000"),
    ({"name": ""}, "name must be a non-empty string"),
    ({"name": None}, "name must be a non-empty string"),
    ({"augment": {"pad": -1}}, "augment must be None"),
    ({"augment": {"crop": 4}}, "augment must be None"),
])
def test_from_arrays_refuses_data_that_would_corrupt_a_study(change, match):
    with pytest.raises(DatasetError, match=match):
        mu.datasets.from_arrays(**_arrays(**change))


def test_augment_is_refused_for_feature_vectors():
    x = np.random.default_rng(0).random((20, 5))
    with pytest.raises(DatasetError, match="augment"):
        mu.datasets.from_arrays(x, np.arange(20) % 2, x, np.arange(20) % 2, augment={"flip": True})


def test_a_constant_channel_is_not_divided_by_zero():
    x_tr, y_tr, x_te, y_te = tiny_arrays(shape=(8, 8, 3))
    x_tr[..., 2] = 7  # constant in training, varies in the test set
    ds = mu.datasets.from_arrays(x_tr, y_tr, x_te, y_te)
    assert ds.std[2] == 1.0 and ds.std[0] < 1.0
    assert ds.normalize(ds.x_test).abs().max() < 10


def test_valid_custom_statistics_are_kept():
    ds = mu.datasets.from_arrays(**_arrays(mean=[0.5], std=0.25))
    assert ds.mean == (0.5,) and ds.std == (0.25,)


# ---------------------------------------------------------------- 5. devices


@pytest.mark.parametrize("device", ["xpu", "meta", "cpu:1", "gpu", "cuda:99", "mps:1", "", "CPU", 0, None])
def test_unusable_devices_are_refused_up_front(digits, tmp_path, device):
    with pytest.raises(ConfigError, match=r"'auto', 'cpu'"):
        mu.Study(digits, 3, device=device, workdir=tmp_path, progress=False)


def test_cpu_device_names_resolve():
    from mucomp_widget.training import resolve_device

    assert resolve_device("cpu:0") == torch.device("cpu") == resolve_device(torch.device("cpu"))


# ---------------------------------------------------------------- 6. damaged saved studies


def _edit(folder: Path, fn) -> None:
    meta = _meta(folder)
    fn(meta)
    (folder / "study.json").write_text(json.dumps(meta))


def _blob(folder: Path, run: str, kind: str) -> Path:
    sub, ext = {"weights": ("models", "safetensors"), "outputs": ("outputs", "npz")}[kind]
    return folder / sub / f"{_meta(folder)['files']['runs'][run][kind]}.{ext}"


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.unlink()  # files may be shared by runs with equal content; this one is replaced
    path.write_bytes(data[: len(data) // 2])


def _swap(folder: Path) -> None:
    a, b = _blob(folder, "original", "outputs"), _blob(folder, "retrain", "outputs")
    data = b.read_bytes()
    a.unlink()
    a.write_bytes(data)


@pytest.mark.parametrize("damage, match", [
    (lambda f: _truncate(_blob(f, "retrain", "weights")), r"models/[0-9a-f]{64}\.safetensors .*damaged"),
    (lambda f: _blob(f, "original", "outputs").unlink(), r"outputs/[0-9a-f]{64}\.npz .*cannot be read"),
    (_swap, "damaged"),
    (lambda f: (f / "study.json").write_text("{not json"), "study.json is not valid JSON"),
    (lambda f: (f / "study.json").write_text("[1, 2]"), "does not describe a study"),
    (lambda f: (f / "study.json").unlink(), "study.json does not exist"),
    (lambda f: _edit(f, lambda m: m["runs"][2]["metrics"].update(UA="0.5")), r"runs\[2\]\.metrics\.UA must be number"),
    (lambda f: _edit(f, lambda m: m["runs"][1]["metrics"].update(PS=[1])), r"runs\[1\]\.metrics\.PS"),
    (lambda f: _edit(f, lambda m: m["runs"][0].pop("metrics")), r"runs\[0\]\.metrics is missing"),
    (lambda f: _edit(f, lambda m: m["runs"][0].update(losses=["x"])), r"runs\[0\]\.losses\[0\]"),
    (lambda f: _edit(f, lambda m: m["runs"][3].update(id=5)), r"runs\[3\]\.id must be str"),
    (lambda f: _edit(f, lambda m: m["runs"][3].update(rte="fast")), r"runs\[3\]\.rte must be number or null"),
    (lambda f: _edit(f, lambda m: m["runs"][3].update(extra=1)), r"runs\[3\] has a field"),
    (lambda f: _edit(f, lambda m: m["runs"].append(m["runs"][2])), "appears twice"),
    (lambda f: _edit(f, lambda m: m["runs"].pop(0)), "no 'original' model"),
    (lambda f: _edit(f, lambda m: m.update(runs={})), "runs must be list"),
    (lambda f: _edit(f, lambda m: m.pop("seed")), "seed is missing"),
    (lambda f: _edit(f, lambda m: m.update(seed=True)), "seed must be int"),
    (lambda f: _edit(f, lambda m: m.update(probe_size="2000")), "probe_size must be int"),
    (lambda f: _edit(f, lambda m: m.update(format="2")), "format must be int"),
    (lambda f: _edit(f, lambda m: m.update(format=99)), "format 99"),
    (lambda f: _edit(f, lambda m: m["counters"].update(upload="one")), "counters.upload must be int"),
    (lambda f: _edit(f, lambda m: m["recipe"].update(lr=-1)), "study.json: the study's settings.*lr"),
    (lambda f: _edit(f, lambda m: m["recipe"].update(speed=2)), "study.json: the study's settings"),
    (lambda f: _edit(f, lambda m: m["forget"].update(classes=[99])), "study.json: the study's settings"),
    (lambda f: _edit(f, lambda m: m["forget"].pop("kind")), "study.json: the study's settings"),
    (lambda f: _edit(f, lambda m: m["dataset"].update(fingerprint=1)), "dataset.fingerprint must be str"),
    (lambda f: _edit(f, lambda m: m["dataset"].update(kind="zip")), "unknown dataset kind 'zip'"),
    (lambda f: _edit(f, lambda m: m["files"]["runs"]["original"].update(weights="../../x")), "SHA-256"),
    (lambda f: _edit(f, lambda m: m["files"]["runs"].pop("retrain")), r"files\.runs\.retrain is missing"),
    (lambda f: _edit(f, lambda m: m["files"].update(runs=[])), r"files\.runs must be dict"),
    (lambda f: _edit(f, lambda m: m["files"]["runs"]["original"].update(
        weights=m["files"]["runs"]["original"]["outputs"])), "cannot be read"),
])
def test_damaged_or_edited_saves_raise_a_study_error(hostile, tmp_path, workdir, damage, match):
    folder = _copy(hostile, tmp_path)
    damage(folder)
    before = _files(folder)
    with pytest.raises(StudyError, match=match):
        mu.Study.load(folder, workdir=workdir, progress=False)
    assert _files(folder) == before  # a failed load changes nothing


def test_weights_of_another_architecture_are_refused(hostile, tmp_path, workdir):
    folder = _copy(hostile, tmp_path)
    data = weights_to_safetensors({"w": torch.zeros(2)})
    digest = hashlib.sha256(data).hexdigest()
    (folder / "models" / f"{digest}.safetensors").write_bytes(data)
    _edit(folder, lambda m: m["files"]["runs"]["retrain"].update(weights=digest))
    with pytest.raises(StudyError, match="run 'retrain'.*different architecture"):
        mu.Study.load(folder, workdir=workdir, progress=False)


def test_a_damaged_layout_is_computed_again(hostile, tmp_path, workdir):
    folder = _copy(hostile, tmp_path)
    garbage = b"not an npz"
    digest = hashlib.sha256(garbage).hexdigest()
    (folder / "embeddings").mkdir()
    (folder / "embeddings" / f"{digest}.npz").write_bytes(garbage)
    _edit(folder, lambda m: m["files"]["runs"]["original"].update(embedding=digest))
    with pytest.warns(UserWarning, match="layout of run 'original'.*computed again"):
        again = mu.Study.load(folder, workdir=workdir, progress=False)
    assert [r.id for r in again.runs] == [r.id for r in hostile["study"].runs]


def test_format_1_studies_still_load_but_never_read_outside(hostile, tmp_path, workdir):
    folder = _copy(hostile, tmp_path)
    meta = _meta(folder)
    files = meta.pop("files")["runs"]
    safe = [r for r in meta["runs"] if r["id"] in ("original", "retrain", "CON.txt")]
    for rec in safe:  # format 1: files named by run id, weights written by torch.save
        weights = load_file(folder / "models" / f"{files[rec['id']]['weights']}.safetensors")
        save_weights(folder / "models" / f"{rec['id']}.pt", weights)
        shutil.copy(folder / "outputs" / f"{files[rec['id']]['outputs']}.npz",
                    folder / "outputs" / f"{rec['id']}.npz")
    write_json(folder / "study.json", {**meta, "format": 1, "runs": safe})
    again = mu.Study.load(folder, workdir=workdir, progress=False)
    assert [r.id for r in again.runs] == ["original", "retrain", "CON.txt"]
    assert again["CON.txt"].metrics == pytest.approx(hostile["study"]["CON.txt"].metrics, nan_ok=True)
    write_json(folder / "study.json", {**meta, "format": 1, "runs": meta["runs"]})
    with pytest.raises(StudyError, match="cannot be a file name"):
        mu.Study.load(folder, workdir=workdir, progress=False)


def _cache_entry(tmp_path, sd=None, meta=None):
    cache = ModelCache(tmp_path)
    cache.put("k", sd or {"w": torch.ones(3)}, meta or {"train_time": 1.0, "losses": [0.5]})
    return cache


@pytest.mark.parametrize("damage", [
    lambda c: (c.root / "k.pt").write_bytes(b"garbage"),
    lambda c: (c.root / "k.pt").write_bytes((c.root / "k.pt").read_bytes()[:100]),
    lambda c: (c.root / "k.json").write_text("[]"),
    lambda c: (c.root / "k.json").write_text('{"losses": [1.0]}'),
    lambda c: (c.root / "k.json").write_text('{"train_time": "1", "losses": []}'),
    lambda c: (c.root / "k.json").write_text('{"train_time": 1, "losses": [null]}'),
    lambda c: (c.root / "k.json").write_text('{"train_time": NaN, "losses": []}'),
    lambda c: save_weights(c.root / "k.pt", {"w": torch.tensor([1.0, float("nan")])}),
    lambda c: torch.save([torch.ones(1)], c.root / "k.pt"),
])
def test_damaged_cache_entries_count_as_missing(tmp_path, damage):
    cache = _cache_entry(tmp_path)
    sd, meta = cache.get("k")
    assert torch.equal(sd["w"], torch.ones(3)) and meta["losses"] == [0.5]
    damage(cache)
    assert cache.get("k") is None


def test_a_cache_entry_that_no_longer_fits_the_architecture_is_trained_again(digits, tmp_path):
    """An edited cached Original (a key renamed) is retrained, not a raw load_state_dict error."""
    study = mu.Study(digits, mu.forget.classes(3), workdir=tmp_path, progress=False, **SMALL)
    study._ensure("original")
    cache = ModelCache(tmp_path)
    key = study._key("original")
    sd, meta = cache.get(key)
    first = next(iter(sd))
    sd["renamed." + first] = sd.pop(first)
    cache.put(key, sd, meta)
    again = mu.Study(digits, mu.forget.classes(3), workdir=tmp_path, progress=False, **SMALL)
    events = []
    again.add_listener(events.append)
    again._ensure("original")
    assert any(e["event"] == "epoch" for e in events)  # it trained
    assert set(again.original.state_dict) == set(study.original.state_dict)


def test_format_2_studies_with_torch_weights_still_load(hostile, tmp_path, workdir):
    folder = _copy(hostile, tmp_path)
    meta = _meta(folder)
    for entry in meta["files"]["runs"].values():
        weights = load_file(folder / "models" / f"{entry['weights']}.safetensors")
        entry["weights"] = write_blob(folder / "models", weights_to_bytes(weights), "pt")
    write_json(folder / "study.json", {**meta, "format": 2})
    again = mu.Study.load(folder, workdir=workdir, progress=False)
    for run in hostile["study"].runs:
        a, b = run.state_dict, again[run.id].state_dict
        assert all(torch.equal(a[k], b[k]) for k in a)
