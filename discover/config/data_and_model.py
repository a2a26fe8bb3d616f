"""The ``data`` and ``model`` sections: where the data come from, and the model (an ODE
system declared from equation strings, or HBV) with its neural slots and solver."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from discover.config.base import MAX_HIDDEN, MIN_TOLERANCE, ExpressionText, HiddenSizes, Strict
from discover.processes.base import OutputRange

SOURCE_KEYS: dict[str, tuple[str, ...]] = {
    "attributes": ("table", "camels_us"),
    "units": ("table",),
    "fill": ("table", "fulda", "hymod", "netcdf", "camels_us", "caravan"),
    "gauges": ("netcdf", "camels_us", "caravan"),
    "forcing": ("camels_us",),
    "format": ("caravan",),
    "pet": ("camels_us", "caravan"),
}
"""``data`` keys that apply to some sources only, key → those sources."""


class DataConfig(Strict):
    """Where the data come from (every layout with an example: ``docs/data.md``).

    ``table``: for an ODE model a CSV/Parquet file (``path``) with a ``time`` column; for
    an HBV model one CSV/Parquet file per site (``path`` a folder or a file pattern) or
    one long table with a ``site`` column, and a site-attribute table (``attributes``);
    ``twin``: a synthetic HBV twin of ``sites`` sites and ``days`` days with ``planted``
    processes (slot → expression) and relative streamflow ``noise``; ``fulda``/``hymod``:
    the shipped example catchments; ``netcdf``: a NetCDF file or a Zarr store (``path``)
    in the dataset layout; ``camels_us``/``caravan``: the folder (``path``) of the
    published CAMELS-US or Caravan layout, with the ``gauges`` to load.
    """

    source: Literal["table", "twin", "fulda", "hymod", "netcdf", "camels_us", "caravan"] = "table"
    """Kind of data: CSV/Parquet ``table`` files, a synthetic HBV ``twin``, the shipped
    ``fulda`` or ``hymod`` catchment, a ``netcdf`` file (or Zarr store) in the dataset
    layout, or a ``camels_us`` or ``caravan`` folder in its published layout (HBV)."""
    path: Path | None = None
    """A ``table`` or ``netcdf`` file (``netcdf``: also a Zarr store, a ``*.zarr``
    folder), relative to the config file's folder; for HBV tables also a folder (every
    ``.csv`` and ``.parquet`` file in it, one per site) or a file pattern
    (``catchments/*.csv``); for ``camels_us`` the folder holding ``basin_mean_forcing``
    and ``usgs_streamflow``, for ``caravan`` the one holding ``timeseries`` and
    ``attributes``."""
    time: str | None = None
    """Column of a ``table`` holding the time (``null``: ``time`` for ODE tables, in the
    model's time unit; ``date`` for HBV tables, ``YYYY-MM-DD``)."""
    site: str | None = None
    """Column of a ``table`` naming the site of each row (ODE: one site when absent; HBV:
    ``site``, else each file is the site named by its file name)."""
    attributes: Path | None = None
    """HBV ``table``: CSV/Parquet table of static site attributes, one row per site, its
    site ids in the ``site`` column; ``camels_us``: the folder of the ``camels_*.txt``
    attribute tables (``null``: ``path``'s ``camels_attributes_v2.0`` folder, else
    ``path`` itself). Relative to the config file's folder."""
    units: dict[str, str] = Field(default_factory=dict)
    """HBV ``table``: unit of a column given in other than its standard unit, e.g.
    ``{streamflow: m3/s}`` (converted with the site's ``area`` attribute in km2) or
    ``{temperature: K}``."""
    sites: int = Field(default=20, ge=1, le=10_000)
    """``twin``: number of synthetic sites."""
    days: int = Field(default=3 * 365, ge=30, le=36_525)
    """``twin``: length of the synthetic series (days)."""
    planted: dict[str, ExpressionText] = Field(default_factory=dict)
    """``twin``: HBV slot or parameter → expression replacing its textbook form in the
    model that makes the data."""
    noise: float = Field(default=0.0, ge=0)
    """``twin``: relative standard deviation of multiplicative noise on streamflow (0.05:
    5 %)."""
    fill: Literal["linear", "climatology"] | None = None
    """Fill gaps in forcings with this method (HBV ``table``, ``fulda``, ``hymod``,
    ``netcdf``, ``camels_us``, ``caravan``); without it a missing or non-finite forcing is
    an error naming the variable, site and time."""
    gauges: list[str] | Path | None = None
    """``netcdf``, ``camels_us``, ``caravan``: the gauges (sites) to load, a list of ids in
    quotes (``["01013500", "01022500"]``; Caravan ids name their source,
    ``camels_01013500``) or a text file of ids, one a line (``#`` starts a comment;
    relative to the config file's folder). ``null``: every site of the file (``netcdf``),
    every gauge with a time-series file (``camels_us``, ``caravan``)."""
    forcing: Literal["daymet", "maurer", "nldas", "maurer_extended", "nldas_extended"] = "daymet"
    """``camels_us``: the forcing product, a folder of ``basin_mean_forcing``."""
    format: Literal["csv", "netcdf"] = "csv"
    """``caravan``: which copy of the time series is read, ``timeseries/csv`` or
    ``timeseries/netcdf``."""
    pet: Literal["oudin", "hargreaves"] | None = None
    """``camels_us``, ``caravan``: formula computing ``pet`` [mm/day] from daily
    temperature and the gauge latitude (``hargreaves`` also from the minimum and maximum).
    ``null``: ``oudin`` for ``camels_us`` (its forcings hold no PET), Caravan's own
    ERA5-Land ``potential_evaporation_sum`` for ``caravan``."""
    attribute_names: list[str] | None = None
    """HBV: the site attributes the model reads (``model.parameters: attributes`` or
    ``lstm``, parameter slots); the others are dropped after loading. ``null``: every
    numeric attribute of the data."""
    attribute_fill: Literal["mean"] | None = None
    """HBV: fill a missing (NaN) value of an attribute the model reads with that
    attribute's mean over the other sites (the count is logged); ``null``: a missing value
    is an error naming the attribute and site."""

    @field_validator("gauges", mode="before")
    @classmethod
    def _gauge_ids_as_text(cls, value: Any) -> Any:
        """Gauge ids are text: YAML reads ``01013500`` as a number and loses its zeros."""
        if isinstance(value, list):
            numbers = [v for v in value if not isinstance(v, str)]
            if numbers:
                raise ValueError(
                    f"gauge ids must be quoted text, e.g. '01013500'; got {numbers[0]!r} "
                    "(YAML reads unquoted digits as a number and drops leading zeros)"
                )
            if not value:
                raise ValueError("an empty list names no gauge; null loads every gauge")
            twice = sorted({v for v in value if value.count(v) > 1})
            if twice:
                raise ValueError(f"gauge id(s) listed twice: {twice}")
        return value

    @model_validator(mode="after")
    def _path_when_needed(self) -> DataConfig:
        if self.source in ("table", "netcdf", "camels_us", "caravan") and self.path is None:
            raise ValueError(f"data.path is required for source {self.source!r}")
        for key, sources in SOURCE_KEYS.items():
            if key in self.model_fields_set and self.source not in sources:
                given = getattr(self, key)  # a default written out (a resolved config) is fine
                if given not in (None, {}, type(self).model_fields[key].default):
                    raise ValueError(f"data.{key} applies to source {' or '.join(sources)} only")
        if self.planted:
            from discover.models.hbv_processes import HBV_BOUNDS, SLOT_INPUTS

            for name in self.planted:
                if name not in SLOT_INPUTS and name not in HBV_BOUNDS:
                    raise ValueError(
                        f"data.planted.{name}: not an HBV slot {list(SLOT_INPUTS)} or "
                        f"parameter {list(HBV_BOUNDS)}"
                    )
        return self


class NeuralSlotConfig(Strict):
    """A neural process slot: its inputs, output range and network size."""

    inputs: list[str] = Field(min_length=1)
    """Names the network sees: states, forcings, or (HBV) fluxes and site attributes."""
    output: str | None = None
    """Output range, e.g. ``">=0"``, ``"[0, 1]"`` or with an end set by one of ``inputs``,
    ``"0 <= out <= pet"`` (see :class:`~discover.processes.OutputRange`)."""
    hidden: HiddenSizes = Field(default_factory=lambda: [32, 32])
    """Widths of the network's hidden layers."""
    activation: Literal["tanh", "relu", "silu", "gelu", "softplus"] = "tanh"
    """Activation function of the hidden layers."""
    output_scale: float | None = Field(default=None, gt=0)
    """Typical magnitude of an output with an open end, in the slot's units. ``null``: in
    ODE models, the RMS over the training period of the rates its states' equations leave
    for it (smoothed observed rates minus the equations' known terms); elsewhere 1."""
    warm_start: bool = False
    """Fit the network to the slot's textbook process before training (HBV slots)."""

    @field_validator("output")
    @classmethod
    def _range(cls, value: str | None) -> str | None:
        OutputRange.parse(value)
        return value

    @model_validator(mode="after")
    def _range_set_by_inputs(self) -> NeuralSlotConfig:
        """An end of ``output`` set by an input (``0 <= out <= pet``) names one of ``inputs``."""
        unknown = [n for n in OutputRange.parse(self.output).inputs if n not in self.inputs]
        if unknown:
            raise ValueError(
                f"output {self.output!r} is bounded by {unknown}, which is not among the "
                f"slot's inputs {self.inputs}"
            )
        return self


class SolverConfig(Strict):
    """ODE integrator."""

    method: Literal["rk4", "dopri5", "dopri8", "bosh3", "adaptive_heun"] = "rk4"
    """Integration scheme: fixed-step ``rk4`` or an adaptive one."""
    substeps: int = Field(default=4, ge=1, le=1000)
    """Fixed-step schemes: integration steps per interval between observations."""
    rtol: float = Field(default=1e-6, gt=0)
    """Adaptive schemes: relative tolerance of a step."""
    atol: float = Field(default=1e-8, gt=0)
    """Adaptive schemes: absolute tolerance of a step (in the states' units)."""
    adjoint: bool = False
    """Compute gradients by the adjoint method (less memory, slower)."""

    @field_validator("rtol", "atol")
    @classmethod
    def _reachable(cls, value: float) -> float:
        if value < MIN_TOLERANCE:
            raise ValueError(
                f"{value:g} is below {MIN_TOLERANCE:g}: float64 rounding (about 1e-16 per "
                "step) cannot meet it, so an adaptive solver would shrink its steps without end"
            )
        return value


class StateBounds(Strict):
    """Bounds a state is held in during integration (``null``: unbounded on that side)."""

    min: float | None = None
    """Lowest value of the state (in its units)."""
    max: float | None = None
    """Highest value of the state (in its units)."""

    @model_validator(mode="after")
    def _ordered(self) -> StateBounds:
        if self.min is not None and self.max is not None and not self.min < self.max:
            raise ValueError(f"min {self.min} must be below max {self.max}")
        return self


class ODEModelConfig(Strict):
    """A universal differential equation declared from equation strings.

    ``states`` lists state names; an entry may instead be a mapping ``{name: N, min: 0}``
    (and/or ``max``), which declares bounds the state is held in during integration
    (read into ``bounds``, which may also be given directly: ``bounds: {N: {min: 0}}``).
    """

    type: Literal["ode"]
    """Model type: an ODE system declared from equation strings."""
    states: list[str] = Field(min_length=1)
    """State names (observed columns of the data); an entry ``{name: N, min: 0}`` also
    bounds the state."""
    bounds: dict[str, StateBounds] = Field(default_factory=dict)
    """State → bounds it is held in during integration."""
    parameters: dict[str, float] = Field(default_factory=dict)
    """Known constants used by the equations, name → value."""
    equations: dict[str, ExpressionText]
    """State → its rate of change, an expression in states, parameters, forcings and the
    neural slots (called like functions, ``F(x, y)``)."""
    neural: dict[str, NeuralSlotConfig] = Field(default_factory=dict)
    """Unknown functions learned by networks, slot name → its network."""
    initial: dict[str, float] = Field(default_factory=dict)
    """State → initial value (default: the first observation)."""
    learn_initial: bool = False
    """Train the initial states together with the model."""
    solver: SolverConfig = Field(default_factory=SolverConfig)
    """The ODE integrator."""

    @model_validator(mode="before")
    @classmethod
    def _bounded_state_entries(cls, value: Any) -> Any:
        if not isinstance(value, dict) or not isinstance(value.get("states"), list):
            return value
        names, bounds = [], dict(value.get("bounds") or {})
        for entry in value["states"]:
            if isinstance(entry, dict):
                entry = dict(entry)
                name = entry.pop("name", None)
                if not isinstance(name, str):
                    raise ValueError(f"states: {entry} needs a 'name' (e.g. {{name: N, min: 0}})")
                if name in bounds:
                    raise ValueError(f"states: bounds of {name!r} are given twice")
                bounds[name] = entry
                entry = name
            names.append(entry)
        return {**value, "states": names, "bounds": bounds}

    @model_validator(mode="after")
    def _consistent(self) -> ODEModelConfig:
        for name in self.initial:
            if name not in self.states:
                raise ValueError(f"initial value for {name!r}, which is not a state")
        for name in self.bounds:
            if name not in self.states:
                raise ValueError(f"bounds given for {name!r}, which is not a state")
        return self


class HBVModelConfig(Strict):
    """The HBV model: slots, parameter learning and warm-up."""

    type: Literal["hbv"]
    """Model type: the HBV rainfall–runoff model."""
    nmul: int = Field(default=1, ge=1)
    """Parallel parameter sets per site, averaged in the output; they start spread over
    each parameter's range (seeded), so that they explore different parts of it."""
    smooth: float | None = Field(default=None, gt=0)
    """Width (°C) of a smooth rain/snow split around the threshold temperature (``null``:
    a sharp split)."""
    routing: bool = True
    """Route runoff through the unit hydrograph (the ``routing`` slot); ``false``: none."""
    capillary: bool = False
    """Capillary rise from the lower zone to the soil at the end of each day,
    ``(1 − SM/FC)·min(kcap·SLZ, fc)`` with the calibrated parameter ``kcap`` in [0, 1]/day
    (HBV-96's capillary flux, drawn from the lower zone): groundwater then feeds
    evapotranspiration in dry spells. ``false``: the textbook HBV."""
    warmup: int = Field(default=365, ge=0)
    """Days of data before the training period (the first days of the series, or those
    before ``train.period``), simulated to settle the stores and never scored (days;
    default 0 with ``spinup``)."""
    spinup: int = Field(default=0, ge=0, le=100)
    """Years of spin-up: the first 365 days of the simulated series are run this many
    times before it, from empty stores, to set the storages (never scored, never in the
    outputs), for data that start where calibration starts."""
    parameters: Literal["attributes", "site", "lstm"] = "attributes"
    """How HBV parameters are learned: from static site attributes by a network
    (``attributes``, dPL), one set per site (``site``), or by an LSTM over the forcings
    and the site attributes (``lstm``, the δHBV set-up: parameters per day, those in
    ``dynamic`` vary in time, the others are the last day's)."""
    parameter_hidden: HiddenSizes = Field(default_factory=lambda: [32])
    """Widths of the hidden layers of the attributes → parameters network."""
    lstm_hidden: int = Field(default=64, ge=1, le=MAX_HIDDEN)
    """``parameters: lstm``: hidden units of the LSTM."""
    dynamic: list[str] = Field(default_factory=list)
    """``parameters: lstm``: HBV parameters that vary from day to day, e.g. ``[beta,
    lp]`` (parameters the model uses, not the routing ones); the others are static, taken
    from the LSTM's last day. Empty: all static."""
    neural: dict[str, NeuralSlotConfig] = Field(default_factory=dict)
    """HBV process slots or parameters replaced by networks, name → its network."""
    baseline: bool = True
    """Also train the all-textbook model as the ``physics`` variant."""

    @model_validator(mode="after")
    def _lstm_keys(self) -> HBVModelConfig:
        """``dynamic`` sets the LSTM learner; its names are HBV parameters other than the
        routing ones."""
        from discover.models.hbv import ROUTING_PARAMETERS
        from discover.models.hbv_processes import HBV_BOUNDS

        if self.dynamic and self.parameters != "lstm":
            raise ValueError("model.dynamic applies to model.parameters: lstm only")
        for name in self.dynamic:
            if name not in HBV_BOUNDS or name in ROUTING_PARAMETERS:
                known = [n for n in HBV_BOUNDS if n not in ROUTING_PARAMETERS]
                raise ValueError(f"model.dynamic: {name!r} is not one of {known}")
        return self

    @model_validator(mode="after")
    def _no_warmup_with_spinup(self) -> HBVModelConfig:
        """With ``spinup`` and no ``warmup`` given, the spin-up replaces the warm-up."""
        if self.spinup and "warmup" not in self.model_fields_set:
            self.warmup = 0
        return self
