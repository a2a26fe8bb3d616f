"""Writing the files of a run directory (the contract is docs/run_directory.md)."""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr
import yaml

import discover
from discover.config import HypothesisConfig, StudyConfig
from discover.distill.importance import InputRanking
from discover.distill.pareto import ParetoFront
from discover.distill.postprocess import numpy_function
from discover.distill.probe import ProbeSamples
from discover.expressions import parse_expression
from discover.fit.launch import torchrun_launch
from discover.fit.trainer import FitResult
from discover.models.base import HybridModel
from discover.workflows.base import Workflow


class RunWriter:
    """Writes each file of the run directory ``out`` atomically (temporary file, rename).

    JSON files are strict: a NaN or infinite number is written as ``null``.
    """

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)

    def config(self, config: StudyConfig) -> None:
        """``config.yaml``: the resolved configuration."""
        self._text("config.yaml", yaml.safe_dump(config.resolved(), sort_keys=False))

    def history(self, result: FitResult) -> None:
        """``history.csv``: training, validation and held-out loss per iteration (empty
        where not evaluated), and the ``epoch`` reached when training drew mini-batches
        (``train.batch``)."""
        columns = ["iteration", "train", "validation", "test", "lr"]
        if any("epoch" in row for row in result.history):
            columns.append("epoch")
        lines = [",".join(columns)]
        for row in result.history:
            lines.append(",".join("" if row.get(c) is None else repr(row[c]) for c in columns))
        self._text("history.csv", "\n".join(lines) + "\n")

    def metrics(self, metrics: Mapping[str, Any]) -> None:
        """``metrics.json``: ``{variant: {split: {variable: {metric: value}}}}``."""
        self._json("metrics.json", metrics)

    def equations(
        self, fronts: Mapping[str, ParetoFront], failures: Mapping[str, str], model: HybridModel
    ) -> None:
        """``equations.json``: each distilled slot's front, or why it was not distilled.

        A reinserted slot also records its refitted expression under ``"refitted"``.
        """
        entries: dict[str, Any] = {}
        for slot, front in fronts.items():
            entries[slot] = front.to_dict()
            process = model.slots[slot]
            if process.kind == "symbolic":
                entries[slot]["refitted"] = str(process.expression(6))
        for slot, reason in failures.items():
            entries[slot] = {"inputs": list(model.slots[slot].inputs), "error": reason}
        self._json("equations.json", entries)

    def hypotheses(
        self, hypotheses: Mapping[str, HypothesisConfig], slots: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """``hypotheses.json``: each stated hypothesis and, once fitted, its expression
        with the fitted constants: ``{name: {"slot", "stated", "inputs", "fitted"}}``."""
        entries = {}
        for name, hypothesis in hypotheses.items():
            entry = {"slot": hypothesis.slot, "stated": hypothesis.expression}
            process = slots.get(name, {}).get(hypothesis.slot)
            if process is not None:
                entry["inputs"] = list(process.inputs)
                entry["fitted"] = str(process.expression(4))
            entries[name] = entry
        if entries:
            self._json("hypotheses.json", entries)

    def site_metrics(self, table: pd.DataFrame) -> None:
        """``metrics_sites.csv``: ``variant, split, variable, site, metric, value``."""
        self._text("metrics_sites.csv", table.to_csv(index=False))

    def comparisons(self, table: pd.DataFrame) -> None:
        """``comparisons.csv``: paired tests between variants (none if empty)."""
        if len(table):
            self._text("comparisons.csv", table.to_csv(index=False))

    def checks(self, checks: Mapping[str, Any]) -> None:
        """``checks.json``: physical checks of each reinserted equation (none if empty)."""
        if checks:
            self._json("checks.json", checks)

    def simulations(self, workflow: Workflow, simulations: Mapping[str, np.ndarray]) -> None:
        """``simulations.nc``: observed and simulated series of every variant."""
        n_time = workflow.observed.shape[0]
        split = np.full(n_time, "", dtype=object)
        for name, part in workflow.split_slices().items():
            split[part] = name
        split[split == ""] = "warmup"
        coords = {
            "time": workflow.times_index(),
            "site": list(workflow.sites),
            "variant": list(simulations),
            "split": ("time", split.astype(str)),
        }
        data = {}
        units = workflow.units()
        stacked = np.stack(list(simulations.values()))  # [variant, time, site, variable]
        for i, variable in enumerate(workflow.variables):
            attrs = {"units": units[variable]} if variable in units else {}
            data[f"{variable}_observed"] = (("time", "site"), workflow.observed[:, :, i], attrs)
            data[variable] = (("variant", "time", "site"), stacked[..., i], attrs)
        self._netcdf("simulations.nc", xr.Dataset(data, coords=coords))

    def parameters(
        self, workflow: Workflow, parameters: Mapping[str, Mapping[str, np.ndarray]]
    ) -> None:
        """``parameters.csv``: ``variant, site, parameter, set, value, unit``, each
        variant's static model parameters ``{variant: {name: [site, set]}}`` (none if
        no variant has any)."""
        units = workflow.units()
        rows = [
            (variant, site, name, index, float(value), units.get(name, ""))
            for variant, values in parameters.items()
            for name, table in values.items()
            for site, row in zip(workflow.sites, table, strict=True)
            for index, value in enumerate(row)
        ]
        if rows:
            columns = ["variant", "site", "parameter", "set", "value", "unit"]
            self._text("parameters.csv", pd.DataFrame(rows, columns=columns).to_csv(index=False))

    def importance(self, slot: str, ranking: InputRanking, kept: list[str]) -> None:
        """``importance/<slot>.json``: mean |SHAP| per input and the inputs kept."""
        means = ranking.mean_abs
        (self.out / "importance").mkdir(exist_ok=True)
        data = {"inputs": list(ranking.names), "mean_abs_shap": [means[n] for n in ranking.names]}
        self._json(f"importance/{slot}.json", {**data, "kept": list(kept)})

    def truth(self, truth: Mapping[str, str]) -> None:
        """``truth.json``: planted truth per slot, when the config gives one."""
        if truth:
            self._json("truth.json", dict(truth))

    def samples(
        self,
        slot: str,
        samples: ProbeSamples,
        truth: str | None,
        units: Mapping[str, str] | None = None,
        output_range: str | None = None,
    ) -> None:
        """``slots/<slot>.nc``: the probed samples of one slot (and the truth on them), with
        the ``units`` of its inputs and output (by name; the output under the slot's name)
        and the range the slot's output was held in (e.g. ``[0.001, 0.2]``)."""
        units = units or {}

        def attrs(name: str) -> dict[str, str]:
            return {"units": units[name]} if name in units else {}

        data = {
            name: ("sample", samples.X[:, i], attrs(name)) for i, name in enumerate(samples.names)
        }
        data["output"] = ("sample", samples.y, attrs(slot))
        if truth is not None:
            expression = parse_expression(truth, samples.names)
            values = numpy_function(expression, samples.names)(samples.X)
            data["truth"] = ("sample", values, attrs(slot))
        attrs = {"inputs": list(samples.names), "slot": slot}
        if output_range is not None:
            attrs["output_range"] = output_range
        self._netcdf(f"slots/{slot}.nc", xr.Dataset(data, attrs=attrs))

    def provenance(
        self,
        config: StudyConfig,
        timings: Mapping[str, float],
        result: FitResult | None,
        fronts: Mapping[str, ParetoFront],
        failures: Mapping[str, str],
        skipped_tests: Sequence[str] = (),
    ) -> None:
        """``provenance.json``: versions, seed, config hash, timings, engines, and why any
        paired test could not be made (``skipped_tests``)."""
        training = {k: v for k, v in (result.as_dict() if result else {}).items() if k != "history"}
        engines: dict[str, Any] = {
            slot: {"engine": front.engine, **front.metadata} for slot, front in fronts.items()
        }
        engines.update({slot: {"engine": None, "error": why} for slot, why in failures.items()})
        self._json(
            "provenance.json",
            {
                "discover": discover.__version__,
                "python": platform.python_version(),
                "torch": torch.__version__,
                "numpy": np.__version__,
                "platform": platform.platform(),
                "seed": config.seed,
                "config_digest": config.digest(),
                "device": config.device,
                "processes": _processes(),
                "timings_s": dict(timings),
                "training": training,
                "engines": engines,
                "skipped_tests": list(skipped_tests),
            },
        )

    def _netcdf(self, name: str, dataset: xr.Dataset) -> None:
        path = self.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".nc.tmp")
        dataset.to_netcdf(tmp)
        tmp.replace(path)

    def _json(self, name: str, data: Any) -> None:
        text = json.dumps(strict_json(data), indent=2, sort_keys=True, allow_nan=False)
        self._text(name, text + "\n")

    def _text(self, name: str, text: str) -> None:
        path = self.out / name
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)


def _processes() -> int:
    """How many processes the run was shared among (torchrun's ``WORLD_SIZE``; 1 alone)."""
    launch = torchrun_launch()
    return launch.size if launch is not None else 1


def strict_json(data: Any) -> Any:
    """``data`` with every NaN or infinite number as ``None`` (JSON ``null``), NumPy scalars
    as Python numbers and any other value JSON lacks as its string."""
    if isinstance(data, Mapping):
        return {str(key): strict_json(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [strict_json(value) for value in data]
    if isinstance(data, bool | np.bool_):
        return bool(data)
    if isinstance(data, int | np.integer):
        return int(data)
    if isinstance(data, float | np.floating):
        return float(data) if np.isfinite(data) else None
    if data is None or isinstance(data, str):
        return data
    return str(data)
