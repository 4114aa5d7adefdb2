"""Safety system disabled: the driver has switched off emergency braking, stability control or lane keeping.

A driver may switch AEBS off (UN R131 lets them; since its 2023 revision it comes back on by itself after 15
minutes), and stability control through the off-road switch; on a moving truck that is already worth a look
(warning), and heading for an active protected zone it is what someone about to drive into a crowd would do
first: in Berlin in 2016 it was the truck's own emergency braking that stopped the lorry. Critical then, before
the zone is reached. A record that does not carry ``safety_systems`` says nothing either way and is skipped; a
system in ``fault`` or ``unavailable`` is a workshop matter, not a switch-off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from anomaly.findings import Detector, Finding, kmh, track, under_way
from anomaly.incidents import Incident
from anomaly.observation import Observation, ZoneView

HORIZON_S: Final = 30.0
"""How far ahead (at the current speed) a course into a zone counts as heading for it, as for ramming risk."""
MIN_REACH_M: Final = 150.0
INTENT_SYSTEMS: Final = ("aebs", "esc")
"""Switched off, these remove what stops or steadies a truck driven at people: evidence of intent for ramming risk
and hijack fusion. Lane keeping is switched off by many drivers in town, where its warnings are a nuisance."""


@dataclass(slots=True)
class SafetySystemsState:
    incident: Incident = field(default_factory=Incident)


def systems_off(systems: dict[str, str] | None) -> list[str]:
    """The systems a record reports switched off by the driver, sorted."""
    if not systems:
        return []
    return sorted(name for name, state in systems.items() if state == "off")


def intent_off(systems: dict[str, str] | None) -> bool:
    """Emergency braking or stability control switched off (see INTENT_SYSTEMS)."""
    return bool(systems) and any(systems.get(name) == "off" for name in INTENT_SYSTEMS)  # type: ignore[union-attr]


def zone_ahead(obs: Observation) -> tuple[ZoneView, float] | None:
    """The nearest active zone the vehicle may not be in that its course meets within the horizon (or that it is
    in), with the metres to its outline along the course."""
    course = obs.motion.course_deg
    speed = obs.speed_kmh or 0.0
    reach = max(MIN_REACH_M, speed / 3.6 * HORIZON_S)
    best: tuple[ZoneView, float] | None = None
    for view in obs.zones:
        if not view.active or view.permitted:
            continue
        if view.inside:
            return view, 0.0
        if course is None or view.farther_than(reach):
            continue
        hit = view.shape.polygon.ray_hit(view.x, view.y, course, reach)
        if hit is not None and (best is None or hit < best[1]):
            best = (view, hit)
    return best


class SafetySystemDisabled(Detector):
    name = "safety_system_disabled"
    state_type = SafetySystemsState
    clear_ms = 60_000

    def quiet(self, obs: Observation, state: SafetySystemsState) -> bool:
        systems = obs.record.safety_systems
        if systems is None:
            return True
        return not under_way(state.incident) and not systems_off(systems)

    def observe(self, obs: Observation, state: SafetySystemsState) -> list[Finding]:
        systems = obs.record.safety_systems
        if systems is None:
            return []
        off = systems_off(systems)
        moving = obs.moving
        condition = bool(off) and moving
        ahead = zone_ahead(obs) if condition else None
        speed = obs.speed_kmh
        critical = ahead is not None and intent_off(systems)

        def evidence() -> dict[str, object]:
            found: dict[str, object] = {
                "systems_off": off,
                "safety_systems": dict(sorted(systems.items())),
                "speed_kmh": kmh(speed),
                "summary": ", ".join(off) + " switched off while moving",
            }
            if ahead is not None:
                view, along = ahead
                found.update(zone_id=view.zone.zone_id, zone_name=view.zone.name, along_course_m=round(along))
                found["summary"] = f"{', '.join(off)} switched off, heading for {view.zone.name}"
            return found

        finding = track(
            self.name,
            state.incident,
            condition,
            obs.ts_ms,
            hold_ms=0,
            clear_ms=self.clear_ms,
            severity=lambda: "critical" if critical else "warning",
            score=lambda: 0.9 if critical else 0.5,
            evidence=evidence,
        )
        return [finding] if finding else []
