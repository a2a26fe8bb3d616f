"""What every section builder shares: the run, its figures folder, and run-wide facts."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from discover.report.document import Block, Figure, Math, Notice
from discover.report.equations import call_math
from discover.report.figures.common import ordered_variants
from discover.report.rundir import RunDirectory
from discover.report.textbook import Textbook, declared_units, textbook_process

log = logging.getLogger(__name__)

FIGURE_ERRORS = (ValueError, KeyError, TypeError, IndexError)
"""Errors of a figure drawn from odd data: the report says so and goes on."""


@dataclass
class Context:
    """A run being reported and the folder its figures go to."""

    run: RunDirectory
    figures: Path

    def figure(self, name: str, draw: Callable[[Path], Path], caption: str) -> Block:
        """Draw ``figures/<name>.png`` with ``draw(path)``; a :class:`Notice` if it fails."""
        try:
            return Figure(draw(self.figures / f"{name}.png"), caption)
        except FIGURE_ERRORS as err:
            log.warning("figure %s could not be drawn: %s", name, err)
            return Notice(f"Figure {name} could not be drawn from the run's files: {err}")

    @property
    def variants(self) -> list[str]:
        """Scored variants, main ones first."""
        return ordered_variants(list(self.run.metrics))

    @property
    def model(self) -> dict[str, Any]:
        model = self.run.config.get("model")
        return model if isinstance(model, dict) else {}

    @property
    def neural_config(self) -> dict[str, dict[str, Any]]:
        """``model.neural`` of the config: slot → its settings (inputs, output, ...)."""
        neural = self.model.get("neural")
        return {str(k): v if isinstance(v, dict) else {} for k, v in (neural or {}).items()}

    @property
    def slots(self) -> list[str]:
        """Learned slots of the config and of the run's files, in that order."""
        return list(dict.fromkeys([*self.neural_config, *self.run.slots]))

    def slot_inputs(self, slot: str) -> tuple[str, ...]:
        """The slot's input names from the first file that states them."""
        run = self.run
        if slot in run.equations:
            return run.equations[slot].inputs
        if slot in run.samples:
            return run.samples[slot].inputs
        if slot in run.importance:
            return run.importance[slot].inputs
        return tuple(str(n) for n in self.neural_config.get(slot, {}).get("inputs", []))

    def units(self, slot: str, name: str | None = None) -> str | None:
        """Units of ``slot``'s output (or of its input ``name``): as its probed samples
        state them, else as the model type declares them; ``None`` when unknown."""
        samples = self.run.samples.get(slot)
        if samples is not None:
            stated = samples.output_units if name is None else samples.input_units.get(name)
            if stated:
                return stated
        return declared_units(self.model, name or slot)

    def textbook(self, slot: str) -> Textbook | None:
        """The textbook process of ``slot`` over its inputs, when the model has one."""
        return textbook_process(self.model, slot, self.slot_inputs(slot), self.textbook_values())

    def textbook_values(self) -> dict[str, float]:
        """Median over sites and parameter sets of each trained parameter of the
        ``physics`` variant (the textbook model); empty without ``parameters.csv``."""
        table = self.run.parameters
        if table is None:
            return {}
        physics = table[table["variant"] == "physics"]
        return {str(k): float(v) for k, v in physics.groupby("parameter")["value"].median().items()}

    def slot_call(self, slot: str, inputs: Sequence[str] | None = None) -> Math:
        """``F(x, y)``: the slot applied to ``inputs`` (default: its inputs as distilled),
        the left side of its equations."""
        inputs = tuple(inputs) if inputs else self.slot_inputs(slot)
        return call_math(slot, inputs)

    def engine_facts(self, slot: str) -> dict[str, Any]:
        """``provenance.json`` facts about the engine of ``slot`` (empty when unknown)."""
        facts = (self.run.provenance or {}).get("engines", {}).get(slot, {})
        return facts if isinstance(facts, dict) else {"engine": facts}

    def engine_sentence(self, slot: str) -> str:
        """Which engine distilled ``slot`` (and any fallback), or why none did."""
        entry = self.run.equations.get(slot)
        facts = self.engine_facts(slot)
        error = entry.error if entry is not None else facts.get("error")
        if error:
            stop = "" if str(error).rstrip().endswith((".", "!", "?")) else "."
            return f"Slot {slot} was not distilled: {error}{stop}"
        engine = (entry.engine if entry is not None else None) or facts.get("engine")
        if not engine:
            if "equations.json" in self.run.missing:
                return f"Slot {slot} was not distilled: distillation did not run."
            return f"Slot {slot} was not distilled (no equations.json entry)."
        requested = facts.get("requested_engine")
        reason = facts.get("fallback_reason")
        if reason:
            return (
                f"Slot {slot}: engine {requested or 'auto'} fell back to the offline engine "
                f"{engine} because {reason}."
            )
        if requested and requested != engine:
            return f"Slot {slot}: engine {requested} chose {engine}."
        return f"Slot {slot}: engine {engine} ran."
