"""Reference data of contract v1, section 6: fleets, vehicles, sites, planned trips and protected zones.

shapely (and the numpy it loads: some 17 MB and a tenth of a second) is imported where a shape is first built,
not with this module: the device listeners and a replay without zones never need it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from telematics.geo import LocalFrame, haversine_m
from telematics.schedule import WeeklySchedule, local_weekday_minute

if TYPE_CHECKING:
    from shapely import LineString, Polygon, STRtree

FLEET_KINDS = ("haulier", "rental")
VEHICLE_CATEGORIES = ("N1", "N2", "N3")


@dataclass(frozen=True, slots=True)
class Fleet:
    fleet_id: str
    name: str
    kind: str
    timezone: ZoneInfo
    operating_hours: WeeklySchedule

    def operating_at(self, ts_ms: int) -> bool:
        return self.operating_hours.contains_local(*local_weekday_minute(ts_ms, self.timezone))


@dataclass(frozen=True, slots=True)
class Vehicle:
    vehicle_id: str
    fleet_id: str
    category: str | None
    plate: str | None
    authorized_driver_cards: frozenset[str]
    device_ids: frozenset[str] = frozenset()
    """Identifiers its telematics units report with: a Teltonika IMEI, a Traccar uniqueId, an OsmAnd id."""


@dataclass(frozen=True, slots=True)
class Site:
    site_id: str
    fleet_id: str
    kind: str
    lat: float
    lon: float
    radius_m: float

    def contains(self, lat: float, lon: float) -> bool:
        return haversine_m(self.lat, self.lon, lat, lon) <= self.radius_m


@dataclass(frozen=True, slots=True)
class TripStop:
    lat: float
    lon: float
    radius_m: float
    planned_arrival_ms: int | None
    planned_departure_ms: int | None

    def contains(self, lat: float, lon: float) -> bool:
        return haversine_m(self.lat, self.lon, lat, lon) <= self.radius_m


@dataclass(frozen=True)
class Trip:
    trip_id: str
    vehicle_id: str
    driver_card_id: str | None
    planned_start_ms: int
    planned_end_ms: int
    corridor_m: float
    route: tuple[tuple[float, float], ...]
    """Route line as (lon, lat) pairs, as in the GeoJSON."""
    stops: tuple[TripStop, ...]
    frame: LocalFrame = field(init=False, repr=False)
    """A frame at the middle of the route's bounding box; over hundreds of km its scale drifts by some %."""
    _lat_span: tuple[float, float] = field(init=False, repr=False, compare=False)
    _segment_tree: STRtree | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lons = [lon for lon, _ in self.route]
        lats = [lat for _, lat in self.route]
        frame = LocalFrame((min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2)
        object.__setattr__(self, "frame", frame)
        object.__setattr__(self, "_lat_span", (min(lats), max(lats)))

    @cached_property
    def line_xy(self) -> LineString:
        """The route in the trip's frame as a prepared shapely line, built on first use: the detector measures
        routes with its own index (anomaly/geometry.py), and a prepared line per trip costs tens of kB."""
        import shapely

        line = shapely.LineString([self.frame.to_xy(lat, lon) for lon, lat in self.route])
        shapely.prepare(line)
        return line

    def covers(self, ts_ms: int, slack_ms: int = 0) -> bool:
        return self.planned_start_ms - slack_ms <= ts_ms <= self.planned_end_ms + slack_ms

    def distance_from_route_m(self, lat: float, lon: float) -> float:
        """Metres from the route line; within 1 % anywhere within tens of km of it, however long the route."""
        route = self.route
        if len(route) == 2:
            return _segment_distance_m(lat, lon, route[0], route[1])
        # The trip's frame tells which segments can be the nearest: between the point and the route, its scale
        # is off by no more than `drift`, so no segment further than rough * drift in the frame can be.
        from shapely import Point

        point = Point(self.frame.to_xy(lat, lon))
        rough = float(self.line_xy.distance(point))
        low, high = min(self._lat_span[0], lat), max(self._lat_span[1], lat)
        smallest = min(math.cos(math.radians(low)), math.cos(math.radians(high)))
        largest = 1.0 if low <= 0 <= high else max(math.cos(math.radians(low)), math.cos(math.radians(high)))
        drift = largest / max(smallest, 1e-6) * 1.01
        near = self._tree().query(point, predicate="dwithin", distance=rough * drift + 1.0)
        return min(_segment_distance_m(lat, lon, route[i], route[i + 1]) for i in near.tolist())

    def stop_at(self, lat: float, lon: float) -> TripStop | None:
        return next((s for s in self.stops if s.contains(lat, lon)), None)

    def _tree(self) -> STRtree:
        tree = self._segment_tree
        if tree is None:
            from shapely import LineString, STRtree

            coords = list(self.line_xy.coords)
            tree = STRtree([LineString(coords[i:i + 2]) for i in range(len(coords) - 1)])
            object.__setattr__(self, "_segment_tree", tree)
        return tree


def _segment_distance_m(lat: float, lon: float, a: tuple[float, float], b: tuple[float, float]) -> float:
    """Metres from a point to the segment a-b ((lon, lat) pairs), in a frame centred on the point."""
    frame = LocalFrame(lat, lon)
    ax, ay = frame.to_xy(a[1], a[0])
    bx, by = frame.to_xy(b[1], b[0])
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(ax * dx + ay * dy) / length2))
    return math.hypot(ax + t * dx, ay + t * dy)


