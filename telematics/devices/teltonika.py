"""Teltonika's TCP data protocol: IMEI handshake, AVL data packets (Codec 8, 8 Extended, 16) and CRC-16/IBM.

Layout as Teltonika documents it ("Teltonika Data Sending Protocols", wiki.teltonika-gps.com): a device opens
with a 2-byte length and its IMEI in ASCII, and the server answers one byte, 01 to accept or 00 to refuse. Then
each AVL data packet is four zero bytes (preamble), a 4-byte data field length, the data field (codec id,
record count, the records, the record count again) and 4 bytes whose low two carry the CRC-16/IBM of the data
field. The server acknowledges with the number of records accepted as a 4-byte integer; the device resends
a packet whose count it does not get back. Every integer is big-endian.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from telematics.errors import BadInput

CODEC_8 = 0x08
CODEC_8E = 0x8E
CODEC_16 = 0x10
CODEC_NAMES = {CODEC_8: "Codec 8", CODEC_8E: "Codec 8 Extended", CODEC_16: "Codec 16"}

PRIORITY_LOW, PRIORITY_HIGH, PRIORITY_PANIC = 0, 1, 2

HEADER_BYTES = 8
"""Preamble (4 zero bytes) and data field length (4 bytes)."""
CRC_BYTES = 4
MIN_DATA_LENGTH = 3
"""Codec id and the two record counts: a packet of no records (which no device sends)."""
MAX_DATA_LENGTH = 16 * 1024
"""Teltonika gives 1280 bytes as the largest AVL packet of most FM devices (512 for the FMx640 family); a
longer declared length is garbage or an attack. 16 KiB leaves headroom for firmwares with many Codec 8 Extended
variable-length elements while bounding what one connection can make the server buffer."""
MAX_IMEI_BYTES = 17
"""An IMEI is 15 digits (3GPP TS 23.003); an IMEISV 16. Anything longer in the handshake is not an IMEI."""

_GPS = struct.Struct(">iihHBH")
_RECORD_HEAD = struct.Struct(">QB")
_UNSIGNED = {1: "B", 2: "H", 4: "I", 8: "Q"}
"""struct codes of the unsigned integer widths an IO value takes."""


class TeltonikaError(BadInput):
    """A handshake or AVL packet breaks the protocol; ``reason`` is a short code for counters and dead letters."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def crc16_ibm(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/IBM (also called CRC-16/ARC): polynomial 0x8005 reflected (0xA001), initial value 0, no final xor."""
    crc = 0
    for byte in bytes(data):
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


_CRC_TABLE: tuple[int, ...] = tuple(crc16_ibm(bytes([i])) for i in range(256))


def crc16_ibm_fast(data: bytes | bytearray | memoryview) -> int:
    """The same CRC by table, a byte at a time: what the listener uses on every packet."""
    crc = 0
    table = _CRC_TABLE
    for byte in bytes(data):
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


# --- handshake ---------------------------------------------------------------------------------------------


def imei_length(prefix: bytes) -> int:
    """The IMEI length announced by the first two bytes of a connection; TeltonikaError when it cannot be one."""
    if len(prefix) != 2:
        raise TeltonikaError("truncated", f"handshake length needs 2 bytes, got {len(prefix)}")
    length = int.from_bytes(prefix, "big")
    if not 1 <= length <= MAX_IMEI_BYTES:
        raise TeltonikaError("bad_handshake", f"IMEI length {length}, expected 1 to {MAX_IMEI_BYTES} bytes")
    return length


def decode_imei(payload: bytes) -> str:
    """The IMEI bytes of the handshake to text: ASCII digits only."""
    if not payload or not payload.isdigit() or len(payload) > MAX_IMEI_BYTES:
        raise TeltonikaError("bad_handshake", f"IMEI {payload[:MAX_IMEI_BYTES]!r} is not 1-17 ASCII digits")
    return payload.decode("ascii")


def encode_imei(imei: str) -> bytes:
    """The handshake a device sends: 2-byte length, then the IMEI's digits."""
    raw = imei.encode("ascii")
    decode_imei(raw)
    return len(raw).to_bytes(2, "big") + raw


ACCEPT = b"\x01"
REFUSE = b"\x00"


def encode_ack(count: int) -> bytes:
    """The server's answer to an AVL data packet: how many records it accepted, 4 bytes."""
    return count.to_bytes(4, "big")


