"""Each detector's per-vehicle state: plain data, saved and restored with the vehicle's state as JSON.

They are dataclasses compiled with the detectors (setup.py), so a detector reads its state directly. msgspec
writes them; anomaly/saved_state.py reads them back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from anomaly.detectors.signal import Signal
from anomaly.incidents import Incident


@dataclass(slots=True)
class OffHoursState:
    incident: Incident = field(default_factory=Incident)


@dataclass(slots=True)
class DriverState:
    incident: Incident = field(default_factory=Incident)


@dataclass(slots=True)
class PanicState:
    incident: Incident = field(default_factory=Incident)


@dataclass(slots=True)
class PowerState:
    incident: Incident = field(default_factory=Incident)
    last_supplied_v: float | None = None


@dataclass(slots=True)
class JammingState:
    incident: Incident = field(default_factory=Incident)
    flag_since_ms: int | None = None
    lost_since_ms: int | None = None
    lost_wheel_m: float = 0.0
    lost_last_ms: int | None = None
    lost_last_wheel_kmh: float | None = None
    stood_fixes: int = 0
    """Records in a row with a fix while the vehicle stood (any record moving or without a fix ends the run)."""
    stood_parked: bool = False
    """The last of those fixes came with the ignition off: the vehicle was parked there."""
    lost_standing_since_ms: int | None = None
    """The fix was lost while the vehicle stood in the open (away from its stops and sites, or parked there since its
    last fix), at this time."""
    lost_parked: bool = False
    """That loss came while the vehicle stayed parked (see stood_parked): its sky had not changed."""
    ignition_without_fix_ms: int | None = None
    """Since then, the ignition has been on without a fix since this time."""
    odometer_km: float | None = None
    odometer_ms: int | None = None
    """The last odometer reading and its time: how far the wheels went between two records of a unit that reports
    no wheel speed."""


@dataclass(slots=True)
class OfflineState:
    incident: Incident = field(default_factory=Incident)
    reported_for_ms: int | None = None
    """The last record's event time whose silence has been reported."""
    escalated_for_ms: int | None = None
    """The last record's event time whose silence has been reported as long (a warning)."""


@dataclass(slots=True)
class FusionState:
    incident: Incident = field(default_factory=Incident)
    recent: dict[str, Signal] = field(default_factory=dict)


@dataclass(slots=True)
class TowingState:
    incident: Incident = field(default_factory=Incident)
    anchor_lat: float | None = None
    anchor_lon: float | None = None
    """Where the vehicle was when its ignition went off."""
    anchor_fixes: int = 0
    """Fixes that agree with the anchor: two make it where the vehicle stands (one may be a spike)."""
    away_fixes: int = 0
    track_moving_fixes: int = 0
    """Fixes in a row whose speed along the track (no speed reported) says the parked vehicle moves."""
    """Fixes in a row far from the anchor: one is a GNSS spike, two agree that the vehicle was moved."""


@dataclass(slots=True)
class ZoneApproach:
    incident: Incident = field(default_factory=Incident)
    prev_ts_ms: int | None = None
    prev_distance_m: float | None = None
    closing_mps: float = 0.0
    hits: int = 0


@dataclass(slots=True)
class RammingState:
    by_zone: dict[str, ZoneApproach] = field(default_factory=dict)


@dataclass(slots=True)
class RouteState:
    incident: Incident = field(default_factory=Incident)
    peak_excess_m: float = 0.0
    trip_id: str | None = None


@dataclass(slots=True)
class StopState:
    incident: Incident = field(default_factory=Incident)
    since_ms: int | None = None
    anchor_lat: float | None = None
    anchor_lon: float | None = None


@dataclass(slots=True)
class DoorState:
    incident: Incident = field(default_factory=Incident)
    opened_at_place: bool = False
    """The door has been open since the vehicle stood at a planned stop or a site."""
    seen_open: bool = False
    """The door was open at the vehicle's last record that reported it."""


@dataclass(slots=True)
class TrailerState:
    incident: Incident = field(default_factory=Incident)
    coupled: bool | None = None
    dropped_away: bool = False
    """The last uncoupling happened away from planned stops and sites."""


@dataclass(slots=True)
class ZoneIncidents:
    by_zone: dict[str, Incident] = field(default_factory=dict)
    inside_fixes: dict[str, int] = field(default_factory=dict)
    """Consecutive fixes inside each zone, up to the last one."""
    driven_in: list[str] = field(default_factory=list)
    """Zones whose run of fixes inside began with the vehicle moving: it drove in, whether or not it stands now."""
