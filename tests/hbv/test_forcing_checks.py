"""HBV's forcing checks: every non-finite or negative value is found, wherever it is."""

from __future__ import annotations

import pytest
import torch

from discover.models.hbv import HBV
from discover.models.hbv_inputs import check_forcings
from discover.models.hbv_processes import FORCINGS, HBV_BOUNDS


def forcings(days: int = 40, sites: int = 3) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {
        "precipitation": torch.rand(days, sites, generator=gen, dtype=torch.float64) * 10,
        "temperature": torch.randn(days, sites, generator=gen, dtype=torch.float64) * 5,
        "pet": torch.rand(days, sites, generator=gen, dtype=torch.float64) * 3,
    }


@pytest.mark.parametrize("name", FORCINGS)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_value_anywhere_is_refused(name: str, bad: float) -> None:
    given = forcings()
    given[name][27, 2] = bad  # neither the first nor the last value
    with pytest.raises(ValueError, match=f"forcing '{name}' contains NaN or inf"):
        check_forcings(given)


@pytest.mark.parametrize("name", ["precipitation", "pet"])
def test_negative_precipitation_or_pet_is_refused(name: str) -> None:
    given = forcings()
    given[name][13, 1] = -1e-9
    with pytest.raises(ValueError, match="must be >= 0"):
        check_forcings(given)


def test_valid_forcings_pass_unchanged_and_temperature_may_be_negative() -> None:
    given = forcings()
    given["temperature"][5, 0] = -30.0
    given["precipitation"][6, 0] = 0.0
    checked = check_forcings(given)
    assert all(a is given[n] for a, n in zip(checked, FORCINGS, strict=True))


def test_the_model_refuses_a_forcing_with_nan_in_float32() -> None:
    model = HBV()
    given = {k: v.float() for k, v in forcings().items()}
    given["pet"][30, 1] = float("nan")
    parameters = {
        n: torch.full((3, 1), (HBV_BOUNDS[n].low + HBV_BOUNDS[n].high) / 2)
        for n in model.parameter_names()
    }
    with pytest.raises(ValueError, match="'pet' contains NaN"):
        model(given, parameters)
