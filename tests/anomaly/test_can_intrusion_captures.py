"""Small simulated CAN captures for the CAN intrusion tests: a training drive and a different held-out drive."""

from __future__ import annotations

import functools

from anomaly.can_intrusion import CanModel, train_can_model
from can_sim.can_attacks import adas_ecu
from can_sim.truck import DrivenTimeline, SimulatedClock, VehicleState, simulate_truck, standard_ecus
from telematics.canlog import Frame

START = 1795507200.0  # 2026-11-24T08:00:00Z
CARD = "DE0000012345"


def drive(lat: float, speeds: list[float], leg_s: float, odometer_km: float) -> tuple[DrivenTimeline, float]:
    """Key off, cab door, ignition and card, a drive through ``speeds``, a stop with the cargo door, key off."""
    initial = VehicleState(lat=lat, lon=13.52, odometer_km=odometer_km, fuel_level_pct=50.0)
    changes = [
        (2.0, {"cab_door_open": True}),
        (4.0, {"cab_door_open": False, "ignition": True, "driver_card_id": CARD}),
        (8.0, {"parking_brake": False, "speed_kmh": speeds[0], "heading_deg": 90.0}),
    ]
    t = 8.0
    for speed in speeds[1:]:
        t += leg_s
        changes.append((t, {"speed_kmh": speed, "brake_pedal": speed < 30}))
    t += leg_s
    changes += [
        (t, {"speed_kmh": 0.0, "parking_brake": True, "brake_pedal": False}),
        (t + 2, {"cargo_door_open": True}),
        (t + 5, {"cargo_door_open": False}),
        (t + 8, {"ignition": False}),
    ]
    return DrivenTimeline(initial, changes), t + 14


@functools.cache
def training_frames() -> tuple[Frame, ...]:
    timeline, duration = drive(52.43, [30, 50, 70, 20], 8.0, 1000.0)
    ecus = (*standard_ecus(), adas_ecu())
    clock = SimulatedClock(START)
    return tuple(simulate_truck(timeline, duration, clock=clock, vehicle_id="TRAIN-1", ecus=ecus).frames)


@functools.cache
def held_out_frames() -> tuple[Frame, ...]:
    """Another truck of the model, elsewhere, another day, other speeds: never seen in training."""
    timeline, duration = drive(48.14, [40, 85, 55, 10, 60, 45], 7.0, 250_000.0)
    ecus = (*standard_ecus(), adas_ecu())
    clock = SimulatedClock(START + 86_400)
    return tuple(simulate_truck(timeline, duration, clock=clock, vehicle_id="HELD-7", ecus=ecus).frames)


@functools.cache
def model() -> CanModel:
    return train_can_model([list(training_frames())])


def base() -> float:
    """Bus time of the held-out capture's first window."""
    return float(int(held_out_frames()[0].timestamp))
