"""Telematics offline (watermark and record paths), GNSS jamming and loss, power cut and panic."""

from __future__ import annotations

import random

from anomaly.engine import DetectionEngine
from anomaly.kinematics import learn_scatter
from anomaly.observation import DEFAULT_GNSS_ERROR_M, gnss_error_estimate_m
from anomaly.vehicle_state import MotionState
from telematics.validation import validate_record
from tests.anomaly.helpers import DEPOT, Track, alerts, as_bytes, at, point, reference, run

START = (52.47, 13.40)  # open road, away from sites and zones


def moving_then_silent() -> Track:
    return Track("NF-101", "09:00:00", START).drive(0, 120, 60, every_s=5).silence(600).drive(0, 20, 60, every_s=5)


def test_telematics_offline_by_watermark_and_by_next_record_give_the_same_bytes():
    ref = reference()
    track = moving_then_silent()
    by_record = run(ref, track.records)
    engine = DetectionEngine(ref)
    by_watermark = []
    for raw in track.records:
        record = validate_record(raw)
        if record.ts_ms > at("09:08:00"):
            # The edges call advance() as event time passes; here once before the vehicle is heard again.
            by_watermark.extend(engine.advance(at("09:09:00")))
        by_watermark.extend(engine.process(record).outputs)
    by_watermark.extend(engine.flush_all())
    offline = alerts(by_record, "telematics_offline")
    assert len(offline) == 1 and offline[0].onset_ts == "2026-11-24T09:01:55Z"
    assert offline[0].ts == "2026-11-24T09:06:55Z"  # last record + 300 s, whoever noticed
    assert offline[0].severity == "info"  # ten minutes of silence: a dead spot as often as not
    assert alerts(by_watermark, "telematics_offline") == offline
    assert as_bytes(by_record) == as_bytes(by_watermark)


def test_a_steady_unit_silent_at_speed_for_twenty_minutes_is_a_warning_a_sparse_one_never():
    steady = Track("NF-101", "09:00:00", START).drive(0, 300, 60, every_s=5).silence(1500).drive(0, 60, 60, every_s=5)
    by_record = alerts(run(reference(), steady.records), "telematics_offline")
    assert [(a.severity, a.ts) for a in by_record] == [
        ("info", "2026-11-24T09:09:55Z"), ("warning", "2026-11-24T09:24:55Z"),
    ]
    engine = DetectionEngine(reference())
    by_watermark = []
    for raw in steady.records:
        record = validate_record(raw)
        if record.ts_ms > at("09:10:00"):
            by_watermark.extend(engine.advance(at("09:12:00")))  # the info; the warning waits for the record
        by_watermark.extend(engine.process(record).outputs)
    assert as_bytes(alerts(by_watermark, "telematics_offline")) == as_bytes(by_record)
    sparse = (
        Track("NF-101", "09:00:00", START).drive(0, 1800, 60, every_s=60).silence(3600).drive(0, 300, 60, every_s=60)
    )
    assert [a.severity for a in alerts(run(reference(), sparse.records), "telematics_offline")] == ["info"]


def test_watermark_before_the_threshold_and_parked_vehicles_stay_quiet():
    ref = reference()
    engine = DetectionEngine(ref)
    for raw in Track("NF-101", "09:00:00", START).drive(0, 60, 60, every_s=5).records:
        engine.process(validate_record(raw))
    engine.flush_all()
    assert engine.advance(at("09:01:30")) == []
    parked = DetectionEngine(ref)
    for raw in Track("NF-101", "09:00:00", START).drive(0, 60, 40).stand(60).records:
        parked.process(validate_record(raw))
    parked.flush_all()
    assert parked.advance(at("12:00:00")) == []


def test_offline_threshold_follows_the_vehicles_own_reporting_rate():
    # A unit that reports once a minute while moving: a 3-minute gap is nothing unusual for it.
    track = Track("NF-101", "09:00:00", START).drive(0, 1200, 50, every_s=60).silence(120).drive(0, 300, 50, every_s=60)
    assert not alerts(run(reference(), track.records), "telematics_offline")


def test_gnss_lost_while_driving_longer_than_a_tunnel():
    track = Track("NF-101", "09:00:00", START).drive(0, 30, 60).drive(0, 300, 60, gnss_fix=False)
    found = alerts(run(reference(), track.records), "gnss_jamming")
    assert found and found[0].evidence["source"] == "gnss_lost_while_moving"
    assert found[0].onset_ts == "2026-11-24T09:00:30Z"


