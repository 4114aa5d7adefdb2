"""A simulated truck under attack receives signed remote-stop commands: gradual, obeyed, refused when bad."""

from __future__ import annotations

import itertools
import logging
from typing import Any

import can
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from can_sim.truck import DrivenTimeline, VehicleState
from can_sim.truck.command_receiver import RemoteStopTruck
from can_sim.truck.remote_stop import (
    GATEWAY_SA,
    BodyActuators,
    EngineGovernor,
    GovernedTimeline,
    RemoteStopController,
    RemoteStopError,
    tsc1_speed_limit,
)
from can_sim.truck.runner import open_virtual_bus
from can_sim.truck.timeline import StepTimeline
from telematics.commands import CommandEnvelope, epoch_to_datetime, key_id_of, sign_command
from telematics.j1939 import decode_frame, parse_can_id
from telematics.timeutil import format_ms

COMFORT_DECEL_MPS2 = 2.5
CCVS1_PGN = 65265
KEY = Ed25519PrivateKey.generate()
TRUSTED = {key_id_of(KEY.public_key()): KEY.public_key()}
_nonces = itertools.count(1)


def hijacked(speed_kmh: float = 75.0, changes: list[tuple[float, dict[str, Any]]] | None = None) -> DrivenTimeline:
    """A truck driven off its route at speed by someone without a driver card."""
    initial = VehicleState(lat=52.52, lon=13.40, speed_kmh=speed_kmh, heading_deg=90.0, ignition=True,
                           parking_brake=False, driver_card_id=None)
    return DrivenTimeline(initial, changes or [(4.0, {"speed_kmh": speed_kmh + 3})])


def request(mode: str, target: float | None = None, vehicle_id: str = "SIM-001") -> dict[str, Any]:
    return {
        "request_id": f"sr-{mode}", "vehicle_id": vehicle_id, "fleet_id": "nordfracht",
        "ts": "2026-11-24T08:00:00Z", "mode": mode, "target_speed_kmh": target, "status": "sent",
        "alert_ids": ["al-1"], "reason": "hijack suspected", "zone_id": None, "lat": 52.52, "lon": 13.4,
        "history": [
            {"status": "requested", "at": "2026-11-24T08:00:00Z", "by": "detector"},
            {"status": "authorized", "at": "2026-11-24T08:00:03Z", "by": "officer-b"},
            {"status": "sent", "at": "2026-11-24T08:00:04Z", "by": "command-dispatch"},
        ],
    }


def envelope(mode: str, at: float, target: float | None = None, *, key: Ed25519PrivateKey = KEY,
             ttl_s: float = 120.0, nonce: str | None = None, vehicle_id: str = "SIM-001") -> bytes:
    """The command the dispatcher would send for an authorised request, signed at bus time ``at``."""
    sent = request(mode, target, vehicle_id)
    authorized = {**sent, "status": "authorized", "history": sent["history"][:2]}
    signed = sign_command(authorized, key, now=epoch_to_datetime(at), ttl_s=ttl_s,
                          nonce=nonce or f"{next(_nonces):032x}")
    return CommandEnvelope(signed, sent).encode()


def wheel_speeds(truck: RemoteStopTruck) -> list[tuple[float, float]]:
    speeds = []
    for frame in truck.frames:
        if parse_can_id(frame.arbitration_id).pgn == CCVS1_PGN:
            decoded = decode_frame(frame.arbitration_id, frame.data)
            assert decoded is not None
            speeds.append((frame.timestamp, decoded.signals["WheelBasedVehicleSpeed"]))
    return speeds


def max_deceleration(speeds: list[tuple[float, float]]) -> float:
    return max((v0 - v1) / 3.6 / (t1 - t0) for (t0, v0), (t1, v1) in itertools.pairwise(speeds))


def speed_at(speeds: list[tuple[float, float]], t: float) -> float:
    return next(v for ts, v in speeds if ts >= t)


