"""``discover run`` under ``torchrun`` (:mod:`discover.fit.launch`): the environment it is
read from and refused for, the collectives that keep the processes in step
(:mod:`discover.fit.distributed`), and (slow) whole two-process runs: only rank 0 writes
the run directory, errors are reported once, and a second run gives the same results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from discover.cli import main
from discover.errors import UserError
from discover.fit.launch import Launch, LaunchError, process_group, torchrun_launch, use_device
from discover.fit.world import World
from discover.run_directory import MARKER

TORCHRUN = Path(sys.executable).with_name("torchrun")

TINY = {
    "name": "tiny",
    "seed": 0,
    "dtype": "float32",
    "data": {
        "source": "twin",
        "sites": 4,
        "days": 300,
        "planted": {"evapotranspiration": "pet*soil_wetness**0.5"},
    },
    "model": {
        "type": "hbv",
        "warmup": 60,
        "neural": {"evapotranspiration": {"inputs": ["pet", "soil_wetness"], "hidden": [8]}},
    },
    "train": {"split": 0.6, "iterations": 6, "eval_every": 3, "lbfgs_iterations": 0},
    # a budget the search never reaches: rank 0's equations do not depend on the load
    "distill": {
        "engine": "rational",
        "time_budget_s": 60,
        "samples": 200,
        "selection": {"rule": "front"},
    },
    "reinsert": {"iterations": 2, "lbfgs_iterations": 0},
}
"""A two-process HBV twin study of a few seconds' training."""

PLACE = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def no_torchrun(monkeypatch):
    """An environment without torchrun's variables (a test may then set some)."""
    for name in PLACE:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# -- the environment -------------------------------------------------------------------
def test_launch_is_read_from_torchrun_variables():
    assert torchrun_launch({}) is None
    assert torchrun_launch({"PATH": "/bin"}) is None
    place = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}
    assert torchrun_launch(place) == Launch(rank=3, size=4, local_rank=1)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"RANK": "0"}, "RANK set but not WORLD_SIZE, LOCAL_RANK"),
        ({"RANK": "0", "WORLD_SIZE": "2"}, "not LOCAL_RANK"),
        ({"RANK": "one", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}, "whole number"),
        ({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}, "do not fit together"),
        ({"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}, "do not fit together"),
        ({"RANK": "0", "WORLD_SIZE": "0", "LOCAL_RANK": "0"}, "do not fit together"),
    ],
)
def test_a_broken_launch_is_refused_naming_the_variables(environ, message):
    with pytest.raises(LaunchError, match=message):
        torchrun_launch(environ)


def test_one_process_is_alone_and_a_group_needs_its_meeting_point(no_torchrun):
    with process_group(None) as world:
        assert world == World() and world.alone and world.writes
    with process_group(Launch(0, 1, 0)) as world:
        assert world.alone
    with pytest.raises(LaunchError, match="MASTER_ADDR and MASTER_PORT not set"):
        with process_group(Launch(0, 2, 0)):
            pass


def test_cuda_needs_one_gpu_per_process_on_the_machine(no_torchrun, monkeypatch):
    use_device(None, "cuda")  # alone: the config's device as it is
    use_device(Launch(1, 2, 1), "cpu")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    no_torchrun.setenv("LOCAL_WORLD_SIZE", "2")
    with pytest.raises(LaunchError, match="2 processes on this machine need as many GPUs"):
        use_device(Launch(0, 2, 0), "cuda")  # rank 0 refuses too: the error is reported once


