"""Geometry on the WGS 84 ellipsoid's small scale: distances, bearings and a local metric frame for shapely."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

EARTH_RADIUS_M: Final = 6_371_008.8
_RADIANS: Final = math.pi / 180.0
_DEGREES: Final = 180.0 / math.pi
"""The factors math.radians and math.degrees multiply by (the same bits): compiled, a product needs no call."""


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = lat1 * _RADIANS, lat2 * _RADIANS
    dp, dl = p2 - p1, (lon2 - lon1) * _RADIANS
    # math.pow, not **: the same C pow() and the same bits, but compiled it is a native call, ** a boxed one.
    a = math.pow(math.sin(dp / 2), 2.0) + math.cos(p1) * math.cos(p2) * math.pow(math.sin(dl / 2), 2.0)
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial course from the first point to the second, 0-360, 0 = north."""
    p1, p2 = lat1 * _RADIANS, lat2 * _RADIANS
    dl = (lon2 - lon1) * _RADIANS
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.atan2(x, y) * _DEGREES + 360.0) % 360.0


def destination(lat: float, lon: float, course_deg: float, distance_m: float) -> tuple[float, float]:
    """The point reached from (lat, lon) after distance_m on the given course (small distances)."""
    frame = LocalFrame(lat, lon)
    rad = math.radians(course_deg)
    return frame.to_latlon(distance_m * math.sin(rad), distance_m * math.cos(rad))


@dataclass(frozen=True, slots=True)
class LocalFrame:
    """An equirectangular frame in metres around an origin; accurate to well under 1 % within tens of km."""

    origin_lat: float
    origin_lon: float
    _mx: float = field(init=False, repr=False, compare=False)
    """Metres per degree of longitude at the origin."""
    _my: float = field(init=False, repr=False, compare=False)
    """Metres per degree of latitude."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_my", math.radians(1) * EARTH_RADIUS_M)
        object.__setattr__(self, "_mx", self._my * math.cos(math.radians(self.origin_lat)))

    def to_xy(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self.origin_lon) * self._mx, (lat - self.origin_lat) * self._my

    def to_latlon(self, x: float, y: float) -> tuple[float, float]:
        return self.origin_lat + y / self._my, self.origin_lon + x / self._mx
