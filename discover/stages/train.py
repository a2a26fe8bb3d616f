"""Training a model by a strategy (the extension point for calibration schemes).

A strategy turns a model bound to its data into a trained one. Strategies are registered
by name in :data:`TRAINING_STRATEGIES`; ``gradient`` (Adam, then optional L-BFGS, with
checkpoints and early stopping: :class:`~discover.fit.trainer.Trainer`) is the default,
``ode`` (chosen for ODE workflows) runs the collocation pre-fit
(:mod:`discover.fit.collocation`, with ``train.collocation``) before it, and
``calibrated`` (chosen for HBV workflows whose ``train.calibration`` is on) the global
calibration (:func:`~discover.fit.calibration.calibrate`), and ``starts`` (chosen for HBV
workflows with a parameter network and ``train.starts`` > 1) several random starts.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from discover.config import TrainConfig
from discover.config.stage_settings import CalibrationConfig
from discover.fit.calibration import calibrate
from discover.fit.collocation import collocation_prefit
from discover.fit.diagnose import untrained_error
from discover.fit.population import PopulationLoss
from discover.fit.trainer import CHECKPOINT, FitResult, Trainer
from discover.models.parameters import SiteParameters
from discover.workflows.base import Workflow
from discover.workflows.hbv import HBVWorkflow
from discover.workflows.ode import ODEWorkflow

log = logging.getLogger("discover")

CALIBRATED = "calibrated.pt"
"""File beside a checkpoint holding the calibrated state and its loss, so that a resumed
run (which does not calibrate again) keeps the better of the two like an unbroken run."""


@dataclass(frozen=True)
class TrainingRun:
    """Where and how one training runs: its ``seed``, the folder of its checkpoints (none
    if ``None``), whether it continues from the last one, and its progress bar."""

    seed: int
    checkpoint_dir: Path | None = None
    resume: bool = False
    progress: bool = True
    description: str = "training"

    @property
    def resuming(self) -> bool:
        """Whether the run continues from a checkpoint that exists."""
        folder = self.checkpoint_dir
        return self.resume and folder is not None and (folder / CHECKPOINT).exists()


class TrainingStrategy(Protocol):
    """How a model's trainable parameters are fitted to its training split."""

    def fit(self, workflow: Workflow, settings: TrainConfig, run: TrainingRun) -> FitResult:
        """Train ``workflow`` in place and say how it went."""


class GradientTraining:
    """Adam, then optional L-BFGS, on the loss (:class:`~discover.fit.trainer.Trainer`)."""

    def fit(self, workflow: Workflow, settings: TrainConfig, run: TrainingRun) -> FitResult:
        """Train ``workflow`` with checkpoints in ``run.checkpoint_dir`` (none if ``None``)."""
        trainer = Trainer(
            workflow,
            workflow.loss,
            settings,
            seed=run.seed,
            checkpoint_dir=run.checkpoint_dir,
            progress=run.progress,
            description=run.description,
        )
        return trainer.fit(resume=run.resume)


class SeveralStarts:
    """For a model whose parameters a network learns (a ``learner`` with ``redraw``):
    ``train.starts`` gradient trainings, each from the model as it was given with the
    network's weights drawn anew (start k with seed + k; the first keeps them; checkpoints
    of start k > 0 in the subfolder ``start<k>``). The start with the lowest validation
    loss (training loss without a validation split) is kept; ``stopped`` says which."""

    def fit(self, workflow: Workflow, settings: TrainConfig, run: TrainingRun) -> FitResult:
        """Train ``workflow`` from each start and leave it at the best one."""
        learner = getattr(workflow, "learner", None)
        if not hasattr(learner, "redraw"):
            raise TypeError(f"'starts' needs a parameter network, not {type(learner)}")
        split = "validation" if settings.validation else "train"
        given, best = copy.deepcopy(workflow.state_dict()), None
        for k in range(settings.starts):
            workflow.load_state_dict(given)
            if k:
                learner.redraw(run.seed + k)
            folder = run.checkpoint_dir
            if k and folder is not None:
                folder = folder / f"start{k}"
            what = f"{run.description} (start {k + 1} of {settings.starts})"
            start = dataclasses.replace(run, checkpoint_dir=folder, description=what)
            result = GradientTraining().fit(workflow, settings, start)
            loss = _loss(workflow, split)
            log.info("%s: %s loss %.5g", what, split, loss)
            if best is None or loss < best[0]:
                best = (loss, k, copy.deepcopy(workflow.state_dict()), result)
        loss, k, state, result = best
        workflow.load_state_dict(state)
        result.stopped = (
            f"start {k + 1} of {settings.starts} kept ({split} loss {loss:.5g}), {result.stopped}"
        )
        return result


