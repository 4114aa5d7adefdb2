"""A small generated bundle: valid telemetry, loadable reference files, labels, determinism, delivery quirks."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from can_sim.scenarios import (
    INCIDENT_TYPES,
    IncidentError,
    ScenarioError,
    UnknownCityError,
    generate_bundle,
)
from telematics.bundle import load_reference
from telematics.parse import parse_telemetry
from telematics.records import TelemetryRecord

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # a Tuesday, 09:00 in Berlin
FILES = ("fleet.json", "trips.geojson", "zones.geojson", "telemetry.jsonl", "labels.json")


def _generate(out: Path, seed: int = 5) -> None:
    # The classic profiles (1 Hz and evenly sparse units, plans kept): tests/can_sim/test_scenarios_profiles.py
    # covers the mixed ones.
    generate_bundle(out, seed=seed, vehicles=3, days=1 / 24, start=START, cities=["berlin"], profiles=False)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle")
    _generate(out)
    return out


@pytest.fixture(scope="module")
def records(bundle: Path) -> list[TelemetryRecord]:
    return [parse_telemetry(line) for line in (bundle / "telemetry.jsonl").read_bytes().splitlines()]


def test_every_telemetry_line_is_a_valid_contract_record(records: list[TelemetryRecord]) -> None:
    assert len(records) > 1000
    assert {r.vehicle_id for r in records} == {"BER-H001", "BER-H002", "BER-R001"}


def test_reference_files_load_and_match_the_telemetry(bundle: Path, records: list[TelemetryRecord]) -> None:
    ref = load_reference(bundle)
    assert {f.kind for f in ref.fleets.values()} == {"haulier", "rental"}
    assert set(ref.vehicles) == {r.vehicle_id for r in records}
    assert {v.category for v in ref.vehicles.values()} >= {"N1", "N3"}
    assert all(t.vehicle_id in ref.vehicles for t in ref.trips) and ref.trips
    assert len(ref.zones) == 6 and {z.kind for z in ref.zones} >= {"market", "pedestrian_precinct", "transport_hub"}
    rental = next(v for v in ref.vehicles.values() if v.category == "N1")
    assert rental.authorized_driver_cards == frozenset()
    assert all(len(v.authorized_driver_cards) == 2 for v in ref.vehicles.values() if v.category != "N1")
    for record in records:
        if record.has_position:
            assert abs(record.lat - 52.52) < 0.1 and abs(record.lon - 13.405) < 0.15  # type: ignore[operator]


def test_labels_say_what_happened(bundle: Path) -> None:
    labels = json.loads((bundle / "labels.json").read_text())
    assert labels["format"] == "truckguard.labels.v1"
    assert labels["window"] == {"start": "2026-12-01T08:00:00Z", "end": "2026-12-01T09:00:00Z"}
    assert labels["vehicle_hours"] == 3.0
    assert len(labels["vehicles"]) == 3
    assert len(labels["incidents"]) == 1  # the default: one incident per three vehicles
    incident = labels["incidents"][0]
    assert incident["type"] in INCIDENT_TYPES
    assert incident["vehicle_id"] not in labels["normal_vehicles"]
    assert incident["start"] < incident["end"] and incident["expected_alerts"]
    assert len(labels["normal_vehicles"]) == 2
    assert labels["delivery"]["lines"] == labels["delivery"]["records"] + labels["delivery"]["duplicates"]


def test_generation_is_byte_for_byte_deterministic(bundle: Path, tmp_path: Path) -> None:
    _generate(tmp_path)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (bundle / name).read_bytes(), name


def test_another_seed_gives_another_bundle(bundle: Path, tmp_path: Path) -> None:
    _generate(tmp_path, seed=6)
    assert (tmp_path / "telemetry.jsonl").read_bytes() != (bundle / "telemetry.jsonl").read_bytes()


def test_records_arrive_late_out_of_order_and_twice(bundle: Path, records: list[TelemetryRecord]) -> None:
    newest: dict[str, int] = {}
    late = []
    seen: dict[tuple[str, int | None], int] = defaultdict(int)
    for record in records:
        if record.ts_ms < newest.get(record.vehicle_id, 0) - 1000:
            late.append(newest[record.vehicle_id] - record.ts_ms)
        newest[record.vehicle_id] = max(newest.get(record.vehicle_id, 0), record.ts_ms)
        seen[(record.vehicle_id, record.seq)] += 1
    assert late and max(late) <= 45_000
    labels = json.loads((bundle / "labels.json").read_text())
    assert sum(1 for n in seen.values() if n == 2) == labels["delivery"]["duplicates"]
    lines = (bundle / "telemetry.jsonl").read_bytes().splitlines()
    if labels["delivery"]["duplicates"]:
        assert len(set(lines)) < len(lines)  # a duplicate is the very same message again


def _by_vehicle(records: list[TelemetryRecord]) -> dict[str, list[TelemetryRecord]]:
    out: dict[str, dict[int | None, TelemetryRecord]] = defaultdict(dict)
    for record in records:
        out[record.vehicle_id].setdefault(record.seq, record)
    return {vid: sorted(rs.values(), key=lambda r: r.ts_ms) for vid, rs in out.items()}


def test_normal_driving_is_physically_plausible(bundle: Path, records: list[TelemetryRecord]) -> None:
    labels = json.loads((bundle / "labels.json").read_text())
    moving = 0
    for vid in labels["normal_vehicles"]:
        track = _by_vehicle(records)[vid]
        for a, b in itertools.pairwise(track):
            if b.ts_ms - a.ts_ms == 1000 and a.wheel_speed_kmh is not None and b.wheel_speed_kmh is not None:
                change = (b.wheel_speed_kmh - a.wheel_speed_kmh) / 3.6
                assert -3.0 <= change <= 1.6, (vid, a, b)
                moving += b.wheel_speed_kmh > 5
            assert (b.wheel_speed_kmh or 0) <= 90
    assert moving > 300


def test_parked_vehicles_send_heartbeats_and_sparse_devices_report_rarely(records: list[TelemetryRecord]) -> None:
    tracks = _by_vehicle(records)
    rental = tracks["BER-R001"]  # the third vehicle of a city has a sparse device
    gaps = [b.ts_ms - a.ts_ms for a, b in itertools.pairwise(rental)]
    assert min(gaps) >= 1000 and sorted(gaps)[len(gaps) // 2] >= 15_000
    parked = [r for r in records if r.ignition is False]
    assert parked and all(r.wheel_speed_kmh is None for r in parked)


def test_bad_arguments_are_refused_with_the_field_named(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="start"):
        generate_bundle(tmp_path, seed=1, vehicles=1, days=1, start=datetime(2026, 12, 1))  # naive
    with pytest.raises(ScenarioError, match="vehicles"):
        generate_bundle(tmp_path, seed=1, vehicles=0, days=1, start=START)
    with pytest.raises(ScenarioError, match="days"):
        generate_bundle(tmp_path, seed=1, vehicles=1, days=0, start=START)
    with pytest.raises(UnknownCityError, match="gotham"):
        generate_bundle(tmp_path, seed=1, vehicles=1, days=1, start=START, cities=["gotham"])
    with pytest.raises(IncidentError, match="unknown type"):
        generate_bundle(tmp_path, seed=1, vehicles=1, days=1, start=START, incidents=["alien_invasion"])
    with pytest.raises(IncidentError, match="rental_ramming"):
        generate_bundle(tmp_path, seed=1, vehicles=1, days=1 / 24, start=START, incidents=["rental_ramming"])


def test_no_incidents_on_request(tmp_path: Path) -> None:
    summary = generate_bundle(tmp_path, seed=2, vehicles=2, days=0.02, start=START, incidents=[])
    assert summary.incidents == [] and summary.records > 0
    labels = orjson.loads((tmp_path / "labels.json").read_bytes())
    assert labels["incidents"] == [] and len(labels["normal_vehicles"]) == 2
