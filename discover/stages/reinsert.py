"""Putting an equation back into a model in place of its network, and refitting it."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from discover.config import ReinsertConfig, TrainConfig
from discover.distill.pareto import Candidate, ParetoFront
from discover.fit.shooting import restarted_segments
from discover.fit.trainer import FitResult
from discover.processes import Process, Symbolic
from discover.stages.models import symbolic_process
from discover.stages.train import train
from discover.workflows.base import Workflow


def reinsert(workflow: Workflow, slot: str, candidate: Candidate) -> Symbolic:
    """Replace ``slot`` of ``workflow``'s model by ``candidate`` as a ``Symbolic`` process
    (the slot's inputs and output range) and return that process."""
    process = symbolic_process(workflow, slot, candidate)
    workflow.model.set_slot(slot, process)
    return process


def refit(
    workflow: Workflow,
    only: Process | str | None,
    settings: ReinsertConfig,
    train_settings: TrainConfig,
    *,
    seed: int,
    checkpoint_dir: Path | None = None,
    progress: bool | None = None,
) -> FitResult:
    """Refit ``workflow`` on the training split with the ``reinsert`` schedule (no early
    stopping); ``only`` a process, ``"symbolic"`` (every symbolic slot's constants) or
    ``None`` (everything trainable). What is not refitted stays frozen meanwhile. An ODE
    model trained by multiple shooting has its segment starts set again from the
    observations (:func:`~discover.fit.shooting.restarted_segments`) and refitted
    with the equations: the starts the replaced model left were fitted to its errors, and
    held there they would bend the equations' constants. The
    progress bar (``refitting <slot>``, ``refitting symbolic`` or ``refitting all``) is
    shown when ``progress``, by default when the ``discover`` log shows INFO (as
    ``discover run`` without ``--quiet``)."""
    schedule = train_settings.model_copy(
        update={
            "iterations": settings.iterations,
            "lr": settings.lr,
            "lbfgs_iterations": settings.lbfgs_iterations,
            "patience": None,
        }
    )
    slots = workflow.model.slots.values()
    if only is None:
        trainable = list(workflow.parameters())
    elif only == "symbolic":
        trainable = [p for s in slots if s.kind == "symbolic" for p in s.parameters()]
    else:
        trainable = list(only.parameters())
    trainable += restarted_segments(workflow)  # the starts the replaced model left fit it
    names = [name for name, process in workflow.model.slots.items() if process is only]
    description = f"refitting {'all' if only is None else (names or [only])[0]}"
    if progress is None:
        progress = logging.getLogger("discover").isEnabledFor(logging.INFO)
    chosen = {id(p) for p in trainable}
    saved = {p: p.requires_grad for p in workflow.parameters()}
    for p in workflow.parameters():
        p.requires_grad_(id(p) in chosen)
    try:
        return train(  # a refit continues training: no pre-fit of what was trained
            workflow,
            schedule,
            seed=seed,
            checkpoint_dir=checkpoint_dir,
            progress=progress,
            strategy="gradient",
            description=description,
        )
    finally:
        for p, flag in saved.items():
            p.requires_grad_(flag)


def alternatives(front: ParetoFront, count: int) -> list[Candidate]:
    """The ``count`` best candidates of ``front`` other than the selected one: by
    validation error when the front was selected by retraining, lowest BIC first when by
    BIC, else lowest loss."""
    if "shortlist" in front.metadata:
        rows = sorted(front.metadata["shortlist"], key=lambda row: row["validation_error"])
        order = [row["index"] for row in rows]
    else:
        scores = front.metadata.get("bic") or [c.loss for c in front.candidates]
        order = list(np.argsort(scores, kind="stable"))
    order = [i for i in order if i != front.selected_index]
    return [front.candidates[i] for i in order[:count]]
