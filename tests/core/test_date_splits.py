"""Splits by date (train.period, train.validation, test.period) on dated HBV data, and the
spin-up (model.spinup) that repeats the first year before the run."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import ValidationError

from discover.config import ConfigError, StudyConfig
from discover.models.hbv import HBV
from discover.models.hbv_processes import FORCINGS
from discover.study import Study

# a twin of 3 sites starting 2000-01-01: 2000-01-01 .. 2002-03-26
BASE = {
    "name": "dates",
    "data": {"source": "twin", "sites": 3, "days": 816},
    "model": {"type": "hbv", "warmup": 60, "routing": False},
    "train": {"iterations": 1},
    "distill": None,
}


def _config(**sections) -> dict:
    config = copy.deepcopy(BASE)
    for key, value in sections.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return config


def _study(config: dict, tmp_path) -> Study:
    return Study(StudyConfig.model_validate(config), tmp_path)


def _day(times: np.ndarray, index: int) -> str:
    return str(pd.Timestamp(times[index]).date())


def test_date_periods_map_to_exact_days(tmp_path):
    config = _config(
        train={
            "period": ["2000-06-01", "2001-03-31"],
            "validation": {"period": ["2001-04-01", "2001-06-30"]},
        },
        test={"period": ["2001-07-01", "2001-12-31"]},
    )
    workflow = _study(config, tmp_path).workflow
    times = workflow.times_index()
    slices = workflow.split_slices()
    assert list(slices) == ["train", "validation", "test"]
    expected = {
        "train": ("2000-06-01", "2001-03-31"),
        "validation": ("2001-04-01", "2001-06-30"),
        "test": ("2001-07-01", "2001-12-31"),
    }
    for split, (first, last) in expected.items():
        part = slices[split]
        assert (_day(times, part.start), _day(times, part.stop - 1)) == (first, last)
    # the simulation starts model.warmup days before training and ends with the test period
    assert slices["train"].start == 60
    assert _day(times, 0) == str((pd.Timestamp("2000-06-01") - pd.Timedelta(days=60)).date())
    assert _day(times, -1) == "2001-12-31"
    assert workflow.simulate().shape[0] == len(times) == workflow.observed.shape[0]


def test_a_validation_share_is_the_end_of_the_training_period(tmp_path):
    config = _config(train={"period": ["2000-03-01", "2000-12-31"], "validation": 0.25})
    workflow = _study(config, tmp_path).workflow
    times, slices = workflow.times_index(), workflow.split_slices()
    days = 306  # 2000-03-01 .. 2000-12-31
    assert _day(times, slices["validation"].stop - 1) == "2000-12-31"
    assert slices["validation"].stop - slices["validation"].start == round(0.25 * days)
    # without test.period, the held-out days are every later day of the data
    assert _day(times, slices["test"].start) == "2001-01-01"
    assert _day(times, slices["test"].stop - 1) == "2002-03-26"


@pytest.mark.parametrize(
    ("sections", "match"),
    [
        ({"train": {"period": ["1999-06-01", "2000-12-31"]}}, "train.period: day 1999-06-01"),
        (
            {
                "train": {"period": ["2000-06-01", "2001-12-31"]},
                "test": {"period": ["2002-01-01", "2003-01-01"]},
            },
            "test.period: day 2003-01-01 is outside the data",
        ),
        ({"train": {"period": ["2000-01-15", "2000-12-31"]}}, "model.warmup: 60 days"),
        ({"train": {"period": ["2000-06-01", "2002-03-26"]}}, "no held-out day"),
    ],
)
def test_periods_the_data_cannot_serve_are_refused(tmp_path, sections, match):
    with pytest.raises(ConfigError, match=match):
        _study(_config(**sections), tmp_path)


@pytest.mark.parametrize(
    ("sections", "match"),
    [
        (
            {
                "train": {"period": ["2000-06-01", "2001-03-31"]},
                "test": {"period": ["2001-03-01", "2001-12-31"]},
            },
            "starts 2001-03-01, inside train.period .*must not overlap; start it on 2001-04-01",
        ),
        (
            {
                "train": {"period": ["2000-06-01", "2001-03-31"]},
                "test": {"period": ["2000-01-01", "2000-05-31"]},
            },
            "test.period starts 2000-01-01, before train.period",
        ),
        (
            {
                "train": {"period": ["2000-06-01", "2001-03-31"]},
                "test": {"period": ["2001-05-01", "2001-12-31"]},
            },
            "leaving a gap",
        ),
        (
            {
                "train": {
                    "period": ["2000-06-01", "2001-03-31"],
                    "validation": {"period": ["2001-01-01", "2001-06-30"]},
                }
            },
            "train.validation.period starts 2001-01-01, inside train.period",
        ),
        ({"train": {"period": ["2001-06-01", "2000-03-31"]}}, "first day 2001-06-01 is after"),
        ({"train": {"period": ["2000-06-01", "2001-03-31"], "split": 0.5}}, "not both"),
        ({"test": {"period": ["2001-07-01", "2001-12-31"]}}, "test.period needs train.period"),
    ],
)
def test_overlapping_or_misordered_periods_are_refused(sections, match):
    with pytest.raises(ValidationError, match=match):
        StudyConfig.model_validate(_config(**sections))


def test_periods_need_dated_data():
    config = {
        "data": {"path": "data.csv"},
        "model": {"type": "ode", "states": ["x"], "equations": {"x": "-x"}},
        "train": {"period": ["2000-01-01", "2000-12-31"]},
    }
    with pytest.raises(ValidationError, match="ode model splits its time series by train.split"):
        StudyConfig.model_validate(config)


def test_spinup_repeats_the_first_year_and_leaves_the_scored_days_alone(tmp_path):
    periods = {"period": ["2000-01-01", "2001-06-30"]}
    plain = _study(_config(model={"warmup": 0}, train=periods), tmp_path).workflow
    config = _config(model={"spinup": 2}, train=periods)
    del config["model"]["warmup"]
    spun = _study(config, tmp_path).workflow
    assert spun.warmup == 0  # the spin-up replaces the default warm-up
    assert np.array_equal(spun.times_index(), plain.times_index())
    assert spun.split_slices() == plain.split_slices()
    with torch.no_grad():
        simulated = spun.simulate()[..., 0]
        forcings = {n: getattr(spun, f"forcing_{n}") for n in FORCINGS}
        repeated = {n: torch.cat([f[:365], f[:365], f]) for n, f in forcings.items()}
        by_hand = HBV(routing=False)(repeated, spun.parameters_by_name(), warmup=730)
        assert simulated.shape == plain.simulate()[..., 0].shape
        torch.testing.assert_close(simulated, by_hand.streamflow)
        # the stores start filled: the first days differ from a run from empty stores
        assert not torch.allclose(simulated[:30], plain.simulate()[:30, :, 0])
