"""An HBV study's moving parts: daily data, the model with slots, parameter learning, loss."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from torch import Tensor, nn

from discover.config import (
    ConfigError,
    HBVModelConfig,
    NeuralSlotConfig,
    StudyConfig,
)
from discover.data.validate import require_finite_attributes
from discover.fit.batches import Batch, BatchSampler
from discover.fit.objective import Objective, forget_legacy_buffers
from discover.models.hbv import HBV
from discover.models.hbv_processes import FORCINGS, HBV_BOUNDS, UNITS, default_range, textbook
from discover.models.parameters import AttributeMLP, ForcingLSTM, SiteParameters
from discover.processes import Neural
from discover.workflows.base import (
    WithObjective,
    log,
    log_missing,
    time_splits,
    validation_start,
)
from discover.workflows.hbv_data import load_hbv_dataset
from discover.workflows.periods import date_splits

OBSERVED = "streamflow"

RUN_BYTES = 1 << 30
"""Most bytes of daily records one run without gradients may keep; a larger whole-period
run (scores, evaluation, simulation) is split into chunks of sites."""

RECORDED_SERIES = 48
"""Series [time, site, nmul] a run keeps per day, counted generously: fluxes, states,
parameters varying in time and the parameter learner's hidden states."""

WARM_STARTS_LOGGED: set[tuple[str, str]] = set()
"""Slots, with the parameters they were warm-started at (``mid-range`` or ``calibrated``),
whose warm start was logged at INFO; every fresh model of a study (baseline, candidates,
folds) warm-starts again, and those repeats are logged at DEBUG."""


