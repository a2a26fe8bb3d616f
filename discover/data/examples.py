"""Two small real catchments shipped with ``discover`` (from the SPOTPY examples, MIT
licence; see ``files/ATTRIBUTION.md``), loaded through the plain CSV loader.

- Fulda (Germany), gauge Grebenau: daily precipitation, mean/min/max temperature and
  discharge [m3/s], 1979-01-01..1988-12-31, catchment area 2976.41 km2 (the area used by
  SPOTPY's lumped CMF example), latitude about 50.6 degN. The file has no PET: it is
  computed by ``pyet`` (Oudin by default) from temperature and latitude.
- The HYMOD example catchment: daily rainfall, PET (Turc) and discharge [l/s],
  2012-01-01..2016-12-31, area 1.783 km2 (the factor SPOTPY's HYMOD example uses);
  discharge is missing (NaN) in 2012.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pandas as pd
import xarray as xr

from discover.data.table import load_csv

FULDA_AREA_KM2 = 2976.41
FULDA_LATITUDE = 50.6
HYMOD_AREA_KM2 = 1.783


def data_file(name: str) -> Path:
    """Path of a data file shipped in ``discover/data/files``."""
    return Path(str(files("discover.data") / "files" / name))


def load_fulda(*, pet: str = "oudin", fill: str | None = None) -> xr.Dataset:
    """Fulda catchment, one site ``"fulda"``: forcings ``precipitation``, ``temperature``,
    ``temperature_min``, ``temperature_max`` [degC], ``pet`` [mm/day] from ``pyet``
    (``pet="oudin"`` or ``"hargreaves"``); observation ``streamflow`` [mm/day]
    converted from m3/s with the area; attributes ``area`` [km2], ``latitude``."""
    attributes = pd.DataFrame(
        {"area": [FULDA_AREA_KM2], "latitude": [FULDA_LATITUDE]}, index=["fulda"]
    )
    return load_csv(
        data_file("fulda_climate.csv"),
        {
            "Prec": ("precipitation", "mm/day"),
            "tmean": ("temperature", "degC"),
            "tmin": ("temperature_min", "degC"),
            "tmax": ("temperature_max", "degC"),
            "Q": ("streamflow", "m3/s"),
        },
        time_column="date",
        time_format="%d.%m.%Y",
        comment="#",
        site="fulda",
        attributes=attributes,
        pet=pet,
        fill=fill,
    )


def load_hymod(*, fill: str | None = None) -> xr.Dataset:
    """HYMOD example catchment, one site ``"hymod"``: forcings ``precipitation`` and
    ``pet`` [mm/day]; observation ``streamflow`` [mm/day] converted from l/s with the
    area (NaN where the file has none); attribute ``area`` [km2]."""
    return load_csv(
        data_file("hymod_input.csv"),
        {
            "rainfall[mm]": ("precipitation", "mm/day"),
            "TURC [mm d-1]": ("pet", "mm/day"),
            "Discharge[ls-1]": ("streamflow", "l/s"),
        },
        time_column="Date",
        time_format="%d.%m.%Y",
        sep=";",
        site="hymod",
        attributes=pd.DataFrame({"area": [HYMOD_AREA_KM2]}, index=["hymod"]),
        fill=fill,
    )
