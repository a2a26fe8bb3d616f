"""The checks of an HBV run's inputs: forcings, parameters (static or dynamic) and
initial storages, each error naming the input; and the split of the series into days."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping

import torch
from torch import Tensor

from discover.models.hbv_processes import FORCINGS, HBV_BOUNDS, STATES


def check_forcings(forcings: Mapping[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    """``precipitation``, ``temperature`` and ``pet`` [time, site], finite, of one shape,
    precipitation and pet >= 0.

    Each forcing is read once, for its least and greatest value (NaN if it holds one),
    all in one transfer: a population's forcings are [time, member·site], and testing
    every value for finiteness and sign took several times as long."""
    missing = [name for name in FORCINGS if name not in forcings]
    if missing:
        raise KeyError(f"HBV needs forcing(s) {missing}; got {sorted(forcings)}")
    series = tuple(forcings[name] for name in FORCINGS)
    for name, value in zip(FORCINGS, series, strict=True):
        if value.dim() != 2 or value.shape != series[0].shape:
            raise ValueError(
                f"forcing {name!r} must be [time, site] like precipitation "
                f"{tuple(series[0].shape)}, got {tuple(value.shape)}"
            )
    if not series[0].numel():
        return series
    extremes = [torch.stack(torch.aminmax(v.detach())).double() for v in series]
    extremes = torch.stack(extremes).tolist()
    for name, (low, high) in zip(FORCINGS, extremes, strict=True):
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"forcing {name!r} contains NaN or inf")
    if extremes[0][0] < 0 or extremes[2][0] < 0:
        raise ValueError("forcings 'precipitation' and 'pet' must be >= 0")
    return series


def split_parameters(
    parameters: Mapping[str, Tensor], needed: tuple[str, ...], steps: int, sites: int
) -> tuple[dict[str, Tensor], dict[str, Tensor], int]:
    """Static [site, nmul] and dynamic [time, site, nmul] parameters, and nmul.

    Static parameters are made contiguous once: a learner's parameters are columns of one
    [site, names, nmul] tensor (strided), and every daily operation on a strided operand
    leaves torch's vectorised loop (a float64 generation of 896 members on Fulda: 0.65 CPU
    s strided, 0.61 s contiguous; the same values)."""
    unknown = [name for name in parameters if name not in HBV_BOUNDS]
    if unknown:
        raise KeyError(f"unknown HBV parameter(s) {unknown}; known are {list(HBV_BOUNDS)}")
    missing = [name for name in needed if name not in parameters]
    if missing:
        raise KeyError(f"HBV parameter(s) {missing} are missing; this model needs {list(needed)}")
    values = {name: parameters[name] for name in needed}
    # every extreme in one transfer (one wait for the device rather than two per parameter)
    extremes = torch.stack(
        [torch.stack(torch.aminmax(v.detach())).double() for v in values.values()]
    ).tolist()
    for name, (low, high) in zip(values, extremes, strict=True):
        bound = HBV_BOUNDS[name]
        slack = 1e-6 * (bound.high - bound.low)
        if not (bound.low - slack <= low and high <= bound.high + slack):
            raise ValueError(
                f"parameter {name!r} spans [{low:g}, {high:g}], outside its bounds "
                f"[{bound.low:g}, {bound.high:g}] {bound.unit}"
            )
    nmul = max((v.shape[-1] for v in values.values() if v.dim() >= 2), default=1)
    static, dynamic = {}, {}
    for name, value in values.items():
        if value.dim() == 1:
            value = value.unsqueeze(-1)
        if value.dim() == 2 and value.shape[0] == sites and value.shape[1] in (1, nmul):
            static[name] = value.expand(sites, nmul).contiguous()
        elif value.dim() == 3 and value.shape[:2] == (steps, sites) and value.shape[2] in (1, nmul):
            dynamic[name] = value.expand(steps, sites, nmul)
        else:
            raise ValueError(
                f"parameter {name!r} must be [site], [site, nmul] or [time, site, nmul] with "
                f"site={sites}, nmul={nmul}, time={steps}; got {tuple(parameters[name].shape)}"
            )
    return static, dynamic, nmul


def initial_storages(
    given: Mapping[str, Tensor] | None, shape: tuple[int, int], like: Tensor
) -> tuple[Tensor, ...]:
    """Storages of ``STATES`` broadcast to ``shape`` = [site, nmul] (zero where not
    ``given``), with the dtype and device of ``like``; each must be >= 0."""
    given = dict(given or {})
    unknown = [name for name in given if name not in STATES]
    if unknown:
        raise KeyError(f"unknown state(s) {unknown}; HBV states are {list(STATES)}")
    out = []
    for name in STATES:
        value = given.get(name)
        if value is None:
            out.append(like.new_zeros(shape))
            continue
        value = torch.as_tensor(value, dtype=like.dtype, device=like.device)
        if bool((value < 0).any()):
            raise ValueError(f"initial state {name!r} must be >= 0")
        out.append(torch.broadcast_to(value, shape))
    return tuple(out)


def over_days(output: Tensor, shape: tuple[int, int, int]) -> Tensor:
    """A slot's output over the whole series broadcast to ``shape`` = [time, site, nmul],
    or to [1, site, nmul] when it is the same every day."""
    return torch.broadcast_to(output, torch.broadcast_shapes(output.shape, (1, *shape[1:])))


def split_days(per_step: dict[str, Tensor], days: slice) -> Iterator[Iterable[tuple[str, Tensor]]]:
    """Each of ``days``' changing values (each [time, site, nmul]) as (name, [site, nmul]
    value) pairs, split in the current gradient mode."""
    names = list(per_step)
    columns = [value[days].unbind(0) for value in per_step.values()]
    return (zip(names, day, strict=True) for day in zip(*columns, strict=True))
