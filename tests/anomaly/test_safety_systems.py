"""safety_system_disabled: warning when switched off on the move, critical heading for a zone, evidence for ramming
and fusion; records without ``safety_systems`` are untouched, and the fast path agrees with looking everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from anomaly.engine import DetectionEngine
from can_sim.truck.zone_scenarios import write_scenario_bundle
from ingest.replay import replay_bundle
from telematics.outputs import Alert
from tests.anomaly.helpers import MARKET_CENTRE, Track, alerts, as_bytes, point, reference, run

ON = {"aebs": "on", "esc": "on", "lane_keeping": "on"}
AEBS_OFF = {**ON, "aebs": "off"}


def _kind(outputs: list, kind: str = "safety_system_disabled") -> list[Alert]:
    return alerts(outputs, kind)


def test_switched_off_on_a_road_away_from_zones_is_a_warning_and_closes_when_back_on() -> None:
    start = point(MARKET_CENTRE, 180, 5_000)  # 5 km south, driving east: no zone ahead
    track = Track("NF-101", "09:00:00", start, safety_systems=ON).drive(90, 20, 50)
    track.set(safety_systems=AEBS_OFF).drive(90, 30, 50)
    track.set(safety_systems=ON).drive(90, 90, 50)
    found = _kind(run(reference(), track.records))
    assert [(a.severity, a.revision) for a in found] == [("warning", 0)]
    assert found[0].evidence["systems_off"] == ["aebs"]
    assert "zone_id" not in found[0].evidence


def test_switched_off_while_parked_is_not_an_alert_and_a_fault_is_not_a_switch_off() -> None:
    track = Track("NF-101", "09:00:00", point(MARKET_CENTRE, 180, 5_000), safety_systems=AEBS_OFF).stand(120)
    track.set(safety_systems={**ON, "esc": "fault", "aebs": "unavailable"}).drive(90, 30, 50)
    assert _kind(run(reference(), track.records)) == []


def test_aebs_off_heading_for_an_active_zone_is_critical_before_entry_and_feeds_ramming_and_fusion() -> None:
    origin = point(MARKET_CENTRE, 270, 700)  # 700 m west of the market, driving east at it
    track = Track("NF-101", "09:00:00", origin, safety_systems=AEBS_OFF).drive(90, 40, 50)
    outputs = run(reference(), track.records)
    critical = [a for a in _kind(outputs) if a.severity == "critical"]
    assert critical, "a warning on the first record (no course yet), escalated in place once the course is known"
    assert critical[0].evidence["zone_id"] == "berlin-breitscheidplatz"
    entry = alerts(outputs, "protected_zone_intrusion")
    assert not entry or critical[0].ts < entry[0].ts
    ramming = alerts(outputs, "ramming_risk")
    assert ramming and "safety_system_off" in ramming[0].evidence["context"]
    assert alerts(outputs, "hijack_suspected"), "safety system off and a ramming risk are two groups of evidence"
    # the same drive with the systems on: no safety alert, and no hijack suspicion from the approach alone
    calm = Track("NF-101", "09:00:00", origin, safety_systems=ON).drive(90, 40, 50)
    calm_outputs = run(reference(), calm.records)
    assert _kind(calm_outputs) == [] and alerts(calm_outputs, "hijack_suspected") == []


def test_records_without_safety_systems_give_the_same_outputs_as_before() -> None:
    # the detector reads only records that carry the field: a record without it neither opens nor closes
    origin = point(MARKET_CENTRE, 270, 700)
    plain = Track("NF-101", "09:00:00", origin).drive(90, 40, 50).records
    with_detector = run(reference(), plain)
    without = run(reference(), plain, engine=DetectionEngine(
        reference(), detectors=[d for d in DetectionEngine(reference()).detectors
                                if d.name != "safety_system_disabled"]))
    assert as_bytes(with_detector) == as_bytes(without)


def test_fast_path_gives_the_same_bytes_on_a_mixed_drive() -> None:
    track = Track("NF-101", "09:00:00", point(MARKET_CENTRE, 270, 900), safety_systems=ON).drive(90, 10, 50)
    track.set(safety_systems=AEBS_OFF).drive(90, 25, 50).set(safety_systems=ON).stand(200)
    track.set(safety_systems={**ON, "lane_keeping": "off"}).drive(0, 30, 40)
    fast = run(reference(), track.records)
    slow = run(reference(), track.records, fast_path=False)
    assert as_bytes(fast) == as_bytes(slow)


@pytest.mark.slow
def test_aebs_off_approach_replay_raises_it_critical_before_the_zone(tmp_path: Path) -> None:
    bundle = tmp_path / "aebs-off-approach"
    run_ = write_scenario_bundle("aebs-off-approach", bundle)
    summary = replay_bundle(bundle, tmp_path / "a.jsonl", tmp_path / "s.jsonl", progress=False)
    assert summary is not None
    import json

    found = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    disabled = [a for a in found if a["kind"] == "safety_system_disabled"]
    assert disabled and disabled[0]["severity"] == "critical"
    zone = run_.guard.zone_set.zones[0]  # type: ignore[union-attr]
    entry_ts = next(r["ts"] for r in run_.records if r.get("lat") and zone.contains(r["lat"], r["lon"]))
    assert disabled[0]["ts"] < entry_ts
    assert not any(a["kind"] == "can_intrusion" for a in found), "the safety ECUs' traffic is ordinary J1939"
