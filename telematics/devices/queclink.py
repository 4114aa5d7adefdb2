"""Queclink's @Track air interface protocol: one ASCII message, checked and split into its documented fields.

Sources, all Queclink Wireless Solutions application notes (field layouts restated here in our own words):

- "GMT100 @Track Air Interface Protocol", TRACGMT100AN001, revision 1.0 (2011-08-16): sections 3.2.6 (AT+GTDIS,
  p. 23), 3.2.8 (AT+GTEPS, p. 27-28), 3.2.12 (AT+GTTOW, p. 36), 3.3.1 (position related reports, their examples
  and <Report ID/Report Type>, p. 62-64), +RESP:GTIGN (p. 97), 3.3.5 (buffer report, p. 104), 3.4 (heartbeat,
  p. 106).
- "GV200 @Track Air Interface Protocol", TRACGV200AN003: the shared format of the position reports (p. 105), the
  fields of +RESP:GTFRI after its positions (p. 109), 3.3.5 (buffer report, p. 108).
- "GV300 @Track Air Interface Protocol", TRACGV300AN002: sections 3.2.8 (AT+GTEPS and <Sync with FRI>, p. 27-28)
  and 3.2.26 (AT+GTJDC, jamming detection reported by +RESP:GTJDR, p. 67).
- "GL300 @Tracker Air Interface Protocol", TRACGL300AN001, revision 1.02 (2013-11-26): sections 3.1 (message
  format, p. 10), AT+GTJDC (jamming modes, p. 50), 3.3.1.1 (+RESP:GTFRI with several positions, p. 52), 3.3.4
  (event reports: GTPNA, GTEPN/GTEPF, GTIGN/GTIGF, GTJDR/GTJDS, p. 70-72; the jamming status of GTJDS, p. 83), 3.5
  (server acknowledgement, p. 85).

Messages sent by real units, checked against the layouts below (copied as test fixtures, with their licences, in
tests/telematics/test_devices_queclink.py):

- github.com/traccar/traccar (Apache-2.0), src/test/java/org/traccar/protocol/Gl200TextProtocolDecoderTest.java: a
  GB100's +RESP:GTMPN (the block right after the device name); GV300 GTFRI with 14827, 25202 and 15153 in the field
  after the device name (the supply in mV; the last one next to an analog input reading 15163 mV); GV300
  GTIGN/GTIGF (the duration, then the block).
- github.com/SoftwareAG/cumulocity-examples (MIT), tracker-agent/src/test/java/c8y/trackeragent/protocol/queclink/
  QueclinkPowerTest.java: a GV75's +RESP:GTMPF (the block right after the device name).
- github.com/jaayesta/queclink-parser (MIT), example.js at commits befa263 and 5153d32: a GV310LAU's GTJDS and
  GTJDR, each with one more field before the block than TRACGL300AN001 shows (see below).

Framing. A message is printable ASCII: a head (``+RESP`` a report, ``+BUFF`` a report the unit stored while it
could not reach the server and sends late, unchanged but for the head, ``+ACK`` an answer to a command or the
heartbeat ``+ACK:GTHBD``), a colon, the message name (``GT`` and three letters), then comma-separated parameters,
and ``$`` at the end. Every message from a unit opens with the protocol version (two characters naming the device
type, ``06`` a GV300, ``08`` a GMT100, then four hex digits), the unique ID (the IMEI) and the device name, and
closes with the send time (YYYYMMDDHHMMSS) and a 4-hex-digit count number.

Positions. Reports carry GNSS blocks of twelve fields: GPS accuracy (0 when the unit has no fix and repeats its
last known position, else the HDOP of NMEA 0183, up to 50), speed (km/h, one decimal), azimuth (degrees), altitude
(m), longitude and latitude (degrees, six decimals, west and south negative), the GPS UTC time (YYYYMMDDHHMMSS),
then MCC, MNC, LAC, cell ID and a reserved field of the serving cell. Where the block sits depends on the message:

- position reports (GTFRI, GTTOW, GTDIS, GTIOB, GTGEO, GTSPD, GTSOS, GTRTL, GTDOG, GTIGL, GTHBM): two fields after
  the device name that differ between models (GV-series units and the GMT100: a model-specific reading, often
  empty, such as the GV200's analog input in mV, then the report ID and report type as two hex digits; the GL300:
  the report ID, then the report type), then <Number>, the count of GNSS blocks (0-15), the blocks, and further
  fields (the mileage in km first);
- event reports with the last known position (GTEPN/GTEPF external power connected/cut, GTJDR jamming detected,
  and GTMPN/GTMPF, the main-power reports of the vehicle units, in the same layout on a GB100 and a GV75): the
  block follows the device name at once;
- state changes (GTIGN/GTIGF ignition on/off with the duration of the state before; GTJDS jamming with its state,
  1 quit, 2 entered): one field, then the block;
- later firmware puts one more field before the block of GTJDR and GTJDS (real GV310LAU messages; GV58LAU and
  GV57CG ones, in the same repository, send the same value there in both reports; not read here). Where the block
  starts shows in its GPS UTC time, 14 digits, 6 fields in; without one (no fix yet), in its first field: the GPS
  accuracy, a whole number, where the shorter layout has the speed, sent with one decimal or empty;
- GTPNA/GTPFA (the unit powers on/off) and the heartbeat carry no block.

Acknowledgements. With server acknowledgement enabled (<SACK Enable> of AT+GTSRI) the unit expects
``+SACK:<count number>$`` for each message; the heartbeat is always answered with
``+SACK:GTHBD,<protocol version>,<count number>$``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from telematics.errors import BadInput
from telematics.timeutil import EPOCH

TAIL = b"$"
MAX_MESSAGE_BYTES = 4096
"""A GTFRI carries at most 15 GNSS blocks (<Number> 0-15) of at most 83 characters each by the documented field
lengths, about 1,600 characters with head and tail; 4 KiB leaves room for firmware extras while bounding what one
connection makes the server buffer before it sees the ``$``."""
BLOCK_FIELDS = 12
MAX_POSITIONS = 15
MAX_ACCURACY = 50

HEADS = ("+RESP", "+BUFF", "+ACK")
HEARTBEAT = "GTHBD"

POSITION_REPORTS = frozenset(
    {
        "GTFRI",
        "GTTOW",
        "GTDIS",
        "GTIOB",
        "GTGEO",
        "GTSPD",
        "GTSOS",
        "GTRTL",
        "GTDOG",
        "GTIGL",
        "GTHBM",
    }
)
LAST_KNOWN_POSITION_EVENTS = frozenset({"GTMPN", "GTMPF", "GTEPN", "GTEPF", "GTJDR"})
STATE_EVENTS = frozenset({"GTIGN", "GTIGF", "GTJDS"})
JAMMING_EVENTS = frozenset({"GTJDR", "GTJDS"})
"""One more field before the block on later firmware: see the module docstring."""
NO_POSITION_EVENTS = frozenset({"GTPNA", "GTPFA"})

_NAME = re.compile(r"GT[A-Z]{3}", re.ASCII)
_PROTOCOL_VERSION = re.compile(r"[0-9A-Z]{2}[0-9A-Fa-f]{4}", re.ASCII)
_IMEI = re.compile(r"\d{15,16}", re.ASCII)
"""An IMEI is 15 digits, an IMEISV 16 (3GPP TS 23.003)."""
_TIME = re.compile(r"\d{14}", re.ASCII)
_COUNT = re.compile(r"[0-9A-Fa-f]{4}", re.ASCII)
_DECIMAL = re.compile(r"-?\d+(?:\.\d+)?", re.ASCII)
_INTEGER = re.compile(r"\d+", re.ASCII)


class QueclinkError(BadInput):
    """A message breaks the @Track format; ``reason`` is a short code for counters and dead letters."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class QueclinkMessage:
    """One message as the unit sent it: head, name, the common fields and the parameters between them."""

    head: str
    name: str
    protocol_version: str
    imei: str
    device_name: str
    params: tuple[str, ...]
    """The fields between the device name and the send time."""
    send_ts_ms: int
    count_text: str
    """The count number as sent (4 hex digits): echoed in the acknowledgement."""

    @property
    def count(self) -> int:
        return int(self.count_text, 16)

    @property
    def device_type(self) -> str:
        """The first two characters of the protocol version: which model sent it (``06`` GV300, ``08`` GMT100 ...)."""
        return self.protocol_version[:2]

    @property
    def buffered(self) -> bool:
        """Stored by the unit while it could not reach the server, and sent late (``+BUFF``)."""
        return self.head == "+BUFF"

    @property
    def is_heartbeat(self) -> bool:
        return self.head == "+ACK" and self.name == HEARTBEAT


