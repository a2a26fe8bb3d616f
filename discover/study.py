"""A study: one run over the stages of :mod:`discover.stages` (docs/architecture.md),
writing everything into one run directory."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from discover.config import StudyConfig, load_config
from discover.distill import ParetoFront
from discover.distill.importance import InputRanking
from discover.distill.pareto import Candidate
from discover.distill.probe import ProbeSamples
from discover.fit.trainer import FitResult
from discover.hypotheses import hypothesis_process
from discover.models.base import HybridModel
from discover.processes import Process
from discover.run_directory import shared_run
from discover.rundir import RunWriter
from discover.stages import reinsert as reinsertion
from discover.stages import score
from discover.stages.distill import distill_and_select
from discover.stages.models import ModelFactory, start_parameters_at
from discover.stages.pipeline import run_stages
from discover.stages.site_folds import validate_sites
from discover.stages.timings import Timings
from discover.stages.train import train
from discover.stages.variants import Variants, alternative_name, variant_kind
from discover.workflows.base import Workflow

log = logging.getLogger("discover")


class Study:
    """One run of a configured study.

    ``Study.from_config(path)`` validates the config and loads the data once. :meth:`fit`
    trains the hybrid model, :meth:`distill` turns a neural slot into equations and selects
    one, :meth:`reinsert` puts it back, :meth:`validate` scores every recorded variant,
    :meth:`compare` tests them in pairs; :meth:`run` does them all into the run directory.

    Args:
        config: the validated configuration.
        base: folder that relative paths in the config refer to.
        out: run directory (checkpoints and results); ``None`` keeps everything in memory.
    """

    def __init__(self, config: StudyConfig, base: Path, out: str | Path | None = None):
        self.config = config
        self.out = Path(out) if out is not None else None
        self.timings = Timings()
        np.random.seed(config.seed)
        self.models = ModelFactory(config, Path(base))
        self.workflow = self.models.build()
        self.variants = Variants()
        self.fit_result: FitResult | None = None
        self.samples: dict[str, ProbeSamples] = {}
        self.rankings: dict[str, tuple[InputRanking, list[str]]] = {}
        self.fronts: dict[str, ParetoFront] = {}
        self.failures: dict[str, str] = {}
        self.skipped_tests: list[str] = []
        self.site_fold_simulations: dict[str, np.ndarray] = {}
        self.trained: dict[str, dict[int, Workflow]] = {}
        """Models trained while selecting: ``{slot: {front index: model}}``."""
        self.baseline: Workflow | None = None
        """The calibrated ``physics`` variant the hypotheses start from (``fit_baseline``)."""
        for name, hypothesis in config.hypotheses.items():
            hypothesis_process(name, hypothesis, self.model)  # a bad one fails now

    @classmethod
    def from_config(cls, path: str | Path, out: str | Path | None = None) -> Study:
        """Read, validate and set up the study configured in the YAML file ``path``."""
        config, base = load_config(path)
        return cls(config, base, out)

    @property
    def model(self) -> HybridModel:
        """The hybrid model (an ODE model or HBV)."""
        return self.workflow.model

    @property
    def simulations(self) -> dict[str, np.ndarray]:
        """``{variant: [time, site, variable]}`` of every recorded variant."""
        return self.variants.simulations

    def fit(self, resume: bool = False, progress: bool = True) -> FitResult:
        """Train the model's parameters (continuing from the last checkpoint if ``resume``)."""
        with self.timings("fit"):
            self.fit_result = self._train(self.workflow, "checkpoints", resume, progress)
        log.info("training stopped (%s)", self.fit_result.stopped)
        self.record_variant(variant_kind(self.model))
        return self.fit_result

    def fit_hypothesis(self, name: str, resume: bool = False, progress: bool = True) -> FitResult:
        """Train the model with the slot of hypothesis ``name`` (config ``hypotheses:``) set
        to its expression, free constants fitted, and record it as variant ``name``."""
        if name not in self.config.hypotheses:
            raise ValueError(f"no hypothesis {name!r}; the config has {[*self.config.hypotheses]}")
        return self.fit_variant(name, resume=resume, progress=progress)

    def fit_variant(self, name: str, resume: bool = False, progress: bool = True) -> FitResult:
        """Train variant ``name`` from scratch (see :meth:`train_variant`) and record it."""
        with self.timings(f"fit {name}"):
            workflow, result = self.train_variant(name, resume=resume, progress=progress)
        self.record_variant(name, workflow)
        log.info("%s: training stopped (%s)", name, result.stopped)
        return result

    def train_variant(
        self,
        name: str,
        hidden_sites: list[int] | None = None,
        folder: str | None = None,
        resume: bool = False,
        progress: bool = True,
        description: str | None = None,
    ) -> tuple[Workflow, FitResult]:
        """A fresh model of variant ``name`` (:meth:`ModelFactory.variant`, a hypothesis at
        the :attr:`baseline`'s parameters) trained with the ``train`` settings, ``hidden_sites``
        (indices) left out of the loss, checkpoints in ``checkpoints/<folder or name>``,
        progress bar ``training <description or name>``."""
        workflow = self.models.variant(name, self.fronts)
        if self.baseline is not None and name in self.config.hypotheses and not hidden_sites:
            start_parameters_at(workflow, self.baseline)  # not in a fold: it saw every site
        if hidden_sites:
            workflow.hide_sites(hidden_sites)
        folder, what = f"checkpoints/{folder or name}", description or name
        return workflow, self._train(workflow, folder, resume, progress, what)

    def validate_sites(self, resume: bool = False, progress: bool = True) -> dict[str, np.ndarray]:
        """k-fold over sites (``validate.site_folds``, :mod:`discover.stages.site_folds`):
        ``{variant: [time, site, variable]}``, each site by a model that never saw it."""
        self.site_fold_simulations = validate_sites(self, resume, progress)
        return self.site_fold_simulations

    def distill(self, slot: str, progress: bool = False) -> ParetoFront:
        """Probe ``slot`` over the data, fit equations to what it learned, and select one
        by the rule ``distill.selection`` (:func:`~discover.stages.distill.distill_and_select`),
        recorded in the study (:meth:`DistilledSlot.record`)."""
        if self.config.distill is None:
            raise ValueError("this config has no distill section")
        where = (self.workflow, slot, self.config.distill, self.config.seed)
        trainer = partial(self._train_candidate, slot, progress=progress)
        front = distill_and_select(*where, trainer, progress).record(self, slot)
        log.info("%s: selected %s (engine %s)", slot, front.selected.expression, front.engine)
        return front

    def _train_candidate(
        self, slot: str, candidate: Candidate, inputs: tuple[str, ...], progress: bool
    ) -> tuple[Workflow, str]:
        """A fresh model with ``candidate`` in ``slot`` (and the selected equations of the
        slots distilled before), trained with the ``train`` settings; and why it stopped."""
        equations = {s: (f.selected, f.inputs) for s, f in self.fronts.items()}
        workflow = self.models.with_equations({**equations, slot: (candidate, inputs)})
        name = alternative_name(slot, candidate)
        return workflow, self._train(workflow, f"checkpoints/{name}", False, progress, name).stopped

    def reinsert(
        self, slot: str, candidate: Candidate | None = None, refit: bool | None = None
    ) -> Process:
        """Replace ``slot`` by ``candidate`` (default: the selected equation) as ``Symbolic``;
        its constants (or the whole model, with ``reinsert.refit: all``) are then refitted
        on the training split unless ``refit`` is False or ``reinsert.refit: none``. When
        the selected equation was chosen by retraining, the model trained with it there
        becomes the study's model instead (nothing is refitted)."""
        if candidate is None:
            if slot not in self.fronts:
                raise ValueError(f"slot {slot!r} has not been distilled; call distill first")
            adopted = self.trained.pop(slot, {}).get(self.fronts[slot].selected_index)
            if adopted is not None:
                self.workflow = adopted
                log.info("%s: the model trained with its selected equation is adopted", slot)
                return self.model.slots[slot]
            candidate = self.fronts[slot].selected
        process = reinsertion.reinsert(self.workflow, slot, candidate)
        mode = self.config.reinsert.refit if refit is not False else "none"
        if mode != "none":
            with self.timings(f"refit {slot}"):
                self.refit(None if mode == "all" else process)
        log.info("%s reinserted as %s", slot, process.expression(4))
        return process

    def refit(self, only: Process | str | None) -> FitResult:
        """Refit the study's model on the training split (:mod:`discover.stages.reinsert`)."""
        settings = (self.config.reinsert, self.config.train)
        where = {"checkpoint_dir": self._folder("checkpoints/refit"), "seed": self.config.seed}
        return reinsertion.refit(self.workflow, only, *settings, **where)

    def record_variant(self, name: str, workflow: Workflow | None = None) -> None:
        """Keep ``workflow``'s (default: the study's model) simulation and slots as ``name``."""
        self.variants.record(name, self.workflow if workflow is None else workflow)

    def validate(self) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
        """Metrics ``{variant: {split: {variable: {metric: median over sites}}}}`` of every
        recorded variant (the current model if none was recorded)."""
        return score.median_metrics(self.site_metrics())

    def site_metrics(self) -> pd.DataFrame:
        """Tidy per-site metrics: ``variant, split, variable, site, metric, value``."""
        if not len(self.variants):
            self.record_variant(variant_kind(self.model))
        return score.site_metrics(self.workflow, self.simulations, self.site_fold_simulations)

    def compare(self, split: str = "test", table: pd.DataFrame | None = None) -> pd.DataFrame:
        """Paired tests between every pair of variants on ``split`` (one row per variable,
        metric and pair, with a ``sentence``); ``table`` is :meth:`site_metrics` if known."""
        table = self.site_metrics() if table is None else table
        seed = self.config.seed
        result, skipped = score.compare(self.workflow, self.simulations, table, split, seed)
        self.skipped_tests += skipped
        return result

    def run(self, resume: bool = False, progress: bool = True) -> dict[str, Any]:
        """Every stage (:func:`discover.stages.pipeline.run_stages`) into the staging folder
        of ``out``, whose results replace the previous ones only when every stage succeeded
        (:func:`shared_run`, by rank 0 alone under torchrun; it raises ``RunDirectoryRefused``
        for a folder that cannot hold the run, a lock held by another, or nothing to resume)."""
        if self.out is None:
            raise ValueError("run() needs a run directory: Study(..., out=DIR)")
        out = self.out
        try:
            with shared_run(out, resume) as staging:
                self.out = staging  # checkpoints, results and report go there
                metrics = run_stages(self, RunWriter(staging), resume, progress)
        finally:
            self.out = out
        return metrics

    def _train(
        self, workflow: Workflow, folder: str, resume: bool, progress: bool, what: str = ""
    ) -> FitResult:
        where = {"checkpoint_dir": self._folder(folder), "resume": resume, "progress": progress}
        where["description"] = f"training {what or variant_kind(workflow.model)}"
        return train(workflow, self.config.train, seed=self.config.seed, **where)

    def _folder(self, name: str) -> Path | None:
        """``name`` inside the run directory (``None`` without one)."""
        return self.out / name if self.out else None
