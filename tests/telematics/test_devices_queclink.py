"""Queclink @Track messages and their mapping to contract records, against the examples of Queclink's own documents
and messages sent by real units."""

from __future__ import annotations

import pytest

from telematics.devices.queclink import (
    MAX_MESSAGE_BYTES,
    GnssBlock,
    QueclinkError,
    decode_report,
    format_message,
    parse_message,
    report_id_and_type,
    sack,
)
from telematics.devices.queclink_telemetry import (
    DigitalInputError,
    DigitalInputs,
    block_to_telemetry,
    clock_offset_ms,
    record_time_ms,
)
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
# The same document, p. 110: a GTERI (sent instead of GTFRI when AT+GTFRI's <ERI Mask> is set), ERI mask 00000001.
GV200_ERI = (
    b"+RESP:GTERI,040408,862170010903183,,00000001,,10,1,1,0.5,55,71.8,117.200986,31.832871,20120818041519,0460,0000,"
    b"5663,5A02,00,0.0,,,,,,,,1,0097,20120818041528,0030$"
)
# TRACGL300AN001 rev. 1.02, 3.3.4, p. 71-72: power on, and the external supply disconnected (last known position).
GL300_PNA = b"+RESP:GTPNA,1A0102,135790246811220,,20100214093254,11F0$"
GL300_EPF = (
    b"+RESP:GTEPF,1A0102,135790246811220,0,,4.3,92,70.0,121.354335,31.222073,20090214013254,0460,0000,18d8,6141,00,"
    b"20100214093254,11F0$"
)
# The same document, 3.5, p. 85: the server acknowledgement of a message whose count number is 11F0.
GL300_SACK = b"+SACK:11F0$"

# Messages sent by real units, kept as sent (device data; each names where it was published and under which licence).
# github.com/traccar/traccar, Apache-2.0, src/test/java/org/traccar/protocol/Gl200TextProtocolDecoderTest.java (commit
# 9e5c458ad0bf): a GB100 (device type 45) reports its main supply connected, without a fix.
REAL_GB100_MPN = (
    b"+RESP:GTMPN,450102,865084030001323,gb100,0,1.6,0,-93.1,121.393023,31.164105,20170619103113,0460,0000,1806,2142,"
    b"00,20170619103143,0512$"
)
# github.com/SoftwareAG/cumulocity-examples, MIT, tracker-agent/src/test/java/c8y/trackeragent/protocol/queclink/
# QueclinkPowerTest.java (commit faa807819652): a GV75 (3C) reports its main supply cut, its last fix a day old.
REAL_GV75_MPF = (
    b"+RESP:GTMPF,3C0100,359464038005240,,0,0.0,341,114.3,7.655970,51.956593,20170321140953,0262,0001,165F,BE44,00,"
    b"20170322095101,A748$"
)
# Traccar's file above: GV300 (06) fixed reports, the external supply in mV after the device name (or empty).
REAL_GV300_FRI_14827_MV = (
    b"+RESP:GTFRI,060228,862894020180553,,14827,10,1,1,3.4,199,409.6,-63.174466,-17.739317,20170407121823,0000,0000,"
    b"0000,0000,00,15989.5,01070:43:13,13,180,0,220101,,,,20170407081824,9607$"
)
REAL_GV300_FRI_25202_MV = (
    b"+RESP:GTFRI,060502,861074023689626,,25202,10,1,1,0.0,0,2744.1,-78.261047,0.023452,20170401211940,,,,,,0.0,"
    b"00079:19:15,,,51,110000,,,,20170401212003,4DA7$"
)
REAL_GV300_FRI_15153_MV = (
    b"+RESP:GTFRI,060228,862894020178276,,15153,10,1,1,0.0,0,431.7,-63.169571,-17.776235,20160210153458,0736,0003,6AD4,"
    b"80EF,00,34.9,00117:31:26,13442,15163,0,210101,,,,20160210113503,38EE$"
)
REAL_GV300_FRI_NO_SUPPLY = (
    b"+RESP:GTFRI,060228,862894020180553,,,10,1,1,20.0,147,329.7,-62.899703,-17.720434,20160309113548,0736,0003,6AAE,"
    b"3381,00,913.3,,,,0,220101,,,,20160309073554,132B$"
)
# Traccar's file above: a GV300's ignition on, 9860 s after it went off. This unit's send time is local time (UTC-4):
# it does not follow the README's AT+GTTMZ +0000.
REAL_GV300_IGN = (
    b"+RESP:GTIGN,060228,862894020180553,,9860,0,0.2,189,420.0,-63.158195,-17.800608,20160309022951,0736,0003,6AD4,"
    b"3471,00,,881.2,20160308222956,129A$"
)
# github.com/jaayesta/queclink-parser, MIT, example.js at commit befa26302f18 (GTJDS) and 5153d32baa87 (GTJDR): a
# GV310LAU (6E) leaves jamming, and detects it; one more field before the block than TRACGL300AN001 shows.
REAL_GV310LAU_JDS = (
    b"+RESP:GTJDS,6E0100,866775050906767,GV310LAU,1,3,0,3.8,173,62.3,117.129874,31.838456,20220714051457,0460,0000,"
    b"550B,0E9E30A5,01,32,20220714131539,476B$"
)
REAL_GV310LAU_JDR = (
    b"+RESP:GTJDR,6E0200,866775050906544,GV310LAU,1,0,0.0,255,104.8,117.128741,31.838246,20220825033943,,,,,00,"
    b"20220825034028,1177$"
)

