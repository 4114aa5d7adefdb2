"""Device and driving profiles: every bundle mixes them, labels name them, and each behaves as its real model does."""

from __future__ import annotations

import itertools
import json
import random
import statistics
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from can_sim.scenarios import ScenarioError, generate_bundle
from can_sim.scenarios.device import Device, TrueState
from can_sim.scenarios.fleets import DeviceProfile
from can_sim.scenarios.network import Projection
from can_sim.scenarios.profiles import DEVICE_KINDS, DRIVING_PROFILES, RENTAL_DRIVING, apply_device_kind
from telematics.geo import haversine_m
from telematics.parse import parse_telemetry
from telematics.timeutil import parse_rfc3339_ms

MORNING = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)  # Tuesday 07:00 in Berlin
DAY = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
Track = list[dict[str, Any]]


def _tracks(bundle: Path) -> dict[str, Track]:
    out: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for line in (bundle / "telemetry.jsonl").read_bytes().splitlines():
        record = orjson.loads(line)
        out[record["vehicle_id"]].setdefault(record["seq"], record)
    return {vid: sorted(rs.values(), key=lambda r: r["ts"]) for vid, rs in out.items()}


def _arrivals(bundle: Path) -> dict[str, Track]:
    out: dict[str, Track] = defaultdict(list)
    for line in (bundle / "telemetry.jsonl").read_bytes().splitlines():
        record = orjson.loads(line)
        out[record["vehicle_id"]].append(record)
    return out


def _gaps_s(track: Track) -> list[float]:
    return [(parse_rfc3339_ms(b["ts"]) - parse_rfc3339_ms(a["ts"])) / 1000 for a, b in itertools.pairwise(track)]


def _labels(bundle: Path) -> dict[str, Any]:
    return json.loads((bundle / "labels.json").read_text())


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mixed")
    generate_bundle(out, seed=41, vehicles=30, days=2 / 24, start=MORNING, incidents=[])
    return out


