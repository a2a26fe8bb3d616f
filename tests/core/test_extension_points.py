"""A new engine and a new selection rule, each added as docs/architecture.md shows (one
class and one registration line), are used by a study through its config."""

import pytest
import sympy

from discover.distill.engines.base import ENGINES, register
from discover.distill.pareto import ParetoFront
from discover.stages.select import SELECTION_RULES, Selection, register_selection_rule
from discover.study import Study


class MassAction:
    """Proposes each input and their product."""

    name = "mass_action"

    def available(self) -> tuple[bool, str]:
        return True, ""

    def search(self, X, y, names, options) -> list[sympy.Expr]:
        first, second = (sympy.Symbol(n, real=True) for n in names)
        return [first, second, first * second]


class Simplest:
    """The least complex candidate of the front."""

    def select(self, front, slot, context) -> Selection:
        metadata = {**front.metadata, "selection_rule": "the least complex candidate"}
        return Selection(ParetoFront(front.candidates, front.inputs, front.engine, 0, metadata))


@pytest.fixture
def registered():
    register("mass_action")(MassAction)
    register_selection_rule("simplest", Simplest())
    yield
    ENGINES.pop("mass_action")
    SELECTION_RULES.pop("simplest")


def test_a_registered_engine_and_selection_rule_run_in_a_study(registered, lv_case):
    config, write = lv_case
    config["distill"].update(engine="mass_action", selection="simplest", options={})
    study = Study.from_config(write(config))
    study.fit(progress=False)
    front = study.distill("F")
    assert front.engine == "mass_action"
    assert front.metadata["selection_rule"] == "the least complex candidate"
    assert front.selected_index == 0
    assert front.selected.complexity == min(c.complexity for c in front.candidates)
    x, y = sympy.symbols("x y", real=True)
    forms = {sympy.simplify(c.expression / c.expression.subs({x: 1, y: 1})) for c in front}
    assert x * y in forms  # the engine's product, its constant refitted