def test_tunnel_is_not_jamming():
    track = Track("NF-101", "09:00:00", START).drive(0, 30, 60).drive(0, 90, 60, gnss_fix=False).drive(0, 60, 60)
    assert not alerts(run(reference(), track.records), "gnss_jamming")
    # A jam in a tunnel: ten minutes without a fix, crawling 1.3 km, then out into the open.
    jam = Track("NF-101", "09:00:00", START).drive(0, 30, 60).drive(0, 600, 8, gnss_fix=False).drive(0, 60, 60)
    assert not alerts(run(reference(), jam.records), "gnss_jamming")


def test_gnss_lost_while_the_odometer_runs_on_a_unit_without_wheel_speed():
    # A tracker that reports once a minute, no speed of its own, but the vehicle's odometer in every record.
    def lost(seconds: int, kmh: float, odometer_jump_km: float = 0.0) -> list[dict]:
        no_speed = {"wheel_speed_kmh": ..., "gnss_speed_kmh": ..., "heading_deg": ...}
        track = Track("NF-101", "09:00:00", START).drive(0, 300, kmh, every_s=60, **no_speed)
        records = track.drive(0, seconds, kmh, every_s=60, gnss_fix=False, **no_speed).records
        for n, record in enumerate(records):
            record["odometer_km"] = 100_000.0 + kmh * 60 * n / 3600 + (odometer_jump_km if n >= 7 else 0.0)
        return records

    found = alerts(run(reference(), lost(8 * 60, 40)), "gnss_jamming")
    assert found and found[0].evidence["source"] == "gnss_lost_while_moving"
    assert found[0].evidence["driven_without_fix_m"] >= 2000
    assert not alerts(run(reference(), lost(150, 40)), "gnss_jamming")  # a tunnel's length
    # An odometer that stands (one counting from GNSS), or one that jumps (a reset, a new reading): no distance.
    assert not alerts(run(reference(), lost(8 * 60, 0)), "gnss_jamming")
    assert not alerts(run(reference(), lost(3 * 60, 0, odometer_jump_km=25)), "gnss_jamming")


def test_device_jamming_flag_escalates_while_moving():
    track = Track("NF-101", "09:00:00", START).drive(0, 90, 50, gnss_jamming=True)
    found = alerts(run(reference(), track.records), "gnss_jamming")
    assert [a.severity for a in found] == ["warning", "critical"]
    assert len({a.alert_id for a in found}) == 1 and [a.revision for a in found] == [0, 1]


def test_power_cut_while_driving_and_battery_work_in_the_yard():
    track = Track("NF-101", "09:00:00", START).drive(0, 30, 50).drive(0, 30, 50, ext_power_v=0.0)
    assert alerts(run(reference(), track.records), "power_cut")[0].severity == "critical"
    yard = Track("NF-101", "09:00:00", DEPOT, ignition=False).stand(60).stand(60, ext_power_v=0.0)
    assert [a.severity for a in alerts(run(reference(), yard.records), "power_cut")] == ["warning"]


def test_panic_is_critical_at_once():
    track = Track("NF-101", "09:00:00", START).drive(0, 10, 30).drive(0, 2, 30, panic=True)
    found = alerts(run(reference(), track.records), "panic")
    assert len(found) == 1 and found[0].severity == "critical" and found[0].ts == "2026-11-24T09:00:10Z"


def test_gnss_lost_on_a_sparse_unit_that_reports_a_red_light_is_still_lost():
    # A unit reporting once a minute, no fix, driving, one of its samples taken while waiting at a light.
    track = Track("NF-101", "09:00:00", START).drive(0, 120, 60, every_s=60)
    for _ in range(4):
        track.drive(0, 120, 60, every_s=60, gnss_fix=False).stand(60, every_s=60, gnss_fix=False)
    found = alerts(run(reference(), track.records), "gnss_jamming")
    assert found and found[0].evidence["source"] == "gnss_lost_while_moving"



