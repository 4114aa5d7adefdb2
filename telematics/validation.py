"""Parses and validates raw telemetry messages against contract v1, naming the field at fault."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import orjson

from telematics.records import TelemetryRecord
from telematics.timeutil import TimestampError, parse_rfc3339_ms

MAX_MESSAGE_BYTES = 64 * 1024
VEHICLE_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


class InvalidRecord(ValueError):
    """A telemetry message breaks the contract; ``field`` names the part at fault (or "message")."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _number(field: str, low: float | None, high: float | None) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidRecord(field, f"got {_describe(value)}, expected a number")
        if not math.isfinite(value):
            raise InvalidRecord(field, f"got {value!r}, expected a finite number")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            raise InvalidRecord(field, f"got {value!r}, expected {bounds}")
        return float(value)

    return check


def _boolean(field: str) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise InvalidRecord(field, f"got {_describe(value)}, expected true or false")
        return value

    return check


_NUMBER_FIELDS: dict[str, tuple[float | None, float | None]] = {
    "gnss_speed_kmh": (0, 300),
    "wheel_speed_kmh": (0, 300),
    "heading_deg": (0, 360),
    "engine_rpm": (0, 10000),
    "ext_power_v": (0, 100),
    "odometer_km": (0, None),
    "fuel_level_pct": (0, 100),
}
_BOOLEAN_FIELDS = (
    "gnss_fix", "gnss_jamming", "ignition", "parking_brake", "cab_door_open",
    "cargo_door_open", "trailer_connected", "panic",
)
_CHECKS: dict[str, Callable[[Any], Any]] = {
    **{name: _number(name, low, high) for name, (low, high) in _NUMBER_FIELDS.items()},
    **{name: _boolean(name) for name in _BOOLEAN_FIELDS},
}
_LATITUDE = _number("lat", -90, 90)
_LONGITUDE = _number("lon", -180, 180)


def decode_message(raw: bytes | str) -> dict[str, Any]:
    """Raw bytes of one message (Kafka value or JSON Lines line) to a JSON object, or InvalidRecord."""
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_MESSAGE_BYTES:
        raise InvalidRecord("message", f"{size} bytes, expected at most {MAX_MESSAGE_BYTES} (64 KiB)")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRecord("message", f"not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise InvalidRecord("message", f"got a JSON {type(value).__name__}, expected an object")
    return value


def parse_timestamp(value: Any) -> int:
    """The contract's ``ts``: RFC 3339 text with offset, or non-negative integer epoch milliseconds."""
    if isinstance(value, bool):
        raise InvalidRecord("ts", f"got {value!r}, expected RFC 3339 text or integer epoch milliseconds")
    if isinstance(value, int):
        if value < 0:
            raise InvalidRecord("ts", f"got {value}, expected epoch milliseconds of 0 or more")
        return value
    if isinstance(value, str):
        try:
            return parse_rfc3339_ms(value)
        except TimestampError as exc:
            raise InvalidRecord("ts", str(exc)) from None
    raise InvalidRecord("ts", f"got {_describe(value)}, expected RFC 3339 text or integer epoch milliseconds")


def validate_record(obj: dict[str, Any]) -> TelemetryRecord:
    """A decoded JSON object to a TelemetryRecord; unknown fields are ignored, as the contract says."""
    if "vehicle_id" not in obj:
        raise InvalidRecord("vehicle_id", "missing, expected 1-64 characters of A-Z a-z 0-9 . _ -")
    vehicle_id = obj["vehicle_id"]
    if not isinstance(vehicle_id, str) or not VEHICLE_ID_PATTERN.fullmatch(vehicle_id):
        raise InvalidRecord("vehicle_id", f"got {_describe(vehicle_id)}, expected 1-64 characters of A-Z a-z 0-9 . _ -")
    if "ts" not in obj:
        raise InvalidRecord("ts", "missing, expected RFC 3339 text or integer epoch milliseconds")
    fields: dict[str, Any] = {"vehicle_id": vehicle_id, "ts_ms": parse_timestamp(obj["ts"])}

    seq = obj.get("seq")
    if seq is not None or "seq" in obj:
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise InvalidRecord("seq", f"got {_describe(seq)}, expected an integer of 0 or more")
        fields["seq"] = seq

    lat, lon = obj.get("lat"), obj.get("lon")
    if (lat is None) != (lon is None):
        missing = "lon" if lon is None else "lat"
        raise InvalidRecord(missing, "missing or null while the other coordinate is given; expected both or neither")
    if lat is not None:
        fields["lat"] = _LATITUDE(lat)
        fields["lon"] = _LONGITUDE(lon)

    for name, check in _CHECKS.items():
        value = obj.get(name)
        if value is not None:
            fields[name] = check(value)
        elif name in obj:
            raise InvalidRecord(name, "got null, expected a value or the field left out")

    if "gnss_fix" not in fields:
        fields["gnss_fix"] = lat is not None
    if "driver_card_id" in obj:
        card = obj["driver_card_id"]
        if card is not None and (not isinstance(card, str) or len(card) > 64):
            raise InvalidRecord("driver_card_id", f"got {_describe(card)}, expected text of at most 64 characters or null")
        fields["driver_card_reported"] = True
        fields["driver_card_id"] = card
    return TelemetryRecord(**fields)


def parse_telemetry(raw: bytes | str) -> TelemetryRecord:
    """One raw message to a validated record; raises InvalidRecord with the reason."""
    return validate_record(decode_message(raw))
