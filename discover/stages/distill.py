"""Distilling one neural slot: probe it over the data, rank its inputs, fit equations,
and select one.

In a run shared among processes (``torchrun``) every process must go on with the same
equations, but a symbolic search with a wall-clock budget or threads does not repeat
exactly from one process to another: rank 0 alone distills and sends what it found to
the others, and its selection is the one every process adopts.
"""

from __future__ import annotations

from dataclasses import dataclass

from discover.config import DistillConfig
from discover.distill import ParetoFront, symbolic_fit
from discover.distill.importance import InputRanking, rank_inputs
from discover.distill.probe import ProbeSamples, probe
from discover.fit.distributed import from_rank_zero
from discover.stages.select import Selection, SelectionContext, selection_rule
from discover.workflows.base import Workflow


@dataclass
class Distillation:
    """What distilling a slot produced.

    Attributes:
        samples: the slot's inputs and outputs probed over the data.
        ranking: mean |SHAP| of each input.
        kept: the inputs the equations may use (those above the importance threshold).
        front: the engine's Pareto front over ``kept`` (selection comes after).
    """

    samples: ProbeSamples
    ranking: InputRanking
    kept: list[str]
    front: ParetoFront


def distill_slot(workflow: Workflow, slot: str, settings: DistillConfig, seed: int) -> Distillation:
    """Probe ``slot`` of ``workflow``'s trained model over the data (``settings.samples``
    samples), keep the inputs whose SHAP importance passes ``importance_threshold``, and
    fit equations to the probed outputs by symbolic regression (``settings.engine``).
    In a run shared among processes, rank 0 does it and every process gets its result
    (or its error)."""
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
    columns = [samples.names.index(name) for name in kept]
    front = symbolic_fit(
        samples.X[:, columns],
        samples.y,
        kept,
        engine=settings.engine,
        time_budget_s=settings.time_budget_s,
        seed=seed,
        operators=settings.operators,
        max_complexity=settings.max_complexity,
        output_range=model.slots[slot].output_range,
        **settings.options,
    )
    return Distillation(samples, ranking, kept, front)
