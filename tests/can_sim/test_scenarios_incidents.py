"""Every incident type can be generated, is labelled, and leaves its signature in the telemetry."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from can_sim.scenarios import INCIDENT_TYPES, IncidentSpec, generate_bundle
from telematics.bundle import load_reference
from telematics.parse import parse_telemetry
from telematics.records import TelemetryRecord
from telematics.timeutil import parse_rfc3339_ms

DAY = datetime(2026, 12, 1, 7, 30, tzinfo=UTC)  # Tuesday 08:30 in Berlin: trucks on their trips
NIGHT = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 02:00 in Berlin: trucks parked at the depot
RAMMING = {"hijack_ramming", "theft_at_stop_ramming", "rental_ramming"}

Track = list[TelemetryRecord]


def _generate(out: Path, kind: str, start: datetime) -> tuple[dict[str, Any], Track]:
    # The signatures below read 1 Hz CAN data: the classic profiles (the mixed ones: test_scenarios_profiles.py).
    generate_bundle(out, seed=21, vehicles=3, days=1.5 / 24, start=start, cities=["berlin"], incidents=[kind],
                    profiles=False)
    labels = json.loads((out / "labels.json").read_text())
    assert [i["type"] for i in labels["incidents"]] == [kind]
    incident = labels["incidents"][0]
    records = [parse_telemetry(line) for line in (out / "telemetry.jsonl").read_bytes().splitlines()]
    seen: dict[int | None, TelemetryRecord] = {}
    for record in records:
        if record.vehicle_id == incident["vehicle_id"]:
            seen.setdefault(record.seq, record)
    return labels, sorted(seen.values(), key=lambda r: r.ts_ms)


def _during(track: Track, incident: dict[str, Any]) -> Track:
    start, end = parse_rfc3339_ms(incident["start"]), parse_rfc3339_ms(incident["end"])
    return [r for r in track if start <= r.ts_ms <= end]


def _no_card_while_moving(track: Track, _incident: dict[str, Any]) -> bool:
    return any(r.driver_card_id is None and r.driver_card_reported and (r.wheel_speed_kmh or 0) > 10 for r in track)


SIGNATURES: dict[str, Callable[[Track, dict[str, Any]], bool]] = {
    "hijack_ramming": _no_card_while_moving,
    "theft_at_stop_ramming": _no_card_while_moving,
    "rental_ramming": lambda track, _: any((r.speed_kmh or 0) > 40 for r in track),
    "night_theft": lambda track, _: any(r.ignition and (r.speed_kmh or 0) > 10 for r in track),
    "towing": lambda track, _: any(r.ignition is False and (r.gnss_speed_kmh or 0) > 5 for r in track),
    "jamming": lambda track, _: any(not r.gnss_fix and (r.wheel_speed_kmh or 0) > 10 for r in track)
    and (track[0].gnss_jamming is None or any(r.gnss_jamming for r in track)),
    "tamper_offline": lambda track, incident: any((r.ext_power_v or 99) < 1 for r in track)
    and track[-1].ts_ms <= parse_rfc3339_ms(incident["start"]) + 130_000,
    "cargo_theft": lambda track, _: any(r.cargo_door_open and (r.speed_kmh or 0) < 1 for r in track),
    "trailer_theft": lambda track, _: track[-1].trailer_connected is False,
    "panic": lambda track, _: any(r.panic for r in track),
}


def test_every_incident_type_has_a_signature() -> None:
    assert set(SIGNATURES) == set(INCIDENT_TYPES)


@pytest.mark.parametrize("kind", INCIDENT_TYPES)
def test_incident_is_generated_labelled_and_visible(tmp_path: Path, kind: str) -> None:
    labels, track = _generate(tmp_path, kind, NIGHT if kind == "night_theft" else DAY)
    incident = labels["incidents"][0]
    assert incident["vehicle_id"] not in labels["normal_vehicles"]
    assert labels["window"]["start"] <= incident["start"] < incident["end"] <= labels["window"]["end"]
    assert incident["expected_alerts"]
    assert SIGNATURES[kind](_during(track, incident), incident), kind
    if kind in RAMMING:
        ref = load_reference(tmp_path)
        zone = next(z for z in ref.zones if z.zone_id == incident["zone_id"])
        assert incident["ramming"] and incident["stop_request_before_entry"]
        assert incident["start"] < incident["zone_entry_ts"] <= incident["end"]
        assert incident["entry_speed_kmh"] > 2 * (zone.access.max_speed_kmh or 10)
        assert {"ramming_risk", "protected_zone_intrusion", "speed_in_zone"} <= set(incident["expected_alerts"])
        during = _during(track, incident)
        inside = [r for r in during if r.has_position and zone.contains(r.lat, r.lon)]  # type: ignore[arg-type]
        assert inside and inside[0].ts_ms >= parse_rfc3339_ms(incident["zone_entry_ts"]) - 10_000
    else:
        assert incident["zone_id"] is None and incident["zone_entry_ts"] is None


def test_night_theft_is_off_hours_and_names_its_card(tmp_path: Path) -> None:
    labels, _ = _generate(tmp_path, "night_theft", NIGHT)
    incident = labels["incidents"][0]
    assert "off_hours_use" in incident["expected_alerts"]
    assert incident["details"]["card"]["kind"] in ("none", "unknown")


def test_an_explicit_incident_spec_picks_vehicle_zone_and_time(tmp_path: Path) -> None:
    at = datetime(2026, 12, 1, 7, 40, tzinfo=UTC)
    generate_bundle(tmp_path, seed=4, vehicles=3, days=1 / 24, start=DAY, cities=["berlin"],
                    incidents=[IncidentSpec("hijack_ramming", vehicle_id="BER-H002", at=at,
                                            zone_id="ber-public-square-4")])
    incident = json.loads((tmp_path / "labels.json").read_text())["incidents"][0]
    assert incident["vehicle_id"] == "BER-H002" and incident["zone_id"] == "ber-public-square-4"
    assert incident["start"] >= "2026-12-01T07:40:00Z"
