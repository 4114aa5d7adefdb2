"""Parses and validates raw telemetry messages against contract v1, naming the field at fault."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
import orjson

from telematics.records import TelemetryRecord
from telematics.timeutil import EPOCH, TimestampError, format_ms, parse_rfc3339_ms

MAX_MESSAGE_BYTES = 64 * 1024
MAX_SEQ = 2**64 - 1
"""seq is a per-vehicle counter; beyond 64 bits it cannot be read back exactly from JSON."""
MAX_TS_MS = (datetime(9999, 12, 31, tzinfo=UTC) - EPOCH).days * 86_400_000 - 1
"""9999-12-30T23:59:59.999Z: the last instant that is still a date in every time zone."""
VEHICLE_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
"""The contract's vehicle_id; use it with fullmatch."""

_VEHICLE_ID_RULE = "1-64 characters of A-Z a-z 0-9 . _ -"
_TS_RULE = "RFC 3339 text or integer epoch milliseconds"
_TS_RANGE = f"from 0 ({format_ms(0)}) to {MAX_TS_MS} ({format_ms(MAX_TS_MS)})"
_FLOAT_MAX = sys.float_info.max


class ContractError(ValueError):
    """A message breaks data contract v1; ``field`` names the part at fault (or "message")."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class InvalidRecord(ContractError):
    """A telemetry message breaks the contract (section 2)."""


def describe_value(value: Any) -> str:
    """A value as an error message quotes it: its repr, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    names: dict[type, str] = {str: "string", list: "list", dict: "object"}
    return names.get(type(value), type(value).__name__)


# --- the checks: the precise, readable definition of a valid record ---------------------------------------


def _number(field: str, low: float, high: float | None) -> Callable[[Any], float]:
    top = _FLOAT_MAX if high is None else high
    expected = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"

    def check(value: Any) -> float:
        kind = type(value)
        if (kind is float or kind is int) and low <= value <= top:
            return float(value)
        # Rare from here on: subclasses (numpy), wrong types, out of range, not finite.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidRecord(field, f"got {describe_value(value)}, expected a number")
        if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > _FLOAT_MAX:
            raise InvalidRecord(field, f"got {describe_value(value)}, expected a finite number")
        if not low <= value <= top:
            raise InvalidRecord(field, f"got {describe_value(value)}, expected {expected}")
        return float(value)

    return check


def _coordinate(field: str, limit: float) -> Callable[[Any], float | None]:
    number = _number(field, -limit, limit)

    def check(value: Any) -> float | None:
        return None if value is None else number(value)

    return check


def _boolean(field: str) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if value is True or value is False:
            return value
        raise InvalidRecord(field, f"got {describe_value(value)}, expected true or false")

    return check


def _integral(value: Any, high: int) -> int | None:
    """An integer, or a number with no fraction (JSON Schema's "integer"), from 0 to high; else None."""
    if type(value) is int:
        return value if 0 <= value <= high else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():  # NaN and infinities included
        return None
    return int(value) if 0 <= value <= high else None


def _seq(value: Any) -> int:
    seq = _integral(value, MAX_SEQ)
    if seq is None:
        raise InvalidRecord("seq", f"got {describe_value(value)}, expected an integer from 0 to {MAX_SEQ}")
    return seq


def _driver_card(value: Any) -> str | None:
    if value is None or (type(value) is str and len(value) <= 64):
        return value
    expected = "expected text of at most 64 characters or null"
    raise InvalidRecord("driver_card_id", f"got {describe_value(value)}, {expected}")


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "seq": _seq,
    "lat": _coordinate("lat", 90),
    "lon": _coordinate("lon", 180),
    "gnss_speed_kmh": _number("gnss_speed_kmh", 0, 300),
    "wheel_speed_kmh": _number("wheel_speed_kmh", 0, 300),
    "heading_deg": _number("heading_deg", 0, 360),
    "engine_rpm": _number("engine_rpm", 0, 10000),
    "ext_power_v": _number("ext_power_v", 0, 100),
    "odometer_km": _number("odometer_km", 0, None),
    "fuel_level_pct": _number("fuel_level_pct", 0, 100),
    "driver_card_id": _driver_card,
    **{
        name: _boolean(name)
        for name in ("gnss_fix", "gnss_jamming", "ignition", "parking_brake", "cab_door_open",
                     "cargo_door_open", "trailer_connected", "panic")
    },
}
FIELDS = frozenset({"vehicle_id", "ts", *_CHECKS})
"""The fields of contract section 2; any other field is ignored."""


