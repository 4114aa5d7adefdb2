"""A vehicle's motion between records: reporting gap, acceleration, course over the track, usual reporting rate."""

from __future__ import annotations

import math
from typing import Final

from anomaly.vehicle_state import MotionState
from telematics.geo import bearing_deg, haversine_m
from telematics.records import TelemetryRecord

COURSE_MIN_MOVE_M: Final = 12.0
"""The track's course is taken between fixes at least this far apart, so GNSS jitter does not spin it."""
ACCEL_MAX_GAP_MS: Final = 20_000
"""Acceleration is only estimated between records this close together."""
COURSE_MAX_GAP_MS: Final = 20_000
"""The track's course is only taken between fixes this close in time: over a longer chord (a unit reporting once a
minute) the straight line cuts corners and off-ramps, and says little about the street the vehicle is on."""
GAP_EWMA_ALPHA: Final = 0.1
SILENT_STANDSTILL_MS: Final = 5 * 60_000
STOOD_M: Final = 100.0
"""A silence this long that ends this close to where it began: the vehicle stood, and its unit said nothing
(event-driven units report only on movement; some stop reporting with the ignition off)."""


class Motion:
    """The facts about this record relative to the previous one, computed once for every detector."""

    __slots__ = ("accel_mps2", "course_deg", "gap_ms", "prev_moving", "prev_speed_kmh", "track_course_deg")

    def __init__(self, state: MotionState, record: TelemetryRecord, speed: float | None, moving: bool) -> None:
        last_ts = state.last_ts_ms
        self.gap_ms = None if last_ts is None else record.ts_ms - last_ts
        self.prev_speed_kmh = state.last_speed_kmh
        self.prev_moving = state.last_moving
        accel = None
        if (
            self.gap_ms is not None and 0 < self.gap_ms <= ACCEL_MAX_GAP_MS
            and speed is not None and state.last_speed_kmh is not None
        ):
            accel = (speed - state.last_speed_kmh) / 3.6 / (self.gap_ms / 1000)
        self.accel_mps2 = accel
        if record.has_position and moving:
            assert record.lat is not None and record.lon is not None
            course_lat, course_lon = state.course_lat, state.course_lon
            if course_lat is None or course_lon is None:
                state.course_lat, state.course_lon = record.lat, record.lon
            elif haversine_m(course_lat, course_lon, record.lat, record.lon) >= COURSE_MIN_MOVE_M:
                short_chord = self.gap_ms is not None and self.gap_ms <= COURSE_MAX_GAP_MS
                state.track_course_deg = (
                    bearing_deg(course_lat, course_lon, record.lat, record.lon) if short_chord else None
                )
                state.course_lat, state.course_lon = record.lat, record.lon
        elif not moving:
            state.course_lat = state.course_lon = None
            state.track_course_deg = None
        self.track_course_deg = state.track_course_deg
        heading = record.heading_deg
        self.course_deg = heading if heading is not None and moving else self.track_course_deg


def silence_ended_where_it_began(
    state: MotionState, lat: float, lon: float, gap_ms: int | None, within_m: float
) -> bool:
    """A record at ``lat``/``lon`` ends a silence of SILENT_STANDSTILL_MS or more (``gap_ms`` since the previous
    record) within ``within_m`` of the last fix before it: the vehicle stood meanwhile and its unit said nothing.
    Read before the record is remembered (``state`` still holds the previous fix)."""
    if gap_ms is None or gap_ms < SILENT_STANDSTILL_MS:
        return False
    fix_lat, fix_lon = state.fix_lat, state.fix_lon
    if fix_lat is None or fix_lon is None:
        return False
    return haversine_m(fix_lat, fix_lon, lat, lon) <= within_m


def remember(state: MotionState, record: TelemetryRecord, motion: Motion, speed: float | None, moving: bool) -> None:
    """Fold this record into the state, after every detector has seen it."""
    gap = motion.gap_ms
    if gap is not None and gap > 0 and moving and state.last_moving:
        usual = state.usual_gap_ms
        # A single long gap (a real outage) must not teach the vehicle that silence is normal.
        sample = float(gap) if usual is None else min(float(gap), 3.0 * usual + 1000.0)
        state.usual_gap_ms = sample if usual is None else usual + GAP_EWMA_ALPHA * (sample - usual)
        state.moving_gaps += 1
    lat, lon = record.lat, record.lon
    if record.has_position and lat is not None and lon is not None and silence_ended_where_it_began(
        state, lat, lon, gap, STOOD_M
    ):
        state.silent_standstills += 1
    state.last_ts_ms = record.ts_ms
    state.last_speed_kmh = speed
    state.last_speed_reported = record.wheel_speed_kmh is not None or record.gnss_speed_kmh is not None
    state.last_moving = moving
    if record.has_position:
        learn_scatter(state, record, moving)
        state.fix_ts_ms, state.fix_lat, state.fix_lon = record.ts_ms, record.lat, record.lon


SCATTER_ALPHA: Final = 0.05
SCATTER_CAP_M: Final = 150.0
"""A standing fix further than this from the standstill's first is a spike (multipath lock on a reflection), or the
vehicle moved: it says nothing about the receiver's everyday wander."""


def learn_scatter(state: MotionState, record: TelemetryRecord, moving: bool) -> None:
    """Fold a fix into the unit's standing scatter: each standing fix's distance from its standstill's first fix."""
    if moving:
        state.stand_lat = state.stand_lon = None
        return
    if state.stand_lat is None or state.stand_lon is None:
        state.stand_lat, state.stand_lon = record.lat, record.lon
        return
    sample = haversine_m(state.stand_lat, state.stand_lon, record.lat, record.lon)  # type: ignore[arg-type]
    if sample > SCATTER_CAP_M:
        return
    scatter = state.standing_scatter_m
    state.standing_scatter_m = sample if scatter is None else scatter + SCATTER_ALPHA * (sample - scatter)
    state.scatter_samples += 1


def kmh_to_mps(kmh: float) -> float:
    return kmh / 3.6


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
