"""Queclink's @Track air interface protocol: one ASCII message, checked and split into its documented fields.

Sources, all Queclink Wireless Solutions application notes (field layouts restated here in our own words):

- "GMT100 @Track Air Interface Protocol", TRACGMT100AN001, revision 1.0 (2011-08-16): sections 3.2.6 (AT+GTDIS,
  p. 23), 3.2.8 (AT+GTEPS, p. 27-28), 3.2.12 (AT+GTTOW, p. 36), 3.3.1 (position related reports, their examples
  and <Report ID/Report Type>, p. 62-64), +RESP:GTIGN (p. 97), 3.3.5 (buffer report, p. 104), 3.4 (heartbeat,
  p. 106).
- "GV200 @Track Air Interface Protocol", TRACGV200AN003: the shared format of the position reports (p. 105), the
  fields of +RESP:GTFRI after its positions (p. 109), +RESP:GTERI (p. 110), 3.3.5 (buffer report, p. 108).
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
  GTJDR, each with one more field before the block than TRACGL300AN001 shows (see below); at 38d586a and 3dfe8a3:
  the GTVER of a GV310LAU (protocol version 6E0100, device type 6E) and of a GV58LAU (protocol version
  8020040100, device type 802004); at c507ec6, 3c8d7bb, 2e493c2 and 3dfe8a3: GV310LAU and GV58LAU reports with a
  position append mask (see below).
- Traccar's file above, again: GTFRI and GTERI of GV58LAU (802004) and GV355CEU (802005) units, GTERI of GV300
  units (the supply in mV after the ERI mask), GTFRI of GV500 units (1F, 36: the VIN before the device name, then
  the supply in mV); at 13bd5f99a4dd, where it was test/org/traccar/protocol/Gl200ProtocolDecoderTest.java, one more
  GV500 GTFRI.

Framing. A message is printable ASCII: a head (``+RESP`` a report, ``+BUFF`` a report the unit stored while it
could not reach the server and sends late, unchanged but for the head, ``+ACK`` an answer to a command or the
heartbeat ``+ACK:GTHBD``), a colon, the message name (``GT`` and three letters), then comma-separated parameters,
and ``$`` at the end. Every message from a unit opens with the protocol version, the unique ID (the IMEI) and the
device name, and closes with the send time (YYYYMMDDHHMMSS) and a 4-hex-digit count number. The protocol version
is the device type, then four hex digits of version (major, minor): the documents' units name their type with two
characters (``06`` a GV300, ``08`` a GMT100, ``6E`` a GV310LAU), later units with six (``802004`` a GV58LAU,
``802005`` a GV355CEU, ``802006`` a GV57CG), 10 characters in all; each unit's GTVER reports the same device type
in its <Device Type> field. The GV500 OBD units (device types ``1F``, ``36``, ``56``, ``5E``) send the vehicle's
VIN (empty when unknown) between the IMEI and the device name (real GTFRI and GTOBD in Traccar's file; GV500MA
and GV500MAP logs in github.com/eusonlito/GPS-Tracker issue 6 put their fields alike).

Positions. Reports carry GNSS blocks of twelve fields: GPS accuracy (0 when the unit has no fix and repeats its
last known position, else the HDOP of NMEA 0183, up to 50), speed (km/h, one decimal), azimuth (degrees), altitude
(m), longitude and latitude (degrees, six decimals, west and south negative), the GPS UTC time (YYYYMMDDHHMMSS),
then MCC, MNC, LAC, cell ID and a reserved field of the serving cell, ``00`` in the documents.

On GV310LAU units and the units with a 10-character protocol version that reserved field is a position append
mask (two hex digits), and the fields its bits select follow the block, in bit order, before the next block or the
fields after the positions. No Queclink document describing it was found in public; the widths below are those
real messages show, each checked by the next block, or the mileage and hour meter (HHHHHHH:MM:SS), landing in its
place after them: bit 0 appends one field, a count of satellites (0-32; mask 01 on GV310LAU, GV58LAU and GV57CG
units; summaries of the GV58LAU and GV310LAU documents posted on GitHub by third parties name it the satellites in
use); bit 1 one field (0 or 3; masks 02 and 03 on GV58LAU, GV355CEU, GV57CG and GV310LAU units); bit 2 one field
of six digits (220100, 120000; mask 05 on a GV58LAU's GTIGN, GTIGF and GTTOW); bit 3 three decimals (0.90, 1.47,
1.73; mask 09 on a GV310LAU's GTFRI and GTERI and a GV58LAU's GTSOS). A mask with another bit set is refused
(``unknown_layout``): what follows its block could not be placed.

Where the block sits depends on the message:

- position reports (GTFRI, GTTOW, GTDIS, GTIOB, GTGEO, GTSPD, GTSOS, GTRTL, GTDOG, GTIGL, GTHBM): two fields after
  the device name that differ between models (GV-series units and the GMT100: a model-specific reading, often
  empty, such as the GV200's analog input in mV, then the report ID and report type as two hex digits; the GL300:
  the report ID, then the report type), then <Number>, the count of GNSS blocks (0-15), the blocks, and further
  fields (the mileage in km first);
- GTERI, which units send instead of GTFRI when <ERI Mask> of AT+GTFRI is set (TRACGV200AN003, p. 110): the ERI
  mask (8 hex digits) right after the device name, then the fields of GTFRI in their order, then the data of the
  peripherals the mask selects (not read here);
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
EXPANDED_FIXED_REPORT = "GTERI"
"""Sent instead of GTFRI when <ERI Mask> of AT+GTFRI is set: its ERI mask, then GTFRI's fields (see above)."""
LAST_KNOWN_POSITION_EVENTS = frozenset({"GTMPN", "GTMPF", "GTEPN", "GTEPF", "GTJDR"})
STATE_EVENTS = frozenset({"GTIGN", "GTIGF", "GTJDS"})
JAMMING_EVENTS = frozenset({"GTJDR", "GTJDS"})
"""One more field before the block on later firmware: see the module docstring."""
NO_POSITION_EVENTS = frozenset({"GTPNA", "GTPFA"})

