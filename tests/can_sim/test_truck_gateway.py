"""The telematics gateway on hand-fed frames: mapping to contract fields, staleness, spoofed values, DI, Notifier."""

from __future__ import annotations

import time
from typing import Any

import can

from can_sim.truck import GatewayConfig, TelematicsGateway, open_virtual_bus
from telematics.j1939 import DriverIdentification, bam_frames, encode_driver_identification, encode_frame
from telematics.validation import validate_record

T0 = 1795507200.0


def _gateway(**config: Any) -> tuple[TelematicsGateway, list[dict[str, Any]]]:
    records: list[dict[str, Any]] = []
    settings = {"warmup_s": 0.0, **config}
    return TelematicsGateway("TG-1", on_record=records.append, config=GatewayConfig(**settings)), records


def _feed(gateway: TelematicsGateway, t: float, message: str, signals: dict[str, Any], sa: int) -> None:
    can_id, data = encode_frame(message, signals, sa=sa)
    gateway.handle(can_id, data, t)


def test_signals_map_to_contract_fields() -> None:
    gateway, records = _gateway()
    _feed(gateway, T0, "VP", {"Latitude": 48.1, "Longitude": 11.5}, 0x1C)
    _feed(gateway, T0, "VDS", {"CompassBearing": 270.0, "NavigationBasedVehicleSpeed": 42.0}, 0x1C)
    _feed(gateway, T0, "CCVS1", {"WheelBasedVehicleSpeed": 41.5, "ParkingBrakeSwitch": 0}, 0x0B)
    _feed(gateway, T0, "EEC1", {"EngineSpeed": 1234.5}, 0x00)
    _feed(gateway, T0, "VEP1", {"KeyswitchBatteryPotential": 27.0, "BatteryPotentialPowerInput1": 27.5}, 0x30)
    _feed(gateway, T0, "DC2", {"OpenStatusOfDoor1": 0, "OpenStatusOfDoor2": 1, "OpenStatusOfDoor3": 0}, 0x21)
    _feed(gateway, T0, "TGCPL", {"FifthWheelCoupled": 1}, 0x31)
    _feed(gateway, T0, "TGPNC", {"PanicButton": 1}, 0x32)
    _feed(gateway, T0, "VDHR", {"HighResolutionTotalVehicleDistance": 123456785.0}, 0xEE)
    _feed(gateway, T0, "DD", {"FuelLevel1": 62.4}, 0x17)
    _feed(gateway, T0, "TCO1", {"Driver1CardPresence": 0}, 0xEE)
    gateway.tick(T0 + 0.001)
    assert records == [
        {
            "vehicle_id": "TG-1",
            "ts": "2026-11-24T08:00:00.001Z",
            "seq": 0,
            "lat": 48.1,
            "lon": 11.5,
            "gnss_fix": True,
            "gnss_speed_kmh": 42.0,
            "heading_deg": 270.0,
            "wheel_speed_kmh": 41.5,
            "parking_brake": False,
            "engine_rpm": 1234.5,
            "ignition": True,
            "ext_power_v": 27.5,
            "cab_door_open": True,
            "cargo_door_open": False,
            "trailer_connected": True,
            "driver_card_id": None,
            "odometer_km": 123456.785,
            "fuel_level_pct": 62.4,
            "panic": True,
        }
    ]
    validate_record(records[0])


def test_driver_card_id_comes_from_di_and_goes_with_the_card() -> None:
    gateway, records = _gateway()
    _feed(gateway, T0, "TCO1", {"Driver1CardPresence": 1}, 0xEE)
    payload = encode_driver_identification(DriverIdentification("NL000000777001"))
    for index, (can_id, data) in enumerate(bam_frames(65131, payload, sa=0xEE)):
        gateway.handle(can_id, data, T0 + 0.05 * index)
    gateway.tick(T0 + 0.2)
    assert records[-1]["driver_card_id"] == "NL000000777001"
    _feed(gateway, T0 + 0.3, "TCO1", {"Driver1CardPresence": 0}, 0xEE)
    gateway.tick(T0 + 0.4)
    assert records[-1]["driver_card_id"] is None  # card out: reported at once, as an event
    _feed(gateway, T0 + 0.5, "TCO1", {"Driver1CardPresence": 1}, 0xEE)
    assert "driver_card_id" not in gateway.view.record_fields(T0 + 0.5)  # new card, identity not heard yet
    gateway.handle(0x18FE6BEE, b"AB*\xff\xff\xff\xff\xff", T0 + 0.6)  # short DI fits one frame
    assert gateway.view.record_fields(T0 + 0.6)["driver_card_id"] == "AB"


