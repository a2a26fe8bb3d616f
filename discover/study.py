"""A study: one run, stage by stage, writing everything into one run directory."""

from __future__ import annotations

import json
import logging
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

import discover
from discover.config import StudyConfig, load_config
from discover.fit.trainer import FitResult, Trainer
from discover.validate.metrics import compute_metrics
from discover.workflows.ode import ODEWorkflow

log = logging.getLogger("discover")

METRIC_MIN_POINTS = 3
"""Fewest valid observations a split needs to be scored (short ODE series have few)."""


class Study:
    """One run of a configured study.

    ``Study.from_config(path)`` validates the config and loads the data at once; then
    :meth:`fit` trains, :meth:`validate` scores every split, and :meth:`run` does all
    stages and writes the run directory (see DESIGN.md for its files).

    Args:
        config: the validated configuration.
        base: folder that relative paths in the config refer to.
        out: run directory (checkpoints and results); ``None`` keeps everything in memory.
    """

    def __init__(self, config: StudyConfig, base: Path, out: str | Path | None = None):
        self.config = config
        self.base = Path(base)
        self.out = Path(out) if out is not None else None
        self.timings: dict[str, float] = {}
        torch.manual_seed(config.seed)
        np.random.seed(config.seed)
        self.workflow = ODEWorkflow(config, self.base)
        self.fit_result: FitResult | None = None

    @classmethod
    def from_config(cls, path: str | Path, out: str | Path | None = None) -> Study:
        """Read, validate and set up the study configured in the YAML file ``path``."""
        config, base = load_config(path)
        return cls(config, base, out)

    @property
    def model(self):
        """The hybrid model (an :class:`~discover.models.ode.ODEModel`)."""
        return self.workflow.model

    # -- stages ------------------------------------------------------------------------
    def fit(self, resume: bool = False, progress: bool = True) -> FitResult:
        """Train the model's parameters (continuing from the last checkpoint if ``resume``)."""
        started = time.perf_counter()
        checkpoints = self.out / "checkpoints" if self.out else None
        trainer = Trainer(
            self.workflow,
            self.workflow.loss,
            self.config.train,
            seed=self.config.seed,
            checkpoint_dir=checkpoints,
            progress=progress,
        )
        self.fit_result = trainer.fit(resume=resume)
        self.timings["fit"] = time.perf_counter() - started
        log.info(
            "training stopped (%s) after %d steps; best validation loss %.4g",
            self.fit_result.stopped,
            len(self.fit_result.history),
            self.fit_result.best_val,
        )
        return self.fit_result

    def simulate(self) -> np.ndarray:
        """Simulated states [time, site, state] over the whole period."""
        with torch.no_grad():
            return self.workflow.simulate().cpu().numpy()

    def variant_name(self) -> str:
        """``neural`` if a slot is neural, else ``symbolic`` if one is, else ``physics``."""
        kinds = set(self.model.slot_kinds().values())
        for kind, name in (("neural", "neural"), ("symbolic", "symbolic")):
            if kind in kinds:
                return name
        return "physics"

    def validate(self) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
        """Metrics ``{variant: {split: {variable: {metric: value}}}}`` (median over sites)."""
        simulated = self.simulate()
        observed = self.workflow.data.states
        scores: dict[str, dict[str, dict[str, float]]] = {}
        for split, part in self.workflow.split_slices().items():
            scores[split] = {}
            for i, variable in enumerate(self.workflow.data.state_names):
                per_site = [
                    compute_metrics(
                        simulated[part, s, i],
                        observed[part, s, i],
                        streamflow=False,
                        min_points=METRIC_MIN_POINTS,
                        label=f"{variable} ({split}, site {site})",
                    )
                    for s, site in enumerate(self.workflow.data.sites)
                    if np.isfinite(observed[part, s, i]).sum() >= METRIC_MIN_POINTS
                ]
                if per_site:
                    scores[split][variable] = {
                        name: float(np.nanmedian([m[name] for m in per_site]))
                        for name in per_site[0]
                    }
        return {self.variant_name(): scores}

    # -- the whole run -----------------------------------------------------------------
    def run(self, resume: bool = False, progress: bool = True) -> dict[str, Any]:
        """Fit and validate, writing the run directory; return the metrics."""
        if self.out is None:
            raise ValueError("run() needs a run directory: Study(..., out=DIR)")
        self.out.mkdir(parents=True, exist_ok=True)
        _write_yaml(self.out / "config.yaml", self.config.resolved())
        self.fit(resume=resume, progress=progress)
        self._write_history()
        metrics = self.validate()
        _write_json(self.out / "metrics.json", metrics)
        _write_json(self.out / "provenance.json", self.provenance())
        return metrics

    def provenance(self) -> dict[str, Any]:
        """Versions, seed, config hash and timings of this run."""
        return {
            "discover": discover.__version__,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "platform": platform.platform(),
            "seed": self.config.seed,
            "config_digest": self.config.digest(),
            "device": self.config.device,
            "timings_s": self.timings,
            "training": {
                k: v
                for k, v in (self.fit_result.as_dict() if self.fit_result else {}).items()
                if k != "history"
            },
        }

    def _write_history(self) -> None:
        assert self.out is not None and self.fit_result is not None
        rows = self.fit_result.history
        columns = ["iteration", "train", "val", "lr"]
        lines = [",".join(columns)]
        lines += [",".join(_cell(row.get(c)) for c in columns) for row in rows]
        (self.out / "history.csv").write_text("\n".join(lines) + "\n")


def _cell(value: float | None) -> str:
    return "" if value is None else repr(value)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=True) + "\n")
    tmp.replace(path)


def _write_yaml(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False))
    tmp.replace(path)
