"""CAMELS-US and Caravan reached from a ``data`` config section (``load_hbv_dataset``):
gauge lists, PET, attribute selection and fill, and the errors naming the key."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from discover.config import ConfigError, DataConfig, parse_config
from discover.data import DataError
from discover.data.large_sample import read_gauge_ids
from discover.workflows.hbv_data import load_hbv_dataset
from tests.data.layouts import (
    CARAVAN_SITES,
    GAUGES,
    write_attributes,
    write_caravan,
    write_forcing,
    write_streamflow,
)

DAYS = pd.date_range("1990-01-01", periods=12, freq="D")


def _camels(root):
    for gauge in GAUGES:
        write_forcing(root / "camels", "daymet", "cida", gauge, DAYS)
        write_streamflow(root / "camels", gauge, DAYS, [100.0] * 12, ["A"] * 12)
    write_attributes(root / "camels", list(GAUGES))
    return root


def test_caravan_config_reads_gauges_pet_and_attributes(tmp_path):
    write_caravan(tmp_path / "Caravan", n=40)
    spec = DataConfig(source="caravan", path="Caravan", format="netcdf")
    ds = load_hbv_dataset(spec, tmp_path, 0)
    assert list(ds["site"].values) == sorted(CARAVAN_SITES)  # gauges: null, every file
    assert np.allclose(ds["pet"], 1.2) and "method" not in ds["pet"].attrs  # ERA5-Land's
    spec = DataConfig(
        source="caravan", path="Caravan", gauges=["lamah_212"], pet="hargreaves",
        attribute_names=["aridity", "latitude", "p_mean"],
    )  # fmt: skip
    ds = load_hbv_dataset(spec, tmp_path, 0)
    assert list(ds["site"].values) == ["lamah_212"]
    assert ds["pet"].attrs["method"] == "pyet.hargreaves" and not np.allclose(ds["pet"], 1.2)
    attributes = [n for n, v in ds.data_vars.items() if v.attrs["role"] == "attribute"]
    assert attributes == ["aridity", "latitude", "p_mean"]  # the order given
    assert {"precipitation", "temperature", "streamflow"} <= set(ds.data_vars)


def test_camels_us_gauge_file_pet_and_unknown_attribute(tmp_path):
    _camels(tmp_path)
    (tmp_path / "basins.txt").write_text("# the second gauge\n\n03015500  # HUC 03\n")
    spec = DataConfig(source="camels_us", path="camels", gauges="basins.txt")
    ds = load_hbv_dataset(spec, tmp_path, 0)
    assert list(ds["site"].values) == ["03015500"]
    assert ds["pet"].attrs["method"] == "pyet.oudin"  # CAMELS-US forcings hold no PET
    spec = DataConfig(source="camels_us", path="camels", attribute_names=["p_mean", "soil"])
    with pytest.raises(ConfigError, match=r"data.attribute_names: no attribute\(s\) \['soil'\]"):
        load_hbv_dataset(spec, tmp_path, 0)


def test_attribute_fill_uses_the_mean_of_the_other_sites(tmp_path):
    root = _camels(tmp_path)
    table = root / "camels" / "camels_attributes_v2.0" / "camels_clim.txt"
    table.write_text(table.read_text().replace("03015500;2.93", "03015500;"))
    spec = DataConfig(source="camels_us", path="camels", attribute_names=["p_mean"])
    assert np.isnan(load_hbv_dataset(spec, tmp_path, 0)["p_mean"].values[1])
    spec = DataConfig(
        source="camels_us", path="camels", attribute_names=["p_mean"], attribute_fill="mean"
    )
    p_mean = load_hbv_dataset(spec, tmp_path, 0)["p_mean"]
    assert p_mean.values.tolist() == [3.13, 3.13] and p_mean.attrs["filled"] == 1
    table.write_text(table.read_text().replace("01013500;3.13", "01013500;"))
    with pytest.raises(DataError, match="no value at any site") as info:
        load_hbv_dataset(spec, tmp_path, 0)
    assert info.value.variable == "p_mean"


def test_gauge_list_file_errors(tmp_path):
    path = tmp_path / "ids.txt"
    with pytest.raises(DataError, match="not found"):
        read_gauge_ids(path)
    path.write_text("# nothing\n")
    with pytest.raises(DataError, match="names no gauge"):
        read_gauge_ids(path)
    path.write_text("01013500\n01013500\n")
    with pytest.raises(DataError, match=r"listed twice: \['01013500'\]"):
        read_gauge_ids(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{source: camels_us, path: c, gauges: [01013500]}", "must be quoted text"),
        ("{source: camels_us, path: c, gauges: []}", "names no gauge"),
        ("{source: caravan, path: c, gauges: ['a_1', 'a_1']}", r"listed twice: \['a_1'\]"),
        ("{source: camels_us}", "data.path is required"),
        ("{source: caravan, path: c, forcing: nldas}", "data.forcing applies to source camels_us"),
        ("{source: camels_us, path: c, format: netcdf}", "data.format applies to source caravan"),
        ("{source: netcdf, path: c, pet: oudin}", "data.pet applies to source camels_us or"),
        ("{source: twin, gauges: ['1']}", "data.gauges applies"),
        ("{source: caravan, path: c, attributes: a}", "data.attributes applies to source table"),
    ],
)
def test_config_errors_name_the_key(data, message):
    raw = {"data": yaml.safe_load(data), "model": {"type": "hbv"}}
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)


def test_attribute_keys_need_an_hbv_model():
    ode = {"type": "ode", "states": ["x"], "equations": {"x": "-x"}}
    raw = {"data": {"path": "d.csv", "attribute_names": ["a"]}, "model": ode}
    with pytest.raises(ConfigError, match="data.attribute_names applies to .* hbv model only"):
        parse_config(raw)