class ODETraining:
    """For an ODE workflow: the collocation pre-fit of its neural slots (when
    ``train.collocation``; not when resuming from a checkpoint), segment initial states
    set again from the pre-fitted model, then gradient training; a warning names the
    states the trained model leaves unfitted (:func:`~discover.fit.diagnose.
    untrained_error`)."""

    def fit(self, workflow: Workflow, settings: TrainConfig, run: TrainingRun) -> FitResult:
        """Pre-fit ``workflow`` (an :class:`ODEWorkflow`), then train it as ``gradient``."""
        if not isinstance(workflow, ODEWorkflow):
            raise TypeError(f"the 'ode' strategy trains ODE workflows, not {type(workflow)}")
        if settings.collocation and not run.resuming:
            steps = workflow.objective.splits["train"].stop
            forcings = workflow.forcings[:steps] if workflow.forcing_names else None
            prefit = collocation_prefit(
                workflow.model,
                workflow.times[:steps],
                workflow.observed[:steps],
                forcings,
                lr=settings.lr,
            )
            if prefit is not None and workflow.shooting is not None:
                workflow.shooting.initialise(workflow)
        result = GradientTraining().fit(workflow, settings, run)
        unfitted = untrained_error(workflow)
        if unfitted is not None:  # a warning: a state that noise dominates looks alike
            log.warning("%s: %s", run.description, unfitted)
        return result


class CalibratedTraining:
    """For an HBV workflow with per-site parameters: global calibration of its parameters
    and symbolic constants (``train.calibration``; not when resuming from a checkpoint,
    nor for a model started from calibrated parameters), then gradient training from the
    calibrated start as a local polish. When that training ends with a higher loss (on
    the validation split if there is one, else the training loss) than the calibrated
    start, the calibrated start is kept, and ``stopped`` says so.

    The gradient training is skipped when the search has set every trainable value (no
    network, no value left out of it: :meth:`~discover.fit.population.PopulationLoss.
    unsearched`) unless ``train.calibration.gradient_training`` is ``always``: a step
    along the gradient from a calibrated optimum gains less than the search's own
    tolerance. (On Fulda's calibrated textbook HBV the best step along the gradient
    lowered the training loss by 1.5e-4, and 60 Adam steps at lr 0.05, sized for
    networks, raised it by 1.5e-3; ``benchmarks/fulda_step.py`` times such a step.)"""

    def fit(self, workflow: Workflow, settings: TrainConfig, run: TrainingRun) -> FitResult:
        """Calibrate ``workflow`` (an :class:`HBVWorkflow`), then train it as ``gradient``."""
        if not isinstance(workflow, HBVWorkflow):
            raise TypeError(f"the 'calibrated' strategy trains HBV workflows, not {type(workflow)}")
        split = "validation" if settings.validation else "train"
        saved = run.checkpoint_dir / CALIBRATED if run.checkpoint_dir is not None else None
        if _search_suffices(workflow, settings.calibration):
            return _calibrated_only(workflow, settings.calibration, run, saved)
        what = "calibrated start"
        if run.resuming and saved is not None and saved.exists():
            start = torch.load(saved, weights_only=True)
        elif run.resuming:
            start = None
        else:
            if workflow.calibrated_start:
                what = "start from the calibrated physics variant"
            else:
                calibration = calibrate(workflow, settings.calibration, seed=run.seed)
                what = f"calibrated start ({calibration.generations} generations)"
            start = {"state": copy.deepcopy(workflow.state_dict()), "loss": _loss(workflow, split)}
            if saved is not None:
                saved.parent.mkdir(parents=True, exist_ok=True)
                torch.save(start, saved)
        result = GradientTraining().fit(workflow, settings, run)
        if start is None:
            return result
        trained, calibrated = _loss(workflow, split), float(start["loss"])
        if trained <= calibrated:
            result.stopped = f"{what}, then {result.stopped}"
            return result
        workflow.load_state_dict(start["state"])
        result.stopped = (
            f"{what} kept: gradient training ({result.stopped}) raised the {split} loss "
            f"from {calibrated:.5g} to {trained:.5g}"
        )
        log.info("%s: %s", run.description, result.stopped)
        return result