# Traccar's file above (commit 9e5c458ad0bf): units with a 10-character protocol version. A GV58LAU (802004), buffered,
# 12194 mV of supply, position append mask 02 (one field, 0, after the block); a GV355CEU's (802005) GTERI, mask 03
# (satellites 7, then 0).
REAL_GV58LAU_FRI = (
    b"+BUFF:GTFRI,8020040200,866314060249032,,12194,10,1,3,0.0,0,20.1,-71.596533,-33.524718,20230926200338,0730,0001,"
    b"772A,052B253E,02,0,0.0,,,,,0,420000,,,,20230926200340,1549$"
)
REAL_GV355CEU_ERI = (
    b"+RESP:GTERI,8020050605,867488060225819,GV355CEU,00000106,12390,10,1,1,0.0,37,253.0,10.240915,45.930262,"
    b"20240226074452,0222,0010,2F31,0063952B,03,7,0,0.0,,,,,100,110000,0,0,1,FFFFF,VR3USHNSSNJ711765,0,H311796,"
    b"109.40,0,,,,,,,46.54,29.91,16.63,12.88,,8080,,,00,0,20240226074453,2548$"
)
# The same file: a GV300's GTERI, 27822 mV of supply after its ERI mask.
REAL_GV300_ERI = (
    b"+RESP:GTERI,060502,861074023620928,,00000002,27822,10,1,1,0.0,84,2870.9,-78.531796,-0.277329,20170825045344,,,,,,"
    b"0.0,01138:30:24,,,83,220104,2,1,28FF2776A2150308,1,FFAD,0,20170825045348,A88C$"
)
# The same file: GV500 units (1F, 36) put the vehicle's VIN between the IMEI and the device name.
REAL_GV500_FRI_VIN = (
    b"+RESP:GTFRI,1F0301,862193022001432,WF0GXXGBBGBM26503,,14900,41,1,1,11.6,74,356.0,14.120023,50.167894,"
    b"20181104080703,0230,0003,9B14,5891,00,74.1,,,,83,220000,799,7.3,,20181104080703,099B$"
)
REAL_GV500_FRI_NAMED = (
    b"+RESP:GTFRI,360100,864251020141408,3VWGW6AJ0FM237324,gv500,,10,1,1,0.0,0,2258.4,-99.256948,19.555800,"
    b"20160929214743,0334,0020,0084,65AC,00,0.0,,,,100,410000,0,nan,,20160929214743,13BA$"
)
# The same file: another GV500 (36), 12802 mV of supply after its VIN and empty device name, without a fix.
REAL_GV500_FRI_12802_MV = (
    b"+RESP:GTFRI,360201,864251020186064,1G1JC5444R7252367,,12802,10,1,0,0.0,0,219.5,-76.661456,39.832588,"
    b"20160507132235,,,,,,20460.9,00080:03:37,,,100,210000,791,,56,20160507132239,0233$"
)
# Traccar's file at commit 13bd5f99a4dd (then test/org/traccar/protocol/Gl200ProtocolDecoderTest.java): a third GV500
# (1F), 13286 mV of supply.
REAL_GV500_FRI_13286_MV = (
    b"+RESP:GTFRI,1F0201,864251020108126,1C6RR7GM4FS572742,,13286,10,1,3,0.0,191,211.2,-76.729721,39.798626,"
    b"20160407155620,0310,0260,043F,7BE0,00,18800.6,00038:08:54,,,0,220000,679,48,,20160407155624,25A1$"
)
# github.com/jaayesta/queclink-parser, MIT, example.js. At 38d586ac11ea and 3dfe8a35eb60: the GTVER of a GV310LAU and
# of a GV58LAU, each naming its device type. At c507ec677ce3: a GV310LAU's GTFRI with three positions, each with mask
# 01 and its satellites. At 3c8d7bb81cd9: mask 09 (satellites, then three decimals). At 2e493c2a0b21: a GV58LAU's
# GTSOS without a fix, mask 09. At 3dfe8a35eb60: a GV58LAU's GTIGN (mask 05: satellites, then 220100) and GTJDS.
REAL_GV310LAU_VER = b"+RESP:GTVER,6E0100,866775050906684,GV310LAU,6E,0138,0103,20220812063401,0079$"
REAL_GV58LAU_VER = b"+RESP:GTVER,8020040100,866775051514578,,802004,0112,0101,20220907183635,028F$"
REAL_GV310LAU_FRI_THREE = (
    b"+RESP:GTFRI,6E0504,868589060064048,,12173,10,3,1,0.0,198,17.6,-71.542960,-32.972193,20240123232112,0730,0001,"
    b"13EE,0032A502,01,12,1,23.0,198,17.6,-71.542960,-32.972193,20240123232112,0730,0001,13EE,0032A502,01,15,1,0.0,"
    b"198,17.6,-71.542960,-32.972193,20240123232122,0730,0001,13EE,0032A502,01,12,0.0,0000006:05:06,,,,57,210100,,,,"
    b"20240123232124,2A27$"
)
REAL_GV310LAU_FRI_MASK_09 = (
    b"+RESP:GTFRI,6E0902,868589060064048,,12173,10,1,1,0.0,69,61.6,-71.543860,-32.972718,20241016183918,0730,0001,"
    b"13EE,0032A502,09,12,0.90,1.47,1.73,2.6,0000024:51:00,,,,100,210100,,,,20241016183920,7201$"
)
REAL_GV58LAU_SOS_NO_FIX = (
    b"+RESP:GTSOS,8020040703,866314061808901,,,10,1,0,,,,,,,0730,0003,EA6F,00070B0C,09,6,0.00,2.00,0.00,4.9,"
    b"20241121064349,080F$"
)
REAL_GV58LAU_IGN = (
    b"+RESP:GTIGN,8020040100,866775051514578,,1,0,0.0,0,59.4,117.129073,31.839189,20220907111325,0460,0001,DE11,"
    b"05FE6667,05,12,220100,,0.0,20220907191327,02C0$"
)
REAL_GV58LAU_JDS = (
    b"+RESP:GTJDS,8020040100,866775051514578,gv58lau,1,3,1,0.0,301,159.8,117.130287,31.839002,20220906035631,0460,"
    b"0001,DE11,05FE6667,00,20220906115633,143B$"
)

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


