"""Fusion: several signals together say the vehicle is no longer under its operator's control (hijack_suspected).

Each alert kind is a piece of evidence with a weight (higher when the alert is critical); independent pieces
combine as 1 − Π(1 − w). One signal alone, however strong, is its own alert and not a hijack: at least two
different groups of evidence are needed (who drives, where it goes, the unit being tampered with, the cargo,
the zones, learned behaviour). Signals are remembered for half an hour after their incidents close, so a stop
with the card pulled followed by a drive off the route is seen as one story.
"""

from __future__ import annotations

from typing import Final

from anomaly.detectors.signal import Signal
from anomaly.detectors.states import FusionState
from anomaly.findings import Detector, Finding, kmh, track, under_way
from anomaly.observation import Observation
from telematics.kinds import CARRIED_KINDS, FUSION_WEIGHTS, FusionWeight

MEMORY_MS: Final = 30 * 60_000
WARN_SCORE: Final = 0.6
CRITICAL_SCORE: Final = 0.8


def _weight(weight: FusionWeight, severity: str) -> float:
    """An info alert (a detour, a stop in traffic) is a weaker sign than the same kind at warning: half its weight."""
    if severity == "critical":
        return weight.critical
    return weight.warning if severity == "warning" else weight.warning / 2


class HijackSuspected(Detector):
    name = "hijack_suspected"
    state_type = FusionState
    clear_ms = 15 * 60_000

    def quiet(self, obs: Observation, state: FusionState) -> bool:
        return not obs.open_alerts and not state.recent and not under_way(state.incident)

    def observe(self, obs: Observation, state: FusionState) -> list[Finding]:
        open_alerts = obs.open_alerts
        recent = state.recent
        incident = state.incident
        if not open_alerts and not recent and incident.onset_ms is None and not incident.is_open:
            return []
        ts = obs.ts_ms
        for alert in open_alerts.values():
            if alert.kind in FUSION_WEIGHTS:
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
            weight = FUSION_WEIGHTS[kind]
            groups.add(weight.group)
            keep *= 1.0 - _weight(weight, signal.severity)
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
            severity=lambda: "critical" if score >= CRITICAL_SCORE and (moving or _carried(recent)) else "warning",
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


def _carried(recent: dict[str, Signal]) -> bool:
    """Among the signals, one says the vehicle is moved without its engine (towed): under way, though not moving."""
    return any(kind in CARRIED_KINDS for kind in recent)
