"""Textbook HBV processes and unit-hydrograph routing, checked against hand calculations."""

from __future__ import annotations

import pytest
import torch

from discover.models.hbv_processes import SLOT_INPUTS, ramp, textbook
from discover.models.routing import route, unit_hydrograph


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def test_textbook_values():
    melt = textbook("snowmelt")(
        {"temperature": t(-1.0, 3.0), "tt": t(0.0, 1.0), "cfmax": t(4.0, 4.0)}
    )
    assert torch.allclose(melt, t(0.0, 8.0))
    refreeze = textbook("refreeze")(
        {"temperature": t(-2.0, 3.0), "tt": t(0.0, 0.0), "cfmax": t(4.0, 4.0), "cfr": t(0.05, 0.05)}
    )
    assert torch.allclose(refreeze, t(0.4, 0.0))
    fraction = textbook("recharge")({"soil_wetness": t(0.5, 1.0), "beta": t(2.0, 3.0)})
    assert torch.allclose(fraction, t(0.25, 1.0))
    et = textbook("evapotranspiration")(
        {"pet": t(2.0, 2.0), "soil_wetness": t(0.35, 0.9), "lp": t(0.7, 0.7)}
    )
    assert torch.allclose(et, t(1.0, 2.0))
    shaped = textbook("evapotranspiration", betaet=True)(
        {"pet": t(2.0), "soil_wetness": t(0.35), "lp": t(0.7), "betaet": t(2.0)}
    )
    assert torch.allclose(shaped, t(0.5))
    quick = textbook("quickflow")(
        {"upper_zone": t(30.0, 10.0), "uzl": t(20.0, 20.0), "k0": t(0.1, 0.1), "k1": t(0.05, 0.05)}
    )
    assert torch.allclose(quick, t(2.5, 0.5))
    assert torch.allclose(textbook("baseflow")({"lower_zone": t(40.0), "k2": t(0.01)}), t(0.4))


def test_smooth_threshold_approaches_the_hard_one_and_stays_positive():
    inputs = {"temperature": t(-3.0, 0.0, 3.0), "tt": t(0.0, 0.0, 0.0), "cfmax": t(1.0, 1.0, 1.0)}
    hard = textbook("snowmelt")(inputs)
    for smooth in (1.0, 0.1, 0.01):
        soft = textbook("snowmelt", smooth=smooth)(inputs)
        assert bool((soft > 0).all())
        assert float((soft - hard).abs().max()) <= smooth * 0.7  # τ·log 2 at the kink


def test_unit_hydrograph_is_a_normalised_gamma():
    shape, scale = t(2.0, 3.0)[:, None], t(1.5, 2.0)[:, None]
    weights = unit_hydrograph(textbook("routing"), shape, scale, days=40)
    assert weights.shape == (40, 2, 1)
    assert torch.allclose(weights.sum(0), torch.ones(2, 1, dtype=torch.float64))
    mean_lag = ((torch.arange(40.0, dtype=torch.float64) + 0.5)[:, None, None] * weights).sum(0)
    assert torch.allclose(mean_lag, shape * scale, rtol=0.05)  # gamma mean = shape·scale
    assert int(weights[:, 0, 0].argmax()) == 1  # mode (shape − 1)·scale = 1.5 days


def test_route_is_a_causal_convolution():
    runoff = torch.zeros(10, 1, dtype=torch.float64)
    runoff[2] = 1.0
    weights = t(0.5, 0.3, 0.2)[:, None]
    routed = route(runoff, weights)
    assert torch.allclose(routed[:, 0], t(0, 0, 0.5, 0.3, 0.2, 0, 0, 0, 0, 0))


def test_route_gradients_match_finite_differences_and_a_sum_of_shifted_copies():
    gen = torch.Generator().manual_seed(0)
    runoff = torch.rand(30, 3, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    weights = torch.rand(6, 3, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(route, (runoff, weights))
    padded = torch.nn.functional.pad(runoff, (0, 0, 0, 0, 5, 0))
    shifted = sum(weights[k] * padded[5 - k : 35 - k] for k in range(6))
    assert torch.allclose(route(runoff, weights), shifted)
    # a kernel shared by the parameter sets ([lag, site, 1]) gets the sum of their gradients
    shared = weights[:, :, :1].detach().requires_grad_(True)
    route(runoff.detach(), shared).pow(2).sum().backward()
    expanded = shared.detach().expand(6, 3, 2).requires_grad_(True)
    route(runoff.detach(), expanded).pow(2).sum().backward()
    assert torch.allclose(shared.grad, expanded.grad.sum(-1, keepdim=True))


def test_unknown_slot_is_named():
    with pytest.raises(ValueError, match="interception"):
        textbook("interception")
    assert set(SLOT_INPUTS) == {
        "snowmelt",
        "refreeze",
        "recharge",
        "evapotranspiration",
        "percolation",
        "quickflow",
        "baseflow",
        "routing",
    }


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_unit_smoothing_ramp_is_the_scaled_softplus_bit_for_bit(dtype):
    x = torch.linspace(-40.0, 40.0, 4001, dtype=dtype, requires_grad=True)
    one = torch.tensor(1.0, dtype=dtype)  # a tensor: no shortcut on the reference side
    wanted = one * torch.nn.functional.softplus(x / one)
    got = ramp(x, 1.0)
    assert torch.equal(got, wanted)
    weights = torch.rand(x.shape, dtype=dtype, generator=torch.Generator().manual_seed(0))
    (grad_got,) = torch.autograd.grad((got * weights).sum(), x)
    (grad_wanted,) = torch.autograd.grad((wanted * weights).sum(), x)
    assert torch.equal(grad_got, grad_wanted)
