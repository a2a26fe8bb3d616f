"""A failing symbolic-regression engine and a diverging training run: the run goes on
(or stops cleanly), keeps finite weights and says what happened."""

import json
import logging

import numpy as np
import pandas as pd
import pytest
import torch

import discover.stages.distill
from discover.cli import main
from discover.fit.checkpoints import load_checkpoint
from discover.study import Study


def test_a_failing_engine_leaves_its_slot_undistilled_and_says_why(lv_case, tmp_path, monkeypatch):
    config, write = lv_case
    study = Study.from_config(write(config), out=tmp_path / "run")
    real_fit, original_distill = discover.stages.distill.symbolic_fit, Study.distill
    current: dict[str, str] = {}

    def distill(self, slot, *args, **kwargs):
        current["slot"] = slot
        return original_distill(self, slot, *args, **kwargs)

    def symbolic_fit(*args, **kwargs):
        if current["slot"] == "G":
            raise TimeoutError("engine gave no result within 2 s")
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(Study, "distill", distill)
    monkeypatch.setattr(discover.stages.distill, "symbolic_fit", symbolic_fit)
    metrics = study.run(progress=False)

    out = tmp_path / "run"
    equations = json.loads((out / "equations.json").read_text())
    assert "selected" in equations["F"]
    assert equations["G"] == {
        "inputs": ["x", "y"],
        "error": "TimeoutError: engine gave no result within 2 s",
    }
    assert {"neural", "symbolic"} <= set(metrics)  # F was reinserted, the run finished
    assert study.model.slot_kinds() == {"F": "symbolic", "G": "neural"}
    report = (out / "report.html").read_text()
    assert "Slot G was not distilled" in report
    assert "engine gave no result within 2 s" in report
    assert json.loads((out / "metrics.json").read_text()) == metrics


def _poison_at(workflow, call: int):
    """Wrap ``workflow.loss``: at training-loss call ``call`` the loss stays finite but its
    gradient is NaN, so that optimiser step turns every weight into NaN."""
    real_loss = workflow.loss
    count = {"train": 0}

    def loss(split, generator=None):
        value = real_loss(split, generator)
        if split == "train":
            count["train"] += 1
            if count["train"] == call:
                weights = next(workflow.model.parameters())
                value = value + 0 * torch.sqrt(weights - weights.detach()).sum()
        return value

    return loss


@pytest.mark.parametrize(
    ("checkpoints", "poisoned_step"),
    [(True, 7), (True, 8), (False, 7)],
    ids=["between-checkpoints", "at-a-checkpoint", "no-checkpoints"],
)
def test_diverging_training_stops_with_the_last_good_weights(
    lv_case, tmp_path, caplog, checkpoints, poisoned_step
):
    config, write = lv_case
    config["train"].update(iterations=12, lbfgs_iterations=0, eval_every=100, checkpoint_every=4)
    study = Study.from_config(write(config), out=tmp_path / "run" if checkpoints else None)
    study.workflow.loss = _poison_at(study.workflow, call=poisoned_step)
    with caplog.at_level(logging.WARNING, logger="discover"):
        result = study.fit(progress=False)
    assert result.stopped == "diverged"
    assert "diverged" in caplog.text and "restoring" in caplog.text
    assert len(result.history) < poisoned_step + 1
    for name, value in study.workflow.state_dict().items():
        assert torch.isfinite(value).all(), name
    with torch.no_grad():
        assert torch.isfinite(study.workflow.loss("test")).all()
    if checkpoints:
        saved = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
        assert saved["result"]["stopped"] == "diverged"
        for name, value in saved["model"].items():
            assert torch.isfinite(value).all(), name


def test_a_missing_engine_leaves_every_slot_undistilled_and_the_run_finishes(lv_case, tmp_path):
    from discover.distill.engines import ENGINES

    available, why = ENGINES["pysr"]().available()
    if available:
        pytest.skip("PySR can run here; this test needs an engine that cannot")
    config, write = lv_case
    config["distill"]["engine"] = "pysr"
    out = tmp_path / "run"
    assert main(["run", str(write(config)), "--out", str(out), "--quiet"]) == 0
    equations = json.loads((out / "equations.json").read_text())
    assert set(equations) == {"F", "G"}
    for entry in equations.values():
        assert "selected" not in entry and why in entry["error"]
    assert set(json.loads((out / "metrics.json").read_text())) == {"neural"}
    report = (out / "report.html").read_text()
    assert "Slot F was not distilled" in report and "Slot G was not distilled" in report


@pytest.fixture(scope="module")
def diverged_run(tmp_path_factory, make_case):
    """A whole run whose training diverges at step 7: ``(study, run directory)``."""
    config, write = make_case(tmp_path_factory.mktemp("poisoned"))
    out = write(config).parent / "run"
    study = Study.from_config(out.parent / "config.yaml", out=out)
    study.workflow.loss = _poison_at(study.workflow, call=7)
    study.run(progress=False)
    return study, out


def test_a_diverged_run_finishes_and_records_why_training_stopped(diverged_run):
    study, out = diverged_run
    training = json.loads((out / "provenance.json").read_text())["training"]
    assert training["stopped"] == "diverged"
    assert len(pd.read_csv(out / "history.csv")) == 6  # the 7th step made the weights NaN
    metrics = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(metrics["neural"]["train"]["x"]["rmse"])


def test_the_report_says_that_training_diverged(diverged_run):
    _, out = diverged_run
    lines = (out / "report.md").read_text().splitlines()
    assert any("stopped" in line and "diverged" in line for line in lines)
