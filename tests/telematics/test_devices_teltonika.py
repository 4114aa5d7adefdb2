"""Teltonika framing and AVL mapping against packets from Teltonika's own protocol documentation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telematics.devices.teltonika import (
    CODEC_8,
    CODEC_8E,
    CODEC_16,
    MAX_DATA_LENGTH,
    AvlRecord,
    TeltonikaError,
    crc16_ibm,
    crc16_ibm_fast,
    data_length,
    decode_data,
    decode_imei,
    decode_packet,
    encode_imei,
    encode_packet,
    imei_length,
)
from telematics.devices.teltonika_telemetry import InputAssignmentError, InputAssignments, avl_to_telemetry
from telematics.validation import InvalidRecord, validate_record

# "Teltonika Data Sending Protocols" (wiki.teltonika-gps.com), Codec 8 first example: one record, IO elements
# of each width (1, 2, 4 and 8 bytes), CRC 0xC7CF.
WIKI_CODEC8 = bytes.fromhex(
    "000000000000003608010000016B40D8EA30010000000000000000000000000000000105021503010101425E0F01F10000601A014E"
    "0000000000000000010000C7CF"
)
# The same page, Codec 8 third example: two records in one packet.
WIKI_CODEC8_TWO = bytes.fromhex(
    "000000000000004308020000016B40D57B480100000000000000000000000000000001010101000000000000016B40D5C198010000"
    "000000000000000000000000000101010101000000020000252C"
)
# The same page, Codec 8 Extended example: 2-byte IO ids and counts, and an empty NX (variable-length) group.
WIKI_CODEC8E = bytes.fromhex(
    "000000000000004A8E010000016B412CEE000100000000000000000000000000000000010005000100010100010011001D0001001001"
    "5E2C880002000B000000003544C87A000E000000001DD7E06A00000100002994"
)
# The same page, Codec 16 example: generation type after the 2-byte event IO id.
WIKI_CODEC16 = bytes.fromhex(
    "000000000000005F10020000016BDBC7833000000000000000000000000000000000000B05040200010000030002000B00270042563A"
    "00000000016BDBC7871800000000000000000000000000000000000B05040200010000030002000B00260042563A00000200005FB3"
)
# The four-record example of Teltonika's FMXXXX protocol document (Vilnius, 2007), real coordinates. The document
# prints a wrong length and CRC; these are the data length (0xA7) and CRC-16/IBM (0xBA48) of its AVL data.
DOC_REAL_COORDINATES = bytes.fromhex(
    "00000000000000A7080400000113fc208dff000f14f650209cca80006f00d60400040004030101150316030001460000015d00000001"
    "13fc17610b000f14ffe0209cc580006e00c00500010004030101150316010001460000015e0000000113fc284945000f150f00209cd2"
    "00009501080400000004030101150016030001460000015d0000000113fc267c5b000f150a50209cccc0009300680400000004030101"
    "150016030001460000015b00040000BA48"
)


def test_crc16_ibm_matches_every_documented_packet() -> None:
    for packet, documented in ((WIKI_CODEC8, 0xC7CF), (WIKI_CODEC8_TWO, 0x252C), (WIKI_CODEC8E, 0x2994),
                               (WIKI_CODEC16, 0x5FB3)):
        data = packet[8:-4]
        assert crc16_ibm(data) == documented
        assert crc16_ibm_fast(data) == documented
    assert crc16_ibm(b"123456789") == 0xBB3D  # the catalogue check value of CRC-16/ARC (alias CRC-16/IBM)


def test_codec8_documented_example_decodes_to_its_documented_values() -> None:
    packet = decode_packet(WIKI_CODEC8)
    assert packet.codec == CODEC_8
    (record,) = packet.records
    assert record.ts_ms == 0x16B40D8EA30  # 2019-06-10 10:04:46 UTC, as the page says
    assert record.priority == 1
    assert record.event_io_id == 1
    assert record.io == {21: 3, 1: 1, 66: 0x5E0F, 241: 0x601A, 78: 0}


def test_codec8_extended_reads_two_byte_ids() -> None:
    packet = decode_packet(WIKI_CODEC8E)
    assert packet.codec == CODEC_8E
    (record,) = packet.records
    assert record.io == {1: 1, 17: 0x1D, 16: 0x15E2C88, 11: 0x3544C87A, 14: 0x1DD7E06A}
    telemetry = avl_to_telemetry(record, "NF-101")
    assert telemetry["odometer_km"] == pytest.approx(22949.0)  # IO 16, total odometer in metres
    assert telemetry["io"] == {"1": 1, "17": 29, "11": 0x3544C87A, "14": 0x1DD7E06A}
    assert "lat" not in telemetry and telemetry["gnss_fix"] is False  # 0 satellites, 0,0: no fix


def test_codec16_reads_generation_type() -> None:
    packet = decode_packet(WIKI_CODEC16)
    assert packet.codec == CODEC_16
    assert [r.generation_type for r in packet.records] == [5, 5]
    assert packet.records[0].io == {1: 0, 3: 0, 11: 0x27, 66: 0x563A}


def test_real_coordinates_become_a_contract_position() -> None:
    packet = decode_packet(DOC_REAL_COORDINATES)
    assert len(packet.records) == 4
    first = avl_to_telemetry(packet.records[0], "NF-101")
    assert first["lat"] == pytest.approx(54.7146368) and first["lon"] == pytest.approx(25.3032016)
    assert first["gnss_speed_kmh"] == 4.0 and first["heading_deg"] == 214.0 and first["satellites"] == 4
    assert first["ts"] == "2007-07-25T06:46:38.335Z"
    assert first["source"] == "teltonika"
    validate_record(first)


def test_every_documented_packet_encodes_back_byte_for_byte() -> None:
    for raw in (WIKI_CODEC8, WIKI_CODEC8_TWO, WIKI_CODEC8E, WIKI_CODEC16, DOC_REAL_COORDINATES):
        packet = decode_packet(raw)
        assert encode_packet(packet.records, packet.codec).hex() == raw.hex().lower()


def test_a_flipped_byte_fails_the_crc() -> None:
    damaged = bytearray(WIKI_CODEC8)
    damaged[30] ^= 0x01
    with pytest.raises(TeltonikaError) as caught:
        decode_packet(bytes(damaged))
    assert caught.value.reason == "bad_crc"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (b"\x00\x00\x00\x01\x00\x00\x00\x10", "bad_preamble"),
        (b"GET / HT", "bad_preamble"),
        (b"\x00\x00\x00\x00" + (MAX_DATA_LENGTH + 1).to_bytes(4, "big"), "oversized"),
        (b"\x00\x00\x00\x00\x00\x00\x00\x02", "malformed"),
    ],
)
def test_impossible_headers_are_refused(header: bytes, reason: str) -> None:
    with pytest.raises(TeltonikaError) as caught:
        data_length(header)
    assert caught.value.reason == reason


def test_record_counts_must_agree() -> None:
    raw = bytearray(WIKI_CODEC8)
    raw[-5] = 2  # number of data 2
    data = bytes(raw[8:-4])
    raw[-4:] = crc16_ibm(data).to_bytes(4, "big")
    with pytest.raises(TeltonikaError, match="number of data 2 is 2"):
        decode_packet(bytes(raw))


def test_imei_handshake() -> None:
    assert encode_imei("356307042441013") == bytes.fromhex("000F") + b"356307042441013"
    assert imei_length(bytes.fromhex("000F")) == 15
    assert decode_imei(b"356307042441013") == "356307042441013"
    for bad in (b"35630704244101X", b""):
        with pytest.raises(TeltonikaError):
            decode_imei(bad)
    with pytest.raises(TeltonikaError):
        imei_length(b"GE")  # 'GE' of an HTTP request: 18245 bytes is no IMEI


def _record(**changes: object) -> AvlRecord:
    base: dict = dict(ts_ms=1_764_000_000_000, priority=0, lon_e7=134_000_000, lat_e7=525_200_000, altitude_m=40,
                      angle_deg=90, satellites=11, speed_kmh=37, event_io_id=0, io={})
    base.update(changes)
    return AvlRecord(**base)


def test_fmb_io_elements_map_to_contract_fields() -> None:
    record = _record(io={239: 1, 240: 1, 66: 27_450, 182: 8, 249: 1, 16: 123_456_789, 2: 1, 3: 0, 21: 4})
    inputs = InputAssignments.parse(["cargo_door_open=2", "cab_door_open=3:inverted"])
    out = avl_to_telemetry(record, "NF-101", inputs)
    assert out["ignition"] is True and out["gnss_jamming"] is True
    assert out["ext_power_v"] == pytest.approx(27.45) and out["hdop"] == pytest.approx(0.8)
    assert out["odometer_km"] == pytest.approx(123_456.789)
    assert out["cargo_door_open"] is True and out["cab_door_open"] is True
    assert out["io"] == {"240": 1, "21": 4}  # movement and GSM signal have no contract field: kept by id
    assert "panic" not in out
    assert avl_to_telemetry(_record(priority=2), "NF-101")["panic"] is True


def test_gnss_status_without_fix_drops_the_position() -> None:
    out = avl_to_telemetry(_record(io={69: 2}), "NF-101")
    assert out["gnss_fix"] is False and "lat" not in out and "gnss_speed_kmh" not in out


def test_seq_is_the_same_for_a_resent_record_and_differs_between_records() -> None:
    a = avl_to_telemetry(_record(), "NF-101")
    assert avl_to_telemetry(_record(), "NF-101")["seq"] == a["seq"]
    assert avl_to_telemetry(_record(ts_ms=1_764_000_001_000), "NF-101")["seq"] > a["seq"]
    assert avl_to_telemetry(_record(priority=1), "NF-101")["seq"] != a["seq"]
    assert avl_to_telemetry(_record(event_io_id=239), "NF-101")["seq"] != a["seq"]


def test_impossible_values_break_the_contract() -> None:
    with pytest.raises(InvalidRecord, match="lat"):
        avl_to_telemetry(_record(lat_e7=955_000_000), "NF-101")
    with pytest.raises(InvalidRecord, match="gnss_speed_kmh"):
        avl_to_telemetry(_record(speed_kmh=512), "NF-101")


def test_input_assignments_are_checked() -> None:
    for bad in ("doors=2", "cargo_door_open=DIN2", "cargo_door_open=2:upside_down"):
        with pytest.raises(InputAssignmentError):
            InputAssignments.parse([bad])


_io_value = st.integers(min_value=0, max_value=2**64 - 1)


@given(
    codec=st.sampled_from([CODEC_8, CODEC_8E, CODEC_16]),
    records=st.lists(
        st.builds(
            AvlRecord,
            ts_ms=st.integers(0, 2**63 - 1),
            priority=st.integers(0, 2),
            lon_e7=st.integers(-1_800_000_000, 1_800_000_000),
            lat_e7=st.integers(-900_000_000, 900_000_000),
            altitude_m=st.integers(-32768, 32767),
            angle_deg=st.integers(0, 359),
            satellites=st.integers(0, 255),
            speed_kmh=st.integers(0, 65535),
            event_io_id=st.integers(0, 255),
            io=st.dictionaries(st.integers(1, 255), _io_value, max_size=12),
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_encode_then_decode_is_identity(codec: int, records: list[AvlRecord]) -> None:
    if codec == CODEC_16:
        records = [AvlRecord(**{**{f: getattr(r, f) for f in r.__slots__ if f != "io_widths"}, "generation_type": 7})
                   for r in records]
    assert decode_packet(encode_packet(records, codec)).records == tuple(records)


@pytest.mark.parametrize("codec", [CODEC_8, CODEC_8E, CODEC_16])
def test_every_cut_of_a_data_field_is_refused_as_malformed(codec: int) -> None:
    io: dict[int, int | bytes] = {239: 1, 66: 27_000, 16: 123_456_789, 11: 2**40}
    if codec == CODEC_8E:
        io[10_385] = bytes(range(20))  # a variable-length element (NX), only Codec 8 Extended has them
    records = [AvlRecord(1_764_000_000_000 + i, 0, 134_000_000, 525_200_000, 40, 90, 10, 42, 239, io,
                         7 if codec == CODEC_16 else None) for i in range(2)]
    data = encode_packet(records, codec)[8:-4]
    assert decode_data(data).records == tuple(records)
    for cut in range(1, len(data)):
        with pytest.raises(TeltonikaError) as caught:
            decode_data(data[:cut])
        assert caught.value.reason == "malformed", cut
    with pytest.raises(TeltonikaError, match="1 bytes left after the records"):
        decode_data(data + b"\x00")