def parse_timestamp(value: Any) -> int:
    """The contract's ``ts``: RFC 3339 text with offset, or non-negative integer epoch milliseconds."""
    if isinstance(value, str):
        try:
            ms = parse_rfc3339_ms(value)
        except TimestampError as exc:
            raise InvalidRecord("ts", str(exc)) from None
        if 0 <= ms <= MAX_TS_MS:
            return ms
        raise InvalidRecord("ts", f"got {describe_value(value)}, expected a time {_TS_RANGE}")
    whole = _integral(value, MAX_TS_MS)
    if whole is not None:
        return whole
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRecord("ts", f"got {describe_value(value)}, expected {_TS_RULE}")
    if isinstance(value, float) and not value.is_integer():
        raise InvalidRecord("ts", f"got {describe_value(value)}, expected integer epoch milliseconds (no fraction)")
    raise InvalidRecord("ts", f"got {describe_value(value)}, expected epoch milliseconds {_TS_RANGE}")


def validate_record(obj: dict[str, Any]) -> TelemetryRecord:
    """A decoded JSON object to a TelemetryRecord; unknown fields are ignored, as the contract says."""
    if not isinstance(obj, dict):
        raise InvalidRecord("message", f"got a JSON {_json_type(obj)}, expected an object")
    if "vehicle_id" not in obj:
        raise InvalidRecord("vehicle_id", f"missing, expected {_VEHICLE_ID_RULE}")
    vehicle_id = obj["vehicle_id"]
    if not isinstance(vehicle_id, str) or VEHICLE_ID_PATTERN.fullmatch(vehicle_id) is None:
        raise InvalidRecord("vehicle_id", f"got {describe_value(vehicle_id)}, expected {_VEHICLE_ID_RULE}")
    if "ts" not in obj:
        raise InvalidRecord("ts", f"missing, expected {_TS_RULE}")
    fields: dict[str, Any] = {"vehicle_id": vehicle_id, "ts_ms": parse_timestamp(obj["ts"])}
    checks = _CHECKS
    for name, value in obj.items():
        check = checks.get(name)
        if check is not None:
            fields[name] = check(value)
    lat, lon = fields.get("lat"), fields.get("lon")
    if (lat is None) != (lon is None):
        missing, given = ("lon", lat) if lon is None else ("lat", lon)
        state = "null" if missing in obj else "missing"
        raise InvalidRecord(missing, f"{state} while the other coordinate is {given!r}; expected both or neither")
    if "gnss_fix" not in fields:
        fields["gnss_fix"] = lat is not None
    if "driver_card_id" in fields:
        fields["driver_card_reported"] = True
    return TelemetryRecord(**fields)


# --- decoding ----------------------------------------------------------------------------------------------


class _Overflow(float):
    """A JSON number beyond the range of a 64-bit float, with its text, found while explaining a rejection."""

    text: str


def _reread(raw: bytes | str, error: Exception) -> Any:
    """Reads text orjson refused with the standard library to say precisely why, or to accept it after all.

    orjson refuses numbers beyond a 64-bit float anywhere; such a number in a field nobody reads is still JSON
    and is ignored like the rest of that field. Everything else orjson refuses is refused here too.
    """
    reason = f"not valid JSON ({error})"
    constants: list[str] = []

    def constant(name: str) -> float:
        constants.append(name)
        return float(name)

    def number(text: str) -> float:
        value = float(text)
        if math.isfinite(value):
            return value
        overflow = _Overflow(value)
        overflow.text = text if len(text) <= 40 else text[:37] + "..."
        return overflow

    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
        value = json.loads(text, parse_constant=constant, parse_float=number)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InvalidRecord("message", reason) from None
    if isinstance(value, dict):
        for name, item in value.items():
            if name in FIELDS and isinstance(item, float | int) and not isinstance(item, bool):
                if isinstance(item, _Overflow):
                    got = item.text
                elif isinstance(item, float) and not math.isfinite(item):
                    got = "NaN" if math.isnan(item) else ("Infinity" if item > 0 else "-Infinity")
                elif abs(item) > _FLOAT_MAX:
                    got = describe_value(item)
                else:
                    continue
                raise InvalidRecord("message", f"not valid JSON ({name}: got {got}, expected a finite number)")
    if constants or _has_surrogate(value):
        raise InvalidRecord("message", reason)
    return value


