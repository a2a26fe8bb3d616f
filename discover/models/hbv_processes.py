"""HBV's textbook processes, the inputs each slot may see, and the bounds of its parameters.

Every process is a plain torch function of named tensors (shape ``[site, nmul]`` inside
the time loop) returning a rate in mm/day (or a fraction for ``recharge``, a weight for
``routing``). The model, not the process, limits each outflow to the water available,
so any slot implementation (physical, neural, symbolic) conserves mass.

Thresholds: with ``smooth=None`` the textbook ``max(0, x)`` is used; with ``smooth=τ``
(in mm, or °C for temperature thresholds) it becomes ``τ·softplus(x/τ)``, which keeps a
gradient below the threshold (decaying like ``exp(x/τ)``). A quick-flow threshold UZL
that the upper zone never reaches then still receives a gradient.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial

import torch
from torch import Tensor
from torch.nn import functional

from discover.processes.physical import Physical


@dataclass(frozen=True)
class Bound:
    """Physical range of one parameter."""

    low: float
    high: float
    unit: str
    meaning: str

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"bound needs low < high, got [{self.low}, {self.high}]")


HBV_BOUNDS: Mapping[str, Bound] = {
    "tt": Bound(-2.5, 2.5, "degC", "threshold temperature of snowfall and melt"),
    "cfmax": Bound(0.5, 10.0, "mm/degC/day", "degree-day melt factor"),
    "cfr": Bound(0.0, 0.1, "-", "refreeze coefficient (fraction of cfmax)"),
    "cwh": Bound(0.0, 0.2, "-", "liquid water holding capacity of snow (fraction of snowpack)"),
    "fc": Bound(50.0, 1000.0, "mm", "field capacity: maximum soil moisture"),
    "beta": Bound(1.0, 6.0, "-", "shape of the recharge fraction (SM/FC)^beta"),
    "lp": Bound(0.2, 1.0, "-", "soil wetness above which evapotranspiration is potential"),
    "betaet": Bound(0.3, 5.0, "-", "shape of the evapotranspiration limitation"),
    "perc": Bound(0.0, 10.0, "mm/day", "maximum percolation from upper to lower zone"),
    "uzl": Bound(0.0, 100.0, "mm", "upper-zone threshold of quick flow"),
    "k0": Bound(0.05, 0.9, "1/day", "recession coefficient of quick flow above uzl"),
    "k1": Bound(0.01, 0.5, "1/day", "recession coefficient of the upper zone"),
    "k2": Bound(0.001, 0.2, "1/day", "recession coefficient of the lower zone (baseflow)"),
    "route_shape": Bound(0.5, 10.0, "-", "shape of the gamma unit hydrograph"),
    "route_scale": Bound(0.1, 3.0, "day", "scale of the gamma unit hydrograph"),
    "kcap": Bound(
        0.0, 1.0, "1/day", "capillary rise: share of the lower zone rising to a dry soil"
    ),
}
"""Bounds of every HBV parameter, in the units the model uses. ``route_shape`` k sets the
unit hydrograph's peakedness (coefficient of variation 1/√k): HBV's triangular MAXBAS
hydrograph has 1/√6 whatever its base, so the range reaches beyond 6."""

FORCINGS = ("precipitation", "temperature", "pet")
"""Forcing names, each [time, site]: mm/day, °C, mm/day."""

STATES = ("snowpack", "meltwater", "soil_moisture", "upper_zone", "lower_zone")
"""Storages in mm: frozen snow, liquid water in the snow, soil, upper and lower zones."""

SLOT_INPUTS: Mapping[str, tuple[str, ...]] = {
    "snowmelt": ("temperature", "tt", "cfmax", "snowpack", "precipitation", "pet"),
    "refreeze": ("temperature", "tt", "cfmax", "cfr", "meltwater", "snowpack"),
    "recharge": (
        "soil_wetness",
        "beta",
        "soil_moisture",
        "fc",
        "infiltration",
        "temperature",
        "pet",
    ),
    "evapotranspiration": (
        "pet",
        "soil_wetness",
        "lp",
        "betaet",
        "soil_moisture",
        "fc",
        "temperature",
    ),
    "percolation": ("upper_zone", "perc", "lower_zone", "soil_wetness"),
    "quickflow": ("upper_zone", "uzl", "k0", "k1", "soil_wetness"),
    "baseflow": ("lower_zone", "k2"),
    "routing": ("lag", "route_shape", "route_scale"),
}
"""Per slot, the named inputs it may use (forcings, states, parameters, and derived values:
``soil_wetness`` = soil_moisture / fc, ``infiltration`` = rain + water released by the
snow in mm/day, ``lag`` = days since the runoff was produced (bin midpoints, routing).
Each slot sees the states as updated by the slots before it within the same day."""

SLOT_MEANING: Mapping[str, str] = {
    "snowmelt": "potential melt of the snowpack, mm/day (>= 0; limited to the snowpack)",
    "refreeze": "potential refreezing of liquid water in the snow, mm/day (>= 0)",
    "recharge": "fraction of infiltration that recharges the upper zone, in [0, 1]",
    "evapotranspiration": "actual evapotranspiration demand on the soil, mm/day (in [0, pet])",
    "percolation": "flow from the upper to the lower zone, mm/day (>= 0)",
    "quickflow": "outflow of the upper zone, mm/day (>= 0)",
    "baseflow": "outflow of the lower zone, mm/day (>= 0)",
    "routing": "unnormalised unit-hydrograph weight at a lag (>= 0; normalised by the model)",
}
"""What each slot returns; the model clips outflows to the storage they drain."""

UNITS: Mapping[str, str] = {
    **{name: bound.unit for name, bound in HBV_BOUNDS.items()},
    **dict(zip(FORCINGS, ("mm/day", "degC", "mm/day"), strict=True)),
    **dict.fromkeys(STATES, "mm"),
    "soil_wetness": "-",
    "infiltration": "mm/day",
    "lag": "day",
    "streamflow": "mm/day",
    **{slot: "mm/day" for slot, meaning in SLOT_MEANING.items() if "mm/day" in meaning},
    "recharge": "-",
    "routing": "-",
}
"""Units of every forcing, state, parameter, derived slot input, slot output and of
streamflow, by name (``-``: dimensionless)."""


def default_range(slot: str, inputs: Sequence[str]) -> str:
    """Output range of an HBV slot whose config declares none: a parameter slot's bounds,
    ``[0, 1]`` for ``recharge``, ``0 <= out <= pet`` for ``evapotranspiration`` when ``pet``
    is among ``inputs`` (actual ET never exceeds the potential rate; an explicit
    ``output: ">=0"`` in the slot's config lifts that bound), else ``>=0``."""
    if slot in HBV_BOUNDS:
        return f"[{HBV_BOUNDS[slot].low}, {HBV_BOUNDS[slot].high}]"
    if slot == "recharge":
        return "[0, 1]"
    if slot == "evapotranspiration" and "pet" in inputs:
        return "0 <= out <= pet"
    return ">=0"


def number(value: float, like: Tensor) -> Tensor:
    """``value`` as a 0-dim tensor of ``like``'s dtype and device, made once: an op on a
    Python number copies it into a new tensor at every call, ~1 µs each time a day is
    simulated (the same values: the number is rounded to the dtype either way)."""
    return _number(value, like.dtype, like.device)


@lru_cache(maxsize=64)
def _number(value: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The cached tensor of :func:`number`, a normal tensor even when first asked for
    under ``torch.inference_mode`` (an inference tensor could not join a later run with
    gradients)."""
    with torch.inference_mode(False):
        return torch.tensor(value, dtype=dtype, device=device)


SOFTPLUS_FLOOR = -40.0
"""Least argument ``x/smooth`` of the smoothed ramp under ``torch.inference_mode`` (a
population's losses): below it the ramp is ``smooth·softplus(SOFTPLUS_FLOOR)`` ≈
4e-18·smooth (its true value is smaller still). torch's softplus on CPU computes
``log1p(exp(x))``, whose vectorised path leaves for a slow one on many arguments far below
zero (a soil far below field capacity: ``SM − FC`` down to −1000 mm), in float32 above all:
on Fulda a float32 generation of 896 members took 0.54 CPU s without the floor, 0.43 s
with it (float64: 0.53 and 0.52). Runs with or without gradients outside inference mode
keep the exact softplus and its gradient (``exp(x/smooth)`` far below a threshold)."""


def ramp(x: Tensor, smooth: float | None) -> Tensor:
    """``max(0, x)``, or ``smooth·softplus(x/smooth)`` when ``smooth`` is given (its
    argument floored at :data:`SOFTPLUS_FLOOR` in inference mode), with ``smooth`` as a
    cached tensor (:func:`number`), and for ``smooth`` = 1 without the division and
    product by 1, which change no value and no gradient: two operations fewer each day a
    daily slot or spill calls it."""
    if smooth is None:
        return torch.relu(x)
    tau = None if smooth == 1 else number(smooth, x)
    scaled = x if tau is None else x / tau
    if torch.is_inference_mode_enabled():
        scaled = scaled.clamp_min(SOFTPLUS_FLOOR)
    out = functional.softplus(scaled)
    return out if tau is None else tau * out


def snowmelt(temperature: Tensor, tt: Tensor, cfmax: Tensor, smooth: float | None) -> Tensor:
    """Degree-day melt ``cfmax·max(0, T − tt)``, mm/day."""
    return cfmax * ramp(temperature - tt, smooth)


def refreeze(
    temperature: Tensor, tt: Tensor, cfmax: Tensor, cfr: Tensor, smooth: float | None
) -> Tensor:
    """Refreezing ``cfr·cfmax·max(0, tt − T)``, mm/day."""
    return (cfr * cfmax) * ramp(tt - temperature, smooth)


_LOG2_E = 1.0 / math.log(2.0)


def recharge(soil_wetness: Tensor, beta: Tensor) -> Tensor:
    """Fraction of infiltration that recharges the upper zone, ``(SM/FC)^beta``.

    Computed as ``2^(beta·log1p(SW − 1)/ln 2)`` for SW in (0, 1] (SW = 0 gives 0 with a
    NaN gradient; the model floors SW at 1e-6): within 2e-7 of ``pow`` in float32 for
    ``beta >= 1`` (its bounds), and faster on a busy CPU, because ``pow``'s gradient needs
    ``log``, which torch on CPU hands to MKL, and MKL spreads even a [site, nmul] tensor
    over every thread and waits for all of them; ``log1p`` and ``exp2`` stay on the
    calling thread. (For exponents below 1 this form loses accuracy near SW = 0.)
    """
    fraction = soil_wetness.clamp_max(1.0)
    return torch.exp2(
        torch.log1p(fraction - number(1.0, fraction)) * (beta * number(_LOG2_E, beta))
    )


def evapotranspiration(pet: Tensor, soil_wetness: Tensor, lp: Tensor) -> Tensor:
    """``pet·min(1, (SM/FC)/lp)``, mm/day (soil wetness is >= 0 inside the model)."""
    return pet * (soil_wetness / lp).clamp_max(1.0)


def evapotranspiration_shaped(
    pet: Tensor, soil_wetness: Tensor, lp: Tensor, betaet: Tensor
) -> Tensor:
    """``pet·min(1, (SM/FC)/lp)^betaet``, mm/day."""
    return pet * (soil_wetness / lp).clamp_max(1.0).pow(betaet)


def percolation(perc: Tensor) -> Tensor:
    """Percolation at the maximum rate ``perc`` (the model limits it to the upper zone)."""
    return perc


def quickflow(
    upper_zone: Tensor, uzl: Tensor, k0: Tensor, k1: Tensor, smooth: float | None
) -> Tensor:
    """``k0·max(0, SUZ − uzl) + k1·SUZ``, mm/day."""
    return k0 * ramp(upper_zone - uzl, smooth) + k1 * upper_zone


def baseflow(lower_zone: Tensor, k2: Tensor) -> Tensor:
    """``k2·SLZ``, mm/day."""
    return k2 * lower_zone


def gamma_weight(lag: Tensor, route_shape: Tensor, route_scale: Tensor) -> Tensor:
    """Gamma density at ``lag`` (days) up to a constant factor:
    ``lag^(shape−1)·exp(−lag/scale)``, normalised over lags by the model."""
    return torch.exp((route_shape - 1.0) * torch.log(lag) - lag / route_scale)


def textbook(slot: str, smooth: float | None = None, betaet: bool = False) -> Physical:
    """The textbook ``Physical`` process of ``slot``.

    Args:
        slot: one of :data:`SLOT_INPUTS`.
        smooth: threshold smoothing τ (mm or °C), ``None`` for hard thresholds.
        betaet: use the shaped evapotranspiration ``pet·min(1, SW/lp)^betaet``.
    """
    table = {
        "snowmelt": (partial(snowmelt, smooth=smooth), ("temperature", "tt", "cfmax")),
        "refreeze": (partial(refreeze, smooth=smooth), ("temperature", "tt", "cfmax", "cfr")),
        "recharge": (recharge, ("soil_wetness", "beta")),
        "evapotranspiration": (
            (evapotranspiration_shaped, ("pet", "soil_wetness", "lp", "betaet"))
            if betaet
            else (evapotranspiration, ("pet", "soil_wetness", "lp"))
        ),
        "percolation": (percolation, ("perc",)),
        "quickflow": (partial(quickflow, smooth=smooth), ("upper_zone", "uzl", "k0", "k1")),
        "baseflow": (baseflow, ("lower_zone", "k2")),
        "routing": (gamma_weight, ("lag", "route_shape", "route_scale")),
    }
    if slot not in table:
        raise ValueError(f"HBV has no slot {slot!r}; slots are {list(table)}")
    function, inputs = table[slot]
    name = getattr(function, "func", function).__name__
    return Physical(function, inputs, output_range=default_range(slot, inputs), name=name)
