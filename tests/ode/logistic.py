"""Logistic growth ``x' = rate·x·(1 − x/capacity)`` as the data of an ODE study
``x' = F(x)`` with a network ``F``, trained by multiple shooting (the default)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from discover.config import StudyConfig
from discover.workflows.ode import ODEWorkflow


def logistic(times: np.ndarray, x0: float, rate: float, capacity: float) -> np.ndarray:
    """The solution of ``x' = rate*x*(1 - x/capacity)`` from ``x0`` at ``times`` [time]."""
    growth = np.exp(rate * times)
    return capacity * x0 * growth / (capacity + x0 * (growth - 1))


def logistic_study(folder: Path, times: np.ndarray, x: np.ndarray) -> ODEWorkflow:
    """The study ``x' = F(x)`` (``F`` a network of ``x``) of the trajectory ``x`` [time]
    observed at ``times`` [time], its data written to ``folder/data.csv``."""
    data = np.column_stack([times, x])
    np.savetxt(folder / "data.csv", data, delimiter=",", header="t,x", comments="")
    config = StudyConfig.model_validate(
        {
            "data": {"path": str(folder / "data.csv"), "time": "t"},
            "model": {
                "type": "ode",
                "states": ["x"],
                "equations": {"x": "F(x)"},
                "neural": {"F": {"inputs": ["x"]}},
            },
        }
    )
    return ODEWorkflow(config, folder)


def start_segments_on(workflow: ODEWorkflow, x: np.ndarray) -> None:
    """Set ``workflow``'s multiple-shooting segment starts to the trajectory ``x`` [time]
    at their times, e.g. where a poor model's trajectory runs."""
    shooting = workflow.shooting
    with torch.no_grad():
        shooting.segment_states.copy_(torch.as_tensor(x[shooting.starts[1:]]).reshape(-1, 1, 1))
