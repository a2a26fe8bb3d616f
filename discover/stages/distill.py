"""Distilling one neural slot: probe it over the data, rank its inputs, fit equations,
and select one. For a slot of an ODE model, equations are also fitted to the slot's
outputs estimated from the data's own rates of change (:mod:`discover.distill.data_rates`)
and join the near front, so that a selection rule that refits candidates in the model
weighs them against the network's.

In a run shared among processes (``torchrun``) every process must go on with the same
equations, but a symbolic search with a wall-clock budget or threads does not repeat
exactly from one process to another: rank 0 alone distills and sends what it found to
the others, and its selection is the one every process adopts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from discover.config import DistillConfig
from discover.distill import ParetoFront, symbolic_fit, thin
from discover.distill.data_rates import rate_samples, with_data_candidates
from discover.distill.importance import InputRanking, rank_inputs
from discover.distill.pareto import Candidate
from discover.distill.probe import ProbeSamples, probe
from discover.fit.distributed import from_rank_zero
from discover.models.ode import ODEModel
from discover.stages.select import Selection, SelectionContext, selection_rule
from discover.stages.timings import Timings
from discover.validate.checks import range_points, sampled_domain
from discover.workflows.base import Workflow

if TYPE_CHECKING:
    from discover.study import Study

log = logging.getLogger("discover")


@dataclass
class Distillation:
    """What distilling a slot produced.

    Attributes:
        samples: the slot's inputs and outputs probed over the data.
        ranking: mean |SHAP| of each input.
        kept: the inputs the equations may use (those above the importance threshold).
        front: the engine's Pareto front over ``kept`` (selection comes after); for an ODE
            model's slot, its near front holds the candidates fitted to the data's rates
            too (metadata ``data_rates``).
    """

    samples: ProbeSamples
    ranking: InputRanking
    kept: list[str]
    front: ParetoFront


@dataclass
class DistilledSlot:
    """What distilling and selecting a slot produced (:func:`distill_and_select`), as a
    study keeps it (:meth:`record`).

    Attributes:
        front: the front with its selected candidate (:class:`Selection`'s).
        samples: the slot's probed samples (``None``: none kept).
        ranking: the inputs' SHAP ranking and the inputs kept (``None``: none kept).
        trained: models a rule trained while selecting ``{front index: model}``.
        timings: wall seconds of its stages ``{"distill <slot>": s, "select <slot>": s}``.
    """

    front: ParetoFront
    samples: ProbeSamples | None
    ranking: tuple[InputRanking, list[str]] | None
    trained: dict[int, Workflow] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def record(self, study: Study, slot: str) -> ParetoFront:
        """Keep this as ``study``'s front, samples, ranking, trained models and timings of
        ``slot``; returns the front."""
        for stage, seconds in self.timings.items():
            study.timings[stage] = study.timings.get(stage, 0.0) + seconds
        if self.samples is not None:
            study.samples[slot] = self.samples
        if self.ranking is not None:
            study.rankings[slot] = self.ranking
        study.trained.update({slot: self.trained} if self.trained else {})
        study.fronts[slot] = self.front
        return self.front


def distill_and_select(
    workflow: Workflow,
    slot: str,
    settings: DistillConfig,
    seed: int,
    train_candidate: Callable[[Candidate, tuple[str, ...]], tuple[Workflow, str]],
    progress: bool = False,
) -> DistilledSlot:
    """``slot`` of ``workflow`` distilled (:func:`distill_slot`) and a candidate selected by
    ``settings.selection`` (:func:`select`; ``train_candidate(candidate, inputs)`` trains a
    fresh model with it, for a rule that trains models), each stage timed. ``workflow`` is
    left as it was (a rule that refits candidates in it puts it back)."""
    timings = Timings()
    with timings(f"distill {slot}"):
        found = distill_slot(workflow, slot, settings, seed)
    trainer = partial(train_candidate, inputs=found.front.inputs)
    context = SelectionContext(workflow, found.samples, settings, trainer, progress, seed)
    with timings(f"select {slot}"):
        selection = select(settings.selection.rule, found.front, slot, context)
    ranking = (found.ranking, found.kept)
    return DistilledSlot(selection.front, found.samples, ranking, selection.trained, timings)


def distill_slot(workflow: Workflow, slot: str, settings: DistillConfig, seed: int) -> Distillation:
    """Probe ``slot`` of ``workflow``'s trained model over the data (``settings.samples``
    samples), keep the inputs whose SHAP importance passes ``importance_threshold``, and
    fit equations to the probed outputs by symbolic regression (``settings.engine``); for
    an ODE model's slot, the candidates fitted to the data's rates join the front's near
    front. In a run shared among processes, rank 0 does it and every process gets its
    result (or its error)."""
    return from_rank_zero(lambda: _distill(workflow, slot, settings, seed))


def select(rule: str, front: ParetoFront, slot: str, context: SelectionContext) -> Selection:
    """``front`` with a candidate selected by the selection rule ``rule``. In a run shared
    among processes every process applies the rule (a rule may train models, which they
    share) and adopts rank 0's choice, so that timings or rounding cannot part them."""
    selection = selection_rule(rule).select(front, slot, context)
    return Selection(from_rank_zero(lambda: selection.front), selection.trained)


