"""Multiple shooting: the training loss of an ODE model over short segments.

The training period (time steps ``0 .. n - 1``, step 0 the initial condition) is cut into
segments of ``segment`` steps. The first segment starts from the workflow's initial state,
every later one from its own trainable initial state; all segments of all sites are
integrated together as one batch (segment × site rows, each on its own time grid), so one
loss costs ``segment`` solver steps instead of ``n``. The loss is the scaled masked MSE of
the segments against the observations (each time step scored by exactly one segment: the
last one starting before it) plus ``continuity`` times the scaled mean squared gap
between each segment's state where the next one starts and that segment's initial state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

from discover.config import ShootingConfig
from discover.fit.losses import masked_mse

if TYPE_CHECKING:
    from discover.workflows.base import Workflow
    from discover.workflows.ode import ODEWorkflow

log = logging.getLogger("discover")


def segment_starts(steps: int, segment: int) -> list[int]:
    """First time step of each segment of ``segment`` steps over ``steps`` times.

    Segments start every ``segment`` steps; the last one is moved back to end at the last
    time, so every segment has the same length (it may overlap the one before). One
    segment (``[0]``) when ``segment`` covers the whole period.
    """
    if segment < 1:
        raise ValueError(f"segment must be >= 1 time step, got {segment}")
    last = steps - 1
    if segment >= last:
        return [0]
    starts = list(range(0, last, segment))
    starts[-1] = min(starts[-1], last - segment)
    return starts


def initial_segment_states(
    observed: np.ndarray,
    times: np.ndarray,
    starts: list[int],
    single_shot: Callable[[], np.ndarray],
) -> np.ndarray:
    """Initial states [segment - 1, site, state] of every segment but the first.

    Args:
        observed: observations over the training period [time, site, state] (NaN missing).
        times: their times [time].
        starts: first step of each segment (:func:`segment_starts`).
        single_shot: simulated states [time, site, state] over the training period,
            called only when a state is never observed at some site.

    Observed values are taken where they exist, interpolated linearly in time where
    missing (held constant beyond the first and last observation); states never observed
    at a site come from the single shot.
    """
    at = times[starts[1:]]
    states = np.empty((len(at), observed.shape[1], observed.shape[2]))
    simulated = None
    for site in range(observed.shape[1]):
        for i in range(observed.shape[2]):
            series = observed[:, site, i]
            finite = np.isfinite(series)
            if finite.any():
                states[:, site, i] = np.interp(at, times[finite], series[finite])
                continue
            if simulated is None:
                simulated = single_shot()
            states[:, site, i] = simulated[starts[1:], site, i]
    return states


class MultipleShooting(nn.Module):
    """The segments of an ODE workflow's training period and their initial states.

    Args:
        workflow: the ODE workflow (model, initial states, times, observations,
            forcings and loss scale), already on its dtype and device.
        starts: first step of each segment (at least two segments).
        segment: steps per segment.
        continuity: weight of the continuity penalty.
    """

    def __init__(self, workflow: ODEWorkflow, starts: list[int], segment: int, continuity: float):
        super().__init__()
        if len(starts) < 2:
            raise ValueError("multiple shooting needs at least two segments")
        self.starts = list(starts)
        self.segment = segment
        self.continuity = continuity
        offsets = torch.arange(segment + 1)
        self.register_buffer("index", torch.tensor(starts)[:, None] + offsets, persistent=False)
        # owned[j, k]: step j of segment k is scored by it (no later segment starts before)
        following = torch.tensor([*starts[1:], starts[-1] + segment])
        owned = (offsets[:, None] >= 1) & (self.index.T <= following)
        self.register_buffer("owned", owned, persistent=False)
        self.segment_states = nn.Parameter(
            torch.zeros(len(starts) - 1, *workflow.y0.shape, dtype=workflow.dtype)
        )
        self.to(workflow.device)
        self.initialise(workflow)

    def initialise(self, workflow: ODEWorkflow) -> None:
        """Set every segment's initial state from the observations
        (:meth:`observed_states`): when built, after the collocation pre-fit, and before
        the refit of equations put in place of a model (:func:`restarted_segments`), so
        that the states a replaced model was fitted with do not carry over."""
        with torch.no_grad():
            self.segment_states.copy_(torch.as_tensor(self.observed_states(workflow)))

    def observed_states(self, workflow: ODEWorkflow, keep: np.ndarray | None = None) -> np.ndarray:
        """Every segment's initial state [segment - 1, site, state] from the observations
        at the steps ``keep`` ``[time]`` of the training period (all when ``None``) alone
        (:func:`initial_segment_states`; unobserved states from a single shot of the
        workflow's current model)."""
        observed = workflow.observed[: self.steps]
        if keep is not None:
            observed = np.where(self._checked(keep)[:, None, None], observed, np.nan)

        def single_shot() -> np.ndarray:
            with torch.no_grad():
                return workflow.simulate(self.steps).cpu().numpy()

        return initial_segment_states(
            observed, workflow.times_index()[: self.steps], self.starts, single_shot
        )

    @property
    def steps(self) -> int:
        """Time steps the segments cover: the training period ``0 .. steps - 1``."""
        return self.starts[-1] + self.segment + 1

    def simulate(self, workflow: ODEWorkflow) -> Tensor:
        """Every segment integrated from its initial state: [step, segment, site, state]."""
        segments, steps = self.index.shape
        sites = workflow.y0.shape[0]
        y0 = torch.cat([workflow.y0[None], self.segment_states]).reshape(segments * sites, -1)
        grid = workflow.times[self.index].T.repeat_interleave(sites, dim=1)  # [step, row]
        forcing = None
        if workflow.forcing_names:
            forcing = workflow.forcings[self.index].transpose(0, 1)  # [step, segment, site, f]
            forcing = forcing.reshape(steps, segments * sites, -1)
        return workflow.model.simulate(y0, grid, forcing).reshape(steps, segments, sites, -1)

    def loss(self, workflow: ODEWorkflow, keep: np.ndarray | None = None) -> Tensor:
        """Scaled masked MSE of the segments against the observations, plus
        ``continuity`` times the scaled mean squared gap at each segment's start.

        Args:
            keep: ``[time]`` over the training steps ``0 .. n - 1``: only the observations
                at kept steps are scored (``None``: every step). The gaps count
                everywhere: continuity is a property of the trajectory, not of the data.

        Raises:
            ValueError: ``keep`` does not cover the training steps, or keeps no
                observation.
        """
        simulated = self.simulate(workflow)
        observed = workflow.observations[self.index].transpose(0, 1)  # [step, segment, site, state]
        scored = self.owned
        if keep is not None:
            scored = (
                scored & torch.as_tensor(self._checked(keep), device=scored.device)[self.index.T]
            )
        observed = torch.where(scored[:, :, None, None], observed, torch.nan)
        fit = masked_mse(simulated, observed, workflow.loss_scale)
        return fit + self.continuity * self.gap(simulated, workflow.loss_scale)

    def state_errors(self, workflow: ODEWorkflow) -> tuple[np.ndarray, np.ndarray]:
        """Mean squared error of each state [state], divided by the loss scale, over the
        steps the segments score: of the simulated segments, and of holding each
        segment's initial state over it (no change at all). NaN for a state never
        observed."""
        with torch.no_grad():
            simulated = self.simulate(workflow)  # [step, segment, site, state]
            observed = workflow.observations[self.index].transpose(0, 1)
            observed = torch.where(self.owned[:, :, None, None], observed, torch.nan)
            held = simulated[:1].expand_as(simulated)

            def per_state(values: Tensor) -> np.ndarray:
                error = ((values - observed) / workflow.loss_scale) ** 2
                return torch.nanmean(error.reshape(-1, error.shape[-1]), 0).cpu().numpy()

            return per_state(simulated), per_state(held)

    def gap(self, simulated: Tensor, scale: Tensor) -> Tensor:
        """Mean squared gap, divided by ``scale`` [state], between each segment's state
        where the next one starts and that one's initial state (``simulated`` as from
        :meth:`simulate`)."""
        offsets = torch.tensor(self.starts[1:]) - torch.tensor(self.starts[:-1])
        ends = simulated[offsets, torch.arange(len(offsets))]  # [segment - 1, site, state]
        return (((ends - self.segment_states) / scale) ** 2).mean()

    def _checked(self, keep: np.ndarray) -> np.ndarray:
        """``keep`` as booleans, checked to be ``[time]`` over the training steps."""
        if np.shape(keep) != (self.steps,):
            raise ValueError(f"keep must be [time] over the {self.steps} training steps")
        return np.asarray(keep, bool)


def restarted_segments(workflow: Workflow) -> list[nn.Parameter]:
    """The segment starts of ``workflow``'s multiple shooting set again from the
    observations (:meth:`MultipleShooting.initialise`), for a refit to train with the
    equations (``[segment_states]``; ``[]`` for a workflow without multiple shooting).

    For refits of equations put in place of a fitted model (the reinsertion refit, the
    selection's): the starts that model left absorb its errors, and held there they would
    bend the equations' constants; set from the observations but frozen, they would hold
    the data's noise."""
    shooting = getattr(workflow, "shooting", None)
    if shooting is None:
        return []
    shooting.initialise(workflow)
    return [shooting.segment_states]


def multiple_shooting(workflow: ODEWorkflow, settings: ShootingConfig) -> MultipleShooting | None:
    """Multiple shooting of ``workflow``'s training period as ``settings`` say, or ``None``
    (one shot) when it is off, one segment covers the period, or the solver is adaptive
    (segments on their own time grids need ``rk4``)."""
    if settings.segment is None:
        return None
    starts = segment_starts(workflow.n_fit, settings.segment)
    if len(starts) < 2:
        log.info("train.shooting: one segment covers the training period; single shot")
        return None
    method = workflow.model.solver["method"]
    if method != "rk4":
        log.info("train.shooting: the %s solver integrates in one shot (needs rk4)", method)
        return None
    return MultipleShooting(workflow, starts, settings.segment, settings.continuity)
