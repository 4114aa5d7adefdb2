"""Ramming risk: the vehicle's course, speed and acceleration say it will enter a protected zone it must not enter.

Raised before entry. Per zone in reach, the course is cast as a ray against the zone's outline; the time to
the boundary follows from speed and acceleration, and the speed at the boundary from whether the vehicle is
braking. A vehicle on a road alongside the zone is not closing on it, one that turns away stops pointing at
it, one braking for a junction would stop (or be slow) before the kerb, and a permitted delivery crawls in
inside its window: none of those is a risk. Without other signals, a vehicle is flagged when it is faster than
any street near a zone allows, or when turning away at the kerb would take harder braking than a working driver
uses; with signals that someone else is driving (no card, off-hours, fusion), any approach at speed counts.
"""

from __future__ import annotations

import math
from typing import Final

from anomaly.detectors.safety_systems import intent_off
from anomaly.detectors.states import RammingState, ZoneApproach
from anomaly.findings import Detector, Finding, kmh, track
from anomaly.observation import Observation, ZoneView
from telematics.kinds import OTHER_DRIVER_KINDS

HORIZON_S: Final = 30.0
"""How far ahead (at the current speed) an approach is looked at."""


FAST_KMH: Final = 64.0
"""Faster than any street around a protected zone allows (60 km/h at most in a centre, plus drivers' usual 5 %)."""
FAST_HORIZON_S: Final = 25.0
"""How early a vehicle that fast and pointing at a zone is flagged without other signals."""
TURN_KMH: Final = 16.0
"""About the speed of a right-angle turn at a junction (1.8 m/s² sideways on a 12 m radius)."""
HARD_BRAKE_MPS2: Final = 2.5
"""Working drivers brake for a junction at 1-2 m/s²; a vehicle that would need more is not going to turn."""
LATE_HORIZON_S: Final = 8.0
DENSE_S: Final = 3.0
"""A unit reporting at least this often gives a course and speed fresh enough for one record to speak alone."""
SPARSE_S: Final = 20.0
"""A unit that reports less often than this while moving (trackers, event-driven units) is sparse: at 50 km/h the
vehicle covers 280 m between two fixes, further than the run-up to most squares."""
CRITICAL_S: Final = 15.0
"""Closer than this (in time) to the boundary, or closer than the unit's next record, a ramming risk is critical."""
CLOSING_SMOOTHING_S: Final = 2.0
SWERVE_DEG: Final = (0.0, -5.0, 5.0, -10.0, 10.0)
AIM_SLACK_MAX_M: Final = 30.0
"""A vehicle at attack speed whose course passes the zone by less than its fix's error (1 sigma, at most this: a few
lanes) may be aimed at it: the fix, not the vehicle, may be that far to one side, and a city's fixes are 10-50 m
out. Looked at only for a vehicle faster than any street around a zone allows (FAST_KMH) and closing on it."""


