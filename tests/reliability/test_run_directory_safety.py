"""`discover run` writes only into a folder of its own, never deletes a file it did not
write, keeps the previous results whole when a rerun fails, locks the folder against a
second run, and writes strict JSON (issue #16, run-directory items)."""

import errno
import json
import logging
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from discover.cli import main
from discover.errors import UserError
from discover.report.build import build_report
from discover.report.rundir import load_run
from discover.run_directory import LOCK, MARKER, STAGING, RunDirectoryRefused, locked, staged_run
from discover.rundir import RunWriter
from discover.study import Study

HOLDER = """
import sys
from pathlib import Path
from discover.run_directory import locked, prepare
with locked(prepare(Path(sys.argv[1]), resume=False)):
    print("locked", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def tiny(lv_case):
    """``(config, write)``: the Lotka–Volterra study cut to four steps, no distillation."""
    config, write = lv_case
    config["train"].update(iterations=4, lbfgs_iterations=0, checkpoint_every=2)
    config["distill"] = None
    return config, write


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path → bytes)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _results(folder: Path) -> dict[str, bytes]:
    """The files of ``folder`` but the staging folder (which a failed run keeps)."""
    return {k: v for k, v in _files(folder).items() if not k.startswith(f"{STAGING}/")}


def _user_files(folder: Path) -> dict[str, bytes]:
    """Plant the files of the issue's reproductions: a config with comments, a hand-made
    figure, a thesis checkpoint, a report."""
    files = {
        "config.yaml": b"# my comments\nname: mine\n",
        "figures/my_plot.png": b"\x89PNG hand made",
        "checkpoints/model_of_my_thesis.pt": b"three years",
        "report.md": b"# my report\n",
    }
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return files


# -- 1, 2: a folder that is not discover's -----------------------------------------------
def test_a_folder_with_user_files_is_refused_and_left_byte_for_byte(tiny, tmp_path):
    config, write = tiny
    folder = tmp_path / "somewhere"
    folder.mkdir()
    planted = _user_files(folder)
    study = Study.from_config(write(config), out=folder)
    with pytest.raises(RunDirectoryRefused, match=f"{folder} is not empty .*{MARKER}"):
        study.run(progress=False)
    assert _files(folder) == planted


def test_out_dot_inside_the_study_folder_is_refused(tiny, tmp_path, monkeypatch, capsys):
    config, write = tiny
    path = write(config)
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "hand_made.png").write_bytes(b"\x89PNG mine")
    before = _files(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(path), "--out", ".", "--quiet"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: . is not empty") and error.count("\n") == 1
    assert _files(tmp_path) == before


# -- 3: a rerun that fails late ------------------------------------------------------------
def _fail_report(*args, **kwargs):
    raise RuntimeError("report failed")


def _fail_write(*args, **kwargs):
    raise OSError(errno.EFBIG, "File too large", "simulations.nc")


@pytest.mark.parametrize(
    ("target", "replacement", "message"),
    [
        ("discover.stages.pipeline.build_report", _fail_report, "report failed"),
        ("discover.rundir.RunWriter.simulations", _fail_write, "File too large"),
    ],
    ids=["report", "write-error"],
)
def test_a_rerun_failing_late_leaves_the_previous_results_untouched(
    tiny, tmp_path, monkeypatch, target, replacement, message
):
    config, write = tiny
    out = tmp_path / "out"
    Study.from_config(write(config), out=out).run(progress=False)
    finished = _files(out)
    assert {"metrics.json", "report.html", "simulations.nc", MARKER} <= set(finished)

    config["seed"] = 1
    rerun = Study.from_config(write(config), out=out)
    monkeypatch.setattr(target, replacement)
    with pytest.raises(Exception, match=f"{message}.*the previous results in {out} are untouched"):
        rerun.run(progress=False)
    assert _results(out) == finished  # no partial file, no .tmp, no lock beside them
    assert (out / STAGING / "checkpoints" / "last.pt").exists()  # kept for --resume


def test_a_successful_rerun_replaces_only_what_discover_wrote(lv_case, tmp_path):
    """The first run distils (equations.json, slots/); the second does not: its results
    replace the first's, the files discover wrote and the rerun lacks go, the user's stay;
    `discover report` rebuilds the report without touching the user's figure."""
    config, write = lv_case
    out = tmp_path / "out"
    Study.from_config(write(config), out=out).run(progress=False)
    assert (out / "equations.json").exists() and (out / "slots").is_dir()
    mine = {"notes.txt": b"my notes", "figures/mine.png": b"\x89PNG mine"}
    for name, data in mine.items():
        (out / name).write_bytes(data)

    config["distill"] = None
    Study.from_config(write(config), out=out).run(progress=False)
    assert not (out / "equations.json").exists() and not (out / "slots").exists()
    assert (out / "metrics.json").exists() and not (out / STAGING).exists()
    assert not (out / LOCK).exists()
    recorded = set(json.loads((out / MARKER).read_text())["files"])
    assert "metrics.json" in recorded and "equations.json" not in recorded
    assert not recorded & set(mine)

    build_report(out)
    assert {name: (out / name).read_bytes() for name in mine} == mine
    assert (out / "report.html").exists()


# -- 5: the lock -------------------------------------------------------------------------
def test_a_second_run_on_a_locked_folder_is_refused_naming_the_holder(tiny, tmp_path):
    config, write = tiny
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(RunDirectoryRefused, match=f"in use .*pid {holder.pid} .*started"):
            Study.from_config(write(config), out=out).run(progress=False)
        assert (out / LOCK).exists()
    finally:
        holder.communicate("")  # the holder ends and releases its lock
    assert holder.returncode == 0 and not (out / LOCK).exists()
    Study.from_config(write(config), out=out).run(progress=False)
    assert (out / "metrics.json").exists()


