"""What a Study needs from a model bound to its data, whatever the model type."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from discover.config import ConfigError
from discover.fit.objective import Objective
from discover.models.base import HybridModel

log = logging.getLogger("discover")


class Workflow(Protocol):
    """A hybrid model bound to its data (one per model type); its splits, hidden sites
    and losses are its :class:`~discover.fit.objective.Objective`'s.

    Attributes:
        model: the hybrid model whose slots are trained, distilled and replaced.
        objective: the observations, splits, hidden sites and losses.
        dtype, device: where tensors live.
        variables: names of the observed variables, in the order of the last axis.
        sites: site (or trajectory) ids.
        observed: observations [time, site, variable], NaN where missing.
    """

    model: HybridModel
    objective: Objective
    dtype: torch.dtype
    device: torch.device
    variables: list[str]
    sites: list[str]
    observed: np.ndarray

    def simulate(self) -> Tensor:
        """Simulated observed variables over the whole period, [time, site, variable]."""

    def loss(self, split: str, generator: torch.Generator | None = None) -> Tensor:
        """Loss on ``"train"``, ``"validation"`` (when configured) or the held-out
        ``"test"`` (random batches when ``generator``)."""

    def units(self) -> dict[str, str]:
        """Units of variables, slot inputs and slot outputs by name (those known)."""

    def times_index(self) -> np.ndarray:
        """The time coordinate [time] (numbers or datetime64)."""

    def split_slices(self) -> dict[str, slice]:
        """Time slices of each scored split, e.g. ``{"train": ..., "test": ...}``."""

    def hide_sites(self, indices: list[int]) -> None:
        """Mask the observations of the sites at ``indices`` out of every loss, so that
        they can be held out (``validate.site_folds``, HBV workflows only)."""

    # torch.nn.Module's methods, which Study and its stages call on a workflow
    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]:
        """Every trainable tensor (model, parameter learners, initial states)."""

    def state_dict(self) -> dict[str, Any]:
        """Every parameter and buffer by name (a snapshot to restore a trained state)."""

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> Any:
        """Restore a state taken by :meth:`state_dict`."""

    def to(self, *args: Any, **kwargs: Any) -> Workflow:
        """Move every tensor to a device or dtype (in place; returns the workflow)."""


class WithObjective:
    """The :class:`Workflow` methods that a workflow (an ``nn.Module`` holding an
    ``objective``) leaves to its :class:`~discover.fit.objective.Objective`."""

    objective: Objective

    def loss(self, split: str, generator: torch.Generator | None = None) -> Tensor:
        """The objective's loss on ``split`` (:meth:`Objective.loss`)."""
        return self.objective.loss(split, generator)

    def split_slices(self) -> dict[str, slice]:
        """Time slices of each split (:meth:`Objective.split_slices`)."""
        return self.objective.split_slices()

    @property
    def observed(self) -> np.ndarray:
        """Observations [time, site, variable], NaN where missing (none hidden)."""
        return self.objective.observed

    @property
    def batches_per_epoch(self) -> int | None:
        """Training batches in an epoch with ``train.batch``, else ``None``."""
        return self.objective.batches_per_epoch


def validation_start(first: int, n_train: int, validation: float | None) -> int:
    """First time step of the validation split: the last ``validation`` share of the
    training steps ``[first, n_train)`` (``n_train`` when there is no validation split).

    Raises:
        ConfigError: the validation or the remaining training part would be empty.
    """
    if validation is None:
        return n_train
    start = n_train - int(round(validation * (n_train - first)))
    if not first + 1 < start < n_train:
        raise ConfigError(
            f"train.validation: {validation} of the {n_train - first} training steps leaves "
            "an empty validation or training part"
        )
    return start


def log_missing(observed: np.ndarray, names: list[str], source: str) -> dict[str, float]:
    """Log (and return) the share of missing observations per variable; they are masked."""
    shares = {name: float(np.mean(~np.isfinite(observed[..., i]))) for i, name in enumerate(names)}
    for name, share in shares.items():
        if share > 0:
            log.info("%s: %.1f%% of %s observations missing (masked)", source, 100 * share, name)
    return shares


def time_splits(first: int, fit_end: int, n_train: int) -> dict[str, slice]:
    """Time slices ``train`` ``[first, fit_end)``, ``validation`` ``[fit_end, n_train)``
    (only when not empty) and the held-out ``test`` (from ``n_train`` to the end)."""
    slices = {"train": slice(first, fit_end)}
    if fit_end < n_train:
        slices["validation"] = slice(fit_end, n_train)
    slices["test"] = slice(n_train, None)
    return slices
