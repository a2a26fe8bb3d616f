"""Sections of the report about the run as a whole (question, data, training, series,
metrics, hypothesis tests, provenance)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import yaml

from discover.report import figures, tables
from discover.report.context import Context
from discover.report.document import (
    Block,
    Bullets,
    Code,
    Equation,
    Notice,
    Paragraph,
    Section,
    Table,
)
from discover.report.equations import model_equation_math, rate_math
from discover.report.figures.common import SPLIT_WORDS, ordered_variants, slug
from discover.report.findings import question_sentence
from discover.report.verdicts import verdicts
from discover.run_directory import STAGING

MISSING_MEANING = {
    "provenance.json": "versions, seed, timings and engines",
    "history.csv": "the loss curves",
    "metrics_sites.csv": "per-site scores and their distributions",
    "simulations.nc": "the data summary and the observed and simulated series",
    "equations.json": "discovered equations",
    "comparisons.csv": "the hypothesis tests",
    "checks.json": "the physical checks of the equations",
}
SERIES_VARIANTS = 4
"""Variants drawn in the series figures (main ones first)."""
SAMPLE_SITES = 3
SUMMARY_FINDINGS = 6
"""Test sentences repeated in the summary (all are in the section Hypothesis tests)."""
SPLIT_ORDER = ("test", "validation", "train", "warmup")


def _missing(ctx: Context, file: str) -> Notice:
    reason = ctx.run.missing.get(file, "not written")
    return Notice(
        f"{file} {reason}, so this report lacks {MISSING_MEANING.get(file, 'its content')}."
    )


def _time_text(value: Any) -> str:
    """A time coordinate value as a short text (dates without a midnight clock time)."""
    if isinstance(value, np.datetime64):
        stamp = pd.Timestamp(value)
        return stamp.date().isoformat() if stamp == stamp.normalize() else stamp.isoformat(sep=" ")
    if isinstance(value, float | np.floating):
        return f"{float(value):.6g}"
    return str(value)


def summary(ctx: Context) -> Section:
    """What ran, which slots became equations, which did not and why, what is missing."""
    run = ctx.run
    folder = run.path.parent if run.path.name == STAGING else run.path  # built while staged
    items = [
        f"Run {run.config.get('name', folder.name)!r} in {folder}.",
        f"Variants scored: {', '.join(ctx.variants)}.",
    ]
    if ctx.slots:
        distilled = [s for s in ctx.slots if s in run.equations and not run.equations[s].error]
        items.append(
            f"Learned slots: {', '.join(ctx.slots)}; distilled into equations: "
            f"{', '.join(distilled) if distilled else 'none'}."
        )
        items += [ctx.engine_sentence(slot) for slot in ctx.slots]
    else:
        items.append("The model has no learned slot.")
    blocks: list[Block] = [Bullets(tuple(items))]
    if run.comparisons is not None and not run.comparisons.empty:
        sentences = [v.sentence() for v in verdicts(run.comparisons)]
        blocks.append(Paragraph("Main findings of the paired tests over sites:"))
        blocks.append(Bullets(tuple(sentences[:SUMMARY_FINDINGS])))
        if len(sentences) > SUMMARY_FINDINGS:
            more = len(sentences) - SUMMARY_FINDINGS
            blocks.append(Paragraph(f"{more} more in the section Hypothesis tests."))
    absent = [f for f in run.missing if f != "truth.json"]
    if absent:
        blocks.append(
            Notice(
                "Missing from this run: "
                + "; ".join(f"{f} ({run.missing[f]})" for f in absent)
                + ". The sections that need them say so."
            )
        )
    return Section("Summary", "summary", blocks)


def question(ctx: Context) -> Section:
    """The question asked: the model, its learned slots, and the resolved config."""
    config = ctx.run.config
    blocks: list[Block] = []
    for key in ("question", "description"):
        if config.get(key):
            blocks.append(Paragraph(str(config[key])))
    model = ctx.model
    blocks.append(Paragraph(f"Model type: {model.get('type', 'not stated')}."))
    neural = ctx.neural_config
    arity = {slot: len(settings.get("inputs", [])) for slot, settings in neural.items()}
    for state, text in (model.get("equations") or {}).items():
        blocks.append(
            Equation(
                f"equation of state {state}",
                rate_math(state),
                model_equation_math(str(text), arity),
            )
        )
    if neural:
        rows = tuple(
            (
                # over every input the config gives the slot (not only those kept)
                ctx.slot_call(slot, [str(name) for name in settings.get("inputs") or []]),
                _output_range(ctx, slot, settings),
                str(settings.get("hidden", "–")),
            )
            for slot, settings in neural.items()
        )
        blocks += [Paragraph(question_sentence(ctx, slot)) for slot in neural]
        blocks.append(Table(("learned slot", "output range", "hidden layers"), rows))
    blocks.append(Paragraph("The resolved configuration (config.yaml):"))
    blocks.append(Code(yaml.safe_dump(config, sort_keys=False), "yaml"))
    return Section("Question and configuration", "question", blocks)


def _output_range(ctx: Context, slot: str, settings: dict[str, Any]) -> str:
    """The range a learned slot's output was held in: as recorded with its probed samples,
    else as the config declares it."""
    samples = ctx.run.samples.get(slot)
    if samples is not None and samples.output_range:
        return samples.output_range
    declared = settings.get("output")
    return str(declared) if declared else "the model's default (not recorded)"


def data(ctx: Context) -> Section:
    """Variables, units, sites, time steps per split and observed ranges."""
    run = ctx.run
    source = run.config.get("data")
    blocks: list[Block] = []
    if isinstance(source, dict) and source.get("path"):
        blocks.append(Paragraph(f"Data source: {source['path']}."))
    simulations = run.simulations
    if simulations is None:
        blocks.append(_missing(ctx, "simulations.nc"))
        return Section("Data", "data", blocks)
    if "time" in simulations.coords and simulations.sizes.get("time", 0):
        time = simulations["time"].values
        blocks.append(
            Paragraph(
                f"Time: {_time_text(time[0])} to {_time_text(time[-1])}, {time.size} steps; "
                f"{simulations.sizes['site']} site(s)."
            )
        )
    blocks.append(tables.data_table(simulations))
    return Section("Data", "data", blocks)


def training(ctx: Context) -> Section:
    """Loss curves and the trainer's summary."""
    run = ctx.run
    facts: dict[str, Any] = (run.provenance or {}).get("training") or {}
    blocks: list[Block] = []
    if run.history is None:
        blocks.append(_missing(ctx, "history.csv"))
    elif run.history.empty:
        why = facts.get("stopped") or "history.csv holds no iteration"
        blocks.append(Paragraph(f"The model took no gradient training step ({why})."))
    else:
        best = facts.get("best_iteration")
        best = best if isinstance(best, int) and best >= 0 else None
        validated = "validation" in run.history and run.history["validation"].notna().any()
        restored = (run.config.get("train") or {}).get("restore_best", True) is not False
        marked = (
            "the dashed line marks the iteration of the best validation loss, whose weights "
            "were kept."
            if restored
            else "the dashed line marks the lowest validation loss (the last weights were kept: "
            "train.restore_best is off)."
        )
        caption = (
            f"Training loss per iteration and validation loss where evaluated; {marked}"
            if validated
            else "Training loss per iteration and held-out loss where evaluated (watched "
            "only: with no validation split, training ends with its last weights)."
        )
        blocks.append(
            ctx.figure(
                "loss", lambda path: figures.loss_curves(run.history, path, best, restored), caption
            )
        )
    if facts:
        if not (isinstance(facts.get("best_iteration"), int) and facts["best_iteration"] >= 0):
            facts = {**facts, "best_iteration": None}  # -1: no validation split chose weights
        blocks.append(tables.key_value_table(facts, ("training", "value")))
    return Section("Training", "training", blocks)


