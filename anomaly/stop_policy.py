"""When the evidence says a vehicle is out of its operator's control and heading into people: a remote-stop request.

A request is only ever a request: a human in law enforcement authorises or refuses it. The mode never asks
for an abrupt stop at speed: a moving vehicle gets a controlled stop (gradual, hazard lights), a parked one
is kept from restarting.
"""

from __future__ import annotations

import msgspec

from anomaly.observation import Observation
from anomaly.open_alerts import OpenAlert

ZONE_KINDS = frozenset({"protected_zone_intrusion", "speed_in_zone", "ramming_risk"})
CONTROL_LOSS_KINDS = frozenset(
    {"unauthorized_driver", "off_hours_use", "towing", "power_cut", "gnss_jamming", "panic", "hijack_suspected"}
)
ATTACK_SPEED_KMH = 30.0
"""A vehicle this fast inside a zone it may not enter is dangerous whoever drives it."""


class StopDecision(msgspec.Struct, kw_only=True):
    trigger: OpenAlert
    mode: str
    target_speed_kmh: float | None
    alert_ids: list[str]
    reason: str


def decide(obs: Observation, open_alerts: dict[str, OpenAlert], already_requested: list[str]) -> StopDecision | None:
    """A stop request to raise now, or None; at most one while the incidents that triggered it stay open."""
    if any(a.alert_id in already_requested for a in open_alerts.values()):
        return None
    triggers = [a for a in open_alerts.values() if a.kind in ZONE_KINDS and a.severity == "critical"]
    if not triggers or not obs.moving:
        return None
    trigger = min(triggers, key=lambda a: (a.onset_ms, a.alert_id))
    control_loss = sorted((a for a in open_alerts.values() if a.kind in CONTROL_LOSS_KINDS), key=lambda a: a.kind)
    speed = obs.speed_kmh or 0.0
    if not control_loss and speed < ATTACK_SPEED_KMH:
        return None
    signals = [a.kind.replace("_", " ") for a in control_loss]
    because = f" with {', '.join(signals)}" if signals else ""
    reason = (
        f"{trigger.kind.replace('_', ' ')} in zone {trigger.zone_id} at {speed:.0f} km/h{because}; "
        "requesting a controlled stop (gradual slow-down to a standstill, hazard lights on)"
    )
    return StopDecision(
        trigger=trigger,
        mode="controlled_stop",
        target_speed_kmh=None,
        alert_ids=[trigger.alert_id, *(a.alert_id for a in control_loss)],
        reason=reason,
    )