def _search_suffices(workflow: HBVWorkflow, settings: CalibrationConfig) -> bool:
    """Whether the calibration alone trains ``workflow``: it sets every trainable value
    and ``gradient_training`` does not ask for more (a model started from calibrated
    parameters is not calibrated again, so it always trains)."""
    if settings.gradient_training == "always" or workflow.calibrated_start:
        return False
    left = PopulationLoss(workflow, settings.constant_spread).unsearched(settings.parameters)
    if left:
        log.info("gradient training follows the calibration for %s", ", ".join(left[:5]))
    return not left


def _calibrated_only(
    workflow: HBVWorkflow, settings: CalibrationConfig, run: TrainingRun, saved: Path | None
) -> FitResult:
    """Calibrate ``workflow`` (or, resuming, take the calibrated state ``saved``, if
    any) without gradient training after it."""
    started = time.perf_counter()
    if run.resume and saved is not None and saved.exists():
        workflow.load_state_dict(torch.load(saved, weights_only=True)["state"])
        what = "calibrated start (resumed)"
    else:
        calibration = calibrate(workflow, settings, seed=run.seed)
        what = f"calibrated start ({calibration.generations} generations)"
        if saved is not None:
            saved.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"state": workflow.state_dict(), "loss": calibration.loss}, saved)
    stopped = (
        f"{what}; no gradient training: the search set every trainable value "
        "(train.calibration.gradient_training: always adds it)"
    )
    log.info("%s: %s", run.description, stopped)
    final = _loss(workflow, "train")
    return FitResult(final_train=final, stopped=stopped, seconds=time.perf_counter() - started)


def _loss(workflow: Workflow, split: str) -> float:
    """``workflow``'s loss on ``split``, without gradients."""
    with torch.no_grad():
        return float(workflow.loss(split))


def calibration_settings(workflow: Workflow, settings: TrainConfig) -> CalibrationConfig | None:
    """``train.calibration`` if it applies to ``workflow``: on when set so, or by default
    for an HBV workflow with per-site parameters; ``None`` when off."""
    enabled = settings.calibration.enabled
    if enabled is None:
        enabled = isinstance(workflow, HBVWorkflow) and isinstance(workflow.learner, SiteParameters)
    return settings.calibration if enabled else None


TRAINING_STRATEGIES: dict[str, TrainingStrategy] = {
    "gradient": GradientTraining(),
    "ode": ODETraining(),
    "calibrated": CalibratedTraining(),
    "starts": SeveralStarts(),
}
"""Training strategies by name; a new one is a class with ``fit`` and a line here."""


def train(
    workflow: Workflow,
    settings: TrainConfig,
    *,
    seed: int,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    progress: bool = True,
    strategy: str | None = None,
    description: str = "training",
) -> FitResult:
    """Train ``workflow``'s trainable parameters by ``strategy`` (default: ``ode`` for an
    ODE workflow, ``calibrated`` for an HBV workflow whose calibration is on
    (:func:`calibration_settings`), ``starts`` for one whose parameter network has
    ``train.starts`` > 1, else ``gradient``), with a progress bar named
    ``description`` when ``progress``; a model with nothing trainable is left as it is
    (``stopped: "nothing to fit"``)."""
    if not any(p.requires_grad for p in workflow.parameters()):
        return FitResult(stopped="nothing to fit")
    if strategy is None:
        if isinstance(workflow, ODEWorkflow):
            strategy = "ode"
        elif calibration_settings(workflow, settings) is not None:
            strategy = "calibrated"
        elif settings.starts > 1 and hasattr(getattr(workflow, "learner", None), "redraw"):
            strategy = "starts"
        else:
            strategy = "gradient"
    run = TrainingRun(seed, checkpoint_dir, resume, progress, description)
    return TRAINING_STRATEGIES[strategy].fit(workflow, settings, run)
