"""Fresh models of a study's config over data loaded once (one per variant, fold or
shortlisted candidate), with chosen slots replaced."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import xarray as xr

from discover.config import StudyConfig
from discover.distill.pareto import Candidate, ParetoFront
from discover.hypotheses import hypothesis_process
from discover.models.parameters import SiteParameters
from discover.processes import Process, Symbolic
from discover.stages.variants import alternative_name
from discover.workflows.base import Workflow
from discover.workflows.hbv import HBVWorkflow
from discover.workflows.hbv_data import load_hbv_dataset
from discover.workflows.ode import ODEWorkflow, load_ode_data


def load_data(config: StudyConfig, base: Path) -> xr.Dataset:
    """The data a config names, loaded and checked into one ``xarray.Dataset`` container
    (dims ``time`` and ``site``, each variable's ``role`` in its attributes) for either
    model type: the daily series of an HBV model, the states and forcings of an ODE model
    (:mod:`discover.workflows.ode_data`)."""
    if config.model.type == "hbv":
        return load_hbv_dataset(config.data, base, config.seed, dtype=config.dtype)
    return load_ode_data(config, base)


def build_workflow(config: StudyConfig, base: Path, data: xr.Dataset | None = None) -> Workflow:
    """The model of the config bound to ``data`` (loaded from the config when ``None``)."""
    if config.model.type == "hbv":
        return HBVWorkflow(config, base, dataset=data)
    return ODEWorkflow(config, base, data=data)


class ModelFactory:
    """Builds fresh models of one study, all over the same data loaded once.

    Every model is seeded alike (``config.seed``), so that variants differ only in their
    slots.

    Args:
        config: the validated study config.
        base: folder that relative paths in the config refer to.
    """

    def __init__(self, config: StudyConfig, base: Path):
        self.config = config
        self.base = Path(base)
        self.data = load_data(config, self.base)

    def build(self, physics: bool = False) -> Workflow:
        """A new model of the config (every slot textbook if ``physics``)."""
        config = self.config
        if physics:
            spec = config.model.model_copy(update={"neural": {}})
            config = config.model_copy(update={"model": spec})
        torch.manual_seed(self.config.seed)
        return build_workflow(config, self.base, self.data)

    def with_equations(
        self, equations: Mapping[str, tuple[Candidate, tuple[str, ...]]]
    ) -> Workflow:
        """A new model with each ``{slot: (candidate, inputs)}`` as a ``Symbolic`` slot."""
        workflow = self.build()
        for slot, (candidate, inputs) in equations.items():
            workflow.model.set_slot(slot, symbolic_process(workflow, slot, candidate, inputs))
        return workflow

    def variant(self, name: str, fronts: Mapping[str, ParetoFront]) -> Workflow:
        """A new model of variant ``name``: ``physics`` (every slot textbook), ``neural``
        (the configured model), ``symbolic`` (the selected equations of ``fronts`` in place
        of their slots, with their distilled constants), a stated hypothesis, or an
        alternative ``symbolic:<slot>:<complexity>`` of ``fronts``.

        Raises:
            ValueError: no variant of that name.
        """
        alternatives = {
            alternative_name(slot, c): (slot, c)
            for slot, front in fronts.items()
            for c in front.candidates
        }
        if name in ("physics", "neural"):
            return self.build(physics=name == "physics")
        if name == "symbolic":
            return self.with_equations({s: (f.selected, f.inputs) for s, f in fronts.items()})
        if name in alternatives:
            slot, candidate = alternatives[name]
            return self.with_equations({slot: (candidate, fronts[slot].inputs)})
        if name in self.config.hypotheses:
            workflow = self.build()
            hypothesis = self.config.hypotheses[name]
            process = hypothesis_process(name, hypothesis, workflow.model)
            set_slots(workflow, {hypothesis.slot: process})
            return workflow
        raise ValueError(f"unknown variant {name!r}")


def symbolic_process(
    workflow: Workflow, slot: str, candidate: Candidate, inputs: tuple[str, ...] | None = None
) -> Symbolic:
    """``candidate`` as a fresh ``Symbolic`` process for ``slot`` of ``workflow``'s model
    over ``inputs`` (default: the slot's), with the slot's output range, on the workflow's
    dtype and device."""
    current = workflow.model.slots[slot]
    inputs = current.inputs if inputs is None else inputs
    process = Symbolic(candidate.expression, inputs, output_range=current.output_range)
    return process.to(dtype=workflow.dtype, device=workflow.device)


def set_slots(workflow: Workflow, processes: dict[str, Process]) -> None:
    """Put ``processes`` ``{slot: process}`` into ``workflow``'s model, on its dtype and
    device."""
    for slot, process in processes.items():
        workflow.model.set_slot(slot, process.to(dtype=workflow.dtype, device=workflow.device))


def start_from(workflow: HBVWorkflow, calibrated: HBVWorkflow) -> None:
    """Start ``workflow``'s per-site HBV parameters at ``calibrated``'s
    (:func:`start_parameters_at`) and warm-start its networks on the textbook processes at
    ``calibrated``'s parameters (:meth:`HBVWorkflow.warm_start_at`), which marks it as
    started from calibrated parameters (not searched again).

    Raises:
        TypeError: either model does not calibrate its parameters per site.
    """
    start_parameters_at(workflow, calibrated)
    workflow.warm_start_at(calibrated.parameters_by_name())


def start_parameters_at(workflow: HBVWorkflow, calibrated: HBVWorkflow) -> None:
    """Set ``workflow``'s per-site HBV parameters to ``calibrated``'s, by name (those
    ``calibrated`` lacks keep their start); nothing else changes, so a calibration of
    ``workflow`` then searches from there (:func:`~discover.fit.calibration.calibrate`).

    Raises:
        TypeError: either model does not calibrate its parameters per site.
    """
    target, source = workflow.learner, calibrated.learner
    if not isinstance(target, SiteParameters) or not isinstance(source, SiteParameters):
        raise TypeError(
            "starting from a calibrated model needs two HBV workflows with model.parameters: site"
        )
    names, nmul = target.bounded.names, target.bounded.nmul
    raw = source.raw.detach().unflatten(-1, (len(source.bounded.names), source.bounded.nmul))
    with torch.no_grad():
        into = target.raw.unflatten(-1, (len(names), nmul))
        for i, name in enumerate(names):
            if name in source.bounded.names:
                into[:, i] = raw[:, source.bounded.names.index(name)]
