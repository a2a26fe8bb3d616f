"""Selection rules: which candidate of a slot's Pareto front goes back into the model.

Every rule follows one protocol, ``rule.select(front, slot, context) -> Selection``, and
is registered by name in :data:`SELECTION_RULES` (the config's ``distill.selection.rule``;
its settings are the rest of ``distill.selection``):

- ``front``: the engine's own choice;
- ``bic``: the lowest BIC of the whole model on the training data, each candidate briefly
  refitted in the model first (:class:`BICSelection`);
- ``heldout``: each candidate refitted in the model on alternate time blocks of the
  training data and scored on the others; the least complex one within one standard
  error of the best held-out error wins (:class:`HeldOutSelection`);
- ``retrain``: each shortlisted candidate trained from scratch in a fresh model and scored
  on the validation split; the simplest one not significantly worse than the best wins
  (:class:`RetrainSelection`).

Whatever the rule, it chooses only among the candidates that stay in the slot's declared
output range wherever the physical checks look (:class:`WithinRange`, which
:func:`selection_rule` puts around every registered rule; :mod:`discover.stages.in_range`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm

from discover.config import ConfigError, DistillConfig, SelectionConfig
from discover.distill.pareto import Candidate, ParetoFront, in_play
from discover.distill.probe import ProbeSamples
from discover.distill.selection import (
    RETRAIN_RULE,
    SHORTLIST_RULE,
    parsimonious_choice,
    shortlist,
    validation_errors,
)
from discover.stages.in_model import (
    refitted_loss,
    reselected,
    score_in_model,
)
from discover.stages.in_range import leaving_range, leaving_rows, noted, restored, within
from discover.stages.select_heldout import held_out_front
from discover.validate.parsimony import bic, estimated_constants
from discover.workflows.base import Workflow

log = logging.getLogger("discover")


@dataclass
class SelectionContext:
    """What a rule may use besides the front.

    Attributes:
        workflow: the study's trained model, ``slot`` still holding its network.
        samples: the slot's probed samples (the network's function over the data).
        settings: the config's ``distill`` section (a rule's own settings are in its
            ``selection``).
        train_candidate: trains a fresh model with a candidate in the slot (the slots
            distilled before keep their selected equations); returns it and why it stopped.
        progress: show progress bars.
        seed: the study's seed (the physical checks' points, for the range test).
    """

    workflow: Workflow
    samples: ProbeSamples
    settings: DistillConfig
    train_candidate: Callable[[Candidate], tuple[Workflow, str]]
    progress: bool = False
    seed: int = 0


@dataclass
class Selection:
    """A rule's decision: the front with its ``selected_index`` and the rule in its
    metadata, and the models the rule trained ``{front index: model}`` (may be empty)."""

    front: ParetoFront
    trained: dict[int, Workflow] = field(default_factory=dict)


class SelectionRule(Protocol):
    """Chooses the candidate of ``front`` that replaces ``slot``."""

    def select(self, front: ParetoFront, slot: str, context: SelectionContext) -> Selection:
        """The front with the chosen candidate marked selected."""


class EngineChoice:
    """Keep the engine's own choice."""

    def select(self, front: ParetoFront, slot: str, context: SelectionContext) -> Selection:
        """``front`` unchanged."""
        return Selection(front)


