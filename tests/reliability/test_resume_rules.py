"""What `--resume` accepts: the settings a checkpoint was trained with must be the same,
except train.iterations, whose change continues with the schedule recomputed; and Ctrl-C
during training leaves a checkpoint from which the run ends where an unbroken one does."""

import json
import logging

import pandas as pd
import pytest

from discover.cli import main
from discover.workflows.ode import ODEWorkflow


@pytest.fixture
def case(lv_case):
    """``(config, run(config, *flags) -> exit code, out)``: the fast case study without
    distillation, 6 Adam steps, no L-BFGS, checkpoints only at the end or on Ctrl-C."""
    config, write = lv_case
    config["distill"] = None
    config["train"].update(iterations=6, lbfgs_iterations=0, checkpoint_every=1000)
    out = write(config).parent / "run"

    def run(changed: dict, *flags: str, folder=out) -> int:
        return main(["run", str(write(changed)), "--out", str(folder), "--quiet", *flags])

    return config, run, out


def _history(out) -> pd.DataFrame:
    return pd.read_csv(out / "history.csv")


def _training(out) -> dict:
    return json.loads((out / "provenance.json").read_text())["training"]


def test_changed_optimiser_or_model_settings_are_refused_naming_each_key(case, capsys):
    config, run, _ = case
    assert run(config) == 0
    capsys.readouterr()
    config["train"]["lr"] = 0.02
    config["model"]["neural"]["F"]["hidden"] = [16]
    assert run(config, "--resume") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot resume from") and "Traceback" not in err
    assert "train.lr: 0.01 → 0.02" in err
    assert "model.neural.F.hidden: [32, 32] → [16]" in err


def test_fewer_iterations_than_already_taken_are_refused(case, capsys):
    config, run, _ = case
    assert run(config) == 0
    capsys.readouterr()
    config["train"]["iterations"] = 4
    assert run(config, "--resume") == 2
    assert "train.iterations: 6 → 4: 6 steps taken" in capsys.readouterr().err


@pytest.mark.parametrize("schedule", ["none", "cosine"])
def test_extended_iterations_continue_to_where_a_longer_run_ends(case, tmp_path, caplog, schedule):
    config, run, out = case
    config["train"]["schedule"] = schedule
    assert run(config) == 0
    config["train"]["iterations"] = 12
    with caplog.at_level(logging.INFO, logger="discover"):
        assert run(config, "--resume") == 0
    assert "continuing to 12 iterations, schedule recomputed for 12" in caplog.text
    assert run(config, folder=tmp_path / "longer") == 0
    extended, longer = _history(out), _history(tmp_path / "longer")
    assert list(extended["iteration"]) == list(range(1, 13))
    assert _training(out)["resumed_from"] == 6
    # after the resume the learning rate follows the schedule of a 12-step run
    later = extended["iteration"] > 6
    assert list(extended.loc[later, "lr"]) == pytest.approx(list(longer.loc[later, "lr"]), 1e-9)
    if schedule == "none":  # the same steps throughout: the same end
        pd.testing.assert_frame_equal(extended, longer, rtol=0, atol=1e-9)
        assert _training(out)["final_train"] == pytest.approx(
            _training(tmp_path / "longer")["final_train"], rel=0, abs=1e-9
        )
    else:  # the first 6 steps followed the 6-step schedule: a lower rate before step 7
        assert extended.loc[5, "lr"] < longer.loc[5, "lr"]


def test_ctrl_c_checkpoints_the_last_step_and_resume_ends_like_an_unbroken_run(
    case, tmp_path, monkeypatch, capsys
):
    config, run, out = case
    assert run(config, folder=tmp_path / "unbroken") == 0
    interrupt_at = 4  # the 4th training step is interrupted inside its loss
    calls = {"train": 0}
    loss = ODEWorkflow.loss

    def interrupted(self, split, generator=None):
        if split == "train":
            calls["train"] += 1
            if calls["train"] == interrupt_at:
                raise KeyboardInterrupt
        return loss(self, split, generator)

    monkeypatch.setattr(ODEWorkflow, "loss", interrupted)
    assert run(config) == 130
    assert capsys.readouterr().err.strip().endswith("--resume")
    monkeypatch.setattr(ODEWorkflow, "loss", loss)
    assert run(config, "--resume") == 0
    assert _training(out)["resumed_from"] == interrupt_at - 1
    pd.testing.assert_frame_equal(_history(out), _history(tmp_path / "unbroken"), rtol=0, atol=0)
    unbroken = _training(tmp_path / "unbroken")["final_train"]
    assert _training(out)["final_train"] == unbroken
