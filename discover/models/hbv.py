"""The HBV model in torch, with every process as a swappable slot.

Daily steps, per site and parallel parameter set (``nmul``)::

    snow:   rain/snow split at tt; snowpack += snowfall; melt (snowmelt slot) moves
            snowpack -> meltwater; refreeze (refreeze slot) moves it back; meltwater above
            cwh·snowpack is released to the soil
    soil:   infiltration = rain + release; the recharge slot's fraction of it goes to the
            upper zone, the rest to the soil; soil moisture above fc spills to the upper
            zone; evapotranspiration (slot) leaves the soil
    zones:  percolation (slot) upper -> lower; quickflow (slot) leaves the upper zone and
            baseflow (slot) the lower zone; runoff = quickflow + baseflow; with
            ``capillary``, the lower zone then refills part of the soil's deficit
    route:  runoff is convolved with a unit hydrograph (routing slot) after the loop

Every outflow is clipped to ``[0, storage it drains]`` by the model, so storages stay
non-negative and the water balance closes whatever fills the slots:
Δ(snowpack + meltwater + soil + upper + lower) = P − ET − runoff. (A physical or neural
process is trusted to honour its declared output range, e.g. ``>=0``; other outputs are
clipped into it.)

Speed: the daily loop is the hot path. Forcings and dynamic parameters are split into
days once (``unbind``), slots that see no state (e.g. textbook snowmelt) are evaluated
once over the whole series (and clipped there), each daily slot's call and clipping is
bound once per run (:class:`discover.models.hbv_step.Plan`), quick and base flow are
stacked once after the loop (other fluxes and the states only when read; with
``streamflow_only`` each day's runoff alone is kept), and routing is a convolution over the
whole series, so the cost grows linearly with the number of days.
What remains per day is about 60 small torch operations (``benchmarks/hbv_overhead.py
--ops``), whose dispatch rather than arithmetic sets the cost of a day for up to a few
hundred parameter sets.
Python's cyclic garbage collector is paused during a run (it would rescan the thousands
of tensors a run keeps alive every few days), and those tensors join its oldest generation
when it resumes (else its first young collection scans them all: ~0.02 s, 5 % of a
calibration generation on Fulda), and the C allocator is asked to keep freed
memory for reuse (:mod:`discover.models.memory`): otherwise a run longer than its adaptive
thresholds refills much of its memory page by page on every backward pass.

Example::

    model = HBV(smooth=0.5)
    model.set_slot("evapotranspiration", Neural(["pet", "soil_wetness"], ">=0"))
    out = model(forcings, parameters, warmup=365)
    out.streamflow  # [time, site] mm/day

This module runs the simulation; the daily step is :mod:`discover.models.hbv_step`, the
input checks :mod:`discover.models.hbv_inputs` and the output series
:mod:`discover.models.hbv_output`.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import Tensor

from discover.models.base import HybridModel
from discover.models.hbv_inputs import (
    check_forcings,
    initial_storages,
    over_days,
    split_days,
    split_parameters,
)
from discover.models.hbv_output import (
    FLUXES,
    STEP_FLUXES,
    HBVOutput,
    Keep,
    Series,
    everything,
    runoff_only,
    stack,
)
from discover.models.hbv_processes import FORCINGS, HBV_BOUNDS, SLOT_INPUTS, STATES, textbook
from discover.models.hbv_step import STEP_SLOTS, WETNESS_FLOOR, Plan, step, wetness
from discover.models.memory import retain_freed_memory
from discover.models.routing import route, unit_hydrograph

__all__ = [
    "CORE_PARAMETERS",
    "FLUXES",
    "HBV",
    "ROUTING_PARAMETERS",
    "STEP_FLUXES",
    "STEP_SLOTS",
    "WETNESS_FLOOR",
    "HBVOutput",
    "wetness",
]

CORE_PARAMETERS = ("tt", "cwh", "fc")
"""Parameters used outside the slots (rain/snow split, snow water holding, soil capacity)."""

SPINUP_DAYS = 365
"""Length of the year that ``spinup_years`` repeats (days)."""

ROUTING_PARAMETERS = ("route_shape", "route_scale")
"""Parameters of the unit hydrograph (static: routing acts on the whole series)."""


class HBV(HybridModel):
    """HBV with slots ``snowmelt``, ``refreeze``, ``recharge``, ``evapotranspiration``,
    ``percolation``, ``quickflow``, ``baseflow`` and ``routing``, textbook by default.

    Args:
        smooth: threshold smoothing τ in mm (°C for temperature): ``max(0, x)`` becomes
            ``τ·softplus(x/τ)`` and the rain/snow split ``sigmoid((T − tt)/τ)``, so
            thresholds keep a gradient; ``None`` for the hard textbook thresholds.
        betaet: textbook evapotranspiration with the shape parameter ``betaet``.
        routing: route runoff with a unit hydrograph (else streamflow = runoff).
        route_days: length of the unit hydrograph in days.
        warmup_grad: keep gradients through the warm-up period (default: run it without).
        spinup: when no initial storages are given, run the warm-up period once beforehand
            from empty storages (without gradients) and start from the storages it ends
            with, so that slow storages are near their seasonal equilibrium (the way
            :func:`discover.data.twin.make_twin` spins up a twin).
        spinup_years: run the first :data:`SPINUP_DAYS` days of the forcings (all of them
            if fewer) this many times before the run, as leading warm-up days (never in the
            output), so that the storages are set when the data start where the scored
            period starts.
        retain_memory: on the first run, ask the C allocator to keep freed memory for
            reuse (:func:`discover.models.memory.retain_freed_memory`, process-wide, glibc
            only), so that long runs do not pay for page faults and cost stays linear in
            the number of days.
        capillary: capillary rise from the lower zone to the soil at the end of each day,
            ``(1 − SM/FC)·min(kcap·SLZ, fc)`` with the parameter ``kcap``
            (:func:`discover.models.hbv_step.capillary_rise`); groundwater then feeds
            evapotranspiration in dry spells. ``False``: the textbook HBV without it.
    """

    def __init__(
        self,
        smooth: float | None = None,
        betaet: bool = False,
        routing: bool = True,
        route_days: int = 15,
        warmup_grad: bool = False,
        spinup: bool = False,
        retain_memory: bool = True,
        spinup_years: int = 0,
        capillary: bool = False,
    ):
        slots = {k: v for k, v in SLOT_INPUTS.items() if routing or k != "routing"}
        super().__init__(slots, {"soil_wetness": (0.0, 1.0)})  # soil <= fc: spilled
        if smooth is not None and not smooth > 0:
            raise ValueError(f"smooth must be positive or None, got {smooth}")
        self.smooth = smooth
        self.routing = routing
        self.route_days = route_days
        self.warmup_grad = warmup_grad
        self.spinup = spinup
        if spinup_years < 0:
            raise ValueError(f"spinup_years must be >= 0, got {spinup_years}")
        self.spinup_years = spinup_years
        self.retain_memory = retain_memory
        self.capillary = capillary
        for name in slots:
            self.set_slot(name, textbook(name, smooth=smooth, betaet=betaet))

    def parameter_names(self) -> tuple[str, ...]:
        """Parameters the current slots need, in the order of ``HBV_BOUNDS``."""
        used = set(CORE_PARAMETERS) | ({"kcap"} if self.capillary else set())
        for slot in self.slots.values():
            used.update(name for name in slot.inputs if name in HBV_BOUNDS)
        return tuple(name for name in HBV_BOUNDS if name in used)

    # -- the run -----------------------------------------------------------------------
    def forward(
        self,
        forcings: Mapping[str, Tensor],
        parameters: Mapping[str, Tensor],
        warmup: int = 0,
        initial_states: Mapping[str, Tensor] | None = None,
        streamflow_only: bool = False,
    ) -> HBVOutput:
        """Run the model.

        Args:
            forcings: ``precipitation`` (mm/day), ``temperature`` (°C), ``pet`` (mm/day),
                each [time, site].
            parameters: every name of :meth:`parameter_names` in physical units, static
                [site] or [site, nmul], or dynamic [time, site, nmul] (not routing).
            warmup: leading days that are simulated but left out of the output.
            initial_states: storages [site, nmul] (or broadcastable) at the first day;
                when not given, zero, or spun up over the warm-up days with ``spinup``.
            streamflow_only: keep no daily fluxes nor storages, only each day's runoff
                (the output's ``fluxes`` and ``states`` are then empty), for a caller that
                reads the streamflow alone, e.g. a population's losses: a run then does
                not hold on to ~16 [site, nmul] tensors a day, and each day's new tensors
                reuse the memory of the day before, still in the CPU's cache.
        """
        if self.retain_memory:
            retain_freed_memory()
        if self.spinup_years:
            forcings, parameters, warmup = self._with_spinup_years(forcings, parameters, warmup)
        with _collector_paused():
            return self._simulate(forcings, parameters, warmup, initial_states, streamflow_only)

    def _simulate(
        self,
        forcings: Mapping[str, Tensor],
        parameters: Mapping[str, Tensor],
        warmup: int,
        initial_states: Mapping[str, Tensor] | None,
        streamflow_only: bool,
    ) -> HBVOutput:
        """The body of :meth:`forward`."""
        precipitation, temperature, pet = check_forcings(forcings)
        steps, sites = precipitation.shape
        if not 0 <= warmup < steps:
            raise ValueError(f"warmup must be in [0, {steps}) days, got {warmup}")
        static, dynamic, nmul = split_parameters(parameters, self.parameter_names(), steps, sites)
        bad = [name for name in dynamic if name in ROUTING_PARAMETERS]
        if bad:
            raise ValueError(f"routing parameters {bad} must be static [site, nmul]")
        shape = (steps, sites, nmul)
        series = self._whole_series((precipitation, temperature, pet), static, dynamic, shape)
        ready = {
            name: over_days(self.slots[name](series), shape)
            for name in STEP_SLOTS
            if set(self.slots[name].inputs) <= set(series)
        }
        grad, dtype = torch.is_grad_enabled(), precipitation.dtype
        plan = Plan.of(self.slots, set(ready), self.capillary, grad=grad, dtype=dtype)
        ready = {name: plan.clip(name, value) for name, value in ready.items()}
        per_step, static = self._daily_inputs(series, static, dynamic, ready, shape)
        if initial_states is None and self.spinup and warmup > 0:
            initial_states = self._spun_up(forcings, parameters, warmup)
        state = initial_storages(initial_states, (sites, nmul), precipitation)
        keep = runoff_only if streamflow_only else everything
        records, start = self._days(state, static, per_step, plan, warmup, keep)
        if streamflow_only:
            return self._streamflow(torch.stack(records), static, warmup, start)
        return self._output(records, start, series, static, shape, warmup)

    def _daily_inputs(
        self,
        series: dict[str, Tensor],
        static: dict[str, Tensor],
        dynamic: dict[str, Tensor],
        ready: dict[str, Tensor],
        shape: tuple[int, int, int],
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """The values that change every day, [time, site, nmul] (with ``ready``, the clipped
        outputs of the slots that see no state, as ``slot:<name>``), and the static values
        [site, nmul] with ``inverse_fc`` = 1/fc when fc is static and ``no_flux`` (zeros).

        A forcing is among the former only when a daily slot reads it, and a ready output
        that is the same every day (its inputs all static) is a static value: it is not
        split into days (nor are the gradients of its days gathered again)."""
        static = dict(static)
        daily = [self.slots[name] for name in STEP_SLOTS if name not in ready]
        forcings = [n for n in ("temperature", "pet") if any(n in s.inputs for s in daily)]
        per_step = {
            name: series[name].expand(shape) for name in (*forcings, "rain", "snowfall", *dynamic)
        }
        for name, value in ready.items():
            if value.shape[0] == 1:
                static[f"slot:{name}"] = value[0].expand(shape[1:]).contiguous()
            else:
                per_step[f"slot:{name}"] = value.expand(shape)
        # 1/fc once per run: soil wetness is then one multiplication a day.
        inverse_fc = series["fc"].reciprocal()
        if "fc" in dynamic:
            per_step["inverse_fc"] = inverse_fc
        else:
            static["inverse_fc"] = inverse_fc[0]
        static["no_flux"] = torch.zeros(shape[1:], dtype=inverse_fc.dtype, device=inverse_fc.device)
        return per_step, static

    def _days(
        self,
        state: tuple[Tensor, ...],
        static: dict[str, Tensor],
        per_step: dict[str, Tensor],
        plan: Plan,
        warmup: int,
        keep: Keep,
    ) -> tuple[list, dict[str, Tensor]]:
        """The daily loop: what ``keep`` takes of each day's fluxes of ``STEP_FLUXES`` and
        storages of ``STATES`` [site, nmul], and the storages at the first day after the
        warm-up.

        Everything that does not change from day to day is settled before the loop: one
        dict of values, updated with each day's values (every step overwrites the storages
        and derived values it sets before a slot reads them), the gradient mode and the
        slots' calls (:meth:`Plan.bind`), set once for the warm-up days and once for the
        rest, and the changing values split into days (``unbind``) in that mode: the
        gradient of a value then gathers only the days that have one."""
        records: list = []
        values = dict(static)
        grad = torch.is_grad_enabled()
        with torch.set_grad_enabled(grad and self.warmup_grad):
            days = split_days(per_step, slice(0, warmup))
            state = self._advance(state, days, values, plan.bind(), records, keep)
        start = dict(zip(STATES, state, strict=True))
        with torch.set_grad_enabled(grad):
            days = split_days(per_step, slice(warmup, None))
            self._advance(state, days, values, plan.bind(), records, keep)
        return records, start

    def _advance(
        self,
        state: tuple[Tensor, ...],
        days: Iterable[Iterable[tuple[str, Tensor]]],
        values: dict[str, Tensor],
        plan: Plan,
        records: list,
        keep: Keep,
    ) -> tuple[Tensor, ...]:
        """Step ``state`` through ``days`` (each day's changing values as (name, value)
        pairs), appending what ``keep`` takes of each day's fluxes and storages to
        ``records``; the storages after the last day."""
        for day in days:
            values.update(day)
            state, fluxes = step(state, values, plan, self.smooth)
            records.append(keep(fluxes, state))
        return state

    def _output(
        self,
        records: list[tuple[Tensor, ...]],
        start: dict[str, Tensor],
        series: dict[str, Tensor],
        static: dict[str, Tensor],
        shape: tuple[int, int, int],
        warmup: int,
    ) -> HBVOutput:
        """Runoff (quick + base flow), routed when the model routes, and the fluxes and
        storages of the days after the warm-up."""
        quick, base = (stack(records, STEP_FLUXES.index(n)) for n in ("quickflow", "baseflow"))
        runoff = quick + base
        fluxes = Series(
            records[warmup:],
            FLUXES,
            column=STEP_FLUXES.index,
            ready={
                "rain": series["rain"].expand(shape)[warmup:],
                "snowfall": series["snowfall"].expand(shape)[warmup:],
                "quickflow": quick[warmup:],
                "baseflow": base[warmup:],
                "runoff": runoff[warmup:],
            },
        )
        states = Series(
            records[warmup:], STATES, column=lambda n: len(STEP_FLUXES) + STATES.index(n)
        )
        return self._streamflow(runoff, static, warmup, start, fluxes, states)

    def _streamflow(
        self,
        runoff: Tensor,
        static: dict[str, Tensor],
        warmup: int,
        start: dict[str, Tensor],
        fluxes: Mapping[str, Tensor] | None = None,
        states: Mapping[str, Tensor] | None = None,
    ) -> HBVOutput:
        """The output with runoff [time, site, nmul] routed when the model routes (its
        days after the warm-up, mean over the parameter sets), and ``fluxes`` and
        ``states`` (empty when not given)."""
        if self.routing:
            weights = unit_hydrograph(
                self.slots["routing"], static["route_shape"], static["route_scale"], self.route_days
            )
            runoff = route(runoff, weights)
        return HBVOutput(
            streamflow=runoff[warmup:].mean(-1),
            fluxes={} if fluxes is None else fluxes,
            states={} if states is None else states,
            initial_states=start,
        )

    def _with_spinup_years(
        self, forcings: Mapping[str, Tensor], parameters: Mapping[str, Tensor], warmup: int
    ) -> tuple[dict[str, Tensor], dict[str, Tensor], int]:
        """Forcings and dynamic parameters with their first year repeated
        ``spinup_years`` times in front, and the warm-up lengthened by those days."""
        steps = forcings["precipitation"].shape[0]
        days = min(SPINUP_DAYS, steps)

        def repeated(value: Tensor) -> Tensor:
            return torch.cat([value[:days]] * self.spinup_years + [value])

        forcings = {name: repeated(value) for name, value in forcings.items()}
        parameters = {
            name: repeated(value) if value.dim() == 3 and value.shape[0] == steps else value
            for name, value in parameters.items()
        }
        return forcings, parameters, warmup + self.spinup_years * days

    def _spun_up(
        self, forcings: Mapping[str, Tensor], parameters: Mapping[str, Tensor], days: int
    ) -> dict[str, Tensor]:
        """Storages [site, nmul] at the end of the first ``days`` run from empty storages."""
        steps = forcings["precipitation"].shape[0]
        head = {name: forcings[name][:days] for name in FORCINGS}
        dynamic = {
            name: value[:days] if value.dim() == 3 and value.shape[0] == steps else value
            for name, value in parameters.items()
        }
        with torch.no_grad():
            out = self.forward(head, dynamic, warmup=0)
        return {name: value[-1] for name, value in out.states.items()}

    def _whole_series(
        self,
        forcings: tuple[Tensor, Tensor, Tensor],
        static: dict[str, Tensor],
        dynamic: dict[str, Tensor],
        shape: tuple[int, int, int],
    ) -> dict[str, Tensor]:
        """Forcings, parameters and the rain/snow split over the whole run, each
        broadcastable to ``shape`` = [time, site, nmul]."""
        series = {
            name: x.unsqueeze(-1).expand(shape) for name, x in zip(FORCINGS, forcings, strict=True)
        }
        series.update({name: value.unsqueeze(0) for name, value in static.items()})
        series.update(dynamic)
        above = series["temperature"] - series["tt"]
        if self.smooth is None:
            rain = series["precipitation"] * (above >= 0)
        else:
            rain = series["precipitation"] * torch.sigmoid(above / self.smooth)
        series["rain"], series["snowfall"] = rain, series["precipitation"] - rain
        return series


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (reference counting still frees memory).

    When it resumes, the objects it tracks join its oldest generation unscanned
    (``gc.freeze`` then ``gc.unfreeze``; not when the caller has frozen objects itself): a
    run's records, alive until its output is dropped, would otherwise fill the youngest
    generation and be scanned at the next allocation. Full collections still see them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()
