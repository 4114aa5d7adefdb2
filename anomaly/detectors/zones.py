"""Protected zones: a vehicle inside an active zone it may not enter, or faster there than the zone allows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from anomaly.detectors.states import ZoneIncidents
from anomaly.findings import Detector, Finding, kmh, track
from anomaly.incidents import Incident
from anomaly.observation import Observation, ZoneView
from telematics.geo import haversine_m

CLEAR_DEPTH_M: Final = 8.0
"""Deeper than this inside the outline (and than the fix's own error), noise on a road alongside cannot explain it."""
CROSSING_GAP_MS: Final = 90_000
"""A single fix inside counts as a crossing only from a fix this recent, where the vehicle was moving: a unit that
reports once a minute while moving, and nothing once parked, may give just one fix of a van driven into a square;
a stray fix between fixes minutes apart does not qualify."""
DRIVEN_IN_KMH: Final = 15.0
"""Faster than a vehicle pulling up at a kerb: from here, a run of fixes inside began with the vehicle driving in."""
SPARSE_GAP_MS: Final = 20_000
"""A unit that reports less often than this while moving may give one fix of a vehicle driven into a square and
then fall silent (event-driven) or report it standing; a unit that reports more often gives a second look within
seconds (Teltonika's 10 s default, fleet units of 1-15 s)."""
STANDING_FIXES: Final = 3
"""A standing vehicle's fixes wander at the kerb: only this many in a row, clearly inside, place it inside."""
NARROW_STANDING_FIXES: Final = 5
"""Where no point of a zone lies clear of twice a standing fix's error, this many fixes in a row inside: a receiver
that stands keeps most of its error from one fix to the next (multipath off the same walls, the same sky), so a
queue beside a small square can put three fixes in a row inside it, and its wander learned at standstills
understates the error for the same reason."""
TRACK_SPEED_NOISE_MPS: Final = 1.0
"""A speed taken along the track (a unit that reports none) is trusted against a zone's limit only over a chord long
enough that the two fixes' errors (about 1.4 sigma together) move it by less than this: 3.6 km/h, about the margin
a limit is given. Two fixes 6 s apart that wander 35 m, as a tracker's do between tall buildings, read 21 km/h."""


def count_inside(state: ZoneIncidents, obs: Observation) -> None:
    """Count each zone's fixes inside in a row (a fix outside, or no fix, ends the run)."""
    fixes = state.inside_fixes
    views = {v.zone.zone_id: v for v in obs.zones if v.inside}
    inside = views.keys()
    for zone_id in [z for z in fixes if z not in inside]:
        del fixes[zone_id]
    state.driven_in = [z for z in state.driven_in if z in inside]
    for zone_id in sorted(inside):
        fixes[zone_id] = fixes.get(zone_id, 0) + 1
        # Driving at its first fix inside, or at the fix before (a sparse unit's next fix finds it already parked);
        # a bus or a van pulling up at a kerb-side stop beside a square arrives slower than that.
        speed, before = obs.speed_kmh or 0.0, obs.motion_state.last_speed_kmh or 0.0
        if fixes[zone_id] == 1 and max(speed, before) >= DRIVEN_IN_KMH and _entry_clear(obs, views[zone_id]):
            state.driven_in.append(zone_id)


def clear_of_error_m(obs: Observation) -> float:
    """How deep inside a fix must lie to be clear of its error: twice its sigma (about 95 % of fixes stay within that
    across a line), and never less than CLEAR_DEPTH_M."""
    return max(CLEAR_DEPTH_M, 2.0 * obs.gnss_error_m)


def _entry_clear(obs: Observation, view: ZoneView) -> bool:
    """Whether the first fix inside says the vehicle itself went in: a speed the unit measures says so at once; a speed
    taken along the track (a tracker's mean over the last half minute or minute) says only that the vehicle drove
    somewhere in that time, maybe up to a queue beside the zone, so then the fix must lie clear of its error inside
    (or as deep as a narrow zone allows)."""
    if obs.reported_speed_kmh is not None:
        return True
    return view.depth_m >= min(clear_of_error_m(obs), 0.7 * view.shape.max_depth_m)


def confirmed_inside(obs: Observation, view: ZoneView, fixes_in_a_row: int, driven_in: bool = False) -> bool:
    """Consistent evidence that the vehicle is inside, weighed against the fix's error: never one stray fix.

    "Clear" of the error is twice its sigma, the bound that about 95 % of fixes stay within across a line. Fixes
    seconds or a minute apart share most of their error (multipath off the same walls, the same sky), so a run of
    fixes barely inside is no more evidence than one: each rule asks for a fix clear of the error.
    Moving, two fixes in a row inside, this one clear of its error (three, where the zone is too narrow for that, the
    last as deep as the zone allows), or one fix clear inside reached from the previous fix, moving, at a speed the
    vehicle could have driven (a crossing); a vehicle that drove in counts as moving once it stands. Standing, only
    several fixes in a row, twice as clear: a parked vehicle's fixes wander tens of metres at the kerb of a square;
    in a zone too small for that, more fixes, near its middle.
    """
    if not view.inside:
        return False
    clear = clear_of_error_m(obs)
    depth = view.depth_m
    deepest = view.shape.max_depth_m
    if not obs.moving and not driven_in:
        if depth >= 2.0 * clear:
            return fixes_in_a_row >= STANDING_FIXES
        # A zone too small for a fix that deep: the count must speak, over more of the unit's fixes.
        return fixes_in_a_row >= NARROW_STANDING_FIXES and depth >= 0.8 * deepest
    if (fixes_in_a_row >= 2 and depth >= clear) or surely_inside(obs, view, fixes_in_a_row):
        return True
    # One fix alone, where the next is coming within seconds (a unit that reports at least every SPARSE_GAP_MS
    # while moving), must be clear of its error on its own; in a zone too narrow for that, the next fixes decide.
    alone_needs = min(clear, 0.7 * deepest) if _sparse(obs) else clear
    return fixes_in_a_row == 1 and depth >= alone_needs and _plausible_crossing(obs, clear)


def _sparse(obs: Observation) -> bool:
    """The unit's usual gap while moving is longer than SPARSE_GAP_MS (a tracker, an event-driven unit)."""
    motion = obs.motion_state
    usual = motion.usual_gap_ms
    return motion.moving_gaps >= 3 and usual is not None and usual > SPARSE_GAP_MS


def _present(state: ZoneIncidents, obs: Observation, view: ZoneView) -> bool:
    """Inside the zone: confirmed before the incident opens; once open, while the fixes are inside at all."""
    zone_id = view.zone.zone_id
    if zone_id in state.by_zone:
        return view.inside
    return confirmed_inside(obs, view, state.inside_fixes.get(zone_id, 0), zone_id in state.driven_in)


def surely_inside(obs: Observation, view: ZoneView, fixes_in_a_row: int) -> bool:
    """Evidence strong enough for a critical alert (and so a stop request): three fixes in a row, the last clear of
    its error or, in a zone too narrow for that, near its middle."""
    depth_needed = min(clear_of_error_m(obs), 0.8 * view.shape.max_depth_m)
    return view.inside and fixes_in_a_row >= 3 and view.depth_m >= depth_needed


def _plausible_crossing(obs: Observation, clear_m: float) -> bool:
    motion, record = obs.motion_state, obs.record
    if motion.fix_ts_ms is None or motion.fix_lat is None or motion.fix_lon is None or obs.speed_kmh is None:
        return False
    gap_ms = record.ts_ms - motion.fix_ts_ms
    if not 0 < gap_ms <= CROSSING_GAP_MS or not motion.last_moving:
        return False
    jumped_m = haversine_m(motion.fix_lat, motion.fix_lon, record.lat, record.lon)  # type: ignore[arg-type]
    fastest = max(obs.speed_kmh, motion.last_speed_kmh or 0.0) / 3.6
    return jumped_m <= 1.5 * fastest * gap_ms / 1000 + clear_m


def _quiet_zones(obs: Observation, state: ZoneIncidents) -> bool:
    """No zone incident under way and the fix inside none (a run of fixes inside, if any, ends here)."""
    if state.by_zone or any(view.inside for view in obs.zones):
        return False
    if state.inside_fixes:
        state.inside_fixes.clear()
        state.driven_in.clear()
    return True


def _step_zones(
    state: ZoneIncidents, obs: Observation, conditions: dict[str, tuple[bool, ZoneView | None]],
    step_one: Callable[[Incident, bool, ZoneView | None, str], Finding | None],
) -> list[Finding]:
    """Step every zone incident this record concerns, and the open ones of zones no longer near."""
    findings = []
    for zone_id in sorted(set(conditions) | set(state.by_zone)):
        condition, view = conditions.get(zone_id, (False, None))
        incident = state.by_zone.setdefault(zone_id, Incident())
        finding = step_one(incident, condition, view, zone_id)
        if finding:
            findings.append(finding)
        if not incident.is_open and incident.onset_ms is None:
            del state.by_zone[zone_id]
    return findings


class ProtectedZoneIntrusion(Detector):
    """Inside an active zone while the vehicle's category or the time is not permitted there."""

    name = "protected_zone_intrusion"
    state_type = ZoneIncidents
    clear_ms = 60_000
    critical_kmh = 15.0
    """Faster than walking pace with GNSS speed noise (1-2 km/h) to spare: a vehicle endangering people on foot."""

    def quiet(self, obs: Observation, state: ZoneIncidents) -> bool:
        return _quiet_zones(obs, state)

    def observe(self, obs: Observation, state: ZoneIncidents) -> list[Finding]:
        count_inside(state, obs)
        fixes = state.inside_fixes
        conditions: dict[str, tuple[bool, ZoneView | None]] = {}
        for v in obs.zones:
            zone_id = v.zone.zone_id
            present = _present(state, obs, v)
            conditions[zone_id] = (present and v.active and not v.permitted, v)

        def step_one(incident: Incident, condition: bool, view: ZoneView | None, zone_id: str) -> Finding | None:
            # Critical only on strong evidence of presence, and at a speed that endangers people on foot.
            critical = (
                view is not None and surely_inside(obs, view, fixes.get(zone_id, 0))
                and (obs.speed_kmh or 0) >= self.critical_kmh
            )
            return track(
                self.name,
                incident,
                condition,
                obs.ts_ms,
                hold_ms=0,
                clear_ms=self.clear_ms,
                severity=lambda: "critical" if critical else "warning",
                score=lambda: min(1.0, 0.6 + (obs.speed_kmh or 0) / 100),
                evidence=lambda: _zone_evidence(obs, view, "inside protected zone {name} without permission"),
                zone_id=zone_id,
            )

        return _step_zones(state, obs, conditions, step_one)


class SpeedInZone(Detector):
    """Inside an active zone faster than its max_speed_kmh (any vehicle, permitted or not)."""

    name = "speed_in_zone"
    state_type = ZoneIncidents
    hold_ms = 2_000
    clear_ms = 60_000

    def quiet(self, obs: Observation, state: ZoneIncidents) -> bool:
        return _quiet_zones(obs, state)

    def observe(self, obs: Observation, state: ZoneIncidents) -> list[Finding]:
        count_inside(state, obs)
        fixes = state.inside_fixes
        speed = _speed_against_limits(obs)
        conditions: dict[str, tuple[bool, ZoneView | None]] = {}
        for view in obs.zones:
            limit = view.zone.access.max_speed_kmh
            present = _present(state, obs, view)
            over = (
                limit is not None and speed is not None and present and view.active
                and speed > limit + max(3.0, 0.1 * limit)
            )
            conditions[view.zone.zone_id] = (over, view)

        def step_one(incident: Incident, condition: bool, view: ZoneView | None, zone_id: str) -> Finding | None:
            limit = view.zone.access.max_speed_kmh if view else None
            sure = view is not None and surely_inside(obs, view, fixes.get(zone_id, 0))
            return track(
                self.name,
                incident,
                condition,
                obs.ts_ms,
                hold_ms=self.hold_ms,
                clear_ms=self.clear_ms,
                severity=lambda: "critical"
                if sure and limit is not None and (speed or 0) >= max(2 * limit, limit + 25) else "warning",
                score=lambda: min(1.0, 0.5 + ((speed or 0) - (limit or 0)) / 60),
                evidence=lambda: _zone_evidence(obs, view, "{speed} km/h inside {name}, limit {limit} km/h"),
                zone_id=zone_id,
            )

        return _step_zones(state, obs, conditions, step_one)


def _speed_against_limits(obs: Observation) -> float | None:
    """The speed a zone's limit is held against: the reported one, else the track's where its chord is long enough
    for the fixes' error (TRACK_SPEED_NOISE_MPS); None when neither is known well enough."""
    if obs.reported_speed_kmh is not None:
        return obs.reported_speed_kmh
    fix_ts = obs.motion_state.fix_ts_ms
    if obs.speed_kmh is None or fix_ts is None:
        return None
    chord_s = (obs.ts_ms - fix_ts) / 1000
    return obs.speed_kmh if chord_s * TRACK_SPEED_NOISE_MPS >= 1.4 * obs.gnss_error_m else None


def _zone_evidence(obs: Observation, view: ZoneView | None, summary: str) -> dict[str, object]:
    assert view is not None
    zone = view.zone
    evidence: dict[str, object] = {
        "zone_name": zone.name,
        "zone_kind": zone.kind,
        "depth_m": round(view.depth_m, 1),
        "gnss_error_m": round(obs.gnss_error_m, 1),
        "speed_kmh": kmh(obs.speed_kmh),
        "category": obs.category,
        "max_speed_kmh": zone.access.max_speed_kmh,
        "categories_allowed": sorted(zone.access.categories_allowed),
        "summary": summary.format(name=zone.name, speed=kmh(obs.speed_kmh), limit=zone.access.max_speed_kmh),
    }
    # A vehicle its own zone guard holds to a crawl is still inside: the officers read that it is being held.
    governor = obs.record.speed_governor
    if governor and governor.get("active") is True and isinstance(held := governor.get("limit_kmh"), (int, float)):
        evidence["governed_kmh"] = held
        evidence["governed_by"] = governor.get("source")
        evidence["summary"] = f"{evidence['summary']}; held to {held:g} km/h by its speed governor"
    return evidence