class BICSelection:
    """The lowest Bayesian information criterion ``k ln(n) - 2 ln L`` of the model on the
    training data (:func:`~discover.validate.parsimony.bic`: Gaussian likelihood of the
    ``n`` observations' mean squared error, ``k`` constants estimated from data, see
    :func:`~discover.validate.parsimony.estimated_constants`).

    Each candidate of the front and of its near front (:func:`~discover.distill.pareto.
    in_play`), put into the model in place of the slot, is first refitted with a few
    L-BFGS steps (``distill.selection.refit_steps``): its constants, or with
    ``distill.selection.refit: all`` the whole model (put back afterwards), and for a model
    trained by multiple shooting the segment starts, set from the observations
    (:func:`~discover.stages.in_model.score_in_model`). A network is a
    near-exact target, so rules on the probed samples alone favour the most complex
    candidates; the data decide what their detail is worth. BIC counts every observation
    as independent evidence: on nearly noise-free or autocorrelated residuals a nested
    form that follows the network's wiggles can beat the law (``heldout`` does not).
    """

    RULE = (
        "lowest BIC k ln(n) - 2 ln L of the model on the training data "
        "(k: constants estimated from data, integers from rounding included)"
    )

    def select(self, front: ParetoFront, slot: str, context: SelectionContext) -> Selection:
        """``front`` re-selected by BIC (scores in its metadata under ``bic``)."""
        workflow, settings = context.workflow, context.settings.selection
        n = int(np.isfinite(workflow.observed[workflow.split_slices()["train"]]).sum())

        def score(candidate: Candidate, trainable: list[torch.Tensor]) -> float:
            mse = refitted_loss(workflow, trainable, settings.refit_steps)
            return bic(n, n * mse, estimated_constants(candidate.expression)) if mse > 0 else np.inf

        scored = in_play(front)
        found = score_in_model(workflow, slot, scored, settings, score, context.progress)
        scores = np.array([s if s is not None and np.isfinite(s) else np.inf for s in found])
        if not np.isfinite(scores).any():
            log.warning("%s: no candidate simulates finitely; keeping the engine's choice", slot)
            return Selection(front)
        best = int(np.argmin(scores))
        kept = [*range(len(front)), *([best] if best >= len(front) else [])]
        kept.sort(key=lambda i: (scored[i].complexity, i >= len(front)))  # as reselected
        metadata = {
            **front.metadata,
            "selection_rule": self.RULE,
            "bic": [float(scores[i]) for i in kept],  # per candidate of the front returned
        }
        _annotate_near_front(metadata, scores[len(front) :], "bic")
        return Selection(reselected(front, scored, best, metadata))


class HeldOutSelection:
    """Blocked cross-validation over time with the one-standard-error rule.

    The training period is cut into :data:`~discover.distill.selection.TIME_BLOCKS`
    consecutive blocks, alternately in two folds. Each form of the front and of its near
    front (:func:`~discover.distill.pareto.in_play`), from the start with the lowest
    training loss among its twins (:func:`~discover.stages.in_model.best_starts`), put into
    the model in place of the slot, is refitted as for ``bic`` (``refit``, ``refit_steps``)
    on the observations of one fold, its simulation scored on the blocks of the other
    (normalised squared error per block and site), and the other way round; the model is
    put back afterwards. The refit minimises the training loss restricted to the fold
    (:func:`~discover.stages.in_model.masked_refit`): for a model trained by multiple
    shooting, the shooting loss over the fold's steps (segment starts refitted from the
    fold's observations, those it does not observe from the candidate's own trajectory;
    2.4-4.3x ``bic``'s time on ODEBench, 20x with one-shot fold refits); else a one-shot
    simulation (5x). The score is always a one-shot simulation of the training period from
    the initial state, without gradients: scored segment by segment, each held-out segment
    would start from a state set from the held-out observations, and a candidate would be
    judged on short steps from them rather than on predicting them. Errors
    below the refit's own tolerance (:data:`~discover.stages.in_model.REFIT_TOLERANCE`)
    count as it, and errors that differ by less than it are not told apart: on noise-free
    data the law and a form that mimics it with more constants both end near it, and which
    one the refit left lower is no evidence. Among the candidates whose mean log held-out
    error is within one standard error of the lowest one, widened by what the refit does
    not resolve, the one with the fewest constants estimated from data wins, then the
    lowest error (:func:`~discover.distill.selection.one_standard_error_choice`). When the
    chosen candidate, refitted in the model, has float exponents near integers, it is
    scored once more with them made integers (:func:`snapped_refit`) and the rule applied
    again. The refits are raced (:func:`~discover.stages.select_heldout.raced`): a form
    whose errors on one fold put it above the eligible band even if its errors on the
    other fold were all at the tolerance is not refitted on the other fold, which changes
    no choice.

    Unlike BIC, which counts every observation as independent evidence, the tolerance is
    what the data measure: with autocorrelated or nearly noise-free residuals a nested
    form that follows the network's wiggles gains less than the spread of the errors
    between blocks and the law wins, while a form that fits clearly better on data it was
    not refitted on still does. The front's metadata gain the rule, a ``held_out`` table
    (per candidate: expression, complexity, ``score``, ``near_front``; a twin not scored:
    ``score`` NaN, ``twin_of``; one scored on one fold alone: ``one_fold``, its score
    over that fold) and ``held_out_margin`` (tolerance, ``unresolved`` part).
    """

    def select(self, front: ParetoFront, slot: str, context: SelectionContext) -> Selection:
        """``front`` re-selected by held-out error."""
        return Selection(held_out_front(front, slot, context))


