"""Stated hypotheses start their calibration from the calibrated ``physics`` baseline
(:attr:`discover.study.Study.baseline`, set by :func:`discover.stages.pipeline.
fit_baseline`), and from the default start without one; resumable either way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from discover.config import StudyConfig
from discover.stages import train as training
from discover.stages.models import start_parameters_at
from discover.stages.pipeline import fit_baseline
from discover.study import Study
from tests.hbv.test_calibration import twin_workflow

HYPOTHESIS = "H_power"


def hypothesis_config() -> StudyConfig:
    """The calibration twin with a neural ET slot, ``H_power`` in it, and a small search."""
    raw = twin_workflow().config.model_dump(by_alias=True)
    raw["model"]["neural"] = {
        "evapotranspiration": {"inputs": ["pet", "soil_wetness"], "hidden": [4]}
    }
    raw["hypotheses"] = {
        HYPOTHESIS: {
            "slot": "evapotranspiration",
            "expression": "pet*soil_wetness**b",
            "constants": {"b": 0.5},
        }
    }
    raw["train"]["calibration"] = {"population": 12, "generations": 15, "tolerance": 0}
    return StudyConfig.model_validate(raw)


@pytest.fixture
def starts(monkeypatch) -> list[dict[str, torch.Tensor]]:
    """The parameters ``{name: [site, nmul]}`` each calibration starts from, in order."""
    seen: list[dict[str, torch.Tensor]] = []
    calibrate = training.calibrate

    def recording(workflow, settings, seed=0):
        seen.append({k: v.detach().clone() for k, v in workflow.parameters_by_name().items()})
        return calibrate(workflow, settings, seed)

    monkeypatch.setattr(training, "calibrate", recording)
    return seen


def test_hypothesis_searches_start_from_the_calibrated_baseline(starts):
    study = Study(hypothesis_config(), Path("."))
    fit_baseline(study, resume=False, progress=False)
    assert study.baseline is not None and len(starts) == 1
    calibrated = study.baseline.parameters_by_name()
    default = study.models.variant(HYPOTHESIS, {})
    at_default = default.parameters_by_name()
    result = study.fit_hypothesis(HYPOTHESIS, progress=False)
    start = starts[1]
    assert set(start) == set(calibrated) - {"lp"}  # lp: the textbook ET's alone
    moved = [name for name in start if not torch.allclose(calibrated[name], at_default[name])]
    assert {"uzl", "k0"} <= set(moved)  # the planted threshold, away from mid-range
    for name in start:
        torch.testing.assert_close(start[name], calibrated[name].detach(), msg=name)
    offered = study.models.variant(HYPOTHESIS, {})
    start_parameters_at(offered, study.baseline)
    with torch.no_grad():  # the search keeps the offered start unless it finds better
        assert result.final_train <= float(offered.loss("train")) < float(default.loss("train"))


def test_without_a_baseline_a_hypothesis_starts_from_the_default(starts):
    study = Study(hypothesis_config(), Path("."))
    assert study.baseline is None
    study.fit_hypothesis(HYPOTHESIS, progress=False)
    default = study.models.variant(HYPOTHESIS, {}).parameters_by_name()
    for name, value in starts[0].items():
        torch.testing.assert_close(value, default[name].detach(), msg=name)


def test_a_resumed_hypothesis_keeps_its_calibration(tmp_path, monkeypatch):
    config = hypothesis_config()
    first = Study(config, Path("."), out=tmp_path)
    fit_baseline(first, resume=False, progress=False)
    first.fit_hypothesis(HYPOTHESIS, progress=False)

    def no_calibration(*args, **kwargs):
        raise AssertionError("a resumed run calibrated again")

    monkeypatch.setattr(training, "calibrate", no_calibration)
    resumed = Study(config, Path("."), out=tmp_path)
    fit_baseline(resumed, resume=True, progress=False)
    resumed.fit_hypothesis(HYPOTHESIS, resume=True, progress=False)
    for name in ("physics", HYPOTHESIS):
        expected = first.variants.simulations[name]
        np.testing.assert_array_equal(resumed.variants.simulations[name], expected, err_msg=name)
