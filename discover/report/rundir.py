"""Typed reading of a finished run directory (the contract is docs/run_directory.md).

``config.yaml`` and ``metrics.json`` are required: without them the run cannot be
reported and :class:`RunDirectoryError` names the file. Every other file is optional; a
missing or unreadable one is recorded in :attr:`RunDirectory.missing` (file → reason) so
that the report can say what it lacks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import xarray as xr
import yaml

from discover.errors import UserError

T = TypeVar("T")

Metrics = dict[str, dict[str, dict[str, dict[str, float]]]]
"""``{variant: {split: {variable: {metric: value}}}}``; ``nan`` where undefined."""


class RunDirectoryError(UserError):
    """A run directory cannot be reported; the message names the file and the problem."""


@dataclass(frozen=True)
class CandidateEntry:
    """One equation of a Pareto front as stored in ``equations.json``.

    Attributes:
        expression: the expression string over the slot's inputs.
        complexity: node count of the expression.
        loss: mean squared error against the network output (squared output units).
    """

    expression: str
    complexity: int
    loss: float


@dataclass(frozen=True)
class SlotEquations:
    """The ``equations.json`` entry of one slot: its front, or why it was not distilled."""

    slot: str
    inputs: tuple[str, ...]
    engine: str | None = None
    selected: CandidateEntry | None = None
    pareto: tuple[CandidateEntry, ...] = ()
    refitted: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class SlotImportance:
    """``importance/<slot>.json``: mean |SHAP| per input (output units) and kept inputs."""

    inputs: tuple[str, ...]
    mean_abs_shap: tuple[float, ...]
    kept: tuple[str, ...]


@dataclass(frozen=True)
class SlotSamples:
    """``slots/<slot>.nc``: the probed samples of one learned slot.

    Attributes:
        inputs: the slot's input names, in the column order of ``X``.
        X: input values ``[sample, input]``.
        output: the network's value ``[sample]``.
        truth: the planted truth on the samples ``[sample]``, or ``None``.
        input_units: units of each input that the file states.
        output_units: units of the output, when the file states them.
        output_range: the range the slot's output was held in (``[low, high]``, an open
            end as ``inf``), when the file states it.
    """

    inputs: tuple[str, ...]
    X: np.ndarray
    output: np.ndarray
    truth: np.ndarray | None
    input_units: dict[str, str]
    output_units: str | None
    output_range: str | None = None


@dataclass
class RunDirectory:
    """Everything the report reads from one run directory (``None``/empty when absent)."""

    path: Path
    config: dict[str, Any]
    metrics: Metrics
    provenance: dict[str, Any] | None = None
    history: pd.DataFrame | None = None
    metrics_sites: pd.DataFrame | None = None
    simulations: xr.Dataset | None = None
    equations: dict[str, SlotEquations] = field(default_factory=dict)
    samples: dict[str, SlotSamples] = field(default_factory=dict)
    importance: dict[str, SlotImportance] = field(default_factory=dict)
    comparisons: pd.DataFrame | None = None
    checks: dict[str, dict[str, list[dict[str, Any]]]] | None = None
    truth: dict[str, str] = field(default_factory=dict)
    hypotheses: dict[str, Any] = field(default_factory=dict)
    parameters: pd.DataFrame | None = None
    missing: dict[str, str] = field(default_factory=dict)

    @property
    def slots(self) -> list[str]:
        """Every learned slot named by any file, in order of first mention."""
        return list(dict.fromkeys([*self.equations, *self.samples, *self.importance]))


def load_run(path: str | Path) -> RunDirectory:
    """Read the run directory ``path``.

    Raises:
        RunDirectoryError: ``path`` is not a directory, or ``config.yaml`` or
            ``metrics.json`` is missing or malformed.
    """
    path = Path(path)
    if not path.is_dir():
        raise RunDirectoryError(f"run directory {str(path)!r} does not exist")
    run = RunDirectory(
        path=path,
        config=_required(path / "config.yaml", _read_config),
        metrics=_required(path / "metrics.json", _read_metrics),
    )
    run.provenance = _optional(run, "provenance.json", _read_json_object)
    run.history = _optional(run, "history.csv", _read_history)
    run.metrics_sites = _optional(run, "metrics_sites.csv", _read_metrics_sites)
    run.simulations = _optional(run, "simulations.nc", _read_simulations)
    run.equations = _optional(run, "equations.json", _read_equations) or {}
    run.comparisons = _optional(run, "comparisons.csv", _read_comparisons)
    run.checks = _optional(run, "checks.json", _read_checks)
    run.truth = _optional(run, "truth.json", _read_truth) or {}
    if run.config.get("hypotheses"):
        run.hypotheses = _optional(run, "hypotheses.json", _read_json_object) or {}
    if (path / "parameters.csv").exists():  # only models with static parameters write it
        run.parameters = _optional(run, "parameters.csv", _read_parameters)
    for file in sorted((path / "slots").glob("*.nc")):
        samples = _optional(run, f"slots/{file.name}", _read_samples)
        if samples is not None:
            run.samples[file.stem] = samples
    for file in sorted((path / "importance").glob("*.json")):
        importance = _optional(run, f"importance/{file.name}", _read_importance)
        if importance is not None:
            run.importance[file.stem] = importance
    return run


def _required(file: Path, reader: Callable[[Path], T]) -> T:
    if not file.is_file():
        raise RunDirectoryError(f"cannot report {file.parent}: {file.name} is missing")
    try:
        return reader(file)
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as err:
        raise RunDirectoryError(
            f"cannot report {file.parent}: {file.name} is malformed: {err}"
        ) from err


def _optional(run: RunDirectory, name: str, reader: Callable[[Path], T]) -> T | None:
    file = run.path / name
    if not file.is_file():
        run.missing[name] = "not written"
        return None
    try:
        return reader(file)
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as err:
        run.missing[name] = f"unreadable: {err}"
        return None


def _read_config(file: Path) -> dict[str, Any]:
    config = yaml.safe_load(file.read_text())
    if not isinstance(config, dict):
        raise ValueError(f"expected a mapping at the top, got {type(config).__name__}")
    return config


def _read_json_object(file: Path) -> dict[str, Any]:
    data = json.loads(file.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object at the top, got {type(data).__name__}")
    return data


def _number(value: Any, where: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{where} is {value!r}, not a number")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{where} is {value!r}, not a number") from None


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} should be an object, got {type(value).__name__}")
    return value


OLD_SPLIT_NAMES = {"val": "test"}
"""Split names of run directories written before the held-out split was named ``test``;
they are read under their current names."""


def _split_name(name: str) -> str:
    return OLD_SPLIT_NAMES.get(name, name)


def _read_metrics(file: Path) -> Metrics:
    data = _read_json_object(file)
    metrics: Metrics = {}
    for variant, splits in data.items():
        metrics[variant] = {}
        for split, variables in _mapping(splits, f"[{variant!r}]").items():
            where = f"[{variant!r}][{split!r}]"
            metrics[variant][_split_name(split)] = {
                variable: {
                    name: _number(value, f"{where}[{variable!r}][{name!r}]")
                    for name, value in _mapping(scores, f"{where}[{variable!r}]").items()
                }
                for variable, scores in _mapping(variables, where).items()
            }
    return metrics


def _read_csv(file: Path, required: set[str]) -> pd.DataFrame:
    table = pd.read_csv(file)
    lacking = required - set(table.columns)
    if lacking:
        raise ValueError(f"lacks column(s) {sorted(lacking)}; has {list(table.columns)}")
    return table


def _read_history(file: Path) -> pd.DataFrame:
    table = _read_csv(file, {"iteration", "train"}).rename(columns=OLD_SPLIT_NAMES)
    for column in ("iteration", "train", "validation", "test"):
        if column in table:
            table[column] = pd.to_numeric(table[column], errors="coerce")
    return table


def _read_metrics_sites(file: Path) -> pd.DataFrame:
    table = _read_csv(file, {"variant", "split", "variable", "site", "metric", "value"})
    table["split"] = table["split"].astype(str).map(_split_name)
    table["site"] = table["site"].astype(str)
    table["value"] = pd.to_numeric(table["value"], errors="coerce")
    return table


def _read_parameters(file: Path) -> pd.DataFrame:
    columns = {"variant", "site", "parameter", "set", "value", "unit"}
    table = _read_csv(file, columns)
    table["site"] = table["site"].astype(str)
    table["unit"] = table["unit"].fillna("").astype(str)
    table["value"] = pd.to_numeric(table["value"], errors="coerce")
    return table


def _read_comparisons(file: Path) -> pd.DataFrame:
    table = _read_csv(file, {"metric", "a", "b"})
    if "split" in table:
        table["split"] = table["split"].astype(str).map(_split_name)
    return table


def _read_simulations(file: Path) -> xr.Dataset:
    dataset = xr.load_dataset(file)
    if "split" in dataset.coords:
        names = [_split_name(str(name)) for name in dataset["split"].values]
        dataset = dataset.assign_coords(split=("time", names))
    observed = [name for name in dataset.data_vars if str(name).endswith("_observed")]
    if not observed:
        raise ValueError("holds no <variable>_observed variable")
    for name in observed:
        if set(dataset[name].dims) != {"time", "site"}:
            raise ValueError(f"{name} has dims {dataset[name].dims}, expected (time, site)")
    return dataset


def _read_equations(file: Path) -> dict[str, SlotEquations]:
    data = _read_json_object(file)
    slots = {}
    for slot, entry in data.items():
        entry = _mapping(entry, f"[{slot!r}]")
        if "inputs" not in entry:
            raise KeyError(f"[{slot!r}] lacks 'inputs'")
        inputs = tuple(str(name) for name in entry["inputs"])
        if "error" in entry:
            slots[slot] = SlotEquations(slot, inputs, error=str(entry["error"]))
            continue
        for key in ("selected", "pareto", "engine"):
            if key not in entry:
                raise KeyError(f"[{slot!r}] has neither 'error' nor {key!r}")
        slots[slot] = SlotEquations(
            slot,
            inputs,
            engine=str(entry["engine"]),
            selected=_candidate(entry["selected"], f"[{slot!r}]['selected']"),
            pareto=tuple(
                _candidate(c, f"[{slot!r}]['pareto'][{i}]") for i, c in enumerate(entry["pareto"])
            ),
            refitted=str(entry["refitted"]) if entry.get("refitted") is not None else None,
        )
    return slots


def _candidate(entry: Any, where: str) -> CandidateEntry:
    entry = _mapping(entry, where)
    for key in ("expression", "complexity", "loss"):
        if key not in entry:
            raise KeyError(f"{where} lacks {key!r}")
    return CandidateEntry(
        str(entry["expression"]),
        int(_number(entry["complexity"], f"{where}['complexity']")),
        _number(entry["loss"], f"{where}['loss']"),
    )


def _read_importance(file: Path) -> SlotImportance:
    data = _read_json_object(file)
    for key in ("inputs", "mean_abs_shap"):
        if key not in data:
            raise KeyError(f"lacks {key!r}")
    inputs = tuple(str(name) for name in data["inputs"])
    values = tuple(_number(v, "mean_abs_shap") for v in data["mean_abs_shap"])
    if len(values) != len(inputs):
        raise ValueError(f"{len(inputs)} inputs but {len(values)} mean_abs_shap values")
    return SlotImportance(inputs, values, tuple(str(n) for n in data.get("kept", inputs)))


def _read_checks(file: Path) -> dict[str, dict[str, list[dict[str, Any]]]]:
    data = _read_json_object(file)
    checks: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for variant, slots in data.items():
        checks[variant] = {}
        for slot, results in _mapping(slots, f"[{variant!r}]").items():
            if not isinstance(results, list):
                raise ValueError(f"[{variant!r}][{slot!r}] should be a list of checks")
            checks[variant][slot] = [dict(_mapping(r, f"[{variant!r}][{slot!r}]")) for r in results]
    return checks


def _read_truth(file: Path) -> dict[str, str]:
    return {str(slot): str(text) for slot, text in _read_json_object(file).items()}


def _names(value: Any) -> tuple[str, ...]:
    """A list attribute as netCDF returns it (a lone string for a one-element list)."""
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in np.atleast_1d(value))


def _units(attrs: Mapping[str, Any]) -> str | None:
    units = attrs.get("units")
    return str(units) if isinstance(units, str) and units else None


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


def _read_samples(file: Path) -> SlotSamples:
    dataset = xr.load_dataset(file)
    if "output" not in dataset:
        raise KeyError("lacks the variable 'output'")
    inputs = _names(dataset.attrs["inputs"]) if "inputs" in dataset.attrs else ()
    if not inputs:
        inputs = tuple(str(n) for n in dataset.data_vars if n not in ("output", "truth"))
    lacking = [name for name in inputs if name not in dataset]
    if lacking:
        raise KeyError(f"lacks the input variable(s) {lacking}")
    return SlotSamples(
        inputs=inputs,
        X=np.stack([dataset[name].values.astype(float) for name in inputs], axis=1),
        output=dataset["output"].values.astype(float),
        truth=dataset["truth"].values.astype(float) if "truth" in dataset else None,
        input_units={n: u for n in inputs if (u := _units(dataset[n].attrs))},
        output_units=_units(dataset["output"].attrs) or _units(dataset.attrs),
        output_range=_text(dataset.attrs.get("output_range")),
    )
