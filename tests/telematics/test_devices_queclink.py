"""Queclink @Track messages and their mapping to contract records, against the examples of Queclink's own documents."""

from __future__ import annotations

import pytest

from telematics.devices.queclink import (
    MAX_MESSAGE_BYTES,
    QueclinkError,
    decode_report,
    format_message,
    parse_message,
    report_id_and_type,
    sack,
)
from telematics.devices.queclink_telemetry import DigitalInputError, DigitalInputs, block_to_telemetry
from telematics.timeutil import parse_rfc3339_ms
from telematics.validation import InvalidRecord, validate_record

# Examples printed in Queclink's protocol documents, each on one line here (the pages wrap them).
# "GL300 @Tracker Air Interface Protocol", TRACGL300AN001 rev. 1.02, 3.3.1.1, p. 52: a GTFRI with two positions, the
# second without a fix (GPS accuracy 0).
GL300_FRI_TWO_POSITIONS = (
    b"+RESP:GTFRI,1A0102,135790246811220,,0,0,2,1,4.3,92,70.0,121.354335,31.222073,20090214013254,0460,0000,18d8,"
    b"6141,00,0,4.3,92,70.0,121.354335,31.222073,20090101000000,0460,0000,18d8,6141,00,,20090214093254,11F0$"
)
# "GMT100 @Track Air Interface Protocol", TRACGMT100AN001 rev. 1.0, 3.3.1, p. 63: SOS and tow reports.
GMT100_SOS = (
    b"+RESP:GTSOS,080100,135790246811220,,,10,1,1,4.3,92,70.0,121.354335,31.222073,20090214013254,0460,0000,18d8,"
    b"6141,00,2000.0,20090214093254,11F0$"
)
GMT100_TOW = (
    b"+RESP:GTTOW,080100,135790246811220,,,10,1,1,4.3,92,70.0,121.354335,31.222073,20090214013254,0460,0000,18d8,"
    b"6141,00,2000.0,20090214093254,11F0$"
)
# The same document, p. 97: ignition on, 1200 s after it went off, sent without a fix.
GMT100_IGN = (
    b"+RESP:GTIGN,080100,135790246811220,,1200,0,4.3,92,70.0,121.354335,31.222073,20090214013254,0460,0000,18d8,"
    b"6141,00,2000.0,20090214093254,11F0$"
)
# The same document, 3.3.5, p. 104: a buffered report ("+BUFF" instead of "+RESP", all else untouched).
GMT100_BUFF_FRI = (
    b"+BUFF:GTFRI,020100,135790246811220,,0,0,1,1,4.3,92,70.0,121.354335,31.222073,20090214013254,0460,0000,18d8,"
    b"6141,00,,20090214093254,11F0$"
)
# The same document, 3.4, p. 106: a heartbeat, and the server's answer to it.
GMT100_HEARTBEAT = b"+ACK:GTHBD,080100,135790246811220,,20100214093254,11F0$"
GMT100_HEARTBEAT_SACK = b"+SACK:GTHBD,080100,11F0$"
# "GV200 @Track Air Interface Protocol", TRACGV200AN003, p. 105: digital input 2 changed (report ID/type "20").
GV200_DIS = (
    b"+RESP:GTDIS,040100,135790246811220,,,20,1,1,4.3,92,70.0,121.354335,31.222073,20090214013254,0460,0000,18d8,"
    b"6141,00,2000.0,20090214093254,11F0$"
)
# TRACGL300AN001 rev. 1.02, 3.3.4, p. 71-72: power on, and the external supply disconnected (last known position).
GL300_PNA = b"+RESP:GTPNA,1A0102,135790246811220,,20100214093254,11F0$"
GL300_EPF = (
    b"+RESP:GTEPF,1A0102,135790246811220,0,,4.3,92,70.0,121.354335,31.222073,20090214013254,0460,0000,18d8,6141,00,"
    b"20100214093254,11F0$"
)
# The same document, 3.5, p. 85: the server acknowledgement of a message whose count number is 11F0.
GL300_SACK = b"+SACK:11F0$"

IMEI = "135790246811220"
BLOCK = ["1", "36.5", "270", "41.0", "13.404954", "52.520008", "20251124091500", "0262", "0001", "165F", "BE44", "00"]
"""A GNSS block with a fix in Berlin, for the messages built below in the documented layouts."""


def _records(raw: bytes, inputs: DigitalInputs | None = None) -> list[dict]:
    report = decode_report(parse_message(raw))
    assert report is not None
    records = [block_to_telemetry(report, i, "NF-101", inputs or DigitalInputs()) for i in range(len(report.blocks))]
    for record in records:
        validate_record(record)
    return records


