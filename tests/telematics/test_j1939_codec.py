"""The J1939 codec against frames computed by hand, round trips, and the not-available convention."""

from __future__ import annotations

import math

import pytest

from telematics.j1939 import (
    FrameLengthError,
    InvalidSignalValue,
    UnknownMessage,
    decode_frame,
    default_database,
    encode_frame,
    load_database,
)
from telematics.j1939.database import DBC_PATH

CCVS1_80_KMH_PARKED = bytes.fromhex("F7 00 50 FF FF FF FF FF")
# byte 1 = 0xF7 = 0b11_11_01_11: bits 3-4 (SPN 70 parking brake) = 01 "set", the other pairs 11 "not available";
# bytes 2-3 = 80 km/h / (1/256 km/h per bit) = 20480 = 0x5000, little-endian 00 50; bytes 4-8 not available.


@pytest.mark.parametrize("sa", [0x00, 0x0B, 0x17, 0xE3])
def test_ccvs1_from_any_source_address_decodes_the_hand_made_frame(sa: int) -> None:
    frame = decode_frame(0x18FEF100 | sa, CCVS1_80_KMH_PARKED)
    assert frame is not None
    assert (frame.name, frame.pgn, frame.sa, frame.priority) == ("CCVS1", 65265, sa, 6)
    assert frame.signals["WheelBasedVehicleSpeed"] == 80.0
    assert frame.signals["ParkingBrakeSwitch"] == 1
    assert frame.signals["BrakeSwitch"] is None


def test_ccvs1_encode_gives_the_hand_made_frame() -> None:
    can_id, data = encode_frame("CCVS1", {"WheelBasedVehicleSpeed": 80, "ParkingBrakeSwitch": 1}, sa=0x0B)
    assert can_id == 0x18FEF10B
    assert data == CCVS1_80_KMH_PARKED


def test_eec1_engine_speed_by_hand() -> None:
    # 1500 rpm / 0.125 rpm per bit = 12000 = 0x2EE0 -> bytes 4-5 = E0 2E; EEC1 default priority 3 -> 0x0CF00400
    can_id, data = encode_frame("EEC1", {"EngineSpeed": 1500}, sa=0x00)
    assert can_id == 0x0CF00400
    assert data == bytes.fromhex("FF FF FF E0 2E FF FF FF")
    frame = decode_frame(can_id, data)
    assert frame is not None and frame.signals["EngineSpeed"] == 1500.0
    assert frame.signals["ActualEnginePercentTorque"] is None


def test_vehicle_position_by_hand() -> None:
    # latitude 52.43: (52.43 + 210) / 1e-7 = 2624300000 = 0x9C6BA3E0 -> E0 A3 6B 9C (bytes 1-4)
    # longitude 13.52: (13.52 + 210) / 1e-7 = 2235200000 = 0x853A7200 -> 00 72 3A 85 (bytes 5-8)
    data = bytes.fromhex("E0 A3 6B 9C 00 72 3A 85")
    frame = decode_frame(0x18FEF31C, data)
    assert frame is not None and frame.name == "VP"
    assert frame.signals["Latitude"] == pytest.approx(52.43, abs=1e-7)
    assert frame.signals["Longitude"] == pytest.approx(13.52, abs=1e-7)
    assert encode_frame("VP", {"Latitude": 52.43, "Longitude": 13.52}, sa=0x1C)[1] == data


def test_keyswitch_potential_and_tachograph_card_by_hand() -> None:
    # VEP1 bytes 7-8: 24.0 V / 0.05 V per bit = 480 = 0x01E0 -> E0 01
    _, vep1 = encode_frame("VEP1", {"KeyswitchBatteryPotential": 24.0}, sa=0x30)
    assert vep1 == bytes.fromhex("FF FF FF FF FF FF E0 01")
    # TCO1 byte 2 bits 5-6 (SPN 1615 driver 1 card) = 01 "present", bits 1-4 and 7-8 not available:
    # 0b11_01_1111 = 0xDF
    frame = decode_frame(0x0CFE6CEE, bytes.fromhex("FF DF FF FF FF FF FF FF"))
    assert frame is not None and frame.signals["Driver1CardPresence"] == 1
    assert frame.signals["Driver1TimeRelatedStates"] is None


def test_door_control_2_cargo_door_by_hand() -> None:
    # DC2: door 3 open status is bits 15-16 (0-based 14-15) = byte 2 bits 7-8; 01 = open,
    # the other pairs of byte 2 not available -> 0b01_11_11_11 = 0x7F
    _, data = encode_frame("DC2", {"OpenStatusOfDoor3": 1}, sa=0x21)
    assert data[1] == 0x7F
    assert data[0] == 0xFF and data[2:] == b"\xff" * 6
    frame = decode_frame(0x18FDA521, data)
    assert frame is not None and frame.signals["OpenStatusOfDoor3"] == 1
    assert frame.signals["OpenStatusOfDoor1"] is None


