"""The daily loop's shortcuts give the run they replace: without gradients (outflows limited
by ``torch.minimum``) the same values as with them, and a parameter-free ``Physical`` slot,
called directly, the same run as the same function given a learnable parameter (whose values
the loop takes through ``Physical.keywords``)."""

from __future__ import annotations

import pytest
import torch

from discover.models.hbv import FLUXES, HBV
from discover.models.hbv_processes import STATES, baseflow, number
from discover.processes import Physical


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("smooth, capillary", [(None, False), (0.5, True)])
def test_a_run_without_gradients_has_the_values_of_one_with(
    weather_maker, parameter_maker, dtype, smooth, capillary
):
    model = HBV(smooth=smooth, capillary=capillary)
    forcings = {k: v.to(dtype) for k, v in weather_maker(200, 2, seed=3).items()}
    parameters = {
        k: v.to(dtype).requires_grad_(True)
        for k, v in parameter_maker(model.parameter_names(), 2, 3, seed=3).items()
    }
    with torch.no_grad():
        plain = model(forcings, parameters, warmup=30)
    tracked = model(forcings, parameters, warmup=30)
    assert tracked.streamflow.requires_grad and not plain.streamflow.requires_grad
    assert torch.equal(plain.streamflow, tracked.streamflow)
    for name in FLUXES:
        assert torch.equal(plain.fluxes[name], tracked.fluxes[name]), name
    for name in STATES:
        assert torch.equal(plain.states[name], tracked.states[name]), name


def test_a_parameter_free_physical_slot_runs_like_one_through_evaluate(
    weather_maker, parameter_maker
):
    def scaled_baseflow(lower_zone, k2, factor):
        return factor * baseflow(lower_zone, k2)

    direct, evaluated = HBV(), HBV()
    evaluated.set_slot(
        "baseflow",
        Physical(scaled_baseflow, ["lower_zone", "k2"], {"factor": 1.0}, ">=0").double(),
    )
    forcings = weather_maker(120, 2, seed=5)
    parameters = parameter_maker(direct.parameter_names(), 2, 2, seed=5)
    a, b = direct(forcings, parameters), evaluated(forcings, parameters)
    assert float(a.fluxes["baseflow"].sum()) > 0
    assert torch.equal(a.streamflow, b.streamflow)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_fixed_number_is_the_python_number_rounded_to_the_dtype(dtype):
    x = torch.linspace(-3.0, 7.0, 1001, dtype=dtype)
    value = 1.0 / 0.6931471805599453
    assert number(value, x).dtype == dtype and number(value, x) is number(value, x)
    assert torch.equal(x * number(value, x), x * value)
    assert torch.equal(number(1.0, x) - x, 1.0 - x)
