"""An ODE table read into the dataset container that HBV models read too: dims (time,
site), one variable per state (observation) and per forcing, the source in attrs."""

from __future__ import annotations

import numpy as np
import pytest

from discover.data import DataError
from discover.workflows.ode_data import (
    forcing_names,
    forcings_array,
    read_ode_table,
    split_index,
    state_names,
    states_array,
)

TABLE = """run,t,x,u,w
a,0,1.0,0.5,7
a,1,,0.6,7
a,2,3.0,0.7,7
b,0,4.0,1.5,8
b,1,5.0,1.6,8
b,2,6.0,1.7,8
"""


def _read(tmp_path, text=TABLE, states=("y", "x"), site="run"):
    (tmp_path / "d.csv").write_text(text)
    return read_ode_table(tmp_path / "d.csv", "t", list(states), site)


def test_table_becomes_a_time_by_site_dataset_with_roles(tmp_path):
    data = _read(tmp_path)
    assert dict(data.sizes) == {"time": 3, "site": 2}
    np.testing.assert_array_equal(data["time"], [0.0, 1.0, 2.0])
    assert list(data["site"].to_numpy()) == ["a", "b"]
    assert {n: v.attrs["role"] for n, v in data.data_vars.items()} == {
        "y": "observation",
        "x": "observation",
        "u": "forcing",
        "w": "forcing",
    }
    assert data.attrs["source"].endswith("d.csv")
    # states in the model's order (y has no column: all NaN), forcings in column order
    assert state_names(data) == ["y", "x"] and forcing_names(data) == ["u", "w"]
    states, forcings = states_array(data), forcings_array(data)
    assert states.shape == (3, 2, 2) and forcings.shape == (3, 2, 2)
    assert np.isnan(states[..., 0]).all()
    np.testing.assert_array_equal(states[:, 1, 1], [4.0, 5.0, 6.0])
    assert np.isnan(states[1, 0, 1])
    np.testing.assert_array_equal(forcings[:, 0, 0], [0.5, 0.6, 0.7])


def test_no_forcing_gives_an_empty_forcing_axis(tmp_path):
    data = _read(tmp_path, "t,x\n0,1\n1,2\n2,3\n", states=("x",), site=None)
    assert forcing_names(data) == [] and forcings_array(data).shape == (3, 1, 0)
    assert list(data["site"].to_numpy()) == ["0"]


def test_a_column_named_like_a_coordinate_is_refused(tmp_path):
    with pytest.raises(DataError, match="'site' of .*d.csv has the name of a dataset coordinate"):
        _read(tmp_path, "t,x,site\n0,1,5\n1,2,5\n2,3,5\n", states=("x",), site=None)


def test_split_index_counts_training_steps_and_refuses_empty_parts(tmp_path):
    data = _read(tmp_path, "t,x\n0,1\n1,2\n2,3\n3,\n", states=("x",), site=None)
    assert split_index(data, 0.5) == 2
    with pytest.raises(DataError, match="leaves no validation data after time 2.0 in .*d.csv"):
        split_index(data, 0.75)
    with pytest.raises(DataError, match="leaves 0 time step"):
        split_index(data, 0.1)