class HBVWorkflow(WithObjective, nn.Module):
    """Binds :class:`~discover.models.hbv.HBV` to daily data, parameters and its objective.

    Parameters are learned from static attributes (dPL, ``model.parameters: attributes``),
    by an LSTM over the forcings and the attributes (``lstm``: parameters per day, those in
    ``model.dynamic`` varying in time) or calibrated per site (``site``); with
    ``model.nmul`` > 1 parallel parameter sets,
    the sets start spread over the bounds (seeded by ``seed``) and the model averages
    their streamflow. A *parameter slot* is a ``model.neural`` entry
    named after an HBV parameter (e.g. ``fc: {inputs: [soil_depth, forest_fraction]}``):
    that parameter is then computed by its own process over the named site attributes
    (output range: the parameter's bounds unless given), called once per run with
    [site] inputs, so it can be probed, distilled and replaced like any process slot.
    The first ``model.warmup`` days set the storages and are never scored; the rest is
    split in time by ``train.split``, or by date (``train.period``,
    :func:`~discover.workflows.periods.date_splits`: then only the warm-up and the periods
    are kept). ``model.spinup`` runs the first year that many times before the first day
    (:class:`~discover.models.hbv.HBV`'s ``spinup_years``); no output shows those days.
    The loss is a per-site :class:`~discover.fit.objective.Objective` on streamflow: with
    ``train.batch``, each training step scores a random batch of sites and days
    (:mod:`discover.fit.batches`); every other loss runs whole periods.

    Args:
        config: the validated study config (``model.type == "hbv"``).
        base: folder that relative data paths refer to.
        dataset: the study's daily data (:func:`load_hbv_dataset`), loaded from the config
            when ``None``.
    """

    def __init__(self, config: StudyConfig, base: Path, dataset: xr.Dataset | None = None):
        super().__init__()
        spec: HBVModelConfig = config.model
        self.config = config
        self.dtype = getattr(torch, config.dtype)
        self.device = torch.device(config.device)
        if dataset is None:
            dataset = load_hbv_dataset(config.data, base, config.seed, dtype=config.dtype)
        self.warmup = spec.warmup
        if config.train.period is None:
            splits = self._share_splits(dataset.sizes["time"])
        else:
            window, splits = date_splits(dataset["time"].values, config, self.warmup)
            dataset = dataset.isel(time=window)
        self.dataset = dataset
        self.variables = [OBSERVED]
        self.sites = [str(s) for s in self.dataset["site"].values]
        self.model = HBV(
            smooth=spec.smooth,
            routing=spec.routing,
            spinup_years=spec.spinup,
            capillary=spec.capillary,
        )
        self._tensors(splits)
        log_missing(self.observed, self.variables, f"data ({config.data.source})")
        self.parameter_slots: list[str] = []
        self.calibrated_start = False
        """Parameters and networks start from a calibrated model's (:meth:`warm_start_at`),
        so training does not search them again."""
        self._fill_neural_slots(spec)
        if spec.parameters != "site" or self.parameter_slots:
            require_finite_attributes(self.dataset, self.attribute_names, "the model")
        self.learner = self._parameter_learner(spec)
        self.register_load_state_dict_pre_hook(forget_legacy_buffers)
        self.to(device=self.device, dtype=self.dtype)

    # -- set-up ------------------------------------------------------------------------
    def _share_splits(self, n_time: int) -> dict[str, slice]:
        """Splits by ``train.split`` and a ``train.validation`` share of the days after
        the warm-up."""
        train = self.config.train
        if not 0 <= self.warmup < n_time - 2:
            raise ConfigError(f"model.warmup: {self.warmup} days leaves no data of {n_time}")
        held_out = self.warmup + int(round(train.split * (n_time - self.warmup)))
        if held_out >= n_time:
            raise ConfigError(f"train.split {train.split} leaves no held-out days")
        fit_end = validation_start(self.warmup, held_out, train.validation)
        return time_splits(self.warmup, fit_end, held_out)

    def _tensors(self, splits: dict[str, slice]) -> None:
        def series(name: str) -> Tensor:
            values = self.dataset[name].transpose("time", "site").values
            return torch.as_tensor(values, dtype=self.dtype)

        for name in FORCINGS:
            if name not in self.dataset:
                raise ConfigError(f"data: the dataset has no forcing {name!r}")
            self.register_buffer(f"forcing_{name}", series(name))
        if OBSERVED not in self.dataset:
            raise ConfigError(f"data: the dataset has no {OBSERVED!r} observations")
        self.objective = Objective(
            self._run,
            series(OBSERVED).numpy()[..., None],
            splits,
            per_site=True,
            dtype=self.dtype,
            warmup=self.warmup,
            batch=self.config.train.batch,
            chunks=self._site_chunks,
        )
        names = [n for n, v in self.dataset.data_vars.items() if v.attrs.get("role") == "attribute"]
        self.attribute_names = names
        columns = [self.dataset[n].values.astype(float) for n in names]
        table = np.stack(columns, -1) if columns else np.zeros((len(self.dataset["site"]), 0))
        self.register_buffer("attributes", torch.as_tensor(table, dtype=self.dtype))

    def _fill_neural_slots(self, spec: HBVModelConfig) -> None:
        processes = {k: v for k, v in spec.neural.items() if k not in HBV_BOUNDS}
        parameters = {k: v for k, v in spec.neural.items() if k in HBV_BOUNDS}
        for name, slot in [*processes.items(), *parameters.items()]:
            if name in parameters:
                self._add_parameter_slot(name, slot)
            process = Neural(
                slot.inputs,
                output_range=slot.output or default_range(name, slot.inputs),
                hidden=slot.hidden,
                activation=slot.activation,
                output_scale=slot.output_scale or 1.0,
            )
            forcing = {i: self.dataset[i].values for i in slot.inputs if i in self.dataset}
            if len(forcing) == len(slot.inputs):
                process.set_normalisation({k: torch.as_tensor(v) for k, v in forcing.items()})
            try:
                self.model.set_slot(name, process)
            except ValueError as err:
                raise ConfigError(f"model.neural.{name}: {err}") from None
            if slot.warm_start:
                self._warm_start(name, process)

    def _add_parameter_slot(self, name: str, slot: NeuralSlotConfig) -> None:
        """Declare slot ``name`` computing that HBV parameter from site attributes."""
        key = f"model.neural.{name}"
        if name not in self.model.parameter_names():
            used = list(self.model.parameter_names())
            raise ConfigError(
                f"{key}: parameter {name!r} is not used by this model; it uses {used}"
            )
        unknown = [i for i in slot.inputs if i not in self.attribute_names]
        if unknown:
            raise ConfigError(
                f"{key}.inputs: {unknown} are not site attributes of the data; "
                f"a parameter slot may use {self.attribute_names}"
            )
        if slot.warm_start:
            raise ConfigError(f"{key}.warm_start: a parameter slot has no textbook process")
        self.model.add_slot(name, self.attribute_names)
        self.parameter_slots.append(name)

    def warm_start_at(self, parameters: dict[str, Tensor]) -> None:
        """Warm-start every ``warm_start`` network again, on the textbook process at
        ``parameters`` ``{name: [site, nmul]}`` (physical units, e.g. a calibrated
        ``physics`` variant's, which holds those the textbook slots need) instead of
        mid-range ones; marks the model as started from calibrated parameters."""
        for name, slot in self.config.model.neural.items():
            process = self.model.slots[name]
            if slot.warm_start and isinstance(process, Neural):
                self._warm_start(name, process, parameters)
        self.calibrated_start = True

    def _warm_start(
        self, name: str, process: Neural, parameters: dict[str, Tensor] | None = None
    ) -> None:
        """Fit ``process`` to the textbook slot over its inputs (forcings as observed,
        wetness in [0, 1]) at mid-range parameters, or at ``parameters`` ``{name: [site,
        nmul]}``: each sample takes those of a random site and parameter set."""
        generator = torch.Generator().manual_seed(self.config.seed)
        n, dtype = 4096, next(process.network.parameters()).dtype
        samples: dict[str, Tensor] = {}
        for i in process.inputs:
            if i in self.dataset:
                values = torch.as_tensor(self.dataset[i].values, dtype=dtype).reshape(-1)
                samples[i] = values[torch.randint(values.numel(), (n,), generator=generator)]
            elif i == "soil_wetness":
                samples[i] = torch.rand(n, generator=generator, dtype=dtype)
            else:
                raise ConfigError(f"model.neural.{name}.warm_start: no range known for input {i!r}")
        physical = textbook(name, smooth=self.model.smooth)
        constants: dict[str, Tensor] = {}
        for p in physical.inputs:
            if p in samples:
                continue
            if parameters is None:
                constants[p] = torch.tensor(
                    (HBV_BOUNDS[p].low + HBV_BOUNDS[p].high) / 2, dtype=dtype
                )
            else:
                value = parameters[p].detach().to("cpu", dtype)  # [site, nmul]
                site = torch.randint(value.shape[0], (n,), generator=generator)
                constants[p] = value[site, torch.randint(value.shape[1], (n,), generator=generator)]
        error = process.fit_to(lambda x: physical({**x, **constants}), samples)
        where = "mid-range" if parameters is None else "calibrated"
        level = logging.DEBUG if (name, where) in WARM_STARTS_LOGGED else logging.INFO
        WARM_STARTS_LOGGED.add((name, where))
        log.log(
            level,
            "%s: network warm-started on the textbook process at %s parameters (mse %.3g)",
            name,
            where,
            error,
        )

    def _parameter_learner(self, spec: HBVModelConfig) -> nn.Module:
        names = [n for n in self.model.parameter_names() if n not in self.parameter_slots]
        if spec.parameters == "site":
            return SiteParameters(len(self.sites), names, nmul=spec.nmul, seed=self.config.seed)
        if not self.attribute_names:
            raise ConfigError(
                f"model.parameters: {spec.parameters!r} needs static attributes in the data"
            )
        if spec.parameters == "lstm":
            return self._lstm_learner(spec, names)
        learner = AttributeMLP(
            len(self.attribute_names),
            names,
            nmul=spec.nmul,
            hidden=spec.parameter_hidden,
            seed=self.config.seed,
        )
        learner.set_normalisation(self.attributes)
        return learner

    def _lstm_learner(self, spec: HBVModelConfig, names: list[str]) -> ForcingLSTM:
        """The LSTM over the forcings and the site attributes (``parameters: lstm``),
        its forcings standardised over the days up to the end of the training split."""
        unknown = [name for name in spec.dynamic if name not in names]
        if unknown:
            raise ConfigError(
                f"model.dynamic: {unknown} are not parameters the LSTM learns; it learns {names}"
            )
        learner = ForcingLSTM(
            len(FORCINGS),
            names,
            nmul=spec.nmul,
            hidden=spec.lstm_hidden,
            dynamic=spec.dynamic,
            n_static=len(self.attribute_names),
            seed=self.config.seed,
        )
        fit_end = self.objective.splits["train"].stop
        learner.set_normalisation(self._forcing_series(slice(0, fit_end)), self.attributes)
        return learner

    def _forcing_series(self, days: slice, sites: Tensor | slice = slice(None)) -> Tensor:
        """The forcings of ``sites`` over ``days`` stacked as [time, site, forcing]."""
        return torch.stack([getattr(self, f"forcing_{n}")[days, sites] for n in FORCINGS], -1)

    def parameters_by_name(
        self, sites: Tensor | slice = slice(None), days: slice | None = None
    ) -> dict[str, Tensor]:
        """Model parameters ``{name: [site, nmul]}`` (``[site, 1]`` for parameter slots)
        in physical units, of ``sites`` (indices or a slice; all by default). An LSTM
        learner (``parameters: lstm``) reads the forcings of ``days`` (the whole record
        by default): its ``model.dynamic`` parameters are [time, site, nmul] over them."""
        attributes = self.attributes[sites]
        if isinstance(self.learner, AttributeMLP):
            values = self.learner(attributes)
        elif isinstance(self.learner, ForcingLSTM):
            days = slice(0, self.flow.shape[0]) if days is None else days
            values = self.learner(self._forcing_series(days, sites), attributes)
        else:
            values = self.learner(sites)
        if self.parameter_slots:
            by_name = dict(zip(self.attribute_names, attributes.unbind(-1), strict=True))
            for name in self.parameter_slots:
                values[name] = self.slot_parameter(name, by_name)
        return values

    def slot_parameter(self, name: str, attributes: dict[str, Tensor]) -> Tensor:
        """Parameter ``name`` [site, 1] from its slot over ``attributes`` ``{name: [site]}``,
        clipped into its bounds (a symbolic slot may leave them); where a symbolic slot is
        not finite (e.g. a log of zero) the lower bound stands in, so the model runs and
        its loss judges the equation."""
        bound = HBV_BOUNDS[name]
        value = self.model.slots[name](attributes)
        value = torch.nan_to_num(value, nan=bound.low, posinf=bound.high, neginf=bound.low)
        return value.clamp(bound.low, bound.high).unsqueeze(-1)

    # -- running -----------------------------------------------------------------------
    def _run(self, batch: Batch, sites: Tensor | slice) -> Tensor:
        """Streamflow [time, site, 1] of ``sites`` over the batch's days after its warm-up
        (the objective's :data:`~discover.fit.objective.Run`)."""
        days = slice(batch.first, batch.end)
        forcings = {name: getattr(self, f"forcing_{name}")[days, sites] for name in FORCINGS}
        parameters = self.parameters_by_name(sites, days)
        out = self.model(forcings, parameters, warmup=batch.warmup, streamflow_only=True)
        return out.streamflow[..., None]

    def simulate(self) -> Tensor:
        """Streamflow [time, site, 1] (mm/day) over the whole period; NaN in the warm-up.
        Without gradients, a study too large for one run is run in chunks of sites
        (:meth:`_site_chunks`)."""
        batch = self._whole(self.warmup, self.flow.shape[0])
        flow = torch.cat([self._run(batch, part) for part in self._site_chunks(batch)], 1)
        pad = flow.new_full((self.warmup, *flow.shape[1:]), float("nan"))
        return torch.cat([pad, flow])

    def _whole(self, scored: int, end: int) -> Batch:
        """Every site over days ``[0, end)``, scored from ``scored``."""
        return self.objective.whole(scored, end)

    def _site_chunks(self, batch: Batch, sites: Tensor | slice | None = None) -> list[slice]:
        """``sites`` (default: the batch's; a slice) in consecutive chunks whose run keeps
        at most :data:`RUN_BYTES` of daily records ([time, site, nmul] fluxes and states);
        one chunk while gradients are recorded (a loss to differentiate) or when it fits."""
        sites = batch.sites if sites is None else sites
        if not isinstance(sites, slice) or torch.is_grad_enabled():
            return [sites]
        nmul = self.config.model.nmul
        per_site = (batch.end - batch.first) * nmul * RECORDED_SERIES * self.flow.element_size()
        size = max(1, RUN_BYTES // per_site)
        return [slice(i, min(i + size, sites.stop)) for i in range(sites.start, sites.stop, size)]

    def hide_sites(self, indices: list[int]) -> None:
        """Hide the streamflow of the sites at ``indices`` from every loss
        (:meth:`Objective.hide_sites`), so that they can be held out: dPL still gives
        them parameters from their attributes, and :attr:`observed` still shows them."""
        self.objective.hide_sites(indices)

    @property
    def flow(self) -> Tensor:
        """Observed streamflow [time, site] (mm/day), NaN where missing."""
        return self.objective.target[..., 0]

    @property
    def flow_seen(self) -> Tensor:
        """:attr:`flow` with the hidden sites masked [time, site] (a view: what the loss
        compares with)."""
        return self.objective.seen[..., 0]

    @property
    def flow_scale(self) -> Tensor:
        """Spread of each site's streamflow [site] that the loss divides errors by."""
        return self.objective.scale[:, 0]

    @property
    def sampler(self) -> BatchSampler | None:
        """Draws the training batches (``train.batch``); ``None``: whole split."""
        return self.objective.sampler

    def units(self) -> dict[str, str]:
        """Units by name: HBV forcings, states, parameters, slot inputs and outputs,
        streamflow, and each site attribute whose dataset variable states them."""
        attributes = {n: self.dataset[n].attrs.get("units") for n in self.attribute_names}
        return {**UNITS, **{n: u for n, u in attributes.items() if isinstance(u, str) and u}}

    def times_index(self) -> np.ndarray:
        """Daily dates [time]."""
        return self.dataset["time"].values
