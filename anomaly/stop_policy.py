"""When the evidence says a vehicle is out of its operator's control and a danger to people: a remote-stop request.

A request is only ever a request: a human in law enforcement authorises or refuses it. The mode never asks
for an abrupt stop at speed: a vehicle heading into people gets a controlled stop (gradual, hazard lights),
one out of control elsewhere is derated (speed_limit) so it cannot reach attack speed, and a parked one is
kept from restarting. At most one request per incident: none while any alert it was raised for stays open. A
request never rests on one record: its trigger must have held since an earlier record, and a moving vehicle's
zone trigger needs a second, independent signal (loss of control), attack speed inside the zone, or a critical
approach held over records at a speed no street around a zone allows.
"""

from __future__ import annotations

import msgspec

from anomaly.detectors.ramming import FAST_KMH
from anomaly.observation import Observation
from anomaly.open_alerts import OpenAlert
from telematics.kinds import APPROACH_KINDS, CARRIED_KINDS, CONTROL_LOSS_KINDS, STOPS_ON_ITS_OWN_KINDS, ZONE_KINDS

ATTACK_SPEED_KMH = 30.0
"""A vehicle this fast inside a zone it may not enter is dangerous whoever drives it."""
DERATE_TO_KMH = 30.0
"""speed_limit target: slow enough that a crowd can get out of the way, fast enough to stay safe in traffic."""
NEAR_ZONE_M = 1000.0


class StopDecision(msgspec.Struct, kw_only=True):
    trigger: OpenAlert
    mode: str
    target_speed_kmh: float | None
    alert_ids: list[str]
    reason: str
    zone_id: str | None
    """The protected zone the vehicle threatens: the zone trigger's, or the nearest one a hijacked vehicle nears."""


def decide(obs: Observation, open_alerts: dict[str, OpenAlert], already_requested: list[str]) -> StopDecision | None:
    """A stop request to raise now, or None."""
    if already_requested and any(a.alert_id in already_requested for a in open_alerts.values()):
        return None
    # Never on one record: an alert whose condition began at this very record waits for the next one.
    critical = [a for a in open_alerts.values() if a.severity == "critical" and a.onset_ms < obs.ts_ms]
    if not critical:
        return None
    speed = obs.speed_kmh or 0.0
    control_loss = sorted((a for a in open_alerts.values() if a.kind in CONTROL_LOSS_KINDS), key=lambda a: a.kind)
    hijack = next((a for a in critical if a.kind in STOPS_ON_ITS_OWN_KINDS), None)
    zone_triggers = sorted((a for a in critical if a.kind in ZONE_KINDS), key=lambda a: (a.onset_ms, a.alert_id))
    # Inside a zone at attack speed is a signal of its own, even when a ramming risk for it was raised first.
    inside = [a for a in zone_triggers if a.kind not in APPROACH_KINDS]
    inside_at_speed = bool(inside) and speed >= ATTACK_SPEED_KMH
    # Aimed at a zone it may not enter, the boundary seconds away, faster than any street around one allows, since an
    # earlier record: an attack run whoever drives. A rented van has no plan or card to betray a stranger at the
    # wheel, so this is the evidence that can stop it before it is among the people.
    approach_at_speed = not inside and speed >= FAST_KMH and any(a.kind in APPROACH_KINDS for a in zone_triggers)
    zone_trigger = (inside[0] if inside_at_speed and not control_loss else zone_triggers[0]) if zone_triggers else None
    zone_id = zone_trigger.zone_id if zone_trigger is not None else None
    if zone_trigger is not None and obs.moving and (control_loss or inside_at_speed or approach_at_speed):
        trigger, mode, target = zone_trigger, "controlled_stop", None
        what = "heading into" if zone_trigger.kind in APPROACH_KINDS else "inside"
        action = "requesting a controlled stop (gradual slow-down to a standstill, hazard lights on)"
        situation = f"{zone_trigger.kind.replace('_', ' ')}: {what} zone {zone_trigger.zone_id} at {speed:.0f} km/h"
    elif hijack is not None:
        trigger = hijack
        towed = any(a.kind in CARRIED_KINDS for a in open_alerts.values()) and obs.record.ignition is not True
        if not obs.moving or towed:
            mode, target = "prevent_restart", None
            action = "requesting that the engine not restart once stopped"
            situation = "hijack suspected while the vehicle is being towed" if towed and obs.moving \
                else "hijack suspected while the vehicle stands"
        elif (near := _nearest_unpermitted_zone(obs)) is not None:
            zone_id = near
            mode, target = "controlled_stop", None
            action = "requesting a controlled stop (gradual slow-down to a standstill, hazard lights on)"
            situation = f"hijack suspected at {speed:.0f} km/h near an active protected zone"
        else:
            mode, target = "speed_limit", DERATE_TO_KMH
            action = f"requesting a gradual derating to {DERATE_TO_KMH:g} km/h"
            situation = f"hijack suspected at {speed:.0f} km/h"
    else:
        return None
    others = [a for a in control_loss if a.alert_id != trigger.alert_id]
    signals = [a.kind.replace("_", " ") for a in others]
    because = f" with {', '.join(signals)}" if signals else ""
    # The officers see every open zone alert too (the ramming risk, the intrusion), not only what decided it.
    zone_alerts = sorted(
        (a for a in open_alerts.values() if a.kind in ZONE_KINDS and a.severity != "info"),
        key=lambda a: (a.onset_ms, a.alert_id),
    )
    listed = [trigger.alert_id, *(a.alert_id for a in others)]
    listed += [a.alert_id for a in zone_alerts if a.alert_id not in listed]
    return StopDecision(
        trigger=trigger,
        mode=mode,
        target_speed_kmh=target,
        alert_ids=listed,
        reason=f"{situation}{because}; {action}",
        zone_id=zone_id,
    )


def _nearest_unpermitted_zone(obs: Observation) -> str | None:
    """The nearest active zone the vehicle may not enter, within NEAR_ZONE_M; None when there is none."""
    near = [v for v in obs.zones if v.active and not v.permitted and not v.farther_than(NEAR_ZONE_M)]
    return min(near, key=lambda v: (v.distance_m, v.zone.zone_id)).zone.zone_id if near else None
