"""Positions as rangers read them out: degrees-minutes, decimal, UTM, MGRS."""

from __future__ import annotations

import pytest
from pyproj import Transformer

from processing.review.coords import format_dm, format_mgrs, format_utm, radio_position
from uav.errors import InvalidInputError


def test_degrees_and_minutes_with_hemispheres():
    assert format_dm(43.1020, 131.2400) == "43°06.120′N 131°14.400′E"
    assert format_dm(-33.5, -70.25) == "33°30.000′S 070°15.000′W"
    # 59.9999′ rounds into the next degree instead of printing 60.000′.
    assert format_dm(43.9999999, 131.0) == "44°00.000′N 131°00.000′E"


def test_utm_agrees_with_pyproj():
    lat, lon = 43.102136, 131.239446
    e, n = Transformer.from_crs(4326, 32652, always_xy=True).transform(lon, lat)
    assert format_utm(lat, lon) == f"52T {int(e)} {int(n)}"


@pytest.mark.parametrize("lat, lon, prefix", [
    (21.3069, -157.8583, "4Q FJ "),      # Honolulu: the 4QFJ of the MGRS textbook example
    (38.889484, -77.035278, "18S UJ "),  # Washington Monument, 18S UJ
    (46.842412, -91.993784, "15T WM "),  # the Brighton test site
])
def test_mgrs_100km_squares(lat, lon, prefix):
    m = format_mgrs(lat, lon)
    assert m.startswith(prefix), m
    # The digits are the UTM easting/northing within the 100 km square.
    zone_band, _, ee, nn = m.split()
    _, e, n = format_utm(lat, lon).split()
    assert ee == e[-5:] and nn == n[-5:]


def test_outside_utm_and_bad_input():
    p = radio_position(85.0, 10.0)
    assert p.utm is None and p.mgrs is None and p.dm.startswith("85°00.000′N")
    with pytest.raises(InvalidInputError, match="not a latitude/longitude: lat=95.0"):
        radio_position(95.0, 10.0)
