"""The HBV model in torch, with every process as a swappable slot.

Daily steps, per site and parallel parameter set (``nmul``)::

    snow:   rain/snow split at tt; snowpack += snowfall; melt (snowmelt slot) moves
            snowpack -> meltwater; refreeze (refreeze slot) moves it back; meltwater above
            cwh·snowpack is released to the soil
    soil:   infiltration = rain + release; the recharge slot's fraction of it goes to the
            upper zone, the rest to the soil; soil moisture above fc spills to the upper
            zone; evapotranspiration (slot) leaves the soil
    zones:  percolation (slot) upper -> lower; quickflow (slot) leaves the upper zone and
            baseflow (slot) the lower zone; runoff = quickflow + baseflow
    route:  runoff is convolved with a unit hydrograph (routing slot) after the loop

Every outflow is clipped to ``[0, storage it drains]`` by the model, so storages stay
non-negative and the water balance closes whatever fills the slots:
Δ(snowpack + meltwater + soil + upper + lower) = P − ET − runoff. (A physical or neural
process is trusted to honour its declared output range, e.g. ``>=0``; other outputs are
clipped into it.)

Speed: the daily loop is the hot path. Forcings and dynamic parameters are split into
days once (``unbind``), slots that see no state (e.g. textbook snowmelt) are evaluated
once over the whole series, quick and base flow are stacked once after the loop (other
fluxes and the states only when read), and routing is a convolution over the whole
series, so the cost grows linearly with the number of days.
Python's cyclic garbage collector is paused during a run (it would rescan the thousands
of tensors a run keeps alive every few days), and the C allocator is asked to keep freed
memory for reuse (:mod:`discover.models.memory`): otherwise a run longer than its adaptive
thresholds refills much of its memory page by page on every backward pass.

Example::

    model = HBV(smooth=0.5)
    model.set_slot("evapotranspiration", Neural(["pet", "soil_wetness"], ">=0"))
    out = model(forcings, parameters, warmup=365)
    out.streamflow  # [time, site] mm/day
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

from discover.models.base import HybridModel
from discover.models.hbv_processes import FORCINGS, HBV_BOUNDS, SLOT_INPUTS, STATES, textbook
from discover.models.memory import retain_freed_memory
from discover.models.routing import route, unit_hydrograph
from discover.processes.base import Process

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
    "runoff",
)
"""Daily fluxes the model returns, each [time, site, nmul] in mm/day."""

STEP_FLUXES = FLUXES[2:-1]
"""Fluxes computed inside the time loop (rain, snowfall and runoff are computed outside)."""

STEP_SLOTS = tuple(name for name in SLOT_INPUTS if name != "routing")
"""Slots evaluated every day (routing acts on the whole series after the loop)."""

CORE_PARAMETERS = ("tt", "cwh", "fc")
"""Parameters used outside the slots (rain/snow split, snow water holding, soil capacity)."""

ROUTING_PARAMETERS = ("route_shape", "route_scale")


@dataclass
class HBVOutput:
    """Result of an HBV run over the output period (after warm-up).

    Attributes:
        streamflow: routed runoff, mean over parameter sets, [time, site] mm/day.
        fluxes: each name of :data:`FLUXES` → [time, site, nmul] mm/day (before routing).
        states: each storage of ``STATES`` at the end of each day → [time, site, nmul] mm.

    ``fluxes`` and ``states`` are read-only mappings whose series are stacked from the
    daily values when first read, so a run that only needs streamflow never copies them.
        initial_states: storages at the start of the output period → [site, nmul] mm.
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
        retain_memory: on the first run, ask the C allocator to keep freed memory for
            reuse (:func:`discover.models.memory.retain_freed_memory`, process-wide, glibc
            only), so that long runs do not pay for page faults and cost stays linear in
            the number of days.
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
    ):
        slots = {k: v for k, v in SLOT_INPUTS.items() if routing or k != "routing"}
        super().__init__(slots)
        if smooth is not None and not smooth > 0:
            raise ValueError(f"smooth must be positive or None, got {smooth}")
        self.smooth = smooth
        self.routing = routing
        self.route_days = route_days
        self.warmup_grad = warmup_grad
        self.spinup = spinup
        self.retain_memory = retain_memory
        for name in slots:
            self.set_slot(name, textbook(name, smooth=smooth, betaet=betaet))

    def parameter_names(self) -> tuple[str, ...]:
        """Parameters the current slots need, in the order of ``HBV_BOUNDS``."""
        used = set(CORE_PARAMETERS)
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
        """
        if self.retain_memory:
            retain_freed_memory()
        with _collector_paused():
            return self._simulate(forcings, parameters, warmup, initial_states)

    def _simulate(
        self,
        forcings: Mapping[str, Tensor],
        parameters: Mapping[str, Tensor],
        warmup: int,
        initial_states: Mapping[str, Tensor] | None,
    ) -> HBVOutput:
        """The body of :meth:`forward`."""
        precipitation, temperature, pet = _check_forcings(forcings)
        steps, sites = precipitation.shape
        if not 0 <= warmup < steps:
            raise ValueError(f"warmup must be in [0, {steps}) days, got {warmup}")
        static, dynamic, nmul = _split_parameters(parameters, self.parameter_names(), steps, sites)
        bad = [name for name in dynamic if name in ROUTING_PARAMETERS]
        if bad:
            raise ValueError(f"routing parameters {bad} must be static [site, nmul]")
        shape = (steps, sites, nmul)
        series = self._whole_series((precipitation, temperature, pet), static, dynamic, shape)
        # Slots that see no state are evaluated once over the whole series.
        ready = {
            name: torch.broadcast_to(self.slots[name](series), shape)
            for name in STEP_SLOTS
            if set(self.slots[name].inputs) <= set(series)
        }
        per_step = {
            name: series[name].expand(shape).unbind(0)
            for name in ("temperature", "pet", "rain", "snowfall", *dynamic)
        }
        per_step.update({f"slot:{name}": value.unbind(0) for name, value in ready.items()})
        # 1/fc once per run: soil wetness is then one multiplication a day.
        inverse_fc = series["fc"].reciprocal()
        if "fc" in dynamic:
            per_step["inverse_fc"] = inverse_fc.unbind(0)
        else:
            static = {**static, "inverse_fc": inverse_fc[0]}

        plan = _Plan.of(self, skip=set(ready))
        if initial_states is None and self.spinup and warmup > 0:
            initial_states = self._spun_up(forcings, parameters, warmup)
        state = _initial_states(initial_states, (sites, nmul), precipitation)
        records: list[tuple[Tensor, ...]] = []
        start: dict[str, Tensor] = {}
        for t in range(steps):
            if t == warmup:
                start = dict(zip(STATES, state, strict=True))
            values = dict(static)
            for name, value in per_step.items():
                values[name] = value[t]
            with torch.set_grad_enabled(
                torch.is_grad_enabled() and (t >= warmup or self.warmup_grad)
            ):
                state, fluxes = self._step(state, values, plan)
            records.append((*fluxes, *state))

        quick, base = (_stack(records, STEP_FLUXES.index(n)) for n in ("quickflow", "baseflow"))
        runoff = quick + base
        fluxes = _Series(
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
        states = _Series(
            records[warmup:], STATES, column=lambda n: len(STEP_FLUXES) + STATES.index(n)
        )
        if self.routing:
            weights = unit_hydrograph(
                self.slots["routing"], static["route_shape"], static["route_scale"], self.route_days
            )
            runoff = route(runoff, weights)
        return HBVOutput(
            streamflow=runoff[warmup:].mean(-1),
            fluxes=fluxes,
            states=states,
            initial_states=start,
        )

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

    def _step(
        self, state: tuple[Tensor, ...], values: dict[str, Tensor], plan: _Plan
    ) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
        """One day: storages (snowpack, meltwater, soil, upper, lower) → new storages and
        the fluxes of ``STEP_FLUXES``; ``values`` holds the day's forcings, parameters and
        precomputed slot outputs."""
        snowpack, meltwater, soil, upper, lower = state
        snowpack = snowpack + values["snowfall"]
        values["snowpack"] = snowpack
        melt, snowpack = plan.take("snowmelt", values, snowpack)
        meltwater = meltwater + melt
        values["snowpack"], values["meltwater"] = snowpack, meltwater
        freeze, meltwater = plan.take("refreeze", values, meltwater)
        snowpack = snowpack + freeze
        release, meltwater = self._spill(meltwater, values["cwh"] * snowpack)

        infiltration = values["rain"] + release
        fc, inverse_fc = values["fc"], values["inverse_fc"]
        values["snowpack"], values["meltwater"] = snowpack, meltwater
        values["infiltration"], values["soil_moisture"] = infiltration, soil
        if "recharge" in plan.wetness:
            values["soil_wetness"] = wetness(soil, inverse_fc)
        recharge = infiltration * plan.fraction("recharge", values)
        soil = soil + (infiltration - recharge)
        excess, soil = self._spill(soil, fc)
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
        fluxes = (melt, freeze, release, infiltration, recharge, excess, evaporation)
        return (snowpack, meltwater, soil, upper, lower), (*fluxes, percolation, quick, base)

    def _spill(self, storage: Tensor, capacity: Tensor) -> tuple[Tensor, Tensor]:
        """Water above ``capacity`` leaves ``storage``: (spill, new storage); with ``smooth``
        the spill is ``τ·softplus((storage − capacity)/τ)``, at most the storage."""
        if self.smooth is None:
            remaining = storage.clamp(max=capacity)
            return storage - remaining, remaining
        spill = self.smooth * torch.nn.functional.softplus((storage - capacity) / self.smooth)
        remaining = torch.relu(storage - spill)
        return storage - remaining, remaining


@dataclass
class _Plan:
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

    @classmethod
    def of(cls, model: HBV, skip: set[str]) -> _Plan:
        slots = {name: model.slots[name] for name in STEP_SLOTS}
        return cls(
            calls={name: None if name in skip else _daily(slot) for name, slot in slots.items()},
            clip_low={name: not _guarantees(slot, low=0.0) for name, slot in slots.items()},
            clip_high={name: not _guarantees(slot, high=1.0) for name, slot in slots.items()},
            wetness=frozenset(n for n, slot in slots.items() if "soil_wetness" in slot.inputs),
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


def _stack(days: Sequence[tuple[Tensor, ...]], column: int) -> Tensor:
    """One column of the daily records stacked over time: [time, site, nmul]."""
    return torch.stack([day[column] for day in days])


class _Series(Mapping[str, Tensor]):
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
            self._stacked[name] = _stack(self._days, self._column(name))
        return self._stacked[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (reference counting still frees memory)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


WETNESS_FLOOR = 1e-6
"""Least soil wetness a slot sees: a dry soil's power law ``SW^b`` with ``b < 1`` then keeps a
finite gradient (its outflows are limited to the empty storage all the same)."""


def wetness(soil: Tensor, inverse_fc: Tensor) -> Tensor:
    """Soil wetness ``soil_moisture / fc`` as the slots see it, at least ``WETNESS_FLOOR``,
    from ``inverse_fc`` = 1/fc (a multiplication is cheaper than a division, also backward)."""
    return (soil * inverse_fc).clamp_min(WETNESS_FLOOR)


def _guarantees(process: Process, low: float | None = None, high: float | None = None) -> bool:
    """Whether a process's outputs are sure to be >= ``low`` (or <= ``high``): its declared
    range says so and it is physical or neural (which honour it) or a clipping symbolic."""
    declared = process.output_range
    if low is not None and (declared.low is None or declared.low < low):
        return False
    if high is not None and (declared.high is None or declared.high > high):
        return False
    return process.kind in ("physical", "neural") or bool(getattr(process, "clip", False))


def _check_forcings(forcings: Mapping[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    missing = [name for name in FORCINGS if name not in forcings]
    if missing:
        raise KeyError(f"HBV needs forcing(s) {missing}; got {sorted(forcings)}")
    series = tuple(forcings[name] for name in FORCINGS)
    for name, value in zip(FORCINGS, series, strict=True):
        if value.dim() != 2 or value.shape != series[0].shape:
            raise ValueError(
                f"forcing {name!r} must be [time, site] like precipitation "
                f"{tuple(series[0].shape)}, got {tuple(value.shape)}"
            )
        if not bool(torch.isfinite(value).all()):
            raise ValueError(f"forcing {name!r} contains NaN or inf")
    if bool((series[0] < 0).any()) or bool((series[2] < 0).any()):
        raise ValueError("forcings 'precipitation' and 'pet' must be >= 0")
    return series


def _split_parameters(
    parameters: Mapping[str, Tensor], needed: tuple[str, ...], steps: int, sites: int
) -> tuple[dict[str, Tensor], dict[str, Tensor], int]:
    """Static [site, nmul] and dynamic [time, site, nmul] parameters, and nmul."""
    unknown = [name for name in parameters if name not in HBV_BOUNDS]
    if unknown:
        raise KeyError(f"unknown HBV parameter(s) {unknown}; known are {list(HBV_BOUNDS)}")
    missing = [name for name in needed if name not in parameters]
    if missing:
        raise KeyError(f"HBV parameter(s) {missing} are missing; this model needs {list(needed)}")
    values = {name: parameters[name] for name in needed}
    # every extreme in one transfer (one wait for the device rather than two per parameter)
    extremes = torch.stack(
        [torch.stack(torch.aminmax(v.detach())).double() for v in values.values()]
    ).tolist()
    for name, (low, high) in zip(values, extremes, strict=True):
        bound = HBV_BOUNDS[name]
        slack = 1e-6 * (bound.high - bound.low)
        if not (bound.low - slack <= low and high <= bound.high + slack):
            raise ValueError(
                f"parameter {name!r} spans [{low:g}, {high:g}], outside its bounds "
                f"[{bound.low:g}, {bound.high:g}] {bound.unit}"
            )
    nmul = max((v.shape[-1] for v in values.values() if v.dim() >= 2), default=1)
    static, dynamic = {}, {}
    for name, value in values.items():
        if value.dim() == 1:
            value = value.unsqueeze(-1)
        if value.dim() == 2 and value.shape[0] == sites and value.shape[1] in (1, nmul):
            static[name] = value.expand(sites, nmul)
        elif value.dim() == 3 and value.shape[:2] == (steps, sites) and value.shape[2] in (1, nmul):
            dynamic[name] = value.expand(steps, sites, nmul)
        else:
            raise ValueError(
                f"parameter {name!r} must be [site], [site, nmul] or [time, site, nmul] with "
                f"site={sites}, nmul={nmul}, time={steps}; got {tuple(parameters[name].shape)}"
            )
    return static, dynamic, nmul


def _initial_states(
    given: Mapping[str, Tensor] | None, shape: tuple[int, int], like: Tensor
) -> tuple[Tensor, ...]:
    given = dict(given or {})
    unknown = [name for name in given if name not in STATES]
    if unknown:
        raise KeyError(f"unknown state(s) {unknown}; HBV states are {list(STATES)}")
    out = []
    for name in STATES:
        value = given.get(name)
        if value is None:
            out.append(like.new_zeros(shape))
            continue
        value = torch.as_tensor(value, dtype=like.dtype, device=like.device)
        if bool((value < 0).any()):
            raise ValueError(f"initial state {name!r} must be >= 0")
        out.append(torch.broadcast_to(value, shape))
    return tuple(out)
