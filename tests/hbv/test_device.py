"""``device: cuda``: no tensor is made on the CPU behind the model's back.

There is no GPU here, so the runs below are on the CPU under a mode that records every
call of a torch factory (``torch.zeros``, ``torch.arange``, ``torch.tensor``, ...) made
without ``device=``: such a tensor would land on the CPU while the model runs on a GPU.
Tensors made with ``new_*``/``*_like`` or moved as buffers follow the model's device.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode

from discover.config import parse_config
from discover.models.hbv import HBV
from discover.models.parameters import AttributeMLP, SiteParameters
from discover.processes import Neural
from discover.workflows.hbv import HBVWorkflow

FACTORIES = {
    torch.zeros,
    torch.ones,
    torch.empty,
    torch.full,
    torch.arange,
    torch.linspace,
    torch.eye,
    torch.tensor,
    torch.as_tensor,
    torch.scalar_tensor,
    torch.rand,
    torch.randn,
    torch.randint,
}


class FactoryCalls(TorchFunctionMode):
    """Records ``(function name, caller)`` of factory calls without a ``device``."""

    def __init__(self) -> None:
        super().__init__()
        self.without_device: list[tuple[str, str]] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in FACTORIES and kwargs.get("device") is None:
            caller = traceback.extract_stack(limit=2)[0]
            self.without_device.append((func.__name__, f"{caller.filename}:{caller.lineno}"))
        return func(*args, **kwargs)


def test_the_recorder_sees_a_factory_call_without_device():
    with FactoryCalls() as calls:
        torch.zeros(2)
        torch.zeros(2, device="cpu")
    assert [name for name, _ in calls.without_device] == ["zeros"]


def test_hbv_with_neural_slot_and_learners_makes_no_cpu_tensor(weather_maker):
    forcings = {k: v.float() for k, v in weather_maker(40, 3, seed=1).items()}
    for spinup, learner in [(True, "attributes"), (False, "site")]:
        model = HBV(smooth=0.5, betaet=True, spinup=spinup)
        model.set_slot("recharge", Neural(["soil_wetness", "pet"], "[0, 1]", hidden=(8,)))
        names = model.parameter_names()
        attributes = torch.randn(3, 2)
        learn = AttributeMLP(2, names, nmul=2, hidden=(8,)) if learner == "attributes" else None
        sites = SiteParameters(3, names, nmul=2)
        with FactoryCalls() as calls:
            parameters = learn(attributes) if learn is not None else sites()
            out = model(forcings, parameters, warmup=10)
            (out.streamflow.sum() + out.water_balance().sum()).backward()
            _ = {name: out.fluxes[name] for name in out.fluxes}
        assert calls.without_device == [], calls.without_device


def test_hbv_workflow_runs_and_scores_without_cpu_tensors():
    config = {
        "seed": 0,
        "data": {"source": "twin", "sites": 3, "days": 60},
        "model": {
            "type": "hbv",
            "warmup": 10,
            "nmul": 2,
            "neural": {"evapotranspiration": {"inputs": ["pet", "soil_wetness"]}},
        },
        "train": {"split": 0.5},
    }
    workflow = HBVWorkflow(parse_config(config), Path("."))  # built on the CPU, then moved
    with FactoryCalls() as calls:
        workflow.loss("train").backward()
        flow = workflow.simulate()
    assert calls.without_device == [], calls.without_device
    assert flow.shape == (60, 3, 1) and bool(flow[:10].isnan().all())
