"""Synthetic twins: streamflow simulated by HBV from planted parameter maps and, optionally,
planted non-textbook processes, so that what a hybrid model discovers can be checked
against the truth.

Parameter maps: each HBV parameter is ``low + (high − low)·sigmoid(w·z + b)`` with ``z``
the standardised site attributes and ``w``, ``b`` drawn from ``seed``. A planted process
is an equation string over a slot's inputs, e.g. evapotranspiration
``"pet * soil_wetness**0.5"``; it replaces the textbook process in that slot. A planted
parameter is an equation string over site attributes (distractors included), e.g.
``fc: "60 + 150*soil_depth*(1 + forest_fraction)"``; it replaces that parameter's map.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
import torch
import xarray as xr

from discover.errors import UserError
from discover.expressions import parse_expression
from discover.models.hbv import HBV, HBVOutput
from discover.models.hbv_processes import FORCINGS, HBV_BOUNDS, SLOT_INPUTS, SLOT_MEANING
from discover.processes.compile import ExpressionModule
from discover.processes.symbolic import Symbolic


class PlantedError(UserError):
    """A planted parameter is not finite or leaves its bounds; the message names it."""


def site_attributes(weather: xr.Dataset, names: Sequence[str] | None = None) -> list[str]:
    """Attribute names to plant parameter maps on: ``names`` if given, else every [site]
    variable whose ``kind`` attr is not ``distractor``."""
    if names is not None:
        missing = [name for name in names if name not in weather]
        if missing:
            raise KeyError(f"attribute(s) {missing} are not in the weather dataset")
        return list(names)
    return [
        name
        for name, value in weather.data_vars.items()
        if value.dims == ("site",) and value.attrs.get("kind") != "distractor"
    ]


def planted_parameters(
    attributes: np.ndarray, names: Sequence[str], seed: int = 0
) -> dict[str, np.ndarray]:
    """Parameter maps from attributes [site, attr]: ``{name: [site]}`` within HBV bounds."""
    if attributes.ndim != 2:
        raise ValueError(f"attributes must be [site, attr], got shape {attributes.shape}")
    spread = attributes.std(0)
    z = (attributes - attributes.mean(0)) / np.where(spread > 0, spread, 1.0)
    rng = np.random.default_rng(seed)
    out = {}
    for name in names:
        bound = HBV_BOUNDS[name]
        weights = rng.normal(0.0, 1.0 / np.sqrt(max(z.shape[1], 1)), z.shape[1])
        share = 1.0 / (1.0 + np.exp(-(z @ weights + rng.normal(0.0, 0.5))))
        out[name] = bound.low + (bound.high - bound.low) * share
    return out


def site_variables(weather: xr.Dataset) -> list[str]:
    """Every [site] variable of ``weather`` (attributes of all kinds, distractors too)."""
    return [name for name, value in weather.data_vars.items() if value.dims == ("site",)]


def planted_parameter(weather: xr.Dataset, name: str, expression: str) -> np.ndarray:
    """Values [site] of HBV parameter ``name`` from an equation string over site attributes.

    Raises:
        ExpressionError: the expression uses an unknown name or is not a safe expression.
        PlantedError: the values are not finite, or leave the parameter's bounds at a site.
    """
    allowed = site_variables(weather)
    parsed = parse_expression(expression, allowed)
    used = sorted(symbol.name for symbol in parsed.free_symbols)
    module = ExpressionModule(parsed, used, trainable=False)
    values = {n: torch.as_tensor(weather[n].values.astype(float)) for n in used}
    if not values:  # a constant
        values = {"_": torch.zeros(weather.sizes["site"], dtype=torch.float64)}
    with torch.no_grad():
        out = module(values).double().numpy()
    out = np.broadcast_to(out, (weather.sizes["site"],)).copy()
    bound = HBV_BOUNDS[name]
    if not np.isfinite(out).all():
        raise PlantedError(f"planted parameter {name} = {expression} is not finite at every site")
    if out.min() < bound.low or out.max() > bound.high:
        raise PlantedError(
            f"planted parameter {name} = {expression} spans [{out.min():g}, {out.max():g}], "
            f"outside its bounds [{bound.low:g}, {bound.high:g}] {bound.unit}"
        )
    return out


def _parameter_attributes(weather: xr.Dataset, planted: Mapping[str, str]) -> list[str]:
    """Site attributes that the planted parameters' expressions use."""
    allowed = site_variables(weather)
    used: set[str] = set()
    for name, expression in planted.items():
        if name in HBV_BOUNDS:
            used |= {s.name for s in parse_expression(expression, allowed).free_symbols}
    return [name for name in allowed if name in used]


def planted_process(slot: str, expression: str) -> Symbolic:
    """A fixed symbolic process for ``slot`` from an equation string over its inputs."""
    if slot not in SLOT_INPUTS:
        raise KeyError(f"HBV has no slot {slot!r}; slots are {list(SLOT_INPUTS)}")
    allowed = SLOT_INPUTS[slot]
    parsed = parse_expression(expression, allowed)
    used = {symbol.name for symbol in parsed.free_symbols}
    inputs = [name for name in allowed if name in used]
    output_range = "[0, 1]" if slot == "recharge" else ">=0"
    process = Symbolic(parsed, inputs, output_range=output_range, clip=True)
    process.requires_grad_(False)
    return process


