"""CAN findings to contract alerts of kind ``can_intrusion``: one per incident and attack type, escalated in place."""

from __future__ import annotations

from collections.abc import Iterable

from anomaly.can_intrusion.findings import CanFinding
from telematics.outputs import Alert, deterministic_id
from telematics.timeutil import format_ms

KIND = "can_intrusion"


def _ms(t: float) -> int:
    return round(t * 1000)


def can_alerts(findings: Iterable[CanFinding], fleet_id: str | None = None) -> list[Alert]:
    """Alerts for the findings that open or escalate an incident; the id depends on vehicle, attack and onset."""
    alerts: list[Alert] = []
    for finding in findings:
        if not finding.report:
            continue
        onset_ms = _ms(finding.onset)
        alerts.append(
            Alert(
                alert_id=deterministic_id("al", finding.vehicle_id, KIND, finding.attack, onset_ms),
                vehicle_id=finding.vehicle_id,
                fleet_id=fleet_id,
                kind=KIND,
                severity=finding.severity,
                ts=format_ms(_ms(finding.ts)),
                onset_ts=format_ms(onset_ms),
                lat=finding.lat,
                lon=finding.lon,
                score=finding.score,
                zone_id=None,
                evidence={
                    "attack": finding.attack,
                    "window_start": format_ms(_ms(finding.window_start)),
                    "window_s": round(finding.window_end - finding.window_start, 3),
                    **finding.details,
                },
                revision=finding.revision,
            )
        )
    return alerts