def _has_surrogate(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if not item.isascii() and any("\ud800" <= c <= "\udfff" for c in item):
                return True
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _size(raw: bytes | str) -> int:
    return len(raw.encode("utf-8", "surrogatepass")) if isinstance(raw, str) else len(raw)


def decode_message(raw: bytes | str) -> dict[str, Any]:
    """Raw bytes of one message (Kafka value or JSON Lines line) to a JSON object, or InvalidRecord."""
    if not isinstance(raw, bytes | str):
        raw = bytes(raw)
    size = _size(raw)
    if size > MAX_MESSAGE_BYTES:
        raise InvalidRecord("message", f"{size} bytes, expected at most {MAX_MESSAGE_BYTES} (64 KiB)")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        value = _reread(raw, exc)
    if not isinstance(value, dict):
        raise InvalidRecord("message", f"got a JSON {_json_type(value)}, expected an object")
    return value


# --- the fast path -----------------------------------------------------------------------------------------
# msgspec decodes and range-checks a typical record in C, in one pass. It only ever accepts: anything it does not
# accept, or any doubt, goes to the precise path above, which decides and words the reason. tests/telematics/
# test_validation.py checks that every record the fast path accepts is the one the precise path returns.


def _bounded(low: float, high: float) -> Any:
    return Annotated[float, msgspec.Meta(ge=low, le=high)]


# The JSON key of driver_card_reported is one no device sends: the fast path computes it, like the precise one.
class _Wire(msgspec.Struct, rename={"ts_ms": "ts", "driver_card_reported": "(computed) driver_card_reported"}):
    """Contract section 2 as msgspec types, in TelemetryRecord's field order; a None default means absent."""

    vehicle_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]  # and VEHICLE_ID_PATTERN, below
    ts_ms: str | int
    seq: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] = None  # type: ignore[assignment]  # msgspec's limit
    lat: _bounded(-90, 90) | None = None  # type: ignore[valid-type]
    lon: _bounded(-180, 180) | None = None  # type: ignore[valid-type]
    gnss_fix: bool = None  # type: ignore[assignment]
    gnss_jamming: bool = None  # type: ignore[assignment]
    gnss_speed_kmh: _bounded(0, 300) = None  # type: ignore[valid-type]
    heading_deg: _bounded(0, 360) = None  # type: ignore[valid-type]
    wheel_speed_kmh: _bounded(0, 300) = None  # type: ignore[valid-type]
    engine_rpm: _bounded(0, 10000) = None  # type: ignore[valid-type]
    ignition: bool = None  # type: ignore[assignment]
    parking_brake: bool = None  # type: ignore[assignment]
    cab_door_open: bool = None  # type: ignore[assignment]
    cargo_door_open: bool = None  # type: ignore[assignment]
    trailer_connected: bool = None  # type: ignore[assignment]
    driver_card_reported: Any = False
    driver_card_id: Annotated[str, msgspec.Meta(max_length=64)] | msgspec.UnsetType | None = msgspec.UNSET
    panic: bool = None  # type: ignore[assignment]
    ext_power_v: _bounded(0, 100) = None  # type: ignore[valid-type]
    odometer_km: _bounded(0, _FLOAT_MAX) = None  # type: ignore[valid-type]
    fuel_level_pct: _bounded(0, 100) = None  # type: ignore[valid-type]


if _Wire.__struct_fields__ != tuple(field.name for field in dataclasses.fields(TelemetryRecord)):
    raise RuntimeError("telematics.validation._Wire must list TelemetryRecord's fields in the same order")