VERSION_DIGITS = 4
"""The protocol version ends with four hex digits of version; the device type is what comes before them."""
LONG_DEVICE_TYPE = 6
"""The device types of later units (``802004`` ...), in their 10-character protocol versions."""
POSITION_APPEND_MASK_DEVICE_TYPES = frozenset({"6E"})
"""Units with a 6-character protocol version whose block ends with a position append mask (the GV310LAU); every
unit with a 10-character one does too (see the module docstring)."""
POSITION_APPEND_FIELDS = ((0x01, 1), (0x02, 1), (0x04, 1), (0x08, 3))
"""Position append mask bit -> how many fields it appends after the block, in bit order."""
SATELLITES_BIT = 0x01
"""The bit whose field (the first appended) is a count of satellites."""
VIN_BEFORE_DEVICE_NAME = frozenset({"1F", "36", "56", "5E"})
"""Device types (the GV500 family) that send the vehicle's VIN between the IMEI and the device name."""

_NAME = re.compile(r"GT[A-Z]{3}", re.ASCII)
_PROTOCOL_VERSION = re.compile(r"(?:[0-9A-Z]{2}|[0-9A-Z]{6})[0-9A-Fa-f]{4}", re.ASCII)
_IMEI = re.compile(r"\d{15,16}", re.ASCII)
"""An IMEI is 15 digits, an IMEISV 16 (3GPP TS 23.003)."""
_TIME = re.compile(r"\d{14}", re.ASCII)
_COUNT = re.compile(r"[0-9A-Fa-f]{4}", re.ASCII)
_APPEND_MASK = re.compile(r"[0-9A-Fa-f]{1,2}", re.ASCII)
_ERI_MASK = re.compile(r"[0-9A-Fa-f]{8}", re.ASCII)
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
    vin: str = ""
    """The vehicle's VIN, sent by GV500 units before the device name (empty from other units, or when unknown)."""

    @property
    def count(self) -> int:
        return int(self.count_text, 16)

    @property
    def device_type(self) -> str:
        """The protocol version but its last four hex digits: which model sent it (``06`` GV300, ``08`` GMT100,
        ``802004`` GV58LAU ...)."""
        return self.protocol_version[:-VERSION_DIGITS]

    @property
    def has_position_append_mask(self) -> bool:
        """Whether the last field of each GNSS block is a position append mask rather than the reserved ``00``."""
        return self.device_type in POSITION_APPEND_MASK_DEVICE_TYPES or len(self.device_type) == LONG_DEVICE_TYPE

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
    satellites: int | None = None
    """The count of satellites its position append mask added (None without one)."""

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
    """The fields between the last block (and the fields its position append mask added) and the send time."""
    eri_mask: str | None = None
    """GTERI's <ERI Mask>, the field before ``leading``; None for other messages."""


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
        raise QueclinkError(
            "malformed",
            f"protocol version {version[:12]!r}, expected the device type (2 or 6 characters) and 4 hex digits",
        )
    if _IMEI.fullmatch(imei) is None:
        raise QueclinkError("malformed", f"unique ID {imei[:20]!r}, expected the unit's IMEI (15 digits)")
    count_text = fields[-1]
    if _COUNT.fullmatch(count_text) is None:
        raise QueclinkError("malformed", f"count number {count_text[:12]!r}, expected 4 hex digits")
    send_ts_ms = parse_time_ms(fields[-2], "send time")
    first_param, vin = 4, ""
    if version[:-VERSION_DIGITS] in VIN_BEFORE_DEVICE_NAME and len(fields) > 6:
        first_param, vin, device_name = 5, fields[3], fields[4]
    params = tuple(fields[first_param:-2])
    return QueclinkMessage(head, name, version, imei, device_name, params, send_ts_ms, count_text, vin)


