"""What an HBV run returns: the routed streamflow, and every flux and storage as series
stacked from the daily records only when read."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from discover.models.hbv_processes import STATES

FLUXES = (
    "rain",
    "snowfall",
    "snowmelt",
    "refreeze",
    "snow_release",
    "infiltration",
    "recharge",
    "soil_excess",
    "evapotranspiration",
    "percolation",
    "quickflow",
    "baseflow",
    "capillary_rise",
    "runoff",
)
"""Daily fluxes the model returns, each [time, site, nmul] in mm/day (``capillary_rise``,
from the lower zone to the soil, is 0 unless the model has ``capillary``)."""

STEP_FLUXES = FLUXES[2:-1]
"""Fluxes computed inside the time loop (rain, snowfall and runoff are computed outside)."""


@dataclass
class HBVOutput:
    """Result of an HBV run over the output period (after warm-up).

    Attributes:
        streamflow: routed runoff, mean over parameter sets, [time, site] mm/day.
        fluxes: each name of :data:`FLUXES` → [time, site, nmul] mm/day (before routing).
        states: each storage of ``STATES`` at the end of each day → [time, site, nmul] mm.
        initial_states: storages at the start of the output period → [site, nmul] mm.

    ``fluxes`` and ``states`` are read-only mappings whose series are stacked from the
    daily values when first read, so a run that only needs streamflow never copies them.
    """

    streamflow: Tensor
    fluxes: Mapping[str, Tensor]
    states: Mapping[str, Tensor]
    initial_states: dict[str, Tensor]

    def storage(self) -> Tensor:
        """Total stored water at the end of each day, [time, site, nmul] mm."""
        return sum(self.states[name] for name in STATES)

    def water_balance(self) -> Tensor:
        """Residual Δstorage − Σ(P − ET − runoff) over the run, [site, nmul] mm (≈ 0)."""
        start = sum(self.initial_states[name] for name in STATES)
        change = self.storage()[-1] - start
        f = self.fluxes
        net = (f["rain"] + f["snowfall"] - f["evapotranspiration"] - f["runoff"]).sum(0)
        return change - net


def stack(days: Sequence[tuple[Tensor, ...]], column: int) -> Tensor:
    """One column of the daily records stacked over time: [time, site, nmul]."""
    return torch.stack([day[column] for day in days])


class Series(Mapping[str, Tensor]):
    """Named series [time, site, nmul] stacked from daily records when first read."""

    def __init__(
        self,
        days: Sequence[tuple[Tensor, ...]],
        names: tuple[str, ...],
        column: Callable[[str], int],
        ready: Mapping[str, Tensor] | None = None,
    ):
        self._days, self._names, self._column = days, names, column
        self._stacked = dict(ready or {})

    def __getitem__(self, name: str) -> Tensor:
        if name not in self._stacked:
            if name not in self._names:
                raise KeyError(f"no series {name!r}; there are {list(self._names)}")
            self._stacked[name] = stack(self._days, self._column(name))
        return self._stacked[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


Keep = Callable[[tuple[Tensor, ...], tuple[Tensor, ...]], object]
"""What the daily loop records of a day, from its fluxes and storages."""


_QUICK, _BASE = STEP_FLUXES.index("quickflow"), STEP_FLUXES.index("baseflow")


def everything(fluxes: tuple[Tensor, ...], state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """A day's record of every flux and storage (columns of :func:`stack`)."""
    return (*fluxes, *state)


def runoff_only(fluxes: tuple[Tensor, ...], state: tuple[Tensor, ...]) -> Tensor:
    """A day's runoff, quick + base flow [site, nmul] (the sum :meth:`HBV._output` takes
    of the stacked series)."""
    return fluxes[_QUICK] + fluxes[_BASE]
