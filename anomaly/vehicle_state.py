"""What the engine remembers about one vehicle: plain data, saved and restored as JSON.

They are dataclasses compiled with the engine (setup.py), so the engine reads them directly. msgspec writes
them; anomaly/saved_state.py reads them back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from anomaly.open_alerts import OpenAlert
from telematics.records import TelemetryRecord


@dataclass(slots=True)
class OrderingState:
    """One vehicle's ordering state: plain data, saved and restored with the rest of its state."""

    max_ts_ms: int = -1
    released_ts_ms: int = -1
    last_seq: int | None = None
    arrivals: int = 0
    pending: list[tuple[int, int, int, TelemetryRecord]] = field(default_factory=list)
    """A heap of (ts_ms, seq or -1, arrival number, record)."""
    seen: dict[int | str, int] = field(default_factory=dict)
    """Duplicate keys (the record's seq, or "t<ts>:<hash>" for a record without one) to the event time they were
    seen at."""
    last_arrival_ts_ms: int = -1
    """Event time of the record that arrived last (accepted): a record older than it continues a backfill."""
    backfill_since_ms: int = -1
    """The vehicle's newest event time when a record first arrived older than the one before it (a buffer sent
    newest first is arriving); -1: no backfill under way."""


@dataclass(slots=True)
class MotionState:
    """What the engine remembers of the previous released record; plain data, saved with the vehicle's state."""

    last_ts_ms: int | None = None
    last_speed_kmh: float | None = None
    last_speed_reported: bool = False
    """The last speed came from the device (wheels or receiver), not from the track between two fixes."""
    last_moving: bool = False
    fix_ts_ms: int | None = None
    fix_lat: float | None = None
    fix_lon: float | None = None
    """The previous record's fix (time and place): where the vehicle came from to this record's fix."""
    course_lat: float | None = None
    course_lon: float | None = None
    track_course_deg: float | None = None
    usual_gap_ms: float | None = None
    """Exponentially weighted mean of the gaps between records while moving: this device's own reporting rate."""
    moving_gaps: int = 0
    silent_standstills: int = 0
    """Long silences after which the vehicle was where it had been: its unit falls silent while the vehicle stands."""
    stand_lat: float | None = None
    stand_lon: float | None = None
    """The first fix of the standstill under way (None while moving)."""
    standing_scatter_m: float | None = None
    """Exponentially weighted mean distance of standing fixes from their standstill's first fix: how far this
    unit's receiver wanders where the vehicle parks (learned for units that report no accuracy of their own)."""
    scatter_samples: int = 0
    standstill_lat: float | None = None
    standstill_lon: float | None = None
    standstill_stop: str | None = None
    """Where the standstill under way was looked up (None while moving) and the planned stop it is at, if any."""
    visiting_stop: str | None = None
    """The planned stop (``trip_id#index``) the vehicle stood at last, while its visit may still be under way."""
    visit_lat: float | None = None
    visit_lon: float | None = None
    visit_since_ms: int | None = None
    visit_last_ms: int | None = None
    """The stop's place, and the first and last records of the vehicle there."""
    visit_worked: bool = False
    """The cargo door opened, or the engine was off, during the visit: a delivery or collection, not a queue."""
    served_stops: list[str] = field(default_factory=list)
    """Planned stops the vehicle stood at long enough to be served, then left for another known place."""


STATE_VERSION: Final = 3
"""The layout of a vehicle's saved state, written with it as ``version``.

1. No ``version``; five motion fields that nothing read (last ignition, cargo door, trailer, card, card known).
2. Those five gone, ``version`` added.
3. A duplicate key of a record with a seq is the seq itself, not the text "s<seq>" (a JSON key: "<seq>").

anomaly/saved_state.py reads every version up to this one (a field a version no longer has is ignored, a missing
one gets its default, and older duplicate keys are converted) and refuses a newer one rather than half-read it."""


@dataclass(slots=True)
class VehicleState:
    """Everything the engine remembers about one vehicle: plain data, saved and restored as JSON."""

    ordering: OrderingState = field(default_factory=OrderingState)
    last_lat: float | None = None
    last_lon: float | None = None
    motion: MotionState = field(default_factory=MotionState)
    detectors: dict[str, Any] = field(default_factory=dict)
    open_alerts: dict[str, OpenAlert] = field(default_factory=dict)
    stop_triggers: list[str] = field(default_factory=list)
    version: int = STATE_VERSION
    """The layout of this saved state: STATE_VERSION (restored state is converted to it)."""
