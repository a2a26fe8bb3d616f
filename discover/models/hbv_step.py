"""One day of HBV: the storages' update by the daily slots, each outflow limited to the
storage it drains (see :mod:`discover.models.hbv` for the order of the processes)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from discover.models.hbv_processes import SLOT_INPUTS
from discover.processes.base import Process

STEP_SLOTS = tuple(name for name in SLOT_INPUTS if name != "routing")
"""Slots evaluated every day (routing acts on the whole series after the loop)."""

WETNESS_FLOOR = 1e-6
"""Least soil wetness a slot sees: a dry soil's power law ``SW^b`` with ``b < 1`` then keeps a
finite gradient (its outflows are limited to the empty storage all the same)."""


def wetness(soil: Tensor, inverse_fc: Tensor) -> Tensor:
    """Soil wetness ``soil_moisture / fc`` as the slots see it, at least ``WETNESS_FLOOR``,
    from ``inverse_fc`` = 1/fc (a multiplication is cheaper than a division, also backward)."""
    return (soil * inverse_fc).clamp_min(WETNESS_FLOOR)


def step(
    state: tuple[Tensor, ...], values: dict[str, Tensor], plan: Plan, smooth: float | None
) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
    """One day: storages (snowpack, meltwater, soil, upper, lower) → new storages and
    the fluxes of ``STEP_FLUXES``; ``values`` holds the day's forcings, parameters,
    precomputed slot outputs and ``no_flux`` (zeros [site, nmul], the capillary rise of a
    model without it), ``smooth`` is the threshold smoothing of the model."""
    snowpack, meltwater, soil, upper, lower = state
    snowpack = snowpack + values["snowfall"]
    values["snowpack"] = snowpack
    melt, snowpack = plan.take("snowmelt", values, snowpack)
    meltwater = meltwater + melt
    values["snowpack"], values["meltwater"] = snowpack, meltwater
    freeze, meltwater = plan.take("refreeze", values, meltwater)
    snowpack = snowpack + freeze
    release, meltwater = spill(meltwater, values["cwh"] * snowpack, smooth)

    infiltration = values["rain"] + release
    fc, inverse_fc = values["fc"], values["inverse_fc"]
    values["snowpack"], values["meltwater"] = snowpack, meltwater
    values["infiltration"], values["soil_moisture"] = infiltration, soil
    if "recharge" in plan.wetness:
        values["soil_wetness"] = wetness(soil, inverse_fc)
    recharge = infiltration * plan.fraction("recharge", values)
    soil = soil + (infiltration - recharge)
    excess, soil = spill(soil, fc, smooth)
    values["soil_moisture"] = soil
    if "evapotranspiration" in plan.wetness:
        values["soil_wetness"] = wetness(soil, inverse_fc)
    evaporation, soil = plan.take("evapotranspiration", values, soil)

    upper = upper + (recharge + excess)
    values["soil_moisture"], values["upper_zone"], values["lower_zone"] = soil, upper, lower
    if "percolation" in plan.wetness or "quickflow" in plan.wetness:
        values["soil_wetness"] = wetness(soil, inverse_fc)
    percolation, upper = plan.take("percolation", values, upper)
    lower = lower + percolation
    values["upper_zone"], values["lower_zone"] = upper, lower
    quick, upper = plan.take("quickflow", values, upper)
    base, lower = plan.take("baseflow", values, lower)
    rise = values["no_flux"]
    if plan.capillary:
        rise = capillary_rise(soil, lower, values["kcap"], values["fc"], inverse_fc)
        soil, lower = soil + rise, lower - rise
    fluxes = (melt, freeze, release, infiltration, recharge, excess, evaporation)
    return (snowpack, meltwater, soil, upper, lower), (*fluxes, percolation, quick, base, rise)


def capillary_rise(
    soil: Tensor, lower: Tensor, kcap: Tensor, fc: Tensor, inverse_fc: Tensor
) -> Tensor:
    """Capillary rise from the lower zone to the soil at the end of a day, mm/day:
    ``(1 − SM/FC)·min(kcap·SLZ, fc)``, the soil's deficit share of the lower zone's
    ``kcap`` (at most 1/day), so it never exceeds the lower zone nor fills the soil above
    ``fc``. HBV-96's capillary flux ``CFLUX·(1 − SM/FC)`` (Lindström et al. 1997, J.
    Hydrol. 201), drawn from the lower zone in proportion to its storage."""
    deficit = torch.relu(1.0 - soil * inverse_fc)
    return deficit * torch.minimum(kcap * lower, fc)


def spill(storage: Tensor, capacity: Tensor, smooth: float | None) -> tuple[Tensor, Tensor]:
    """Water above ``capacity`` leaves ``storage``: (spill, new storage); with ``smooth``
    the spill is ``τ·softplus((storage − capacity)/τ)``, at most the storage."""
    if smooth is None:
        remaining = storage.clamp(max=capacity)
        return storage - remaining, remaining
    above = smooth * torch.nn.functional.softplus((storage - capacity) / smooth)
    remaining = torch.relu(storage - above)
    return storage - remaining, remaining


@dataclass
class Plan:
    """How each daily slot is evaluated in one run: its call (``None`` when its output was
    computed for the whole series before the loop) and whether its output must be clipped
    into range, plus the slots that read ``soil_wetness``.

    Inside the loop every input is a [site, nmul] tensor, so a slot that is not recording
    is evaluated directly (:meth:`Process.evaluate`, without the module call, the input
    broadcast and the recording check of :meth:`Process.forward`, a few microseconds a
    slot and day; module hooks are not run); a recording one through its ``forward``."""

    calls: dict[str, Callable[[dict[str, Tensor]], Tensor] | None]
    clip_low: dict[str, bool]
    clip_high: dict[str, bool]
    wetness: frozenset[str]
    capillary: bool = False

    @classmethod
    def of(
        cls, model_slots: Mapping[str, Process], skip: set[str], capillary: bool = False
    ) -> Plan:
        """The plan for the daily slots of a model's ``model_slots``, ``skip`` those
        computed for the whole series beforehand; ``capillary``: the lower zone refills
        the soil (:func:`capillary_rise`)."""
        slots = {name: model_slots[name] for name in STEP_SLOTS}
        return cls(
            calls={name: None if name in skip else _daily(slot) for name, slot in slots.items()},
            clip_low={name: not _guarantees(slot, low=0.0) for name, slot in slots.items()},
            clip_high={name: not _guarantees(slot, high=1.0) for name, slot in slots.items()},
            wetness=frozenset(n for n, slot in slots.items() if "soil_wetness" in slot.inputs),
            capillary=capillary,
        )

    def demand(self, name: str, values: dict[str, Tensor]) -> Tensor:
        """Output of slot ``name`` for the day, clipped at 0 unless guaranteed >= 0."""
        call = self.calls[name]
        out = values[f"slot:{name}"] if call is None else call(values)
        return torch.relu(out) if self.clip_low[name] else out

    def fraction(self, name: str, values: dict[str, Tensor]) -> Tensor:
        """Output of slot ``name`` clipped into [0, 1] unless guaranteed."""
        out = self.demand(name, values)
        return out.clamp_max(1.0) if self.clip_high[name] else out

    def take(self, name: str, values: dict[str, Tensor], storage: Tensor) -> tuple[Tensor, Tensor]:
        """Outflow of slot ``name`` from ``storage``, limited to it: (outflow, new storage)."""
        outflow = self.demand(name, values).clamp(max=storage)
        return outflow, storage - outflow


def _daily(process: Process) -> Callable[[dict[str, Tensor]], Tensor]:
    """How the loop calls ``process`` on the day's named [site, nmul] values."""
    if process.recording:
        return process
    inputs = process.inputs
    return lambda values: process.evaluate([values[name] for name in inputs])


def _guarantees(process: Process, low: float | None = None, high: float | None = None) -> bool:
    """Whether a process's outputs are sure to be >= ``low`` (or <= ``high``): its declared
    range says so and it is physical or neural (which honour it) or a clipping symbolic."""
    declared = process.output_range
    if low is not None and (declared.low is None or declared.low < low):
        return False
    if high is not None and (declared.high is None or declared.high > high):
        return False
    return process.kind in ("physical", "neural") or bool(getattr(process, "clip", False))
