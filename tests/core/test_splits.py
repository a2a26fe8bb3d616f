"""Time splits: training, an optional validation split that chooses weights, and the held-out
split that is only scored (ode and hbv workflows alike)."""

import copy

import numpy as np
import pytest
import torch

from discover.config import ConfigError, StudyConfig
from discover.fit.losses import masked_mse
from discover.study import Study

HBV_CONFIG = {
    "name": "hbv_splits",
    "data": {"source": "twin", "sites": 3, "days": 400},
    "model": {"type": "hbv", "warmup": 100},
    "train": {"split": 0.75, "validation": 0.2, "iterations": 1},
}


def _study(config: dict, base) -> Study:
    return Study(StudyConfig.model_validate(config), base)


def _check_splits(study: Study, first: int, n_time: int, expected_loss) -> None:
    """Splits tile [first, n_time) in order, and each loss is ``expected_loss(simulated,
    part)``, the masked MSE on its slice alone."""
    slices = study.workflow.split_slices()
    assert list(slices) == ["train", "validation", "test"]
    bounds = [(s.start, s.stop if s.stop is not None else n_time) for s in slices.values()]
    assert bounds[0][0] == first and bounds[-1][1] == n_time
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(bounds, bounds[1:], strict=False))
    with torch.no_grad():
        simulated = study.workflow.simulate()
        for split, part in slices.items():
            expected = float(expected_loss(simulated, part))
            assert float(study.workflow.loss(split)) == pytest.approx(expected, rel=1e-4)


def test_ode_validation_split_lies_between_training_and_held_out(lv_case, tmp_path):
    config, _ = lv_case
    config = copy.deepcopy(config)
    config["train"]["validation"] = 0.25
    study = _study(config, tmp_path)
    workflow = study.workflow

    def expected(simulated, part):
        return masked_mse(simulated[part], workflow.observations[part], workflow.loss_scale)

    _check_splits(study, 1, workflow.data.sizes["time"], expected)
    fit_end = study.workflow.split_slices()["train"].stop
    assert fit_end == study.workflow.n_train - round(0.25 * (study.workflow.n_train - 1))


def test_hbv_validation_split_lies_between_training_and_held_out(tmp_path):
    study = _study(HBV_CONFIG, tmp_path)
    workflow = study.workflow

    def expected(simulated, part):
        return masked_mse(simulated[part, :, 0], workflow.flow_seen[part], workflow.flow_scale)

    _check_splits(study, 100, 400, expected)


def test_training_never_sees_validation_or_held_out_observations(tmp_path):
    study = _study(HBV_CONFIG, tmp_path)
    workflow = study.workflow
    start = workflow.split_slices()["validation"].start
    with torch.no_grad():
        before = float(workflow.loss("train"))
        workflow.flow_seen[start:] = torch.nan
        assert float(workflow.loss("train")) == before


def test_a_validation_split_that_leaves_nothing_is_refused(tmp_path):
    config = copy.deepcopy(HBV_CONFIG)
    config["train"]["validation"] = 0.999
    with pytest.raises(ConfigError, match="train.validation"):
        _study(config, tmp_path)


def test_history_records_the_validation_split_when_it_exists(lv_case, tmp_path):
    config, _ = lv_case
    config = copy.deepcopy(config)
    config["train"].update(validation=0.25, iterations=6, eval_every=2, lbfgs_iterations=0)
    study = _study(config, tmp_path)
    result = study.fit(progress=False)
    evaluated = [row for row in result.history if "validation" in row]
    assert len(evaluated) == 3 and all(np.isfinite(row["validation"]) for row in evaluated)
    assert result.best_iteration in {row["iteration"] for row in evaluated}