def test_the_command_refuses_a_broken_launch_once_per_machine(no_torchrun, tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "run"
    no_torchrun.setenv("RANK", "0")
    assert main(["run", str(config), "--out", str(out)]) == 2
    assert "RANK set but not WORLD_SIZE, LOCAL_RANK" in capsys.readouterr().err
    for name, value in {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}.items():
        no_torchrun.setenv(name, value)
    assert main(["run", str(config), "--out", str(out)]) == 2  # no meeting point
    assert capsys.readouterr().err == ""  # local rank 0 of the machine says it
    no_torchrun.setenv("LOCAL_RANK", "0")
    no_torchrun.setenv("RANK", "2")
    no_torchrun.setenv("WORLD_SIZE", "3")
    assert main(["run", str(config), "--out", str(out)]) == 2
    assert "MASTER_ADDR and MASTER_PORT not set" in capsys.readouterr().err
    assert not out.exists()


def test_more_processes_than_sites_are_refused_before_any_shared_work(tmp_path):
    from discover.cli import open_study

    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({**TINY, "data": {**TINY["data"], "sites": 2}}))
    assert open_study(config, tmp_path / "run", Launch(0, 2, 0)).out == tmp_path / "run"
    with pytest.raises(UserError, match="2 sites cannot be shared among 3 processes"):
        open_study(config, None, Launch(0, 3, 0))
    batched = {**TINY, "train": {**TINY["train"], "batch": {"sites": 1, "days": 60, "warmup": 0}}}
    config.write_text(yaml.safe_dump(batched))
    # a batch is each process's own: fewer sites in it than processes is fine
    assert open_study(config, tmp_path / "batched", Launch(1, 2, 1)).out == tmp_path / "batched"


def test_a_collective_broken_by_a_stopped_peer_is_told_apart(no_torchrun):
    from discover.cli import lost_peer
    from discover.fit.distributed import lost_peer as peer_stopped

    gloo = RuntimeError("[gloo/transport/tcp/pair.cc:553] Connection closed by peer [::1]:3")
    assert peer_stopped(gloo) and peer_stopped(RuntimeError("Connection reset by peer"))
    assert not peer_stopped(RuntimeError("shape mismatch")) and not peer_stopped(ValueError())
    assert not lost_peer(gloo)  # not under torchrun: an error like any other
    no_torchrun.setenv("RANK", "1")
    assert lost_peer(gloo)


# -- collectives, in two processes -------------------------------------------------------
def _collectives(rank: int, size: int, folder: str) -> None:
    """Every helper of discover.fit.distributed in one group; raises if one misbehaves."""
    from discover.fit.distributed import (
        PeerFailed,
        from_rank_zero,
        leave_group,
        share_folder,
        together,
    )

    assert together(lambda: rank * 10) == rank * 10  # each keeps its own value
    peer = "PeerFailed"
    assert _outcome(lambda: together(lambda: 1 / rank)) == ("ZeroDivisionError", peer)[rank]
    try:
        together(lambda: 1 / rank)
    except PeerFailed as err:
        assert "process 0 of the run stopped: ZeroDivisionError: division by zero" in str(err)
    except ZeroDivisionError:
        pass
    # failing everywhere: rank 0 alone raises its own error, so it is reported once
    assert _outcome(lambda: together(lambda: [][rank - 2])) == ("IndexError", peer)[rank]
    assert from_rank_zero(lambda: f"rank {rank}") == "rank 0"
    assert _outcome(lambda: from_rank_zero(lambda: int("zero"))) == "ValueError"  # everywhere
    mine = Path(folder) / f"rank{rank}"
    if rank == 0:
        (mine / "checkpoints" / "physics").mkdir(parents=True)
        (mine / "checkpoints" / "last.pt").write_bytes(b"\x00weights")
        (mine / "checkpoints" / "physics" / "last.pt").write_bytes(b"physics")
    share_folder(mine / "checkpoints")
    assert (mine / "checkpoints" / "last.pt").read_bytes() == b"\x00weights"
    assert (mine / "checkpoints" / "physics" / "last.pt").read_bytes() == b"physics"
    assert leave_group() == (rank == 0)


def _outcome(step) -> str:
    """The name of the exception ``step()`` raises, or ``ok``."""
    try:
        step()
    except Exception as err:
        return type(err).__name__
    return "ok"


def check_collectives(folder: str) -> None:
    from discover.fit.distributed import run_data_parallel

    torch.set_num_threads(1)
    run_data_parallel(_collectives, world_size=2, args=(folder,), threads=1)


