"""A run killed with SIGKILL during training resumes to the end an unbroken run reaches,
and two runs with the same seed and config write the same results."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from discover.cli import main
from discover.fit.checkpoints import load_checkpoint
from discover.run_directory import STAGING

KILLED_RUN = """
import os, signal, sys
import discover.fit.trainer as trainer
from discover.cli import main

kill_after, save = int(sys.argv[1]), trainer.save_checkpoint

def save_then_die(state, path):
    save(state, path)
    if state["iteration"] >= kill_after:
        os.kill(os.getpid(), signal.SIGKILL)

trainer.save_checkpoint = save_then_die
main(sys.argv[2:])
"""
"""A run that SIGKILLs itself right after writing its first checkpoint at or past
``argv[1]`` training steps: the kill lands at a known point, whatever the machine's load."""


def _command(config: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "discover.cli", "run", str(config), "--out", str(out), "--quiet"]


def _final_loss(run: Path) -> float:
    return json.loads((run / "provenance.json").read_text())["training"]["final_train"]


def _metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def _assert_close(a, b, where: str = "") -> None:
    """Nested JSON values equal, numbers within 1e-6 (absolute or relative)."""
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for key in a:
            _assert_close(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, str | None):
        assert a == b, where
    else:
        assert a == pytest.approx(b, rel=1e-6, abs=1e-6, nan_ok=True), where


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory, make_case):
    """An unbroken in-process run of the fast config: ``(config, config path, run dir)``."""
    config, write = make_case(tmp_path_factory.mktemp("unbroken"))
    path = write(config)
    run = path.parent / "run"
    assert main(["run", str(path), "--out", str(run), "--quiet"]) == 0
    return config, path, run


@pytest.mark.slow  # a second whole run in a fresh interpreter (about a minute)
def test_two_runs_with_the_same_seed_write_identical_results(unbroken, tmp_path):
    _, config, first = unbroken
    second = tmp_path / "second"
    # a fresh interpreter with another hash seed: no dependence on set or dict order
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(_command(config, second), env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for name in ("equations.json", "metrics.json"):
        assert json.loads((first / name).read_text()) == json.loads((second / name).read_text())
    assert _final_loss(first) == _final_loss(second)


@pytest.mark.parametrize(
    "kill_after",
    [
        # past a validation and a few checkpoints: best weights, schedule and random
        # generators all have state to restore
        11,
        # training has ended; the run is distilling
        pytest.param(None, marks=pytest.mark.slow),
    ],
    ids=["training", "distilling"],
)
def test_sigkill_resumes_to_the_unbroken_result(unbroken, tmp_path, kill_after):
    """The run is killed at its first checkpoint after ``kill_after`` training steps
    (``None``: after training)."""
    settings, config, reference = unbroken
    steps = settings["train"]["iterations"] + settings["train"]["lbfgs_iterations"]
    kill_after = steps if kill_after is None else kill_after
    out = tmp_path / "killed"
    checkpoint = out / STAGING / "checkpoints" / "last.pt"  # a run checkpoints while staged
    arguments = ["run", str(config), "--out", str(out), "--quiet"]
    process = subprocess.run([sys.executable, "-c", KILLED_RUN, str(kill_after), *arguments])
    assert process.returncode == -signal.SIGKILL
    assert not (out / "metrics.json").exists()
    killed_at = load_checkpoint(checkpoint)["iteration"]
    assert kill_after <= killed_at <= steps
    if kill_after < steps:
        assert killed_at < steps, "the run was killed after training"

    assert main(["run", str(config), "--out", str(out), "--quiet", "--resume"]) == 0
    training = json.loads((out / "provenance.json").read_text())["training"]
    assert training["resumed_from"] == killed_at
    assert training["final_train"] == pytest.approx(_final_loss(reference), rel=0, abs=1e-6)
    _assert_close(_metrics(out), _metrics(reference))
    equations = (json.loads((run / "equations.json").read_text()) for run in (out, reference))
    _assert_close(*equations)
    history, unbroken_history = (pd.read_csv(run / "history.csv") for run in (out, reference))
    assert list(history["iteration"]) == list(range(1, steps + 1))
    pd.testing.assert_frame_equal(history, unbroken_history, rtol=0, atol=1e-6)
    assert not list((out / "checkpoints").rglob("*.tmp"))
    assert not (out / STAGING).exists()
