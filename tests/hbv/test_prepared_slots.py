"""The daily loop calls neural and symbolic slots through functions prepared once per run
(:meth:`~discover.processes.base.Process.function`, bound by
:meth:`~discover.models.hbv_step.Plan.bind`): the same run as calling the slot modules
every day (what a recording slot does). A symbolic slot gives the same values and, up to
the order in which its constants' gradients add up, the same gradients; a network the same
up to rounding (its standardisation is folded into its first layer)."""

from __future__ import annotations

import pytest
import torch

from discover.models.hbv import FLUXES, HBV
from discover.models.hbv_processes import STATES
from discover.processes import Neural, Symbolic


def slots(kind: str, dtype: torch.dtype) -> dict:
    """Daily slots of ``kind``, one of them bounded by an input (``0 <= out <= pet``)."""
    torch.manual_seed(0)
    if kind == "neural":
        et = Neural(["pet", "soil_wetness"], "0 <= out <= pet", hidden=(8, 8))
        et.set_normalisation({"pet": torch.rand(50) * 3, "soil_wetness": torch.rand(50)})
        quick = Neural(["upper_zone", "k1"], ">=0", hidden=(8,), activation="silu")
        found = {"evapotranspiration": et, "quickflow": quick}
    else:
        found = {
            "evapotranspiration": Symbolic(
                "pet*soil_wetness**b", ["pet", "soil_wetness"], {"b": 0.5}, "0 <= out <= pet"
            ),
            "baseflow": Symbolic("k2*lower_zone**1.1", ["lower_zone", "k2"], output_range=">=0"),
            "recharge": Symbolic("soil_wetness**beta", ["soil_wetness", "beta"], None, "[0, 1]"),
        }
    return {name: process.to(dtype) for name, process in found.items()}


def run(model: HBV, forcings: dict, parameters: dict, recording: bool) -> tuple:
    """Streamflow, fluxes and storages of a run and the gradients of a loss over them
    (HBV parameters, then the slots' own), with the slots recording or not."""
    for slot in model.slots.values():
        if recording:
            slot.start_recording()
    parameters = {k: v.detach().clone().requires_grad_(True) for k, v in parameters.items()}
    out = model(forcings, parameters, warmup=30)
    for slot in model.slots.values():
        if slot.recording:
            slot.stop_recording()
    values = [out.streamflow, *(out.fluxes[n] for n in FLUXES), *(out.states[n] for n in STATES)]
    loss = out.streamflow.square().mean() + out.fluxes["evapotranspiration"].mean()
    own = list(model.parameters())
    grads = torch.autograd.grad(loss, [*parameters.values(), *own])
    return [v.detach() for v in values], grads[: len(parameters)], grads[len(parameters) :]


@pytest.mark.parametrize("kind", ["neural", "symbolic"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_prepared_slots_run_like_the_slot_modules(weather_maker, parameter_maker, kind, dtype):
    model = HBV(smooth=0.5, capillary=True)
    for name, process in slots(kind, dtype).items():
        model.set_slot(name, process)
    forcings = {k: v.to(dtype) for k, v in weather_maker(160, 2, seed=4).items()}
    parameters = {
        k: v.to(dtype) for k, v in parameter_maker(model.parameter_names(), 2, 3, seed=4).items()
    }
    prepared, modules = (run(model, forcings, parameters, recording) for recording in (False, True))
    assert float(prepared[0][FLUXES.index("evapotranspiration") + 1].sum()) > 0
    rtol = 1e-12 if dtype == torch.float64 else 1e-4
    for got, wanted in zip(prepared[0], modules[0], strict=True):
        if kind == "symbolic":
            assert torch.equal(got, wanted)
        else:
            torch.testing.assert_close(got, wanted, rtol=rtol, atol=rtol)
    for got_grads, wanted_grads in zip(prepared[1:], modules[1:], strict=True):
        for got, wanted in zip(got_grads, wanted_grads, strict=True):
            assert float(wanted.abs().sum()) > 0
            torch.testing.assert_close(got, wanted, rtol=100 * rtol, atol=rtol * wanted.abs().max())
