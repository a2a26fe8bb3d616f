"""HBV's daily loop takes what each slot needs once per gradient phase of a run, not once
a day: a neural or symbolic slot's prepared function (``Process.function``), a physical
slot's parameters (``Physical.keywords``); no slot that is not recording is called
through ``Process.evaluate`` or its module call inside the loop. A physical slot with a
learnable parameter then runs exactly as the same slot recording (through its module
call), values and gradients."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from discover.models.hbv import FLUXES, HBV
from discover.models.hbv_processes import STATES, baseflow
from discover.processes import Neural, Physical, Symbolic
from discover.processes.base import Process


def scaled_baseflow(lower_zone, k2, factor):
    """Textbook baseflow times a learnable ``factor``."""
    return factor * baseflow(lower_zone, k2)


def slot(kind: str) -> tuple[str, Process]:
    """A daily slot of ``kind`` (it reads a storage, so it is called every day)."""
    torch.manual_seed(0)
    if kind == "neural":
        return "evapotranspiration", Neural(["pet", "soil_wetness"], "0 <= out <= pet", (8,))
    if kind == "symbolic":
        inputs = ["pet", "soil_wetness"]
        return "evapotranspiration", Symbolic("pet*soil_wetness**b", inputs, {"b": 0.5})
    return "baseflow", Physical(scaled_baseflow, ["lower_zone", "k2"], {"factor": 1.2}, ">=0")


def counted_run(kind: str, days: int, grad: bool, weather_maker, parameter_maker) -> Counter:
    """How often a run of ``days`` calls the slot's preparations and its per-call paths."""
    model = HBV(smooth=0.5)
    name, process = slot(kind)
    model.set_slot(name, process.double())
    calls: Counter = Counter()
    for method in ("function", "keywords", "evaluate", "forward"):
        if hasattr(process, method):
            original = getattr(process, method)

            def counting(*args, _original=original, _method=method, **kwargs):
                calls[_method] += 1
                return _original(*args, **kwargs)

            object.__setattr__(process, method, counting)
    forcings = weather_maker(days, 2, seed=1)
    parameters = parameter_maker(model.parameter_names(), 2, 3, seed=1)
    with torch.set_grad_enabled(grad):
        out = model(forcings, parameters, warmup=10)
    assert float(out.fluxes[name].detach().sum()) > 0
    return calls


@pytest.mark.parametrize("kind", ["neural", "symbolic", "physical"])
@pytest.mark.parametrize("grad", [False, True])
def test_a_run_prepares_each_slot_once_not_once_a_day(weather_maker, parameter_maker, kind, grad):
    short, long = (
        counted_run(kind, days, grad, weather_maker, parameter_maker) for days in (30, 90)
    )
    prepared = "keywords" if kind == "physical" else "function"
    assert short[prepared] > 0
    assert short == long  # the same calls whatever the number of days
    assert short["evaluate"] == 0 and short["forward"] == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_physical_slot_with_a_parameter_runs_like_its_module_call(
    weather_maker, parameter_maker, dtype
):
    model = HBV(smooth=0.5, capillary=True)
    name, process = slot("physical")
    model.set_slot(name, process.to(dtype))
    forcings = {k: v.to(dtype) for k, v in weather_maker(120, 2, seed=2).items()}
    names = model.parameter_names()
    start = {k: v.to(dtype) for k, v in parameter_maker(names, 2, 3, seed=2).items()}
    runs = []
    for recording in (False, True):
        if recording:
            process.start_recording()
        parameters = {k: v.clone().requires_grad_(True) for k, v in start.items()}
        out = model(forcings, parameters, warmup=20)
        if recording:
            assert len(process.stop_recording()[1]) == 2 * 3 * 120  # every day, module call
        loss = out.streamflow.square().mean()
        grads = torch.autograd.grad(loss, [*parameters.values(), *process.parameters()])
        values = [
            out.streamflow,
            *(out.fluxes[n] for n in FLUXES),
            *(out.states[n] for n in STATES),
        ]
        runs.append(([v.detach() for v in values], grads))
    assert float(runs[0][1][-1].abs()) > 0  # the slot's own parameter gets a gradient
    for got, wanted in zip(*([*values, *grads] for values, grads in runs), strict=True):
        assert torch.equal(got, wanted)


def test_a_physical_parameter_named_like_an_input_is_refused():
    with pytest.raises(ValueError, match="both inputs and parameters"):
        Physical(scaled_baseflow, ["lower_zone", "k2"], {"k2": 0.1})
