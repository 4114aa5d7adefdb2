"""The facts derived once from a released record (speed, motion, position, zones, site) that every detector reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from anomaly.config import EngineConfig
from anomaly.open_alerts import OpenAlert
from telematics.records import TelemetryRecord
from telematics.reference import Fleet, ReferenceData, Site, Trip, Vehicle, Zone

ZONE_SEARCH_MARGIN_DEG = 0.02
"""How far around a zone's bounding box (about 2 km) a vehicle counts as near it."""


@dataclass(frozen=True, slots=True)
class ZoneView:
    """One protected zone as seen from the vehicle's position at this record."""

    zone: Zone
    inside: bool
    depth_m: float
    """Metres inside the boundary (0 when outside)."""
    distance_m: float
    """Metres to the boundary (0 when inside)."""
    active: bool
    permitted: bool


@dataclass
class Observation:
    """A record with what the detectors need to know about it; heavier facts are computed on first use."""

    record: TelemetryRecord
    reference: ReferenceData
    config: EngineConfig
    vehicle: Vehicle | None
    fleet: Fleet | None
    last_lat: float | None
    last_lon: float | None
    open_alerts: dict[str, OpenAlert]
    """The vehicle's open incidents, including those opened by detectors that ran before on this record."""
    speed_kmh: float | None = field(init=False)
    moving: bool = field(init=False)

    def __post_init__(self) -> None:
        record = self.record
        wheel, gnss = record.wheel_speed_kmh, record.gnss_speed_kmh
        if wheel is None:
            speed = gnss
        elif gnss is None or record.ignition is not False:
            speed = wheel
        else:
            # With the ignition off the CAN bus may sleep and report 0: trust GNSS then.
            speed = max(wheel, gnss)
        self.speed_kmh = speed
        self.moving = speed is not None and speed >= self.config.moving_kmh

    @property
    def ts_ms(self) -> int:
        return self.record.ts_ms

    @property
    def fleet_id(self) -> str | None:
        return self.vehicle.fleet_id if self.vehicle else None

    @property
    def category(self) -> str | None:
        return self.vehicle.category if self.vehicle else None

    @cached_property
    def zones(self) -> list[ZoneView]:
        """Zones near the current fix (none without a fix), sorted by zone id."""
        record = self.record
        if not record.has_position:
            return []
        lat, lon = record.lat, record.lon
        assert lat is not None and lon is not None
        views = []
        for zone in self.reference.zones_near(lat, lon, ZONE_SEARCH_MARGIN_DEG):
            inside = zone.contains(lat, lon)
            boundary = zone.distance_to_boundary_m(lat, lon)
            active = zone.active_at(record.ts_ms)
            views.append(
                ZoneView(
                    zone=zone,
                    inside=inside,
                    depth_m=boundary if inside else 0.0,
                    distance_m=0.0 if inside else boundary,
                    active=active,
                    permitted=zone.permits(self.category, record.ts_ms),
                )
            )
        views.sort(key=lambda v: v.zone.zone_id)
        return views

    @cached_property
    def site(self) -> Site | None:
        """The fleet site (depot, yard) the vehicle is at, if any."""
        record = self.record
        if not record.has_position or self.fleet_id is None:
            return None
        assert record.lat is not None and record.lon is not None
        return self.reference.site_at(self.fleet_id, record.lat, record.lon)

    @cached_property
    def trip(self) -> Trip | None:
        """The planned trip this vehicle is on now, if any."""
        return self.reference.trip_at(self.record.vehicle_id, self.record.ts_ms)
