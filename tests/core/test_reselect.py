"""The second look at each slot's selection once every slot holds its equation
(:mod:`discover.stages.reselect`): a term that only absorbed another slot's network error
goes, a term the data need stays. The planted workflow observes ``y = F(x) + G(x)``
directly, so each refit takes milliseconds."""

import json
from contextlib import contextmanager
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import sympy
import torch

from discover.config import DistillConfig
from discover.distill import Candidate, ParetoFront
from discover.distill.probe import ProbeSamples
from discover.fit.losses import masked_mse
from discover.models.base import HybridModel
from discover.processes.symbolic import Symbolic
from discover.rundir import RunWriter
from discover.stages import reselect
from discover.stages.in_model import form
from discover.stages.pipeline import distill_all, write_provenance
from discover.stages.reselect import RESELECTION_KEY, reselect_simpler, simpler_front
from discover.stages.select import SELECTION_RULES, Selection, SelectionContext, selection_rule
from discover.stages.timings import Timings
from discover.study import Study

X = sympy.Symbol("x", real=True)
F_LAW, F_WIGGLE = "0.5*x**2", "0.5*x**2 - 0.05*sin(3.0*x)"
G_LAW, G_NETWORK = "0.3*x", "0.3*x + 0.05*sin(3.0*x)"  # the network's error: the sine


class TwoSlots(torch.nn.Module):
    """``y(t) = F(x(t)) + G(x(t))`` observed at one site; the first 80 % for training."""

    def __init__(self, x: np.ndarray, y: np.ndarray, g: str):
        super().__init__()
        self.model = HybridModel({"F": ("x",), "G": ("x",)})
        self.model.set_slot("F", Symbolic("x", ("x",)))
        self.model.set_slot("G", Symbolic(g, ("x",)))
        self.model.slots["G"].requires_grad_(False)
        self.dtype, self.device = torch.float64, torch.device("cpu")
        self.x = torch.as_tensor(x, dtype=self.dtype)
        self.observed = np.asarray(y, float)[:, None, None]
        self.n_train = int(0.8 * len(x))

    def simulate(self) -> torch.Tensor:
        values = {"x": self.x}
        return (self.model.slots["F"](values) + self.model.slots["G"](values)).reshape(-1, 1, 1)

    def split_slices(self) -> dict[str, slice]:
        return {"train": slice(0, self.n_train), "test": slice(self.n_train, None)}

    def loss(self, split: str, generator=None) -> torch.Tensor:
        part = self.split_slices()[split]
        return masked_mse(self.simulate()[part], torch.as_tensor(self.observed[part]))


