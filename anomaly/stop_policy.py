"""When the evidence says a vehicle is out of its operator's control and a danger to people: a remote-stop request.

A request is only ever a request: a human in law enforcement authorises or refuses it. The mode never asks
for an abrupt stop at speed: a vehicle heading into people gets a controlled stop (gradual, hazard lights),
one out of control elsewhere is derated (speed_limit) so it cannot reach attack speed, and a parked one is
kept from restarting. At most one request per incident: none while any alert it was raised for stays open.
"""

from __future__ import annotations

import msgspec

from anomaly.observation import Observation
from anomaly.open_alerts import OpenAlert
from telematics.kinds import CONTROL_LOSS_KINDS, ZONE_KINDS

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


def decide(obs: Observation, open_alerts: dict[str, OpenAlert], already_requested: list[str]) -> StopDecision | None:
    """A stop request to raise now, or None."""
    if already_requested and any(a.alert_id in already_requested for a in open_alerts.values()):
        return None
    critical = [a for a in open_alerts.values() if a.severity == "critical"]
    if not critical:
        return None
    speed = obs.speed_kmh or 0.0
    control_loss = sorted((a for a in open_alerts.values() if a.kind in CONTROL_LOSS_KINDS), key=lambda a: a.kind)
    hijack = next((a for a in critical if a.kind == "hijack_suspected"), None)
    zone_triggers = sorted((a for a in critical if a.kind in ZONE_KINDS), key=lambda a: (a.onset_ms, a.alert_id))
    zone_trigger = zone_triggers[0] if zone_triggers else None
    inside_at_speed = zone_trigger is not None and zone_trigger.kind != "ramming_risk" and speed >= ATTACK_SPEED_KMH
    if zone_trigger is not None and obs.moving and (control_loss or inside_at_speed):
        trigger, mode, target = zone_trigger, "controlled_stop", None
        what = "heading into" if zone_trigger.kind == "ramming_risk" else "inside"
        action = "requesting a controlled stop (gradual slow-down to a standstill, hazard lights on)"
        situation = f"{zone_trigger.kind.replace('_', ' ')}: {what} zone {zone_trigger.zone_id} at {speed:.0f} km/h"
    elif hijack is not None:
        trigger = hijack
        towed = any(a.kind == "towing" for a in open_alerts.values()) and obs.record.ignition is not True
        if not obs.moving or towed:
            mode, target = "prevent_restart", None
            action = "requesting that the engine not restart once stopped"
            situation = "hijack suspected while the vehicle is being towed" if towed and obs.moving \
                else "hijack suspected while the vehicle stands"
        elif _near_people(obs):
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
    return StopDecision(
        trigger=trigger,
        mode=mode,
        target_speed_kmh=target,
        alert_ids=[trigger.alert_id, *(a.alert_id for a in others)],
        reason=f"{situation}{because}; {action}",
    )


def _near_people(obs: Observation) -> bool:
    return any(v.active and not v.permitted and not v.farther_than(NEAR_ZONE_M) for v in obs.zones)
