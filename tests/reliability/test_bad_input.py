"""Bad data and bad configs fail at once with exit code 2, a message naming the place,
and no results that could pass for a finished run."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from discover.cli import main


def _with_forcing(config: dict, table: pd.DataFrame) -> pd.DataFrame:
    """Add a forcing ``u`` used (with weight 0) in the equation of ``x``."""
    config["model"]["equations"]["x"] = "alpha*x - F(x, y) + 0*u"
    return table.assign(u=1.0)


def _nan_forcing(config, table):
    table = _with_forcing(config, table)
    table.loc[7, "u"] = np.nan
    return table, ["'u'", "t=0.7", "data.csv"]


def _inf_forcing(config, table):
    table = _with_forcing(config, table)
    table.loc[4, "u"] = np.inf
    return table, ["'u'", "t=0.4", "data.csv"]


def _inf_observation(config, table):
    table.loc[12, "y"] = -np.inf
    return table, ["'y'", "t=1.2", "data.csv"]


def _duplicate_time(config, table):
    table.loc[5, "t"] = table.loc[4, "t"]
    return table, ["duplicate time 0.4", "data.csv"]


def _unsorted_time(config, table):
    table.loc[[5, 6], "t"] = table.loc[[6, 5], "t"].to_numpy()
    return table, ["not increasing at 0.5", "data.csv"]


def _one_row(config, table):
    return table.iloc[:1], ["1 row", "data.csv"]


def _header_only(config, table):
    return table.iloc[:0], ["0 row", "data.csv"]


def _no_validation_observations(config, table):
    # the split keeps the last 3 times for validation; none of them is observed
    table.loc[table.index[-3:], ["x", "y"]] = np.nan
    return table, ["no validation data", "data.csv"]


@pytest.mark.parametrize(
    "spoil",
    [
        _nan_forcing,
        _inf_forcing,
        _inf_observation,
        _duplicate_time,
        _unsorted_time,
        _one_row,
        _header_only,
        _no_validation_observations,
    ],
)
def test_bad_data_is_refused_with_the_place_named(lv_case, tmp_path, capsys, spoil):
    config, write = lv_case
    table, expected = spoil(config, pd.read_csv(tmp_path / "data.csv"))
    table.to_csv(tmp_path / "data.csv", index=False)
    path = write(config)
    assert main(["check", str(path)]) == 2
    message = capsys.readouterr().err
    for part in expected:
        assert part in message, (part, message)
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 2
    assert not (out / "metrics.json").exists() and not (out / "equations.json").exists()


def test_a_good_forcing_column_is_accepted(lv_case, tmp_path, capsys):
    """The forcing cases above fail for their bad value, not for the forcing itself."""
    config, write = lv_case
    table = _with_forcing(config, pd.read_csv(tmp_path / "data.csv"))
    table.to_csv(tmp_path / "data.csv", index=False)
    assert main(["check", str(write(config))]) == 0


@pytest.mark.parametrize(
    "equation",
    [
        "__import__('pathlib').Path('{marker}').touch() + x",
        "x.__class__.__base__.__subclasses__() and open('{marker}', 'w')",
        "(lambda: open('{marker}', 'w'))() + x",
        "exec(\"open('{marker}', 'w')\") + x",
    ],
)
def test_equations_that_would_run_code_are_refused_without_running_it(
    lv_case, tmp_path, capsys, equation
):
    config, write = lv_case
    marker = tmp_path / "marker"
    config["model"]["equations"]["x"] = equation.format(marker=marker)
    assert main(["check", str(write(config))]) == 2
    assert "model.equations.x" in capsys.readouterr().err
    assert not marker.exists()


def test_deeply_nested_equation_is_refused_quickly(lv_case, capsys):
    config, write = lv_case
    config["model"]["equations"]["y"] = "(" * 10_000 + "y" + ")" * 10_000
    assert main(["check", str(write(config))]) == 2
    assert "model.equations.y" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda c: c["train"].update(iterations="many"), "train.iterations"),
        (lambda c: c["train"].update(learning_rate=0.1), "train.learning_rate"),
        (lambda c: c["distill"].update(time_budget_s=-1), "distill.time_budget_s"),
        (lambda c: c["model"]["neural"]["G"].update(output="big"), "model.neural.G.output"),
    ],
)
def test_bad_config_values_name_their_key(lv_case, capsys, change, key):
    config, write = lv_case
    change(config)
    assert main(["check", str(write(config))]) == 2
    assert key in capsys.readouterr().err


def test_missing_data_file_is_named(lv_case, tmp_path, capsys):
    config, write = lv_case
    Path(tmp_path / "data.csv").unlink()
    assert main(["check", str(write(config))]) == 2
    assert "data.csv" in capsys.readouterr().err