# --- AVL records -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AvlRecord:
    """One AVL record: when, how urgent, the GPS element and the IO elements, as the device encoded them."""

    ts_ms: int
    priority: int
    lon_e7: int
    """Longitude in 1e-7 degrees, two's complement (west negative)."""
    lat_e7: int
    altitude_m: int
    angle_deg: int
    satellites: int
    speed_kmh: int
    event_io_id: int = 0
    """The IO element whose change generated this record; 0 for a periodic record."""
    io: dict[int, int | bytes] = field(default_factory=dict)
    """IO element id -> value: unsigned integers (1, 2, 4 or 8 bytes), bytes for variable-length elements."""
    generation_type: int | None = None
    """Codec 16 only: why the record was generated (0 on exit, 1 on entrance, ... 7 periodical)."""
    io_widths: dict[int, int] = field(default_factory=dict, compare=False, repr=False)
    """Bytes each integer IO value took on the wire (1, 2, 4, 8); one not listed takes the fewest that hold it."""

    @property
    def lon(self) -> float:
        return self.lon_e7 / 1e7

    @property
    def lat(self) -> float:
        return self.lat_e7 / 1e7


@dataclass(frozen=True, slots=True)
class AvlPacket:
    codec: int
    records: tuple[AvlRecord, ...]


# --- decoding ----------------------------------------------------------------------------------------------


def data_length(header: bytes) -> int:
    """The data field length from a packet's first 8 bytes; TeltonikaError when the preamble or length is wrong."""
    if len(header) != HEADER_BYTES:
        raise TeltonikaError("truncated", f"packet header needs {HEADER_BYTES} bytes, got {len(header)}")
    if header[:4] != b"\x00\x00\x00\x00":
        raise TeltonikaError("bad_preamble", f"packet starts {header[:4].hex()}, expected the preamble 00000000")
    length = int.from_bytes(header[4:], "big")
    if length < MIN_DATA_LENGTH:
        raise TeltonikaError("malformed", f"data field length {length}, expected at least {MIN_DATA_LENGTH}")
    if length > MAX_DATA_LENGTH:
        raise TeltonikaError("oversized", f"data field length {length}, expected at most {MAX_DATA_LENGTH}")
    return length


def check_crc(data: bytes, crc_field: bytes) -> None:
    """The 4-byte CRC field must carry the CRC-16/IBM of the data field in its low two bytes."""
    expected = crc16_ibm_fast(data)
    got = int.from_bytes(crc_field, "big")
    if got != expected:
        raise TeltonikaError("bad_crc", f"CRC field {got:08x}, computed {expected:08x} over {len(data)} bytes")


_HEAD = struct.Struct(">QBiihHBH")
"""Timestamp, priority and the GPS element: the fixed start of every record."""
_EVENT_AND_TOTAL = {
    CODEC_8: struct.Struct(">BB"),  # event IO id, number of IO elements
    CODEC_8E: struct.Struct(">HH"),
    CODEC_16: struct.Struct(">HBB"),  # event IO id, generation type, number of IO elements
}
_IO_COUNT = {CODEC_8: struct.Struct(">B"), CODEC_8E: struct.Struct(">H"), CODEC_16: struct.Struct(">B")}
_IO_ITEMS = {
    codec: tuple((size, struct.Struct(">" + ("H" if codec != CODEC_8 else "B") + _UNSIGNED[size]))
                 for size in (1, 2, 4, 8))
    for codec in CODEC_NAMES
}
"""Per codec: for each value width, the struct of one (IO id, value) pair; Codec 8 has 1-byte ids, the others 2."""
_U16 = struct.Struct(">H")
_U16_PAIR = struct.Struct(">HH")


def _past_the_end(what: str, pos: int) -> TeltonikaError:
    return TeltonikaError("malformed", f"{what} runs past the end of the data field (byte {pos})")


def decode_data(data: bytes) -> AvlPacket:
    """The data field (codec id to the second record count) of a packet whose CRC was checked."""
    if len(data) < 1:
        raise _past_the_end("codec id", 0)
    codec = data[0]
    if codec not in CODEC_NAMES:
        raise TeltonikaError("unsupported_codec", f"codec id 0x{codec:02x}, expected 0x08, 0x8e or 0x10")
    if len(data) < 2:
        raise _past_the_end("number of data 1", 1)
    count = data[1]
    pos = 2
    records = []
    for index in range(count):
        record, pos = _decode_record(data, pos, codec, index)
        records.append(record)
    if pos >= len(data):
        raise _past_the_end("number of data 2", pos)
    count_2 = data[pos]
    if count_2 != count:
        raise TeltonikaError("malformed", f"number of data 2 is {count_2}, number of data 1 {count}")
    if pos + 1 != len(data):
        raise TeltonikaError("malformed", f"{len(data) - pos - 1} bytes left after the records")
    return AvlPacket(codec, tuple(records))