def _number(text: str, what: str, pattern: re.Pattern[str] = _DECIMAL) -> str | None:
    if text == "":
        return None
    if pattern.fullmatch(text) is None:
        raise QueclinkError("malformed", f"{what} {text[:16]!r}, expected a number")
    return text


def parse_block(
    fields: Sequence[str], start: int, index: int = 0, *, append_mask: bool = False
) -> tuple[GnssBlock, int]:
    """The GNSS block that begins at ``start`` (its twelve fields, and with ``append_mask`` the fields its position
    append mask adds after it) and where the next field after them is; empty fields are values not reported."""
    what = f"position {index}"
    (accuracy, speed, azimuth, altitude, lon, lat, gnss_time, mcc, mnc, lac, cell_id, last) = fields[
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
    end = start + BLOCK_FIELDS
    satellites = None
    if append_mask:
        mask = _append_mask(last, what)
        appended = sum(width for bit, width in POSITION_APPEND_FIELDS if mask & bit)
        if len(fields) < end + appended:
            raise QueclinkError(
                "malformed",
                f"{what} position append mask {last!r} adds {appended} field(s), {len(fields) - end} follow the block",
            )
        if mask & SATELLITES_BIT:
            satellites_text = _number(fields[end], f"{what} satellites", _INTEGER)
            satellites = None if satellites_text is None else int(satellites_text)
        end += appended
    block = GnssBlock(
        accuracy=accuracy_value,
        speed_kmh=None if speed_text is None else float(speed_text),
        azimuth_deg=None if azimuth_text is None else int(azimuth_text),
        altitude_m=None if altitude_text is None else float(altitude_text),
        lon=None if lon_text is None else float(lon_text),
        lat=None if lat_text is None else float(lat_text),
        gnss_ts_ms=parse_time_ms(gnss_time, f"{what} GPS UTC time") if gnss_time else None,
        cell=(mcc, mnc, lac, cell_id),
        satellites=satellites,
    )
    return block, end


def _append_mask(text: str, what: str) -> int:
    """A position append mask's bits; QueclinkError for one that is not hex or sets a bit whose fields are unknown."""
    if text == "":
        return 0
    if _APPEND_MASK.fullmatch(text) is None:
        raise QueclinkError("malformed", f"{what} position append mask {text[:8]!r}, expected two hex digits")
    mask = int(text, 16)
    known = sum(bit for bit, _ in POSITION_APPEND_FIELDS)
    if mask & ~known:
        raise QueclinkError(
            "unknown_layout",
            f"{what} position append mask {text!r} sets bits {mask & ~known:#04x} whose fields are not known (only "
            f"{known:#04x}): the fields after the block cannot be placed",
        )
    return mask


def _blocks(
    params: tuple[str, ...], start: int, count: int, message: QueclinkMessage
) -> tuple[tuple[GnssBlock, ...], int]:
    """``count`` blocks from ``start``, and where the fields after them begin."""
    blocks: list[GnssBlock] = []
    at = start
    for index in range(count):
        if len(params) < at + BLOCK_FIELDS:
            raise QueclinkError(
                "malformed",
                f"{message.name} announces {count} position(s), carries {len(params)} parameters where position "
                f"{index} needs {at + BLOCK_FIELDS}",
            )
        block, at = parse_block(params, at, index, append_mask=message.has_position_append_mask)
        blocks.append(block)
    return tuple(blocks), at


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
    if name in POSITION_REPORTS or name == EXPANDED_FIXED_REPORT:
        skip = 1 if name == EXPANDED_FIXED_REPORT else 0  # GTERI's <ERI Mask>, before the fields of GTFRI
        if len(params) < skip + 3:
            raise QueclinkError("malformed", f"{name} has {len(params)} parameters, expected at least {skip + 3}")
        eri_mask = params[0] if skip else None
        if eri_mask is not None and _ERI_MASK.fullmatch(eri_mask) is None:
            raise QueclinkError("malformed", f"{name} <ERI Mask> {eri_mask[:12]!r}, expected 8 hex digits")
        number = params[skip + 2]
        if _INTEGER.fullmatch(number) is None or int(number) > MAX_POSITIONS:
            raise QueclinkError("malformed", f"{name} <Number> {number[:8]!r}, expected 0 to {MAX_POSITIONS}")
        blocks, end = _blocks(params, skip + 3, int(number), message)
        return QueclinkReport(message, params[skip : skip + 2], blocks, params[end:], eri_mask)
    if name in LAST_KNOWN_POSITION_EVENTS or name in STATE_EVENTS:
        start = 1 if name in STATE_EVENTS else 0
        if name in JAMMING_EVENTS and _one_more_field_before_block(params, start):
            start += 1
        blocks, end = _blocks(params, start, 1, message)
        return QueclinkReport(message, params[:start], blocks, params[end:])
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
