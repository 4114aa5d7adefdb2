"""Raw telemetry message to a validated TelemetryRecord, by the fast path when it can, else by the precise one.

The fast path takes the usual message: msgspec decodes and range-checks it into a ``Wire`` (telematics/wire.py)
in one pass, and only ever accepts. Anything it does not take, or any doubt, goes to the precise checks of
telematics/validation.py, which decide and word the reason. tests/telematics/test_validation.py checks that
every record the fast path accepts is the one the precise path returns. This module is compiled (setup.py):
every record of replay and of the live detector passes through it.
"""

from __future__ import annotations

from typing import Final

from telematics.records import TelemetryRecord
from telematics.timeutil import TimestampError, parse_rfc3339_ms
from telematics.validation import decode_message, validate_record
from telematics.wire import MAX_MESSAGE_BYTES, MAX_TS_MS, UNSET, VEHICLE_ID_PATTERN, decode_wire, wire_fields

# Final copies: compiled code reads these as constants, not as attributes of the interpreted wire module.
_MAX_MESSAGE_BYTES: Final = MAX_MESSAGE_BYTES
_MAX_TS_MS: Final = MAX_TS_MS
_DIGITS: Final = "0123456789"
_SECOND_TENS: Final = "012345"
_valid_vehicle_ids: Final[set[str]] = set()
"""Vehicle ids already matched against VEHICLE_ID_PATTERN: a fleet sends the same few over and over."""
_minute_ms: Final[dict[str, int]] = {}
"""Epoch milliseconds of a "YYYY-MM-DDTHH:MM" that began a valid UTC timestamp (checked in full the first time)."""
_timestamp_ms: Final[dict[str, int]] = {}
"""Epoch milliseconds of the timestamps of the latest records: a fleet's records of one second share theirs."""
_TIMESTAMPS_KEPT: Final = 4096
_CACHE_LIMIT: Final = 100_000
_decode_wire: Final = decode_wire
_wire_fields: Final = wire_fields
_UNSET: Final = UNSET
"""The wire module's decoder, field reader and unset marker, bound here once (it is not compiled)."""


def parse_telemetry(raw: bytes | bytearray | memoryview | str) -> TelemetryRecord:
    """One raw message to a validated record; raises InvalidRecord (telematics/validation.py) with the reason."""
    if isinstance(raw, str):
        # A str of up to 16 Ki characters cannot be more than 64 KiB in UTF-8.
        fits = len(raw) <= _MAX_MESSAGE_BYTES // 4
    else:
        if not isinstance(raw, bytes):
            raw = bytes(raw)
        fits = len(raw) <= _MAX_MESSAGE_BYTES
    if fits:
        record = parse_fast(raw)
        if record is not None:
            return record
    return validate_record(decode_message(raw))


def parse_fast(raw: bytes | str) -> TelemetryRecord | None:
    """The record when msgspec takes the message as it is, else None (then the precise path decides)."""
    if not raw.isascii():
        if not isinstance(raw, bytes):
            return None
        try:
            raw.decode("utf-8")  # msgspec does not check UTF-8 inside fields it skips
        except UnicodeDecodeError:
            return None
    try:
        wire = _decode_wire(raw)
    except (ValueError, RecursionError):  # msgspec.DecodeError is a ValueError
        return None
    # The Wire's values, in TelemetryRecord's field order (checked in telematics/wire.py).
    (vehicle_id, given_ts, seq, lat, lon, gnss_fix, gnss_jamming, gnss_speed, heading, wheel_speed, rpm,
     ignition, parking_brake, cab_door, cargo_door, trailer, _, card, panic, volts, odometer, fuel, hdop, satellites,
     accuracy, safety_systems, _, source) = _wire_fields(wire)
    if not vehicle_id_ok(vehicle_id):
        return None
    if isinstance(given_ts, str):
        parsed = utc_ms(given_ts)
        if parsed is None:
            return None
        ts: int = parsed
    else:
        ts = given_ts  # an int: msgspec decoded str | int
    if not 0 <= ts <= _MAX_TS_MS:
        return None
    if (lat is None) != (lon is None):
        return None
    if gnss_fix is None:
        gnss_fix = lat is not None
    card_reported = card is not _UNSET
    return TelemetryRecord(
        vehicle_id, ts, seq, lat, lon, gnss_fix, gnss_jamming, gnss_speed, heading, wheel_speed, rpm, ignition,
        parking_brake, cab_door, cargo_door, trailer, card_reported, card if card_reported else None, panic, volts,
        odometer, fuel, hdop, satellites, accuracy, safety_systems, None, source,
    )


def vehicle_id_ok(vehicle_id: str) -> bool:
    if vehicle_id in _valid_vehicle_ids:
        return True
    if VEHICLE_ID_PATTERN.fullmatch(vehicle_id) is None:
        return False
    if len(_valid_vehicle_ids) >= _CACHE_LIMIT:
        _valid_vehicle_ids.clear()
    _valid_vehicle_ids.add(vehicle_id)
    return True


def utc_ms(text: str) -> int | None:
    """Epoch ms of RFC 3339 text the fast path takes; None to leave it to the precise path. The latest timestamps
    are remembered: a fleet's records of one second share theirs."""
    known = _timestamp_ms.get(text)
    if known is not None:
        return known
    ms = _utc_ms(text)
    if ms is not None:
        if len(_timestamp_ms) >= _TIMESTAMPS_KEPT:
            _timestamp_ms.clear()
        _timestamp_ms[text] = ms
    return ms


def _utc_ms(text: str) -> int | None:
    """The usual "YYYY-MM-DDTHH:MM:SSZ" or "...:SS.mmmZ" adds its seconds to the minute's start, once that minute
    was seen in a timestamp checked in full; anything else is checked in full here (telematics/timeutil.py)."""
    size = len(text)
    if (size == 20 or (size == 24 and text[19] == "." and text[20] in _DIGITS and text[21] in _DIGITS
                       and text[22] in _DIGITS)) and text[-1] == "Z" and text[16] == ":" \
            and text[17] in _SECOND_TENS and text[18] in _DIGITS:
        minute = _minute_ms.get(text[:16])
        if minute is not None:
            return minute + int(text[17:19]) * 1000 + (int(text[20:23]) if size == 24 else 0)
    if text[10:11] != "T" or text[-1:] == "z":
        return None  # a lower-case t or z, or no T at all: left to the precise path
    try:
        ms = parse_rfc3339_ms(text)
    except TimestampError:
        return None
    if text[-1] == "Z" and (size == 20 or size == 24):
        if len(_minute_ms) >= _CACHE_LIMIT:
            _minute_ms.clear()
        _minute_ms[text[:16]] = ms - ms % 60_000
    return ms
