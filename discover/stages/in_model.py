"""Scoring a slot's candidates in the model: each put in place of the slot, refitted
briefly, scored on the data; the model put back afterwards (the ``bic`` and ``heldout``
selection rules of :mod:`discover.stages.select`), and the integer-exponent form of a
refitted candidate (:func:`snapped_refit`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import sympy
import torch
from tqdm.auto import tqdm

from discover.config import SelectionConfig
from discover.distill.constants import parametrise
from discover.distill.pareto import Candidate, ParetoFront, expression_complexity
from discover.distill.postprocess import mse
from discover.distill.probe import ProbeSamples
from discover.distill.snapping import integer_exponents
from discover.fit.losses import masked_mse
from discover.fit.objective import pooled_spread
from discover.fit.shooting import restarted_segments
from discover.fit.trainer import lbfgs_step
from discover.stages.in_range import leaving_range
from discover.stages.models import symbolic_process
from discover.workflows.base import Workflow

log = logging.getLogger("discover")

REFIT_TOLERANCE = 1e-9
"""A refit's L-BFGS stops when its loss changes by less than this (torch's default
``tolerance_change``, stated here). The losses are squared errors over each state's spread,
as the held-out errors of the ``heldout`` rule (mse / variance), so a held-out error below
it is beneath what the refit resolves."""

Score = Callable[[Candidate, list[torch.Tensor]], Any]
"""``score(candidate, trainable)``: a candidate's score with it in the slot; ``trainable``
are the tensors a refit may change (put back by :func:`score_in_model`)."""


def reselected(
    front: ParetoFront, scored: Sequence[Candidate], index: int, metadata: dict[str, Any]
) -> ParetoFront:
    """``front`` with ``scored[index]`` (:func:`~discover.distill.pareto.in_play` order)
    selected; a near-front candidate is first put on the front at its complexity
    (``metadata`` records it as ``selected_from_near_front``)."""
    candidates = list(front.candidates)
    if index < len(candidates):
        return ParetoFront(candidates, front.inputs, front.engine, index, metadata)
    chosen = scored[index]
    position = sum(c.complexity <= chosen.complexity for c in candidates)
    candidates.insert(position, chosen)
    metadata = {**metadata, "selected_from_near_front": chosen.to_dict()}
    return ParetoFront(candidates, front.inputs, front.engine, position, metadata)


def score_in_model(
    workflow: Workflow,
    slot: str,
    candidates: Sequence[Candidate],
    settings: SelectionConfig,
    score: Score,
    progress: bool = False,
) -> list[Any]:
    """``score(candidate, trainable)`` of each candidate put into ``slot`` (``None`` for one
    that fails in the model); ``trainable`` are its constants and, with
    ``settings.refit: all``, everything else the model trains. An ODE model trained by
    multiple shooting has its segment starts set from the observations for each candidate
    and among ``trainable`` (:func:`~discover.fit.shooting.restarted_segments`, as in the
    reinsertion refit): frozen where the model left them, they would bend the candidate's
    constants. The slot and those parameters are put back after each candidate."""
    model = workflow.model
    original = model.slots[slot]
    own = {id(p) for p in original.parameters()}
    starts = getattr(getattr(workflow, "shooting", None), "segment_states", None)
    others = (
        [
            p
            for p in workflow.parameters()
            if p.requires_grad and id(p) not in own and p is not starts
        ]
        if settings.refit == "all"
        else []
    )
    kept = others + ([] if starts is None else [starts])
    saved = [p.detach().clone() for p in kept]
    scores: list[Any] = []
    try:
        for candidate in tqdm(candidates, desc=f"scoring {slot} candidates", disable=not progress):
            process = symbolic_process(workflow, slot, candidate)
            model.set_slot(slot, process)
            trainable = [p for p in process.parameters() if p.requires_grad] + others
            try:
                trainable += restarted_segments(workflow)
                scores.append(score(candidate, trainable))
            except Exception as err:  # a candidate that cannot be simulated loses
                log.warning("%s: candidate %s fails in the model: %s", slot, candidate, err)
                scores.append(None)
            finally:
                restore(kept, saved)
    finally:
        model.set_slot(slot, original)
    return scores


def form(expression: sympy.Expr) -> str:
    """``expression``'s form: its text with every float constant replaced by one symbol
    (``0.6*x`` and ``0.7*x``, ``0.5*x**0.707`` and ``0.23*x**0.99`` have one form)."""
    template, placeholders, _ = parametrise(expression)
    return sympy.srepr(template.xreplace(dict.fromkeys(placeholders, _CONSTANT)))


_CONSTANT = sympy.Symbol("c")


def best_starts(
    workflow: Workflow,
    slot: str,
    candidates: Sequence[Candidate],
    settings: SelectionConfig,
    progress: bool = False,
) -> list[int]:
    """For each candidate, the index of the one of its :func:`form` to refit and score: the
    start with the lowest training loss of the model before any refit (one forward
    evaluation per candidate whose form has several, none for the others; segment starts
    set as in :func:`score_in_model`); the first of them on a tie or when none is finite.

    Twins (one form, other constants: from the network's samples and from the data's
    rates) do not end at one score after a few refit steps, so scoring each would rank
    starting points rather than forms."""
    forms = [form(c.expression) for c in candidates]
    twins = [i for i, f in enumerate(forms) if forms.count(f) > 1]
    before = lambda _, trainable: refitted_loss(workflow, trainable, 0)  # noqa: E731
    found = score_in_model(
        workflow, slot, [candidates[i] for i in twins], settings, before, progress
    )
    losses = np.full(len(candidates), np.inf)
    losses[twins] = [np.inf if loss is None else loss for loss in found]
    losses[~np.isfinite(losses)] = np.inf
    best: dict[str, int] = {}
    for i, f in enumerate(forms):
        if f not in best or losses[i] < losses[best[f]]:
            best[f] = i
    return [best[f] for f in forms]


def masked_refit(
    workflow: Workflow, part: slice, keep: np.ndarray
) -> Callable[[list[torch.Tensor], int], None]:
    """``refit(parameters, steps)``: a few L-BFGS steps on ``parameters`` (as
    :func:`refitted_loss`) against the training loss of ``workflow`` restricted to the
    times ``keep`` ``[time]`` of ``part`` (the observations at the other times masked out).

    When the workflow trains by multiple shooting (an ODE model's ``train.shooting``,
    :mod:`discover.fit.shooting`), that is its shooting loss with ``keep``: the segments
    are integrated in one batch, so a loss costs as much as one in ``bic``'s refit. The
    segments' initial states are refitted too, starting from the kept observations alone
    (:meth:`~discover.fit.shooting.MultipleShooting.observed_states`; the trained ones were
    fitted to every observation, held-out ones included), continuity bridging the
    held-out stretches; they are put back afterwards. A segment that starts at a step
    without a kept observation starts where the candidate's own trajectory from the
    segment before it arrives (:func:`continued_starts`): the fold's data do not say
    where it is, and an interpolation across the held-out stretch is off the trajectory,
    so the refit would bend the candidate's constants towards it (ODEBench system 12: the
    law ``x(1.8 - 0.1107x)`` refitted to held-out errors of 4e-8 to 1e-5, against 2e-15 at most
    from continued starts). Otherwise the loss is the mean squared error of a one-shot
    simulation over ``part`` (each variable scaled by its standard deviation over
    ``part``).
    """
    shooting = getattr(workflow, "shooting", None)
    if shooting is None:
        observed = np.where(keep[:, None, None], workflow.observed[part], np.nan)
        scale = pooled_spread(workflow.observed, part)
        target = torch.as_tensor(observed, dtype=workflow.dtype, device=workflow.device)
        weight = torch.as_tensor(scale, dtype=workflow.dtype, device=workflow.device)
        one_shot = lambda: masked_mse(workflow.simulate()[part], target, weight)  # noqa: E731
        return lambda parameters, steps: refitted_loss(workflow, parameters, steps, one_shot)
    steps = np.ones(part.stop, bool)  # the steps before part: the initial condition
    steps[part] = keep
    states = shooting.segment_states
    start = torch.as_tensor(shooting.observed_states(workflow, steps), dtype=states.dtype)
    seen = steps[:, None, None] & np.isfinite(workflow.observed[: part.stop])
    unseen = ~seen[shooting.starts[1:]]  # [segment - 1, site, state]: not observed in the fold

    def refit(parameters: list[torch.Tensor], iterations: int) -> None:
        trained = states.detach().clone()
        try:
            restore([states], [start])
            continued_starts(workflow, unseen)
            others = [p for p in parameters if p is not states]
            loss = lambda: shooting.loss(workflow, steps)  # noqa: E731
            refitted_loss(workflow, [*others, states], iterations, loss)
        finally:
            restore([states], [trained])

    return refit


def continued_starts(workflow: Workflow, unseen: np.ndarray) -> None:
    """Set the multiple-shooting segment starts marked ``unseen`` ``[segment - 1, site,
    state]`` (of every segment but the first) to where the workflow's model, integrated
    from the start of the segment before, arrives (in place, without gradients); a run of
    unseen starts is continued one after the other, each from the one before it; the
    others stay."""
    shooting = workflow.shooting
    states = shooting.segment_states
    depth = np.zeros(unseen.shape, int)  # unseen starts in the run up to this one
    for i, row in enumerate(unseen):
        depth[i] = np.where(row, 1 + (depth[i - 1] if i > 0 else 0), 0)
    lengths = torch.tensor(shooting.starts[1:]) - torch.tensor(shooting.starts[:-1])
    with torch.no_grad():
        for level in range(1, int(depth.max(initial=0)) + 1):
            simulated = shooting.simulate(workflow)  # [step, segment, site, state]
            ends = simulated[lengths, torch.arange(len(lengths))]  # [segment - 1, site, state]
            now = torch.as_tensor(depth == level)
            states[now] = ends[now]


def refitted_loss(
    workflow: Workflow,
    parameters: list[torch.Tensor],
    steps: int,
    loss: Callable[[], torch.Tensor] | None = None,
) -> float:
    """``loss()`` (default: the training loss of ``workflow``) after a few L-BFGS steps on
    ``parameters``.

    They stay as they were when those steps do not lower the loss (a refit that wanders
    off or turns non-finite must not make a good candidate look bad).
    """
    loss = loss or (lambda: workflow.loss("train"))
    with torch.no_grad():
        before = float(loss())
    if not parameters or steps <= 0:
        return before
    saved = [p.detach().clone() for p in parameters]
    optimiser = torch.optim.LBFGS(
        parameters,
        lr=1.0,
        max_iter=steps,
        tolerance_change=REFIT_TOLERANCE,
        line_search_fn="strong_wolfe",
    )
    lbfgs_step(optimiser, loss)
    with torch.no_grad():
        after = float(loss())
        if np.isfinite(after) and (after <= before or not np.isfinite(before)):
            return after
    restore(parameters, saved)
    return before


def restore(parameters: list[torch.Tensor], values: list[torch.Tensor]) -> None:
    """Copy ``values`` back into ``parameters`` (in place, without gradients)."""
    with torch.no_grad():
        for parameter, value in zip(parameters, values, strict=True):
            parameter.copy_(value)


def snapped_refit(
    workflow: Workflow,
    slot: str,
    candidate: Candidate,
    settings: SelectionConfig,
    samples: ProbeSamples,
    seed: int,
) -> Candidate | None:
    """``candidate`` refitted in the model on the training data (as for ``bic``), with the
    float exponents the refit brought near integers made integers
    (:func:`~discover.distill.snapping.integer_exponents`); ``None`` when it has none.

    A float exponent moves in the model (``-1.2*x**1.5`` refits to ``-1.00009*x**2.99977``
    on ``dx/dt = -x**3``) and keeps moving when the equation is reinserted; the integer is
    the form and stays fixed, so it is offered to the rule as one more candidate (its loss
    against the network on the probed samples), unless it leaves the slot's declared range
    where the checks look (then ``None``: :class:`~discover.stages.select.WithinRange`
    would have ruled it out).
    """

    def refitted(_: Candidate, trainable: list[torch.Tensor]) -> sympy.Expr:
        refitted_loss(workflow, trainable, settings.refit_steps)
        return workflow.model.slots[slot].expression()

    [expression] = score_in_model(workflow, slot, [candidate], settings, refitted)
    snapped = None if expression is None else integer_exponents(expression)
    if snapped is None:
        return None
    loss = mse(snapped, samples.names, samples.X, samples.y)
    found = Candidate(snapped, expression_complexity(snapped), loss, candidate.engine)
    if leaving_range(workflow, slot, [found], samples, seed):
        return None  # the rule chooses only among candidates that stay in range
    return found
