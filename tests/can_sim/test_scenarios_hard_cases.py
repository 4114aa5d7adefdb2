"""Normal behaviour that looks suspicious is generated, labelled as a hard case, and really is normal."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from can_sim.scenarios import generate_bundle
from telematics.bundle import load_reference
from telematics.parse import parse_telemetry
from telematics.records import TelemetryRecord
from telematics.reference import ReferenceData
from telematics.timeutil import parse_rfc3339_ms

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # Tuesday 09:00-11:00 in Berlin


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hard")
    generate_bundle(out, seed=3, vehicles=6, days=2 / 24, start=START, cities=["berlin"], incidents=[],
                    profiles=False)
    return out


@pytest.fixture(scope="module")
def labels(bundle: Path) -> dict[str, Any]:
    return json.loads((bundle / "labels.json").read_text())


@pytest.fixture(scope="module")
def reference(bundle: Path) -> ReferenceData:
    return load_reference(bundle)


@pytest.fixture(scope="module")
def tracks(bundle: Path) -> dict[str, list[TelemetryRecord]]:
    out: dict[str, dict[int | None, TelemetryRecord]] = defaultdict(dict)
    for line in (bundle / "telemetry.jsonl").read_bytes().splitlines():
        record = parse_telemetry(line)
        out[record.vehicle_id].setdefault(record.seq, record)
    return {vid: sorted(rs.values(), key=lambda r: r.ts_ms) for vid, rs in out.items()}


def _cases(labels: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [c for c in labels["hard_cases"] if c["kind"] == kind]


def _within(track: list[TelemetryRecord], case: dict[str, Any]) -> list[TelemetryRecord]:
    start, end = parse_rfc3339_ms(case["start"]), parse_rfc3339_ms(case["end"])
    return [r for r in track if start <= r.ts_ms <= end]


def test_every_hard_case_kind_is_present(labels: dict[str, Any]) -> None:
    kinds = {c["kind"] for c in labels["hard_cases"]}
    assert kinds >= {"tunnel", "detour", "zone_delivery", "alongside_zone", "driver_swap", "late_burst",
                     "sparse_reporting"}
    assert "zone_entry_unplanned" not in kinds
    assert labels["incidents"] == [] and len(labels["normal_vehicles"]) == 6
    assert labels["delivery"]["duplicates"] > 0 and labels["delivery"]["late_records"] > 0


def test_in_a_tunnel_the_wheels_turn_without_a_fix(labels: dict[str, Any],
                                                   tracks: dict[str, list[TelemetryRecord]]) -> None:
    dense = {v["vehicle_id"] for v in labels["vehicles"] if not v["device"]["sparse"]}
    checked = 0
    for case in _cases(labels, "tunnel"):
        inside = _within(tracks[case["vehicle_id"]], case)
        if case["vehicle_id"] in dense and len(inside) > 5:
            blind = [r for r in inside if not r.gnss_fix]
            assert blind and all(r.lat is None for r in blind)
            assert any((r.wheel_speed_kmh or 0) > 20 for r in blind)
            assert not any(r.gnss_jamming for r in inside)
            checked += 1
    assert checked


def test_zone_deliveries_are_permitted_slow_and_in_the_window(labels: dict[str, Any], reference: ReferenceData,
                                                               tracks: dict[str, list[TelemetryRecord]]) -> None:
    for case in _cases(labels, "zone_delivery"):
        zone = next(z for z in reference.zones if z.zone_id == case["details"]["zone_id"])
        vehicle = reference.vehicles[case["vehicle_id"]]
        inside = [r for r in _within(tracks[case["vehicle_id"]], case)
                  if r.has_position and zone.contains(r.lat, r.lon)]  # type: ignore[arg-type]
        assert inside
        for record in inside:
            assert zone.permits(vehicle.category, record.ts_ms)
            assert (record.wheel_speed_kmh or 0) <= (zone.access.max_speed_kmh or 10)


def test_no_normal_vehicle_is_ever_inside_a_zone_it_may_not_be_in(reference: ReferenceData,
                                                                  tracks: dict[str, list[TelemetryRecord]]) -> None:
    for vid, track in tracks.items():
        category = reference.vehicles[vid].category
        for record in track:
            if not record.has_position:
                continue
            for zone in reference.zones:
                if zone.active_at(record.ts_ms) and zone.contains(record.lat, record.lon):  # type: ignore[arg-type]
                    assert zone.permits(category, record.ts_ms), (vid, record)


def test_alongside_passes_stay_outside_the_zone(labels: dict[str, Any]) -> None:
    passes = _cases(labels, "alongside_zone")
    assert passes
    assert all(c["details"]["min_distance_m"] > 5 for c in passes)
    assert any(c["details"]["max_speed_kmh"] > 30 for c in passes)


def test_a_detour_leaves_the_planned_route_briefly(labels: dict[str, Any], reference: ReferenceData,
                                                   tracks: dict[str, list[TelemetryRecord]]) -> None:
    for case in _cases(labels, "detour"):
        start = parse_rfc3339_ms(case["start"])
        trip = reference.trip_at(case["vehicle_id"], start, slack_ms=3_600_000)
        assert trip is not None
        distances = [trip.distance_from_route_m(r.lat, r.lon) for r in _within(tracks[case["vehicle_id"]], case)
                     if r.has_position]  # type: ignore[arg-type]
        assert distances and max(distances) < 700
        assert parse_rfc3339_ms(case["end"]) - start < 600_000


def test_drivers_swap_cards_at_the_depot(labels: dict[str, Any], reference: ReferenceData,
                                         tracks: dict[str, list[TelemetryRecord]]) -> None:
    for case in _cases(labels, "driver_swap"):
        vehicle = reference.vehicles[case["vehicle_id"]]
        assert {case["details"]["card_out"], case["details"]["card_in"]} == vehicle.authorized_driver_cards
        depot = reference.sites_by_fleet[vehicle.fleet_id][0]
        for record in _within(tracks[case["vehicle_id"]], case):
            if record.has_position:
                assert depot.contains(record.lat, record.lon)  # type: ignore[arg-type]
            assert (record.speed_kmh or 0) < 2
