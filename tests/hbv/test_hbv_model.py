"""HBV: water balance, non-negative storages, warm-up, slots, parameters and gradients."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from discover.models.base import SlotError
from discover.models.hbv import FLUXES, HBV
from discover.models.hbv_processes import HBV_BOUNDS, STATES
from discover.processes import Neural, Physical, Symbolic


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    days=st.integers(2, 120),
    sites=st.integers(1, 4),
    nmul=st.integers(1, 3),
    smooth=st.sampled_from([None, 0.05, 1.0]),
    betaet=st.booleans(),
    dynamic=st.booleans(),
    warmup_share=st.floats(0.0, 0.9),
    capillary=st.booleans(),
)
def test_water_balance_closes_and_storages_stay_nonnegative(
    weather_maker,
    parameter_maker,
    seed,
    days,
    sites,
    nmul,
    smooth,
    betaet,
    dynamic,
    warmup_share,
    capillary,
):
    model = HBV(smooth=smooth, betaet=betaet, capillary=capillary)
    forcings = weather_maker(days, sites, seed=seed)
    parameters = parameter_maker(model.parameter_names(), sites, nmul, seed=seed + 1)
    if dynamic:  # every parameter but routing varies from day to day
        gen = torch.Generator().manual_seed(seed + 2)
        for name in ("fc", "beta", "k1", "tt", "perc"):
            bound = HBV_BOUNDS[name]
            share = torch.rand(days, sites, nmul, generator=gen, dtype=torch.float64)
            parameters[name] = bound.low + (bound.high - bound.low) * share
    initial = {name: torch.rand(sites, nmul, dtype=torch.float64) * 50 for name in STATES}
    warmup = int(warmup_share * (days - 1))
    out = model(forcings, parameters, warmup=warmup, initial_states=initial)

    assert out.water_balance().abs().max() < 1e-4
    for name in STATES:
        assert out.states[name].min() >= 0, name
    for name in FLUXES:
        assert out.fluxes[name].shape == (days - warmup, sites, nmul)
        assert out.fluxes[name].min() >= -1e-12, name
    assert out.streamflow.shape == (days - warmup, sites)


def test_balance_holds_with_slots_that_return_out_of_range_values(weather_maker, parameter_maker):
    """A symbolic process may return negative or too large values: the model clips them."""
    model = HBV()
    model.set_slot("evapotranspiration", Symbolic("pet - 2", ["pet"]))
    model.set_slot("recharge", Symbolic("2*soil_wetness", ["soil_wetness"]))
    model.set_slot("baseflow", Symbolic("3*lower_zone - 1", ["lower_zone"]))
    forcings = weather_maker(200, 2, seed=3)
    parameters = parameter_maker(model.parameter_names(), 2, 2, seed=3)
    out = model(forcings, parameters)
    assert out.water_balance().abs().max() < 1e-8
    assert min(float(out.states[name].min()) for name in STATES) >= 0
    assert float(out.fluxes["evapotranspiration"].min()) >= 0
    assert float((out.fluxes["recharge"] - out.fluxes["infiltration"]).max()) <= 1e-12


def test_routing_delays_runoff_and_conserves_it(weather_maker, parameter_maker):
    model = HBV()
    forcings = weather_maker(120, 2, seed=4)
    for name in ("precipitation", "pet"):
        forcings[name][60:] = 0.0  # a dry tail: the routed water all comes out
    parameters = parameter_maker(model.parameter_names(), 2, 1, seed=4)
    parameters["k2"] = torch.full((2, 1), 0.2, dtype=torch.float64)
    out = model(forcings, parameters)
    runoff = out.fluxes["runoff"].mean(-1)
    in_kernel = runoff[-model.route_days :].sum(0)  # upper bound of what is still routed
    assert torch.allclose(out.streamflow.sum(0), runoff.sum(0), atol=float(in_kernel.max()))
    lag = (torch.arange(120.0)[:, None] * out.streamflow).sum(0) / out.streamflow.sum(0)
    lag_unrouted = (torch.arange(120.0)[:, None] * runoff).sum(0) / runoff.sum(0)
    assert bool((lag > lag_unrouted).all())


def test_warmup_drops_leading_days_and_carries_states(weather_maker, parameter_maker):
    model = HBV()
    forcings = weather_maker(100, 2, seed=5)
    parameters = parameter_maker(model.parameter_names(), 2, 3, seed=5)
    full = model(forcings, parameters)
    later = model(forcings, parameters, warmup=30)
    assert torch.allclose(later.streamflow, full.streamflow[30:])
    assert torch.allclose(later.states["soil_moisture"], full.states["soil_moisture"][30:])
    assert torch.allclose(later.initial_states["lower_zone"], full.states["lower_zone"][29])
    assert list(later.fluxes) == list(FLUXES) and list(later.states) == list(STATES)
    assert all(later.fluxes[name].shape == (70, 2, 3) for name in FLUXES)
    with pytest.raises(KeyError, match="no series 'interception'"):
        later.fluxes["interception"]


def test_warmup_runs_without_gradient_unless_asked(weather_maker, parameter_maker):
    forcings = weather_maker(60, 1, seed=6)
    grads = []
    for warmup_grad in (False, True):
        model = HBV(warmup_grad=warmup_grad)
        parameters = parameter_maker(model.parameter_names(), 1, 1, seed=6)
        parameters["k2"].requires_grad_(True)
        out = model(forcings, parameters, warmup=59)
        out.streamflow.sum().backward()
        grads.append(float(parameters["k2"].grad.abs().sum()))
    assert grads[0] < grads[1]


def test_parameter_sets_are_averaged(weather_maker, parameter_maker):
    model = HBV()
    forcings = weather_maker(80, 2, seed=7)
    single = parameter_maker(model.parameter_names(), 2, 1, seed=7)
    repeated = {name: value.expand(2, 4) for name, value in single.items()}
    assert torch.allclose(model(forcings, single).streamflow, model(forcings, repeated).streamflow)
    static_1d = {name: value[:, 0] for name, value in single.items()}
    assert torch.allclose(model(forcings, single).streamflow, model(forcings, static_1d).streamflow)


def test_constant_dynamic_parameters_equal_static_ones(weather_maker, parameter_maker):
    model = HBV()
    forcings = weather_maker(50, 2, seed=8)
    static = parameter_maker(model.parameter_names(), 2, 2, seed=8)
    dynamic = dict(static)
    for name in ("beta", "fc", "k0", "cfmax"):
        dynamic[name] = static[name].expand(50, 2, 2)
    assert torch.allclose(model(forcings, static).streamflow, model(forcings, dynamic).streamflow)


def test_slots_seeing_no_state_are_evaluated_once_with_the_same_result(
    weather_maker, parameter_maker
):
    """The whole-series path (snowmelt sees no state) equals the daily path."""

    def melt_ignoring_snow(temperature, tt, cfmax, snowpack):
        return cfmax * torch.relu(temperature - tt) + 0 * snowpack

    forcings = weather_maker(150, 2, seed=9)
    fast = HBV()
    daily = HBV()
    daily.set_slot(
        "snowmelt",
        Physical(melt_ignoring_snow, ["temperature", "tt", "cfmax", "snowpack"], None, ">=0"),
    )
    parameters = parameter_maker(fast.parameter_names(), 2, 2, seed=9)
    a, b = fast(forcings, parameters), daily(forcings, parameters)
    assert float(a.fluxes["snowmelt"].sum()) > 0
    assert torch.allclose(a.fluxes["snowmelt"], b.fluxes["snowmelt"])
    assert torch.allclose(a.streamflow, b.streamflow)


def test_neural_slot_trains_and_records_its_domain(weather_maker, parameter_maker):
    model = HBV()
    network = Neural(["pet", "soil_wetness"], ">=0", hidden=(8,))
    model.set_slot("evapotranspiration", network)
    assert "lp" not in model.parameter_names()
    forcings = {k: v.float() for k, v in weather_maker(40, 3, seed=10).items()}
    parameters = {
        k: v.float() for k, v in parameter_maker(model.parameter_names(), 3, 2, seed=10).items()
    }
    network.start_recording()
    out = model(forcings, parameters)
    inputs, outputs = network.stop_recording()
    assert inputs.shape == (40 * 3 * 2, 2) and outputs.shape == (40 * 3 * 2,)
    assert float(inputs[:, 1].min()) >= 0 and float(inputs[:, 1].max()) <= 1
    out.streamflow.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in network.parameters())


def test_a_recording_slot_gives_the_same_run(weather_maker, parameter_maker):
    """Recording slots go through ``forward``, the others are evaluated directly."""
    model = HBV()
    network = Neural(["pet", "soil_wetness"], ">=0", hidden=(8,))
    model.set_slot("evapotranspiration", network)
    forcings = weather_maker(30, 2, seed=14)
    parameters = parameter_maker(model.parameter_names(), 2, 2, seed=14)
    model.double()
    direct = model(forcings, parameters).streamflow
    network.start_recording()
    recorded = model(forcings, parameters).streamflow
    inputs, _ = network.stop_recording()
    assert inputs.shape == (30 * 2 * 2, 2)
    assert torch.equal(direct, recorded)


@pytest.mark.parametrize("smooth, expect_gradient", [(None, False), (2.0, True)])
def test_smooth_threshold_keeps_a_gradient_below_uzl(
    weather_maker, parameter_maker, smooth, expect_gradient
):
    model = HBV(smooth=smooth)
    forcings = weather_maker(100, 2, seed=11)
    parameters = parameter_maker(model.parameter_names(), 2, 1, seed=11)
    parameters["uzl"] = torch.full((2, 1), 95.0, dtype=torch.float64, requires_grad=True)
    parameters["k1"] = torch.full((2, 1), 0.5, dtype=torch.float64)  # keeps the upper zone low
    out = model(forcings, parameters)
    assert float(out.states["upper_zone"].detach().max()) < 95.0
    out.streamflow.sum().backward()
    assert (float(parameters["uzl"].grad.abs().sum()) > 0) == expect_gradient


def test_every_parameter_receives_a_gradient(weather_maker, parameter_maker):
    model = HBV(smooth=1.0, betaet=True)
    forcings = weather_maker(200, 2, seed=12)
    parameters = parameter_maker(model.parameter_names(), 2, 2, seed=12)
    for value in parameters.values():
        value.requires_grad_(True)
    model(forcings, parameters).streamflow.sum().backward()
    silent = [name for name, value in parameters.items() if float(value.grad.abs().sum()) == 0]
    assert silent == []


def test_bad_inputs_are_named(weather_maker, parameter_maker):
    model = HBV()
    forcings = weather_maker(30, 2)
    parameters = parameter_maker(model.parameter_names(), 2, 1)
    with pytest.raises(KeyError, match="'k0'"):
        model(forcings, {k: v for k, v in parameters.items() if k != "k0"})
    with pytest.raises(KeyError, match="kappa"):
        model(forcings, {**parameters, "kappa": parameters["k0"]})
    with pytest.raises(ValueError, match="'fc'"):
        model(forcings, {**parameters, "fc": torch.ones(5, 1)})
    with pytest.raises(ValueError, match="'perc'.*outside its bounds"):
        model(forcings, {**parameters, "perc": -parameters["perc"] - 1})
    with pytest.raises(ValueError, match="routing"):
        model(forcings, {**parameters, "route_shape": torch.ones(30, 2, 1)})
    with pytest.raises(KeyError, match="pet"):
        model({k: v for k, v in forcings.items() if k != "pet"}, parameters)
    with pytest.raises(ValueError, match="NaN"):
        model({**forcings, "temperature": forcings["temperature"] * float("nan")}, parameters)
    with pytest.raises(ValueError, match="warmup"):
        model(forcings, parameters, warmup=30)
    with pytest.raises(SlotError, match="snowpack"):
        model.set_slot("baseflow", Neural(["lower_zone", "snowpack"], ">=0"))
    with pytest.raises(SlotError, match="unknown slot"):
        model.set_slot("interception", Neural(["pet"], ">=0"))


def test_without_routing_streamflow_is_mean_runoff(weather_maker, parameter_maker):
    model = HBV(routing=False)
    assert "route_shape" not in model.parameter_names()
    forcings = weather_maker(40, 2, seed=13)
    out = model(forcings, parameter_maker(model.parameter_names(), 2, 3, seed=13))
    assert torch.allclose(out.streamflow, out.fluxes["runoff"].mean(-1))