def test_all_ones_is_not_available_and_0xfe_is_an_error() -> None:
    frame = decode_frame(0x18FEF100, b"\xff" * 8)
    assert frame is not None
    assert all(value is None for value in frame.signals.values())
    assert frame.errors == frozenset()
    # wheel speed raw 0xFE00 (error indicator range 0xFE00-0xFEFF), parking brake 10b (error)
    error = decode_frame(0x18FEF100, bytes.fromhex("FB 00 FE FF FF FF FF FF"))
    assert error is not None
    assert error.signals["WheelBasedVehicleSpeed"] is None and error.signals["ParkingBrakeSwitch"] is None
    assert error.errors == {"WheelBasedVehicleSpeed", "ParkingBrakeSwitch"}


def test_protocol_fields_keep_their_all_ones_values() -> None:
    # TSC1 byte 1 = 0xFF: override control mode 11 means "speed/torque limit control", not "not available"
    frame = decode_frame(0x0C000027, b"\xff" * 8)
    assert frame is not None and frame.name == "TSC1" and frame.da == 0x00
    assert frame.signals["EngineOverrideControlMode"] == 3
    assert frame.signals["MessageChecksum"] == 15
    assert frame.signals["EngineRequestedSpeedSpeedLimit"] is None  # a measured value: 0xFFFF is not available


def test_unsent_signals_and_unused_bits_go_out_as_ones() -> None:
    _, data = encode_frame("TGPNC", {"PanicButton": True}, sa=0x32)
    assert data == bytes.fromhex("FD FF FF FF FF FF FF FF")  # 0b111111_01


def _valid_value(signal) -> float:  # type: ignore[no-untyped-def]
    """A value inside the signal's range that is neither 'not available' nor 'error'."""
    if not signal.raw and signal.length < 8:
        return signal.scale + signal.offset  # raw 1: "on" / "set" for two-bit states
    low = signal.minimum if signal.minimum is not None else signal.offset
    high = signal.maximum if signal.maximum is not None else signal.offset + signal.scale * signal.mask
    raw = round(((low + high) / 2 - signal.offset) / signal.scale)
    return raw * signal.scale + signal.offset


@pytest.mark.parametrize("name", sorted(default_database().by_name))
def test_every_message_round_trips(name: str) -> None:
    spec = default_database().message(name)
    values = {signal.name: _valid_value(signal) for signal in spec.signals}
    can_id, data = encode_frame(name, values, sa=0x42)
    frame = decode_frame(can_id, data)
    assert frame is not None and frame.name == name and frame.sa == 0x42
    for signal in spec.signals:
        assert frame.signals[signal.name] == pytest.approx(values[signal.name], abs=signal.scale / 2), signal.name


def test_unknown_pgn_gives_none_and_short_data_is_refused() -> None:
    assert decode_frame(0x18FF9900, b"\x00" * 8) is None
    with pytest.raises(FrameLengthError, match=r"data: EEC1 \(PGN 61444\) got 3 bytes \(010203\), expected 8"):
        decode_frame(0x0CF00400, b"\x01\x02\x03")


def test_encode_errors_name_the_field_and_value() -> None:
    with pytest.raises(UnknownMessage, match="message_name: got 'CCVS9'"):
        encode_frame("CCVS9", {}, sa=0)
    with pytest.raises(InvalidSignalValue, match=r"CCVS1\.Speed: no such signal"):
        encode_frame("CCVS1", {"Speed": 10}, sa=0)
    with pytest.raises(InvalidSignalValue, match=r"CCVS1.WheelBasedVehicleSpeed: got 300, expected 0 to 250.996"):
        encode_frame("CCVS1", {"WheelBasedVehicleSpeed": 300}, sa=0)
    with pytest.raises(InvalidSignalValue, match="got nan, expected a finite number"):
        encode_frame("CCVS1", {"WheelBasedVehicleSpeed": math.nan}, sa=0)


def test_the_dbc_loads_with_cantools_and_every_message_cites_its_source() -> None:
    database = load_database(DBC_PATH)
    expected = {
        0,
        1024,
        60160,
        60416,
        60928,
        61441,
        61444,
        61487,
        64933,
        65102,
        65103,
        65115,
        65132,
        65217,
        65256,
        65262,
        65265,
        65267,
        65271,
        65276,
        65344,
        65345,
    }
    assert set(database.by_pgn) == expected
    for spec in database.by_name.values():
        assert "Source" in spec.comment or "truckguard project message" in spec.comment, spec.name
        assert str(spec.pgn) in spec.comment, spec.name