def make_twin(
    weather: xr.Dataset,
    *,
    planted: Mapping[str, str] | None = None,
    attributes: Sequence[str] | None = None,
    seed: int = 0,
    spinup_days: int = 365,
    noise: float = 0.0,
    smooth: float | None = None,
    routing: bool = True,
    distractors: bool = False,
) -> xr.Dataset:
    """Simulate a twin from ``weather`` (``precipitation``, ``temperature``, ``pet``
    [time, site], attributes [site]).

    Args:
        weather: forcings and site attributes, e.g. from
            ``discover.data.synthetic.synthetic_weather``.
        planted: slot → equation string replacing the textbook process, or HBV parameter
            → equation string over site attributes replacing that parameter's map.
        attributes: attribute names the parameter maps use (see :func:`site_attributes`).
        seed: seed of the parameter maps and the noise.
        spinup_days: the first days are run once beforehand to set the initial storages.
        noise: relative standard deviation of multiplicative noise on streamflow.
        smooth, routing: as in :class:`discover.models.hbv.HBV`.
        distractors: keep every [site] attribute in the twin, distractors too (else only
            those the parameter maps use and those planted parameters use).

    Returns:
        The forcings and attributes, ``streamflow`` [time, site] mm/day, the planted
        parameters ``true_<name>`` [site], and every true flux and storage
        ``true_<name>`` [time, site]; attrs ``planted`` (JSON slot → expression) and
        ``parameters`` (JSON list of planted names).
    """
    missing = [name for name in FORCINGS if name not in weather]
    if missing:
        raise KeyError(f"weather dataset lacks forcing(s) {missing}")
    planted = dict(planted or {})
    model = HBV(smooth=smooth, routing=routing)
    for slot, expression in planted.items():
        if slot not in HBV_BOUNDS:
            model.set_slot(slot, planted_process(slot, expression))
    names = site_attributes(weather, attributes)
    truth = _true_parameters(weather, names, model.parameter_names(), planted, seed)
    extra = site_variables(weather) if distractors else _parameter_attributes(weather, planted)
    names += [name for name in extra if name not in names]
    out = _simulated(model, weather, truth, min(spinup_days, weather.sizes["time"] - 1))
    flow = out.streamflow.numpy()
    if noise > 0:
        rng = np.random.default_rng(seed + 1)
        flow = np.clip(flow * (1.0 + noise * rng.standard_normal(flow.shape)), 0.0, None)
    ds = _with_truth(weather[[*FORCINGS, *names]].copy(), flow, truth, out)
    ds.attrs["planted"] = json.dumps(dict(planted or {}))
    meaning = {k: SLOT_MEANING[k] if k in SLOT_MEANING else HBV_BOUNDS[k].meaning for k in planted}
    ds.attrs["planted_meaning"] = json.dumps(meaning)
    ds.attrs["parameters"] = json.dumps(list(truth))
    ds.attrs["source"] = f"discover.data.twin.make_twin(seed={seed})"
    return ds


def _simulated(
    model: HBV, weather: xr.Dataset, truth: Mapping[str, np.ndarray], spinup: int
) -> HBVOutput:
    """``model`` run without gradients over ``weather``'s forcings, the first ``spinup``
    days run once beforehand (as warm-up) to set the initial storages."""

    def series(name: str) -> torch.Tensor:
        values = torch.as_tensor(
            weather[name].transpose("time", "site").values, dtype=torch.float64
        )
        return torch.cat([values[:spinup], values])

    forcings = {name: series(name) for name in FORCINGS}
    parameters = {
        name: torch.as_tensor(value, dtype=torch.float64) for name, value in truth.items()
    }
    with torch.no_grad():
        return model(forcings, parameters, warmup=spinup)


def _true_parameters(
    weather: xr.Dataset,
    names: list[str],
    needed: tuple[str, ...],
    planted: Mapping[str, str],
    seed: int,
) -> dict[str, np.ndarray]:
    """Values [site] of every ``needed`` HBV parameter: a map over the attributes ``names``
    (:func:`planted_parameters`), or the planted expression where one is given."""
    table = np.stack([weather[name].values.astype(float) for name in names], axis=-1)
    truth = planted_parameters(table, needed, seed)
    for name, expression in planted.items():
        if name in HBV_BOUNDS:
            if name not in truth:
                raise ValueError(f"planted parameter {name!r} is not used by this HBV model")
            truth[name] = planted_parameter(weather, name, expression)
    return truth


def _with_truth(
    ds: xr.Dataset, flow: np.ndarray, truth: Mapping[str, np.ndarray], out: HBVOutput
) -> xr.Dataset:
    """``ds`` with the twin's ``streamflow`` [time, site] and every true parameter
    ``true_<name>`` [site], flux and storage ``true_<name>`` [time, site] (first set)."""
    ds["streamflow"] = (("time", "site"), flow, {"units": "mm/day", "role": "observation"})
    for name, value in truth.items():
        bound = HBV_BOUNDS[name]
        ds[f"true_{name}"] = (("site",), value, {"units": bound.unit, "role": "truth"})
    for group in (out.fluxes, out.states):
        for name, value in group.items():
            unit = "mm" if group is out.states else "mm/day"
            ds[f"true_{name}"] = (("time", "site"), value[..., 0].numpy(), {"units": unit})
            ds[f"true_{name}"].attrs["role"] = "truth"
    return ds