_decode_wire = msgspec.json.Decoder(_Wire).decode
_astuple = msgspec.structs.astuple
_UNSET = msgspec.UNSET
_TS_TEXT = re.compile(
    r"\d{4}-(?:0[1-9]|1[0-2])-\d\dT(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)",
    re.ASCII,
).fullmatch
_from_iso = datetime.fromisoformat
_MS = timedelta(milliseconds=1)
_DIGITS = frozenset("0123456789")
_valid_vehicle_ids: set[str] = set()
"""Vehicle ids already matched against VEHICLE_ID_PATTERN: a fleet sends the same few over and over."""
_minute_ms: dict[str, int] = {}
"""Epoch milliseconds of a "YYYY-MM-DDTHH:MM" that began a valid UTC timestamp (checked in full the first time)."""
_CACHE_LIMIT = 100_000


def _vehicle_id_ok(vehicle_id: str) -> bool:
    if vehicle_id in _valid_vehicle_ids:
        return True
    if VEHICLE_ID_PATTERN.fullmatch(vehicle_id) is None:
        return False
    if len(_valid_vehicle_ids) >= _CACHE_LIMIT:
        _valid_vehicle_ids.clear()
    _valid_vehicle_ids.add(vehicle_id)
    return True


def _utc_ms(text: str) -> int | None:
    """Epoch ms of RFC 3339 text the fast path takes; None to leave it to the precise path.

    The usual "YYYY-MM-DDTHH:MM:SSZ" or "...:SS.mmmZ" adds its seconds to the minute's start, once that minute
    was seen in a timestamp checked in full; anything else is checked in full here.
    """
    size = len(text)
    if (size == 20 or (size == 24 and text[19] == "." and text[20] in _DIGITS and text[21] in _DIGITS
                       and text[22] in _DIGITS)) and text[-1] == "Z" and text[16] == ":" and text[17] in "012345" \
            and text[18] in _DIGITS:
        minute = _minute_ms.get(text[:16])
        if minute is not None:
            return minute + int(text[17:19]) * 1000 + (int(text[20:23]) if size == 24 else 0)
    if _TS_TEXT(text) is None:
        return None
    try:
        ms: int = (_from_iso(text) - EPOCH) // _MS
    except ValueError:
        return None
    if text[-1] == "Z" and (size == 20 or size == 24):
        if len(_minute_ms) >= _CACHE_LIMIT:
            _minute_ms.clear()
        _minute_ms[text[:16]] = ms - ms % 60_000
    return ms


def _parse_fast(raw: bytes | str) -> TelemetryRecord | None:
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
    if not _vehicle_id_ok(wire.vehicle_id):
        return None
    given = wire.ts_ms
    if type(given) is str:
        parsed = _utc_ms(given)
        if parsed is None:
            return None
        ts = parsed
    else:
        ts = given  # type: ignore[assignment]  # an int: msgspec decoded str | int
    if not 0 <= ts <= MAX_TS_MS:
        return None
    wire.ts_ms = ts
    lat = wire.lat
    if (lat is None) != (wire.lon is None):
        return None
    if wire.gnss_fix is None:
        wire.gnss_fix = lat is not None
    if wire.driver_card_id is _UNSET:
        wire.driver_card_id = None
        wire.driver_card_reported = False
    else:
        wire.driver_card_reported = True
    return TelemetryRecord(*_astuple(wire))


def parse_telemetry(raw: bytes | str) -> TelemetryRecord:
    """One raw message to a validated record; raises InvalidRecord with the reason."""
    kind = type(raw)
    if kind is not bytes and kind is not str:
        raw, kind = bytes(raw), bytes  # type: ignore[arg-type]  # a bytearray or memoryview
    # A str of up to 16 Ki characters cannot be more than 64 KiB in UTF-8.
    if len(raw) <= (MAX_MESSAGE_BYTES if kind is bytes else MAX_MESSAGE_BYTES // 4):
        record = _parse_fast(raw)
        if record is not None:
            return record
    return validate_record(decode_message(raw))
