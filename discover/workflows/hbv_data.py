"""The daily dataset an HBV study reads, from its ``data`` config section (layouts:
``docs/data.md``)."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from discover.config import ConfigError, DataConfig
from discover.data.synthetic import synthetic_weather
from discover.data.twin import make_twin
from discover.models.hbv_processes import FORCINGS, HBV_BOUNDS

HBV_SERIES = (*FORCINGS, "streamflow")
"""The time series an HBV model reads; a stored dataset (``data.source: netcdf``) is read
for these only."""


def load_hbv_dataset(spec: DataConfig, base: Path, seed: int, dtype: str = "float64") -> xr.Dataset:
    """The daily dataset a config names: a synthetic twin, an example catchment, a NetCDF
    file or Zarr store, per-site tables or a CAMELS-US or Caravan folder (layouts:
    ``docs/data.md``), with the attributes ``data.attribute_names`` (all when unset), gaps
    in them filled by ``data.attribute_fill``. A NetCDF file or Zarr store is read lazily:
    only :data:`HBV_SERIES` of the ``data.gauges`` (all when unset), in ``dtype`` (the
    study's ``dtype``, so that its tensors need no second copy)."""
    from discover.data.attributes import fill_attributes, select_attributes
    from discover.data.container import DataError

    dataset = _read_hbv_dataset(spec, base, seed, dtype)
    if spec.attribute_names is not None:
        try:
            dataset = select_attributes(dataset, spec.attribute_names)
        except DataError as error:
            raise ConfigError(f"data.attribute_names: {error}") from None
    if spec.attribute_fill is not None:
        dataset = fill_attributes(dataset, spec.attribute_fill)
    return dataset


def _read_hbv_dataset(spec: DataConfig, base: Path, seed: int, dtype: str) -> xr.Dataset:
    if spec.source in ("camels_us", "caravan"):
        from discover.data.large_sample import load_large_sample

        return load_large_sample(spec, base)
    if spec.source == "twin":
        weather = synthetic_weather(spec.sites, n_days=spec.days, seed=seed)
        # a twin that plants a parameter keeps the distractor attributes, against which
        # the parameter's true attributes must stand out
        distractors = any(name in HBV_BOUNDS for name in spec.planted)
        return make_twin(
            weather, planted=spec.planted, seed=seed, noise=spec.noise, distractors=distractors
        )
    if spec.source in ("fulda", "hymod"):
        from discover.data import examples

        return getattr(examples, f"load_{spec.source}")(fill=spec.fill)
    if spec.source == "netcdf":
        from discover.data.large_sample import configured_gauges
        from discover.data.table import load_netcdf

        gauges = configured_gauges(spec, base)
        return load_netcdf(
            base / spec.path, fill=spec.fill, series=HBV_SERIES, sites=gauges, dtype=dtype
        )
    if spec.source == "table":
        from discover.data.table import load_site_tables

        return load_site_tables(
            base / spec.path,
            attributes=None if spec.attributes is None else base / spec.attributes,
            time_column=spec.time or "date",
            site_column=spec.site or "site",
            units=spec.units,
            fill=spec.fill,
        )
    raise ConfigError(f"data.source: {spec.source!r} cannot feed an HBV model")
