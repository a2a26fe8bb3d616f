"""Explicit unit conversion into the container's standard units.

Every unit a loader may meet is listed here with its dimension and a linear map to that
dimension's base unit (``base = value * scale + offset``). Volumetric flow becomes a depth
rate only through the basin area: ``Q [mm/day] = Q [m3/s] * 86 400 s/day * 1000 mm/m
/ (area [km2] * 1e6 m2/km2) = Q [m3/s] * 86.4 / area [km2]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from discover.data.container import STANDARD_UNITS, DataError

FT3_IN_M3 = 0.028316846592
SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class _Unit:
    dimension: str
    scale: float = 1.0
    offset: float = 0.0


# Base units: depth_rate mm/day, flow m3/s, temperature degC, area km2, angle degrees, length m.
_UNITS: dict[str, _Unit] = {
    "mm/day": _Unit("depth_rate"),
    "m/day": _Unit("depth_rate", 1000.0),
    "m3/s": _Unit("flow"),
    "ft3/s": _Unit("flow", FT3_IN_M3),
    "l/s": _Unit("flow", 1e-3),
    "degC": _Unit("temperature"),
    "K": _Unit("temperature", 1.0, -273.15),
    "degF": _Unit("temperature", 5.0 / 9.0, -32.0 * 5.0 / 9.0),
    "km2": _Unit("area"),
    "m2": _Unit("area", 1e-6),
    "ha": _Unit("area", 1e-2),
    "degrees_north": _Unit("angle"),
    "degrees_east": _Unit("angle"),
    "m": _Unit("length"),
    "ft": _Unit("length", 0.3048),
}

# Spellings met in data files; "mm" is a daily total, i.e. mm/day in daily data.
_ALIASES: dict[str, str] = {
    "mm/d": "mm/day",
    "mm d-1": "mm/day",
    "mm day-1": "mm/day",
    "mm/day": "mm/day",
    "mm": "mm/day",
    "m3/s": "m3/s",
    "m³/s": "m3/s",
    "m3 s-1": "m3/s",
    "cms": "m3/s",
    "ft3/s": "ft3/s",
    "ft³/s": "ft3/s",
    "ft^3/s": "ft3/s",
    "cfs": "ft3/s",
    "l/s": "l/s",
    "ls-1": "l/s",
    "l s-1": "l/s",
    "degc": "degC",
    "c": "degC",
    "°c": "degC",
    "deg c": "degC",
    "celsius": "degC",
    "k": "K",
    "kelvin": "K",
    "degf": "degF",
    "°f": "degF",
    "km2": "km2",
    "km^2": "km2",
    "km²": "km2",
    "m2": "m2",
    "m^2": "m2",
    "m²": "m2",
    "ha": "ha",
    "degrees_north": "degrees_north",
    "degrees_east": "degrees_east",
    "degrees": "degrees_north",
    "deg": "degrees_north",
    "°": "degrees_north",
    "°n": "degrees_north",
    "°e": "degrees_east",
    "m": "m",
    "masl": "m",
    "m a.s.l.": "m",
    "ft": "ft",
}


def canonical_unit(unit: str) -> str:
    """The canonical spelling of ``unit`` (``"cfs"`` -> ``"ft3/s"``); unknown units unchanged."""
    key = unit.strip()
    return _ALIASES.get(key.lower(), _ALIASES.get(key, key))


def convert(
    values: np.ndarray,
    unit: str,
    target: str,
    *,
    area_km2: float | np.ndarray | None = None,
    variable: str | None = None,
) -> np.ndarray:
    """Convert ``values`` from ``unit`` to ``target``; flow to depth rate needs ``area_km2``.

    ``area_km2`` is a scalar or an array broadcasting against ``values`` (e.g. ``[site]``
    against ``[time, site]``). Raises ``DataError`` naming ``variable`` when no rule applies.
    """
    source, goal = canonical_unit(unit), canonical_unit(target)
    values = np.asarray(values, dtype=float)
    if source == goal:
        return values.copy()
    if source not in _UNITS or goal not in _UNITS:
        raise DataError(f"no conversion from unit {unit!r} to {target!r}", variable=variable)
    have, want = _UNITS[source], _UNITS[goal]
    base = values * have.scale + have.offset
    if have.dimension == "flow" and want.dimension == "depth_rate":
        if area_km2 is None:
            raise DataError(
                f"converting {unit!r} to {target!r} needs the basin area (attribute 'area')",
                variable=variable,
            )
        area = np.asarray(area_km2, dtype=float)
        if np.any(~np.isfinite(area)) or np.any(area <= 0):
            raise DataError(
                f"basin area must be positive and finite to convert {unit!r}, got {area_km2}",
                variable=variable,
            )
        base = base * SECONDS_PER_DAY * 1000.0 / (area * 1e6)
    elif have.dimension != want.dimension:
        raise DataError(f"cannot convert {unit!r} to {target!r}", variable=variable)
    return (base - want.offset) / want.scale


def to_standard(
    name: str,
    values: np.ndarray,
    unit: str,
    *,
    area_km2: float | np.ndarray | None = None,
) -> tuple[np.ndarray, str]:
    """Values of variable ``name`` in its standard unit; returns ``(values, unit)``.

    Non-standard names (e.g. ``swe`` in mm, a storage) pass unchanged with their unit.
    """
    target = STANDARD_UNITS.get(name)
    if target is None:
        return np.asarray(values, dtype=float), unit
    return convert(values, unit, target, area_km2=area_km2, variable=name), target