class RammingRisk(Detector):
    name = "ramming_risk"
    state_type = RammingState
    clear_ms = 60_000
    min_kmh = 15.0
    boundary_kmh = 18.0
    """Arriving at the kerb slower than this is a vehicle stopping or turning, not ramming."""

    def quiet(self, obs: Observation, state: RammingState) -> bool:
        if state.by_zone:
            return False
        views = obs.zones
        if not views:
            return True
        reach = reach_m(obs)
        return not any(view.active and not view.inside and not view.farther_than(reach) for view in views)

    def observe(self, obs: Observation, state: RammingState) -> list[Finding]:
        by_zone = state.by_zone
        views = obs.zones
        if not views and not by_zone:
            return []
        findings = []
        seen = set()
        reach = reach_m(obs)
        for view in views:
            zone_id = view.zone.zone_id
            if not view.active:
                continue
            in_reach = not view.inside and not view.farther_than(reach)
            approach = by_zone.get(zone_id)
            if approach is None:
                if not in_reach:
                    continue
                approach = by_zone[zone_id] = _first_look(obs, view)
            seen.add(zone_id)
            finding = self._step(obs, view, approach)
            if finding is not None:
                findings.append(finding)
            if not in_reach and not approach.incident.is_open and approach.incident.onset_ms is None:
                del by_zone[zone_id]
        for zone_id in sorted(set(by_zone) - seen):
            approach = by_zone[zone_id]
            finding = track(
                self.name, approach.incident, False, obs.ts_ms, hold_ms=0, clear_ms=self.clear_ms,
                severity=lambda: "info", score=lambda: 0.0, evidence=dict, zone_id=zone_id,
            )
            if finding is not None:
                findings.append(finding)
            if not approach.incident.is_open:
                del by_zone[zone_id]
        return findings

    def _step(self, obs: Observation, view: ZoneView, approach: ZoneApproach) -> Finding | None:
        """One record's look at one zone: is the vehicle aimed at it, how many records running, how urgent."""
        _follow_closing(approach, obs.ts_ms, view)
        context = _context(obs)
        aim = self._aim(obs, view, approach, context)
        approach.hits = approach.hits + 1 if aim.condition else 0
        condition, critical = _verdict(obs, approach, context, aim)
        return self._tracked(obs, view, approach, context, aim, condition, critical)

    def _aim(self, obs: Observation, view: ZoneView, approach: ZoneApproach, context: _Context) -> _Aim:
        """Whether the course and speed carry the vehicle into the zone at speed, and when and how fast."""
        aim = _Aim()
        speed_kmh = obs.speed_kmh or 0.0
        v = speed_kmh / 3.6
        limit = view.zone.access.max_speed_kmh
        permitted_pace = view.permitted and (limit is None or speed_kmh <= max(limit + 15.0, 2 * limit))
        course = obs.motion.course_deg
        if view.inside or permitted_pace or speed_kmh < self.min_kmh or course is None:
            return aim
        reach = v * HORIZON_S + 30.0
        # Someone else at the wheel may swerve off the road into a zone beside it: look a few degrees either side.
        swerves = SWERVE_DEG if context.suspicious else (0.0,)
        hit_m = None
        for swerve in swerves:
            hit = view.shape.polygon.ray_hit(view.x, view.y, course + swerve, reach)
            if hit is not None and (hit_m is None or hit < hit_m):
                hit_m = hit
        closing = approach.closing_mps >= 0.45 * v
        if hit_m is None and closing and speed_kmh >= FAST_KMH:
            hit_m = _hit_within_error(view, course, reach, min(obs.gnss_error_m, AIM_SLACK_MAX_M))
        aim.hit_m = hit_m
        if hit_m is None or not closing:
            return aim
        accel = obs.motion.accel_mps2 or 0.0
        accel = max(-6.0, min(3.0, accel))
        arrival_sq = v * v + 2 * accel * hit_m
        aim.arrival_kmh = math.sqrt(arrival_sq) * 3.6 if arrival_sq > 0 else 0.0
        aim.ttb = ttb = _time_to(hit_m, v, accel)
        arriving = aim.arrival_kmh >= self.boundary_kmh
        turn = TURN_KMH / 3.6
        # The braking a driver would need from here to turn away at the kerb: a working driver plans for far less,
        # so needing more means the vehicle is not going to turn.
        braking = (v * v - turn * turn) / (2 * max(hit_m, 1.0))
        # On a trip whose route turns before the zone, only another sign makes a late approach a threat.
        aim.late = (
            arriving and ttb <= LATE_HORIZON_S and braking >= HARD_BRAKE_MPS2
            and (context.suspicious or not context.expected_turn)
        )
        if context.suspicious:
            aim.condition = ttb <= HORIZON_S and arriving
        else:
            fast = speed_kmh >= FAST_KMH and not context.expected_turn and ttb <= FAST_HORIZON_S
            aim.fast_arrival = fast and arriving
            aim.condition = aim.late or aim.fast_arrival
        return aim

    def _tracked(self, obs: Observation, view: ZoneView, approach: ZoneApproach, context: _Context, aim: _Aim,
                 condition: bool, critical: bool) -> Finding | None:
        """The zone's ramming incident moved on by this record, with the evidence an officer reads."""
        zone = view.zone
        speed_kmh = obs.speed_kmh or 0.0
        ttb, hit_m, course = aim.ttb, aim.hit_m, obs.motion.course_deg
        hits = approach.hits
        return track(
            self.name,
            approach.incident,
            condition,
            obs.ts_ms,
            hold_ms=0,
            clear_ms=self.clear_ms,
            severity=lambda: "critical" if critical else "warning",
            score=lambda: min(
                1.0, 0.5 + 0.3 * (1 - min(ttb, HORIZON_S) / HORIZON_S) + (0.2 if context.suspicious else 0.0)
            ),
            evidence=lambda: {
                "zone_name": zone.name,
                "zone_kind": zone.kind,
                "distance_m": round(view.distance_m),
                "along_course_m": None if hit_m is None else round(hit_m),
                "time_to_boundary_s": None if math.isinf(ttb) else round(ttb, 1),
                "speed_kmh": kmh(speed_kmh),
                "speed_at_boundary_kmh": kmh(aim.arrival_kmh),
                "closing_kmh": kmh(approach.closing_mps * 3.6),
                "course_deg": None if course is None else round(course),
                "records_pointing_at_zone": hits,
                "context": context.signals,
                "summary": f"heading for {zone.name} at {kmh(speed_kmh)} km/h, "
                f"boundary in {'?' if math.isinf(ttb) else round(ttb)} s",
            },
            zone_id=zone.zone_id,
        )


