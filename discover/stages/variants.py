"""The variants of a study: what each is (its slots) and what it simulated."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch

from discover.distill.pareto import Candidate
from discover.models.base import HybridModel
from discover.processes import Process
from discover.workflows.base import Workflow


@dataclass
class Variant:
    """One recorded variant.

    Attributes:
        name: e.g. ``physics``, ``neural``, ``symbolic``, a hypothesis or an alternative.
        simulation: simulated observed variables [time, site, variable].
        slots: a copy of its model's slots ``{slot: process}`` when it was recorded.
    """

    name: str
    simulation: np.ndarray
    slots: dict[str, Process] = field(default_factory=dict)


class Variants:
    """Ordered registry of a study's variants; recording a name again replaces it."""

    def __init__(self) -> None:
        self._variants: dict[str, Variant] = {}

    def record(self, name: str, workflow: Workflow) -> None:
        """Simulate ``workflow`` over the whole period and keep it as variant ``name``."""
        with torch.no_grad():
            simulation = workflow.simulate().cpu().numpy()
        slots = {k: copy.deepcopy(v) for k, v in workflow.model.slots.items()}
        self._variants[name] = Variant(name, simulation, slots)

    @property
    def simulations(self) -> dict[str, np.ndarray]:
        """``{variant: [time, site, variable]}`` in recording order."""
        return {name: v.simulation for name, v in self._variants.items()}

    @property
    def slots(self) -> dict[str, dict[str, Process]]:
        """``{variant: {slot: process}}`` in recording order."""
        return {name: v.slots for name, v in self._variants.items()}

    def __len__(self) -> int:
        return len(self._variants)


def alternative_name(slot: str, candidate: Candidate) -> str:
    """Variant name of a reinserted front candidate other than the selected one."""
    return f"symbolic:{slot}:{candidate.complexity}"


def variant_kind(model: HybridModel) -> str:
    """``neural`` if a slot of ``model`` is neural, else ``symbolic`` if one is, else
    ``physics``."""
    kinds = set(model.slot_kinds().values())
    return next((k for k in ("neural", "symbolic") if k in kinds), "physics")
