"""A study: one run, stage by stage, writing everything into one run directory."""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from discover.config import ConfigError, StudyConfig, TrainConfig, load_config
from discover.distill import ParetoFront, symbolic_fit
from discover.distill.importance import InputRanking, rank_inputs
from discover.distill.pareto import Candidate
from discover.distill.probe import ProbeSamples, probe
from discover.distill.selection import (
    RETRAIN_RULE,
    SHORTLIST_RULE,
    parsimonious_choice,
    shortlist,
    validation_errors,
)
from discover.fit.trainer import FitResult, Trainer, lbfgs_step
from discover.hypotheses import hypothesis_process
from discover.models.base import HybridModel
from discover.processes import Process, Symbolic
from discover.report import build_report
from discover.run_directory import staged_run
from discover.rundir import RunWriter
from discover.validate.checks import check_function
from discover.validate.compare import compare_series, compare_variants
from discover.validate.metrics import compute_metrics
from discover.validate.parsimony import estimated_constants
from discover.workflows.base import Workflow
from discover.workflows.hbv import HBVWorkflow
from discover.workflows.ode import ODEWorkflow

log = logging.getLogger("discover")

METRIC_MIN_POINTS = 3
"""Fewest valid observations a split needs to be scored (short ODE series have few)."""


class Study:
    """One run of a configured study.

    ``Study.from_config(path)`` validates the config and loads the data at once. The
    stages, each usable alone: :meth:`fit` trains the hybrid model, :meth:`distill`
    turns a neural slot into a Pareto front of equations, :meth:`reinsert` puts one back
    and refits its constants, :meth:`validate` scores every recorded variant on every
    split. :meth:`run` does them all and writes the run directory (docs/run_directory.md).

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
        self.workflow = build_workflow(config, self.base)
        self.fit_result: FitResult | None = None
        self.samples: dict[str, ProbeSamples] = {}
        self.fronts: dict[str, ParetoFront] = {}
        self.rankings: dict[str, tuple[InputRanking, list[str]]] = {}
        self.failures: dict[str, str] = {}
        self.skipped_tests: list[str] = []
        self.simulations: dict[str, np.ndarray] = {}
        self.variant_slots: dict[str, dict[str, Process]] = {}
        self.site_fold_simulations: dict[str, np.ndarray] = {}
        self.trained: dict[str, dict[int, Workflow]] = {}
        """Models trained by :meth:`select_by_retraining`: ``{slot: {front index: workflow}}``."""
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

    # -- stages ------------------------------------------------------------------------
    def fit(self, resume: bool = False, progress: bool = True) -> FitResult:
        """Train the model's parameters (continuing from the last checkpoint if ``resume``)."""
        with self._timed("fit"):
            self.fit_result = self._train(self.config.train, "checkpoints", resume, progress)
        log.info(
            "training stopped (%s) after %d steps",
            self.fit_result.stopped,
            len(self.fit_result.history),
        )
        self.record_variant(self.variant_name())
        return self.fit_result

    def fit_baseline(self, resume: bool = False, progress: bool = True) -> FitResult:
        """Train the same model with every slot textbook and record it as ``physics``."""
        return self.fit_variant("physics", resume=resume, progress=progress)

    def fit_hypothesis(self, name: str, resume: bool = False, progress: bool = True) -> FitResult:
        """Train the model with the slot of hypothesis ``name`` (config ``hypotheses:``) set
        to its expression, free constants fitted, and record it as variant ``name``."""
        if name not in self.config.hypotheses:
            stated = list(self.config.hypotheses)
            raise ValueError(f"no hypothesis {name!r}; the config states {stated}")
        return self.fit_variant(name, resume=resume, progress=progress)

    def fit_variant(self, name: str, resume: bool = False, progress: bool = True) -> FitResult:
        """Train variant ``name`` from scratch (see :meth:`train_variant`) and record it."""
        with self._timed(f"fit {name}"):
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
    ) -> tuple[Workflow, FitResult]:
        """A fresh model of variant ``name``, trained with the ``train`` settings.

        Variants: ``physics`` (every slot textbook), ``neural`` (the configured model),
        ``symbolic`` (the selected equations in place of the distilled slots, starting
        from their distilled constants) and each stated hypothesis. Parameter learners
        and networks start anew; ``hidden_sites`` (indices) are left out of the loss.
        Checkpoints go to ``checkpoints/<folder or name>`` of the run directory.
        """
        alternatives = {
            alternative_name(slot, c): (slot, c)
            for slot in self.fronts
            for c in self.fronts[slot].candidates
        }
        if name not in ("physics", "neural", "symbolic", *self.config.hypotheses, *alternatives):
            raise ValueError(f"unknown variant {name!r}")
        workflow = self._fresh_workflow(physics=name == "physics")
        replaced: dict[str, Process] = {}
        if name == "symbolic":
            replaced = {s: self._symbolic(s, f.selected, f.inputs) for s, f in self.fronts.items()}
        elif name in alternatives:
            slot, candidate = alternatives[name]
            replaced = {slot: self._symbolic(slot, candidate, self.fronts[slot].inputs)}
        elif name in self.config.hypotheses:
            hypothesis = self.config.hypotheses[name]
            replaced = {hypothesis.slot: hypothesis_process(name, hypothesis, workflow.model)}
        _set_slots(workflow, replaced)
        if hidden_sites:
            workflow.hide_sites(hidden_sites)
        folder = f"checkpoints/{folder or name}"
        return workflow, self._train(self.config.train, folder, resume, progress, workflow)

    def _fresh_workflow(self, physics: bool = False) -> Workflow:
        """A new model of the config (every slot textbook if ``physics``), seeded as every
        variant is, so that variants differ only in their slots."""
        spec = self.config.model
        if physics:
            spec = spec.model_copy(update={"neural": {}})
        torch.manual_seed(self.config.seed)
        return build_workflow(self.config.model_copy(update={"model": spec}), self.base)

    def _symbolic(self, slot: str, candidate: Candidate, inputs: tuple[str, ...]) -> Symbolic:
        """``candidate`` over ``inputs`` as a fresh ``Symbolic`` process for ``slot``."""
        output_range = self.model.slots[slot].output_range
        return Symbolic(candidate.expression, inputs, output_range=output_range)

    def validate_sites(self, resume: bool = False, progress: bool = True) -> dict[str, np.ndarray]:
        """k-fold over sites (``validate.site_folds``): every recorded variant is retrained
        k times with one fold of sites hidden from the loss, and each site is simulated by
        the model that never saw it. Returns ``{variant: [time, site, variable]}``, also
        kept for :meth:`site_metrics` (split ``sites``: held-out sites, every scored day).
        """
        k = self.config.validate_.site_folds
        n_sites = len(self.workflow.sites)
        if k is None:
            raise ValueError("the config has no validate.site_folds")
        if k > n_sites:
            raise ConfigError(f"validate.site_folds: {k} folds for {n_sites} sites")
        order = np.random.default_rng(self.config.seed).permutation(n_sites)
        folds = [sorted(int(i) for i in fold) for fold in np.array_split(order, k)]
        for variant in list(self.simulations):
            simulated = np.full_like(self.simulations[variant], np.nan)
            for f, held in enumerate(folds):
                log.info("k-fold over sites: %s, fold %d of %d", variant, f + 1, k)
                with self._timed(f"site folds {variant}"):
                    workflow, _ = self.train_variant(
                        variant, held, f"sites/{variant}/fold{f}", resume, progress
                    )
                    with torch.no_grad():
                        simulated[:, held] = workflow.simulate().cpu().numpy()[:, held]
            self.site_fold_simulations[variant] = simulated
        return self.site_fold_simulations

    def distill(self, slot: str, progress: bool = False) -> ParetoFront:
        """Probe ``slot`` over the data, fit equations to what it learned, and select one by
        ``distill.selection`` (:meth:`select_by_data`, :meth:`select_by_retraining` or the
        engine's rule); ``progress``: a bar over the candidates while they are scored."""
        settings = self.config.distill
        if settings is None:
            raise ValueError("this config has no distill section")
        with self._timed(f"distill {slot}"):
            samples = probe(
                self.model,
                self.workflow.simulate,
                slots=[slot],
                size=settings.samples,
                seed=self.config.seed,
            )[slot]
            ranking = rank_inputs(self.model.slots[slot], samples.X, seed=self.config.seed)
            threshold = settings.importance_threshold
            kept = ranking.keep(threshold) if threshold is not None else list(samples.names)
            columns = [samples.names.index(name) for name in kept]
            front = symbolic_fit(
                samples.X[:, columns],
                samples.y,
                kept,
                engine=settings.engine,
                time_budget_s=settings.time_budget_s,
                seed=self.config.seed,
                operators=settings.operators,
                max_complexity=settings.max_complexity,
                output_range=self.model.slots[slot].output_range,
                **settings.options,
            )
        self.samples[slot] = samples
        self.rankings[slot] = (ranking, kept)
        if settings.selection != "front":
            with self._timed(f"select {slot}"):
                if settings.selection == "bic":
                    front = self.select_by_data(slot, front, progress)
                else:
                    front = self.select_by_retraining(slot, front, progress)
        self.fronts[slot] = front
        log.info("%s: selected %s (engine %s)", slot, front.selected.expression, front.engine)
        return front

    def select_by_data(self, slot: str, front: ParetoFront, progress: bool = False) -> ParetoFront:
        """Re-select on ``front`` by how well each candidate, put into the model in place
        of ``slot``, fits the training data: the lowest Bayesian information criterion
        ``n ln(mse) + k ln(n)`` (``n`` observations, ``k`` constants estimated from data, see
        :func:`~discover.validate.parsimony.estimated_constants`) wins.

        Each candidate is first refitted on the data with a few L-BFGS steps: its
        constants, or with ``distill.selection_refit: all`` the whole model (put back
        afterwards). A network is a near-exact target, so rules on the probed samples alone
        favour the most complex candidates; the data decide what their detail is worth.
        """
        settings = self.config.distill
        original = self.model.slots[slot]
        own = {id(p) for p in original.parameters()}
        others = (
            [p for p in self.workflow.parameters() if p.requires_grad and id(p) not in own]
            if settings.selection_refit == "all"
            else []
        )
        saved = [p.detach().clone() for p in others]
        n = int(np.isfinite(self.workflow.observed[self.workflow.split_slices()["train"]]).sum())
        scores = []
        try:
            bar = tqdm(front, desc=f"scoring {slot} candidates", disable=not progress)
            for candidate in bar:
                process = Symbolic(
                    candidate.expression, original.inputs, output_range=original.output_range
                ).to(dtype=self.workflow.dtype, device=self.workflow.device)
                self.model.set_slot(slot, process)
                trainable = [p for p in process.parameters() if p.requires_grad] + others
                try:
                    mse = self._refitted_loss(trainable, settings.selection_refit_steps)
                except Exception as err:  # a candidate that cannot be simulated loses
                    log.warning("%s: candidate %s fails in the model: %s", slot, candidate, err)
                    mse = np.nan
                finally:
                    with torch.no_grad():
                        for parameter, value in zip(others, saved, strict=True):
                            parameter.copy_(value)
                k = estimated_constants(candidate.expression)
                scores.append(n * np.log(mse) + k * np.log(n) if mse > 0 else np.inf)
        finally:
            self.model.set_slot(slot, original)
        scores = np.where(np.isfinite(scores), scores, np.inf)
        if not np.isfinite(scores).any():
            log.warning("%s: no candidate simulates finitely; keeping the engine's choice", slot)
            return front
        best = int(np.argmin(scores))
        rule = (
            "lowest BIC n ln(mse) + k ln(n) of the model on the training data "
            "(k: constants estimated from data, integers from rounding included)"
        )
        metadata = {**front.metadata, "selection_rule": rule, "bic": [float(b) for b in scores]}
        return ParetoFront(front.candidates, front.inputs, front.engine, best, metadata)

    def _refitted_loss(self, parameters: list[torch.Tensor], steps: int) -> float:
        """Training loss of the model after a few L-BFGS steps on ``parameters``.

        They stay as they were when those steps do not lower the loss (a refit that
        wanders off or turns non-finite must not make a good candidate look bad).
        """
        with torch.no_grad():
            before = float(self.workflow.loss("train"))
        if not parameters or steps <= 0:
            return before
        saved = [p.detach().clone() for p in parameters]
        optimiser = torch.optim.LBFGS(
            parameters, lr=1.0, max_iter=steps, line_search_fn="strong_wolfe"
        )
        lbfgs_step(optimiser, lambda: self.workflow.loss("train"))
        with torch.no_grad():
            after = float(self.workflow.loss("train"))
            if np.isfinite(after) and (after <= before or not np.isfinite(before)):
                return after
            for parameter, value in zip(parameters, saved, strict=True):
                parameter.copy_(value)
        return before

    def select_by_retraining(
        self, slot: str, front: ParetoFront, progress: bool = False
    ) -> ParetoFront:
        """Re-select on ``front`` by training a fresh model with each shortlisted candidate
        in place of ``slot`` and scoring it on the validation split.

        The shortlist is :func:`~discover.distill.selection.shortlist` (``distill.shortlist``
        simplest candidates that reproduce the learned function within
        ``distill.shortlist_tolerance``); slots distilled before keep their selected
        equations. Each model is trained from scratch with the ``train`` settings, like the
        ``physics`` variant, so no candidate profits from parameters co-adapted with the
        network. The least complex candidate not significantly worse than the best one on the
        validation split is selected (:func:`~discover.distill.selection.parsimonious_choice`);
        a candidate whose model fails scores inf. The trained models are kept in
        :attr:`trained`; the front's metadata gain the rule and a ``shortlist`` table (per
        candidate: front ``index``, expression, validation error, ``p_worse``, seconds).
        """
        settings = self.config.distill
        if slot not in self.samples:
            raise ValueError(f"slot {slot!r} has not been probed; call distill first")
        part = self.workflow.split_slices().get("validation")
        if part is None:
            raise ConfigError("distill.selection: 'retrain' needs train.validation")
        observed = self.workflow.observed[part]
        spread = float(np.var(self.samples[slot].y))
        chosen = shortlist(front, spread, settings.shortlist_tolerance, settings.shortlist)
        errors: list[np.ndarray | None] = []
        rows: list[dict[str, Any]] = []
        models: dict[int, Workflow] = {}
        bar = tqdm(chosen, desc=f"training {slot} candidates", disable=not progress)
        for i in bar:
            bar.set_postfix_str(f"complexity {front[i].complexity}")
            started = time.perf_counter()
            try:
                models[i], stopped = self._train_candidate(slot, front[i], front.inputs)
                with torch.no_grad():
                    simulated = models[i].simulate().cpu().numpy()[part]
                errors.append(validation_errors(simulated, observed))
            except Exception as err:  # a candidate that cannot be trained loses
                log.warning("%s: candidate %s fails in the model: %s", slot, front[i], err)
                models.pop(i, None)
                errors.append(None)
                stopped = f"failed: {type(err).__name__}: {err}"
            seconds = time.perf_counter() - started
            rows.append({"index": i, **front[i].to_dict(), "stopped": stopped, "seconds": seconds})
        width = next((len(e) for e in errors if e is not None), 0)
        table = np.stack([e if e is not None else np.full(width, np.inf) for e in errors])
        try:
            choice = parsimonious_choice(
                [front[i].complexity for i in chosen], table, settings.selection_alpha
            )
        except ValueError as err:
            log.warning("%s: %s; keeping the engine's choice", slot, err)
            return front
        for row, error, p in zip(rows, choice.errors, choice.p_worse, strict=True):
            row.update(validation_error=error, p_worse=p)
        several = observed.shape[1] > 1
        listed = SHORTLIST_RULE.format(
            size=settings.shortlist,
            tolerance=settings.shortlist_tolerance,
            r2=1 - settings.shortlist_tolerance,
        )
        rule = RETRAIN_RULE.format(
            shortlist=listed,
            unit="site" if several else "time block",
            units=f"{width} sites" if several else f"{width} time blocks of the one site",
            alpha=settings.selection_alpha,
        )
        self.trained[slot] = models
        metadata = {**front.metadata, "selection_rule": rule, "shortlist": rows}
        selected = chosen[choice.selected]
        return ParetoFront(front.candidates, front.inputs, front.engine, selected, metadata)

    def _train_candidate(
        self, slot: str, candidate: Candidate, inputs: tuple[str, ...]
    ) -> tuple[Workflow, str]:
        """A fresh model with ``candidate`` in ``slot`` (and the selected equations of the
        slots distilled before), trained with the ``train`` settings; and why it stopped."""
        workflow = self._fresh_workflow()
        slots = {s: self._symbolic(s, f.selected, f.inputs) for s, f in self.fronts.items()}
        _set_slots(workflow, {**slots, slot: self._symbolic(slot, candidate, inputs)})
        folder = f"checkpoints/{alternative_name(slot, candidate)}"
        return workflow, self._train(self.config.train, folder, False, False, workflow).stopped

    def reinsert(
        self, slot: str, candidate: Candidate | None = None, refit: bool | None = None
    ) -> Symbolic:
        """Replace ``slot`` by ``candidate`` (default: the selected equation) as ``Symbolic``.

        Its constants (or the whole model, with ``reinsert.refit: all``) are then refitted
        on the training split unless ``refit`` is False or ``reinsert.refit: none``. When
        the selected equation was chosen by :meth:`select_by_retraining`, the model trained
        with it there becomes the study's model instead (trained like ``physics``; nothing
        is refitted).
        """
        if candidate is None:
            if slot not in self.fronts:
                raise ValueError(f"slot {slot!r} has not been distilled; call distill first")
            if self._adopt_trained(slot):
                return self.model.slots[slot]
            candidate = self.fronts[slot].selected
        current = self.model.slots[slot]
        process = Symbolic(candidate.expression, current.inputs, output_range=current.output_range)
        process.to(dtype=self.workflow.dtype, device=self.workflow.device)
        self.model.set_slot(slot, process)
        mode = self.config.reinsert.refit if refit is not False else "none"
        if mode != "none":
            with self._timed(f"refit {slot}"):
                self._refit(only=None if mode == "all" else process)
        log.info("%s reinserted as %s", slot, process.expression(4))
        return process

    def reinsert_variant(self, slot: str, candidate: Candidate, name: str | None = None) -> str:
        """Reinsert ``candidate`` and refit it as a variant of its own, beside the others
        (default name ``symbolic:<slot>:<complexity>``); the model is then put back as it
        was. Returns the variant's name."""
        name = name or alternative_name(slot, candidate)
        original = self.model.slots[slot]
        state = copy.deepcopy(self.workflow.state_dict())
        try:
            self.reinsert(slot, candidate)
            self.record_variant(name)
        finally:
            self.model.set_slot(slot, original)
            self.workflow.load_state_dict(state)
        return name

    def alternatives(self, slot: str) -> list[Candidate]:
        """The ``reinsert.alternatives`` best candidates of ``slot``'s front other than the
        selected one: the other shortlisted ones by validation error when the front was
        selected by retraining, lowest BIC first when by BIC, else lowest loss."""
        front = self.fronts[slot]
        if "shortlist" in front.metadata:
            rows = sorted(front.metadata["shortlist"], key=lambda row: row["validation_error"])
            order = [row["index"] for row in rows]
        else:
            scores = front.metadata.get("bic") or [c.loss for c in front.candidates]
            order = list(np.argsort(scores, kind="stable"))
        order = [i for i in order if i != front.selected_index]
        return [front.candidates[i] for i in order[: self.config.reinsert.alternatives]]

    def record_variant(self, name: str, workflow: Workflow | None = None) -> None:
        """Keep the simulation and slots of ``workflow`` (default: the study's model) as
        variant ``name``."""
        workflow = self.workflow if workflow is None else workflow
        with torch.no_grad():
            self.simulations[name] = workflow.simulate().cpu().numpy()
        self.variant_slots[name] = {k: copy.deepcopy(v) for k, v in workflow.model.slots.items()}

    def simulate(self) -> np.ndarray:
        """Simulated states [time, site, state] over the whole period."""
        with torch.no_grad():
            return self.workflow.simulate().cpu().numpy()

    def variant_name(self) -> str:
        """``neural`` if a slot is neural, else ``symbolic`` if one is, else ``physics``."""
        kinds = set(self.model.slot_kinds().values())
        for kind in ("neural", "symbolic"):
            if kind in kinds:
                return kind
        return "physics"

    def validate(self) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
        """Metrics ``{variant: {split: {variable: {metric: value}}}}`` (median over sites)
        for every recorded variant (the current model if none was recorded)."""
        return median_metrics(self.site_metrics())

    def site_metrics(self) -> pd.DataFrame:
        """Tidy per-site metrics: ``variant, split, variable, site, metric, value``."""
        if not self.simulations:
            self.record_variant(self.variant_name())
        rows = []
        observed = self.workflow.observed
        slices = self.workflow.split_slices()
        scored = [
            (variant, split, simulated, part)
            for variant, simulated in self.simulations.items()
            for split, part in slices.items()
        ]
        first_scored = slice(slices["train"].start, None)
        scored += [(v, "sites", sim, first_scored) for v, sim in self.site_fold_simulations.items()]
        for variant, split, simulated, part in scored:
            for i, variable in enumerate(self.workflow.variables):
                for s, site in enumerate(self.workflow.sites):
                    if np.isfinite(observed[part, s, i]).sum() < METRIC_MIN_POINTS:
                        continue
                    scores = compute_metrics(
                        simulated[part, s, i],
                        observed[part, s, i],
                        streamflow=variable == "streamflow",
                        min_points=METRIC_MIN_POINTS,
                        label=f"{variable} ({split}, site {site})",
                    )
                    rows += [(variant, split, variable, site, k, v) for k, v in scores.items()]
        columns = ["variant", "split", "variable", "site", "metric", "value"]
        return pd.DataFrame(rows, columns=columns)

    def compare(self, split: str = "val", table: pd.DataFrame | None = None) -> pd.DataFrame:
        """Paired tests between every pair of variants on the held-out ``split``: over
        sites (Wilcoxon, bootstrap CI) when there are several, else over time blocks.
        ``table`` is :meth:`site_metrics` if already computed.

        Returns one row per variable, metric and pair, with a ``sentence`` in words; empty
        when fewer than two variants or too few observations (the log says why).
        """
        if len(self.simulations) < 2:
            return pd.DataFrame()
        observed = self.workflow.observed
        several_sites = len(self.workflow.sites) > 1
        if several_sites and table is None:
            table = self.site_metrics()
        tables = []
        for i, variable in enumerate(self.workflow.variables):
            try:
                if several_sites:
                    mask = (table["split"] == split) & (table["variable"] == variable)
                    result = compare_variants(table[mask], seed=self.config.seed)
                else:
                    part = self.workflow.split_slices()[split]
                    sims = {k: v[part, 0, i] for k, v in self.simulations.items()}
                    result = compare_series(
                        sims, observed[part, 0, i], seed=self.config.seed, min_points=10
                    )
            except ValueError as err:
                log.warning("no paired test for %s on %s: %s", variable, split, err)
                self.skipped_tests.append(f"{variable} on split {split!r}: {err}")
                continue
            tables.append(result.assign(split=split, variable=variable))
        return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()

    def physical_checks(self) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """Checks of every reinserted equation over its visited domain and beyond it
        (declared range, finite values, behaviour at the edges): ``{variant: {slot: [...]}}``.

        Inputs whose visited values are all non-negative are taken as physically
        non-negative, so the extrapolated box does not cross zero.
        """
        checks: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for variant, slots in self.variant_slots.items():
            for slot, process in slots.items():
                if process.kind != "symbolic" or slot not in self.samples:
                    continue
                samples = self.samples[slot]
                domain = {
                    name: samples.X[:, i]
                    for i, name in enumerate(samples.names)
                    if name in process.inputs
                }
                bounds = {n: (0.0, None) for n, v in domain.items() if float(v.min()) >= 0}
                report = check_function(process, domain, bounds=bounds, seed=self.config.seed)
                checks.setdefault(variant, {})[slot] = [
                    {"check": f"{r.check} ({r.region})", "passed": r.passed, "sentence": r.sentence}
                    for r in report.results
                ]
        return checks

    def report(self, out: str | Path | None = None) -> Path:
        """Build ``report.html``/``report.md`` from the run directory (default: ``out``)."""
        folder = Path(out) if out is not None else self.out
        if folder is None:
            raise ValueError("report() needs a run directory")
        with self._timed("report"):
            return build_report(folder)

    # -- the whole run -----------------------------------------------------------------
    def run(self, resume: bool = False, progress: bool = True) -> dict[str, Any]:
        """Fit, distill every neural slot, reinsert, validate; write the run directory.

        The run writes into the staging folder of ``out`` and its results replace the
        previous ones only when every stage succeeded (see :func:`staged_run`).

        Raises:
            RunDirectoryRefused: ``out`` cannot hold the run (see :func:`prepare`), another
                run holds its lock, or ``resume`` finds no checkpoint there.
        """
        if self.out is None:
            raise ValueError("run() needs a run directory: Study(..., out=DIR)")
        out = self.out
        try:
            with staged_run(out, resume) as staging:
                self.out = staging  # checkpoints, results and report go there
                writer = RunWriter(staging)
                writer.config(self.config)
                if getattr(self.config.model, "baseline", False) and self.model.neural_slots():
                    self.fit_baseline(resume=resume, progress=progress)
                for name in self.config.hypotheses:
                    self.fit_hypothesis(name, resume=resume, progress=progress)
                writer.hypotheses(self.config.hypotheses, self.variant_slots)
                self.fit(resume=resume, progress=progress)
                writer.history(self.fit_result)
                if self.config.distill is not None and self.model.neural_slots():
                    self._distill_all(writer, progress)
                if self.config.validate_.site_folds:
                    self.validate_sites(resume=resume, progress=progress)
                with self._timed("validate"):
                    table = self.site_metrics()
                    metrics = median_metrics(table)
                    writer.metrics(metrics)
                    writer.site_metrics(table)
                    writer.simulations(self.workflow, self.simulations)
                    splits = ["val", "sites"] if self.site_fold_simulations else ["val"]
                    writer.comparisons(pd.concat([self.compare(s, table) for s in splits]))
                    writer.checks(self.physical_checks())
                self._write_provenance(writer)  # the report reads it
                self.report()
                self._write_provenance(writer)  # again, with the report's timing
        finally:
            self.out = out
        return metrics

    def _write_provenance(self, writer: RunWriter) -> None:
        writer.provenance(
            self.config,
            self.timings,
            self.fit_result,
            self.fronts,
            self.failures,
            self.skipped_tests,
        )

    def _distill_all(self, writer: RunWriter, progress: bool) -> None:
        """Distill every neural slot and reinsert the selected equations: one slot at a
        time with ``reinsert.refit: all`` (see :class:`ReinsertConfig`) or ``distill.selection:
        retrain`` (the model trained with the selected equation becomes the study's model,
        see :meth:`reinsert`, and the next slot is distilled from it), else all at once."""
        slots = self.model.neural_slots()
        retrain = self.config.distill.selection == "retrain"
        one_at_a_time = retrain or self.config.reinsert.refit == "all"
        for slot in slots:
            try:
                self.distill(slot, progress)
            except Exception as err:  # the run goes on; the report says why
                self.failures[slot] = f"{type(err).__name__}: {err}"
                log.warning("slot %s was not distilled: %s", slot, self.failures[slot])
                continue
            if one_at_a_time:
                self._reinsert_variants(slot)
                self.reinsert(slot)
        writer.equations(self.fronts, self.failures, self.model)
        writer.truth(self.config.truth)
        for slot, samples in self.samples.items():
            output_range = str(self.model.slots[slot].output_range)
            truth = self.config.truth.get(slot)
            writer.samples(slot, samples, truth, self.workflow.units(), output_range)
        for slot, (ranking, kept) in self.rankings.items():
            writer.importance(slot, ranking, kept)
        reinserted = [slot for slot in slots if slot in self.fronts]
        if not reinserted:
            return
        if not one_at_a_time:
            for slot in reinserted:
                self._reinsert_variants(slot)
            for slot in reinserted:
                self.reinsert(slot, refit=False)
            if self.config.reinsert.refit != "none":
                with self._timed("refit"):
                    self._refit(only="symbolic")
        self.record_variant("symbolic")
        writer.equations(self.fronts, self.failures, self.model)

    def _reinsert_variants(self, slot: str) -> None:
        """Record each of ``slot``'s alternatives as a variant of its own: its model trained
        during the selection if there is one, else reinserted and refitted."""
        trained = self.trained.get(slot, {})
        for candidate in self.alternatives(slot):
            index = self.fronts[slot].candidates.index(candidate)
            if index in trained:
                self.record_variant(alternative_name(slot, candidate), trained[index])
            else:
                self.reinsert_variant(slot, candidate)

    def _adopt_trained(self, slot: str) -> bool:
        """Make the model trained with ``slot``'s selected equation (by
        :meth:`select_by_retraining`) the study's model; False if there is none."""
        workflow = self.trained.pop(slot, {}).get(self.fronts[slot].selected_index)
        if workflow is None:
            return False
        self.workflow = workflow
        log.info("%s: the model trained with the selected equation is the study's model", slot)
        return True

    # -- helpers -----------------------------------------------------------------------
    def _train(
        self,
        settings: TrainConfig,
        folder: str,
        resume: bool,
        progress: bool,
        workflow: Workflow | None = None,
    ) -> FitResult:
        """Train ``workflow`` (default: the study's) with checkpoints in ``out/folder``."""
        workflow = workflow if workflow is not None else self.workflow
        if not any(p.requires_grad for p in workflow.parameters()):
            return FitResult(stopped="nothing to fit")
        trainer = Trainer(
            workflow,
            workflow.loss,
            settings,
            seed=self.config.seed,
            checkpoint_dir=self.out / folder if self.out else None,
            progress=progress,
        )
        return trainer.fit(resume=resume)

    def _refit(self, only: Process | str | None) -> FitResult:
        """Refit on the training split; ``only`` a process, ``"symbolic"`` (every symbolic
        slot's constants) or ``None`` (everything trainable)."""
        settings = self.config.reinsert
        train = self.config.train.model_copy(
            update={
                "iterations": settings.iterations,
                "lr": settings.lr,
                "lbfgs_iterations": settings.lbfgs_iterations,
                "patience": None,
            }
        )
        if only is None:
            trainable = list(self.workflow.parameters())
        elif only == "symbolic":
            trainable = [
                p for s in self.model.slots.values() if s.kind == "symbolic" for p in s.parameters()
            ]
        else:
            trainable = list(only.parameters())
        frozen = {id(p) for p in trainable}
        saved = {p: p.requires_grad for p in self.workflow.parameters()}
        for p in self.workflow.parameters():
            p.requires_grad_(id(p) in frozen)
        try:
            return self._train(train, "checkpoints/refit", resume=False, progress=False)
        finally:
            for p, flag in saved.items():
                p.requires_grad_(flag)

    def _timed(self, stage: str):
        return _Timer(self.timings, stage)