class _Aim:
    """What one record's course and speed say about one zone (RammingRisk._aim)."""

    __slots__ = ("arrival_kmh", "condition", "fast_arrival", "hit_m", "late", "ttb")

    def __init__(self) -> None:
        self.condition = False
        self.late = False
        self.fast_arrival = False
        self.ttb = math.inf
        self.arrival_kmh = 0.0
        self.hit_m: float | None = None


PREVIOUS_FIX_MAX_S: Final = 60.0
"""The oldest previous fix a closing speed is taken from (as between two records of an approach followed)."""


def _first_look(obs: Observation, view: ZoneView) -> ZoneApproach:
    """A zone newly in reach, its approach followed from the vehicle's previous fix if that is recent and the vehicle
    was moving: a unit that reports every 30 or 60 s has its previous fix 500-1,300 m back at attack speed, outside
    the reach, and without it the one fix it gives before the boundary could never show the vehicle closing."""
    approach = ZoneApproach()
    motion = obs.motion_state
    if motion is None or not motion.last_moving or motion.fix_ts_ms is None:
        return approach
    lat, lon = motion.fix_lat, motion.fix_lon
    gap_s = (obs.ts_ms - motion.fix_ts_ms) / 1000
    if lat is None or lon is None or not 0 < gap_s <= PREVIOUS_FIX_MAX_S:
        return approach
    x, y = view.shape.xy(lat, lon)
    polygon = view.shape.polygon
    if not polygon.contains(x, y):
        approach.prev_ts_ms, approach.prev_distance_m = motion.fix_ts_ms, polygon.boundary_distance(x, y)
    return approach


def _follow_closing(approach: ZoneApproach, ts: int, view: ZoneView) -> None:
    """Closing speed on the zone, smoothed over a couple of seconds so GNSS jitter on a road alongside does not
    count; a sparse unit's records are far enough apart to stand on their own."""
    distance = view.distance_m
    if approach.prev_ts_ms is not None and approach.prev_distance_m is not None and ts > approach.prev_ts_ms:
        dt = (ts - approach.prev_ts_ms) / 1000
        closing_now = (approach.prev_distance_m - distance) / dt if dt <= 60 else 0.0
        weight = 1.0 - math.exp(-dt / CLOSING_SMOOTHING_S)
        approach.closing_mps += weight * (closing_now - approach.closing_mps)
    approach.prev_ts_ms, approach.prev_distance_m = ts, distance
    if view.inside:
        approach.prev_ts_ms = approach.prev_distance_m = None


def _verdict(obs: Observation, approach: ZoneApproach, context: _Context, aim: _Aim) -> tuple[bool, bool]:
    """(raise or hold the alert, critical) from the run of records aimed at the zone and the unit's cadence."""
    hits = approach.hits
    condition = aim.condition
    # A unit that reports less often than the vehicle needs to reach the zone gives no second look; but a sparse
    # unit's one fix says less, not more: alone (no other sign), it never raises an alert or a critical.
    next_record_s = _usual_gap_s(obs)
    sparse = next_record_s > SPARSE_S
    # One record alone speaks only on a dense track (a heading a second old): at a 10 s cadence the road may
    # have bent away since, so it takes a second record, or another sign that someone else is at the wheel.
    dense = next_record_s <= DENSE_S
    # Faster than any street around a zone allows and arriving before the unit's next record: no second look. A
    # sparse unit's one look counts only where its receiver measured the speed and the course (Doppler, not a chord
    # between fixes a minute apart) and the fix before it shows the vehicle closing; it then says less: a warning.
    last_look = aim.fast_arrival and aim.ttb <= next_record_s and (not sparse or _measured(obs))
    needed = 1 if context.suspicious or last_look or (dense and (aim.late or aim.ttb <= next_record_s)) else 2
    if not approach.incident.is_open and hits < needed:
        condition = False
    soon_s = max(CRITICAL_S, next_record_s) if context.suspicious else CRITICAL_S
    critical = (aim.late and (hits >= 2 or not sparse)) or (aim.ttb <= soon_s and aim.arrival_kmh >= 25)
    if sparse and hits < 2 and not context.suspicious and not approach.incident.is_open:
        critical = False
    return condition, critical


