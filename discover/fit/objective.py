"""What a model is fitted to and scored by, for every model type: the observations, the
splits in time, the hidden sites and the loss on a split.

An :class:`Objective` is built from a model's simulation function (``run``), its
observations [time, site, variable] and the time splits (``train``, ``validation`` when
set, the held-out ``test``). Errors are divided by a scale and averaged in one of two ways
(``per_site``):

- **per site** (HBV): every site-variable column is scaled by its own spread (sample
  standard deviation over the steps from the first training step to the held-out ones)
  and weighs alike, an NSE-like loss over sites of any size. Such a loss is a mean over
  sites, so in a run shared among processes (:mod:`discover.fit.world`) each process
  runs its own training batch, or its share of the sites of a whole period, and the loss
  is the mean over every process's sites; without gradients, sites run in chunks
  (``chunks``).
- **pooled** (ODE): every variable is scaled by its spread over every site and step
  before the held-out ones (population standard deviation, the initial state included)
  and weighs alike; every site runs together (an adaptive solver steps them as one).

The loss on ``"train"`` is a random batch of sites and days with the trainer's generator
and ``batch`` (:mod:`discover.fit.batches`), the model's own training loss when one is set
(:meth:`Objective.score_training_by`: multiple shooting, :mod:`discover.fit.shooting`),
else one run over the whole split, as on every other split. The loss on ``"train"`` also
adds the penalty of symbolic slots whose unclipped outputs leave their declared ranges
(:class:`~discover.processes.symbolic.RangeExcess`; 0 inside them), so that training, not
only the clip, keeps reinserted equations physical; it is the same value without
gradients, so that a search (:mod:`discover.fit.population`) scores what training
minimises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from discover.config.stage_settings import BatchConfig
from discover.fit.batches import Batch, BatchSampler
from discover.fit.losses import masked_mse
from discover.fit.world import current_world
from discover.processes.symbolic import RangeExcess

Run = Callable[[Batch, Tensor | slice], Tensor]
"""A model's simulation of a batch: ``run(batch, sites)`` gives the simulated variables
[time, site, variable] of ``sites`` (indices or a slice) over the steps
``[batch.first + batch.warmup, batch.end)``."""

Chunks = Callable[[Batch, Tensor | slice], list[Tensor | slice]]
"""Parts of a batch's ``sites`` run one after another (e.g. within a memory budget)."""

LEGACY_BUFFERS = ("flow", "flow_scale", "observations", "loss_scale")
"""Buffers of the observations and their scale that workflows saved in their state
before an :class:`Objective` held them (derived from the data, no longer saved)."""


def forget_legacy_buffers(module: nn.Module, state: dict[str, Any], prefix: str, *_: Any) -> None:
    """A ``load_state_dict`` pre-hook: drop :data:`LEGACY_BUFFERS` from ``state``, so
    that a checkpoint written before the :class:`Objective` still loads."""
    for name in LEGACY_BUFFERS:
        state.pop(prefix + name, None)


def site_spread(observed: Tensor, steps: slice) -> Tensor:
    """Sample standard deviation of each site and variable over ``steps`` [site, variable]
    of ``observed`` [time, site, variable] (missing values skipped); 1 where it is not
    finite or zero."""
    part = observed[steps]
    columns = part.reshape(part.shape[0], -1).unbind(-1)
    spread = torch.stack([c[torch.isfinite(c)].std() for c in columns]).nan_to_num(1.0)
    spread = torch.where(spread > 0, spread, torch.ones_like(spread))
    return spread.reshape(part.shape[1:])


def pooled_spread(observed: np.ndarray, steps: slice) -> np.ndarray:
    """Population standard deviation of each variable over ``steps`` and every site
    [variable] of ``observed`` [time, site, variable] (missing values skipped); 1 where it
    is not finite or zero."""
    part = observed[steps]
    spread = np.nanstd(np.where(np.isfinite(part), part, np.nan), axis=(0, 1))
    return np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)


def all_sites(batch: Batch, sites: Tensor | slice) -> list[Tensor | slice]:
    """``sites`` in one part."""
    return [sites]


