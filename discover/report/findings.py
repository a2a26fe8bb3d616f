"""The report's first section: the question, what was found for each learned slot (the
equation with its trained constants, against the textbook process and the planted truth),
the held-out verdict, and the caveats that apply."""

from __future__ import annotations

from discover.report import caveats
from discover.report.context import Context
from discover.report.document import Block, Bullets, Equation, Notice, Paragraph, Section
from discover.report.equations import evaluate, math_of
from discover.report.figures.common import SPLIT_WORDS
from discover.report.forms import agreement, constant_sentences
from discover.report.verdicts import Verdict, headline


def question_sentence(ctx: Context, slot: str) -> str:
    """``Which function of pet and soil_wetness does evapotranspiration follow: ...?``"""
    inputs = " and ".join(ctx.slot_inputs(slot)) or "its inputs"
    textbook = ctx.textbook(slot)
    against = (
        f"the textbook {textbook.formula}, or another law" if textbook else "and in which form"
    )
    return f"Which function of {inputs} does the process {slot} follow: {against}?"


def _units(ctx: Context, slot: str) -> str:
    units = ctx.units(slot)
    return f" {units}" if units and units != "-" else ""


def _comparisons(ctx: Context, slot: str, equation: str) -> list[str]:
    """The equation against the textbook process and the planted truth, in sentences."""
    inputs = ctx.slot_inputs(slot)
    samples = ctx.run.samples.get(slot)
    units = _units(ctx, slot)
    values = None
    domain = ""
    if samples is not None and tuple(samples.inputs) == tuple(inputs):
        values = evaluate(equation, inputs, samples.X)
        domain = " on the same samples"
    items = []
    if samples is not None and values is not None:
        r2, rmse = agreement(values, samples.output)
        items.append(
            f"On the {samples.output.size} probed samples (the domain the model visited) it "
            f"reproduces the trained network with R² {r2:.3f} (RMSE {rmse:.3g}{units})."
        )
    textbook = ctx.textbook(slot)
    if textbook is not None:
        sentence = f"Textbook process: {slot} = {textbook.formula}, with {textbook.note}."
        if samples is not None and values is not None:
            reference = textbook(dict(zip(samples.inputs, samples.X.T, strict=True)))
            r2, rmse = agreement(values, reference)
            sentence += (
                f" The equation departs from it by RMSE {rmse:.3g}{units}{domain} "
                f"(R² of the equation against the textbook {r2:.3f})."
            )
        items.append(sentence)
    truth = ctx.run.truth.get(slot)
    if truth is not None:
        constants = constant_sentences(equation, truth, inputs, "planted")
        sentence = f"Planted truth: {slot} = {truth}" + (
            f"; {'; '.join(constants)}." if constants else "."
        )
        reference = samples.truth if samples is not None else None
        if samples is not None and reference is None:
            reference = evaluate(truth, inputs, samples.X)
        if values is not None and reference is not None:
            r2, rmse = agreement(values, reference)
            sentence += f" Against the truth{domain}: R² {r2:.3f}, RMSE {rmse:.3g}{units}."
        items.append(sentence)
    return items


def _slot_blocks(ctx: Context, slot: str) -> list[Block]:
    entry = ctx.run.equations.get(slot)
    if entry is None or entry.error is not None or entry.selected is None:
        return [Notice(ctx.engine_sentence(slot) + " Its network stays in the model.")]
    equation = entry.refitted or entry.selected.expression
    label = (
        "discovered equation, constants as trained in the model"
        if entry.refitted
        else "discovered equation, constants as distilled (no refitted constants recorded)"
    )
    blocks: list[Block] = [
        Paragraph(question_sentence(ctx, slot)),
        Equation(label, ctx.slot_call(slot), math_of(equation, ctx.slot_inputs(slot))),
    ]
    items = _comparisons(ctx, slot, equation)
    if items:
        blocks.append(Bullets(tuple(items)))
    return blocks


def _caveats(ctx: Context) -> list[str]:
    run = ctx.run
    found: list[str] = []
    distill = run.config.get("distill") or {}
    selection = distill.get("selection")
    alpha = selection.get("alpha") if isinstance(selection, dict) else None
    alpha = float(alpha or distill.get("selection_alpha") or caveats.TEST_ALPHA)
    for slot in ctx.slots:
        entry = run.equations.get(slot)
        facts = ctx.engine_facts(slot)
        if entry is not None:
            found += caveats.bic_near_ties(slot, entry, facts.get("bic"))
        found += caveats.shortlist_near_alpha(slot, facts.get("shortlist"), alpha)
    found += caveats.small_test(run.comparisons)
    found += caveats.flat_periods(run.simulations)
    variables = {v for splits in run.metrics.values() for s in splits.values() for v in s}
    for variable in sorted(variables):
        found += caveats.ranking_changes(run.metrics, variable)
    found += caveats.failed_checks(run.checks)
    return found


def conclusion_sentence(stated: list[Verdict]) -> str | None:
    """The answer to the question, from the verdict between the discovered equations
    (``symbolic``) and the textbook model (``physics``), when both were tested."""
    pair = [v for v in stated if {v.first, v.second} == {"symbolic", "physics"}]
    if not pair:
        return None
    v = pair[0]
    where = SPLIT_WORDS.get(v.split, v.split)
    if not v.clear:
        return (
            f"Conclusion: the {where} does not separate the discovered equations from the "
            "textbook model; the data do not favour either."
        )
    if v.first == "symbolic":
        return (
            f"Conclusion: the model with the discovered equations fits the {where} better than "
            "the textbook model, so the data support the discovered law over the textbook one "
            "(mind the caveats below)."
        )
    return (
        f"Conclusion: the textbook model fits the {where} better than the model with the "
        "discovered equations; the data do not support replacing the textbook law."
    )


def findings(ctx: Context) -> Section:
    """Per learned slot the equation found and how it compares; the held-out verdict in
    words; the caveats."""
    run = ctx.run
    section = Section("Findings", "findings")
    for key in ("question", "description"):
        if run.config.get(key):
            section.blocks.append(Paragraph(str(run.config[key])))
    if not ctx.slots:
        section.blocks.append(Paragraph("The model has no learned slot: nothing was discovered."))
    for slot in ctx.slots:
        section.blocks += _slot_blocks(ctx, slot)
    if run.comparisons is not None and not run.comparisons.empty:
        stated = headline(run.comparisons, ctx.variants)
        section.blocks.append(Paragraph("Verdict of the paired tests:"))
        section.blocks.append(Bullets(tuple(v.sentence() for v in stated)))
        conclusion = conclusion_sentence(stated)
        if conclusion:
            section.blocks.append(Paragraph(conclusion))
    else:
        section.blocks.append(Notice("No paired test between variants: no verdict."))
    found = _caveats(ctx)
    if found:
        section.blocks.append(Paragraph("Caveats:"))
        section.blocks.append(Bullets(tuple(found)))
    return section