def _set_slots(workflow: Workflow, processes: dict[str, Process]) -> None:
    """Put ``processes`` ``{slot: process}`` into ``workflow``'s model, on its dtype and device."""
    for slot, process in processes.items():
        workflow.model.set_slot(slot, process.to(dtype=workflow.dtype, device=workflow.device))


def alternative_name(slot: str, candidate: Candidate) -> str:
    """Variant name of a reinserted front candidate other than the selected one."""
    return f"symbolic:{slot}:{candidate.complexity}"


def median_metrics(table: pd.DataFrame) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """``{variant: {split: {variable: {metric: median over sites}}}}`` of a
    :meth:`Study.site_metrics` table."""
    medians = table.groupby(["variant", "split", "variable", "metric"], sort=False)["value"]
    metrics: dict[str, Any] = {}
    for (variant, split, variable, metric), value in medians.median().items():
        metrics.setdefault(variant, {}).setdefault(split, {}).setdefault(variable, {})
        metrics[variant][split][variable][metric] = float(value)
    return metrics


def build_workflow(config: StudyConfig, base: Path) -> Workflow:
    """The workflow of the config's model type, with its data loaded and checked."""
    if config.model.type == "hbv":
        return HBVWorkflow(config, base)
    return ODEWorkflow(config, base)


class _Timer:
    def __init__(self, timings: dict[str, float], stage: str):
        self.timings, self.stage = timings, stage

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.stage] = self.timings.get(self.stage, 0.0) + (
            time.perf_counter() - self.started
        )