def _only_block(raw: bytes) -> GnssBlock:
    report = decode_report(parse_message(raw))
    assert report is not None and len(report.blocks) == 1
    return report.blocks[0]


def test_real_main_power_reports_carry_the_block_right_after_the_device_name() -> None:
    restored = _only_block(REAL_GB100_MPN)
    assert (restored.accuracy, restored.speed_kmh, restored.azimuth_deg, restored.altitude_m) == (0, 1.6, 0, -93.1)
    assert (restored.lon, restored.lat) == (121.393023, 31.164105)
    assert restored.gnss_ts_ms == parse_rfc3339_ms("2017-06-19T10:31:13Z")
    assert restored.cell == ("0460", "0000", "1806", "2142")
    cut = _only_block(REAL_GV75_MPF)
    assert (cut.accuracy, cut.azimuth_deg, cut.altitude_m, cut.lon, cut.lat) == (0, 341, 114.3, 7.65597, 51.956593)
    assert cut.gnss_ts_ms == parse_rfc3339_ms("2017-03-21T14:09:53Z")
    assert cut.cell == ("0262", "0001", "165F", "BE44")
    (back_record,) = _records(REAL_GB100_MPN)
    (cut_record,) = _records(REAL_GV75_MPF)
    assert "ext_power_v" not in back_record and back_record["event"] == "GTMPN"
    assert cut_record["ext_power_v"] == 0.0 and cut_record["event"] == "GTMPF"
    # GPS accuracy 0: the last known position is not taken, and the records are timed by their send time.
    assert back_record["gnss_fix"] is False and "lat" not in back_record
    assert (back_record["ts"], cut_record["ts"]) == ("2017-06-19T10:31:43Z", "2017-03-22T09:51:01Z")


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


