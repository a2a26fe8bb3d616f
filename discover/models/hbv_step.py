"""One day of HBV: the storages' update by the daily slots, each outflow limited to the
storage it drains (see :mod:`discover.models.hbv` for the order of the processes)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from operator import itemgetter

import torch
from torch import Tensor

from discover.models.hbv_processes import SLOT_INPUTS, number, ramp
from discover.processes.base import Process
from discover.processes.physical import Physical

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
    deficit = torch.relu(number(1.0, soil) - soil * inverse_fc)
    return deficit * torch.minimum(kcap * lower, fc)


def spill(storage: Tensor, capacity: Tensor, smooth: float | None) -> tuple[Tensor, Tensor]:
    """Water above ``capacity`` leaves ``storage``: (spill, new storage); with ``smooth``
    the spill is ``τ·softplus((storage − capacity)/τ)``, at most the storage."""
    if smooth is None:
        remaining = storage.clamp(max=capacity)
        return storage - remaining, remaining
    above = ramp(storage - capacity, smooth)
    remaining = torch.relu(storage - above)
    return storage - remaining, remaining


def _clamp_max(value: Tensor, limit: Tensor) -> Tensor:
    """``value`` at most ``limit``; its gradient goes to ``value`` where they tie."""
    return value.clamp(max=limit)


@dataclass
class Plan:
    """How each daily slot is evaluated in one run: per slot, a call from the day's named
    [site, nmul] values to its output, clipped into range unless guaranteed (at 0, and at 1
    for the fraction ``recharge``), plus the slots that read ``soil_wetness``.

    A slot whose output was computed for the whole series before the loop is read from the
    day's values (``slot:<name>``, clipped there already, see :meth:`clip`). A slot that is
    not recording is evaluated directly, without the module call, the input broadcast and
    the recording check of :meth:`Process.forward` (a few microseconds a slot and day;
    module hooks are not run), by what :meth:`bind` took once: a :class:`Physical`'s
    textbook function and parameters, another slot's function :meth:`Process.function`
    (a neural slot's layers, a symbolic slot's constants); a recording one through its
    ``forward``."""

    slots: dict[str, Process]
    skip: frozenset[str]
    clip_low: dict[str, bool]
    clip_high: dict[str, bool]
    wetness: frozenset[str]
    capillary: bool = False
    limit: Callable[[Tensor, Tensor], Tensor] = _clamp_max
    dtype: torch.dtype = torch.float64
    calls: dict[str, Callable[[dict[str, Tensor]], Tensor]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        model_slots: Mapping[str, Process],
        skip: set[str],
        capillary: bool = False,
        grad: bool = True,
        dtype: torch.dtype = torch.float64,
    ) -> Plan:
        """The plan for the daily slots of a model's ``model_slots``, ``skip`` those
        computed for the whole series beforehand; ``capillary``: the lower zone refills
        the soil (:func:`capillary_rise`); ``grad``: gradients may be needed (without, an
        outflow is limited to its storage by the cheaper ``torch.minimum``, the same values;
        its gradient would split ties, as an empty storage's outflow is, in half); ``dtype``:
        that of the day's values, for which :meth:`bind` prepares the slots' functions."""
        slots = {name: model_slots[name] for name in STEP_SLOTS}
        low = {name: not _guarantees(slot, low=0.0) for name, slot in slots.items()}
        high = {
            name: name in FRACTION_SLOTS and not _guarantees(slot, high=1.0)
            for name, slot in slots.items()
        }
        wet = frozenset(n for n, slot in slots.items() if "soil_wetness" in slot.inputs)
        limit = _clamp_max if grad else torch.minimum
        return cls(slots, frozenset(skip), low, high, wet, capillary, limit, dtype)

    def bind(self) -> Plan:
        """This plan with every slot's daily call prepared now, in the current gradient
        mode (a slot may prepare its function differently with and without gradients, so
        a run binds its warm-up days and the others apart)."""
        calls = {
            name: itemgetter(f"slot:{name}")
            if name in self.skip
            else _clipped(_daily(slot, self.dtype), self.clip_low[name], self.clip_high[name])
            for name, slot in self.slots.items()
        }
        return replace(self, calls=calls)

    def clip(self, name: str, output: Tensor) -> Tensor:
        """Output of slot ``name`` clipped into its range unless guaranteed: at 0, and at
        1 for a fraction (any shape; the same values day by day or for a whole series)."""
        return _clip(output, self.clip_low[name], self.clip_high[name])

    def fraction(self, name: str, values: dict[str, Tensor]) -> Tensor:
        """Output of slot ``name`` for the day, within [0, 1] (a bound plan)."""
        return self.calls[name](values)

    def take(self, name: str, values: dict[str, Tensor], storage: Tensor) -> tuple[Tensor, Tensor]:
        """Outflow of slot ``name`` from ``storage``, limited to it: (outflow, new storage)
        (a bound plan)."""
        outflow = self.limit(self.calls[name](values), storage)
        return outflow, storage - outflow


FRACTION_SLOTS = frozenset({"recharge"})
"""Slots whose output is a fraction, clipped at 1 as well as at 0."""


def _clip(output: Tensor, low: bool, high: bool) -> Tensor:
    """``output`` clipped at 0 (``low``) and then at 1 (``high``)."""
    if low:
        output = torch.relu(output)
    return output.clamp_max(1.0) if high else output


def _clipped(
    call: Callable[[dict[str, Tensor]], Tensor], low: bool, high: bool
) -> Callable[[dict[str, Tensor]], Tensor]:
    """``call`` with its output clipped (:func:`_clip`); ``call`` itself when neither."""
    if not (low or high):
        return call
    return lambda values: _clip(call(values), low, high)


def _daily(process: Process, dtype: torch.dtype) -> Callable[[dict[str, Tensor]], Tensor]:
    """How the loop calls ``process`` on the day's named [site, nmul] values of ``dtype``:
    a :class:`Physical` as its textbook function ``law`` of the values by name and its
    parameters (taken once), any other slot through its prepared function."""
    if process.recording:
        return process
    inputs = process.inputs
    if type(process).evaluate is Physical.evaluate:  # its ``law`` is the textbook function
        law, fixed = process.law, process.keywords()
        return lambda values: law(**{name: values[name] for name in inputs}, **fixed)
    evaluate = process.function(dtype)
    if len(inputs) == 1:
        (name,) = inputs
        return lambda values: evaluate((values[name],))
    take = itemgetter(*inputs)  # the values in the order of the inputs, as a tuple
    return lambda values: evaluate(take(values))


def _guarantees(process: Process, low: float | None = None, high: float | None = None) -> bool:
    """Whether a process's outputs are sure to be >= ``low`` (or <= ``high``): its declared
    range says so and it is physical or neural (which honour it) or a clipping symbolic."""
    declared = process.output_range
    if low is not None and (declared.low is None or declared.low < low):
        return False
    if high is not None and (declared.high is None or declared.high > high):
        return False
    return process.kind in ("physical", "neural") or bool(getattr(process, "clip", False))
