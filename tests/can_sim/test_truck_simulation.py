"""A whole simulated truck: ECU periods, deterministic runs, and gateway records that keep the contract."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from can_sim.truck import DrivenTimeline, SimulatedClock, VehicleState, simulate_truck
from telematics.canlog import batch_to_frames
from telematics.j1939 import decode_frame, parse_can_id
from telematics.timeutil import parse_rfc3339_ms
from telematics.validation import validate_record

START = 1795507200.0  # 2026-11-24T08:00:00Z
CARD = "DE0000012345"


def _delivery() -> DrivenTimeline:
    """Parked with the key off; driver gets in, drives east at 36 km/h for 60 s, stops, opens the cargo door."""
    initial = VehicleState(lat=52.43, lon=13.52, odometer_km=1000.0, fuel_level_pct=50.0)
    return DrivenTimeline(
        initial,
        [
            (5.0, {"cab_door_open": True}),
            (7.0, {"cab_door_open": False, "ignition": True, "driver_card_id": CARD}),
            (10.0, {"parking_brake": False, "speed_kmh": 36.0, "heading_deg": 90.0}),
            (70.0, {"speed_kmh": 0.0, "parking_brake": True}),
            (75.0, {"cargo_door_open": True}),
            (80.0, {"ignition": False}),
        ],
    )


@pytest.fixture(scope="module")
def delivery():  # type: ignore[no-untyped-def]
    return simulate_truck(_delivery(), 210.0, clock=SimulatedClock(START), vehicle_id="NF-101", forward_raw=True)


def _t(record: dict) -> float:
    return parse_rfc3339_ms(record["ts"]) / 1000.0 - START


def test_every_record_keeps_the_contract_with_increasing_seq(delivery) -> None:  # type: ignore[no-untyped-def]
    records = delivery.records
    assert len(records) > 60
    assert [record["seq"] for record in records] == list(range(len(records)))
    for record in records:
        validate_record(record)
        assert record["vehicle_id"] == "NF-101" and record["ts"].endswith("Z")
    assert [_t(r) for r in records] == sorted(_t(r) for r in records)


def test_reports_every_second_while_moving_and_every_minute_parked(delivery) -> None:  # type: ignore[no-untyped-def]
    moving = [_t(r) for r in delivery.records if 15 <= _t(r) <= 65]
    gaps = {round(b - a, 3) for a, b in itertools.pairwise(moving)}
    assert gaps == {1.0}
    parked = [_t(r) for r in delivery.records if _t(r) >= 80]
    assert parked[0] < 81  # the key turned off is an event, reported at once
    assert [round(b - a, 3) for a, b in itertools.pairwise(parked)] == [60.0, 60.0]


def test_events_are_reported_at_once(delivery) -> None:  # type: ignore[no-untyped-def]
    first_cargo_open = next(r for r in delivery.records if r.get("cargo_door_open"))
    assert 75.0 <= _t(first_cargo_open) <= 75.3
    first_cab_open = next(r for r in delivery.records if r.get("cab_door_open"))
    assert 5.0 <= _t(first_cab_open) <= 6.1  # key off: the body controller sleeps and sends once a second


def test_record_values_follow_the_truck(delivery) -> None:  # type: ignore[no-untyped-def]
    at_40 = next(r for r in delivery.records if _t(r) >= 40)
    assert at_40["wheel_speed_kmh"] == 36.0 and at_40["ignition"] is True and at_40["parking_brake"] is False
    assert at_40["engine_rpm"] == pytest.approx(600 + 14 * 36)
    assert at_40["driver_card_id"] == CARD  # carried by DI over a BAM transfer
    assert at_40["heading_deg"] == 90.0 and at_40["gnss_fix"] is True
    assert at_40["lon"] > 13.52 and at_40["lat"] == pytest.approx(52.43, abs=1e-6)
    stopped = next(r for r in delivery.records if 72 <= _t(r) < 80)
    # 36 km/h for 60 s is 600 m: odometer (5 m resolution) and position moved by that much
    assert stopped["odometer_km"] == pytest.approx(1000.6, abs=0.006)
    assert stopped["fuel_level_pct"] == pytest.approx(50.0 - 0.6 * 0.075, abs=0.4)
    before_key = next(r for r in delivery.records if _t(r) < 5)
    assert before_key["ignition"] is False and "wheel_speed_kmh" not in before_key  # brakes ECU asleep
    last = delivery.records[-1]
    assert last["ignition"] is False and "engine_rpm" not in last and "driver_card_id" not in last
    assert last["cargo_door_open"] is True and last["ext_power_v"] == 25.2


def test_ecus_send_at_their_periods_from_their_addresses(delivery) -> None:  # type: ignore[no-untyped-def]
    awake = [f for f in delivery.frames if 20.0 <= f.timestamp - START < 60.0]
    counts = Counter((parse_can_id(f.arbitration_id).pgn, parse_can_id(f.arbitration_id).sa) for f in awake)
    assert counts[(61444, 0x00)] == 2000  # EEC1, 20 ms, engine
    assert counts[(65132, 0xEE)] == 800  # TCO1, 50 ms, tachograph
    assert counts[(65265, 0x0B)] == 400  # CCVS1, 100 ms, brakes
    assert counts[(65267, 0x1C)] == 8  # VP, 5 s, navigation
    assert counts[(65271, 0x30)] == 40  # VEP1, 1 s
    asleep = [f for f in delivery.frames if 90.0 <= f.timestamp - START < 190.0]
    asleep_pgns = {parse_can_id(f.arbitration_id).pgn for f in asleep}
    assert 61444 not in asleep_pgns and 65265 not in asleep_pgns  # ignition-powered ECUs are silent
    dc2 = [f for f in asleep if parse_can_id(f.arbitration_id).pgn == 64933]
    assert len(dc2) == 100  # the body controller slows to 1 s while the key is off


def test_ecus_claim_their_address_when_they_wake(delivery) -> None:  # type: ignore[no-untyped-def]
    claims = [
        (f.timestamp - START, parse_can_id(f.arbitration_id).sa)
        for f in delivery.frames
        if parse_can_id(f.arbitration_id).pgn == 60928
    ]
    battery = {sa for t, sa in claims if t < 1.0}
    assert battery == {0x21, 0x1C, 0x30, 0x31, 0x32}
    woken = {sa for t, sa in claims if 7.0 <= t < 9.0}
    assert woken == {0x00, 0x0B, 0x17, 0xEE}


def test_raw_batches_carry_every_frame_in_the_contract_shape(delivery) -> None:  # type: ignore[no-untyped-def]
    forwarded = [frame for batch in delivery.batches for frame in batch_to_frames(batch)]
    assert all(batch["vehicle_id"] == "NF-101" for batch in delivery.batches)
    assert [(f.timestamp, f.arbitration_id, f.data) for f in forwarded] == [
        (f.timestamp, f.arbitration_id, f.data) for f in delivery.frames
    ]
    row = delivery.batches[0]["frames"][0]
    assert isinstance(row[0], float) and isinstance(row[1], int) and row[2] == row[2].lower()


def test_runs_are_deterministic() -> None:
    one = simulate_truck(_delivery(), 30.0, clock=SimulatedClock(START), vehicle_id="NF-101")
    two = simulate_truck(_delivery(), 30.0, clock=SimulatedClock(START), vehicle_id="NF-101")
    assert one.records == two.records
    assert one.frames == two.frames
    records, frames = one  # the result unpacks as (records, frames)
    assert records is one.records and frames is one.frames


def test_gnss_loss_and_power_cut_reach_the_record() -> None:
    initial = VehicleState(lat=52.43, lon=13.52, ignition=True, speed_kmh=50.0, parking_brake=False)
    timeline = DrivenTimeline(initial, [(10.0, {"gnss_fix": False}), (20.0, {"ext_power_v": 0.0})])
    result = simulate_truck(timeline, 30.0, clock=SimulatedClock(START))
    jammed = next(r for r in result.records if 12 <= _t(r) < 20)
    assert jammed["gnss_fix"] is False and "lat" not in jammed and "heading_deg" not in jammed
    assert jammed["wheel_speed_kmh"] == 50.0
    cut = next(r for r in result.records if _t(r) >= 21)
    assert cut["ext_power_v"] == 0.0 and cut["ignition"] is False


def test_frames_decode_back_with_the_codec(delivery) -> None:  # type: ignore[no-untyped-def]
    frame = next(f for f in delivery.frames if parse_can_id(f.arbitration_id).pgn == 65265 and f.timestamp - START > 30)
    decoded = decode_frame(frame.arbitration_id, frame.data)
    assert decoded is not None and decoded.signals["WheelBasedVehicleSpeed"] == 36.0


def test_position_period_can_be_one_second_for_fresh_positions() -> None:
    from can_sim.truck import standard_ecus

    initial = VehicleState(lat=52.43, lon=13.52, ignition=True, speed_kmh=72.0, parking_brake=False)
    result = simulate_truck(DrivenTimeline(initial), 12.0, ecus=standard_ecus(position_period_s=1.0))
    latitudes = [r["lat"] for r in result.records if _t(r) >= 2]  # heading 0: due north
    assert len(set(latitudes)) == len(latitudes) >= 9  # 20 m/s: every record has moved on


def test_a_bad_vehicle_id_is_refused_up_front() -> None:
    from can_sim.truck import TelematicsGateway
    from telematics.validation import InvalidRecord

    with pytest.raises(InvalidRecord, match="vehicle_id: got 'no spaces!'"):
        TelematicsGateway("no spaces!", on_record=print)
