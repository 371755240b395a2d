import json
import subprocess
import sys

import pandas as pd
import pytest

import mucomp_widget as mu
from mucomp_widget.cli import main


def test_run_writes_json_csv_and_a_loadable_study(tmp_path, workdir, capsys):
    out = tmp_path / "out"
    code = main(["run", "--preset", "digits", "--forget-class", "3", "--methods", "rl,ga",
                 "--hp", "ga.epochs=2", "--out", str(out), "--workdir", str(workdir),
                 "--no-progress", "--json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((out / "results.json").read_text())
    ids = [r["id"] for r in printed["results"]]
    assert ids == ["original", "retrain", "rl-1", "ga-1"]
    assert printed["results"][0]["TUA"] is not None and printed["results"][0]["RTE"] is None
    ga = next(r for r in printed["runs"] if r["id"] == "ga-1")
    assert ga["hyperparameters"]["epochs"] == 2 and len(ga["losses"]) == 2
    csv = pd.read_csv(out / "results.csv")
    assert csv["id"].tolist() == ids
    study = mu.Study.load(out / "study", workdir=workdir, progress=False)
    assert study["rl-1"].metrics["UA"] == pytest.approx(printed["results"][2]["UA"])


def test_run_prints_a_table(tmp_path, workdir, capsys):
    assert main(["run", "--methods", "rl", "--out", str(tmp_path), "--workdir", str(workdir),
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "original" in text and "rl-1" in text and "UA" in text and "RTE" in text
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    assert rows["original"][2] == "-" and rows["retrain"][2] == "-" and rows["rl-1"][2] == "rl"
    assert "None" not in text and "nan" not in text.lower()


@pytest.mark.parametrize("args, message", [
    (["--forget-class", "12"], "forget class 12 is out of range"),
    (["--methods", "ft,nope"], "unknown method 'nope'"),
    (["--forget-fraction", "1.5"], "fraction must be strictly between 0 and 1"),
    (["--hp", "rl.lr=-1", "--methods", "rl"], "lr must be a number > 0"),
    (["--hp", "rl-lr"], "METHOD.KEY=VALUE"),
    (["--preset", "cifar10"], "--data-root"),
    (["--forget-count", "40", "--methods", "ft,boundary_shrink"],
     "'boundary_shrink' forgets whole classes only"),
    (["--methods", "ft,bad_teacher", "--hp", "bad_teacher.retain_share=0"],
     "retain_share must be a number > 0 and <= 1"),
])
def test_bad_input_exits_nonzero_with_one_line(tmp_path, workdir, capsys, args, message):
    cache = tmp_path / "cache"  # empty: an error raised after training would leave models here
    code = main(["run", "--out", str(tmp_path / "out"), "--workdir", str(cache), "--no-progress",
                 *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("mucomp: error:") and message in err and "\n" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert not cache.exists() or not any(p.is_file() for p in cache.rglob("*"))


def test_run_takes_the_field_methods(tmp_path, workdir, capsys):
    code = main(["run", "--methods", "neggrad_plus,bad_teacher,ssd", "--hp", "neggrad_plus.epochs=1",
                 "--out", str(tmp_path), "--workdir", str(workdir), "--no-progress", "--json"])
    assert code == 0
    runs = {r["id"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    assert {"neggrad_plus-1", "bad_teacher-1", "ssd-1"} <= set(runs)
    assert runs["neggrad_plus-1"]["hyperparameters"]["epochs"] == 1


@pytest.mark.parametrize("place", ["out is a file", "out under a file", "study is a file",
                                   "results.json is a folder", "workdir is a file",
                                   "workdir under a file"])
def test_unusable_output_places_fail_before_any_work(tmp_path, capsys, place):
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    out, workdir = tmp_path / "out", tmp_path / "cache"
    if place == "out is a file":
        out = blocker
    elif place == "out under a file":
        out = blocker / "sub"
    elif place == "study is a file":
        out.mkdir()
        (out / "study").write_text("mine")
    elif place == "results.json is a folder":
        (out / "results.json").mkdir(parents=True)
    elif place == "workdir is a file":
        workdir = blocker
    else:
        workdir = blocker / "sub"
    code = main(["run", "--methods", "rl", "--out", str(out), "--workdir", str(workdir), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("mucomp: error:") and "\n" not in err, err
    assert "--out" in err or "--workdir" in err
    assert not (tmp_path / "cache" / "models").exists()  # nothing was trained
    assert blocker.read_text() == "mine"


def test_cli_process_shows_no_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "mucomp_widget.cli", "run", "--forget-class", "-4", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "out of range" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "mucomp_widget.cli", "run", "--bogus"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0


def test_methods_lists_defaults(capsys):
    assert main(["methods"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == mu.methods.available()
    assert any(line.startswith("scrub ") and "msteps=2" in line for line in lines)
    # One column for the hyperparameters, whatever the name's length; class-only methods say so.
    starts = {line.index("epochs=") for line in lines}
    assert len(starts) == 1
    shrink = next(line for line in lines if line.startswith("boundary_shrink "))
    assert shrink.endswith("(whole classes only)")
    assert not any(line.endswith("(whole classes only)") for line in lines if line.startswith("ft "))