def test_controlled_stop_slows_gradually_stops_with_hazard_lights_and_parking_brake() -> None:
    with RemoteStopTruck(hijacked(75.0), TRUSTED) as truck:
        start = truck.clock.now()
        truck.deliver(envelope("controlled_stop", start + 6), at=start + 6)
        truck.run(40)
        speeds = wheel_speeds(truck)
        assert speed_at(speeds, start + 5.9) == pytest.approx(78.0, abs=0.1)  # under attack, at speed
        assert max_deceleration(speeds) <= COMFORT_DECEL_MPS2
        assert max_deceleration(speeds) == pytest.approx(5.0 / 3.6, abs=0.05)  # the 5 km/h per second ramp
        assert speeds[-1][1] == 0.0
        stopped_at = next(t for t, v in speeds if v == 0.0)
        assert 20 < stopped_at - start < 25  # 78 km/h at 5 km/h per second, plus headroom: ~16.5 s
        assert truck.body.hazard_lights and truck.body.hazard_changes == [True]
        assert truck.timeline.parking_brake_latched
        assert truck.records[-1]["parking_brake"] is True and truck.records[-1]["wheel_speed_kmh"] == 0.0
        assert [s["status"] for s in truck.statuses] == ["acknowledged", "completed"]
        completed = truck.statuses[-1]
        assert [e["status"] for e in completed["history"]] == [
            "requested", "authorized", "sent", "acknowledged", "completed"]
        assert completed["history"][-1]["by"] == "vehicle:SIM-001"
        assert completed["history"][-2]["at"] == format_ms(round((start + 6) * 1000))
        assert "parking brake" in completed["history"][-1]["note"]
        limits = truck.controller.limits_sent
        assert limits[0][1] == pytest.approx(80.0, abs=0.1) and limits[-1][1] == 0.0


@pytest.mark.parametrize(
    ("switched_off_s", "command_s", "run_s"),
    [
        # Stopped in the zone by its driver before the officers decided; the engine goes off half a second after
        # the command came, before the parking brake could be confirmed: the ECUs that report it fall silent.
        pytest.param(3.5, 3.0, 10.0, id="switched-off-as-the-command-came"),
        # The officers decided minutes after the truck was parked and switched off: the ECUs that report its speed
        # and parking brake fell silent long before the command came, and a parked truck must not stay
        # "acknowledged".
        pytest.param(1.0, 60.0, 70.0, id="parked-and-switched-off-long-before"),
    ],
)
def test_a_controlled_stop_for_a_truck_that_stands_and_is_switched_off_completes(
    switched_off_s: float, command_s: float, run_s: float
) -> None:
    with RemoteStopTruck(hijacked(0.0, [(switched_off_s, {"ignition": False})]), TRUSTED) as truck:
        start = truck.clock.now()
        truck.deliver(envelope("controlled_stop", start + command_s), at=start + command_s)
        truck.run(run_s)
        assert [s["status"] for s in truck.statuses] == ["acknowledged", "completed"]
        assert "ignition off" in truck.statuses[-1]["history"][-1]["note"]


def test_a_controlled_stop_for_a_switched_off_truck_that_still_moves_is_not_completed() -> None:
    # Key off but rolling (towed, or coasting down a ramp): the gateway's receiver measures the ground speed, and a
    # vehicle that moves has not stopped.
    with RemoteStopTruck(hijacked(0.0, [(1.0, {"ignition": False, "speed_kmh": 20.0})]), TRUSTED) as truck:
        start = truck.clock.now()
        truck.deliver(envelope("controlled_stop", start + 60), at=start + 60)
        truck.run(70)
        assert truck.gateway.view.record_fields(truck.clock.now()).get("gnss_speed_kmh", 0.0) > 10.0
        assert [s["status"] for s in truck.statuses] == ["acknowledged"]


def test_speed_limit_derates_gradually_and_holds_the_target() -> None:
    with RemoteStopTruck(hijacked(80.0, [(1.0, {"speed_kmh": 80.0})]), TRUSTED) as truck:
        start = truck.clock.now()
        truck.deliver(envelope("speed_limit", start + 3, 30), at=start + 3)
        truck.run(30)
        speeds = wheel_speeds(truck)
        assert max_deceleration(speeds) <= COMFORT_DECEL_MPS2
        held = [v for t, v in speeds if t >= start + 16]
        assert held and all(29.5 <= v <= 30.5 for v in held)
        assert not truck.body.hazard_lights and not truck.timeline.parking_brake_latched
        assert [s["status"] for s in truck.statuses] == ["acknowledged", "completed"]
        assert "30 km/h" in truck.statuses[-1]["history"][-1]["note"]


def test_prevent_restart_lets_it_drive_then_blocks_the_next_start() -> None:
    scenario = hijacked(60.0, [(10.0, {"speed_kmh": 0.0}), (12.0, {"ignition": False}),
                               (20.0, {"ignition": True}), (22.0, {"speed_kmh": 50.0})])
    with RemoteStopTruck(scenario, TRUSTED) as truck:
        start = truck.clock.now()
        truck.deliver(envelope("prevent_restart", start + 3), at=start + 3)
        truck.run(30)
        speeds = wheel_speeds(truck)
        assert speed_at(speeds, start + 8) == pytest.approx(60.0)  # never an abrupt stop at speed
        assert truck.timeline.immobilised and truck.timeline.start_refused == 1
        assert all(v == 0.0 for t, v in speeds if t > start + 20)
        last = truck.records[-1]
        assert last["ignition"] is True and last["engine_rpm"] == 0.0 and last["wheel_speed_kmh"] == 0.0
        assert [s["status"] for s in truck.statuses] == ["acknowledged", "completed"]
        assert truck.statuses[-1]["history"][-1]["at"].startswith("2026-11-24T08:00:12")