@pytest.mark.parametrize("extra", [[], ["3"]], ids=["TRACGL300AN001 layout", "later firmware layout"])
def test_jamming_detected_and_its_state(extra: list[str]) -> None:
    detected = format_message("+RESP", "GTJDR", "060100", IMEI, [*extra, *BLOCK], "20251124091500", 7)
    entered = format_message("+RESP", "GTJDS", "060100", IMEI, ["2", *extra, *BLOCK], "20251124091500", 8)
    quit_ = format_message("+RESP", "GTJDS", "060100", IMEI, ["1", *extra, *BLOCK], "20251124092500", 9)
    for raw, jammed in ((detected, True), (entered, True), (quit_, False)):
        (record,) = _records(raw)
        assert record["gnss_jamming"] is jammed
        assert (record["lat"], record["lon"], record["heading_deg"]) == (52.520008, 13.404954, 270.0)
    # No fix since power-on: no GPS UTC time; GPS accuracy 0 and the serving cell only, as a GV58LAU sent it.
    no_fix = ["0", "", "", "", "", "", "", *BLOCK[7:]]
    report = decode_report(
        parse_message(format_message("+RESP", "GTJDS", "060100", IMEI, ["2", *extra, *no_fix], "20251124091500", 10))
    )
    assert report is not None and report.leading == ("2", *extra)
    assert report.blocks[0].accuracy == 0 and report.blocks[0].cell == tuple(BLOCK[7:11])


def test_real_gv310lau_jamming_reports_have_one_more_field_before_the_block() -> None:
    state = decode_report(parse_message(REAL_GV310LAU_JDS))
    assert state is not None and state.leading == ("1", "3") and state.trailing == ()
    block = state.blocks[0]
    assert block.satellites == 32  # position append mask 01: the field after the block
    assert (block.accuracy, block.speed_kmh, block.azimuth_deg, block.altitude_m) == (0, 3.8, 173, 62.3)
    assert (block.lon, block.lat) == (117.129874, 31.838456)
    assert block.gnss_ts_ms == parse_rfc3339_ms("2022-07-14T05:14:57Z")
    assert block.cell == ("0460", "0000", "550B", "0E9E30A5")
    (left,) = _records(REAL_GV310LAU_JDS)
    assert left["gnss_jamming"] is False and left["gnss_fix"] is False
    assert "satellites" not in left  # the contract's satellites are those of a fix
    detected = _only_block(REAL_GV310LAU_JDR)
    assert (detected.accuracy, detected.azimuth_deg, detected.altitude_m) == (0, 255, 104.8)
    assert (detected.lon, detected.lat) == (117.128741, 31.838246)
    assert detected.gnss_ts_ms == parse_rfc3339_ms("2022-08-25T03:39:43Z")
    (record,) = _records(REAL_GV310LAU_JDR)
    assert record["gnss_jamming"] is True and record["ts"] == "2022-08-25T03:40:28Z"


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


