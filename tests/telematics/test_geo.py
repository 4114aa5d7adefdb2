"""telematics/geo.py multiplies by the factors of math.radians and math.degrees: the very same bits as calling them."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from telematics.geo import EARTH_RADIUS_M, bearing_deg, haversine_m

latitudes = st.floats(-90, 90)
longitudes = st.floats(-180, 180)


@given(latitudes, longitudes, latitudes, longitudes)
def test_distance_and_bearing_are_bit_for_bit_those_of_the_textbook_formulas(
    lat1: float, lon1: float, lat2: float, lon2: float
) -> None:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    assert haversine_m(lat1, lon1, lat2, lon2) == 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    assert bearing_deg(lat1, lon1, lat2, lon2) == (math.degrees(math.atan2(x, y)) + 360.0) % 360.0