def test_a_fixed_report_with_two_positions_gives_two_records() -> None:
    first, second = _records(GL300_FRI_TWO_POSITIONS)
    assert first["ts"] == "2009-02-14T01:32:54Z"  # the GPS UTC time of the fix
    assert (first["lat"], first["lon"]) == (31.222073, 121.354335)
    assert first["gnss_fix"] is True and first["hdop"] == 1.0
    assert (first["gnss_speed_kmh"], first["heading_deg"], first["altitude_m"]) == (4.3, 92.0, 70.0)
    assert first["source"] == "queclink" and first["event"] == "GTFRI"
    # Accuracy 0: the unit repeats a last known position from 2009-01-01; the record has none, at the send time.
    assert second["gnss_fix"] is False and "lat" not in second and "lon" not in second
    assert second["ts"] == "2009-02-14T09:32:54Z"
    assert first["seq"] != second["seq"]


def test_the_common_fields_of_every_message() -> None:
    message = parse_message(GMT100_SOS)
    assert (message.head, message.name, message.imei, message.device_name) == ("+RESP", "GTSOS", IMEI, "")
    assert (message.protocol_version, message.device_type, message.count) == ("080100", "08", 0x11F0)
    assert message.send_ts_ms == parse_rfc3339_ms("2009-02-14T09:32:54Z")
    assert not message.buffered and not message.is_heartbeat


def test_sos_is_the_panic_button() -> None:
    (record,) = _records(GMT100_SOS)
    assert record["panic"] is True
    assert record["odometer_km"] == 2000.0  # the mileage after the position
    assert report_id_and_type(decode_report(parse_message(GMT100_SOS))) == (1, 0)  # type: ignore[arg-type]


def test_towing_says_the_ignition_is_off_and_where_the_vehicle_goes() -> None:
    (record,) = _records(GMT100_TOW)
    assert record["ignition"] is False and "panic" not in record
    assert record["gnss_speed_kmh"] == 4.3


def test_ignition_on_without_a_fix() -> None:
    (record,) = _records(GMT100_IGN)
    assert record["ignition"] is True
    assert record["gnss_fix"] is False and "lat" not in record
    assert record["ts"] == "2009-02-14T09:32:54Z"


def test_a_buffered_report_is_the_same_record_marked_late() -> None:
    (late,) = _records(GMT100_BUFF_FRI)
    (live,) = _records(GMT100_BUFF_FRI.replace(b"+BUFF", b"+RESP", 1))
    assert late["buffered"] is True and "buffered" not in live
    assert late["seq"] == live["seq"]  # the detector drops whichever copy comes second
    assert late["ts"] == live["ts"] == "2009-02-14T01:32:54Z"


def test_the_heartbeat_gets_its_own_acknowledgement() -> None:
    message = parse_message(GMT100_HEARTBEAT)
    assert message.is_heartbeat
    assert sack(message) == GMT100_HEARTBEAT_SACK
    assert decode_report(message) is None  # nothing to publish


def test_reports_are_acknowledged_with_their_count_number() -> None:
    assert sack(parse_message(GL300_PNA)) == GL300_SACK
    assert sack(parse_message(GMT100_SOS)) == GL300_SACK


def test_power_on_carries_no_record() -> None:
    report = decode_report(parse_message(GL300_PNA))
    assert report is not None and report.blocks == ()


def test_external_power_cut_is_ext_power_zero() -> None:
    (record,) = _records(GL300_EPF)
    assert record["ext_power_v"] == 0.0
    assert record["gnss_fix"] is False  # empty GPS accuracy: the last known position is not taken
    assert record["ts"] == "2010-02-14T09:32:54Z"


def test_main_power_cut_and_restore_in_the_same_layout() -> None:
    params = ["0", *BLOCK[1:]]  # GPS accuracy 0: the last known position, as these reports carry
    cut = format_message("+RESP", "GTMPF", "060100", IMEI, params, "20251124091510", 0x22)
    back = format_message("+RESP", "GTMPN", "060100", IMEI, params, "20251124091710", 0x23)
    (cut_record,) = _records(cut)
    (back_record,) = _records(back)
    assert cut_record["ext_power_v"] == 0.0 and cut_record["event"] == "GTMPF"
    assert "ext_power_v" not in back_record and back_record["event"] == "GTMPN"


def test_digital_inputs_map_only_as_assigned() -> None:
    (unassigned,) = _records(GV200_DIS)
    assert unassigned["io"] == {"din2": 0}
    assert "cargo_door_open" not in unassigned
    (door,) = _records(GV200_DIS, DigitalInputs.parse(["cargo_door_open=2"]))
    assert door["cargo_door_open"] is False and "io" not in door
    (inverted,) = _records(GV200_DIS, DigitalInputs.parse(["cargo_door_open=2:inverted"]))
    assert inverted["cargo_door_open"] is True
    (other,) = _records(GV200_DIS, DigitalInputs.parse(["cab_door_open=1"]))
    assert "cab_door_open" not in other and other["io"] == {"din2": 0}