@pytest.mark.parametrize(
    ("raw", "volts", "odometer_km", "ts", "lat", "lon"),
    [
        (REAL_GV300_FRI_14827_MV, 14.827, 15989.5, "2017-04-07T12:18:23Z", -17.739317, -63.174466),
        (REAL_GV300_FRI_25202_MV, 25.202, 0.0, "2017-04-01T21:19:40Z", 0.023452, -78.261047),
        (REAL_GV300_FRI_15153_MV, 15.153, 34.9, "2016-02-10T15:34:58Z", -17.776235, -63.169571),
    ],
    ids=["14827 mV", "25202 mV", "15153 mV"],
)
def test_real_gv300_fixed_reports_carry_the_supply_in_millivolts(
    raw: bytes, volts: float, odometer_km: float, ts: str, lat: float, lon: float
) -> None:
    (record,) = _records(raw)
    assert record["ext_power_v"] == pytest.approx(volts)
    assert (record["odometer_km"], record["ts"], record["lat"], record["lon"]) == (odometer_km, ts, lat, lon)
    assert record["gnss_fix"] is True and record["hdop"] == 1.0


def test_real_gv300_supply_agrees_with_an_analog_input_and_is_absent_when_empty() -> None:
    report = decode_report(parse_message(REAL_GV300_FRI_15153_MV))
    assert report is not None and report_id_and_type(report) == (1, 0)
    # After the mileage: hour meter, analog inputs 1 and 2 (mV); input 2 reads the supply, 10 mV away.
    assert report.trailing[:4] == ("34.9", "00117:31:26", "13442", "15163")
    (record,) = _records(REAL_GV300_FRI_NO_SUPPLY)
    assert "ext_power_v" not in record and record["odometer_km"] == 913.3


def test_real_gv300_ignition_on_reads_the_duration_then_the_block() -> None:
    report = decode_report(parse_message(REAL_GV300_IGN))
    assert report is not None and report.leading == ("9860",) and report.trailing == ("", "881.2")
    block = report.blocks[0]
    assert (block.accuracy, block.speed_kmh, block.azimuth_deg, block.altitude_m) == (0, 0.2, 189, 420.0)
    assert (block.lon, block.lat) == (-63.158195, -17.800608)
    assert block.gnss_ts_ms == parse_rfc3339_ms("2016-03-09T02:29:51Z")
    (record,) = _records(REAL_GV300_IGN)
    assert record["ignition"] is True and record["gnss_fix"] is False


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


def test_real_units_name_their_device_type_in_the_protocol_version() -> None:
    for raw, version, device_type in (
        (REAL_GV310LAU_VER, "6E0100", "6E"),
        (REAL_GV58LAU_VER, "8020040100", "802004"),
    ):
        message = parse_message(raw)
        assert (message.protocol_version, message.device_type) == (version, device_type)
        assert message.params[0] == device_type  # GTVER's <Device Type>: the unit's own word for it
    heartbeat = format_message("+ACK", "GTHBD", "8020040100", "866775051514578", [], "20220907183635", 0x28F)
    assert sack(parse_message(heartbeat)) == b"+SACK:GTHBD,8020040100,028F$"  # the version echoed whole


def test_real_gv58lau_report_with_a_ten_character_protocol_version() -> None:
    report = decode_report(parse_message(REAL_GV58LAU_FRI))
    assert report is not None and report.message.buffered
    # Position append mask 02: one field (0) after the block, no satellites; the mileage follows it.
    assert report.blocks[0].satellites is None
    assert report.trailing == ("0.0", "", "", "", "", "0", "420000", "", "", "")
    (record,) = _records(REAL_GV58LAU_FRI)
    assert (record["lat"], record["lon"], record["hdop"]) == (-33.524718, -71.596533, 3.0)
    assert record["ts"] == "2023-09-26T20:03:38Z" and record["buffered"] is True
    assert record["ext_power_v"] == pytest.approx(12.194) and record["odometer_km"] == 0.0
    assert "satellites" not in record