def test_forged_expired_and_replayed_commands_are_refused_and_logged(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="can_sim.truck.command_receiver")
    with RemoteStopTruck(hijacked(70.0, [(1.0, {"speed_kmh": 70.0})]), TRUSTED) as truck:
        start = truck.clock.now()
        truck.deliver(envelope("controlled_stop", start + 2, key=Ed25519PrivateKey.generate()), at=start + 2)
        truck.deliver(envelope("controlled_stop", start + 3 - 600, ttl_s=120), at=start + 3)
        accepted = envelope("prevent_restart", start + 4, nonce="ab" * 16)
        truck.deliver(accepted, at=start + 4)
        truck.deliver(accepted, at=start + 5)
        truck.deliver(envelope("controlled_stop", start + 6, nonce="ab" * 16), at=start + 6)
        truck.deliver(envelope("controlled_stop", start + 7, vehicle_id="SIM-002"), at=start + 7)
        truck.deliver(b'{"v":1,"command":"nonsense"}', at=start + 8)
        truck.run(15)
        reasons = [r.reason for r in truck.receiver.refusals]
        assert reasons == ["forged", "expired", "replayed", "replayed", "wrong_vehicle", "malformed"]
        assert truck.receiver.refusals[0].request_id == "sr-controlled_stop"  # claimed, logged, not trusted
        assert all(v == pytest.approx(70.0) for _, v in wheel_speeds(truck))  # keeps driving
        assert truck.controller.limits_sent == [] and not truck.body.hazard_lights
        # only the one genuine command is reported; refusals are the vehicle's log, not a request status
        assert [s["status"] for s in truck.statuses] == ["acknowledged"]
        logged = [r.getMessage() for r in caplog.records]
        assert len(logged) == 6
        assert "forged" in logged[0] and "expired" in logged[1] and "replayed" in logged[2]


def test_engine_honours_tsc1_only_from_the_gateway_with_a_valid_checksum() -> None:
    channel = "truckguard-test-governor"
    sender, receiver = open_virtual_bus(channel), open_virtual_bus(channel)
    try:
        engine = EngineGovernor(receiver)

        def send(can_id: int, data: bytes, t: float) -> None:
            sender.send(can.Message(timestamp=t, arbitration_id=can_id, is_extended_id=True, data=data))
            engine.poll()

        send(*tsc1_speed_limit(20.0, 0, sa=0x99), 1.0)  # spoofed source address
        can_id, data = tsc1_speed_limit(20.0, 1)
        send(can_id, data[:7] + bytes([data[7] ^ 0x10]), 1.01)  # bad checksum
        assert engine.limit_at(1.02) is None and engine.ignored == 2
        send(*tsc1_speed_limit(20.0, 2), 1.03)
        assert engine.limit_at(1.04) == pytest.approx(20.0, abs=0.01)
        assert engine.limit_at(1.5) is None  # the gateway fell silent: the override times out
    finally:
        sender.shutdown()
        receiver.shutdown()


def test_parking_brake_is_never_set_at_speed() -> None:
    body = BodyActuators()
    bus = open_virtual_bus("truckguard-test-parking")
    try:
        moving = VehicleState(speed_kmh=50.0, ignition=True, parking_brake=False)
        timeline = GovernedTimeline(StepTimeline([(0.0, moving), (5.0, VehicleState(ignition=True,
                                                                                    parking_brake=False))]),
                                    EngineGovernor(bus), body)
        body.apply_parking_brake()
        assert timeline.state_at(1.0).speed_kmh == 50.0
        assert not timeline.parking_brake_latched
        stopped = timeline.state_at(6.0)
        assert stopped.speed_kmh == 0.0 and timeline.state_at(7.0).parking_brake
    finally:
        bus.shutdown()


def test_controller_refuses_an_abrupt_ramp() -> None:
    with open_virtual_bus("truckguard-test-ramp") as bus, pytest.raises(RemoteStopError, match="ramp_kmh_per_s"):
        RemoteStopController(bus, lambda now: {}, BodyActuators(), ramp_kmh_per_s=30.0)


def test_tsc1_frames_go_from_the_gateway_to_the_engine() -> None:
    can_id, data = tsc1_speed_limit(40.0, 5)
    fields = parse_can_id(can_id)
    decoded = decode_frame(can_id, data)
    assert (fields.pgn, fields.sa, fields.da, fields.priority) == (0, GATEWAY_SA, 0x00, 3)
    assert decoded is not None and decoded.signals["EngineOverrideControlMode"] == 3
    assert decoded.signals["EngineRequestedSpeedSpeedLimit"] == 600 + 14 * 40