@pytest.fixture(scope="module")
def units(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three Berlin vehicles (two trucks, a van) over a working morning, every unit of one kind per bundle."""
    out = {}
    for kind in DEVICE_KINDS:
        path = tmp_path_factory.mktemp(kind.name)
        generate_bundle(path, seed=42, vehicles=3, days=5 / 24, start=MORNING, cities=["berlin"], incidents=[],
                        device_profile=kind.name, driving_profile="classic")
        out[kind.name] = path
    return out


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Four Berlin vehicles over a whole Tuesday, 1 Hz units, every vehicle on one driving profile per bundle."""
    out = {}
    for profile in DRIVING_PROFILES:
        path = tmp_path_factory.mktemp(profile.name)
        generate_bundle(path, seed=43, vehicles=4, days=1, start=DAY, cities=["berlin"], incidents=[],
                        device_profile="classic", driving_profile=profile.name)
        out[profile.name] = path
    return out


# ----------------------------------------------------------------------------- mixing and labels


def test_every_bundle_mixes_profiles_and_labels_each_vehicle(mixed: Path) -> None:
    labels = _labels(mixed)
    assert labels["generator"]["profiles"] is True
    devices = {v["device_profile"] for v in labels["vehicles"]}
    driving = {v["driving_profile"] for v in labels["vehicles"]}
    assert len(devices) >= 5 and len(driving) >= 4, (devices, driving)
    assert devices <= {k.name for k in DEVICE_KINDS} and driving <= {p.name for p in DRIVING_PROFILES}
    assert all(v["driving_profile"] in RENTAL_DRIVING for v in labels["vehicles"] if v["fleet_kind"] == "rental")
    periods = {v["device"]["period_moving_s"] for v in labels["vehicles"]}
    assert {1, 10} <= periods and periods & {30, 60}
    lines = (mixed / "telemetry.jsonl").read_bytes().splitlines()
    records = [parse_telemetry(line) for line in lines]  # every line a valid contract record
    assert {r.vehicle_id for r in records} == {v["vehicle_id"] for v in labels["vehicles"]}
    assert any(r.hdop is not None for r in records) and any(r.heading_deg is None and r.has_position for r in records)


def test_profiles_are_drawn_per_vehicle_from_the_seed(mixed: Path, tmp_path: Path) -> None:
    generate_bundle(tmp_path, seed=41, vehicles=25, days=0.01, start=MORNING, incidents=[])
    fewer = {v["vehicle_id"]: (v["device_profile"], v["driving_profile"]) for v in _labels(tmp_path)["vehicles"]}
    more = {v["vehicle_id"]: (v["device_profile"], v["driving_profile"]) for v in _labels(mixed)["vehicles"]}
    assert fewer and all(more[vid] == pair for vid, pair in fewer.items())  # adding vehicles reshuffles nobody


def test_classic_and_unknown_profiles(tmp_path: Path) -> None:
    generate_bundle(tmp_path, seed=41, vehicles=6, days=0.01, start=MORNING, incidents=[], profiles=False)
    labels = _labels(tmp_path)
    assert {(v["device_profile"], v["driving_profile"]) for v in labels["vehicles"]} == {("classic", "classic")}
    assert labels["generator"]["profiles"] is False
    with pytest.raises(ScenarioError, match="device_profile: got 'gps_pigeon'"):
        generate_bundle(tmp_path, seed=1, vehicles=1, days=0.01, start=MORNING, device_profile="gps_pigeon")
    with pytest.raises(ScenarioError, match="driving_profile"):
        generate_bundle(tmp_path, seed=1, vehicles=1, days=0.01, start=MORNING, driving_profile="reckless")


# ----------------------------------------------------------------------------- devices


def test_teltonika_reports_by_time_distance_and_angle(units: dict[str, Path]) -> None:
    tracks = _tracks(units["teltonika_10s"])
    truck = tracks["BER-H001"]
    moving = [(a, b) for a, b in itertools.pairwise(truck)
              if (a.get("wheel_speed_kmh") or 0) > 40 and (b.get("wheel_speed_kmh") or 0) > 40]
    gaps = [(parse_rfc3339_ms(b["ts"]) - parse_rfc3339_ms(a["ts"])) / 1000 for a, b in moving]
    assert moving and max(gaps) <= 10 and min(gaps) < 10  # 100 m come before 10 s above 36 km/h
    assert all("hdop" in r and "satellites" in r for r in truck if r.get("gnss_fix"))
    assert len(truck) < len(_tracks(units["classic"])["BER-H001"]) / 4


def test_a_unit_asleep_with_the_ignition_off_sends_nothing_after_switching_off(units: dict[str, Path]) -> None:
    for vid, track in _tracks(units["teltonika_ignition_only"]).items():
        assert track
        for a, b in itertools.pairwise(track):
            assert a["ignition"] or b["ignition"], (vid, a["ts"], b["ts"])
    truck = _tracks(units["teltonika_ignition_only"])["BER-H001"]
    assert truck[0]["ignition"] and truck[0]["gnss_fix"] is False  # woken at the depot, indoors: no fix yet


def test_store_and_forward_bursts_arrive_late_newest_first(units: dict[str, Path]) -> None:
    path = units["store_and_forward"]
    gaps = [c for c in _labels(path)["hard_cases"] if c["kind"] == "late_burst"]
    assert gaps and max(c["details"]["max_late_s"] for c in gaps) >= 120
    newest_first = 0
    for track in _arrivals(path).values():
        run = 0
        for a, b in itertools.pairwise(track):
            run = run + 1 if b["ts"] < a["ts"] else 0
            newest_first = max(newest_first, run)
    assert newest_first >= 5  # a burst of buffered records, each older than the one before it


def test_trackers_report_on_their_period_without_can(units: dict[str, Path]) -> None:
    for name, period in (("tracker_30s", 30), ("tracker_60s", 60)):
        for vid, track in _tracks(units[name]).items():
            assert not any(k in r for r in track for k in ("wheel_speed_kmh", "engine_rpm", "driver_card_id")), vid
            # Switch changes add records in between; with the ignition on, the period is still the most common gap.
            running = [r for r in track if r["ignition"]]
            assert statistics.mode(round(g) for g in _gaps_s(running)) == period, (name, vid)
    assert not any("heading_deg" in r or "gnss_speed_kmh" in r or "gnss_accuracy_m" in r
                   for track in _tracks(units["tracker_60s"]).values() for r in track)
    app = [r for track in _tracks(units["tracker_30s"]).values() for r in track if r.get("gnss_fix")]
    assert app and all(2.0 <= r["gnss_accuracy_m"] <= 60.0 for r in app)
    assert any("heading_deg" in r for track in _tracks(units["tracker_30s"]).values() for r in track)


def test_event_driven_units_report_only_on_movement(units: dict[str, Path]) -> None:
    tracks = _tracks(units["event_driven_60s"])
    truck = tracks["BER-H001"]
    gaps = _gaps_s(truck)
    assert statistics.median(gaps) == pytest.approx(60, abs=1) and max(gaps) > 600  # silent at every stop
    standing = [r for r in truck if r["ignition"] is False]
    assert len(standing) <= 0.05 * len(truck)
    assert not any(k in r for track in tracks.values() for r in track for k in ("heading_deg", "gnss_speed_kmh"))


def test_gnss_errs_more_in_the_city_centre_and_spikes_now_and_then(units: dict[str, Path]) -> None:
    """A standing unit's fixes: the error's size in open sky and among the centre's tall buildings; then single fixes
    far from both neighbours in generated tracks."""
    kind = next(k for k in DEVICE_KINDS if k.name == "tracker_30s")
    profile = apply_device_kind(DeviceProfile(1, 10, 300, False, False, False, 14.2, 12.6), kind)
    projection = Projection.around(52.52, 13.405)

    def mean_error_m(x: float) -> float:
        device = Device("V", profile, projection, seq0=0, window=(0, 10**6), rng=random.Random(1), vmax_kmh=90)
        st = TrueState(t=0, x=x, y=0.0, node=None, ignition=True)
        for t in range(0, 30_000, 30):
            st.t = t
            device.observe(st)
        lat0, lon0 = projection.latlon(x, 0.0)
        fixes = [orjson.loads(line) for *_, line in device.drain()]
        return statistics.fmean(haversine_m(lat0, lon0, r["lat"], r["lon"]) for r in fixes if r.get("lat"))

    centre, outskirts = mean_error_m(0.0), mean_error_m(6000.0)
    assert 4.0 < outskirts < 12.0 and 30.0 < centre < 70.0  # mean length ~1.25 sigma, plus rare spikes
    jumps = 0
    for path in (units["tracker_30s"], units["teltonika_10s"], units["store_and_forward"]):
        for track in _tracks(path).values():
            fixes = [r for r in track if r.get("lat") is not None]
            for a, b, c in zip(fixes, fixes[1:], fixes[2:], strict=False):
                near = haversine_m(a["lat"], a["lon"], c["lat"], c["lon"])
                if (haversine_m(a["lat"], a["lon"], b["lat"], b["lon"]) > 140 + near
                        and haversine_m(b["lat"], b["lon"], c["lat"], c["lon"]) > 140 + near):
                    jumps += 1
    assert jumps >= 1


# ----------------------------------------------------------------------------- driving


def _cases(bundle: Path, kind: str) -> list[dict[str, Any]]:
    return [c for c in _labels(bundle)["hard_cases"] if c["kind"] == kind]


def _during(track: Track, case: dict[str, Any]) -> Track:
    return [r for r in track if case["start"] <= r["ts"] <= case["end"]]


def test_days_run_early_or_late_against_the_plan(days: dict[str, Path]) -> None:
    path = days["early_late"]
    drifts = _cases(path, "schedule_drift")
    assert drifts and all(abs(c["details"]["minutes"]) <= 60 for c in drifts)
    trips = json.loads((path / "trips.geojson").read_text())["features"]
    tracks = _tracks(path)
    for case in drifts:
        first_trip = min((f["properties"] for f in trips if f["properties"]["vehicle_id"] == case["vehicle_id"]),
                         key=lambda p: p["planned_start"])
        leaves = next(r for r in tracks[case["vehicle_id"]] if (r.get("wheel_speed_kmh") or 0) > 5)
        late_s = (parse_rfc3339_ms(leaves["ts"]) - parse_rfc3339_ms(first_trip["planned_start"])) / 1000
        assert late_s == pytest.approx(case["details"]["minutes"] * 60, abs=15 * 60), case


def test_drivers_take_their_breaks_and_refuel_at_the_roadside(days: dict[str, Path]) -> None:
    path = days["long_day"]
    breaks, fuel = _cases(path, "driver_break"), _cases(path, "refuel")
    assert breaks and fuel
    tracks = _tracks(path)
    for case in breaks:
        minutes = (parse_rfc3339_ms(case["end"]) - parse_rfc3339_ms(case["start"])) / 60_000
        assert minutes == pytest.approx(15, abs=2) or minutes == pytest.approx(30, abs=2), case
        off = [r for r in _during(tracks[case["vehicle_id"]], case) if r["ignition"] is False]
        assert off and all(r["driver_card_id"] and r.get("wheel_speed_kmh") is None for r in off)


def test_yard_moves_stay_in_the_yard_and_docks_make_trucks_queue(days: dict[str, Path]) -> None:
    path = days["yard_and_docks"]
    fleet = json.loads((path / "fleet.json").read_text())
    depot = next(s for s in fleet["sites"] if s["kind"] == "depot")
    tracks = _tracks(path)
    moves = _cases(path, "yard_move")
    assert moves
    for case in moves:
        inside = _during(tracks[case["vehicle_id"]], case)
        assert any((r.get("wheel_speed_kmh") or 0) > 3 for r in inside)
        for r in inside:
            assert haversine_m(depot["lat"], depot["lon"], r["lat"], r["lon"]) < depot["radius_m"]
            assert (r.get("wheel_speed_kmh") or 0) <= 12 and r["driver_card_id"] is None
    queues = _cases(path, "dock_queue")
    assert queues
    for case in queues:
        inside = _during(tracks[case["vehicle_id"]], case)[2:-2]
        assert inside and all(r["ignition"] and (r.get("wheel_speed_kmh") or 0) < 1 for r in inside)


def test_jams_stop_trucks_for_minutes_on_their_route(days: dict[str, Path]) -> None:
    def longest_jam_s(path: Path) -> float:
        longest = 0.0
        for track in _tracks(path).values():
            start = None
            for r in track:
                jammed = r["ignition"] and r.get("wheel_speed_kmh") == 0 and not r["parking_brake"]
                if jammed and start is None:
                    start = parse_rfc3339_ms(r["ts"])
                elif not jammed and start is not None:
                    longest = max(longest, (parse_rfc3339_ms(r["ts"]) - start) / 1000)
                    start = None
        return longest

    assert longest_jam_s(days["congested"]) > 120 >= longest_jam_s(days["classic"])