@pytest.mark.parametrize("spec", ["door=2", "cargo_door_open=0", "cargo_door_open=16", "cargo_door_open=2:upside"])
def test_bad_input_assignments_are_refused(spec: str) -> None:
    with pytest.raises(DigitalInputError, match="expected"):
        DigitalInputs.parse([spec])


def test_jamming_detected_and_its_state() -> None:
    detected = format_message("+RESP", "GTJDR", "060100", IMEI, BLOCK, "20251124091500", 7)
    entered = format_message("+RESP", "GTJDS", "060100", IMEI, ["2", *BLOCK], "20251124091500", 8)
    quit_ = format_message("+RESP", "GTJDS", "060100", IMEI, ["1", *BLOCK], "20251124092500", 9)
    assert _records(detected)[0]["gnss_jamming"] is True
    assert _records(entered)[0]["gnss_jamming"] is True
    assert _records(quit_)[0]["gnss_jamming"] is False


def test_gv300_fixed_report_carries_the_external_supply() -> None:
    params = ["12500", "10", "1", *BLOCK, "1234.5", "", "", "", "", "", ""]
    gv300 = format_message("+RESP", "GTFRI", "060100", IMEI, params, "20251124091502", 0x100)
    (record,) = _records(gv300)
    assert record["ext_power_v"] == pytest.approx(12.5)
    assert record["odometer_km"] == 1234.5
    assert record["ts"] == "2025-11-24T09:15:00Z"
    # Another model's first field is another reading: not taken as the supply.
    gv200 = format_message("+RESP", "GTFRI", "040100", IMEI, params, "20251124091502", 0x100)
    assert "ext_power_v" not in _records(gv200)[0]


def test_seq_tells_messages_of_one_instant_apart_and_resends_not() -> None:
    sos = format_message("+RESP", "GTSOS", "060100", IMEI, ["", "10", "1", *BLOCK, "0.0"], "20251124091500", 0x41)
    fri = format_message("+RESP", "GTFRI", "060100", IMEI, ["", "10", "1", *BLOCK, "0.0"], "20251124091500", 0x42)
    assert _records(sos)[0]["seq"] != _records(fri)[0]["seq"]
    assert _records(sos)[0]["seq"] == _records(sos)[0]["seq"]


def test_impossible_coordinates_break_the_contract() -> None:
    block = [*BLOCK]
    block[5] = "95.000000"  # latitude
    raw = format_message("+RESP", "GTFRI", "060100", IMEI, ["", "10", "1", *block, "0.0"], "20251124091500", 1)
    report = decode_report(parse_message(raw))
    assert report is not None
    with pytest.raises(InvalidRecord, match="lat"):
        block_to_telemetry(report, 0, "NF-101")


@pytest.mark.parametrize(
    ("raw", "reason", "detail"),
    [
        (GMT100_SOS[:-1], "malformed", "tail character"),
        (b"GET / HTTP/1.1\r\n\r\n$", "bad_head", "expected [+]RESP"),
        (b"+RESP:GTFRI,060100,\xff\xfe$", "not_ascii", "ASCII"),
        (b"+RESP:GTFRI,060100,135790246811220$", "malformed", "at least 6"),
        (GMT100_SOS.replace(b"11F0$", b"11G0$"), "malformed", "count number"),
        (GMT100_SOS.replace(b"20090214093254", b"20090231093254"), "malformed", "not a date and time that exists"),
        (GMT100_SOS.replace(b"135790246811220", b"13579"), "malformed", "IMEI"),
        (GMT100_SOS.replace(b"GTSOS", b"gtsos"), "malformed", "message name"),
        (b"+RESP:GTFRI" + b"," * MAX_MESSAGE_BYTES + b"$", "oversized", "at most"),
    ],
)
def test_broken_messages_are_refused_with_a_reason(raw: bytes, reason: str, detail: str) -> None:
    with pytest.raises(QueclinkError, match=detail) as caught:
        parse_message(raw)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (GMT100_SOS.replace(b",10,1,1,", b",10,2,1,"), "announces 2 position"),  # <Number> says two, one follows
        (GMT100_SOS.replace(b",10,1,1,", b",10,16,1,"), "0 to 15"),
        (GMT100_SOS.replace(b",4.3,92,", b",fast,92,"), "speed"),
        (GMT100_SOS.replace(b",10,1,1,", b",10,1,51,"), "GPS accuracy 51"),
        (GMT100_SOS.replace(b"20090214013254", b"2009021401325x"), "GPS UTC time"),
    ],
)
def test_reports_whose_fields_do_not_fit_are_refused(raw: bytes, detail: str) -> None:
    message = parse_message(raw)
    with pytest.raises(QueclinkError, match=detail):
        decode_report(message)


def test_messages_without_a_known_layout_carry_no_record() -> None:
    info = b"+RESP:GTINF,1A0102,135790246811220,,41,898600810906F8048812,16,0,0,0,,4.10,0,0,0,0,20100214093254,11F0$"
    assert decode_report(parse_message(info)) is None
