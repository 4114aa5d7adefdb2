"""Reference data indexed for per-record look-ups: a grid of zones, projected routes and minute-memoised schedules.

Built once per ReferenceData (the engine rebuilds it when the reference is swapped); every answer is a pure
function of the reference data and the record, memoised only to save work, so results never depend on
which records came before.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from anomaly.geometry import PolygonXY, RouteXY
from telematics.geo import EARTH_RADIUS_M, haversine_m
from telematics.reference import Fleet, ReferenceData, Site, Trip, Zone

GRID_DEG: Final = 0.01
"""Grid cell size in degrees (about 1.1 km north-south)."""
ZONE_REACH_M: Final = 1200.0
"""A zone is looked at from this far away: the longest run-up ramming_risk needs to see."""
MINUTES_KEPT: Final = 240
"""Minutes of answers a local-time rule keeps (four hours: the spread of event times among a fleet's records,
late ones included); memory stays bounded by the rules, not by the length of the day."""


class MinuteRule:
    """A local-time rule (a zone's active hours, a fleet's operating hours) with its answers memoised by the minute:
    every rule is minute-resolution. It keeps MINUTES_KEPT answers at most, starting afresh when full."""

    __slots__ = ("_answers", "_rule", "always")

    def __init__(self, always: bool, rule: Callable[[int], bool]) -> None:
        self.always = always
        """The rule holds at every time (no need to ask it)."""
        self._rule = rule
        self._answers: dict[int, bool] = {}

    def at(self, ts_ms: int) -> bool:
        if self.always:
            return True
        minute = ts_ms // 60_000
        answers = self._answers
        value = answers.get(minute)
        if value is None:
            if len(answers) >= MINUTES_KEPT:
                answers = self._answers = {}
            value = answers[minute] = self._rule(ts_ms)
        return value


@dataclass(frozen=True, eq=False)
class ZoneShape:
    zone: Zone
    polygon: PolygonXY
    active: MinuteRule
    """When the zone is in force."""
    max_depth_m: float = math.inf
    """The deepest a point can be inside the zone (the radius of its largest inscribed circle): a pedestrian street
    20 m wide is never more than 10 m deep, however sure a fix is."""

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        return self.zone.frame.to_xy(lat, lon)


@dataclass(eq=False)
class TripShape:
    trip: Trip
    route: RouteXY
    crosses_zone: dict[str, bool] = field(default_factory=dict)

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        return self.trip.frame.to_xy(lat, lon)


MAX_ZONE_VERTICES: Final = 2_000
"""Every record near a zone costs time in proportion to its outline's vertices: a zone drawn with more is simplified
for the detector (the web site refuses such zones; a bundle or a reference directory may still hold one)."""
SIMPLIFY_TOLERANCES_M: Final = (0.5, 1.0, 2.0, 3.0, 5.0)
"""Simplification stays within these distances of the drawn outline: below the error of the fixes it is tested
against (2-5 m under open sky, more in a city)."""


def _zone_shape(zone: Zone) -> ZoneShape:
    points = _bounded_outline([zone.frame.to_xy(lat, lon) for lon, lat in zone.ring])
    return ZoneShape(zone, PolygonXY(points), MinuteRule(zone.active.always, zone.active_at), _max_depth_m(points))


def _bounded_outline(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The outline with at most MAX_ZONE_VERTICES, simplified by the smallest tolerance that gets there (else 5 m)."""
    if len(points) <= MAX_ZONE_VERTICES:
        return points
    from shapely import Polygon

    polygon = Polygon(points)
    simpler = points
    for tolerance in SIMPLIFY_TOLERANCES_M:
        simplified = polygon.simplify(tolerance, preserve_topology=True)
        if simplified.is_empty or simplified.geom_type != "Polygon":
            break
        simpler = [(float(x), float(y)) for x, y in simplified.exterior.coords[:-1]]
        if len(simpler) <= MAX_ZONE_VERTICES:
            break
    return simpler


def _max_depth_m(points: list[tuple[float, float]]) -> float:
    """The radius of the largest circle inside the outline (shapely's pole of inaccessibility, to 0.5 m)."""
    from shapely import Polygon
    from shapely.ops import polylabel

    polygon = Polygon(points)
    if not polygon.is_valid or polygon.area <= 0.0:
        return math.inf
    return float(polygon.exterior.distance(polylabel(polygon, tolerance=0.5)))


