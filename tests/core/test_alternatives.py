"""Several front candidates reinserted side by side as variants of their own."""

import json

import numpy as np
import pytest

from discover.stages.pipeline import reinsert_variant
from discover.stages.reinsert import alternatives
from discover.study import Study


@pytest.mark.slow  # a whole run with two alternatives trained (about a minute)
def test_alternative_candidates_become_variants_beside_the_selected_one(lv_case, tmp_path):
    config, write = lv_case
    config["reinsert"]["alternatives"] = 1
    out = tmp_path / "run"
    study = Study.from_config(write(config), out=out)
    study.run(progress=False)
    metrics = json.loads((out / "metrics.json").read_text())
    extra = sorted(v for v in metrics if v.startswith("symbolic:"))
    expected = [
        f"symbolic:{s}:{alternatives(study.fronts[s], 1)[0].complexity}" for s in ("F", "G")
    ]
    assert extra == sorted(expected)
    equations = json.loads((out / "equations.json").read_text())
    for name in extra:
        _, slot, complexity = name.split(":")
        assert int(complexity) != equations[slot]["selected"]["complexity"]
        assert int(complexity) in [c["complexity"] for c in equations[slot]["pareto"]]
        kinds = {s: p.kind for s, p in study.variants.slots[name].items()}
        assert kinds[slot] == "symbolic" and list(kinds.values()).count("neural") == 1


def test_reinserting_a_variant_puts_the_model_back(lv_case):
    config, write = lv_case
    study = Study.from_config(write(config))
    study.fit(progress=False)
    before = study.workflow.simulate().detach().numpy()
    front = study.distill("F")
    other = next(c for c in front if c is not front.selected)
    name = reinsert_variant(study, "F", other)
    assert name == f"symbolic:F:{other.complexity}"
    assert study.model.slots["F"].kind == "neural"
    np.testing.assert_array_equal(study.workflow.simulate().detach().numpy(), before)
    assert not np.allclose(study.simulations[name], before)
