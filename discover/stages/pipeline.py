"""Every stage of a study in order, writing the run directory (``discover run``)."""

from __future__ import annotations

import copy
import logging
from functools import partial
from typing import TYPE_CHECKING, Any

import pandas as pd

from discover.distill.pareto import Candidate
from discover.fit.distributed import leave_group
from discover.report import build_report
from discover.rundir import RunWriter
from discover.stages import score
from discover.stages.models import start_from
from discover.stages.parallel_slots import distill_in_workers, failure, slot_workers
from discover.stages.reinsert import alternatives
from discover.stages.reselect import reselect_simpler
from discover.stages.select import selection_rule
from discover.stages.train import calibration_settings, train
from discover.stages.variants import alternative_name

if TYPE_CHECKING:
    from discover.study import Study

log = logging.getLogger("discover")


def run_stages(study: Study, writer: RunWriter, resume: bool, progress: bool) -> dict[str, Any]:
    """Train the baseline, each hypothesis and the configured model; distill and
    reinsert every neural slot; k-fold over sites if configured; score, compare, check
    and report, writing each result with ``writer``. Returns the median metrics.

    In a run shared among processes (``torchrun``) every process trains, distills and
    reinserts (sharing each batch's sites); then they leave their group and rank 0 alone
    scores, compares, checks and reports (the others return ``{}``)."""
    config = study.config
    writer.config(config)
    if getattr(config.model, "baseline", False) and study.model.neural_slots():
        fit_baseline(study, resume, progress)
    for name in config.hypotheses:
        study.fit_hypothesis(name, resume=resume, progress=progress)
    writer.hypotheses(config.hypotheses, study.variants.slots)
    study.fit(resume=resume, progress=progress)
    writer.history(study.fit_result)
    if config.distill is not None and study.model.neural_slots():
        distill_all(study, writer, progress)
    if config.validate_.site_folds:
        study.validate_sites(resume=resume, progress=progress)
    if not leave_group():
        return {}
    with study.timings("validate"):
        table = study.site_metrics()
        metrics = score.median_metrics(table)
        writer.metrics(metrics)
        writer.site_metrics(table)
        writer.simulations(study.workflow, study.simulations)
        writer.parameters(study.workflow, study.variants.parameters)
        splits = ["test", score.SITE_FOLDS] if study.site_fold_simulations else ["test"]
        writer.comparisons(pd.concat([study.compare(s, table) for s in splits]))
        bounds = study.model.input_bounds
        writer.checks(
            score.physical_checks(study.variants.slots, study.samples, config.seed, bounds)
        )
    write_provenance(study, writer)  # the report reads it
    with study.timings("report"):
        build_report(writer.out)
    write_provenance(study, writer)  # again, with the report's timing
    return metrics


def fit_baseline(study: Study, resume: bool, progress: bool) -> None:
    """Train and record the ``physics`` baseline; with calibration on, it becomes the
    study's :attr:`~discover.study.Study.baseline`, whose calibrated parameters the
    hypotheses' searches start from (:meth:`~discover.study.Study.fit_hypothesis`), and
    the study's model starts from them too, its networks warm-started on the textbook
    processes at them (:func:`~discover.stages.models.start_from`). Called before the
    hypotheses are fitted; without it (``model.baseline: false``, calibration off, or no
    neural slot) the hypotheses start from the default."""
    with study.timings("fit physics"):
        physics, result = study.train_variant("physics", resume=resume, progress=progress)
    study.record_variant("physics", physics)
    log.info("physics: training stopped (%s)", result.stopped)
    if calibration_settings(study.workflow, study.config.train) is not None:
        study.baseline = physics
        start_from(study.workflow, physics)


def calibrate_symbolic(study: Study, progress: bool) -> None:
    """Refit the reinserted equations: with calibration on, the model is calibrated and
    trained like ``physics`` (the equations' constants searched with the parameters,
    checkpoints in ``checkpoints/symbolic``), else their constants are refitted
    (``reinsert``)."""
    if calibration_settings(study.workflow, study.config.train) is None:
        study.refit("symbolic")
        return
    study.workflow.calibrated_start = False  # the equations' constants are new: search them
    folder = study.out / "checkpoints" / "symbolic" if study.out else None
    settings, seed = study.config.train, study.config.seed
    where = {"checkpoint_dir": folder, "progress": progress, "description": "training symbolic"}
    result = train(study.workflow, settings, seed=seed, **where)
    log.info("symbolic: training stopped (%s)", result.stopped)


