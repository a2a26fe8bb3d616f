"""A second look at each slot's selection once every slot holds its equation.

When several slots are distilled from one fitted model, each slot's candidates are scored
with the other slots still networks (:func:`~discover.stages.pipeline.distill_all`); with
``reinsert.refit: all`` each slot is distilled and reinserted in turn, so the slots
distilled later are still networks when an earlier one is scored. A network's small errors
then leave a residue in the model that an extra term of the slot being scored can absorb:
on ODEBench system 24 (``x_0' = x_1``) the selection kept ``0.899·x_1 + 0.105·sin(x_1)``
beside the law, the sine bending the line by the cubic that the other slot's network left.
Once every slot holds its selected equation that residue is gone, so
:func:`reselect_simpler` applies the selection rule again to each slot, among its
candidates (front and near front) no more complex than the one selected, with every other
slot's equation in place; a simpler form now as good as the first choice replaces it. More
complex candidates are not scored again: they lost against the network's residue already,
and the second look is there to drop what only that residue supported.

Each candidate of the second look is refitted together with the constants of every other
slot's equation (:func:`equations_refitted_together`), as the refit of the reinserted
equations will fit them, not against those constants as distilled: held at what the
networks' samples gave, their small errors leave a residue of their own that an extra
term can absorb. ODEBench system 50 (``y' = -x^2y + 1.43``, the other slot's constants
0.12 % low as distilled): ``x^2(-0.9988y - 0.0006) + 1.43`` was kept over the law,
which the joint refit selects.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, NoReturn

from discover.config import DistillConfig
from discover.distill.pareto import Candidate, ParetoFront, in_play
from discover.stages.in_model import form, reselected
from discover.stages.reinsert import reinsert
from discover.stages.select import SelectionContext, selection_rule
from discover.workflows.base import Workflow

if TYPE_CHECKING:
    from discover.study import Study

log = logging.getLogger("discover")

RESELECTION_KEY = "reselected_in_final_model"
"""Metadata key of a front whose slot was looked at again: the selection before, the rule's
table of the simpler candidates, and whether the choice changed."""


def reselect_simpler(study: Study, slots: list[str], progress: bool) -> list[str]:
    """Apply the study's selection rule again to each of ``slots`` (each holding its
    selected equation), among its candidates no more complex than that equation, with the
    other slots' equations in place and refitted with each candidate
    (:func:`equations_refitted_together`); a changed choice is reinserted at once
    (constants as distilled; the caller refits the model after). Returns the slots whose
    equation changed. Nothing to do with fewer than two slots."""
    if len(slots) < 2:
        return []
    rule = selection_rule(study.config.distill.selection.rule)
    changed = []
    for slot in slots:
        front = study.fronts[slot]
        with (
            study.timings(f"reselect {slot}"),
            equations_refitted_together(study.workflow, study.config.distill) as settings,
        ):
            context = SelectionContext(
                study.workflow,
                study.samples[slot],
                settings,
                _no_training,
                progress,
                study.config.seed,
            )
            choice = rule.select(simpler_front(front), slot, context).front
        study.fronts[slot] = merged = with_reselection(front, choice)
        if merged.metadata[RESELECTION_KEY]["changed"]:
            reinsert(study.workflow, slot, merged.selected)
            changed.append(slot)
            log.info(
                "%s: with every slot's equation in place, %s replaces %s",
                slot,
                merged.selected.text(),
                front.selected.text(),
            )
    return changed


@contextmanager
def equations_refitted_together(
    workflow: Workflow, settings: DistillConfig
) -> Iterator[DistillConfig]:
    """``settings`` whose selection refits each candidate together with the constants of
    the other slots' equations (``selection.refit: all``), everything else the model
    trains frozen meanwhile (the refit of the reinserted equations fits their constants
    alone). With ``selection.refit: all`` already, ``settings`` as they are."""
    if settings.selection.refit == "all":
        yield settings
        return
    slots = workflow.model.slots.values()
    constants = {id(p) for s in slots if s.kind == "symbolic" for p in s.parameters()}
    starts = getattr(getattr(workflow, "shooting", None), "segment_states", None)
    frozen = [
        p
        for p in workflow.parameters()
        if p.requires_grad and id(p) not in constants and p is not starts
    ]
    for parameter in frozen:
        parameter.requires_grad_(False)
    try:
        selection = settings.selection.model_copy(update={"refit": "all"})
        yield settings.model_copy(update={"selection": selection})
    finally:
        for parameter in frozen:
            parameter.requires_grad_(True)


def simpler_front(front: ParetoFront) -> ParetoFront:
    """``front`` cut to its candidates, on the front and near front, no more complex than
    its selected one (which stays selected); its metadata only the near front."""
    limit = front.selected.complexity
    kept = [c for c in front.candidates if c.complexity <= limit]
    near = [e for e in front.metadata.get("near_front", []) if e["complexity"] <= limit]
    index = kept.index(front.selected)
    return ParetoFront(kept, front.inputs, front.engine, index, {"near_front": near})


def with_reselection(front: ParetoFront, choice: ParetoFront) -> ParetoFront:
    """``front`` with ``choice``'s selected candidate (from :func:`simpler_front` of it)
    selected, and the second look recorded under :data:`RESELECTION_KEY`; its selection
    kept when ``choice`` selected the same form (other constants: a twin of it)."""
    changed = form(choice.selected.expression) != form(front.selected.expression)
    record = {
        "before": front.selected.to_dict(),
        "changed": changed,
        **{k: v for k, v in choice.metadata.items() if k != "near_front"},
    }
    metadata = {**front.metadata, RESELECTION_KEY: record}
    if not changed:
        return replace(front, metadata=metadata)
    scored = in_play(front)
    texts = [c.text() for c in scored]
    chosen = choice.selected
    if chosen.text() in texts:
        return reselected(front, scored, texts.index(chosen.text()), metadata)
    return reselected(front, [*scored, chosen], len(scored), metadata)


def _no_training(candidate: Candidate) -> NoReturn:
    """The selection context's ``train_candidate``: never called, since rules that train
    models distill slots one at a time and are not looked at again."""
    raise RuntimeError(f"no model is trained when selections are looked at again ({candidate})")
