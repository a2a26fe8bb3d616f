"""Gradient training with validation, early stopping, schedules and resumable checkpoints."""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from discover.config import TrainConfig
from discover.fit.checkpoints import load_checkpoint, save_checkpoint
from discover.fit.diagnose import divergence_error
from discover.fit.interrupt import deferred_interrupt
from discover.fit.resume import ResumeError, check_resumable, training_settings
from discover.fit.world import current_world
from discover.models.parameters import ForcingLSTM, denormals_flushed
from discover.processes.neural import Neural

log = logging.getLogger("discover")

LossFunction = Callable[[str, "torch.Generator | None"], Tensor]
"""``loss(split, generator)``: split ``"train"``, ``"validation"`` (asked for only when
``train.validation`` is set) or the held-out ``"test"``; ``generator`` draws random batches
(``None`` asks for the whole split, deterministically)."""

CHECKPOINT = "last.pt"

EPOCHS_LOGGED: set[int] = set()
"""Epoch sizes (batches) already logged at INFO; a study trains many models alike."""


@dataclass
class FitResult:
    """What a training run did."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_iteration: int = -1
    best_val: float = math.inf
    final_train: float = math.nan
    stopped: str = "iterations"
    resumed_from: int | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def lbfgs_step(optimiser: torch.optim.LBFGS, loss: Callable[[], Tensor]) -> float | None:
    """One L-BFGS step on ``loss()`` (gradients averaged over the processes of a shared
    run, :mod:`discover.fit.world`); returns the loss at its start, or ``None`` when the
    line search failed (torch's strong-Wolfe search can fail on a non-finite trial point),
    in which case the parameters are put back as they were before the step."""
    parameters = [p for group in optimiser.param_groups for p in group["params"]]

    def closure() -> Tensor:
        optimiser.zero_grad(set_to_none=True)
        value = loss()
        if torch.isfinite(value):
            value.backward()
            current_world().average_gradients(parameters)
        return value

    before = [p.detach().clone() for p in parameters]
    try:
        return float(optimiser.step(closure).detach())
    except (IndexError, RuntimeError):
        with torch.no_grad():
            for p, value in zip(parameters, before, strict=True):
                p.copy_(value)
        return None


class Trainer:
    """Train ``model`` by minimising ``loss(split, generator)``.

    Adam (with an optional cosine or plateau schedule and gradient clipping) runs for
    ``config.iterations`` steps, evaluating every ``eval_every`` steps; an optional
    L-BFGS stage then refines on the full training split, for ``lbfgs_iterations`` steps
    or until a step lowers the training loss by less than ``lbfgs_tolerance``.
    ``weight_decay`` adds an L2 penalty on the weights of every neural network to the
    training loss, in both stages.

    With ``config.validation`` set, the evaluations are on the validation split (history
    column ``validation``): early stopping ends training after ``patience`` evaluations
    that did not lower the best validation loss by more than ``min_improvement``, and the
    weights with the best validation loss are restored at the end (unless
    ``restore_best`` is off). Without it, the evaluations are on the held-out split
    (column ``test``) and only recorded: held-out data choose nothing.

    Every ``checkpoint_every`` steps the full state (model, optimiser, schedule, random
    generators, history) is written atomically to ``checkpoint_dir/last.pt``, so that
    ``fit(resume=True)`` continues a killed run and ends exactly where an unbroken run
    would. Ctrl-C (``KeyboardInterrupt``) writes the checkpoint of the last completed step
    before it propagates. A checkpoint records the settings it was trained with
    (:mod:`discover.fit.resume`): resuming with other model or optimiser settings is
    refused, a changed ``iterations`` continues to the new count with the schedule
    recomputed for it. A non-finite loss, or a step that leaves a weight non-finite, stops
    training and restores the last good weights: the best validated ones, else the last
    checkpoint, else those training started from; when no step had succeeded yet, it
    raises :class:`~discover.fit.diagnose.TrainingError` saying where the simulation first
    became non-finite. A checkpoint never holds non-finite weights. With ``progress``, a
    progress bar named ``description`` (e.g. ``training neural``) counts the steps.
    When ``model`` draws random batches (a ``batches_per_epoch`` attribute that is not
    ``None``, e.g. :attr:`~discover.workflows.hbv.HBVWorkflow.batches_per_epoch`), every
    history row and the progress bar also give the ``epoch``: Adam steps over batches
    per epoch.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: LossFunction,
        config: TrainConfig,
        seed: int = 0,
        checkpoint_dir: str | Path | None = None,
        progress: bool = True,
        description: str = "training",
    ):
        self.model = model
        self.loss = loss
        self.config = config
        self.seed = seed
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.progress = progress
        self.description = description
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        if not self.parameters:
            raise ValueError("the model has no trainable parameters")
        self.regularised = [
            p for m in model.modules() if isinstance(m, Neural) for p in m.network.parameters()
        ]
        self.generator = torch.Generator().manual_seed(seed)
        self.adam = torch.optim.Adam(self.parameters, lr=config.lr)
        self.schedule = self._make_schedule()
        self.lbfgs = torch.optim.LBFGS(
            self.parameters, lr=1.0, max_iter=20, line_search_fn="strong_wolfe"
        )
        self.epoch_size: int | None = getattr(model, "batches_per_epoch", None)
        """Batches per epoch when ``model`` draws random batches, else ``None``."""
        self.result = FitResult()
        self.iteration = 0
        self.stale_evaluations = 0
        self.best_state: dict[str, Tensor] | None = None
        self.start_state: dict[str, Tensor] = {}

    def _make_schedule(self):
        if self.config.schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(
                self.adam, T_max=self.config.iterations, eta_min=self.eta_min
            )
        if self.config.schedule == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(self.adam, factor=0.5, patience=5)
        return None

    @property
    def eta_min(self) -> float:
        """The learning rate the cosine schedule ends at."""
        return self.config.lr * 0.01

    @property
    def total_steps(self) -> int:
        return self.config.iterations + self.config.lbfgs_iterations

    # -- main loop ---------------------------------------------------------------------
    def fit(self, resume: bool = False) -> FitResult:
        """Train (continuing from the last checkpoint when ``resume``) and return the result."""
        started = time.perf_counter()
        if self.epoch_size:
            level = logging.DEBUG if self.epoch_size in EPOCHS_LOGGED else logging.INFO
            EPOCHS_LOGGED.add(self.epoch_size)
            log.log(level, "an epoch is %d training batches", self.epoch_size)
        if resume:
            self._resume()
        self.start_state = copy.deepcopy(self.model.state_dict())
        bar = tqdm(
            total=self.total_steps,
            initial=self.iteration,
            disable=not self.progress,
            desc=self.description,
            leave=None,  # a bar inside another one (a candidate's) vanishes when done
            dynamic_ncols=True,
        )
        lstm = any(isinstance(m, ForcingLSTM) for m in self.model.modules())
        try:
            with denormals_flushed(lstm):  # an LSTM's gradient is slow on denormals
                while self.iteration < self.total_steps and self.result.stopped == "iterations":
                    if not self._step(bar):
                        break
        except KeyboardInterrupt:
            self._interrupted(started)
            raise
        finally:
            bar.close()
        if self.best_state is not None and self.config.restore_best:
            self.model.load_state_dict(self.best_state)
        if self.checkpoint_dir:
            self.save()
        self.result.seconds += time.perf_counter() - started
        return self.result

    def _step(self, bar: tqdm) -> bool:
        """One training step with its evaluation and checkpoint; False when it diverged.

        The loss and its gradient may be interrupted (the random generators are then put
        back as they were before the step); changing the weights and the bookkeeping hold
        Ctrl-C back until they are done."""
        adam_phase = self.iteration < self.config.iterations
        generators = (self.generator.get_state(), torch.get_rng_state())
        try:
            loss = self._adam_gradient() if adam_phase else None
        except KeyboardInterrupt:
            self.generator.set_state(generators[0])
            torch.set_rng_state(generators[1])
            raise
        with deferred_interrupt():
            loss = self._adam_update(loss) if adam_phase else self._lbfgs_step()
            self.iteration += 1
            bar.update(1)
            if not math.isfinite(loss) or not self._weights_finite():
                self._diverged(loss)
                return False
            self.result.final_train = loss
            entry = {"iteration": self.iteration, "train": loss, "lr": self._lr()}
            if self.epoch_size:
                entry["epoch"] = min(self.iteration, self.config.iterations) / self.epoch_size
            if self.iteration % self.config.eval_every == 0 or not adam_phase:
                entry[self.watched] = self._evaluate()
                shown = {"loss": f"{loss:.4g}", self.watched: f"{entry[self.watched]:.4g}"}
                if "epoch" in entry:
                    shown["epoch"] = f"{entry['epoch']:.2f}"
                bar.set_postfix(shown)
            self.result.history.append(entry)
            if self.iteration >= self.config.iterations and adam_phase:
                self.stale_evaluations = 0  # the L-BFGS stage starts afresh
            if self.checkpoint_dir and self.iteration % self.config.checkpoint_every == 0:
                self.save()
        return True

    def _interrupted(self, started: float) -> None:
        """After Ctrl-C: write the checkpoint of the last completed step (if checkpointing)."""
        self.result.seconds += time.perf_counter() - started
        if self.checkpoint_dir is None:
            return
        self.save()
        log.warning(
            "interrupted after iteration %d; checkpoint written to %s (resume continues from it)",
            self.iteration,
            self._checkpoint_path(),
        )

    def _training_loss(self, generator: torch.Generator | None) -> Tensor:
        loss = self.loss("train", generator)
        if self.config.weight_decay and self.regularised:
            penalty = sum((p**2).sum() for p in self.regularised)
            loss = loss + self.config.weight_decay * penalty
        return loss

    def _adam_gradient(self) -> Tensor:
        """The training loss of a random batch, with its gradient when it is finite."""
        self.model.train()
        self.adam.zero_grad(set_to_none=True)
        loss = self._training_loss(self.generator)
        if torch.isfinite(loss):
            loss.backward()
            current_world().average_gradients(self.parameters)
        return loss

    def _adam_update(self, loss: Tensor) -> float:
        """Adam's step (and the schedule's) on the gradient of ``loss``; skipped when the
        loss is not finite. Returns the loss."""
        if not torch.isfinite(loss):
            return float(loss.detach())
        if self.config.grad_clip:
            nn.utils.clip_grad_norm_(self.parameters, self.config.grad_clip)
        self.adam.step()
        if isinstance(self.schedule, torch.optim.lr_scheduler.CosineAnnealingLR):
            self.schedule.step()
        return float(loss.detach())

    def _lbfgs_step(self) -> float:
        """One L-BFGS step; returns the training loss at its start. The stage ends
        (``converged``) when the line search fails, or when the step before lowered the
        training loss by less than ``lbfgs_tolerance``."""
        self.model.train()
        loss = lbfgs_step(self.lbfgs, lambda: self._training_loss(None))
        if loss is None:
            log.warning("L-BFGS line search failed; ending the L-BFGS stage")
            self.result.stopped = "converged"
            with torch.no_grad():
                return float(self._training_loss(None))
        previous = self.result.final_train  # the start of the step before, if L-BFGS's
        if self.iteration > self.config.iterations and (
            previous - loss < self.config.lbfgs_tolerance
        ):
            log.info(
                "L-BFGS converged at iteration %d: the training loss moved by %.3g",
                self.iteration + 1,
                previous - loss,
            )
            self.result.stopped = "converged"
        return loss

    @property
    def watched(self) -> str:
        """The split evaluated during training: ``validation`` if configured, else ``test``."""
        return "validation" if self.config.validation is not None else "test"

    def _evaluate(self) -> float:
        """Loss on the watched split; on the validation split it also chooses weights."""
        self.model.eval()
        with torch.no_grad():
            val = float(self.loss(self.watched, None))
        if self.config.validation is None:
            return val
        if isinstance(self.schedule, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.schedule.step(val)
        better = self.result.best_val - val if math.isfinite(val) else -math.inf
        if better > 0:
            self.result.best_val = val
            self.result.best_iteration = self.iteration
            self.best_state = copy.deepcopy(self.model.state_dict())
        if better > self.config.min_improvement:
            self.stale_evaluations = 0
        else:
            self.stale_evaluations += 1
            patience = self.config.patience
            if patience and self.stale_evaluations >= patience:
                self.result.stopped = "early stopping"
                log.info("early stopping at iteration %d", self.iteration)
        return val

    def _weights_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.parameters)

    def _diverged(self, loss: float) -> None:
        self.result.stopped = "diverged"
        if self.best_state is not None:
            where, state = "the best validated weights", self.best_state
        elif self.checkpoint_dir and self._checkpoint_path().exists():
            where, state = "the last checkpoint", load_checkpoint(self._checkpoint_path())["model"]
        else:
            where, state = "the weights training started from", self.start_state
        if not self.result.history:  # not one finite step, in this run or before a resume
            raise divergence_error(self.model, self.start_state, loss)
        reason = f"loss {loss}" if not math.isfinite(loss) else "non-finite weights"
        log.warning(
            "training diverged at iteration %d (%s); restoring %s", self.iteration, reason, where
        )
        self.model.load_state_dict(state)

    def _lr(self) -> float:
        return float(self.adam.param_groups[0]["lr"])

    # -- checkpoints -------------------------------------------------------------------
    def _checkpoint_path(self) -> Path:
        assert self.checkpoint_dir is not None
        return self.checkpoint_dir / CHECKPOINT

    def state(self) -> dict[str, Any]:
        """Everything needed to continue this run exactly."""
        return {
            "model": self.model.state_dict(),
            "adam": self.adam.state_dict(),
            "lbfgs": self.lbfgs.state_dict(),
            "schedule": self.schedule.state_dict() if self.schedule else {},
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "iteration": self.iteration,
            "stale_evaluations": self.stale_evaluations,
            "best_state": self.best_state or {},
            "result": self.result.as_dict(),
            "iterations": self.config.iterations,
            "settings": self.settings(),
        }

    def settings(self) -> dict[str, Any]:
        """The model and optimiser settings this run trains with (see
        :func:`~discover.fit.resume.training_settings`)."""
        return training_settings(self.model, self.config, self.seed)

    def save(self) -> None:
        """Write the checkpoint atomically (see :func:`save_checkpoint`)."""
        save_checkpoint(self.state(), self._checkpoint_path())

    def _resume(self) -> None:
        if not self.checkpoint_dir or not self._checkpoint_path().exists():
            log.info("no checkpoint to resume from; starting afresh")
            return
        path = self._checkpoint_path()
        state = load_checkpoint(path)
        if "settings" in state:  # checkpoints written before they recorded them lack it
            check_resumable(state["settings"], self.settings(), str(path))
        self.model.load_state_dict(state["model"])
        self.adam.load_state_dict(state["adam"])
        self.lbfgs.load_state_dict(state["lbfgs"])
        if self.schedule:
            self.schedule.load_state_dict(state["schedule"])
        recorded = int(state.get("iterations", self.config.iterations))
        if recorded != self.config.iterations:
            self._extend(recorded, int(state["iteration"]), str(path))
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.iteration = int(state["iteration"])
        self.stale_evaluations = int(state["stale_evaluations"])
        self.best_state = state["best_state"] or None
        self.result = FitResult(**state["result"])
        self.result.resumed_from = self.iteration
        log.info("resumed from iteration %d", self.iteration)

    def _extend(self, recorded: int, done: int, path: str) -> None:
        """Continue a checkpoint trained for ``recorded`` Adam iterations, ``done`` steps
        of them taken, to ``config.iterations``: the schedule is recomputed for the new
        count, as if it had been configured from the start.

        Raises:
            ResumeError: the checkpoint has already taken more steps than the new count,
                or has begun its L-BFGS stage.
        """
        wanted = self.config.iterations
        if done > min(recorded, wanted):
            stage = "its L-BFGS stage has begun" if done > recorded else f"{done} steps taken"
            raise ResumeError(
                f"cannot resume from {path} with train.iterations: {recorded} → {wanted}: "
                f"{stage}; start afresh without --resume"
            )
        if isinstance(self.schedule, torch.optim.lr_scheduler.CosineAnnealingLR):
            self.schedule.T_max = wanted
            share = (1 + math.cos(math.pi * done / wanted)) / 2
            for group in self.adam.param_groups:
                group["lr"] = self.eta_min + (group["initial_lr"] - self.eta_min) * share
            self.schedule._last_lr = [group["lr"] for group in self.adam.param_groups]
        log.info("continuing to %d iterations, schedule recomputed for %d", wanted, wanted)