def test_a_position_append_mask_adds_its_fields_after_each_block() -> None:
    report = decode_report(parse_message(REAL_GV310LAU_FRI_THREE))
    assert report is not None
    assert [b.satellites for b in report.blocks] == [12, 15, 12]
    assert [b.speed_kmh for b in report.blocks] == [0.0, 23.0, 0.0]
    assert report.trailing[:2] == ("0.0", "0000006:05:06")  # mileage, then hour meter, in place
    records = _records(REAL_GV310LAU_FRI_THREE)
    assert [r["satellites"] for r in records] == [12, 15, 12]
    assert [r["ts"] for r in records] == ["2024-01-23T23:21:12Z", "2024-01-23T23:21:12Z", "2024-01-23T23:21:22Z"]
    assert [r["ext_power_v"] for r in records] == pytest.approx([12.173] * 3)
    assert len({r["seq"] for r in records}) == 3


def test_mask_bits_2_and_3_take_one_and_three_fields() -> None:
    fixed = decode_report(parse_message(REAL_GV310LAU_FRI_MASK_09))
    assert fixed is not None and fixed.blocks[0].satellites == 12
    assert fixed.trailing[:2] == ("2.6", "0000024:51:00")  # after the satellites and three decimals
    (record,) = _records(REAL_GV310LAU_FRI_MASK_09)
    assert (record["odometer_km"], record["satellites"]) == (2.6, 12)
    (sos,) = _records(REAL_GV58LAU_SOS_NO_FIX)
    assert sos["panic"] is True and sos["gnss_fix"] is False and sos["odometer_km"] == 4.9
    assert "satellites" not in sos and "lat" not in sos
    ignition = decode_report(parse_message(REAL_GV58LAU_IGN))
    assert ignition is not None and ignition.leading == ("1",) and ignition.blocks[0].satellites == 12
    assert ignition.trailing == ("", "0.0")  # mask 05: satellites and 220100, then hour meter and mileage
    (on,) = _records(REAL_GV58LAU_IGN)
    assert on["ignition"] is True and on["gnss_fix"] is False


def test_a_mask_bit_whose_fields_are_unknown_is_refused() -> None:
    # The real message with bit 4 also set in its mask (a variation made here, no unit sent it).
    unknown = REAL_GV310LAU_FRI_MASK_09.replace(b",09,12,", b",19,12,")
    with pytest.raises(QueclinkError, match="0x10") as caught:
        decode_report(parse_message(unknown))
    assert caught.value.reason == "unknown_layout"
    short = REAL_GV58LAU_SOS_NO_FIX.replace(b",09,6,0.00,2.00,0.00,4.9,", b",09,6,")
    with pytest.raises(QueclinkError, match="adds 4 field"):
        decode_report(parse_message(short))


def test_real_gv58lau_jamming_state_in_the_later_layout() -> None:
    report = decode_report(parse_message(REAL_GV58LAU_JDS))
    assert report is not None and report.leading == ("1", "3") and report.trailing == ()
    (record,) = _records(REAL_GV58LAU_JDS)
    assert record["gnss_jamming"] is False and record["gnss_fix"] is True
    assert (record["lat"], record["lon"], record["heading_deg"]) == (31.839002, 117.130287, 301.0)


def test_gteri_is_a_fixed_report_after_its_eri_mask() -> None:
    documented = decode_report(parse_message(GV200_ERI))
    assert documented is not None and documented.eri_mask == "00000001"
    assert report_id_and_type(documented) == (1, 0) and documented.trailing[0] == "0.0"
    (doc_record,) = _records(GV200_ERI)
    assert (doc_record["lat"], doc_record["lon"], doc_record["gnss_speed_kmh"]) == (31.832871, 117.200986, 0.5)
    assert doc_record["event"] == "GTERI" and "ext_power_v" not in doc_record  # a GV200's field is an analog input
    (gv300,) = _records(REAL_GV300_ERI)
    assert gv300["ext_power_v"] == pytest.approx(27.822) and gv300["odometer_km"] == 0.0
    assert (gv300["lat"], gv300["lon"], gv300["ts"]) == (-0.277329, -78.531796, "2017-08-25T04:53:44Z")
    # A GV355CEU's, with mask 03 after the block: satellites 7, then 0, then the mileage.
    (can_unit,) = _records(REAL_GV355CEU_ERI)
    assert (can_unit["satellites"], can_unit["odometer_km"]) == (7, 0.0)
    assert (can_unit["lat"], can_unit["lon"]) == (45.930262, 10.240915)
    with pytest.raises(QueclinkError, match="ERI Mask"):
        decode_report(parse_message(GV200_ERI.replace(b",00000001,", b",1,")))