def _annotate_near_front(metadata: dict[str, Any], scores: np.ndarray, key: str) -> None:
    """The near-front entries of ``metadata`` gain their ``scores`` under ``key``."""
    if "near_front" in metadata:
        metadata["near_front"] = [
            {**entry, key: float(s)}
            for entry, s in zip(metadata["near_front"], scores, strict=True)
        ]


class RetrainSelection:
    """Train a fresh model with each shortlisted candidate in place of the slot and score
    it on the validation split.

    The shortlist is :func:`~discover.distill.selection.shortlist` (``distill.selection.
    shortlist`` simplest candidates that reproduce the learned function within
    ``distill.selection.tolerance``). Each model is trained from scratch with the
    ``train`` settings, like the ``physics`` variant, so no candidate profits from
    parameters co-adapted with the network. The least complex candidate not significantly
    worse than the best one on the validation split is selected
    (:func:`~discover.distill.selection.parsimonious_choice`); a candidate whose model
    fails scores inf. The front's metadata gain the rule and a ``shortlist`` table (per
    candidate: front ``index``, expression, validation error, ``p_worse``, seconds).
    The selected candidate's trained model then becomes the study's model
    (``trains_models``), so slots are distilled and reinserted one at a time.
    """

    trains_models = True

    def select(self, front: ParetoFront, slot: str, context: SelectionContext) -> Selection:
        """``front`` re-selected by retraining; the trained models come with it."""
        settings = context.settings.selection
        part = context.workflow.split_slices().get("validation")
        if part is None:
            raise ConfigError("distill.selection.rule: 'retrain' needs train.validation")
        observed = context.workflow.observed[part]
        spread = float(np.var(context.samples.y))
        chosen = shortlist(front, spread, settings.tolerance, settings.shortlist)
        errors: list[np.ndarray | None] = []
        rows: list[dict[str, Any]] = []
        models: dict[int, Workflow] = {}
        bar = tqdm(chosen, desc=f"training {slot} candidates", disable=not context.progress)
        for i in bar:
            bar.set_postfix_str(f"complexity {front[i].complexity}")
            started = time.perf_counter()
            try:
                models[i], stopped = context.train_candidate(front[i])
                with torch.no_grad():
                    simulated = models[i].simulate().cpu().numpy()[part]
                errors.append(validation_errors(simulated, observed))
            except Exception as err:  # a candidate that cannot be trained loses
                log.warning("%s: candidate %s fails in the model: %s", slot, front[i], err)
                models.pop(i, None)
                errors.append(None)
                stopped = f"failed: {type(err).__name__}: {err}"
            seconds = time.perf_counter() - started
            rows.append({"index": i, **front[i].to_dict(), "stopped": stopped, "seconds": seconds})
        width = next((len(e) for e in errors if e is not None), 0)
        table = np.stack([e if e is not None else np.full(width, np.inf) for e in errors])
        try:
            choice = parsimonious_choice(
                [front[i].complexity for i in chosen], table, settings.alpha
            )
        except ValueError as err:
            log.warning("%s: %s; keeping the engine's choice", slot, err)
            return Selection(front)
        for row, error, p in zip(rows, choice.errors, choice.p_worse, strict=True):
            row.update(validation_error=error, p_worse=p)
        metadata = {
            **front.metadata,
            "selection_rule": _retrain_rule(settings, observed.shape[1], width),
            "shortlist": rows,
        }
        selected = chosen[choice.selected]
        reselected = ParetoFront(front.candidates, front.inputs, front.engine, selected, metadata)
        return Selection(reselected, models)


