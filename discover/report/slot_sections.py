"""Sections of the report about the learned slots: each slot against its equations, its
Pareto front and input importance, and every equation in LaTeX."""

from __future__ import annotations

import numpy as np

from discover.report import figures, tables
from discover.report.context import Context
from discover.report.document import Block, Equation, Notice, Paragraph, Section
from discover.report.equations import evaluate, math_of
from discover.report.figures import slots as slots_figure
from discover.report.figures.common import slug
from discover.report.figures.dependence import (
    BAND,
    NEAR_SHARE,
    RATIO_FLOOR,
    Function,
    dependence,
    et_ratio,
)
from discover.report.figures.series import COLOUR_WORDS
from discover.report.rundir import SlotEquations, SlotImportance, SlotSamples

LINE_WORDS = {"-": "solid", "--": "dashed", ":": "dotted"}


def slot_equations(ctx: Context, slot: str) -> list[Equation]:
    """The selected, refitted and planted-truth equations of ``slot`` that the run has."""
    inputs = ctx.slot_inputs(slot)
    entry = ctx.run.equations.get(slot)
    found: list[tuple[str, str]] = []
    if entry is not None and entry.selected is not None:
        selected = entry.selected
        found.append(
            (
                f"selected (complexity {selected.complexity}, loss {selected.loss:.3g})",
                selected.expression,
            )
        )
        if entry.refitted:
            found.append(("selected, constants as fitted in the model on the data", entry.refitted))
    if slot in ctx.run.truth:
        found.append(("planted truth", ctx.run.truth[slot]))
    return [Equation(label, ctx.slot_call(slot), math_of(text, inputs)) for label, text in found]


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    finite = np.isfinite(a) & np.isfinite(b)
    return float(np.sqrt(np.mean((a[finite] - b[finite]) ** 2))) if finite.any() else np.nan


def _functions(ctx: Context, slot: str, inputs: tuple[str, ...]) -> dict[str, Function]:
    """The slot's distilled equation (constants as trained in the model when recorded),
    textbook process and planted truth, as functions of ``X [n, input]``."""
    found: dict[str, Function] = {}
    entry = ctx.run.equations.get(slot)
    texts = {}
    if entry is not None and entry.selected is not None:
        texts[slots_figure.EQUATION] = entry.refitted or entry.selected.expression
    textbook = ctx.textbook(slot)
    if textbook is not None:
        found[slots_figure.TEXTBOOK] = lambda X: textbook(dict(zip(inputs, X.T, strict=True)))
    if slot in ctx.run.truth:
        texts[slots_figure.TRUTH] = ctx.run.truth[slot]
    for label, text in texts.items():
        if math_of(text, inputs).mathml is not None:
            found[label] = lambda X, t=text: evaluate(t, inputs, X)
    order = (slots_figure.EQUATION, slots_figure.TEXTBOOK, slots_figure.TRUTH)
    return {label: found[label] for label in order if label in found}


def _curves(ctx: Context, slot: str, samples: SlotSamples) -> dict[str, np.ndarray]:
    """Values on the samples of the selected equation and of the planted truth."""
    curves = {}
    entry = ctx.run.equations.get(slot)
    if entry is not None and entry.selected is not None:
        values = evaluate(entry.selected.expression, samples.inputs, samples.X)
        if values is not None:
            curves["selected equation"] = values
    if samples.truth is not None:
        curves["planted truth"] = samples.truth
    elif slot in ctx.run.truth:
        values = evaluate(ctx.run.truth[slot], samples.inputs, samples.X)
        if values is not None:
            curves["planted truth"] = values
    return curves


def _agreement(samples: SlotSamples, curves: dict[str, np.ndarray]) -> str:
    """A sentence comparing network, selected equation and truth on the samples."""
    units = f" {samples.output_units}" if samples.output_units else ""
    network = samples.output
    spread = float(np.nanstd(network))
    parts = []
    equation = curves.get("selected equation")
    truth = curves.get("planted truth")
    if equation is not None:
        error = _rmse(equation, network)
        r2 = 1 - (error / spread) ** 2 if spread > 0 else np.nan
        parts.append(
            f"the selected equation differs from the network by RMSE {error:.3g}{units} "
            f"(R² {r2:.3f}, output spread {spread:.3g}{units})"
        )
    if truth is not None:
        parts.append(
            f"the network differs from the planted truth by RMSE {_rmse(network, truth):.3g}{units}"
        )
        if equation is not None:
            parts.append(
                f"the selected equation differs from the planted truth by RMSE "
                f"{_rmse(equation, truth):.3g}{units}"
            )
    if not parts:
        return ""
    return f"On the {network.size} probed samples, " + "; ".join(parts) + "."


