"""evaluate() against small hand-built labels, alerts and stop requests: every metric, and its failure modes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from anomaly.evaluation import EvaluationReport, LabelsError, OutputRecordError, evaluate, format_report
from telematics.outputs import Alert, StopRequest
from telematics.timeutil import format_ms, parse_rfc3339_ms

T0 = parse_rfc3339_ms("2026-12-01T10:00:00Z")


def ts(seconds: float) -> str:
    """RFC 3339 time `seconds` after 10:00."""
    return format_ms(T0 + int(seconds * 1000))


def incident(incident_id: str, kind: str, vehicle: str, start: float, end: float, expected: list[str],
             entry: float | None = None) -> dict[str, Any]:
    return {"incident_id": incident_id, "type": kind, "vehicle_id": vehicle, "start": ts(start), "end": ts(end),
            "expected_alerts": expected, "stop_request_expected": entry is not None, "ramming": entry is not None,
            "zone_id": "z-1" if entry is not None else None, "zone_entry_ts": ts(entry) if entry is not None else None}


def alert(vehicle: str, kind: str, at: float, severity: str = "warning") -> dict[str, Any]:
    return {"alert_id": f"al-{vehicle}-{kind}-{at}", "vehicle_id": vehicle, "fleet_id": "f", "kind": kind,
            "severity": severity, "ts": ts(at), "onset_ts": ts(at), "lat": None, "lon": None, "score": 0.5,
            "zone_id": None, "evidence": {}}


def stop(vehicle: str, at: float) -> dict[str, Any]:
    return {"request_id": f"sr-{vehicle}-{at}", "vehicle_id": vehicle, "fleet_id": "f", "ts": ts(at),
            "mode": "controlled_stop", "status": "requested", "alert_ids": ["a"], "reason": "r"}


LABELS: dict[str, Any] = {
    "format": "truckguard.labels.v1",
    "vehicle_hours": 100.0,
    "incidents": [
        incident("inc-1", "towing", "V1", 0, 600, ["towing"]),
        incident("inc-2", "towing", "V2", 0, 600, ["towing"]),
        incident("inc-3", "towing", "V3", 0, 600, ["towing"]),
        incident("inc-4", "towing", "V4", 0, 600, ["towing"]),
        incident("inc-5", "hijack_ramming", "V5", 0, 900, ["unauthorized_driver", "ramming_risk"], entry=300),
        incident("inc-6", "rental_ramming", "V6", 0, 900, ["ramming_risk"], entry=300),
    ],
    "hard_cases": [{"kind": "tunnel", "vehicle_id": "N1", "start": ts(1000), "end": ts(1060), "details": {}}],
}
ALERTS = [
    alert("V1", "towing", 10), alert("V2", "towing", 20), alert("V3", "towing", 40),
    alert("V1", "towing", 100),  # a later alert of the same incident: the first one counts
    alert("V4", "panic", 30),  # not an expected kind: V4's towing is missed (but the alert is not false)
    alert("V5", "unauthorized_driver", 120), alert("V5", "ramming_risk", 255, "critical"),
    alert("V6", "unauthorized_driver", 100),  # not an early-ramming kind
    alert("V6", "ramming_risk", 310, "critical"),  # after the zone entry: detected, but late
    alert("N1", "gnss_jamming", 1030, "warning"),  # a normal vehicle in a tunnel: false
    alert("N2", "route_deviation", 5000, "warning"),
    alert("N2", "ramming_risk", 6000, "critical"),
    alert("V1", "power_cut", 2000, "info"),  # long after V1's incident: false
]
STOPS = [stop("V5", 280), stop("V6", 320), stop("N2", 6001)]


@pytest.fixture
def report() -> EvaluationReport:
    return evaluate(LABELS, ALERTS, STOPS)


def test_recall_and_delays_per_incident_type(report: EvaluationReport) -> None:
    towing = next(r for r in report.by_type if r.type == "towing")
    assert (towing.incidents, towing.detected, towing.recall) == (4, 3, 0.75)
    assert towing.delay_median_s == 20.0
    assert towing.delay_p90_s == 36.0  # linear between the 2nd (20 s) and 3rd (40 s) of three delays
    hijack = next(r for r in report.by_type if r.type == "hijack_ramming")
    assert (hijack.detected, hijack.delay_median_s) == (1, 120.0)
    assert report.incidents == 6 and report.detected == 5 and report.missed == ["inc-4"]
    assert report.recall == pytest.approx(5 / 6)


def test_ramming_is_scored_before_the_zone_entry(report: EvaluationReport) -> None:
    r = report.ramming
    assert r.incidents == 2
    assert r.detected_before_entry == 1 and r.share_detected_before_entry == 0.5
    assert r.lead_time_median_s == 45.0
    assert r.stop_request_before_entry == 1 and r.share_stop_request_before_entry == 0.5
    # The hijack (V5) was stopped before entry; the rental (V6) is not a hijack or theft and does not count here.
    assert r.control_loss_incidents == 1
    assert r.control_loss_stop_request_before_entry == 1 and r.share_control_loss_stop_request_before_entry == 1.0


def test_false_alerts_per_thousand_vehicle_hours_by_severity(report: EvaluationReport) -> None:
    rates = {row.severity: (row.count, row.per_1000_vehicle_hours) for row in report.false_alerts}
    assert rates == {"info": (1, 10.0), "warning": (2, 20.0), "critical": (1, 10.0), "total": (4, 40.0)}
    assert report.false_alerts_by_kind == {"gnss_jamming": 1, "power_cut": 1, "ramming_risk": 1, "route_deviation": 1}
    assert report.false_alerts_by_hard_case == {"tunnel": 1}
    assert report.false_stop_requests == 1 and report.false_stop_requests_per_1000_vehicle_hours == 10.0


def test_grace_around_the_window() -> None:
    labels = {**LABELS, "incidents": [incident("inc-1", "towing", "V1", 100, 200, ["towing"])]}
    early = evaluate(labels, [alert("V1", "towing", 50)], [], grace_s=60)
    assert early.detected == 1 and early.by_type[0].delay_median_s == 0.0  # before the start counts as no delay
    late = evaluate(labels, [alert("V1", "towing", 261)], [], grace_s=60)
    assert late.detected == 0 and late.false_alerts[-1].count == 1
    assert evaluate(labels, [alert("V1", "towing", 261)], [], grace_s=120).detected == 1


def test_kind_coverage(report: EvaluationReport) -> None:
    assert report.kind_coverage["towing"] == {"expected": 4, "raised": 3}
    assert report.kind_coverage["unauthorized_driver"] == {"expected": 1, "raised": 1}
    assert report.kind_coverage["ramming_risk"] == {"expected": 2, "raised": 2}


def test_accepts_alert_and_stop_request_values() -> None:
    value = Alert(alert_id="a", vehicle_id="V1", fleet_id=None, kind="towing", severity="critical", ts=ts(5),
                  onset_ts=ts(5), lat=None, lon=None, score=1.0, zone_id=None, evidence={})
    request = StopRequest(request_id="s", vehicle_id="N9", fleet_id=None, ts=ts(9), mode="prevent_restart",
                          target_speed_kmh=None, status="requested", alert_ids=["a"], reason="r", zone_id=None,
                          lat=None, lon=None, history=[])
    result = evaluate(LABELS, [value], [request])
    assert result.detected == 1 and result.false_stop_requests == 1


def test_vehicle_hours_given_or_from_the_labels(report: EvaluationReport) -> None:
    assert report.vehicle_hours == 100.0
    assert evaluate(LABELS, ALERTS, STOPS, vehicle_hours=400).false_alerts[-1].per_1000_vehicle_hours == 10.0
    with pytest.raises(LabelsError, match="vehicle_hours"):
        evaluate({**LABELS, "vehicle_hours": None}, ALERTS, STOPS)


def test_empty_inputs() -> None:
    result = evaluate({"incidents": [], "vehicle_hours": 10}, [], [])
    assert result.recall is None and result.by_type == [] and result.ramming.share_detected_before_entry is None
    assert result.false_alerts[-1].count == 0
    assert "incidents 0" in format_report(result)


def test_malformed_inputs_name_the_field() -> None:
    with pytest.raises(LabelsError, match=r"incidents\[0\]\.start"):
        evaluate({**LABELS, "incidents": [{**LABELS["incidents"][0], "start": "yesterday"}]}, [], [])
    with pytest.raises(LabelsError, match="expected_alerts"):
        evaluate({**LABELS, "incidents": [{**LABELS["incidents"][0], "expected_alerts": "towing"}]}, [], [])
    with pytest.raises(LabelsError, match="format"):
        evaluate({**LABELS, "format": "other"}, [], [])
    with pytest.raises(OutputRecordError, match=r"alerts\[0\]\.severity"):
        evaluate(LABELS, [{**ALERTS[0], "severity": "urgent"}], [])
    with pytest.raises(OutputRecordError, match=r"stop_requests\[0\]\.ts"):
        evaluate(LABELS, [], [{**STOPS[0], "ts": None}])


def test_report_renders_and_serialises(report: EvaluationReport) -> None:
    text = format_report(report)
    assert "towing" in text and "75.0%" in text and "lead time 45.0 s" in text and "missed: inc-4" in text
    assert "critical" in text and "false stop requests" in text
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ramming"]["lead_time_median_s"] == 45.0 and data["false_alerts"][-1]["count"] == 4
