"""The textbook process of a learned slot, evaluated on the slot's inputs for the report.

Only HBV slots have a textbook process (:func:`discover.models.hbv_processes.textbook`).
Its inputs that the learned slot does not see are HBV parameters: each is set to the
median over sites of the ``physics`` variant's trained value (``parameters.csv``), or,
for a run directory without it, to the middle of its bounds
(:data:`discover.models.hbv_processes.HBV_BOUNDS`); the description says which.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from discover.models import hbv_processes


@dataclass(frozen=True)
class Textbook:
    """A slot's textbook process, ready to evaluate over the slot's inputs.

    Attributes:
        name: the textbook function's name, e.g. ``evapotranspiration``.
        formula: the formula in words, from its docstring.
        parameters: the parameter values it is evaluated with (name → value).
        note: how those values were chosen, for captions.
    """

    name: str
    formula: str
    parameters: dict[str, float]
    note: str
    function: Callable[[Mapping[str, np.ndarray]], np.ndarray]

    def __call__(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """Values ``[n]`` at ``values`` (input name → ``[n]``)."""
        return self.function(values)


def textbook_process(
    model: Mapping[str, Any],
    slot: str,
    inputs: Sequence[str],
    trained: Mapping[str, float] | None = None,
) -> Textbook | None:
    """The textbook process of ``slot`` in the model config ``model``, evaluable from
    ``inputs``, its parameters at ``trained`` values (the textbook variant's medians over
    sites) where given, else mid-range; ``None`` when the model type has none, or when it
    needs an input that is neither among ``inputs`` nor an HBV parameter."""
    if model.get("type") != "hbv" or slot not in hbv_processes.SLOT_INPUTS:
        return None
    physical = hbv_processes.textbook(slot, smooth=model.get("smooth"))
    needed = [name for name in physical.inputs if name not in inputs]
    if any(name not in hbv_processes.HBV_BOUNDS for name in needed):
        return None
    bounds = {name: hbv_processes.HBV_BOUNDS[name] for name in needed}
    trained = {name: v for name, v in (trained or {}).items() if name in bounds}
    parameters = {name: trained.get(name, (b.low + b.high) / 2) for name, b in bounds.items()}
    notes = [
        f"{name} = {value:.3g} (median over sites of the textbook model's trained values)"
        if name in trained
        else f"{name} = {value:.3g} (middle of its bounds [{bounds[name].low:g}, "
        f"{bounds[name].high:g}]: no trained value in the run directory)"
        for name, value in parameters.items()
    ]
    note = "; ".join(notes) if notes else "no parameter"

    def function(values: Mapping[str, np.ndarray]) -> np.ndarray:
        n = np.asarray(next(iter(values.values()))).shape
        args = [
            torch.as_tensor(
                np.array(np.broadcast_to(values.get(name, parameters.get(name)), n), dtype=float)
            )
            for name in physical.inputs
        ]
        with torch.no_grad():
            return physical.evaluate(args).numpy().astype(float)

    formula = re.search(r"``(.+?)``", getattr(physical.law, "__doc__", None) or "")
    return Textbook(
        physical.name, formula[1] if formula else physical.name, parameters, note, function
    )


def declared_units(model: Mapping[str, Any], name: str) -> str | None:
    """Units the model type declares for a slot, input or variable ``name`` (HBV only)."""
    if model.get("type") != "hbv":
        return None
    return hbv_processes.UNITS.get(name)
