"""Fusion: several signals together say the vehicle is no longer under its operator's control (hijack_suspected).

Each alert kind is a piece of evidence with a weight (higher when the alert is critical); independent pieces
combine as 1 − Π(1 − w). One signal alone, however strong, is its own alert and not a hijack: at least two
different groups of evidence are needed (who drives, where it goes, the unit being tampered with, the cargo,
the zones, learned behaviour). Signals are remembered for half an hour after their incidents close, so a stop
with the card pulled followed by a drive off the route is seen as one story.
"""

from __future__ import annotations

from anomaly.detectors.signal import Signal
from anomaly.detectors.states import FusionState
from anomaly.findings import Finding, kmh, track
from anomaly.observation import Observation

MEMORY_MS = 30 * 60_000
# kind: (group, weight as warning/info, weight as critical)
EVIDENCE: dict[str, tuple[str, float, float]] = {
    "unauthorized_driver": ("driver", 0.4, 0.55),
    "off_hours_use": ("driver", 0.3, 0.45),
    "panic": ("driver", 0.7, 0.7),
    "towing": ("tamper", 0.55, 0.6),
    "power_cut": ("tamper", 0.35, 0.5),
    "gnss_jamming": ("tamper", 0.4, 0.55),
    "telematics_offline": ("tamper", 0.35, 0.45),
    "can_intrusion": ("tamper", 0.45, 0.55),
    "route_deviation": ("route", 0.4, 0.6),
    "unscheduled_stop": ("route", 0.3, 0.4),
    "cargo_door_open": ("cargo", 0.3, 0.45),
    "trailer_uncoupled": ("cargo", 0.35, 0.45),
    "ramming_risk": ("zone", 0.45, 0.6),
    "protected_zone_intrusion": ("zone", 0.35, 0.5),
    "speed_in_zone": ("zone", 0.15, 0.3),
    "behaviour_anomaly": ("behaviour", 0.25, 0.35),
}
WARN_SCORE = 0.6
CRITICAL_SCORE = 0.8


class HijackSuspected:
    name = "hijack_suspected"
    state_type = FusionState
    clear_ms = 15 * 60_000

    def observe(self, obs: Observation, state: FusionState) -> list[Finding]:
        open_alerts = obs.open_alerts
        recent = state.recent
        incident = state.incident
        if not open_alerts and not recent and incident.onset_ms is None and not incident.is_open:
            return []
        ts = obs.ts_ms
        for alert in open_alerts.values():
            if alert.kind in EVIDENCE:
                known = recent.get(alert.kind)
                severity = alert.severity
                if known is not None and known.severity == "critical" and ts - known.last_ms < MEMORY_MS:
                    severity = "critical"
                recent[alert.kind] = Signal(last_ms=ts, severity=severity, alert_id=alert.alert_id)
        for kind in [k for k, s in recent.items() if ts - s.last_ms > MEMORY_MS]:
            del recent[kind]
        groups: set[str] = set()
        keep = 1.0
        for kind, signal in recent.items():
            group, warn_w, crit_w = EVIDENCE[kind]
            groups.add(group)
            keep *= 1.0 - (crit_w if signal.severity == "critical" else warn_w)
        score = 1.0 - keep
        condition = len(groups) >= 2 and score >= WARN_SCORE
        moving = obs.moving
        kinds = sorted(recent)
        finding = track(
            self.name,
            incident,
            condition,
            ts,
            hold_ms=0,
            clear_ms=self.clear_ms,
            severity=lambda: "critical" if score >= CRITICAL_SCORE and (moving or "towing" in recent) else "warning",
            score=lambda: score,
            evidence=lambda: {
                "signals": {k: recent[k].severity for k in kinds},
                "signal_alert_ids": [recent[k].alert_id for k in kinds],
                "groups": sorted(groups),
                "combined_score": round(score, 3),
                "speed_kmh": kmh(obs.speed_kmh),
                "summary": "out of its operator's control: " + ", ".join(k.replace("_", " ") for k in kinds),
            },
        )
        return [finding] if finding else []
