"""Training a model by a strategy (the extension point for calibration schemes).

A strategy turns a model bound to its data into a trained one. Strategies are registered
by name in :data:`TRAINING_STRATEGIES`; ``gradient`` (Adam, then optional L-BFGS, with
checkpoints and early stopping: :class:`~discover.fit.trainer.Trainer`) is the default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from discover.config import TrainConfig
from discover.fit.trainer import FitResult, Trainer
from discover.workflows.base import Workflow


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
    ) -> FitResult:
        """Train ``workflow`` with checkpoints in ``checkpoint_dir`` (none if ``None``)."""
        trainer = Trainer(
            workflow,
            workflow.loss,
            settings,
            seed=seed,
            checkpoint_dir=checkpoint_dir,
            progress=progress,
        )
        return trainer.fit(resume=resume)


TRAINING_STRATEGIES: dict[str, TrainingStrategy] = {"gradient": GradientTraining()}
"""Training strategies by name; a new one is a class with ``fit`` and a line here."""


def train(
    workflow: Workflow,
    settings: TrainConfig,
    *,
    seed: int,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    progress: bool = True,
    strategy: str = "gradient",
) -> FitResult:
    """Train ``workflow``'s trainable parameters by ``strategy``; a model with nothing
    trainable is left as it is (``stopped: "nothing to fit"``)."""
    if not any(p.requires_grad for p in workflow.parameters()):
        return FitResult(stopped="nothing to fit")
    return TRAINING_STRATEGIES[strategy].fit(
        workflow,
        settings,
        seed=seed,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=progress,
    )
