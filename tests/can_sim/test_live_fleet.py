"""The live fleet: scenario records become J1939 trucks on Kafka, and an authorised stop really stops one."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from can_sim.live import ScaledClock, ScenarioTimeline
from can_sim.live_fleet import LiveFleetStats, _RequestWatch, run_live_fleet, seq_base
from ingest import topics
from ingest.broker import EmbeddedBroker
from ingest.command_dispatch import CommandDispatch, DispatchOptions
from telematics.commands import generate_keypair
from telematics.geo import destination
from telematics.parse import parse_telemetry
from telematics.timeutil import format_ms, parse_rfc3339_ms
from tests.conftest import wait_for
from tests.ingest.kafka_helpers import produce, read_all

START = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
START_S = START.timestamp()
COMFORT_DECEL_MPS2 = 2.5


def ts(offset_s: float) -> str:
    return format_ms(round((START_S + offset_s) * 1000))


def driving(vehicle_id: str, seconds: int, kmh: float = 72.0, seq: int = 0) -> list[dict[str, Any]]:
    """A truck heading east at a steady speed, one record a second."""
    lat, lon = 52.52, 13.30
    records = []
    for second in range(seconds + 1):
        records.append({
            "vehicle_id": vehicle_id, "ts": ts(second), "seq": seq + second, "lat": round(lat, 7),
            "lon": round(lon, 7), "gnss_fix": True, "gnss_jamming": False, "gnss_speed_kmh": kmh,
            "heading_deg": 90.0, "wheel_speed_kmh": kmh, "engine_rpm": 1400.0, "ignition": True,
            "parking_brake": False, "cab_door_open": False, "cargo_door_open": False, "trailer_connected": True,
            "driver_card_id": None, "panic": False, "ext_power_v": 27.9, "odometer_km": 1000.0 + second * kmh / 3600,
            "fuel_level_pct": 60.0,
        })
        lat, lon = destination(lat, lon, 90.0, kmh / 3.6)
    return records


def parked(vehicle_id: str, seconds: int, every_s: int = 30) -> list[dict[str, Any]]:
    return [{"vehicle_id": vehicle_id, "ts": ts(t), "seq": 500 + n, "lat": 52.50, "lon": 13.40, "gnss_fix": True,
             "ignition": False, "parking_brake": True, "ext_power_v": 12.7, "odometer_km": 42.0}
            for n, t in enumerate(range(0, seconds + 1, every_s))]


def write_bundle(directory: Path, seconds: int) -> dict[str, list[dict[str, Any]]]:
    """A two-vehicle bundle: TG-1 (its incident: driven off without a card) and TG-2, a parked van."""
    by_vehicle = {"TG-1": driving("TG-1", seconds), "TG-2": parked("TG-2", seconds)}
    lines = sorted(itertools.chain(*by_vehicle.values()), key=lambda r: r["ts"])
    directory.mkdir(parents=True)
    (directory / "telemetry.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    device = {"period_moving_s": 1, "heartbeat_s": 20, "sparse": False}
    (directory / "labels.json").write_text(json.dumps({
        "format": "truckguard.labels.v1",
        "vehicles": [{"vehicle_id": "TG-1", "device": device}, {"vehicle_id": "TG-2", "device": device}],
        "incidents": [{"incident_id": "inc-001", "type": "hijack_ramming", "vehicle_id": "TG-1"}],
    }))
    return by_vehicle


def stop_request(vehicle_id: str, authorized_at: datetime) -> dict[str, Any]:
    return {
        "request_id": "sr-live-1", "vehicle_id": vehicle_id, "fleet_id": "tg", "ts": ts(60),
        "mode": "controlled_stop", "target_speed_kmh": None, "status": "authorized", "alert_ids": ["al-1"],
        "reason": "hijack suspected", "zone_id": None, "lat": 52.52, "lon": 13.31,
        "history": [
            {"status": "requested", "at": ts(60), "by": "detector"},
            {"status": "authorized", "at": format_ms(int(authorized_at.timestamp() * 1000)), "by": "officer-b",
             "approval": 2},
        ],
    }


# --- without a broker -------------------------------------------------------------------------------------


def test_scenario_timeline_holds_switches_and_interpolates_motion() -> None:
    records = driving("TG-1", 3, kmh=36.0)
    records[2] = {**records[2], "cab_door_open": True}
    duplicate = {**records[1], "wheel_speed_kmh": 99.0}  # the same seq delivered twice counts once
    late = records.pop(1)
    timeline = ScenarioTimeline([records[0], records[1], late, duplicate, *records[2:]], origin=START_S)
    halfway = timeline.state_at(1.5)
    assert halfway.speed_kmh == pytest.approx(36.0)
    assert halfway.lon == pytest.approx((late["lon"] + records[1]["lon"]) / 2)
    assert not halfway.cab_door_open and timeline.state_at(2.0).cab_door_open  # a switch flips at its record
    assert timeline.state_at(-5).lon == records[0]["lon"] and timeline.state_at(60).lon == records[-1]["lon"]
    assert timeline.jamming_at(1.0) is False and "trailer_connected" in timeline.reported


def test_scaled_clock_runs_from_the_bundle_start_at_its_speed() -> None:
    wall = iter([100.0, 100.0, 102.5])
    clock = ScaledClock(START_S, 20.0, monotonic=lambda: next(wall))
    assert clock.now() == START_S and clock.now() == START_S + 50.0
    with pytest.raises(ValueError, match="speed"):
        ScaledClock(START_S, 0.0)


def test_scaled_clock_slows_to_real_time_keeping_the_event_time_reached() -> None:
    wall = iter([100.0, 102.0, 102.0, 112.0])
    clock = ScaledClock(START_S, 5.0, monotonic=lambda: next(wall))
    assert clock.now() == START_S + 10.0  # 2 s at 5x
    clock.set_speed(1.0)  # a stop request opened
    assert clock.now() == START_S + 20.0  # then 10 s at 1x: the officers' 10 s are the truck's 10 s
    with pytest.raises(ValueError, match="speed"):
        clock.set_speed(-1.0)


def test_request_watch_keeps_the_open_requests_of_its_trucks() -> None:
    watch = _RequestWatch.__new__(_RequestWatch)  # its Kafka consumer is not needed to read messages
    watch.vehicles, watch.open = frozenset({"TG-1"}), {}
    for request_id, vehicle_id, status in (("sr-1", "TG-1", "requested"), ("sr-2", "TG-2", "requested"),
                                           ("sr-1", "TG-1", "authorized")):
        watch._note(json.dumps({"request_id": request_id, "vehicle_id": vehicle_id, "status": status}).encode())
    assert watch.open == {"sr-1": "TG-1"}
    watch._note(b"not json")
    watch._note(json.dumps({"request_id": "sr-1", "vehicle_id": "TG-1", "status": "completed"}).encode())
    assert watch.open == {}


# --- end to end through the embedded broker ---------------------------------------------------------------


def records_of(broker: EmbeddedBroker, topic: str) -> list[dict[str, Any]]:
    return [json.loads(v) for v in read_all(broker.bootstrap, topic)]


@pytest.mark.slow
def test_live_fleet_publishes_scenario_time_and_an_authorised_stop_stops_the_truck(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    seconds = 360
    scenario = write_bundle(tmp_path / "bundle", seconds)
    keys = generate_keypair(tmp_path / "keys")
    topics.ensure_topics(broker.bootstrap, 2)
    stop, ready = threading.Event(), threading.Event()
    dispatch = CommandDispatch(DispatchOptions(bootstrap=broker.bootstrap, private_key_path=keys.private_path))
    result: list[LiveFleetStats] = []
    threads = [
        threading.Thread(target=dispatch.run, args=(stop, ready), daemon=True),
        threading.Thread(target=lambda: result.append(run_live_fleet(
            tmp_path / "bundle", broker.bootstrap, speed=20.0, public_key_path=keys.public_path, stop=stop,
            forward_can=True, real_time_while_requested=False)), daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        wait_for(ready.is_set, 20, "the dispatcher to join its group")
        wait_for(lambda: any(r["vehicle_id"] == "TG-1" for r in records_of(broker, topics.TELEMETRY)), 20,
                 "the first telemetry of the J1939 truck")
        authorized_at = datetime.now(UTC) - timedelta(seconds=2)
        produce(broker.bootstrap, topics.STOP_REQUESTS, [stop_request("TG-1", authorized_at)])

        def vehicle_statuses() -> list[dict[str, Any]]:
            return [r for r in records_of(broker, topics.STOP_REQUESTS) if r["history"][-1]["by"] == "vehicle:TG-1"]

        reported = wait_for(lambda: len(vehicle_statuses()) >= 2 and vehicle_statuses(), 30,
                            "the truck's acknowledged and completed statuses")
        threads[1].join(40)  # the fleet ends by itself at the bundle's last event time
        assert not threads[1].is_alive()
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    [stats] = result
    assert stats.bus_vehicles == ["TG-1"] and stats.direct_vehicles == ["TG-2"]
    assert stats.commands == 1 and stats.statuses == 2 and stats.send_errors == 0
    assert [r["status"] for r in reported] == ["acknowledged", "completed"]
    assert [e["status"] for e in reported[-1]["history"]] == [
        "requested", "authorized", "sent", "acknowledged", "completed"]

    # keyed by vehicle, valid, in the scenario's event time
    consumed = read_all(broker.bootstrap, topics.TELEMETRY)
    for raw in consumed:
        parse_telemetry(raw)
    telemetry = [json.loads(v) for v in consumed]
    # published as recorded, numbered from the run's base so a later run of the same vehicles never repeats a seq
    base = seq_base(START_S)
    assert base > 0
    assert [r for r in telemetry if r["vehicle_id"] == "TG-2"] == [{**r, "seq": r["seq"] + base}
                                                                  for r in scenario["TG-2"]]
    truck = sorted((r for r in telemetry if r["vehicle_id"] == "TG-1"), key=lambda r: r["ts"])
    assert sorted(r["seq"] for r in truck) == list(range(base, base + len(truck)))
    times = [parse_rfc3339_ms(r["ts"]) / 1000 - START_S for r in truck]
    assert 0 < times[0] < 2 and seconds - 21 < times[-1] <= seconds  # parked: a heartbeat every 20 s
    assert truck[0]["driver_card_id"] is None and truck[0]["trailer_connected"] is True
    assert truck[0]["wheel_speed_kmh"] == pytest.approx(72.0, abs=0.5)
    [can_batch, *_] = records_of(broker, topics.CAN)
    assert can_batch["vehicle_id"] == "TG-1" and len(can_batch["frames"]) > 50

    # slowed gradually, then stood still where it stopped (not along the scenario's path)
    speeds = [(t, r["wheel_speed_kmh"]) for t, r in zip(times, truck, strict=True)]
    decelerations = [(v0 - v1) / 3.6 / (t1 - t0) for (t0, v0), (t1, v1) in itertools.pairwise(speeds)]
    assert max(decelerations) <= COMFORT_DECEL_MPS2
    stopped = next(i for i, (_, v) in enumerate(speeds) if v == 0.0)
    assert 10 < speeds[stopped][0] - next(t for t, v in speeds if v < 71.0) < 25  # ~72 km/h at 5 km/h per s
    assert all(v == 0.0 for _, v in speeds[stopped:]) and seconds - speeds[stopped][0] > 30
    assert max(t1 - t0 for t0, t1 in itertools.pairwise(times[:stopped])) < 1.2  # a record a second while moving
    # where it stood (the first standing record may carry a position up to one VP period, < 1 m, older)
    assert all(abs(r["lon"] - truck[-1]["lon"]) < 3e-5 and r["lat"] == truck[-1]["lat"] for r in truck[stopped:])
    assert truck[-1]["parking_brake"] is True
    assert truck[-1]["lon"] < scenario["TG-1"][-1]["lon"] - 0.01