def _measured(obs: Observation) -> bool:
    """Speed and heading from the unit's receiver, not worked out along the track."""
    return obs.reported_speed_kmh is not None and obs.record.heading_deg is not None


def _hit_within_error(view: ZoneView, course: float, reach: float, slack_m: float) -> float | None:
    """Metres along the course to the zone from a point slack_m to either side of the fix (where the vehicle may be),
    the nearer; None when neither course meets it."""
    rad = math.radians(course)
    across_x, across_y = math.cos(rad) * slack_m, -math.sin(rad) * slack_m
    polygon = view.shape.polygon
    hits = [
        hit for side in (1.0, -1.0)
        if (hit := polygon.ray_hit(view.x + side * across_x, view.y + side * across_y, course, reach)) is not None
    ]
    return min(hits) if hits else None


class _Context:
    __slots__ = ("expected_turn", "off_route", "signals", "suspicious")

    def __init__(self, suspicious: bool, off_route: bool, expected_turn: bool, signals: list[str]) -> None:
        self.suspicious = suspicious
        self.off_route = off_route
        self.expected_turn = expected_turn
        self.signals = signals


def _context(obs: Observation) -> _Context:
    # Info alerts (a detour, a stop in traffic) are what ordinary days are made of: they are no such sign.
    found = {a.kind for a in obs.open_alerts.values() if a.kind in OTHER_DRIVER_KINDS and a.severity != "info"}
    # The raw facts behind those alerts count at once: their alerts wait out hold times a run-up does not have.
    record, fleet, vehicle = obs.record, obs.fleet, obs.vehicle
    if fleet is not None and not fleet.operating_hours.always and not obs.operating(obs.ts_ms):
        found.add("off_hours")
    if (
        fleet is not None and vehicle is not None and fleet.kind == "haulier" and record.driver_card_reported
        and (record.driver_card_id is None or (
            vehicle.authorized_driver_cards and record.driver_card_id not in vehicle.authorized_driver_cards
            and (obs.trip is None or obs.trip.driver_card_id != record.driver_card_id)))
    ):
        found.add("no_authorised_card")
    # Emergency braking or stability control switched off on the way in is strong evidence of intent: what would
    # stop the truck at the crowd has been taken away (see anomaly/detectors/safety_systems.py).
    if intent_off(record.safety_systems):
        found.add("safety_system_off")
    signals = sorted(found)
    off_route = obs.route_excess_m > 0.0
    expected_turn = False
    if obs.trip is not None and not off_route and obs.trip_shape is not None:
        # On a trip whose route does not go into any zone near here: the road ahead turns before the zone.
        expected_turn = not any(
            obs.index.route_crosses(obs.trip_shape, v.shape) for v in obs.zones if v.active and not v.permitted
        )
    # Off the route alone is a detour as often as not: it only removes the benefit of the doubt (expected_turn).
    return _Context(bool(signals), off_route, expected_turn, signals)


def _time_to(distance: float, v: float, accel: float) -> float:
    if abs(accel) < 1e-3:
        return distance / v if v > 0 else math.inf
    disc = v * v + 2 * accel * distance
    if disc < 0:
        return math.inf
    return (-v + math.sqrt(disc)) / accel


def _usual_gap_s(obs: Observation) -> float:
    """The vehicle's usual reporting gap while moving, in seconds (0 while it is not yet known)."""
    motion = obs.motion_state
    if motion is None or motion.usual_gap_ms is None or motion.moving_gaps < 3:
        return 0.0
    return motion.usual_gap_ms / 1000


def reach_m(obs: Observation) -> float:
    return max(150.0, (obs.speed_kmh or 0.0) / 3.6 * HORIZON_S + 60.0)