def _learned(ctx: Context, slot: str, samples: SlotSamples) -> list[Block]:
    """How the slot's equations agree with its network, in words and in a figure."""
    curves = _curves(ctx, slot, samples)
    agreement = _agreement(samples, curves)
    functions = _functions(ctx, slot, samples.inputs)
    band = slots_figure.EQUATION if slots_figure.EQUATION in functions else None
    panels = dependence(samples.inputs, samples.X, samples.output, functions, band)
    ratio = et_ratio(samples.inputs, samples.X, samples.output, functions)
    units = {name: ctx.units(slot, name) for name in samples.inputs} | {slot: ctx.units(slot)}
    figure = ctx.figure(
        f"slot_{slug(slot)}",
        lambda path: figures.learned_vs_equations(
            slot, samples, curves, panels, path, units, ratio
        ),
        _dependence_caption(ctx, slot, curves, functions, ratio is not None),
    )
    return [Paragraph(agreement), figure] if agreement else [figure]


def _dependence_caption(
    ctx: Context,
    slot: str,
    curves: dict[str, np.ndarray],
    functions: dict[str, Function],
    ratio: bool,
) -> str:
    """What the slot figure shows and how each curve was obtained."""
    compared = " and ".join(curves) if curves else "no equation"
    parts = [
        f"Slot {slot}. First panel: {compared} against the network's output on each probed "
        "sample (1:1 line: perfect agreement).",
        "Then, over each input: the network's curve (black) is the mean output within "
        f"quantile bins of that input over the {NEAR_SHARE:.0%} of samples whose other inputs "
        "lie nearest (in rank) to their medians, since the network itself is not stored, "
        "only its values on the samples; "
        + (
            ", ".join(f"the {label} ({_colour(label)})" for label in functions)
            + " are evaluated exactly with the other inputs at their medians (given in each "
            "title)"
            if functions
            else "no equation to draw"
        )
        + (
            f"; the red band is the {BAND[0]:.0f}-{BAND[1]:.0f} % range over samples of the "
            "distilled equation with the other inputs at each sample's values (ICE)."
            if slots_figure.EQUATION in functions and len(ctx.slot_inputs(slot)) > 1
            else "."
        ),
    ]
    textbook = ctx.textbook(slot)
    if textbook is not None:
        parts.append(f"Textbook process {textbook.formula} with {textbook.note}.")
    else:
        parts.append("The model type has no textbook process for this slot.")
    if ratio:
        parts.append(
            "Last panel: evapotranspiration over potential evapotranspiration against soil "
            f"wetness; the network's ratio from the samples with pet above its "
            f"{RATIO_FLOOR:.0%} quantile, the functions at the median pet."
        )
    return " ".join(parts)


def _colour(label: str) -> str:
    style = slots_figure.STYLES[label]
    colour = COLOUR_WORDS.get(style["color"], style["color"])
    return f"{colour}, {LINE_WORDS[style['ls']]}"


def _importance(ctx: Context, slot: str, importance: SlotImportance, units: str | None) -> Block:
    dropped = [n for n in importance.inputs if n not in importance.kept]
    return ctx.figure(
        f"shap_{slug(slot)}",
        lambda path: figures.shap_bars(slot, importance, units, path),
        f"Mean |SHAP value| of each input of slot {slot}; kept: "
        f"{', '.join(importance.kept) or 'none'}"
        + (f"; dropped: {', '.join(dropped)}." if dropped else "."),
    )