def _site_scores(ctx: Context, variable: str) -> tuple[str, str, dict[str, float]] | None:
    """``(variant, split, {site: NSE})`` used to pick sample sites, if scores exist."""
    table = ctx.run.metrics_sites
    if table is None:
        return None
    table = table[(table["variable"] == variable) & (table["metric"] == "nse")]
    for variant in ("symbolic", "neural", *ctx.variants):
        for split in SPLIT_ORDER:
            rows = table[(table["variant"] == variant) & (table["split"] == split)].dropna(
                subset=["value"]
            )
            if len(rows):
                return variant, split, dict(zip(rows["site"], rows["value"], strict=True))
    return None


def _sample_sites(ctx: Context, variable: str) -> tuple[list[tuple[int, str]], str]:
    """Up to three ``(position, title)`` sites (best, median, worst NSE) and how chosen."""
    simulations = ctx.run.simulations
    labels = (
        [str(s) for s in simulations["site"].values]
        if "site" in simulations.coords
        else [str(i) for i in range(simulations.sizes["site"])]
    )
    scored = _site_scores(ctx, variable)
    ranked = sorted((v, s) for s, v in scored[2].items() if s in labels) if scored else []
    if not ranked:
        chosen = [(i, f"site {labels[i]}") for i in range(min(SAMPLE_SITES, len(labels)))]
        return chosen, "The first sites of the file (no per-site scores to choose by)."
    variant, split, _ = scored
    picks = {"best": ranked[-1], "median": ranked[len(ranked) // 2], "worst": ranked[0]}
    chosen, seen = [], set()
    for role, (value, site) in picks.items():
        if site not in seen:
            seen.add(site)
            chosen.append(
                (
                    labels.index(site),
                    f"site {site}: {role} NSE of {variant}, {SPLIT_WORDS.get(split, split)} "
                    f"({value:.3g})",
                )
            )
    return (
        chosen,
        f"Sites with the best, median and worst NSE of variant {variant} on split {split}.",
    )


def series(ctx: Context) -> Section:
    """Observed against simulated series at sample sites, per variable."""
    simulations = ctx.run.simulations
    if simulations is None:
        return Section("Observed and simulated series", "series", [_missing(ctx, "simulations.nc")])
    blocks: list[Block] = []
    for name in simulations.data_vars:
        if not str(name).endswith("_observed"):
            continue
        variable = str(name)[: -len("_observed")]
        if variable not in simulations or "variant" not in simulations[variable].dims:
            blocks.append(
                Notice(f"simulations.nc has observations of {variable} but no simulation.")
            )
            continue
        variants = ordered_variants(
            [str(v) for v in simulations["variant"].values], SERIES_VARIANTS
        )
        sites, how = _sample_sites(ctx, variable)
        blocks.append(
            ctx.figure(
                f"series_{slug(variable)}",
                lambda path, v=variable, s=sites, vs=variants: figures.observed_vs_simulated(
                    simulations, v, s, vs, path
                ),
                f"{variable}: observed (black dots) and simulated by "
                f"{figures.series.variant_words(variants)}. {how} "
                + figures.series.shading_words(simulations),
            )
        )
    return Section("Observed and simulated series", "series", blocks)


def metrics(ctx: Context) -> Section:
    """A metric table per split and the distribution of NSE and KGE over sites."""
    run = ctx.run
    splits = list(dict.fromkeys(s for splits in run.metrics.values() for s in splits))
    simulations = run.simulations
    units = {
        str(name): str(simulations[name].attrs["units"])
        for name in (simulations.data_vars if simulations is not None else [])
        if simulations[name].attrs.get("units")
    }
    blocks: list[Block] = [
        tables.metric_table(run.metrics, split, ctx.variants, units) for split in splits
    ]
    table = run.metrics_sites
    if table is None:
        blocks.append(_missing(ctx, "metrics_sites.csv"))
        return Section("Metrics", "metrics", blocks)
    for variable in dict.fromkeys(table["variable"]):
        rows = table[(table["variable"] == variable) & table["metric"].isin(["nse", "kge"])]
        if rows.empty:
            continue
        present = list(dict.fromkeys(rows["split"]))
        shown_splits = [s for s in ("train", "validation", "test", "sites") if s in present]
        shown_splits = shown_splits or present
        variants = ordered_variants(list(dict.fromkeys(rows["variant"])))
        single = rows["site"].nunique() == 1
        blocks.append(
            ctx.figure(
                f"scores_{slug(variable)}",
                lambda path, r=rows, v=variable, s=shown_splits, vs=variants: figures.site_scores(
                    r, v, s, vs, path
                ),
                f"{variable}: "
                + (
                    "NSE and KGE at the only site, per variant."
                    if single
                    else "cumulative distribution over sites of NSE and KGE per variant "
                    "(further right is better)."
                ),
            )
        )
    return Section("Metrics", "metrics", blocks)


def hypothesis_tests(ctx: Context) -> Section:
    """Paired comparisons of variants over sites, and physical checks of equations."""
    run = ctx.run
    blocks: list[Block] = []
    if run.hypotheses:
        blocks += [
            Paragraph(
                "Stated hypotheses (config `hypotheses:`), each fitted as a variant of its own: "
                "named constants fitted, numbers fixed."
            ),
            tables.hypotheses_table(run.hypotheses),
        ]
    skipped = (run.provenance or {}).get("skipped_tests") or []
    if run.comparisons is None and skipped:
        blocks.append(Notice("No paired test could be made. " + "; ".join(map(str, skipped))))
    elif run.comparisons is None:
        blocks.append(_missing(ctx, "comparisons.csv"))
    elif run.comparisons.empty:
        blocks.append(Notice("comparisons.csv has no rows: no pair of variants was compared."))
    else:
        blocks.append(Bullets(tuple(v.sentence() for v in verdicts(run.comparisons))))
        blocks.append(tables.comparison_table(run.comparisons))
    section = Section("Hypothesis tests", "tests", blocks)
    if run.checks is None:
        if ctx.run.equations:
            blocks.append(_missing(ctx, "checks.json"))
        return section
    for variant, slots in run.checks.items():
        for slot, results in slots.items():
            passed = sum(bool(r.get("passed")) for r in results)
            section.subsections.append(
                Section(
                    f"Physical checks: {slot} in variant {variant}",
                    f"checks-{slug(variant)}-{slug(slot)}",
                    [
                        Paragraph(f"{passed} of {len(results)} checks passed."),
                        tables.checks_table(results),
                    ],
                )
            )
    return section


def provenance(ctx: Context) -> Section:
    """Versions, seed, config digest, device, timings and engines."""
    facts = ctx.run.provenance
    if facts is None:
        return Section("Provenance", "provenance", [_missing(ctx, "provenance.json")])
    scalars = {k: v for k, v in facts.items() if not isinstance(v, dict | list)}
    blocks: list[Block] = [tables.key_value_table(scalars)]
    timings = facts.get("timings_s")
    if isinstance(timings, dict) and timings:
        total = sum(float(v) for v in timings.values() if isinstance(v, int | float))
        blocks.append(tables.key_value_table({**timings, "total": total}, ("stage", "seconds")))
    engines = facts.get("engines")
    if isinstance(engines, dict) and engines:
        rows = []
        for slot in engines:
            entry = ctx.engine_facts(slot)
            note = entry.get("error") or entry.get("fallback_reason") or ""
            rows.append(
                (
                    slot,
                    str(entry.get("engine") or "none"),
                    str(entry.get("requested_engine") or "–"),
                    tables.number(entry.get("search_seconds")),
                    str(note),
                )
            )
        header = ("slot", "engine that ran", "requested", "search [s]", "failure or fallback")
        blocks.append(Table(header, tuple(rows)))
        blocks.append(Bullets(tuple(ctx.engine_sentence(slot) for slot in engines)))
    return Section("Provenance", "provenance", blocks)
