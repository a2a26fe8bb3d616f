"""Stated hypotheses (config ``hypotheses:``) as symbolic processes ready for a model slot."""

from __future__ import annotations

import difflib
import logging

from discover.config import ConfigError, HypothesisConfig
from discover.expressions import ExpressionError, expression_names
from discover.models.base import HybridModel
from discover.processes import Symbolic

log = logging.getLogger("discover")


def hypothesis_process(name: str, hypothesis: HypothesisConfig, model: HybridModel) -> Symbolic:
    """The process that hypothesis ``name`` states for its slot of ``model``.

    The expression's names that the slot can see are its inputs; every other name is a
    free constant, trainable, starting from ``hypothesis.constants`` (default 1.0).
    Numbers in the expression are fixed. The output range is the slot's current one.

    Raises:
        ConfigError: unknown slot, unparsable or unsafe expression, a constant named like
            one of the slot's inputs (a likely typo), or a declared constant the
            expression does not use; the message names ``hypotheses.<name>``.
    """
    key = f"hypotheses.{name}"
    if hypothesis.slot not in model.available_inputs:
        raise ConfigError(
            f"{key}.slot: unknown slot {hypothesis.slot!r}; this model has "
            f"{sorted(model.available_inputs)}"
        )
    allowed = model.available_inputs[hypothesis.slot]
    try:
        used = expression_names(hypothesis.expression)
    except ExpressionError as err:
        raise ConfigError(f"{key}.expression: {err}") from None
    free = sorted(used - set(allowed))
    for constant in free:
        close = difflib.get_close_matches(constant, allowed, n=1, cutoff=0.8)
        if close and constant not in hypothesis.constants:
            raise ConfigError(
                f"{key}.expression: {constant!r} is not an input of slot {hypothesis.slot!r}; "
                f"did you mean {close[0]!r}? (declare it under constants if it is a constant)"
            )
    unused = sorted(set(hypothesis.constants) - used)
    if unused:
        raise ConfigError(f"{key}.constants: {unused} do not appear in the expression")
    inputs = [i for i in allowed if i in used]
    constants = {c: float(hypothesis.constants.get(c, 1.0)) for c in free}
    current = model.slots[hypothesis.slot] if hypothesis.slot in model.slots else None
    try:
        process = Symbolic(
            hypothesis.expression,
            inputs,
            parameters=constants,
            output_range=current.output_range if current is not None else None,
            fixed_numbers=True,
        )
    except (ExpressionError, ValueError) as err:
        raise ConfigError(f"{key}.expression: {err}") from None
    if free:
        log.info("%s: free constants %s, fitted with the model", name, ", ".join(free))
    return process