@dataclass(frozen=True, slots=True)
class ZoneAccess:
    categories_allowed: frozenset[str]
    delivery_windows: WeeklySchedule
    max_speed_kmh: float | None


@dataclass(frozen=True)
class Zone:
    zone_id: str
    name: str
    kind: str
    timezone: ZoneInfo
    active: WeeklySchedule
    access: ZoneAccess
    ring: tuple[tuple[float, float], ...]
    """Outer ring as (lon, lat) pairs."""
    frame: LocalFrame = field(init=False, repr=False)
    polygon_xy: Polygon = field(init=False, repr=False)
    bbox: tuple[float, float, float, float] = field(init=False, repr=False)
    """(min_lat, min_lon, max_lat, max_lon) for a cheap first test."""

    def __post_init__(self) -> None:
        import shapely

        lons = [p[0] for p in self.ring]
        lats = [p[1] for p in self.ring]
        frame = LocalFrame((min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2)
        polygon = shapely.Polygon([frame.to_xy(lat, lon) for lon, lat in self.ring])
        shapely.prepare(polygon)
        object.__setattr__(self, "frame", frame)
        object.__setattr__(self, "polygon_xy", polygon)
        object.__setattr__(self, "bbox", (min(lats), min(lons), max(lats), max(lons)))

    def near(self, lat: float, lon: float, margin_deg: float = 0.0) -> bool:
        min_lat, min_lon, max_lat, max_lon = self.bbox
        return (min_lat - margin_deg <= lat <= max_lat + margin_deg
                and min_lon - margin_deg <= lon <= max_lon + margin_deg)

    def contains(self, lat: float, lon: float) -> bool:
        from shapely import Point

        return self.near(lat, lon) and bool(self.polygon_xy.contains(Point(self.frame.to_xy(lat, lon))))

    def distance_m(self, lat: float, lon: float) -> float:
        """Metres from the zone (0 inside)."""
        from shapely import Point

        return float(self.polygon_xy.distance(Point(self.frame.to_xy(lat, lon))))

    def distance_to_boundary_m(self, lat: float, lon: float) -> float:
        """Metres from the zone's outline, inside or out."""
        from shapely import Point

        return float(self.polygon_xy.exterior.distance(Point(self.frame.to_xy(lat, lon))))

    def active_at(self, ts_ms: int) -> bool:
        return self.active.always or self.active.contains_local(*local_weekday_minute(ts_ms, self.timezone))

    def permits(self, category: str | None, ts_ms: int) -> bool:
        """True when a vehicle of this category may be inside now (allowed category, inside a delivery window)."""
        if category is None or category not in self.access.categories_allowed:
            return False
        windows = self.access.delivery_windows
        return windows.always or windows.contains_local(*local_weekday_minute(ts_ms, self.timezone))


@dataclass
class ReferenceData:
    """Everything the detector knows about the world, indexed for per-record look-ups."""

    fleets: dict[str, Fleet] = field(default_factory=dict)
    vehicles: dict[str, Vehicle] = field(default_factory=dict)
    sites: list[Site] = field(default_factory=list)
    trips: list[Trip] = field(default_factory=list)
    zones: list[Zone] = field(default_factory=list)
    sites_by_fleet: dict[str, list[Site]] = field(init=False, default_factory=dict)
    trips_by_vehicle: dict[str, list[Trip]] = field(init=False, default_factory=dict)
    vehicle_by_device: dict[str, str | None] = field(init=False, default_factory=dict)
    """Device id -> vehicle_id; None for a device that several vehicles list (it cannot be told apart)."""

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        self.sites_by_fleet = {}
        for site in self.sites:
            self.sites_by_fleet.setdefault(site.fleet_id, []).append(site)
        self.trips_by_vehicle = {}
        for trip in sorted(self.trips, key=lambda t: (t.planned_start_ms, t.trip_id)):
            self.trips_by_vehicle.setdefault(trip.vehicle_id, []).append(trip)
        self.vehicle_by_device = {}
        for vehicle in self.vehicles.values():
            for device_id in vehicle.device_ids:
                known = device_id in self.vehicle_by_device
                self.vehicle_by_device[device_id] = None if known else vehicle.vehicle_id

    def vehicle_for_device(self, device_id: str) -> str | None:
        """The vehicle a device id is listed for; None when no vehicle, or more than one, lists it."""
        return self.vehicle_by_device.get(device_id)

    def fleet_of(self, vehicle_id: str) -> Fleet | None:
        vehicle = self.vehicles.get(vehicle_id)
        return self.fleets.get(vehicle.fleet_id) if vehicle else None

    def site_at(self, fleet_id: str, lat: float, lon: float) -> Site | None:
        return next((s for s in self.sites_by_fleet.get(fleet_id, ()) if s.contains(lat, lon)), None)

    def trip_at(self, vehicle_id: str, ts_ms: int, slack_ms: int = 0) -> Trip | None:
        return next((t for t in self.trips_by_vehicle.get(vehicle_id, ()) if t.covers(ts_ms, slack_ms)), None)

    def zones_near(self, lat: float, lon: float, margin_deg: float) -> Iterable[Zone]:
        return (z for z in self.zones if z.near(lat, lon, margin_deg))
