"""The ``heldout`` selection rule (:class:`~discover.stages.select.HeldOutSelection`):
blocked cross-validation over time with the one-standard-error rule
(:func:`held_out_front`), its refits raced (:func:`raced`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from discover.distill.pareto import Candidate, ParetoFront, in_play
from discover.distill.selection import (
    HELD_OUT_RULE,
    HeldOutChoice,
    block_errors,
    one_standard_error_choice,
    time_blocks,
)
from discover.stages.in_model import (
    REFIT_TOLERANCE,
    Score,
    best_starts,
    masked_refit,
    reselected,
    score_in_model,
    snapped_refit,
)
from discover.validate.parsimony import estimated_constants
from discover.workflows.base import Workflow

if TYPE_CHECKING:
    from discover.stages.select import SelectionContext

log = logging.getLogger("discover")


def held_out_front(front: ParetoFront, slot: str, context: SelectionContext) -> ParetoFront:
    """``front`` re-selected by held-out error (:class:`~discover.stages.select.
    HeldOutSelection` describes the rule), or unchanged when no candidate has a finite
    error."""
    workflow, settings = context.workflow, context.settings.selection
    part = workflow.split_slices()["train"]
    scorer, units = fold_scorer(workflow, part, settings.refit_steps)
    scored = in_play(front)
    starts = best_starts(workflow, slot, scored, settings, context.progress)
    ranked = sorted(set(starts))  # one candidate of each form, from its best start

    def errors(candidates: list[Candidate], fold: int) -> np.ndarray:
        score = scorer(fold)
        found = score_in_model(workflow, slot, candidates, settings, score, context.progress)
        return np.stack([e if e is not None else np.full(units.size, np.inf) for e in found])

    try:
        table, done = raced([scored[i] for i in ranked], errors, units)
        choice = _held_out_choice([scored[i] for i in ranked], table)
        chosen = scored[ranked[choice.selected]]
        snapped = snapped_refit(workflow, slot, chosen, settings, context.samples, context.seed)
        if snapped is not None:
            scored, ranked = [*scored, snapped], [*ranked, len(scored)]
            table = np.vstack([table, errors([snapped], 0)])
            done = np.append(done, False)
            table, done = raced([scored[i] for i in ranked], errors, units, table, done)
            choice = _held_out_choice([scored[i] for i in ranked], table)
    except ValueError as err:
        log.warning("%s: %s; keeping the engine's choice", slot, err)
        return front
    one_fold = {ranked[i] for i in np.flatnonzero(~done)}
    rows = _held_out_rows(scored, len(front), ranked, starts, choice.scores, one_fold)
    rule = HELD_OUT_RULE.format(
        blocks=units.size // workflow.observed.shape[1],
        refit=settings.refit,
        steps=settings.refit_steps,
        resolution=REFIT_TOLERANCE,
    )
    margin = {"margin": choice.margin, "unresolved": choice.unresolved}
    metadata = {
        **front.metadata,
        "selection_rule": rule,
        "held_out": rows,
        "held_out_margin": margin,
    }
    return reselected(front, scored, ranked[choice.selected], metadata)


Folds = Callable[[list[Candidate], int], np.ndarray]
"""``errors(candidates, fold)``: the held-out errors ``[candidate, unit]`` of ``candidates``
scored on the units of fold ``fold`` (0 or 1), each refitted on the other fold (NaN on
the other fold's units; inf for a candidate that fails in the model)."""


def fold_scorer(
    workflow: Workflow, part: slice, steps: int
) -> tuple[Callable[[int], Score], np.ndarray]:
    """``scorer(fold)``: the :data:`~discover.stages.in_model.Score` of a candidate's
    held-out errors ``[block * site]`` on fold ``fold`` of alternate time blocks of
    ``part`` (blocks ``fold``, ``fold + 2``, ...; NaN on the others), the candidate
    refitted (``steps`` L-BFGS steps) on the other fold's observations
    (:func:`masked_refit`); and the fold of each unit ``[block * site]``."""
    observed = workflow.observed[part]
    blocks = time_blocks(observed.shape[0])
    folds = [np.zeros(observed.shape[0], bool) for _ in range(2)]
    for b, indices in enumerate(blocks):
        folds[b % 2][indices] = True
    refits = [masked_refit(workflow, part, ~fold) for fold in folds]

    def scorer(fold: int) -> Score:
        def score(_: Candidate, trainable: list[torch.Tensor]) -> np.ndarray:
            errors = np.full((len(blocks), observed.shape[1]), np.nan)
            refits[fold](trainable, steps)
            with torch.no_grad():
                simulated = workflow.simulate().cpu().numpy()[part]
            errors[fold::2] = block_errors(simulated, observed, blocks[fold::2])
            return errors.reshape(-1)

        return score

    return scorer, np.repeat(np.arange(len(blocks)) % 2, observed.shape[1])


def raced(
    candidates: list[Candidate],
    errors: Folds,
    units: np.ndarray,
    table: np.ndarray | None = None,
    done: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The held-out errors ``[candidate, unit]`` of ``candidates`` for the one-standard-error
    choice, and which candidates were scored on both folds ``[candidate]``: every candidate
    refitted on fold 0, and on fold 1 (``units``) only while that could change the choice
    (else NaN there). ``table`` and ``done``: rows already scored (on fold 0 at least, on
    both where ``done``), for a candidate added to those ranked before.

    The candidates are refitted on fold 1 in the order of their errors on fold 0. One is
    left out when even with every error of fold 1 at the refit's tolerance (the least any
    error counts as, :func:`~discover.distill.selection.one_standard_error_choice`) its
    score would lie above the eligible band (the lowest score plus its margin) of the
    candidates scored on both folds; the band is checked again until every candidate left
    out is above it. Its score is then higher still, so it is neither the best nor
    eligible: the choice is the one all candidates scored on both folds would give. A
    candidate that fails on fold 0 fails either way.
    """
    if table is None or done is None:
        table, done = errors(candidates, 0), np.zeros(len(candidates), bool)
    table, done = table.copy(), done | np.isposinf(table).any(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        first = np.nanmean(np.log(np.where(units == 0, table, np.nan)), axis=1)
    order = np.argsort(np.where(np.isnan(first), np.inf, first), kind="stable")
    while True:
        todo = [i for i in order if not done[i]]
        todo = [i for i in todo if _best_case(table[i], units) <= _band(candidates, table, done)]
        if not todo:
            return table, done
        i = todo[0]
        table[i] = np.where(units == 1, errors([candidates[i]], 1)[0], table[i])
        done[i] = True


def _best_case(row: np.ndarray, units: np.ndarray) -> float:
    """A candidate's score with its errors on fold 1 (``units``) at the refit's tolerance."""
    filled = np.where(units == 1, REFIT_TOLERANCE, row)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.nanmean(np.log(np.maximum(filled, REFIT_TOLERANCE))))


def _band(candidates: list[Candidate], table: np.ndarray, done: np.ndarray) -> float:
    """The top of the eligible band (lowest score plus margin) of the candidates scored on
    both folds (``done``); inf while none has a finite error."""
    complete = np.flatnonzero(done)
    try:
        choice = _held_out_choice([candidates[i] for i in complete], table[complete])
    except ValueError:
        return np.inf
    return choice.scores[choice.best] + choice.margin


def _held_out_rows(
    scored: list[Candidate],
    on_front: int,
    ranked: list[int],
    starts: list[int],
    scores: list,
    one_fold: set[int],
) -> list[dict[str, Any]]:
    """The ``held_out`` table: per candidate of ``scored`` (the first ``on_front`` on the
    front) its ``score``, or for a twin not scored NaN and ``twin_of``: the expression of
    the start of its form that was scored (``starts``: its index in ``scored``); those
    scored on one fold alone (indices ``one_fold``, :func:`raced`) are marked
    ``one_fold``."""
    by_index = dict(zip(ranked, scores, strict=True))
    return [
        {**c.to_dict(), "score": by_index.get(i, np.nan), "near_front": i >= on_front}
        | ({} if i in by_index else {"twin_of": scored[starts[i]].text()})
        | ({"one_fold": True} if i in one_fold else {})
        for i, c in enumerate(scored)
    ]


def _held_out_choice(scored: list[Candidate], table: np.ndarray) -> HeldOutChoice:
    """The one-standard-error choice among ``scored`` by their held-out errors ``table``
    ``[candidate, unit]``, errors below the refit's tolerance counted as it."""
    parsimony = [estimated_constants(c.expression) for c in scored]
    complexities = [c.complexity for c in scored]
    return one_standard_error_choice(parsimony, complexities, table, REFIT_TOLERANCE)