class Objective(nn.Module):
    """The observations a model is fitted to, their splits, hidden sites and losses.

    Args:
        run: the model's simulation of a batch (:data:`Run`).
        observed: observations [time, site, variable], NaN where missing.
        splits: time slices ``train``, ``validation`` (optional) and ``test``; a ``stop``
            of ``None`` runs to the last step.
        per_site: scale and weigh each site-variable column alike (else each variable).
        dtype: dtype of the observation tensors.
        warmup: steps a run over the whole period spends setting its states before any
            scored step (HBV ``model.warmup``; 0 when the first step is the initial state).
        batch: ``train.batch`` (random batches of sites and days; per-site objectives),
            or ``None``.
        chunks: splits a batch's sites into parts (per-site objectives); one part if
            ``None``.

    Attributes:
        splits: the time slices by split name.
        target: the observations as a tensor [time, site, variable].
        seen: ``target`` with the hidden sites masked (NaN): what every loss compares with.
        scale: what errors are divided by, [site, variable] per site, [variable] pooled.
        hidden: indices of the hidden sites.
    """

    def __init__(
        self,
        run: Run,
        observed: np.ndarray,
        splits: dict[str, slice],
        *,
        per_site: bool,
        dtype: torch.dtype,
        warmup: int = 0,
        batch: BatchConfig | None = None,
        chunks: Chunks | None = None,
    ):
        super().__init__()
        self.run, self.per_site, self.warmup = run, per_site, warmup
        self.observed = observed
        """Observations [time, site, variable] as given (every site, none hidden)."""
        self.splits = dict(splits)
        self.chunks = chunks or all_sites
        target = torch.as_tensor(observed, dtype=dtype)
        self.register_buffer("target", target, persistent=False)
        self.register_buffer("seen", target.clone(), persistent=False)
        scaled = slice(splits["train"].start if per_site else 0, splits["test"].start)
        scale = site_spread(target, scaled) if per_site else pooled_spread(observed, scaled)
        self.register_buffer("scale", torch.as_tensor(scale, dtype=dtype), persistent=False)
        self.hidden: list[int] = []
        self.sampler = None if batch is None else BatchSampler(batch, splits["train"])
        """Draws the training batches (``train.batch``); ``None``: whole split."""
        self.training_loss: Callable[[], Tensor] | None = None

    def score_training_by(self, loss: Callable[[], Tensor]) -> None:
        """Score the ``train`` split by ``loss()`` instead of one run (e.g. multiple
        shooting, :meth:`discover.fit.shooting.MultipleShooting.loss`)."""
        self.training_loss = loss

    def split_slices(self) -> dict[str, slice]:
        """Time slices of every split (a copy)."""
        return dict(self.splits)

    def hide_sites(self, indices: list[int]) -> None:
        """Mask the observations of the sites at ``indices`` out of every loss (``seen``),
        so that they can be held out; :attr:`observed` still shows them."""
        self.hidden = sorted(set(self.hidden) | set(indices))
        self.seen[:, self.hidden] = float("nan")

    def loss(self, split: str, generator: torch.Generator | None = None) -> Tensor:
        """Scaled masked MSE on ``"train"`` (plus the range penalty), ``"validation"`` or
        the held-out ``"test"`` (see the module's description). Per site, in a run
        shared among processes each process scores its own random training batch
        (:meth:`~discover.fit.batches.BatchSampler.draw`) or its share of a whole
        period's sites, and every process returns the mean over every process's scored
        sites (:meth:`~discover.fit.world.World.mean`).

        Raises:
            ValueError: an unknown split, or no finite observation to score.
        """
        batch = self._batch(split, generator)
        if split != "train":
            return self._fit(batch)
        with RangeExcess() as excess:
            fit = self.training_loss() if self.training_loss is not None else self._fit(batch)
        return fit + excess.penalty()

    def _fit(self, batch: Batch) -> Tensor:
        """The scaled masked MSE of a run over ``batch`` (see :meth:`loss`)."""
        if not self.per_site:
            return masked_mse(*self._pair(batch, batch.sites), self.scale)
        world = current_world()
        parts = [self._site_loss(batch, part) for part in self.chunks(batch, batch.share(world))]
        counted = sum(n for _, n in parts)  # the sites the mean is over
        if counted == 0 and world.alone:
            raise ValueError("no finite observation to compute a loss on")
        if counted == 0:  # other processes' shares hold the batch's observations
            return world.mean(parts[0][0], 0)
        if len(parts) == 1:
            return world.mean(parts[0][0], counted)
        return world.mean(sum(loss * n for loss, n in parts if n) / counted, counted)

    def _pair(self, batch: Batch, sites: Tensor | slice) -> tuple[Tensor, Tensor]:
        """Simulated and seen observations [time, site, variable] of ``sites`` on the
        batch's scored steps."""
        simulated = self.run(batch, sites)[batch.scored - batch.first - batch.warmup :]
        return simulated, self.seen[batch.scored : batch.end, sites]

    def _site_loss(self, batch: Batch, sites: Tensor | slice) -> tuple[Tensor, int]:
        """The loss of ``sites`` on the batch's scored steps, and how many site-variable
        columns have observations there (the loss is the mean over those; a NaN-free zero
        when none)."""
        simulated, observed = self._pair(batch, sites)
        counted = int(torch.isfinite(observed).any(0).sum())
        if counted == 0:
            return simulated.sum() * 0.0, 0
        columns = simulated.reshape(simulated.shape[0], -1)
        seen = observed.reshape(observed.shape[0], -1)
        return masked_mse(columns, seen, self.scale[sites].reshape(-1)), counted

    def _batch(self, split: str, generator: torch.Generator | None) -> Batch:
        """The sites and steps the loss on ``split`` runs on."""
        if split not in self.splits:
            raise ValueError(f"unknown split {split!r}; use one of {list(self.splits)}")
        if split == "train" and generator is not None and self.sampler is not None:
            return self.sampler.draw(generator, self._seen_anything(), current_world())
        part = self.splits[split]
        return self.whole(part.start, part.stop or self.seen.shape[0])

    def whole(self, scored: int, end: int) -> Batch:
        """Every site over steps ``[0, end)`` (the first ``warmup`` setting the states),
        scored from ``scored``."""
        return Batch(slice(0, self.seen.shape[1]), 0, self.warmup, scored, end)

    def _seen_anything(self) -> Tensor:
        """[time, site]: NaN where no variable is seen (what batches are drawn from; the
        seen variable itself when there is one)."""
        if self.seen.shape[-1] == 1:
            return self.seen[..., 0]
        return torch.where(torch.isfinite(self.seen).any(-1), 0.0, torch.nan)

    @property
    def batches_per_epoch(self) -> int | None:
        """Training steps in an epoch (:mod:`discover.fit.batches`: a batch in each
        process of the run); ``None`` without ``batch``."""
        if self.sampler is None:
            return None
        return self.sampler.epoch(self._seen_anything(), current_world().size)

    def observed_sites(self, split: str) -> Tensor:
        """Which sites have a seen observation in ``split`` [site] (bool)."""
        return torch.isfinite(self.seen[self.splits[split]]).any(0).any(-1)

    def site_losses(self, simulated: Tensor, split: str = "train") -> Tensor:
        """The loss of every column of ``simulated`` [time, member·site, variable] over
        ``split``'s steps, [member·site]: column ``p·sites + s`` (member ``p`` at site
        ``s``) is scored against site ``s``'s seen observations, scaled as the loss
        scales them: the mean over its observed variables of their mean squared scaled
        error (a per-site loss's value is the mean of these over the observed sites, when
        they observe the same variables); 0 where nothing is observed, ``inf`` where not
        finite."""
        observed = self.seen[self.splits[split]]  # [time, site, variable]
        steps, sites, variables = observed.shape
        by_member = simulated.reshape(steps, -1, sites, variables)  # [time, member, site, var]
        mask = torch.isfinite(observed)
        scale = torch.broadcast_to(self.scale, observed.shape[1:])
        error = (by_member - observed.nan_to_num().unsqueeze(1)) / scale
        error = torch.where(mask.unsqueeze(1), error, 0.0)
        per_variable = (error**2).sum(0) / mask.sum(0).clamp_min(1)  # [member, site, variable]
        loss = (per_variable.sum(-1) / mask.any(0).sum(-1).clamp_min(1)).reshape(-1)
        return torch.where(torch.isfinite(loss), loss, torch.inf)
