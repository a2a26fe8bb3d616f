"""The processes a run is shared among: one, or several under ``torchrun``.

Sites are independent in a δ-model, so a loss that is a mean over sites can be split by
sites over processes: each process computes the loss of its own sites (its own training
batch, :mod:`discover.fit.batches`, or its share of a whole period's sites),
:meth:`World.mean` gives every process the mean over every process's sites (with the
gradient of its own), and :meth:`World.average_gradients`, called after ``backward()``,
gives every process the gradient of that mean. Optimisers, schedules, line searches and
early stopping then take the same decisions everywhere and the weights stay equal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

from discover.fit.distributed import shard_sites


@dataclass(frozen=True)
class World:
    """This process's ``rank`` among ``size`` processes (``0`` of ``1`` when alone)."""

    rank: int = 0
    size: int = 1

    @property
    def alone(self) -> bool:
        """Whether the run is not shared with other processes."""
        return self.size == 1

    @property
    def writes(self) -> bool:
        """Whether this process writes the run directory (rank 0 only)."""
        return self.rank == 0

    def share(self, n: int) -> slice:
        """This process's contiguous share of ``n`` items (e.g. the sites of a batch);
        shares differ in size by at most one.

        Raises:
            ValueError: fewer items than processes (a process would have nothing).
        """
        return shard_sites(n, self.rank, self.size)

    def mean(self, value: Tensor, weight: float = 1.0) -> Tensor:
        """The weighted mean of every process's scalar ``value`` (weights ``weight``,
        e.g. each share's number of sites), keeping the gradient of this process's own
        part: after ``backward()`` and :meth:`average_gradients` every process holds the
        gradient of the mean. ``value`` itself when alone."""
        if self.alone:
            return value
        parts = torch.stack([value.detach() * weight, value.new_tensor(float(weight))])
        dist.all_reduce(parts, op=dist.ReduceOp.SUM)
        total, weights = parts.unbind()
        local = value * (weight * self.size / weights)  # its share of the mean, times size
        return local + (total / weights - local.detach())

    def average_gradients(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        """Average the gradients of ``parameters`` over every process (in place; a
        missing gradient counts as zero). Nothing when alone."""
        if self.alone:
            return
        parameters = [p for p in parameters if p.requires_grad]
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= self.size
        offset = 0
        for p in parameters:
            p.grad = flat[offset : offset + p.numel()].view_as(p).clone()
            offset += p.numel()


def current_world() -> World:
    """The world of the initialised process group, or a world of one."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size())
    return World()
