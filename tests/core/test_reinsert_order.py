"""Order of distillation and reinsertion over several slots, and BIC re-selection that keeps
a candidate's constants when its refit does not help."""

import pytest
import sympy
import torch

from discover.distill import Candidate
from discover.stages.select import refitted_loss
from discover.study import Study


def test_refit_all_distills_one_slot_at_a_time(lv_case, tmp_path, monkeypatch):
    config, write = lv_case
    config["reinsert"]["refit"] = "all"
    study = Study.from_config(write(config), out=tmp_path / "run")
    seen = {}
    distill = Study.distill

    def spy(self, slot, *args, **kwargs):
        seen[slot] = dict(self.model.slot_kinds())
        return distill(self, slot, *args, **kwargs)

    monkeypatch.setattr(Study, "distill", spy)
    study.run(progress=False)
    assert seen == {"F": {"F": "neural", "G": "neural"}, "G": {"F": "symbolic", "G": "neural"}}
    assert study.model.slot_kinds() == {"F": "symbolic", "G": "symbolic"}
    assert set(study.simulations) == {"neural", "symbolic"}


def test_selection_refit_that_does_not_help_keeps_the_constants(lv_case, monkeypatch):
    config, write = lv_case
    study = Study.from_config(write(config))
    x, y = sympy.symbols("x y", real=True)
    process = study.reinsert("F", Candidate(0.5 * x * y, 5, 0.0, "test"), refit=False)
    with torch.no_grad():
        before = float(study.workflow.loss("train"))
    constants = process.module.constants.detach().clone()

    def wander_off(optimiser, loss):  # a refit that ends far worse than it started
        with torch.no_grad():
            for group in optimiser.param_groups:
                for parameter in group["params"]:
                    parameter.fill_(50.0)

    monkeypatch.setattr("discover.stages.in_model.lbfgs_step", wander_off)
    parameters = list(process.parameters())
    assert refitted_loss(study.workflow, parameters, steps=5) == pytest.approx(before)
    torch.testing.assert_close(process.module.constants.detach(), constants)


def test_selection_refit_of_the_whole_model_puts_the_other_slots_back(lv_case):
    config, write = lv_case
    config["distill"].update(selection={"rule": "bic", "refit": "all", "refit_steps": 3})
    study = Study.from_config(write(config))
    study.fit(progress=False)
    others = {k: v.detach().clone() for k, v in study.workflow.state_dict().items()}
    front = study.distill("F")
    assert len(front.metadata["bic"]) == len(front)
    after = study.workflow.state_dict()
    assert set(after) == set(others)
    for key, value in others.items():
        torch.testing.assert_close(after[key], value, rtol=0, atol=0, msg=key)