def _data(extra: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``x(t)`` over 200 times and ``y = 0.5x² + 0.3x + extra·sin(3x)`` with a little noise."""
    rng = np.random.default_rng(0)
    t = np.linspace(0.0, 10.0, 200)
    x = 1.5 + np.sin(t) + 0.5 * np.sin(2.3 * t + 1.0)
    y = 0.5 * x**2 + 0.3 * x + extra * np.sin(3 * x)
    return x, y + 1e-3 * rng.normal(size=t.size)


def _front(texts: list[str]) -> ParetoFront:
    candidates = [
        Candidate(sympy.sympify(e, locals={"x": X}), 5 + 6 * i, 0.1 / (i + 1))
        for i, e in enumerate(texts)
    ]
    return ParetoFront(candidates, ("x",), "test", 0)


def _study(x: np.ndarray, y: np.ndarray, g: str) -> SimpleNamespace:
    """F distilled with G still 'a network' (``g``); then G's law put in place."""
    settings = DistillConfig.model_validate({"selection": {"rule": "heldout"}})
    workflow = TwoSlots(x, y, g)
    samples = ProbeSamples(x[:, None], 0.5 * x**2, ("x",))
    context = SelectionContext(workflow, samples, settings, None)
    f_front = selection_rule("heldout").select(_front([F_LAW, F_WIGGLE]), "F", context).front
    workflow.model.set_slot("F", Symbolic(f_front.selected.expression, ("x",)))
    workflow.model.set_slot("G", Symbolic(G_LAW, ("x",)))
    config = SimpleNamespace(distill=settings, seed=0)
    fronts = {"F": f_front, "G": _front([G_LAW])}
    samples = {"F": samples, "G": ProbeSamples(x[:, None], 0.3 * x, ("x",))}
    return SimpleNamespace(
        config=config, fronts=fronts, samples=samples, workflow=workflow, timings=Timings()
    )


def test_a_term_that_absorbed_another_slots_error_goes():
    x, y = _data()
    study = _study(x, y, G_NETWORK)
    assert study.fronts["F"].selected.text() == F_WIGGLE  # the first look, G a network
    assert reselect_simpler(study, ["F", "G"], progress=False) == ["F"]
    front = study.fronts["F"]
    assert front.selected.text() == F_LAW
    assert str(study.workflow.model.slots["F"].expression(4)) == "0.5*x**2"
    record = front.metadata[RESELECTION_KEY]
    assert record["changed"] and record["before"]["expression"] == F_WIGGLE
    assert [row["expression"] for row in record["held_out"]] == [F_LAW, F_WIGGLE]


def test_a_term_the_data_need_stays():
    x, y = _data(extra=-0.05)  # the sine is in F's own law now
    study = _study(x, y, G_NETWORK)
    assert study.fronts["F"].selected.text() == F_WIGGLE
    assert reselect_simpler(study, ["F", "G"], progress=False) == []
    assert study.fronts["F"].selected.text() == F_WIGGLE
    assert not study.fronts["F"].metadata[RESELECTION_KEY]["changed"]


def test_the_other_slots_constants_are_refitted_with_each_candidate(monkeypatch):
    """G's equation is in place with its constant 7 % low, as distilled: held there, F
    needs an extra ``0.02*x`` to fit; refitted with F's candidates, G's constant takes the
    residue and F's law wins. Scoring against G's constants as they are keeps the extra
    term (the second look before it refitted the other equations)."""
    x, y = _data()
    extra = "0.5*x**2 + 0.02*x"

    def looked_again(refit_together: bool) -> str:
        study = _study(x, y, G_NETWORK)
        study.fronts["F"] = _front([F_LAW, extra])
        study.fronts["F"].selected_index = 1
        study.workflow.model.set_slot("F", Symbolic(extra, ("x",)))
        study.workflow.model.set_slot("G", Symbolic("0.28*x", ("x",)))
        if not refit_together:
            monkeypatch.setattr(reselect, "equations_refitted_together", _as_they_are)
        reselect.reselect_simpler(study, ["F", "G"], progress=False)
        g = study.workflow.model.slots["G"].expression(4)
        assert str(g) == "0.28*x"  # put back after each candidate's refit
        return study.fronts["F"].selected.text()

    assert looked_again(refit_together=True) == F_LAW
    assert looked_again(refit_together=False) == extra


@contextmanager
def _as_they_are(workflow, settings):
    yield settings


def test_only_the_equations_constants_are_refitted_together():
    x, y = _data()
    study = _study(x, y, G_NETWORK)
    network = torch.nn.Linear(1, 1)
    study.workflow.network = network  # something else the model trains
    with reselect.equations_refitted_together(study.workflow, study.config.distill) as settings:
        assert settings.selection.refit == "all"
        assert not any(p.requires_grad for p in network.parameters())
        assert all(p.requires_grad for p in study.workflow.model.slots["G"].parameters())
    assert all(p.requires_grad for p in network.parameters())
    assert study.config.distill.selection.refit == "constants"


def test_one_slot_is_not_looked_at_again():
    x, y = _data()
    study = _study(x, y, G_NETWORK)
    assert reselect_simpler(study, ["F"], progress=False) == []
    assert RESELECTION_KEY not in study.fronts["F"].metadata


def test_only_candidates_up_to_the_selected_size_are_scored_again():
    front = _front(["x", "0.5*x**2", "x**2 + sin(x)"])
    front.metadata["near_front"] = [
        {"expression": "0.4*x**2", "complexity": 7, "loss": 0.2},
        {"expression": "x**3", "complexity": 30, "loss": 0.01},
    ]
    front.selected_index = 1
    cut = simpler_front(front)
    assert [c.text() for c in cut] == ["x", "0.5*x**2"] and cut.selected.text() == "0.5*x**2"
    assert [e["expression"] for e in cut.metadata["near_front"]] == ["0.4*x**2"]


def test_a_twin_of_the_selected_form_keeps_the_selection():
    x, y = _data()
    study = _study(x, y, G_NETWORK)
    study.fronts["G"] = _front(["0.31*x"])  # the start the twin's refit beats
    twin = Candidate(sympy.sympify(G_LAW, locals={"x": X}), 5, 0.1)
    study.fronts["G"].metadata["near_front"] = [twin.to_dict()]
    before = study.fronts["G"].selected
    assert "G" not in reselect_simpler(study, ["F", "G"], progress=False)
    assert study.fronts["G"].selected is before
    assert not study.fronts["G"].metadata[RESELECTION_KEY]["changed"]


XY = sympy.symbols("x y", real=True)
FIRST_LOOK = {"F": 1, "G": 0}  # the first look's choice: F's extra term, G's law


class Simplest:
    """A rule that keeps the least complex candidate of the front (``trains_models`` when
    asked): which candidate wins is not what these tests are about."""

    def __init__(self, trains_models: bool = False):
        self.trains_models = trains_models

    def select(self, front: ParetoFront, slot: str, context: SelectionContext) -> Selection:
        simplest = min(range(len(front)), key=lambda i: front[i].complexity)
        return Selection(replace(front, selected_index=simplest))


def _planted_distill(self: Study, slot: str, progress: bool = False) -> ParetoFront:
    """``Study.distill`` without an engine: F's law and the law plus a term, G's law."""
    laws = {"F": ["0.9*x*y", "0.9*x*y + 0.05*x"], "G": ["0.8*x*y"]}[slot]
    x = np.random.default_rng(0).uniform(0.2, 5.0, size=(50, 2))
    self.samples[slot] = ProbeSamples(x, x[:, 0] * x[:, 1], ("x", "y"))
    candidates = [
        Candidate(sympy.sympify(e, locals=dict(zip("xy", XY, strict=True))), 5 + 4 * i, 0.1, "test")
        for i, e in enumerate(laws)
    ]
    self.fronts[slot] = ParetoFront(candidates, ("x", "y"), "test", FIRST_LOOK[slot])
    return self.fronts[slot]


def _distilled(lv_case, tmp_path, monkeypatch, rule: Simplest, refit: str | None) -> tuple:
    """The Lotka–Volterra study after ``distill_all`` with ``rule`` and ``reinsert.refit``
    (default when ``None``), slots distilled by :func:`_planted_distill`; and F's form at
    each refit of the model (``only``, form)."""
    config, write = lv_case
    monkeypatch.setitem(SELECTION_RULES, "simplest", rule)
    config["distill"]["selection"] = {"rule": "simplest"}
    if refit is not None:
        config["reinsert"]["refit"] = refit
    study = Study.from_config(write(config), out=tmp_path / "run")
    monkeypatch.setattr(Study, "distill", _planted_distill)
    refits, refit_model = [], Study.refit

    def spy(self: Study, only):
        refits.append((only, form(self.model.slots["F"].expression(6))))
        return refit_model(self, only)

    monkeypatch.setattr(Study, "refit", spy)
    writer = RunWriter(tmp_path / "run")
    distill_all(study, writer, progress=False)
    write_provenance(study, writer)
    return study, refits


def test_refit_all_looks_again_and_refits_a_changed_choice(lv_case, tmp_path, monkeypatch):
    study, refits = _distilled(lv_case, tmp_path, monkeypatch, Simplest(), "all")
    assert all(RESELECTION_KEY in study.fronts[slot].metadata for slot in ("F", "G"))
    assert study.fronts["F"].metadata[RESELECTION_KEY]["changed"]
    assert not study.fronts["G"].metadata[RESELECTION_KEY]["changed"]
    law = form(study.fronts["F"][0].expression)
    assert study.fronts["F"].selected.text() == "0.9*x*y"
    assert form(study.model.slots["F"].expression(6)) == law
    # one refit of the whole model after each reinsertion, one more after the change
    assert [only for only, _ in refits] == [None, None, None] and refits[-1][1] == law
    symbolic = study.variants.slots["symbolic"]["F"]  # recorded after that refit
    torch.testing.assert_close(symbolic.module.constants, study.model.slots["F"].module.constants)
    engines = json.loads((tmp_path / "run" / "provenance.json").read_text())["engines"]
    assert engines["F"][RESELECTION_KEY]["before"]["expression"] == "0.9*x*y + 0.05*x"


def test_a_rule_that_trains_models_is_not_looked_at_again(lv_case, tmp_path, monkeypatch):
    study, refits = _distilled(lv_case, tmp_path, monkeypatch, Simplest(trains_models=True), None)
    assert not any(RESELECTION_KEY in study.fronts[slot].metadata for slot in ("F", "G"))
    assert study.fronts["F"].selected.text() == "0.9*x*y + 0.05*x"
    assert len(refits) == 2  # each slot's constants after its reinsertion, nothing more
