"""Data for ``discover``: the dataset container, loaders, checks and synthetic weather.

The dataset container
---------------------
Every loader returns, and every model consumes, an ``xarray.Dataset`` with

- dims ``time`` (``datetime64``, daily for hydrology, increasing, no duplicates or
  missing days) and ``site`` (string ids as a coordinate, unique);
- time series (forcings and observations) as variables with dims ``("time", "site")``;
  static attributes as variables with dims ``("site",)``;
- on every variable, ``attrs["units"]`` and ``attrs["role"]`` in
  ``{"forcing", "observation", "attribute"}``;
- standard names in standard units: forcings ``precipitation`` [mm/day],
  ``temperature`` (daily mean) [degC], ``temperature_min``/``temperature_max`` [degC],
  ``pet`` [mm/day]; observation ``streamflow`` [mm/day]; attributes ``area`` [km2],
  ``latitude`` [degrees_north], ``longitude`` [degrees_east], ``elevation`` [m]. Other
  variables keep their source names and units (``unknown`` when a source gives none).

Forcings are finite everywhere (gaps are an error unless filled on request with a named
method; a filled variable records ``attrs["filled"]`` and ``attrs["fill_method"]``).
Observations may hold NaN: it marks missing values, which losses must mask.
``ds.attrs["source"]`` says where the data came from.

``validate_dataset(ds)`` enforces all this plus the data checks (sentinels, overlapping
periods, negative precipitation/PET, units by runoff ratio, ...) and returns a
``DataReport``; loaders run it before they return, so a loaded dataset is a valid one.
Errors are ``DataError`` (a ``ValueError``) naming file, variable, site and time.

Loaders: ``load_csv`` and ``load_netcdf`` (plain files), ``load_camels_us`` (CAMELS-US
directory layout), ``load_caravan`` (Caravan layout), ``load_fulda`` and ``load_hymod``
(two small real catchments shipped in ``discover/data/files``), and
``synthetic_weather`` (stochastic weather with static attributes).
"""

from discover.data.assemble import SiteSeries, assemble
from discover.data.camels_us import load_camels_us
from discover.data.caravan import load_caravan
from discover.data.container import ROLES, STANDARD_UNITS, DataError
from discover.data.examples import load_fulda, load_hymod
from discover.data.gaps import FILL_METHODS, fill_gaps
from discover.data.pet import PET_METHODS, add_pet
from discover.data.select import select_period, select_sites, split_period, variables
from discover.data.synthetic import synthetic_weather
from discover.data.table import load_csv, load_netcdf
from discover.data.units import convert
from discover.data.validate import DataReport, validate_dataset

__all__ = [
    "FILL_METHODS",
    "PET_METHODS",
    "ROLES",
    "STANDARD_UNITS",
    "DataError",
    "DataReport",
    "SiteSeries",
    "add_pet",
    "assemble",
    "convert",
    "fill_gaps",
    "load_camels_us",
    "load_caravan",
    "load_csv",
    "load_fulda",
    "load_hymod",
    "load_netcdf",
    "select_period",
    "select_sites",
    "split_period",
    "synthetic_weather",
    "validate_dataset",
    "variables",
]