def write_provenance(study: Study, writer: RunWriter) -> None:
    """``provenance.json`` of the study as it stands."""
    writer.provenance(
        study.config,
        study.timings,
        study.fit_result,
        study.fronts,
        study.failures,
        study.skipped_tests,
    )


def distill_all(study: Study, writer: RunWriter, progress: bool) -> None:
    """Distill every neural slot and reinsert the selected equations: one slot at a time
    when the selection rule trains models (the model trained with the selected equation
    becomes the study's model, and the next slot is distilled from it) or with
    ``reinsert.refit: all``, else all at once with their constants refitted together
    (the slots then distilled from the same model side by side, ``distill.workers``).
    Unless the rule trains models, each slot's selection is then looked at again with
    every slot's equation in place (:func:`~discover.stages.reselect.reselect_simpler`)
    before the refit (all at once), or followed by a refit of the whole model when it
    changed an equation (``reinsert.refit: all``)."""
    slots = study.model.neural_slots()
    rule = selection_rule(study.config.distill.selection.rule)
    trains_models = getattr(rule, "trains_models", False)
    one_at_a_time = trains_models or study.config.reinsert.refit == "all"
    distill_slots(study, slots, one_at_a_time, progress)
    writer.equations(study.fronts, study.failures, study.model)
    writer.truth(study.config.truth)
    for slot, samples in study.samples.items():
        output_range = str(study.model.slots[slot].output_range)
        truth = study.config.truth.get(slot)
        writer.samples(slot, samples, truth, study.workflow.units(), output_range)
    for slot, (ranking, kept) in study.rankings.items():
        writer.importance(slot, ranking, kept)
    reinserted = [slot for slot in slots if slot in study.fronts]
    if not reinserted:
        return
    if not one_at_a_time:
        for slot in reinserted:
            record_alternatives(study, slot)
        for slot in reinserted:
            study.reinsert(slot, refit=False)
        reselect_simpler(study, reinserted, progress)
        if study.config.reinsert.refit != "none":
            with study.timings("refit"):
                calibrate_symbolic(study, progress)
    elif not trains_models and reselect_simpler(study, reinserted, progress):
        with study.timings("refit"):
            study.refit(None)  # as reinsert.refit: all refits after each reinsertion
    study.record_variant("symbolic")
    writer.equations(study.fronts, study.failures, study.model)


def distill_slots(study: Study, slots: list[str], one_at_a_time: bool, progress: bool) -> None:
    """Distill and select each of ``slots``, reinserting each right away when
    ``one_at_a_time``; side by side in worker processes where it may
    (:mod:`~discover.stages.parallel_slots`, ``distill.workers``). A slot that fails is
    recorded in ``study.failures`` and the others go on."""
    workers = slot_workers(study, slots, one_at_a_time)
    if workers > 1:
        distill_in_workers(study, slots, workers, progress, partial(slot_failed, study))
        return
    for slot in slots:
        try:
            study.distill(slot, progress)
        except Exception as err:  # the run goes on; the report says why
            slot_failed(study, slot, failure(err))
            continue
        if one_at_a_time:
            record_alternatives(study, slot)
            study.reinsert(slot)


def slot_failed(study: Study, slot: str, why: str) -> None:
    """Record that ``slot`` was not distilled, and ``why``."""
    study.failures[slot] = why
    log.warning("slot %s was not distilled: %s", slot, why)


def record_alternatives(study: Study, slot: str) -> None:
    """Record each of ``slot``'s ``reinsert.alternatives`` best other candidates
    (:func:`~discover.stages.reinsert.alternatives`) as a variant of its own: its model
    trained during the selection if there is one, else reinserted and refitted."""
    trained = study.trained.get(slot, {})
    front = study.fronts[slot]
    for candidate in alternatives(front, study.config.reinsert.alternatives):
        index = front.candidates.index(candidate)
        if index in trained:
            study.record_variant(alternative_name(slot, candidate), trained[index])
        else:
            reinsert_variant(study, slot, candidate)


def reinsert_variant(study: Study, slot: str, candidate: Candidate) -> str:
    """Reinsert ``candidate`` into the study's model, refit it and record it as variant
    ``symbolic:<slot>:<complexity>``; the model is then put back as it was. Returns the
    variant's name."""
    name = alternative_name(slot, candidate)
    original = study.model.slots[slot]
    state = copy.deepcopy(study.workflow.state_dict())
    try:
        study.reinsert(slot, candidate)
        study.record_variant(name)
    finally:
        study.model.set_slot(slot, original)
        study.workflow.load_state_dict(state)
    return name