def _distill(workflow: Workflow, slot: str, settings: DistillConfig, seed: int) -> Distillation:
    model = workflow.model
    samples = probe(model, workflow.simulate, slots=[slot], size=settings.samples, seed=seed)[slot]
    ranking = rank_inputs(model.slots[slot], samples.X, seed=seed)
    threshold = settings.importance_threshold
    kept = ranking.keep(threshold) if threshold is not None else list(samples.names)
    checked = _range_points(workflow, slot, samples, kept, seed)

    def fit(found: ProbeSamples) -> ParetoFront:
        columns = [found.names.index(name) for name in kept]
        return symbolic_fit(
            found.X[:, columns],
            found.y,
            kept,
            engine=settings.engine,
            time_budget_s=settings.time_budget_s,
            seed=seed,
            operators=settings.operators,
            max_complexity=settings.max_complexity,
            output_range=model.slots[slot].output_range,
            range_points=checked,
            **settings.options,
        )

    front = _with_data_rates(fit(samples), workflow, slot, samples, fit, settings.samples, seed)
    return Distillation(samples, ranking, kept, front)


def _range_points(
    workflow: Workflow, slot: str, samples: ProbeSamples, kept: list[str], seed: int
) -> np.ndarray | None:
    """Where the range checks of a selection will look for ``slot`` beyond its probed
    ``samples`` (:func:`~discover.validate.checks.range_points`), columns ``kept``
    [points, len(kept)], for the ends of its range that inputs set (``out <= pet``); ``None``
    when it has none (:func:`~discover.distill.range_fit.fit_within` says why)."""
    process = workflow.model.slots[slot]
    if not process.output_range.set_by_inputs().bounded:
        return None
    known = workflow.model.input_bounds
    domain, bounds = sampled_domain(process, samples.X, samples.names, known)
    points = range_points(process, domain, bounds=bounds, seed=seed)
    return np.column_stack([points[name] for name in kept])


def _with_data_rates(
    front: ParetoFront,
    workflow: Workflow,
    slot: str,
    probed: ProbeSamples,
    fit: Callable[[ProbeSamples], ParetoFront],
    size: int,
    seed: int,
) -> ParetoFront:
    """``front`` with the candidates that ``fit`` finds in the slot's outputs estimated
    from the data's smoothed rates of change (an ODE model's slot only; thinned to
    ``size`` samples), on its near front (:mod:`discover.distill.data_rates`). Where the
    rates give no samples, or the fit fails, the front's metadata say why."""
    if not isinstance(workflow.model, ODEModel):
        return front
    stop = workflow.split_slices()["train"].stop
    forcings = workflow.forcings[:stop].cpu().numpy() if workflow.forcing_names else None
    times = workflow.times[:stop].cpu().numpy()
    rates = rate_samples(workflow.model, slot, times, workflow.observed[:stop], forcings)
    if rates.samples is None:
        front.metadata["data_rates"] = rates.summary()
        return front
    X, y, names = rates.samples
    keep = thin(X, y, size, seed)
    try:
        found = fit(ProbeSamples(X[keep], y[keep], names))
    except Exception as err:  # the network's front still stands
        log.warning("%s: no candidates from the data's rates: %s", slot, err)
        front.metadata["data_rates"] = {**rates.summary(), "failed": f"{err}"}
        return front
    log.info("%s: %d candidates from the rates of %s", slot, len(found), ", ".join(rates.states))
    return with_data_candidates(front, found, probed, rates)