def decode_packet(packet: bytes) -> AvlPacket:
    """A whole AVL data packet, from preamble to CRC."""
    length = data_length(packet[:HEADER_BYTES])
    if len(packet) != HEADER_BYTES + length + CRC_BYTES:
        raise TeltonikaError(
            "truncated", f"{len(packet)} bytes, the header announces {HEADER_BYTES + length + CRC_BYTES}"
        )
    data = packet[HEADER_BYTES:HEADER_BYTES + length]
    check_crc(data, packet[HEADER_BYTES + length:])
    return decode_data(data)


def _decode_record(data: bytes, pos: int, codec: int, index: int) -> tuple[AvlRecord, int]:
    """The record that starts at ``pos``, and where the next one starts.

    Every field has a fixed width given by the codec, so each is read with one precompiled struct: this runs for
    every record a unit sends, and a struct read costs a fraction of slicing the field out and converting it.
    """
    try:
        ts_ms, priority, lon_e7, lat_e7, altitude, angle, satellites, speed = _HEAD.unpack_from(data, pos)
        pos += _HEAD.size
        head = _EVENT_AND_TOTAL[codec]
        if codec == CODEC_16:
            event_io_id, generation_type, total = head.unpack_from(data, pos)
        else:
            event_io_id, total = head.unpack_from(data, pos)
            generation_type = None
        pos += head.size
        counter = _IO_COUNT[codec]
        count_size = counter.size
        io: dict[int, int | bytes] = {}
        widths: dict[int, int] = {}
        for size, item in _IO_ITEMS[codec]:
            (n,) = counter.unpack_from(data, pos)
            pos += count_size
            item_size = item.size
            for _ in range(n):
                io_id, value = item.unpack_from(data, pos)
                pos += item_size
                io[io_id] = value
                widths[io_id] = size
        if codec == CODEC_8E:
            (n,) = _U16.unpack_from(data, pos)
            pos += 2
            for _ in range(n):
                io_id, length = _U16_PAIR.unpack_from(data, pos)
                pos += 4
                end = pos + length
                if end > len(data):
                    raise _past_the_end(f"record {index} IO {io_id} value", pos)
                io[io_id] = data[pos:end]
                pos = end
    except struct.error:
        raise _past_the_end(f"record {index}", pos) from None
    if len(io) != total:
        raise TeltonikaError("malformed", f"record {index} announces {total} IO elements, carries {len(io)} distinct")
    record = AvlRecord(ts_ms, priority, lon_e7, lat_e7, altitude, angle, satellites, speed, event_io_id, io,
                       generation_type, widths)
    return record, pos


# --- encoding (simulated devices, tests) -------------------------------------------------------------------


def _encode_record(record: AvlRecord, codec: int) -> bytes:
    wide = codec != CODEC_8
    id_size = 2 if wide else 1
    count_size = 2 if codec == CODEC_8E else 1
    out = bytearray(_RECORD_HEAD.pack(record.ts_ms, record.priority))
    out += _GPS.pack(record.lon_e7, record.lat_e7, record.altitude_m, record.angle_deg, record.satellites,
                     record.speed_kmh)
    out += record.event_io_id.to_bytes(id_size, "big")
    if codec == CODEC_16:
        out += (record.generation_type or 0).to_bytes(1, "big")
    out += len(record.io).to_bytes(count_size, "big")
    groups: dict[int, list[tuple[int, int]]] = {1: [], 2: [], 4: [], 8: []}
    variable: list[tuple[int, bytes]] = []
    for io_id, value in record.io.items():
        if isinstance(value, bytes):
            if codec != CODEC_8E:
                raise ValueError(f"IO {io_id}: variable-length values exist only in Codec 8 Extended")
            variable.append((io_id, value))
        else:
            size = record.io_widths.get(io_id) or next(s for s in (1, 2, 4, 8) if value < 1 << (8 * s))
            groups[size].append((io_id, value))
    for size, items in groups.items():
        out += len(items).to_bytes(count_size, "big")
        for io_id, value in items:
            out += io_id.to_bytes(id_size, "big") + value.to_bytes(size, "big")
    if codec == CODEC_8E:
        out += len(variable).to_bytes(2, "big")
        for io_id, value in variable:
            out += io_id.to_bytes(2, "big") + len(value).to_bytes(2, "big") + value
    return bytes(out)


def encode_packet(records: list[AvlRecord] | tuple[AvlRecord, ...], codec: int = CODEC_8) -> bytes:
    """An AVL data packet as a device sends it: each IO value in the smallest of 1, 2, 4, 8 bytes that holds it."""
    if not 1 <= len(records) <= 255:
        raise ValueError(f"a packet carries 1 to 255 records, got {len(records)}")
    data = bytes([codec, len(records)]) + b"".join(_encode_record(r, codec) for r in records) + bytes([len(records)])
    return b"\x00\x00\x00\x00" + len(data).to_bytes(4, "big") + data + crc16_ibm_fast(data).to_bytes(4, "big")