@dataclass(frozen=True, slots=True)
class GnssBlock:
    """One GNSS block: a position (or the last known one) and the serving cell."""

    accuracy: int | None
    """HDOP 1-50 with a fix; 0 without (the position is the last known one); None when the field was empty."""
    speed_kmh: float | None
    azimuth_deg: int | None
    altitude_m: float | None
    lon: float | None
    lat: float | None
    gnss_ts_ms: int | None
    cell: tuple[str, str, str, str]
    """MCC, MNC, LAC and cell ID as sent."""

    @property
    def has_fix(self) -> bool:
        return bool(self.accuracy) and self.lon is not None and self.lat is not None


@dataclass(frozen=True, slots=True)
class QueclinkReport:
    """A message whose layout is known, split around its GNSS blocks."""

    message: QueclinkMessage
    leading: tuple[str, ...]
    """The fields between the device name and the first block (or <Number>, for position reports)."""
    blocks: tuple[GnssBlock, ...]
    trailing: tuple[str, ...]
    """The fields between the last block and the send time."""


def parse_time_ms(text: str, what: str) -> int:
    """YYYYMMDDHHMMSS, read as UTC, to epoch milliseconds."""
    if _TIME.fullmatch(text) is None:
        raise QueclinkError("malformed", f"{what} {text!r}, expected YYYYMMDDHHMMSS")
    try:
        moment = datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise QueclinkError("malformed", f"{what} {text!r} is not a date and time that exists") from None
    return int((moment - EPOCH).total_seconds()) * 1000


