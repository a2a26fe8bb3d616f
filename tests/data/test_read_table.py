"""The one table reader: CSV or Parquet, names stripped, errors naming the file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from discover.data import DataError
from discover.data.table import read_attributes, read_table
from discover.workflows.ode_data import (
    forcing_names,
    forcings_array,
    read_ode_table,
    states_array,
)


def test_parquet_and_csv_read_alike_with_stripped_names(tmp_path):
    frame = pd.DataFrame({" t": [0.0, 1.0, 2.0], "x ": [1.0, 2.0, 4.0], "u": [3.0, 3.5, 4.0]})
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.to_parquet(tmp_path / "a.parquet")
    from_csv, from_parquet = read_table(tmp_path / "a.csv"), read_table(tmp_path / "a.parquet")
    assert list(from_parquet.columns) == ["t", "x", "u"]
    pd.testing.assert_frame_equal(from_csv, from_parquet)


def test_ode_table_from_parquet_has_the_csv_values(tmp_path):
    frame = pd.DataFrame({"t": [0.0, 1.0, 2.0], " x": [1.0, np.nan, 4.0], "u": [3.0, 3.5, 4.0]})
    frame.to_csv(tmp_path / "a.csv", index=False)
    frame.to_parquet(tmp_path / "a.parquet")
    csv, parquet = (read_ode_table(tmp_path / f"a.{k}", "t", ["x"]) for k in ("csv", "parquet"))
    np.testing.assert_array_equal(states_array(parquet), states_array(csv))
    np.testing.assert_array_equal(forcings_array(parquet), forcings_array(csv))
    assert forcing_names(parquet) == ["u"]
    assert np.isnan(states_array(parquet)[1, 0, 0])


@pytest.mark.parametrize("name, content", [("bad.parquet", b"not parquet"), ("empty.csv", b"")])
def test_unreadable_file_is_a_data_error_naming_it(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=f"{name}: cannot read as"):
        read_table(tmp_path / name)
    with pytest.raises(DataError, match=f"{name}: cannot read as"):
        read_ode_table(tmp_path / name, "t", ["x"])


def test_missing_file_is_a_data_error_naming_it(tmp_path):
    for read in (read_table, read_attributes, lambda p: read_ode_table(p, "t", ["x"])):
        with pytest.raises(DataError, match="absent.csv: file not found"):
            read(tmp_path / "absent.csv")


def test_attribute_table_keeps_site_ids_as_text(tmp_path):
    (tmp_path / "attributes.csv").write_text("site, area\n007,1.5\n")
    table = read_attributes(tmp_path / "attributes.csv")
    assert list(table.index) == ["007"] and list(table.columns) == ["area"]
