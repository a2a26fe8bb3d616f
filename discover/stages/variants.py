"""The variants of a study: what each is (its slots) and what it simulated."""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from discover.distill.pareto import Candidate
from discover.models.base import HybridModel
from discover.processes import Process, Symbolic
from discover.processes.symbolic import ClipCount
from discover.validate.range_guard import RangeGuard, keep_in_range
from discover.workflows.base import Workflow

log = logging.getLogger("discover")


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
        clipping its equations count is that of this simulation alone (not of a search).

        An equation whose refitted constants leave its declared range at the inputs of
        that simulation is first taken back inside it (:func:`~discover.validate.
        range_guard.keep_in_range`; its ``range_guard`` says how, and a warning is
        logged), and the model simulated again."""
        simulation, guards = simulate_in_range(workflow)
        if guards:
            said = " ".join(f"{slot}: {g.sentence()}" for slot, g in guards.items())
            log.warning("%s: a refitted equation left its declared range; %s", name, said)
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


def range_guards(model: HybridModel) -> dict[str, RangeGuard]:
    """``{slot: what was done}`` for ``model``'s equations taken back into their declared
    ranges (:func:`~discover.validate.range_guard.keep_in_range`)."""
    return {
        slot: p.range_guard
        for slot, p in model.slots.items()
        if isinstance(p, Symbolic) and p.range_guard is not None
    }


def simulate_in_range(workflow: Workflow) -> tuple[np.ndarray, dict[str, RangeGuard]]:
    """``workflow``'s simulation [time, site, variable] with its equations in their
    declared ranges, and ``{slot: what was done}`` for those taken back
    (:func:`~discover.validate.range_guard.keep_in_range`, at the inputs each saw in the
    simulation; then the model is simulated again). Each equation's clip counts are
    those of the returned simulation alone."""
    bounded = {
        slot: p
        for slot, p in workflow.model.slots.items()
        if isinstance(p, Symbolic) and p.output_range.bounded
    }
    for process in bounded.values():
        process.range_guard = None
        process.start_recording()
    try:
        simulation = _simulation(workflow)
    finally:
        seen = {slot: p.stop_recording()[0].cpu().numpy() for slot, p in bounded.items()}
    known = workflow.model.input_bounds
    guards = {slot: keep_in_range(p, seen[slot], known) for slot, p in bounded.items()}
    guards = {slot: g for slot, g in guards.items() if g is not None}
    return (_simulation(workflow) if guards else simulation), guards


def _simulation(workflow: Workflow) -> np.ndarray:
    """``workflow``'s simulation [time, site, variable] without gradients, its equations'
    clip counts (:class:`~discover.processes.symbolic.ClipCount`) those of this simulation
    alone."""
    for process in workflow.model.slots.values():
        if isinstance(process, Symbolic):
            process.clip_counts.zero_()
    with torch.no_grad(), ClipCount():
        return workflow.simulate().cpu().numpy()