def parse_message(raw: bytes) -> QueclinkMessage:
    """One message from its head to its ``$``; QueclinkError names what is wrong."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise QueclinkError("oversized", f"{len(raw)} bytes, expected at most {MAX_MESSAGE_BYTES}")
    if not raw.endswith(TAIL):
        raise QueclinkError("malformed", f"message ends {raw[-8:]!r}, expected the tail character '$'")
    try:
        text = raw[:-1].decode("ascii")
    except UnicodeDecodeError:
        raise QueclinkError(
            "not_ascii", "bytes outside ASCII: only the ASCII report format is read (not the HEX one)"
        ) from None
    head, colon, body = text.partition(":")
    if not colon or head not in HEADS:
        raise QueclinkError("bad_head", f"message starts {text[:12]!r}, expected +RESP:, +BUFF: or +ACK:")
    fields = body.split(",")
    name = fields[0]
    if _NAME.fullmatch(name) is None:
        raise QueclinkError("malformed", f"message name {name[:12]!r}, expected GT and three capital letters")
    if len(fields) < 6:
        raise QueclinkError("malformed", f"{head}:{name} has {len(fields)} fields, expected at least 6")
    version, imei, device_name = fields[1], fields[2], fields[3]
    if _PROTOCOL_VERSION.fullmatch(version) is None:
        raise QueclinkError("malformed", f"protocol version {version[:12]!r}, expected 2 characters and 4 hex digits")
    if _IMEI.fullmatch(imei) is None:
        raise QueclinkError("malformed", f"unique ID {imei[:20]!r}, expected the unit's IMEI (15 digits)")
    count_text = fields[-1]
    if _COUNT.fullmatch(count_text) is None:
        raise QueclinkError("malformed", f"count number {count_text[:12]!r}, expected 4 hex digits")
    send_ts_ms = parse_time_ms(fields[-2], "send time")
    return QueclinkMessage(head, name, version, imei, device_name, tuple(fields[4:-2]), send_ts_ms, count_text)


def _number(text: str, what: str, pattern: re.Pattern[str] = _DECIMAL) -> str | None:
    if text == "":
        return None
    if pattern.fullmatch(text) is None:
        raise QueclinkError("malformed", f"{what} {text[:16]!r}, expected a number")
    return text


def parse_block(fields: Sequence[str], start: int, index: int = 0) -> GnssBlock:
    """The twelve fields of a GNSS block that begins at ``start``; empty fields are values not reported."""
    what = f"position {index}"
    (accuracy, speed, azimuth, altitude, lon, lat, gnss_time, mcc, mnc, lac, cell_id, _reserved) = fields[
        start : start + BLOCK_FIELDS
    ]
    accuracy_text = _number(accuracy, f"{what} GPS accuracy", _INTEGER)
    accuracy_value = None if accuracy_text is None else int(accuracy_text)
    if accuracy_value is not None and accuracy_value > MAX_ACCURACY:
        raise QueclinkError("malformed", f"{what} GPS accuracy {accuracy_value}, expected 0 to {MAX_ACCURACY}")
    speed_text = _number(speed, f"{what} speed")
    azimuth_text = _number(azimuth, f"{what} azimuth", _INTEGER)
    altitude_text = _number(altitude, f"{what} altitude")
    lon_text = _number(lon, f"{what} longitude")
    lat_text = _number(lat, f"{what} latitude")
    return GnssBlock(
        accuracy=accuracy_value,
        speed_kmh=None if speed_text is None else float(speed_text),
        azimuth_deg=None if azimuth_text is None else int(azimuth_text),
        altitude_m=None if altitude_text is None else float(altitude_text),
        lon=None if lon_text is None else float(lon_text),
        lat=None if lat_text is None else float(lat_text),
        gnss_ts_ms=parse_time_ms(gnss_time, f"{what} GPS UTC time") if gnss_time else None,
        cell=(mcc, mnc, lac, cell_id),
    )


def _blocks(params: tuple[str, ...], start: int, count: int, name: str) -> tuple[GnssBlock, ...]:
    end = start + count * BLOCK_FIELDS
    if len(params) < end:
        raise QueclinkError(
            "malformed",
            f"{name} announces {count} position(s) from field {start + 4}, carries {len(params)} fields "
            f"where at least {end} are needed",
        )
    return tuple(parse_block(params, start + i * BLOCK_FIELDS, i) for i in range(count))


def _one_more_field_before_block(params: tuple[str, ...], start: int) -> bool:
    """Whether the block of a jamming report begins at ``start + 1`` (later firmware) rather than at ``start``."""
    gnss_time = start + 6
    if len(params) > gnss_time + 1 and _TIME.fullmatch(params[gnss_time + 1]):
        return True  # the shorter layout has the MCC there, 4 digits
    if len(params) > gnss_time and _TIME.fullmatch(params[gnss_time]):
        return False  # the longer layout has the latitude there
    return len(params) > start + 1 and _INTEGER.fullmatch(params[start + 1]) is not None


def decode_report(message: QueclinkMessage) -> QueclinkReport | None:
    """The message split around its GNSS blocks; None for a message whose layout is not read here (GTINF, GTBAT,
    command acknowledgements ...), which carries nothing the contract has a field for."""
    params, name = message.params, message.name
    if message.head == "+ACK":
        return None
    if name in POSITION_REPORTS:
        if len(params) < 3:
            raise QueclinkError("malformed", f"{name} has {len(params)} parameters, expected at least 3")
        number = params[2]
        if _INTEGER.fullmatch(number) is None or int(number) > MAX_POSITIONS:
            raise QueclinkError("malformed", f"{name} <Number> {number[:8]!r}, expected 0 to {MAX_POSITIONS}")
        count = int(number)
        blocks = _blocks(params, 3, count, name)
        return QueclinkReport(message, params[:2], blocks, params[3 + count * BLOCK_FIELDS :])
    if name in LAST_KNOWN_POSITION_EVENTS or name in STATE_EVENTS:
        start = 1 if name in STATE_EVENTS else 0
        if name in JAMMING_EVENTS and _one_more_field_before_block(params, start):
            start += 1
        blocks = _blocks(params, start, 1, name)
        return QueclinkReport(message, params[:start], blocks, params[start + BLOCK_FIELDS :])
    if name in NO_POSITION_EVENTS:
        return QueclinkReport(message, params, (), ())
    return None


def report_id_and_type(report: QueclinkReport) -> tuple[int | None, int | None]:
    """<Report ID> and <Report Type> of a position report: two hex digits of one field on GV-series units (the high
    one the ID: the input port of GTDIS and GTSOS, the geofence of GTGEO ...), two fields on GL-series units."""
    if len(report.leading) != 2:
        return None, None
    first, second = report.leading
    if len(second) == 2 and all(c in "0123456789abcdefABCDEF" for c in second):
        return int(second[0], 16), int(second[1], 16)
    if len(second) == 1 and second.isdigit() and first.isdigit():
        return int(first), int(second)
    return None, None


def sack(message: QueclinkMessage) -> bytes:
    """The server's acknowledgement of a message: ``+SACK:GTHBD,<version>,<count>$`` for a heartbeat, else
    ``+SACK:<count>$``."""
    if message.is_heartbeat:
        return f"+SACK:{HEARTBEAT},{message.protocol_version},{message.count_text}$".encode("ascii")
    return f"+SACK:{message.count_text}$".encode("ascii")


def format_message(
    head: str,
    name: str,
    protocol_version: str,
    imei: str,
    params: Sequence[str],
    send_time: str,
    count: int,
    device_name: str = "",
) -> bytes:
    """A message as a unit sends it (simulated units, tests)."""
    fields = [name, protocol_version, imei, device_name, *params, send_time, f"{count & 0xFFFF:04X}"]
    return f"{head}:{','.join(fields)}$".encode("ascii")
