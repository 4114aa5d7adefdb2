"""Parses and validates raw telemetry messages against contract v1, naming the field at fault."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import orjson

from telematics.errors import BadInput
from telematics.records import TelemetryRecord
from telematics.timeutil import TimestampError, format_ms, parse_rfc3339_ms
from telematics.wire import (
    FLOAT_MAX,
    GOVERNOR_SOURCES,
    MAX_MESSAGE_BYTES,
    MAX_TEXT,
    MAX_TS_MS,
    RANGES,
    SAFETY_SYSTEM_STATES,
    VEHICLE_ID_PATTERN,
)

MAX_SEQ = 2**64 - 1
"""seq is a per-vehicle counter with no maximum in the contract; beyond 64 bits it cannot be read back exactly."""

_VEHICLE_ID_RULE = "1-64 characters of A-Z a-z 0-9 . _ -"
_TS_RULE = "RFC 3339 text or integer epoch milliseconds"
_TS_RANGE = f"from 0 ({format_ms(0)}) to {MAX_TS_MS} ({format_ms(MAX_TS_MS)})"


class ContractError(BadInput):
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


def _number(field: str) -> Callable[[Any], float]:
    """The check of a number field, within its range in the contract (telematics.wire.RANGES)."""
    low, high = RANGES[field]
    top = FLOAT_MAX if high is None else high
    expected = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"

    def check(value: Any) -> float:
        kind = type(value)
        if (kind is float or kind is int) and low <= value <= top:
            return float(value)
        # Rare from here on: subclasses (numpy), wrong types, out of range, not finite.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidRecord(field, f"got {describe_value(value)}, expected a number")
        if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > FLOAT_MAX:
            raise InvalidRecord(field, f"got {describe_value(value)}, expected a finite number")
        if not low <= value <= top:
            raise InvalidRecord(field, f"got {describe_value(value)}, expected {expected}")
        return float(value)

    return check


def _coordinate(field: str) -> Callable[[Any], float | None]:
    number = _number(field)

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


def _whole_number(field: str) -> Callable[[Any], int]:
    """The check of an integer field from 0 to its maximum in the contract (telematics.wire.RANGES)."""
    low, top = RANGES[field]
    if low != 0 or top is None:
        raise ValueError(f"{field}: the contract's range {low}..{top} is not one _integral checks (0 to a maximum)")
    high = int(top)

    def check(value: Any) -> int:
        whole = _integral(value, high)
        if whole is None:
            raise InvalidRecord(field, f"got {describe_value(value)}, expected an integer from 0 to {high}")
        return whole

    return check


def _safety_systems(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidRecord("safety_systems", f"got {describe_value(value)}, expected an object")
    for system, state in value.items():
        if state not in SAFETY_SYSTEM_STATES or type(state) is not str:
            raise InvalidRecord(
                f"safety_systems.{system}", f"got {describe_value(state)}, expected one of {SAFETY_SYSTEM_STATES}"
            )
    return dict(value)


def _speed_governor(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRecord("speed_governor", f"got {describe_value(value)}, expected an object")
    if "active" in value and type(value["active"]) is not bool:
        raise InvalidRecord("speed_governor.active", f"got {describe_value(value['active'])}, expected true or false")
    if value.get("limit_kmh") is not None:
        _governor_limit(value["limit_kmh"])
    zone_id = value.get("zone_id")
    if zone_id is not None and type(zone_id) is not str:
        raise InvalidRecord("speed_governor.zone_id", f"got {describe_value(zone_id)}, expected text or null")
    if "source" in value and value["source"] not in GOVERNOR_SOURCES:
        raise InvalidRecord(
            "speed_governor.source", f"got {describe_value(value['source'])}, expected one of {GOVERNOR_SOURCES}"
        )
    return dict(value)


_governor_limit = _number("speed_governor.limit_kmh")
_SOURCE_MAX = MAX_TEXT["source"]
_CARD_MAX = MAX_TEXT["driver_card_id"]


def _source(value: Any) -> str:
    if type(value) is str and len(value) <= _SOURCE_MAX:
        return value
    raise InvalidRecord("source", f"got {describe_value(value)}, expected text of at most {_SOURCE_MAX} characters")


def _seq(value: Any) -> int:
    seq = _integral(value, MAX_SEQ)  # the contract's minimum, 0, is _integral's
    if seq is None:
        raise InvalidRecord("seq", f"got {describe_value(value)}, expected an integer from 0 to {MAX_SEQ}")
    return seq


def _driver_card(value: Any) -> str | None:
    if value is None or (type(value) is str and len(value) <= _CARD_MAX):
        return value
    expected = f"expected text of at most {_CARD_MAX} characters or null"
    raise InvalidRecord("driver_card_id", f"got {describe_value(value)}, {expected}")


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "seq": _seq,
    "lat": _coordinate("lat"),
    "lon": _coordinate("lon"),
    **{name: _number(name) for name in ("gnss_speed_kmh", "wheel_speed_kmh", "heading_deg", "engine_rpm",
                                        "ext_power_v", "odometer_km", "fuel_level_pct", "hdop", "gnss_accuracy_m")},
    "satellites": _whole_number("satellites"),
    "safety_systems": _safety_systems,
    "speed_governor": _speed_governor,
    "source": _source,
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
                elif abs(item) > FLOAT_MAX:
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

