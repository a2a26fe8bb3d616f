"""CAMELS-US and Caravan folders loaded as a ``data`` config section names them
(``data.source: camels_us`` or ``caravan``; layouts: ``docs/data.md``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import xarray as xr

from discover.data.camels_us import load_camels_us
from discover.data.caravan import CARAVAN_VARIABLES, load_caravan
from discover.data.container import DataError

if TYPE_CHECKING:
    from discover.config import DataConfig


def read_gauge_ids(path: Path) -> list[str]:
    """Gauge ids from a text file, one a line (blank lines and text after ``#`` are
    skipped); an empty file or an id listed twice is an error."""
    if not path.is_file():
        raise DataError("gauge list not found", file=str(path))
    lines = path.read_text(encoding="utf-8").splitlines()
    ids = [line.split("#")[0].strip() for line in lines]
    ids = [gauge for gauge in ids if gauge]
    if not ids:
        raise DataError("gauge list names no gauge", file=str(path))
    twice = sorted({gauge for gauge in ids if ids.count(gauge) > 1})
    if twice:
        raise DataError(f"gauge id(s) listed twice: {twice}", file=str(path))
    return ids


def configured_gauges(spec: DataConfig, base: Path) -> list[str] | None:
    """The gauge ids ``data.gauges`` names: its list, or those of its file (relative to
    ``base``, :func:`read_gauge_ids`); ``None`` (every gauge) when unset."""
    if isinstance(spec.gauges, Path):
        return read_gauge_ids(base / spec.gauges)
    return spec.gauges


def load_large_sample(spec: DataConfig, base: Path) -> xr.Dataset:
    """The CAMELS-US or Caravan gauges ``spec`` names (paths relative to ``base``): forcings
    [time, site], ``pet`` by ``spec.pet`` (CAMELS-US: Oudin's formula by default; Caravan:
    its ERA5-Land PET unless a formula is named), ``streamflow`` [mm/day] and attributes."""
    root = base / spec.path
    gauges = configured_gauges(spec, base)
    if spec.source == "camels_us":
        return load_camels_us(
            root,
            gauges,
            forcing=spec.forcing,
            attributes_dir=None if spec.attributes is None else base / spec.attributes,
            pet=spec.pet or "oudin",
            fill=spec.fill,
        )
    if spec.source != "caravan":
        raise DataError(f"source {spec.source!r} is neither 'camels_us' nor 'caravan'")
    columns = None
    if spec.pet is not None:  # the formula replaces Caravan's PET column
        columns = {k: v for k, v in CARAVAN_VARIABLES.items() if v[0] != "pet"}
    return load_caravan(
        root, gauges, fmt=spec.format, variables=columns, pet=spec.pet, fill=spec.fill
    )