class ReferenceIndex:
    """Cheap look-ups over one ReferenceData."""

    def __init__(self, reference: ReferenceData) -> None:
        self.reference = reference
        self.zone_shapes = {zone.zone_id: _zone_shape(zone) for zone in reference.zones}
        self._grid: dict[int, tuple[ZoneShape, ...]] = {}
        cells: dict[int, list[ZoneShape]] = {}
        for shape in sorted(self.zone_shapes.values(), key=lambda s: s.zone.zone_id):
            min_lat, min_lon, max_lat, max_lon = shape.zone.bbox
            margin_lat = ZONE_REACH_M / 111_195.0
            margin_lon = margin_lat / max(0.1, math.cos(math.radians((min_lat + max_lat) / 2)))
            for i in range(_cell(min_lat - margin_lat), _cell(max_lat + margin_lat) + 1):
                for j in range(_cell(min_lon - margin_lon), _cell(max_lon + margin_lon) + 1):
                    cells.setdefault(_cell_key(i, j), []).append(shape)
        self._grid = {key: tuple(value) for key, value in cells.items()}
        self._trip_shapes: dict[int, TripShape] = {}
        self._trip_windows: dict[str, tuple[tuple[int, int, Trip], ...]] = {}
        self._zone_permits: dict[str, dict[str, dict[int, bool]]] = {}
        self._fleet_hours = {
            fleet_id: MinuteRule(fleet.operating_hours.always, fleet.operating_at)
            for fleet_id, fleet in reference.fleets.items()
        }

    def zones_near(self, lat: float, lon: float) -> tuple[ZoneShape, ...]:
        return self._grid.get(_cell_key(_cell(lat), _cell(lon)), ())

    def trip_windows(self, vehicle_id: str) -> tuple[tuple[int, int, Trip], ...]:
        """The vehicle's trips with their planned start and end (ms), read once per vehicle."""
        windows = self._trip_windows.get(vehicle_id)
        if windows is None:
            trips = self.reference.trips_by_vehicle.get(vehicle_id) or []
            windows = tuple((t.planned_start_ms, t.planned_end_ms, t) for t in trips)
            self._trip_windows[vehicle_id] = windows
        return windows

    def trip_shape(self, trip: Trip) -> TripShape:
        shape = self._trip_shapes.get(id(trip))
        if shape is None or shape.trip is not trip:
            shape = self._trip_shapes[id(trip)] = TripShape(trip, RouteXY(trip.route, trip.frame))
        return shape

    def route_crosses(self, trip_shape: TripShape, zone_shape: ZoneShape) -> bool:
        """Whether the planned route passes through (or within 30 m of) the zone."""
        zone_id = zone_shape.zone.zone_id
        known = trip_shape.crosses_zone.get(zone_id)
        if known is None:
            frame = trip_shape.trip.frame
            ring = [frame.to_xy(lat, lon) for lon, lat in zone_shape.zone.ring]
            known = trip_shape.crosses_zone[zone_id] = trip_shape.route.crosses(PolygonXY(ring), margin_m=30.0)
        return known

    def site_at(self, fleet_id: str, lat: float, lon: float, slack_m: float = 0.0) -> Site | None:
        for site in self.reference.sites_by_fleet.get(fleet_id, ()):
            if within_m(site.lat, site.lon, lat, lon, site.radius_m + slack_m):
                return site
        return None

    # -- local-time rules, memoised by the minute (every rule is minute-resolution) --------------------------
    def zone_permits(self, zone: Zone, category: str | None, ts_ms: int) -> bool:
        if category is None or category not in zone.access.categories_allowed:
            return False
        by_category = self._zone_permits.get(zone.zone_id)
        if by_category is None:
            by_category = self._zone_permits[zone.zone_id] = {}
        table = _minute_table(by_category, category)
        minute = ts_ms // 60_000
        value = table.get(minute)
        if value is None:
            value = table[minute] = zone.permits(category, ts_ms)
        return value

    def fleet_hours(self, fleet: Fleet) -> MinuteRule:
        """The fleet's operating hours, memoised by the minute (by fleet id, as the zones' rules are by zone id)."""
        hours = self._fleet_hours.get(fleet.fleet_id)
        if hours is None:
            hours = self._fleet_hours[fleet.fleet_id] = MinuteRule(fleet.operating_hours.always, fleet.operating_at)
        return hours


def _minute_table(tables: dict[str, dict[int, bool]], key: str) -> dict[int, bool]:
    """One rule's answers by the minute, started afresh once it holds MINUTES_KEPT of them."""
    table = tables.get(key)
    if table is None or len(table) >= MINUTES_KEPT:
        table = tables[key] = {}
    return table


_METRES_PER_DEGREE: Final = EARTH_RADIUS_M * math.pi / 180.0


def within_m(lat1: float, lon1: float, lat2: float, lon2: float, metres: float) -> bool:
    """haversine_m(lat1, lon1, lat2, lon2) <= metres, without the great circle when the two latitudes alone are
    farther apart: the arc between two points is never shorter than the arc between their parallels (1 m covers the
    rounding of both), so the answer is the same."""
    if abs(lat2 - lat1) * _METRES_PER_DEGREE > metres + 1.0:
        return False
    return haversine_m(lat1, lon1, lat2, lon2) <= metres


def _cell(degrees: float) -> int:
    return math.floor(degrees / GRID_DEG)


_CELLS_PER_ROW: Final = 1 << 16
"""Cell (i, j) of the grid is keyed i * _CELLS_PER_ROW + j (an int hashes faster than a tuple); |j| <= 18,000."""


def _cell_key(i: int, j: int) -> int:
    return i * _CELLS_PER_ROW + j
