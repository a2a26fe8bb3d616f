"""The variants of a study: what each is (its slots) and what it simulated."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch

from discover.distill.pareto import Candidate
from discover.models.base import HybridModel
from discover.processes import Process, Symbolic
from discover.workflows.base import Workflow


@dataclass
class Variant:
    """One recorded variant.

    Attributes:
        name: e.g. ``physics``, ``neural``, ``symbolic``, a hypothesis or an alternative.
        simulation: simulated observed variables [time, site, variable].
        slots: a copy of its model's slots ``{slot: process}`` when it was recorded.
        parameters: its static model parameters in physical units ``{name: [site, set]}``
            (HBV parameters, ``set`` over ``model.nmul``; empty for a model without them).
    """

    name: str
    simulation: np.ndarray
    slots: dict[str, Process] = field(default_factory=dict)
    parameters: dict[str, np.ndarray] = field(default_factory=dict)


class Variants:
    """Ordered registry of a study's variants; recording a name again replaces it."""

    def __init__(self) -> None:
        self._variants: dict[str, Variant] = {}

    def record(self, name: str, workflow: Workflow) -> None:
        """Simulate ``workflow`` over the whole period and keep it as variant ``name``; the
        clipping its equations count is that of this simulation alone (not of a search)."""
        for process in workflow.model.slots.values():
            if isinstance(process, Symbolic):
                process.clip_counts.zero_()
        with torch.no_grad():
            simulation = workflow.simulate().cpu().numpy()
        slots = {k: copy.deepcopy(v) for k, v in workflow.model.slots.items()}
        self._variants[name] = Variant(name, simulation, slots, static_parameters(workflow))

    @property
    def simulations(self) -> dict[str, np.ndarray]:
        """``{variant: [time, site, variable]}`` in recording order."""
        return {name: v.simulation for name, v in self._variants.items()}

    @property
    def slots(self) -> dict[str, dict[str, Process]]:
        """``{variant: {slot: process}}`` in recording order."""
        return {name: v.slots for name, v in self._variants.items()}

    @property
    def parameters(self) -> dict[str, dict[str, np.ndarray]]:
        """``{variant: {parameter: [site, set]}}`` in recording order."""
        return {name: v.parameters for name, v in self._variants.items()}

    def __len__(self) -> int:
        return len(self._variants)


def static_parameters(workflow: Workflow) -> dict[str, np.ndarray]:
    """``workflow``'s static model parameters ``{name: [site, set]}`` in physical units,
    for a workflow that has them (``parameters_by_name``); parameters varying in time are
    left out."""
    by_name = getattr(workflow, "parameters_by_name", None)
    if by_name is None:
        return {}
    with torch.no_grad():
        values = by_name()
    return {n: v.detach().cpu().numpy() for n, v in values.items() if v.dim() == 2}


def alternative_name(slot: str, candidate: Candidate) -> str:
    """Variant name of a reinserted front candidate other than the selected one."""
    return f"symbolic:{slot}:{candidate.complexity}"


def variant_kind(model: HybridModel) -> str:
    """``neural`` if a slot of ``model`` is neural, else ``symbolic`` if one is, else
    ``physics``."""
    kinds = set(model.slot_kinds().values())
    return next((k for k in ("neural", "symbolic") if k in kinds), "physics")