def test_real_gv500_reports_carry_the_vin_before_the_device_name() -> None:
    unnamed = parse_message(REAL_GV500_FRI_VIN)
    assert (unnamed.vin, unnamed.device_name) == ("WF0GXXGBBGBM26503", "")
    report = decode_report(unnamed)
    assert report is not None and report_id_and_type(report) == (4, 1)
    (record,) = _records(REAL_GV500_FRI_VIN)
    assert (record["lat"], record["lon"], record["odometer_km"]) == (50.167894, 14.120023, 74.1)
    assert record["ext_power_v"] == pytest.approx(14.9)  # the field after the VIN and device name
    named = parse_message(REAL_GV500_FRI_NAMED)
    assert (named.vin, named.device_name) == ("3VWGW6AJ0FM237324", "gv500")
    (other,) = _records(REAL_GV500_FRI_NAMED)
    assert (other["lat"], other["lon"], other["altitude_m"]) == (19.5558, -99.256948, 2258.4)
    assert "ext_power_v" not in other  # sent empty: the unit does not report its supply with GTFRI


@pytest.mark.parametrize(
    ("raw", "volts", "odometer_km", "ts", "fix"),
    [
        (REAL_GV500_FRI_13286_MV, 13.286, 18800.6, "2016-04-07T15:56:20Z", True),
        (REAL_GV500_FRI_VIN, 14.9, 74.1, "2018-11-04T08:07:03Z", True),
        (REAL_GV500_FRI_12802_MV, 12.802, 20460.9, "2016-05-07T13:22:39Z", False),
    ],
    ids=["1F 13286 mV", "1F 14900 mV", "36 12802 mV"],
)
def test_real_gv500_fixed_reports_carry_the_supply_after_the_vin(
    raw: bytes, volts: float, odometer_km: float, ts: str, fix: bool
) -> None:
    report = decode_report(parse_message(raw))
    assert report is not None and len(report.message.vin) == 17 and report.message.device_name == ""
    (record,) = _records(raw)
    assert record["ext_power_v"] == pytest.approx(volts)
    assert (record["odometer_km"], record["ts"], record["gnss_fix"]) == (odometer_km, ts, fix)


def test_a_units_clock_offset_from_utc_is_read_from_its_own_fix() -> None:
    # The real GV300 of Traccar's file sends its local time, UTC-4: 4 h behind the GPS UTC time of its fix. Its
    # GTIGN carries no fix (GPS accuracy 0): the time there is of its last fix, however old, and says nothing.
    assert clock_offset_ms(decode_report(parse_message(REAL_GV300_FRI_NO_SUPPLY))) == -4 * 3_600_000
    assert clock_offset_ms(decode_report(parse_message(REAL_GV300_IGN))) is None
    # A unit on UTC sends within seconds of its fix; a message without a fix says nothing of its clock.
    on_utc = format_message("+RESP", "GTIGF", "060100", IMEI, ["30", *BLOCK, ""], "20251124091507", 1)
    assert clock_offset_ms(decode_report(parse_message(on_utc))) == 0
    no_fix = ["0", *BLOCK[1:]]
    without = format_message("+RESP", "GTIGF", "060100", IMEI, ["30", *no_fix, ""], "20251124092000", 2)
    report = decode_report(parse_message(without))
    assert clock_offset_ms(report) is None
    # A record without a fix is timed by the send time, set back to UTC by the offset learned; its seq is the same
    # whatever offset is known, so a copy sent again is still a copy.
    assert record_time_ms(report, 0, -4 * 3_600_000) == parse_rfc3339_ms("2025-11-24T13:20:00Z")
    shifted = block_to_telemetry(report, 0, "QL-1", unit_clock_offset_ms=-4 * 3_600_000)
    plain = block_to_telemetry(report, 0, "QL-1")
    assert shifted["seq"] == plain["seq"] and shifted["ts"] != plain["ts"]