def test_stale_values_are_left_out_not_repeated() -> None:
    gateway, _ = _gateway()
    _feed(gateway, T0, "CCVS1", {"WheelBasedVehicleSpeed": 10.0}, 0x0B)
    _feed(gateway, T0, "VP", {"Latitude": 48.1, "Longitude": 11.5}, 0x1C)
    assert gateway.view.record_fields(T0 + 0.3)["wheel_speed_kmh"] == 10.0
    later = gateway.view.record_fields(T0 + 2.0)  # CCVS1 is a 100 ms message: gone after 1.5 s
    assert "wheel_speed_kmh" not in later and later["lat"] == 48.1  # VP (5 s) still counts
    assert gateway.view.record_fields(T0 + 16.0) == {"gnss_fix": False}


def test_out_of_contract_values_are_dropped_and_counted() -> None:
    gateway, records = _gateway()
    # a spoofed VEP1 claiming 3000 V: valid J1939 (0.05 V/bit) but outside the contract's 0-100 V
    _feed(gateway, T0, "VEP1", {"KeyswitchBatteryPotential": 24.0, "BatteryPotentialPowerInput1": 3000.0}, 0x99)
    _feed(gateway, T0, "VDS", {"CompassBearing": 400.0}, 0x1C)
    gateway.tick(T0)
    assert "ext_power_v" not in records[0] and records[0]["ignition"] is True
    assert "heading_deg" not in records[0]
    assert gateway.stats.dropped_fields == 1
    validate_record(records[0])


def test_garbage_frames_are_counted_not_fatal() -> None:
    gateway, _ = _gateway()
    gateway.handle(0x18FEF100, b"\x01", T0)  # known PGN, one byte
    gateway.handle(0x18FF9900, b"\x00" * 8, T0)  # unknown PGN
    gateway.handle(0x123, b"\x00", T0, is_extended=False)  # 11-bit id: not J1939
    gateway.handle(0x18FE6BEE, b"NO-DELIM", T0)  # DI without its '*'
    assert (gateway.stats.malformed, gateway.stats.unknown, gateway.stats.decoded) == (2, 2, 0)


def test_raw_forwarding_batches_by_time_and_size() -> None:
    batches: list[dict[str, Any]] = []
    config = GatewayConfig(warmup_s=0.0, raw_batch_interval_s=1.0, raw_batch_max_frames=3)
    gateway = TelematicsGateway(
        "TG-1", on_record=lambda record: None, on_frames=batches.append, forward_raw=True, config=config
    )
    for index in range(4):
        gateway.handle(0x18FEF100, b"\xff" * 8, T0 + 0.1 * index)
    assert len(batches) == 1 and len(batches[0]["frames"]) == 3  # size limit
    gateway.tick(T0 + 1.5)
    assert len(batches) == 2 and batches[1]["frames"] == [[T0 + 0.1 * 3, 0x18FEF100, "ff" * 8]]  # time limit


def test_works_as_a_notifier_listener_on_a_virtual_bus() -> None:
    records: list[dict[str, Any]] = []
    gateway = TelematicsGateway("TG-1", on_record=records.append, config=GatewayConfig(warmup_s=0.0))
    sender, listener_bus = open_virtual_bus("tg-notifier-test"), open_virtual_bus("tg-notifier-test")
    notifier = can.Notifier(listener_bus, [gateway], timeout=0.05)
    try:
        can_id, data = encode_frame("CCVS1", {"WheelBasedVehicleSpeed": 25.0}, sa=0x0B)
        sender.send(can.Message(timestamp=time.time(), arbitration_id=can_id, data=data, is_extended_id=True))
        deadline = time.time() + 2.0
        while not records and time.time() < deadline:
            time.sleep(0.01)
    finally:
        notifier.stop()
        sender.shutdown()
        listener_bus.shutdown()
    assert records and records[0]["wheel_speed_kmh"] == 25.0
