"""Each detector's per-vehicle state: plain data, saved and restored with the vehicle's state as JSON.

The detectors that own these are compiled (see setup.py); msgspec types stay interpreted, so they live here.
"""

from __future__ import annotations

import msgspec

from anomaly.incidents import Incident


class OffHoursState(msgspec.Struct, kw_only=True):
    incident: Incident = msgspec.field(default_factory=Incident)


class DriverState(msgspec.Struct, kw_only=True):
    incident: Incident = msgspec.field(default_factory=Incident)


class PanicState(msgspec.Struct, kw_only=True):
    incident: Incident = msgspec.field(default_factory=Incident)


class PowerState(msgspec.Struct, kw_only=True):
    incident: Incident = msgspec.field(default_factory=Incident)
    last_supplied_v: float | None = None


class JammingState(msgspec.Struct, kw_only=True):
    incident: Incident = msgspec.field(default_factory=Incident)
    flag_since_ms: int | None = None
    lost_since_ms: int | None = None
    lost_wheel_m: float = 0.0
    lost_last_ms: int | None = None
    lost_last_wheel_kmh: float | None = None


class OfflineState(msgspec.Struct, kw_only=True):
    incident: Incident = msgspec.field(default_factory=Incident)
    reported_for_ms: int | None = None
    """The last record's event time whose silence has been reported."""


class Signal(msgspec.Struct, kw_only=True, array_like=True):
    last_ms: int
    severity: str
    alert_id: str


class FusionState(msgspec.Struct, kw_only=True):
    incident: Incident = msgspec.field(default_factory=Incident)
    recent: dict[str, Signal] = msgspec.field(default_factory=dict)


class TowingState(msgspec.Struct, kw_only=True):
    incident: Incident = msgspec.field(default_factory=Incident)
    anchor_lat: float | None = None
    anchor_lon: float | None = None
    """Where the vehicle was when its ignition went off."""


class ZoneApproach(msgspec.Struct, kw_only=True):
    incident: Incident = msgspec.field(default_factory=Incident)
    prev_ts_ms: int | None = None
    prev_distance_m: float | None = None
    closing_mps: float = 0.0
    hits: int = 0


class RammingState(msgspec.Struct, kw_only=True):
    by_zone: dict[str, ZoneApproach] = msgspec.field(default_factory=dict)


class RouteState(msgspec.Struct, kw_only=True):
    incident: Incident = msgspec.field(default_factory=Incident)
    peak_excess_m: float = 0.0
    trip_id: str | None = None


class StopState(msgspec.Struct, kw_only=True):
    incident: Incident = msgspec.field(default_factory=Incident)
    since_ms: int | None = None
    anchor_lat: float | None = None
    anchor_lon: float | None = None


class DoorState(msgspec.Struct, kw_only=True):
    incident: Incident = msgspec.field(default_factory=Incident)


class TrailerState(msgspec.Struct, kw_only=True):
    incident: Incident = msgspec.field(default_factory=Incident)
    coupled: bool | None = None
    dropped_away: bool = False
    """The last uncoupling happened away from planned stops and sites."""


class ZoneIncidents(msgspec.Struct, kw_only=True):
    by_zone: dict[str, Incident] = msgspec.field(default_factory=dict)