def test_processes_agree_on_failures_results_and_checkpoints(tmp_path):
    # a fresh interpreter runs this file, so that spawned processes can import _collectives
    command = [sys.executable, __file__, str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


# -- whole runs under torchrun -------------------------------------------------------------
def torchrun(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """``torchrun --nproc-per-node 2 -m discover ARGS`` on the CPU (a free port), with the
    environment variables ``env`` added."""
    environ = {k: v for k, v in os.environ.items() if k not in PLACE} | env
    command = [str(TORCHRUN), "--nproc-per-node", "2", "--standalone", "-m", "discover", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=900, cwd=cwd, env=environ
    )


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """The tiny study run once by two processes: (config, run directory, the process)."""
    folder = tmp_path_factory.mktemp("torchrun")
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump(TINY))
    out = folder / "first"
    return config, out, torchrun("run", str(config), "--out", str(out), cwd=folder)


def results(out: Path) -> tuple[dict, dict]:
    return json.loads((out / "equations.json").read_text()), json.loads(
        (out / "metrics.json").read_text()
    )


@pytest.mark.slow  # two processes through every stage (about a minute on two busy cores)
def test_two_processes_run_the_study_and_rank_zero_alone_writes(first_run):
    config, out, run = first_run
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("results: ") == 1 and run.stdout.count("report: ") == 1
    assert run.stderr.count("training neural") >= 1  # rank 0's progress bar
    assert run.stderr.count("INFO evapotranspiration: selected") == 1  # rank 0's log only
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    recorded = set(json.loads((out / MARKER).read_text())["files"])
    assert files == recorded | {MARKER}  # every file is one rank 0's marker records
    assert {"metrics.json", "equations.json", "report.html", "checkpoints/last.pt"} <= files
    assert not any("rank" in name for name in files)
    equations, metrics = results(out)
    assert equations["evapotranspiration"]["selected"]
    assert set(metrics) == {"physics", "neural", "symbolic"}


@pytest.mark.slow  # a second whole two-process run
def test_a_second_run_gives_the_same_equations_and_metrics(first_run):
    config, out, run = first_run
    assert run.returncode == 0, run.stderr[-3000:]
    again = torchrun("run", str(config), "--out", str(out.with_name("again")), cwd=out.parent)
    assert again.returncode == 0, again.stderr[-3000:]
    assert results(out.with_name("again")) == results(out)
    resumed = torchrun("run", str(config), "--out", str(out), "--resume", cwd=out.parent)
    assert resumed.returncode == 0, resumed.stderr[-3000:]  # every rank from rank 0's state
    assert results(out) == results(out.with_name("again"))


@pytest.mark.slow  # two processes meet, read the data and stop
def test_a_run_directory_only_rank_zero_sees_stops_both_with_one_error(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(TINY))
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("the user's own")
    run = torchrun("run", str(config), "--out", str(foreign), cwd=tmp_path)
    assert run.returncode != 0
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "was not written by discover" in errors[0], run.stderr[-3000:]
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs (nccl, device: cuda)")
def test_two_processes_on_two_gpus(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({**TINY, "device": "cuda"}))
    run = torchrun("run", str(config), "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    equations, metrics = results(tmp_path / "run")
    assert equations["evapotranspiration"]["selected"] and "symbolic" in metrics


FAILING_CHECKPOINT = """
import os
if os.environ.get("RANK") == "0":
    import discover.fit.trainer as trainer
    def failing(state, path):
        raise OSError(28, "No space left on device")
    trainer.save_checkpoint = failing
"""
"""A ``sitecustomize`` that makes rank 0's first checkpoint fail (a full disk)."""


@pytest.mark.slow  # two processes meet, read the data and start training
def test_an_error_on_rank_zero_alone_mid_training_ends_the_run_with_one_line(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({**TINY, "train": {**TINY["train"], "checkpoint_every": 1}}))
    (tmp_path / "sitecustomize.py").write_text(FAILING_CHECKPOINT)
    out = str(tmp_path / "run")
    run = torchrun("run", str(config), "--out", out, cwd=tmp_path, PYTHONPATH=str(tmp_path))
    assert run.returncode != 0
    errors = [line for line in run.stderr.splitlines() if "error: " in line]
    assert len(errors) == 1 and "No space left on device" in errors[0], run.stderr[-3000:]


if __name__ == "__main__":
    check_collectives(sys.argv[1])
