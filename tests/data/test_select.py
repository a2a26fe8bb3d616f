"""Selecting sites, periods and variables by name."""

from __future__ import annotations

import pytest

from discover.data import DataError, select_period, select_sites, split_period, variables


def test_variables_by_role(container):
    ds = container()
    assert variables(ds, "observation") == ["streamflow"]
    assert variables(ds, "attribute") == ["area", "latitude", "forest"]
    with pytest.raises(DataError, match="unknown role"):
        variables(ds, "state")


def test_select_sites(container):
    ds = container(n_sites=3)
    assert list(select_sites(ds, ["s2", "s0"])["site"].values) == ["s2", "s0"]
    with pytest.raises(DataError, match="unknown site id\\(s\\) \\['s9'\\]"):
        select_sites(ds, ["s0", "s9"])


def test_select_period_inclusive(container):
    ds = container(n_days=60)
    out = select_period(ds, "2001-01-10", "2001-01-19")
    assert out.sizes["time"] == 10
    assert select_period(ds, start="2001-02-01").sizes["time"] == 29
    with pytest.raises(DataError, match="outside the data"):
        select_period(ds, "1990-01-01", "1990-12-31")
    with pytest.raises(DataError, match="fewer than 2"):
        select_period(ds, "2001-01-10", "2001-01-10")
    with pytest.raises(DataError, match="after its end"):
        select_period(ds, "2001-01-10", "2001-01-01")


def test_split_period(container):
    before, after = split_period(container(n_days=60), "2001-02-01")
    assert (before.sizes["time"], after.sizes["time"]) == (31, 29)
    assert str(after["time"].values[0])[:10] == "2001-02-01"
    with pytest.raises(DataError, match="fewer than 2"):
        split_period(container(n_days=60), "2001-01-02")