def _retrain_rule(settings: SelectionConfig, n_sites: int, width: int) -> str:
    """The retrain rule in words, as the report prints it."""
    listed = SHORTLIST_RULE.format(
        size=settings.shortlist,
        tolerance=settings.tolerance,
        r2=1 - settings.tolerance,
    )
    several = n_sites > 1
    return RETRAIN_RULE.format(
        shortlist=listed,
        unit="site" if several else "time block",
        units=f"{width} sites" if several else f"{width} time blocks of the one site",
        alpha=settings.alpha,
    )


SELECTION_RULES: dict[str, SelectionRule] = {
    "front": EngineChoice(),
    "bic": BICSelection(),
    "heldout": HeldOutSelection(),
    "retrain": RetrainSelection(),
}
"""Selection rules by name (``distill.selection.rule``); a new rule is a class with ``select``
and a line here (or :func:`register_selection_rule`)."""


def register_selection_rule(name: str, rule: SelectionRule) -> None:
    """Make ``rule`` selectable as ``distill.selection: <name>`` (the config accepts
    every name registered when it is validated)."""
    SELECTION_RULES[name] = rule


def selection_rule(name: str) -> SelectionRule:
    """The rule registered as ``name``, choosing only among candidates that stay in range
    (:class:`WithinRange`).

    Raises:
        ConfigError: no rule of that name (the message lists the registered ones).
    """
    if name not in SELECTION_RULES:
        raise ConfigError(
            f"distill.selection.rule: no rule {name!r}; use one of {sorted(SELECTION_RULES)}"
        )
    return WithinRange(SELECTION_RULES[name])


class WithinRange:
    """``rule`` applied to the candidates of the front (and near front) that stay in the
    slot's declared output range wherever the physical checks look
    (:mod:`discover.stages.in_range`); those that leave it go back on the front the rule
    returns, marked ``leaves_range`` in its metadata and named in its ``selection_rule``.
    When no candidate of the front stays in range, the rule chooses among all of them,
    with a warning that the metadata keep as ``range_warning``."""

    def __init__(self, rule: SelectionRule):
        self.rule = rule
        self.trains_models = bool(getattr(rule, "trains_models", False))

    def select(self, front: ParetoFront, slot: str, context: SelectionContext) -> Selection:
        """The rule's selection among the candidates that stay in range."""
        scored = in_play(front)
        limits = context.workflow.model.slots[slot].output_range
        leaving = leaving_range(context.workflow, slot, scored, context.samples, context.seed)
        if not leaving:
            return self.rule.select(front, slot, context)
        kept = within(front, leaving)
        if kept is None:
            warning = (
                f"no candidate of the front stays within {limits} wherever the physical "
                "checks look, so the rule chose among all of them (leaves_range)"
            )
            log.warning("%s: %s", slot, warning)
            chosen = self.rule.select(front, slot, context)
            rows = leaving_rows(scored, leaving, len(front))
            marked = noted(chosen.front, warning, range_warning=warning, leaves_range=rows)
            return Selection(marked, chosen.trained)
        log.info(
            "%s: %d of %d candidates leave %s where the checks look and are not eligible",
            slot,
            len(leaving),
            len(scored),
            limits,
        )
        note = (
            f"only among the candidates that stay within {limits} wherever the physical "
            f"checks look ({len(leaving)} of {len(scored)} do not: leaves_range)"
        )
        chosen = self.rule.select(kept, slot, context)
        back, moved = restored(front, chosen.front, scored, leaving, note)
        return Selection(back, {moved[i]: model for i, model in chosen.trained.items()})
