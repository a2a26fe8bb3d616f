"""Training a model by a strategy (the extension point for calibration schemes).

A strategy turns a model bound to its data into a trained one. Strategies are registered
by name in :data:`TRAINING_STRATEGIES`; ``gradient`` (Adam, then optional L-BFGS, with
checkpoints and early stopping: :class:`~discover.fit.trainer.Trainer`) is the default,
and ``ode`` (chosen for ODE workflows) runs the collocation pre-fit
(:mod:`discover.fit.collocation`, with ``train.collocation``) before it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from discover.config import TrainConfig
from discover.fit.collocation import collocation_prefit
from discover.fit.trainer import CHECKPOINT, FitResult, Trainer
from discover.workflows.base import Workflow
from discover.workflows.ode import ODEWorkflow


class TrainingStrategy(Protocol):
    """How a model's trainable parameters are fitted to its training split."""

    def fit(
        self,
        workflow: Workflow,
        settings: TrainConfig,
        *,
        seed: int,
        checkpoint_dir: Path | None,
        resume: bool,
        progress: bool,
        description: str = "training",
    ) -> FitResult:
        """Train ``workflow`` in place and say how it went."""


class GradientTraining:
    """Adam, then optional L-BFGS, on the loss (:class:`~discover.fit.trainer.Trainer`)."""

    def fit(
        self,
        workflow: Workflow,
        settings: TrainConfig,
        *,
        seed: int,
        checkpoint_dir: Path | None,
        resume: bool,
        progress: bool,
        description: str = "training",
    ) -> FitResult:
        """Train ``workflow`` with checkpoints in ``checkpoint_dir`` (none if ``None``)."""
        trainer = Trainer(
            workflow,
            workflow.loss,
            settings,
            seed=seed,
            checkpoint_dir=checkpoint_dir,
            progress=progress,
            description=description,
        )
        return trainer.fit(resume=resume)


class ODETraining:
    """For an ODE workflow: the collocation pre-fit of its neural slots (when
    ``train.collocation``; not when resuming from a checkpoint), segment initial states
    set again from the pre-fitted model, then gradient training."""

    def fit(
        self,
        workflow: Workflow,
        settings: TrainConfig,
        *,
        seed: int,
        checkpoint_dir: Path | None,
        resume: bool,
        progress: bool,
        description: str = "training",
    ) -> FitResult:
        """Pre-fit ``workflow`` (an :class:`ODEWorkflow`), then train it as ``gradient``."""
        if not isinstance(workflow, ODEWorkflow):
            raise TypeError(f"the 'ode' strategy trains ODE workflows, not {type(workflow)}")
        resuming = resume and checkpoint_dir is not None and (checkpoint_dir / CHECKPOINT).exists()
        if settings.collocation and not resuming:
            steps = workflow.n_fit
            forcings = workflow.forcings[:steps] if workflow.data.forcing_names else None
            prefit = collocation_prefit(
                workflow.model,
                workflow.times[:steps],
                workflow.observed[:steps],
                forcings,
                lr=settings.lr,
            )
            if prefit is not None and workflow.shooting is not None:
                workflow.shooting.initialise(workflow)
        return GradientTraining().fit(
            workflow,
            settings,
            seed=seed,
            checkpoint_dir=checkpoint_dir,
            resume=resume,
            progress=progress,
            description=description,
        )


TRAINING_STRATEGIES: dict[str, TrainingStrategy] = {
    "gradient": GradientTraining(),
    "ode": ODETraining(),
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
    ODE workflow, else ``gradient``), with a progress bar named ``description`` when
    ``progress``; a model with nothing trainable is left as it is (``stopped: "nothing to
    fit"``)."""
    if not any(p.requires_grad for p in workflow.parameters()):
        return FitResult(stopped="nothing to fit")
    if strategy is None:
        strategy = "ode" if isinstance(workflow, ODEWorkflow) else "gradient"
    return TRAINING_STRATEGIES[strategy].fit(
        workflow,
        settings,
        seed=seed,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=progress,
        description=description,
    )
