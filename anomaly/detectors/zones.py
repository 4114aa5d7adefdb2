"""Protected zones: a vehicle inside an active zone it may not enter, or faster there than the zone allows."""

from __future__ import annotations

from anomaly.detectors.states import ZoneIncidents
from anomaly.findings import Detector, Finding, kmh, track
from anomaly.incidents import Incident
from anomaly.observation import Observation, ZoneView

CLEAR_DEPTH_M = 8.0
"""Deeper than this inside the outline, GNSS noise on a road alongside cannot explain the fix."""


def _inside_any(obs: Observation) -> bool:
    """The fix is inside one of the zones near it (active or not)."""
    return any(view.inside for view in obs.zones)


def _step_zones(
    state: ZoneIncidents, obs: Observation, conditions: dict[str, tuple[bool, ZoneView | None]], step_one
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
    hold_ms = 5_000
    clear_ms = 60_000
    critical_kmh = 10.0

    def quiet(self, obs: Observation, state: ZoneIncidents) -> bool:
        return not state.by_zone and not _inside_any(obs)

    def observe(self, obs: Observation, state: ZoneIncidents) -> list[Finding]:
        conditions: dict[str, tuple[bool, ZoneView | None]] = {
            v.zone.zone_id: (v.inside and v.active and not v.permitted, v) for v in obs.zones
        }

        def step_one(incident: Incident, condition: bool, view: ZoneView | None, zone_id: str) -> Finding | None:
            deep = view is not None and view.depth_m >= CLEAR_DEPTH_M
            return track(
                self.name,
                incident,
                condition,
                obs.ts_ms,
                hold_ms=0 if deep else self.hold_ms,
                clear_ms=self.clear_ms,
                severity=lambda: "critical" if (obs.speed_kmh or 0) >= self.critical_kmh else "warning",
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
        return not state.by_zone and not _inside_any(obs)

    def observe(self, obs: Observation, state: ZoneIncidents) -> list[Finding]:
        speed = obs.speed_kmh
        conditions: dict[str, tuple[bool, ZoneView | None]] = {}
        for view in obs.zones:
            limit = view.zone.access.max_speed_kmh
            over = (
                limit is not None and speed is not None and view.inside and view.active
                and speed > limit + max(3.0, 0.1 * limit)
            )
            conditions[view.zone.zone_id] = (over, view)

        def step_one(incident: Incident, condition: bool, view: ZoneView | None, zone_id: str) -> Finding | None:
            limit = view.zone.access.max_speed_kmh if view else None
            return track(
                self.name,
                incident,
                condition,
                obs.ts_ms,
                hold_ms=self.hold_ms,
                clear_ms=self.clear_ms,
                severity=lambda: "critical"
                if limit is not None and (speed or 0) >= max(2 * limit, limit + 25) else "warning",
                score=lambda: min(1.0, 0.5 + ((speed or 0) - (limit or 0)) / 60),
                evidence=lambda: _zone_evidence(obs, view, "{speed} km/h inside {name}, limit {limit} km/h"),
                zone_id=zone_id,
            )

        return _step_zones(state, obs, conditions, step_one)


def _zone_evidence(obs: Observation, view: ZoneView | None, summary: str) -> dict[str, object]:
    assert view is not None
    zone = view.zone
    return {
        "zone_name": zone.name,
        "zone_kind": zone.kind,
        "depth_m": round(view.depth_m, 1),
        "speed_kmh": kmh(obs.speed_kmh),
        "category": obs.category,
        "max_speed_kmh": zone.access.max_speed_kmh,
        "categories_allowed": sorted(zone.access.categories_allowed),
        "summary": summary.format(name=zone.name, speed=kmh(obs.speed_kmh), limit=zone.access.max_speed_kmh),
    }
