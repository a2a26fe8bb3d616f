"""Calibration inside studies (``train.calibration``, strategy ``calibrated`` of
:mod:`discover.stages.train`): on by default for HBV with per-site parameters, recovering
the planted threshold of :mod:`tests.hbv.test_calibration`'s twin that Adam alone cannot
move, resumable, off on request, refused for dPL; the neural variant starts from the
calibrated physics variant."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from discover.config import ConfigError, StudyConfig, TrainConfig, parse_config
from discover.models.hbv_processes import textbook
from discover.stages import train as training
from discover.stages.models import start_from
from discover.stages.train import calibration_settings, train
from discover.study import Study
from discover.workflows.hbv import HBVWorkflow
from tests.hbv.test_calibration import SLOW_UPPER_ZONE, THRESHOLD, twin_workflow, value

SEARCH = {  # the budget and parameters of test_calibration's recovery
    "population": 12,
    "generations": 60,
    "tolerance": 0,
    "parameters": [*THRESHOLD, *SLOW_UPPER_ZONE],
    "polish_steps": 0,
}


def config_of(workflow: HBVWorkflow, **train: object) -> StudyConfig:
    """``workflow``'s config with ``train`` keys replaced."""
    raw = workflow.config.model_dump(by_alias=True)
    raw["train"] |= train
    return StudyConfig.model_validate(raw)


def test_a_study_calibrates_by_default_and_recovers_what_adam_cannot():
    base = twin_workflow(sites=2)
    assert "calibration" not in base.config.train.model_fields_set
    assert calibration_settings(base, base.config.train) is not None  # on by default
    study = Study(config_of(base, calibration={**SEARCH, "enabled": None}), Path("."))
    result = study.fit(progress=False)
    assert result.stopped.startswith("calibrated start (60 generations)")
    for site in range(2):
        assert float(value(study.workflow, "uzl")[site]) == pytest.approx(8.0, abs=1.5)
        assert float(value(study.workflow, "k0")[site]) == pytest.approx(0.6, abs=0.1)

    plain = Study(config_of(base, calibration=False), Path("."))
    assert plain.fit(progress=False).stopped == "iterations"  # today's gradient training
    assert float(value(plain.workflow, "uzl")[0]) == pytest.approx(50.0)  # never moved


def test_calibration_off_is_plain_gradient_training():
    settings = config_of(twin_workflow(), calibration=False).train
    off, gradient = twin_workflow(), twin_workflow()
    train(off, settings, seed=0, progress=False)
    train(gradient, settings, seed=0, progress=False, strategy="gradient")
    assert torch.equal(off.learner.raw, gradient.learner.raw)


class _Interrupt:
    """The workflow's loss, raising Ctrl-C at its ``at``-th call on the training split."""

    def __init__(self, workflow: HBVWorkflow, at: int):
        self.loss, self.at, self.calls = workflow.loss, at, 0

    def __call__(self, split, generator=None):
        self.calls += split == "train"
        if self.calls == self.at:
            raise KeyboardInterrupt
        return self.loss(split, generator)


def test_resume_skips_the_calibration_and_ends_where_the_unbroken_run_ends(tmp_path, monkeypatch):
    config = config_of(
        twin_workflow(), calibration=SEARCH, iterations=8, checkpoint_every=2, eval_every=2
    )
    unbroken = twin_workflow()
    train(unbroken, config.train, seed=0, checkpoint_dir=tmp_path / "a", progress=False)
    broken = twin_workflow()
    broken.loss = _Interrupt(broken, 6)  # the start's loss, then Adam steps
    with pytest.raises(KeyboardInterrupt):
        train(broken, config.train, seed=0, checkpoint_dir=tmp_path / "b", progress=False)
    assert (tmp_path / "b" / training.CALIBRATED).exists()

    def no_calibration(*args, **kwargs):
        raise AssertionError("a resumed run calibrated again")

    monkeypatch.setattr(training, "calibrate", no_calibration)
    resumed = twin_workflow()
    result = train(
        resumed, config.train, seed=0, checkpoint_dir=tmp_path / "b", resume=True, progress=False
    )
    assert result.resumed_from is not None and result.resumed_from > 0
    expected, got = unbroken.state_dict(), resumed.state_dict()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=0, atol=0, msg=name)


def test_adam_that_raises_the_loss_keeps_the_calibrated_start():
    config = config_of(twin_workflow(), calibration=SEARCH, lr=5.0, iterations=3)
    workflow = twin_workflow(sites=2)
    result = train(workflow, config.train, seed=0, progress=False)
    assert result.stopped.startswith("calibrated start (60 generations) kept")
    assert "raised the train loss" in result.stopped
    assert float(value(workflow, "uzl")[0]) == pytest.approx(8.0, abs=1.5)


def test_calibration_of_dpl_is_refused():
    raw = twin_workflow().config.model_dump(by_alias=True)
    raw["model"]["parameters"] = "attributes"
    assert calibration_settings(twin_workflow(parameters="attributes"), TrainConfig()) is None
    for switch in (True, {"population": 8}):
        raw["train"]["calibration"] = switch
        with pytest.raises(ConfigError, match="train.calibration: .*model.parameters: site"):
            parse_config(raw)


def test_the_neural_variant_starts_from_the_calibrated_physics_variant():
    physics = twin_workflow()
    train(physics, config_of(physics, calibration=SEARCH).train, seed=0, progress=False)
    raw = physics.config.model_dump(by_alias=True)
    raw["model"]["neural"] = {
        "evapotranspiration": {"inputs": ["pet", "soil_wetness"], "hidden": [8], "warm_start": True}
    }
    torch.manual_seed(0)
    neural = HBVWorkflow(StudyConfig.model_validate(raw), Path("."))
    lp = 0.25  # far from the middle of lp's range (0.6), so that the two warm starts differ
    with torch.no_grad():
        physics.learner.raw[:, physics.learner.bounded.names.index("lp")] = torch.logit(
            torch.tensor((lp - 0.2) / (1.0 - 0.2))
        )
    start_from(neural, physics)
    assert neural.calibrated_start
    for name in neural.learner.bounded.names:
        torch.testing.assert_close(value(neural, name), value(physics, name))
    inputs = {
        "pet": torch.full((50,), 3.0, dtype=torch.float64),
        "soil_wetness": torch.linspace(0.02, 0.9, 50, dtype=torch.float64),
    }
    et = textbook("evapotranspiration", smooth=neural.model.smooth)
    at_calibrated = et({**inputs, "lp": torch.tensor(lp, dtype=torch.float64)})
    with torch.no_grad():
        learned = neural.model.slots["evapotranspiration"](inputs)
    assert float((learned - at_calibrated).abs().max()) < 0.3  # at mid-range lp: 1.75
