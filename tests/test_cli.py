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
])
def test_bad_input_exits_nonzero_with_one_line(tmp_path, workdir, capsys, args, message):
    code = main(["run", "--out", str(tmp_path), "--workdir", str(workdir), "--no-progress", *args])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("mucomp: error:") and message in err and "\n" not in err


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
    out = capsys.readouterr().out
    assert "scrub" in out and "msteps=2" in out
