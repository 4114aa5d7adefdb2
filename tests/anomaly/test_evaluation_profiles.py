"""evaluate() per device profile, driving profile and cadence class, on hand-built labels."""

from __future__ import annotations

from typing import Any

import pytest

from anomaly.evaluation import GroupScore, LabelsError, cadence_class, evaluate, format_report
from tests.anomaly.test_evaluation import alert, incident, stop


def vehicle(vid: str, device: str, driving: str, period: int) -> dict[str, Any]:
    return {"vehicle_id": vid, "device": {"period_moving_s": period, "heartbeat_s": 300, "sparse": period > 1},
            "device_profile": device, "driving_profile": driving}


LABELS: dict[str, Any] = {
    "format": "truckguard.labels.v1",
    "vehicle_hours": 40.0,  # 4 vehicles x 10 h
    "vehicles": [vehicle("H1", "classic", "classic", 1), vehicle("H2", "tracker_60s", "early_late", 60),
                 vehicle("H3", "tracker_30s", "early_late", 30), vehicle("R1", "classic", "congested", 1)],
    "incidents": [
        incident("inc-1", "hijack_ramming", "H1", 0, 900, ["ramming_risk", "hijack_suspected"], entry=300),
        incident("inc-2", "hijack_ramming", "H2", 0, 900, ["ramming_risk", "hijack_suspected"], entry=300),
        incident("inc-3", "rental_ramming", "R1", 0, 900, ["ramming_risk"], entry=300),
    ],
    "hard_cases": [],
}
ALERTS = [
    alert("H1", "ramming_risk", 250, "critical"),  # 50 s before entry
    alert("H2", "ramming_risk", 310, "critical"),  # after entry: found, not early
    alert("R1", "ramming_risk", 280, "critical"),  # 20 s before entry
    alert("H3", "unscheduled_stop", 5000, "warning"),  # normal vehicle: false, loud
    alert("H3", "unscheduled_stop", 6000, "critical"),
    alert("H3", "off_hours_use", 7000, "info"),  # false but quiet: not in the loud count
    alert("H2", "route_deviation", 9000, "warning"),  # after H2's incident: false
]
STOPS = [stop("H1", 260), stop("H3", 6100), stop("R1", 290)]


@pytest.fixture(scope="module")
def groups() -> dict[tuple[str, str], GroupScore]:
    report = evaluate(LABELS, ALERTS, STOPS)
    return {(g.grouping, g.group): g for g in report.by_group}


def test_groups_cover_every_vehicle_once_per_grouping(groups: dict[tuple[str, str], GroupScore]) -> None:
    for grouping in ("device_profile", "driving_profile", "cadence"):
        rows = [g for (name, _), g in groups.items() if name == grouping]
        assert sum(g.vehicles for g in rows) == 4 and sum(g.vehicle_hours for g in rows) == 40.0
    assert set(groups) >= {("device_profile", "classic"), ("device_profile", "tracker_60s"),
                           ("driving_profile", "early_late"), ("cadence", "<=15 s"), ("cadence", "30 s"),
                           ("cadence", "60 s")}


def test_false_loud_alerts_and_stop_requests_per_group(groups: dict[tuple[str, str], GroupScore]) -> None:
    tracker30 = groups[("device_profile", "tracker_30s")]
    assert tracker30.false_loud_alerts == 2 and tracker30.false_loud_by_kind == {"unscheduled_stop": 2}
    assert tracker30.false_loud_per_1000_vehicle_hours == 200.0  # 2 in 10 vehicle-hours
    assert tracker30.false_stop_requests == 1
    early_late = groups[("driving_profile", "early_late")]
    assert early_late.false_loud_alerts == 3 and early_late.vehicle_hours == 20.0
    assert early_late.false_loud_per_1000_vehicle_hours == 150.0
    assert groups[("device_profile", "classic")].false_loud_alerts == 0
    assert groups[("device_profile", "classic")].false_stop_requests == 0


def test_recall_and_ramming_lead_per_group(groups: dict[tuple[str, str], GroupScore]) -> None:
    classic = groups[("device_profile", "classic")]
    assert (classic.incidents, classic.detected, classic.recall) == (2, 2, 1.0)
    assert classic.ramming.detected_before_entry == 2 and classic.ramming.lead_time_median_s == 35.0
    assert classic.ramming.control_loss_incidents == 1 and classic.ramming.control_loss_stop_request_before_entry == 1
    slow = groups[("cadence", "60 s")]
    assert slow.ramming.incidents == 1 and slow.ramming.detected_before_entry == 0 and slow.recall == 1.0
    assert slow.ramming.lead_time_median_s is None
    assert groups[("cadence", "30 s")].recall is None  # no incident on that vehicle


def test_cadence_classes() -> None:
    assert [cadence_class(s) for s in (1, 10, 15, 20, 30, 45, 60, 120)] == [
        "<=15 s", "<=15 s", "<=15 s", "30 s", "30 s", "30 s", "60 s", "60 s"]


def test_report_prints_every_grouping() -> None:
    text = format_report(evaluate(LABELS, ALERTS, STOPS))
    for title in ("by device profile", "by driving profile", "by moving cadence"):
        assert title in text
    assert "tracker_30s: unscheduled_stop 2" in text
    lines = text.splitlines()
    cadence = lines[lines.index(next(line for line in lines if line.startswith("by moving cadence"))) + 1:]
    assert [line.split()[0] for line in cadence[:3]] == ["<=15", "30", "60"]


def test_labels_without_profiles_have_no_groups_and_bad_vehicles_are_named() -> None:
    plain = {k: v for k, v in LABELS.items() if k != "vehicles"}
    assert evaluate(plain, ALERTS, STOPS).by_group == []
    with pytest.raises(LabelsError, match=r"vehicles\[1\]"):
        evaluate({**LABELS, "vehicles": [LABELS["vehicles"][0], {"device_profile": "x"}]}, ALERTS, STOPS)
