"""Unit conversion against hand-computed numbers."""

from __future__ import annotations

import numpy as np
import pytest

from discover.data import DataError, convert
from discover.data.units import canonical_unit, to_standard


def test_cfs_to_mm_per_day_with_area():
    # 100 ft3/s over 250 km2: 100 * 0.028316846592 m3/s * 86400 s * 1000 mm/m / 250e6 m2
    expected = 100 * 0.028316846592 * 86400 * 1000 / 250e6  # = 0.97863... mm/day
    assert convert(np.array([100.0]), "cfs", "mm/day", area_km2=250.0)[0] == pytest.approx(expected)
    assert expected == pytest.approx(0.9786302)


def test_m3s_and_ls_to_mm_per_day():
    # 1 m3/s over 86.4 km2 is exactly 1 mm/day; 1000 l/s is 1 m3/s
    assert convert(np.array([1.0]), "m3/s", "mm/d", area_km2=86.4)[0] == pytest.approx(1.0)
    assert convert(np.array([1000.0]), "l/s", "mm/day", area_km2=86.4)[0] == pytest.approx(1.0)
    # Fulda first day: 143 m3/s over 2976.41 km2
    got = convert(np.array([143.0]), "m³/s", "mm/day", area_km2=2976.41)[0]
    assert got == pytest.approx(143 * 86.4 / 2976.41)


def test_area_per_site_broadcasts_over_time():
    values = np.array([[1.0, 1.0], [2.0, 2.0]])  # [time, site]
    got = convert(values, "m3/s", "mm/day", area_km2=np.array([86.4, 43.2]))
    np.testing.assert_allclose(got, [[1.0, 2.0], [2.0, 4.0]])


def test_temperature_area_and_length():
    np.testing.assert_allclose(convert(np.array([273.15, 283.15]), "K", "degC"), [0.0, 10.0])
    np.testing.assert_allclose(convert(np.array([32.0, 212.0]), "degF", "C"), [0.0, 100.0])
    assert convert(np.array([2.97641e9]), "m2", "km2")[0] == pytest.approx(2976.41)
    assert convert(np.array([1000.0]), "ft", "m")[0] == pytest.approx(304.8)


def test_to_standard_uses_the_container_unit():
    values, unit = to_standard("temperature", np.array([300.0]), "K")
    assert unit == "degC" and values[0] == pytest.approx(26.85)
    values, unit = to_standard("swe", np.array([3.0]), "mm")  # not a standard name: unchanged
    assert unit == "mm" and values[0] == 3.0
    assert canonical_unit("cfs") == "ft3/s" and canonical_unit("mm d-1") == "mm/day"


def test_conversion_errors_name_the_variable():
    with pytest.raises(DataError, match="needs the basin area") as info:
        to_standard("streamflow", np.array([1.0]), "ft3/s")
    assert info.value.variable == "streamflow"
    with pytest.raises(DataError, match="area must be positive"):
        convert(np.array([1.0]), "m3/s", "mm/day", area_km2=0.0)
    with pytest.raises(DataError, match="cannot convert"):
        convert(np.array([1.0]), "K", "mm/day")
    with pytest.raises(DataError, match="no conversion from unit 'furlong'"):
        convert(np.array([1.0]), "furlong", "m")
