"""Mini-batches of sites × time windows for training (``train.batch``).

A *batch* is a set of sites and a window of consecutive days: the model runs the window
from empty storages, its first ``warmup`` days set the storages and are not scored, and
the loss scores the remaining days, which lie inside the training split (the warm-up may
reach before it, never before day 0). :class:`BatchSampler` draws batches from a
``torch.Generator`` alone, so a run whose generator state is checkpointed draws the same
batches again when it resumes.

In a run shared among ``N`` processes (:mod:`discover.fit.world`) the batch is per
process, as in data-parallel training: every step, every process draws the same ``N``
batches from its generator (the generators stay equal, so checkpoints and resumes stay
exact) and runs batch number ``rank`` whole; the step's loss and gradient are the mean
over the ``N`` batches' scored sites. An *epoch* is the number of steps whose scored
site-days (``N`` batches each) add up to the training split's site-days (rounded up).
Whole-period batches (:meth:`~discover.fit.objective.Objective.whole`) are instead
shared: each process scores its share of their sites (:meth:`Batch.share`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from discover.config.base import ConfigError
from discover.config.stage_settings import BatchConfig
from discover.errors import UserError
from discover.fit.world import World

DRAWS = 100
"""Most draws tried for a batch with at least one observation before giving up."""


@dataclass(frozen=True)
class Batch:
    """The sites and days one loss runs on: the model runs days ``[first, end)`` of
    ``sites`` (indices [site], or a slice), its first ``warmup`` days without gradient,
    and the loss scores days ``[scored, end)`` (``scored >= first + warmup``). A
    ``shared`` batch's sites are shared among the processes of a run; a batch that is
    not is this process's own (a training batch, :meth:`BatchSampler.draw`)."""

    sites: Tensor | slice
    first: int
    warmup: int
    scored: int
    end: int
    shared: bool = True

    @property
    def n_sites(self) -> int:
        """Number of sites in the batch."""
        if isinstance(self.sites, slice):
            return self.sites.stop - self.sites.start
        return len(self.sites)

    def share(self, world: World) -> Tensor | slice:
        """This process's share of the batch's sites (all of them when alone or when
        the batch is not ``shared``).

        Raises:
            UserError: fewer sites in a shared batch than processes.
        """
        if not self.shared:
            return self.sites
        try:
            part = world.share(self.n_sites)
        except ValueError:
            raise UserError(
                f"a batch of {self.n_sites} sites cannot be shared among {world.size} "
                "processes; use at least as many sites (train.batch.sites) as processes"
            ) from None
        if isinstance(self.sites, slice):
            return slice(self.sites.start + part.start, self.sites.start + part.stop)
        return self.sites[part]


class BatchSampler:
    """Draws batches of ``settings.sites`` sites × ``settings.days`` days whose scored
    days lie in the training days ``train`` ``[start, stop)``.

    Raises:
        ConfigError: a window's scored days do not fit in the training split, or its
            warm-up would reach before the first day of the data.
    """

    def __init__(self, settings: BatchConfig, train: slice):
        self.settings = settings
        self.train = train
        scored = settings.days - settings.warmup
        self.lowest = max(train.start, settings.warmup)
        """Earliest first scored day of a window (its warm-up starts at day 0 or later)."""
        self.highest = train.stop - scored
        """Latest first scored day of a window (its last day is the split's last)."""
        if self.highest < self.lowest:
            raise ConfigError(
                f"train.batch: a window of {settings.days} days ({settings.warmup} of "
                f"warm-up) does not fit the training days [{train.start}, {train.stop}) "
                "with its warm-up on or after day 0; shorten train.batch.days or "
                "train.batch.warmup"
            )

    def epoch(self, observed: Tensor, processes: int = 1) -> int:
        """Steps per epoch, given the streamflow ``observed`` [time, site] (NaN where
        missing) and a batch in each of ``processes`` processes: sites with observations
        in the training split × training days, over the scored site-days of a step's
        batches, rounded up."""
        pool = len(self._pool(observed))
        days = self.train.stop - self.train.start
        per_batch = min(self.settings.sites, pool) * (self.settings.days - self.settings.warmup)
        return math.ceil(pool * days / (per_batch * processes))

    def draw(
        self, generator: torch.Generator, observed: Tensor, world: World | None = None
    ) -> Batch:
        """This process's batch of a step: the step draws ``world.size`` random batches
        from ``generator`` only, one after another (the same in every process), and
        process ``world.rank`` runs batch number ``rank`` (not shared). A batch holds
        distinct sites (sorted) among those with observations in the training split, and
        a window whose scored days hold at least one observation of them.

        Args:
            generator: the source of randomness (a CPU generator).
            observed: streamflow [time, site], NaN where missing (or hidden).
            world: the processes the run is shared among (``None``: one).

        Raises:
            UserError: no site has observations in the training split, or no draw out
                of :data:`DRAWS` found a window with one.
        """
        world = world or World()
        pool = self._pool(observed)
        batches = [self._draw_one(generator, observed, pool) for _ in range(world.size)]
        return batches[world.rank]

    def _draw_one(self, generator: torch.Generator, observed: Tensor, pool: Tensor) -> Batch:
        """One batch of sites among ``pool`` (see :meth:`draw`)."""
        count = min(self.settings.sites, len(pool))
        span = self.highest - self.lowest + 1
        for _ in range(DRAWS):
            sites = pool[torch.randperm(len(pool), generator=generator)[:count]].sort().values
            scored = self.lowest + int(torch.randint(span, (1,), generator=generator))
            end = scored + self.settings.days - self.settings.warmup
            if bool(torch.isfinite(observed[scored:end, sites.to(observed.device)]).any()):
                first = scored - self.settings.warmup
                return Batch(sites, first, self.settings.warmup, scored, end, shared=False)
        raise UserError(
            f"train.batch: {DRAWS} random windows of {self.settings.days} days held no "
            "streamflow observation; the record is too sparse for such windows"
        )

    def _pool(self, observed: Tensor) -> Tensor:
        """Indices [site] (CPU) of the sites with an observation in the training split."""
        seen = torch.isfinite(observed[self.train]).any(0)
        pool = seen.nonzero().flatten().cpu()
        if len(pool) == 0:
            raise UserError("data: no site has a streamflow observation in the training split")
        return pool
