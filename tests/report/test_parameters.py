"""The report's trained parameters: the table, the bounds that bind, and the textbook
process evaluated at the textbook variant's trained values."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from discover.report.context import Context
from discover.report.parameter_section import parameters
from discover.report.rundir import RunDirectory
from discover.report.textbook import textbook_process

HBV = {"type": "hbv"}


def run_with(table: pd.DataFrame | None, tmp_path: Path) -> Context:
    model = {**HBV, "neural": {"evapotranspiration": {"inputs": ["pet", "soil_wetness"]}}}
    run = RunDirectory(path=tmp_path, config={"model": model}, metrics={}, parameters=table)
    return Context(run, tmp_path / "figures")


def table() -> pd.DataFrame:
    rows = [
        (variant, f"s{site}", name, index, value, unit)
        for variant, lp, k2 in (("physics", 0.4, 0.001), ("neural", 0.7, 0.05))
        for site in range(3)
        for index in range(2)
        for name, value, unit in (("lp", lp + 0.01 * site, "-"), ("k2", k2, "1/day"))
    ]
    return pd.DataFrame(rows, columns=["variant", "site", "parameter", "set", "value", "unit"])


def test_parameter_table_gives_medians_and_ranges_and_names_binding_bounds(tmp_path):
    section = parameters(run_with(table(), tmp_path))
    assert section is not None and section.title == "Model parameters"
    grid = section.blocks[1]
    assert grid.header == ("parameter", "unit", "bounds", "physics", "neural")
    lp = next(row for row in grid.rows if row[0] == "lp")
    assert lp[2] == "[0.2, 1]" and lp[3] == "0.41 [0.4, 0.42]"
    binding = section.blocks[2].text
    assert "physics k2 (lower)" in binding and "neural" not in binding


def test_no_parameter_section_without_parameters(tmp_path):
    assert parameters(run_with(None, tmp_path)) is None


def test_textbook_uses_the_trained_value_where_known_else_mid_range(tmp_path):
    context = run_with(table(), tmp_path)
    assert context.textbook_values()["lp"] == pytest.approx(0.41)
    trained = context.textbook("evapotranspiration")
    assert trained is not None and trained.parameters == {"lp": pytest.approx(0.41)}
    assert "trained values" in trained.note
    wet = {"pet": np.array([2.0]), "soil_wetness": np.array([0.205])}
    assert np.allclose(trained(wet), 1.0, atol=0.05)  # half of 2 mm/day at SW = lp/2
    mid = textbook_process(HBV, "evapotranspiration", ["pet", "soil_wetness"])
    assert mid is not None and mid.parameters == {"lp": 0.6} and "middle" in mid.note