def test_fix_lost_while_standing_in_the_open_with_the_ignition_on_is_jamming_without_a_flag():
    # No wheel speed (a plain tracker), no jamming flag: the truck stood in a lay-by with a fix, then lost it.
    def lay_by(lost_s: int, origin: tuple[float, float] = START) -> list[dict]:
        track = Track("NF-101", "09:00:00", origin, wheel_speed_kmh=...).drive(0, 60, 50, every_s=10).stand(120)
        return track.stand(lost_s, every_s=30, gnss_fix=False).drive(0, 60, 50, every_s=10).records

    found = alerts(run(reference(), lay_by(15 * 60)), "gnss_jamming")
    assert found and found[0].evidence["source"] == "gnss_lost_standing"
    assert found[0].onset_ts == "2026-11-24T09:03:00Z"  # when the fix was lost, not when it had lasted ten minutes
    assert not alerts(run(reference(), lay_by(8 * 60)), "gnss_jamming")  # a receiver's restart, a short outage
    short_of_the_depot = (DEPOT[0] - 0.0075, DEPOT[1])  # the minute's drive (833 m north) ends in the depot
    assert not alerts(run(reference(), lay_by(15 * 60, short_of_the_depot)), "gnss_jamming")  # a hall, a bay

def test_fix_lost_while_parked_even_at_the_depot_then_driven_without_a_fix_is_jamming():
    # Parked at the depot with a fix and the engine off; the fix goes (a battery jammer beside the cab) while it
    # stays parked, then the engine runs for six minutes without a fix. The truck did not drive into a hall: its
    # sky did not change, so the depot explains nothing.
    def parked_then_started(engine_s: int, moved_between: bool = False) -> list[dict]:
        track = Track("NF-101", "09:00:00", DEPOT, wheel_speed_kmh=..., ignition=False).stand(120, every_s=30)
        if moved_between:  # engine on, into the workshop hall, engine off: an ordinary loss of the sky
            track.set(ignition=True).drive(0, 20, 10, every_s=10).set(ignition=False)
        track.stand(60, every_s=30, gnss_fix=False)
        return track.stand(engine_s, every_s=30, gnss_fix=False, ignition=True).records

    found = alerts(run(reference(), parked_then_started(6 * 60)), "gnss_jamming")
    assert found and found[0].evidence["source"] == "gnss_lost_standing"
    assert found[0].onset_ts == "2026-11-24T09:02:00Z"
    assert not alerts(run(reference(), parked_then_started(4 * 60)), "gnss_jamming")  # a restart, a warm-up
    assert not alerts(run(reference(), parked_then_started(6 * 60, moved_between=True)), "gnss_jamming")


def test_a_parked_tracker_without_speed_whose_fixes_wander_still_stood_in_the_open():
    # A plain tracker reports no speed; parked with the engine off, its fixes wander 40 m in 10 s, which the track
    # between them reads as driving at 14 km/h. The ignition says it stood.
    no_speed = {"wheel_speed_kmh": ..., "gnss_speed_kmh": ...}
    track = Track("NF-101", "09:00:00", START, ignition=False)
    for k in range(4):
        track.lat, track.lon = point(START, 90 * k, 40)
        track.stand(10, every_s=10, **no_speed)
    track.stand(60, every_s=30, gnss_fix=False, **no_speed)
    track.stand(6 * 60, every_s=60, gnss_fix=False, ignition=True, **no_speed)
    found = alerts(run(reference(), track.records), "gnss_jamming")
    assert found and found[0].evidence["source"] == "gnss_lost_standing"


def test_a_unit_that_reports_no_accuracy_has_its_error_learned_from_its_standing_fixes():
    rng = random.Random(3)
    sigma = 30.0  # metres per axis, as among tall buildings
    motion = MotionState()
    here = START
    for stand in range(4):  # four standstills, each after a drive
        learn_scatter(motion, validate_record(Track("NF-101", "09:00:00", here).drive(0, 10, 30).records[0]), True)
        for n in range(15):
            lat, lon = point(point(here, 0, rng.gauss(0, sigma)), 90, rng.gauss(0, sigma))
            fix = Track("NF-101", f"1{stand}:{n:02d}:00", (lat, lon)).stand(10).records[0]
            learn_scatter(motion, validate_record(fix), False)
    record = validate_record(Track("NF-101", "15:00:00", here).stand(10).records[0])
    assert 0.7 * sigma <= gnss_error_estimate_m(record, motion) <= 1.3 * sigma
    # A unit that reports its HDOP keeps its own figure; one never seen standing keeps the assumed error.
    assert gnss_error_estimate_m(validate_record({**Track("NF-101", "15:00:00", here).stand(10).records[0],
                                                  "hdop": 1.0}), motion) == 5.0
    assert gnss_error_estimate_m(record, MotionState()) == DEFAULT_GNSS_ERROR_M
