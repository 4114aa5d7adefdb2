"""Scenario timelines, dead reckoning and clocks of the truck simulator."""

from __future__ import annotations

import time

import pytest

from can_sim.truck import (
    DrivenTimeline,
    RealClock,
    SimulatedClock,
    StepTimeline,
    TimelineError,
    VehicleState,
    advance,
    as_timeline,
    simulate_truck,
)
from telematics.canlog import read_frames, write_frames
from telematics.geo import haversine_m
from telematics.j1939 import decode_frame


def test_advance_moves_along_the_heading_and_counts_distance() -> None:
    state = VehicleState(lat=52.0, lon=13.0, speed_kmh=72.0, heading_deg=0.0, ignition=True, odometer_km=10.0)
    later = advance(state, 50.0)  # 72 km/h = 20 m/s, for 50 s = 1000 m due north
    assert haversine_m(52.0, 13.0, later.lat, later.lon) == pytest.approx(1000.0, rel=0.01)
    assert later.lat > 52.0 and later.lon == pytest.approx(13.0)
    assert later.odometer_km == pytest.approx(11.0)
    assert later.fuel_level_pct == pytest.approx(80.0 - 0.075)
    assert state.lat == 52.0  # the input is not changed


def test_driven_timeline_applies_changes_and_drives_between_them() -> None:
    timeline = DrivenTimeline(
        VehicleState(lat=52.0, lon=13.0),
        [(10.0, {"ignition": True, "speed_kmh": 36.0, "heading_deg": 90.0}), (110.0, {"speed_kmh": 0.0})],
    )
    assert timeline.state_at(5.0).ignition is False
    moving = timeline.state_at(60.0)
    assert moving.speed_kmh == 36.0 and moving.odometer_km == pytest.approx(0.5)
    stopped = timeline.state_at(500.0)
    assert stopped.odometer_km == pytest.approx(1.0) and stopped.speed_kmh == 0.0
    assert timeline.state_at(60.0).odometer_km == pytest.approx(0.5)  # asking earlier replays from the start


def test_step_timeline_and_adapters() -> None:
    parked, driving = VehicleState(), VehicleState(ignition=True, speed_kmh=20.0)
    steps = StepTimeline([(0.0, parked), (30.0, driving)])
    assert steps.state_at(29.9) is parked and steps.state_at(30.0) is driving
    assert as_timeline([(0.0, parked)]).state_at(99.0) is parked
    assert as_timeline(lambda t: driving).state_at(1.0) is driving
    assert as_timeline(steps) is steps


def test_timeline_errors_name_the_problem() -> None:
    with pytest.raises(TimelineError, match=r"changes\[1\]: time 5.0 comes before 10.0"):
        DrivenTimeline(VehicleState(), [(10.0, {}), (5.0, {})])
    with pytest.raises(TimelineError, match=r"changes\[0\].wheels: no such VehicleState field"):
        DrivenTimeline(VehicleState(), [(1.0, {"wheels": 6})])
    with pytest.raises(TimelineError, match="steps: got none"):
        StepTimeline([])


def test_simulated_clock_jumps_and_never_goes_back() -> None:
    clock = SimulatedClock(start=100.0)
    clock.sleep_until(105.5)
    clock.sleep_until(101.0)
    assert clock.now() == 105.5


def test_real_clock_runs_the_truck_in_real_time() -> None:
    state = VehicleState(lat=52.0, lon=13.0, ignition=True, speed_kmh=30.0, parking_brake=False)
    started = time.monotonic()
    result = simulate_truck([(0.0, state)], 0.3, clock=RealClock())
    elapsed = time.monotonic() - started
    assert 0.28 <= elapsed < 2.0
    assert len(result.frames) > 20  # EEC1 alone sends every 20 ms
    assert abs(result.frames[-1].timestamp - time.time()) < 2.0


def test_a_simulated_capture_can_be_written_as_blf_and_candump(tmp_path) -> None:  # type: ignore[no-untyped-def]
    state = VehicleState(lat=52.0, lon=13.0, ignition=True, speed_kmh=55.0, parking_brake=False)
    frames = simulate_truck([(0.0, state)], 3.0).frames
    for name in ("capture.blf", "capture.log", "capture.candump"):
        write_frames(tmp_path / name, frames)
        back = list(read_frames(tmp_path / name))
        assert [(f.arbitration_id, f.data) for f in back] == [(f.arbitration_id, f.data) for f in frames]
    speeds = {
        decode_frame(f.arbitration_id, f.data).signals.get("WheelBasedVehicleSpeed")  # type: ignore[union-attr]
        for f in back
        if f.arbitration_id & 0x3FFFF00 == 0x0FEF100
    }
    assert speeds == {55.0}