def test_the_stale_lock_of_a_dead_process_is_taken_over(tmp_path, caplog):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    pid = int(dead.stdout)
    stale = {"pid": pid, "host": socket.gethostname(), "started": "2020-01-01T00:00:00+00:00"}
    (tmp_path / LOCK).write_text(json.dumps(stale))
    with caplog.at_level(logging.WARNING, logger="discover"), locked(tmp_path):
        assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()
    assert f"pid {pid}" in caplog.text and "taking over" in caplog.text
    assert not (tmp_path / LOCK).exists()


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_the_lock_is_released_when_a_run_fails_or_is_interrupted(
    tiny, tmp_path, monkeypatch, error
):
    config, write = tiny
    out = tmp_path / "out"
    study = Study.from_config(write(config), out=out)

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(study, "fit", fail)
    with pytest.raises(type(error)):
        study.run(progress=False)
    assert not (out / LOCK).exists()


# -- 6: --out a file, a folder in a read-only folder ---------------------------------------
def test_out_an_existing_file_is_a_one_line_error(tiny, tmp_path, capsys):
    config, write = tiny
    file = tmp_path / "results.txt"
    file.write_text("mine")
    assert main(["run", str(write(config)), "--out", str(file), "--quiet"]) == 2
    error = capsys.readouterr().err
    assert error == f"error: --out {file} is a file, not a folder; choose a folder\n"
    assert file.read_text() == "mine"


def test_out_inside_a_read_only_folder_is_a_one_line_error(tiny, tmp_path):
    config, write = tiny
    parent = tmp_path / "read_only"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        if os.access(parent, os.W_OK):
            pytest.skip("this user may write into a read-only folder (root)")
        study = Study.from_config(write(config), out=parent / "run")
        with pytest.raises(RunDirectoryRefused, match=f"cannot write the run directory {parent}"):
            study.run(progress=False)
    finally:
        parent.chmod(0o755)
    assert not (parent / "run").exists()


# -- 7: --resume without anything to resume ----------------------------------------------
@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda out: None, "does not exist"),
        (lambda out: out.mkdir(), "is empty"),
        (
            lambda out: (out.mkdir(), (out / MARKER).write_text('{"files": []}')),
            "holds no checkpoint",
        ),
    ],
    ids=["missing", "empty", "no-checkpoint"],
)
def test_resume_without_a_checkpoint_is_an_error(tiny, tmp_path, make, why):
    config, write = tiny
    out = tmp_path / "out"
    make(out)
    study = Study.from_config(write(config), out=out)
    with pytest.raises(UserError, match=f"cannot resume: {out} {why}.*without --resume"):
        study.run(resume=True, progress=False)
    assert out.exists() == (why != "does not exist")  # refused before anything is made


# -- 8: strict JSON ------------------------------------------------------------------------
def _strict(text: str):
    def refuse(constant: str):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_every_json_file_of_a_run_is_strict(lv_case, tmp_path):
    config, write = lv_case
    out = tmp_path / "out"
    Study.from_config(write(config), out=out).run(progress=False)
    files = sorted(out.rglob("*.json"))
    assert {"metrics.json", "provenance.json", "equations.json", MARKER} <= {
        p.relative_to(out).as_posix() for p in files
    }
    for path in files:
        _strict(path.read_text())


def test_nan_and_infinity_are_written_as_null_and_read_back_as_nan(tmp_path):
    writer = RunWriter(tmp_path)
    writer.metrics({"neural": {"test": {"x": {"nse": math.nan, "kge": -math.inf, "rmse": 0.5}}}})
    (tmp_path / "config.yaml").write_text("name: t\n")
    assert _strict((tmp_path / "metrics.json").read_text())["neural"]["test"]["x"] == {
        "nse": None,
        "kge": None,
        "rmse": 0.5,
    }
    scores = load_run(tmp_path).metrics["neural"]["test"]["x"]
    assert math.isnan(scores["nse"]) and math.isnan(scores["kge"]) and scores["rmse"] == 0.5


KILLED_SWAP = """
import os, signal, sys
import discover.run_directory as run_directory
from discover.cli import main

moves, move = [], run_directory._move

def move_then_die(source, target):
    moves.append(move(source, target))
    if len(moves) == 3:  # part of the old results aside, part of the new ones in
        os.kill(os.getpid(), signal.SIGKILL)
    return moves[-1]

run_directory._move = move_then_die
main(sys.argv[1:])
"""


def test_a_swap_killed_half_way_is_rolled_back_by_the_next_run(tiny, tmp_path):
    config, write = tiny
    out = tmp_path / "out"
    Study.from_config(write(config), out=out).run(progress=False)
    finished, files = _results(out), json.loads((out / MARKER).read_text())["files"]
    config["seed"] = 1
    arguments = ["run", str(write(config)), "--out", str(out), "--quiet"]
    killed = subprocess.run([sys.executable, "-c", KILLED_SWAP, *arguments])
    assert killed.returncode == -9
    assert _results(out) != finished  # the kill left the results half swapped

    with pytest.raises(RuntimeError, match="stop"):
        with staged_run(out):  # rolls the swap back under the lock, then this run fails
            raise RuntimeError("stop")
    restored = _results(out)
    assert json.loads(restored.pop(MARKER))["files"] == files  # its time of update aside
    assert restored == {k: v for k, v in finished.items() if k != MARKER}


def test_report_is_refused_while_a_run_holds_the_lock(tiny, tmp_path, capsys):
    config, write = tiny
    out = tmp_path / "out"
    Study.from_config(write(config), out=out).run(progress=False)
    with locked(out):
        assert main(["report", str(out)]) == 2
    assert "in use by another discover run" in capsys.readouterr().err
    assert main(["report", str(out)]) == 0