def slot_section(ctx: Context, slot: str) -> Section:
    """One slot: engine, equations, learned vs equations, Pareto front, SHAP.

    Missing samples or importance are pointed out only when distillation ran.
    """
    run = ctx.run
    entry = run.equations.get(slot)
    sentence = ctx.engine_sentence(slot)
    failed = entry is None or entry.error is not None
    blocks: list[Block] = [Notice(sentence) if failed else Paragraph(sentence)]
    rule = ctx.engine_facts(slot).get("selection_rule")
    if rule and not failed:
        blocks.append(Paragraph(f"Selection rule: {rule}."))
    again = ctx.engine_facts(slot).get("reselected_in_final_model")
    if isinstance(again, dict) and again.get("changed") and not failed:
        before = (again.get("before") or {}).get("expression")
        blocks.append(Paragraph(_reselected(before)))
    blocks += slot_equations(ctx, slot)
    samples = run.samples.get(slot)
    units = samples.output_units if samples is not None else None
    if samples is not None:
        blocks += _learned(ctx, slot, samples)
    elif run.equations:
        blocks.append(Notice(f"slots/{slot}.nc was not written: no probed samples to plot."))
    shortlist = ctx.engine_facts(slot).get("shortlist")
    if isinstance(shortlist, list) and shortlist and not failed:
        selected = entry.selected.expression if entry.selected is not None else None
        blocks.append(tables.shortlist_table(shortlist, selected, ctx.slot_inputs(slot)))
    if entry is not None and entry.pareto:
        blocks.append(_pareto(ctx, slot, entry, units))
    importance = run.importance.get(slot)
    if importance is not None:
        blocks.append(_importance(ctx, slot, importance, units))
    elif run.equations:
        blocks.append(Notice(f"importance/{slot}.json was not written: no SHAP summary."))
    title = f"Slot {slot}({', '.join(ctx.slot_inputs(slot))})"
    return Section(title, f"slot-{slug(slot)}", blocks)


def _reselected(before: str | None) -> str:
    """The sentence on a selection changed by the second look
    (:mod:`discover.stages.reselect`)."""
    first = before or "a more complex candidate"
    return (
        f"First chosen while other slots were still networks: {first}. Looked at again "
        "with every other slot's equation in place, a simpler candidate of its front did as "
        "well and replaced it."
    )


def _pareto(ctx: Context, slot: str, entry: SlotEquations, units: str | None) -> Block:
    """The figure of ``slot``'s Pareto front (and each candidate's BIC, when known)."""
    bic = ctx.engine_facts(slot).get("bic")
    bic = bic if isinstance(bic, list) and len(bic) == len(entry.pareto) else None
    bound = (ctx.run.config.get("distill") or {}).get("max_complexity")
    bound = bound if isinstance(bound, int) else None
    beyond = bound is not None and any(c.complexity > bound for c in entry.pareto)
    return ctx.figure(
        f"pareto_{slug(slot)}",
        lambda path: figures.pareto_front(
            slot, entry.pareto, entry.selected, units, path, bic, bound
        ),
        f"Pareto front of slot {slot} ({len(entry.pareto)} candidates, engine "
        f"{entry.engine}); the star is the selected equation"
        + (
            "; right: each candidate's BIC in the model on the data, above the lowest "
            "(dashed: differences of 2 and 6, positive and strong evidence against)."
            if bic
            else "."
        )
        + (
            f" Complexity is counted on each candidate as simplified and shown, which can "
            f"exceed the search bound distill.max_complexity = {bound} (dashed line): the "
            "candidates right of it were found within the bound and grew when their "
            "constants were merged and the expression simplified."
            if beyond
            else ""
        ),
    )


def slots(ctx: Context) -> Section:
    """Every learned slot, one subsection each."""
    section = Section("Learned processes and equations", "slots")
    if not ctx.slots:
        section.blocks.append(Paragraph("The model has no learned slot."))
        return section
    if not ctx.run.equations:
        section.blocks.append(
            Notice(
                "equations.json "
                + ctx.run.missing.get("equations.json", "has no slot")
                + ": distillation did not run, so every learned slot stays a neural network."
            )
        )
    section.subsections = [slot_section(ctx, slot) for slot in ctx.slots]
    return section


def equations(ctx: Context) -> Section:
    """Every equation of the run in LaTeX: each slot's Pareto front and its truth."""
    section = Section("Equations", "equations")
    for slot in ctx.slots:
        entry = ctx.run.equations.get(slot)
        blocks: list[Block] = []
        if entry is None or entry.error is not None:
            blocks.append(Paragraph(f"No discovered equation. {ctx.engine_sentence(slot)}"))
        if entry is not None and entry.pareto:
            blocks.append(tables.pareto_table(entry))
        blocks += [e for e in slot_equations(ctx, slot) if not e.label.startswith("selected (")]
        section.subsections.append(
            Section(f"Equations of {slot}", f"equations-{slug(slot)}", blocks)
        )
    if not section.subsections:
        section.blocks.append(Paragraph("The run has no learned slot, hence no equation."))
    return section
