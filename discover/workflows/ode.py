"""An ODE study's moving parts: data, model with slots, initial states and the loss."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from sympy.core.function import AppliedUndef
from torch import Tensor, nn

from discover.config import ConfigError, ODEModelConfig, StudyConfig
from discover.expressions import ExpressionError, parse_expression
from discover.fit.batches import Batch
from discover.fit.collocation import smoothed_rates
from discover.fit.objective import Objective, forget_legacy_buffers
from discover.fit.shooting import multiple_shooting
from discover.models.ode import TIME, ODEModel
from discover.processes import Neural
from discover.workflows.base import WithObjective, log_missing, time_splits, validation_start
from discover.workflows.ode_data import (
    forcing_names,
    forcings_array,
    read_ode_table,
    split_index,
    state_names,
    states_array,
)


class ODEWorkflow(WithObjective, nn.Module):
    """Binds an :class:`ODEModel` to its data: initial states and its objective, a pooled
    :class:`~discover.fit.objective.Objective` over the states (the first time is the
    initial condition, in no split), whose training loss is multiple shooting
    (:mod:`discover.fit.shooting`) when ``train.shooting`` applies; the other splits are
    always integrated in one shot from the initial states.

    Args:
        config: the validated study config (``model.type == "ode"``).
        base: folder that relative data paths refer to.
        data: the study's dataset (:func:`load_ode_data`), read from the config when
            ``None``.
    """

    def __init__(self, config: StudyConfig, base: Path, data: xr.Dataset | None = None):
        super().__init__()
        spec: ODEModelConfig = config.model
        self.config = config
        self.dtype = getattr(torch, config.dtype)
        self.device = torch.device(config.device)
        self.data = data if data is not None else load_ode_data(config, base)
        self.forcing_names = forcing_names(self.data)
        self.model = build_ode_model(spec, self.forcing_names)
        self.n_train = split_index(self.data, config.train.split)
        self.n_fit = validation_start(1, self.n_train, config.train.validation)
        self.variables = state_names(self.data)
        log_missing(states_array(self.data), self.variables, self.data.attrs["source"])
        self.sites = [str(s) for s in self.data["site"].to_numpy()]
        self._tensors()
        self._initial_states(spec)
        self._fill_neural_slots(spec)
        self.register_load_state_dict_pre_hook(forget_legacy_buffers)
        self.to(device=self.device, dtype=self.dtype)
        self.shooting = multiple_shooting(self, config.train.shooting)
        if self.shooting is not None:
            self.objective.score_training_by(partial(self.shooting.loss, self))

    # -- set-up ------------------------------------------------------------------------
    def _tensors(self) -> None:
        as_tensor = lambda a: torch.as_tensor(a, dtype=self.dtype)  # noqa: E731
        self.register_buffer("times", as_tensor(self.times_index()))
        self.register_buffer("forcings", as_tensor(forcings_array(self.data)))
        splits = time_splits(1, self.n_fit, self.n_train)
        self.objective = Objective(
            self._run, states_array(self.data), splits, per_site=False, dtype=self.dtype
        )

    def _initial_states(self, spec: ODEModelConfig) -> None:
        first = states_array(self.data)[0].copy()  # [site, state]
        for i, name in enumerate(spec.states):
            if name in spec.initial:
                first[:, i] = spec.initial[name]
            elif not np.isfinite(first[:, i]).all():
                raise ConfigError(
                    f"model.initial.{name}: state {name!r} is not observed at the first time "
                    f"for every site of {self.data.attrs['source']}; give its initial value"
                )
        y0 = torch.as_tensor(first, dtype=self.dtype)
        if spec.learn_initial:
            self.y0 = nn.Parameter(y0)
        else:
            self.register_buffer("y0", y0)

    def _fill_neural_slots(self, spec: ODEModelConfig) -> None:
        states, forcings = states_array(self.data), forcings_array(self.data)
        observed = dict(zip(self.variables, np.moveaxis(states, -1, 0), strict=True))
        observed.update(zip(self.forcing_names, np.moveaxis(forcings, -1, 0), strict=True))
        steps = self.n_fit
        rate_scale = slot_rate_scales(
            self.model,
            states[:steps],
            self.times_index()[:steps],
            forcings[:steps] if self.forcing_names else None,
        )
        for name, slot in spec.neural.items():
            process = Neural(
                slot.inputs,
                output_range=slot.output,
                hidden=slot.hidden,
                activation=slot.activation,
                output_scale=slot.output_scale or rate_scale[name],
            )
            samples = {i: torch.as_tensor(observed[i]) for i in slot.inputs if i in observed}
            if len(samples) == len(slot.inputs):
                process.set_normalisation(samples)
            self.model.set_slot(name, process)

    @property
    def observations(self) -> Tensor:
        """Observed states [time, site, state] as the objective's losses see them (NaN
        where not observed; read by multiple shooting)."""
        return self.objective.seen

    @property
    def loss_scale(self) -> Tensor:
        """Spread of each state [state] that the losses divide errors by."""
        return self.objective.scale

    # -- running -----------------------------------------------------------------------
    def simulate(self, steps: int | None = None) -> Tensor:
        """Simulated states [time, site, state] over the first ``steps`` times (all if None)."""
        end = self.data.sizes["time"] if steps is None else steps
        forcing = self.forcings[:end] if self.forcing_names else None
        return self.model.simulate(self.y0, self.times[:end], forcing)

    def _run(self, batch: Batch, sites: Tensor | slice) -> Tensor:
        """Simulated states [time, site, state] of every site over times ``[0,
        batch.end)`` (the objective's :data:`~discover.fit.objective.Run`; its objective
        is pooled, so ``sites`` are all of them)."""
        return self.simulate(batch.end)

    def units(self) -> dict[str, str]:
        """Units by name: none are declared for an ``ode`` model."""
        return {}

    def times_index(self) -> np.ndarray:
        """The time coordinate [time]."""
        return self.data["time"].to_numpy()


def load_ode_data(config: StudyConfig, base: Path) -> xr.Dataset:
    """The table an ODE study's config names (``data.source: table``), read and checked
    into the dataset container (:func:`~discover.workflows.ode_data.read_ode_table`)."""
    if config.data.source != "table":
        raise ConfigError(f"data.source: an ode model reads a table, not {config.data.source!r}")
    spec: ODEModelConfig = config.model
    time = config.data.time or "time"
    return read_ode_table(base / config.data.path, time, spec.states, config.data.site)


def build_ode_model(spec: ODEModelConfig, forcings: list[str]) -> ODEModel:
    """Build the model from its config; a problem in an equation names its config key."""
    names = [*spec.states, *spec.parameters, *forcings, TIME]
    arity = {name: len(slot.inputs) for name, slot in spec.neural.items()}
    for name, slot in spec.neural.items():
        unknown = [i for i in slot.inputs if i not in names]
        if unknown:
            raise ConfigError(
                f"model.neural.{name}.inputs: {unknown} are not states, parameters, forcings "
                f"or {TIME!r}; the slot can see {names}"
            )
    for state, text in spec.equations.items():
        if state not in spec.states:
            raise ConfigError(f"model.equations.{state}: not a state; states are {spec.states}")
        try:
            expression = parse_expression(text, names, arity)
        except ExpressionError as err:
            raise ConfigError(f"model.equations.{state}: {err}") from None
        for call in expression.atoms(AppliedUndef):
            declared = spec.neural[call.func.__name__].inputs
            if [str(arg) for arg in call.args] != declared:
                raise ConfigError(
                    f"model.equations.{state}: {call} must pass its declared inputs "
                    f"{call.func.__name__}({', '.join(declared)}) in that order"
                )
    try:
        return ODEModel(
            spec.states,
            spec.equations,
            spec.parameters,
            {name: slot.inputs for name, slot in spec.neural.items()},
            forcings,
            solver=spec.solver.method,
            substeps=spec.solver.substeps,
            rtol=spec.solver.rtol,
            atol=spec.solver.atol,
            adjoint=spec.solver.adjoint,
            bounds={name: (b.min, b.max) for name, b in spec.bounds.items()},
        )
    except ValueError as err:
        raise ConfigError(f"model: {err}") from None


def slot_rate_scales(
    model: ODEModel, observed: np.ndarray, times: np.ndarray, forcings: np.ndarray | None = None
) -> dict[str, float]:
    """Per slot of ``model``, the typical magnitude of its output: the root mean square of
    what the known terms leave of the rates of change of the states whose equations call
    it (the rates minus :meth:`~discover.models.ode.ODEModel.known_rates`).

    Args:
        model: the ODE model (its slots may still be empty).
        observed: states [time, site, state] in the model's order (NaN: missing).
        times: their times [time].
        forcings: forcing values [time, site, forcing] (if the model has forcings).

    The states and rates are those of the smoothed series (:func:`~discover.fit.
    collocation.smoothed_rates`; a series too short to smooth: the observations and their
    finite differences). The root mean square, not a median: a trajectory that settles on
    an equilibrium has rates near 0 most of the time, and a network scaled by them cannot
    reach the rates of its transient. A slot whose states have no finite residual takes
    those of all states; 1.0 when there are none.
    """
    smooth, rates = smoothed_rates(times, observed)
    unsmoothed = ~np.isfinite(rates).any(axis=(0, 1))
    smooth[..., unsmoothed] = observed[..., unsmoothed]
    rates[..., unsmoothed] = np.gradient(observed, times, axis=0)[..., unsmoothed]
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float64).reshape(-1, a.shape[-1])  # noqa: E731
    t = torch.as_tensor(np.repeat(times[:, None], smooth.shape[1], axis=1), dtype=torch.float64)
    with torch.no_grad():
        known = model.known_rates(
            t.reshape(-1), as_tensor(smooth), None if forcings is None else as_tensor(forcings)
        )
    residual = rates.reshape(known.shape) - known.double().numpy()  # [row, state]
    left = {s: residual[:, i][np.isfinite(residual[:, i])] for i, s in enumerate(model.states)}
    fallback = _root_mean_square(np.concatenate([*left.values()])) or 1.0
    scales = {}
    for slot in model.functions:
        calling = [s for s in model.states if slot in model.calls(s)]
        scales[slot] = _root_mean_square(np.concatenate([left[s] for s in calling])) or fallback
    return scales


def _root_mean_square(values: np.ndarray) -> float | None:
    """Root mean square of ``values`` (``None`` if empty, zero or not finite)."""
    if values.size == 0:
        return None
    value = float(np.sqrt(np.mean(values**2)))
    return value if np.isfinite(value) and value > 0 else None
