"""Positions and events a Traccar server forwards (HTTP ``forward.json``, ``event.forward``, Kafka) as device reports.

Traccar decodes some two hundred device protocols into one position model; forwarding it opens all of them to
truckguard. Shapes as Traccar sends them: a position forward is ``{"position": {...}, "device": {...}}``, an
event forward ``{"event": {...}, "position": {...}?, "device": {...}}``. Position speed is in knots, times are
ISO 8601 with an offset, and protocol-specific values sit in ``attributes`` under Traccar's common keys
(``ignition``, ``motion``, ``alarm``, ``batteryLevel``, ``power``, ``driverUniqueId``, ``hdop``, ``sat``, ...).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from typing import Any

import orjson

from telematics.devices.telemetry import DeviceMessageError, DeviceReport, device_seq
from telematics.timeutil import TimestampError, parse_rfc3339_ms
from telematics.validation import describe_value

KNOT_KMH = 1.852
"""One international knot is 1852 m per hour."""

ALARM_FIELDS: dict[str, tuple[str, object]] = {
    "sos": ("panic", True),
    "jamming": ("gnss_jamming", True),
    # The unit says its supply was cut and it runs on its own battery: what ext_power_v near 0 means (section 2).
    "powerCut": ("ext_power_v", 0.0),
}
"""Traccar alarm -> the contract field and value that state the same fact. Others (tampering, tow, door,
accident, ...) are kept in ``alarm`` for the dispatcher: the contract has no field that says exactly that."""

_EVENT_FIELDS: dict[str, tuple[str, object]] = {
    "ignitionOn": ("ignition", True),
    "ignitionOff": ("ignition", False),
}

_ATTRIBUTE_FIELDS: dict[str, tuple[str, float]] = {
    "hdop": ("hdop", 1.0),
    "power": ("ext_power_v", 1.0),
    "odometer": ("odometer_km", 0.001),  # metres in Traccar's model
    "rpm": ("engine_rpm", 1.0),
    "obdSpeed": ("wheel_speed_kmh", 1.0),  # km/h, unlike the position's speed
}
"""Traccar's ``fuel`` is left under ``attributes``: litres for some protocols, percent for others."""
_CONSUMED_ATTRIBUTES = frozenset({*_ATTRIBUTE_FIELDS, "ignition", "alarm", "sat", "driverUniqueId", "batteryLevel"})

MAX_JSON_BYTES = 64 * 1024


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DeviceMessageError("malformed", f"{where}: got {describe_value(value)}, expected a number")
    return float(value)


def _time(value: Any, where: str) -> int:
    if not isinstance(value, str):
        raise DeviceMessageError("malformed", f"{where}: got {describe_value(value)}, expected an ISO 8601 time")
    try:
        return parse_rfc3339_ms(value)
    except TimestampError as exc:
        raise DeviceMessageError("malformed", f"{where}: {exc}") from None


def apply_alarms(fields: dict[str, Any], alarm: Any) -> None:
    """Traccar's ``alarm`` attribute (one name or several, comma-separated) onto contract fields; kept in ``alarm``."""
    if not isinstance(alarm, str) or not alarm:
        return
    names = [a.strip() for a in alarm.split(",") if a.strip()]
    for name in names:
        mapped = ALARM_FIELDS.get(name)
        if mapped is not None:
            fields[mapped[0]] = mapped[1]
    fields["alarm"] = ",".join(names)


def _device_id(document: Mapping[str, Any]) -> str:
    device = document.get("device")
    unique_id = device.get("uniqueId") if isinstance(device, dict) else None
    if not isinstance(unique_id, str) or not unique_id:
        raise DeviceMessageError("malformed", "device.uniqueId: missing, expected the device's identifier")
    return unique_id


def _position_fields(position: Mapping[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {"source": "traccar"}
    valid = position.get("valid", True) is not False
    lat, lon = position.get("latitude"), position.get("longitude")
    if valid and lat is not None and lon is not None and (lat, lon) != (0, 0):
        fields["lat"] = _number(lat, "position.latitude")
        fields["lon"] = _number(lon, "position.longitude")
        fields["gnss_fix"] = True
        if position.get("speed") is not None:
            fields["gnss_speed_kmh"] = _number(position["speed"], "position.speed") * KNOT_KMH
        if position.get("course") is not None:
            fields["heading_deg"] = _number(position["course"], "position.course") % 360
        if position.get("altitude") is not None:
            fields["altitude_m"] = _number(position["altitude"], "position.altitude")
        accuracy = position.get("accuracy")
        if accuracy is not None and _number(accuracy, "position.accuracy") > 0:
            fields["gnss_accuracy_m"] = float(accuracy)
    else:
        fields["gnss_fix"] = False
    attributes = position.get("attributes") or {}
    if not isinstance(attributes, dict):
        detail = f"position.attributes: got {describe_value(attributes)}, expected an object"
        raise DeviceMessageError("malformed", detail)
    for key, (name, scale) in _ATTRIBUTE_FIELDS.items():
        if attributes.get(key) is not None:
            fields[name] = _number(attributes[key], f"position.attributes.{key}") * scale
    if isinstance(attributes.get("ignition"), bool):
        fields["ignition"] = attributes["ignition"]
    if attributes.get("sat") is not None:
        fields["satellites"] = int(_number(attributes["sat"], "position.attributes.sat"))
    if isinstance(attributes.get("driverUniqueId"), str):
        fields["driver_card_id"] = attributes["driverUniqueId"]
    if attributes.get("batteryLevel") is not None:
        fields["battery_pct"] = _number(attributes["batteryLevel"], "position.attributes.batteryLevel")
    apply_alarms(fields, attributes.get("alarm"))
    rest = {k: v for k, v in attributes.items() if k not in _CONSUMED_ATTRIBUTES}
    if rest:
        fields["attributes"] = rest
    return fields


def position_report(document: Mapping[str, Any]) -> DeviceReport:
    """A forwarded position ``{"position", "device"}`` to a report, timed by the position's fix time."""
    position = document.get("position")
    if not isinstance(position, dict):
        raise DeviceMessageError("malformed", "position: missing, expected the forwarded position object")
    device_id = _device_id(document)
    ts_ms = _time(position.get("fixTime") or position.get("deviceTime"), "position.fixTime")
    fields = _position_fields(position)
    fields["seq"] = device_seq(ts_ms)
    return DeviceReport(device_id, ts_ms, fields)


def event_report(document: Mapping[str, Any]) -> DeviceReport | None:
    """A forwarded event ``{"event", "position"?, "device"}`` to a report; None for events that state no vehicle fact.

    Alarms and ignition changes become records at the event's time (with the position it came with, if any);
    device online/offline, geofence and maintenance events say nothing the contract has a field for.
    """
    event = document.get("event")
    if not isinstance(event, dict):
        raise DeviceMessageError("malformed", "event: missing, expected the forwarded event object")
    kind = event.get("type")
    attributes = event.get("attributes") or {}
    alarm = attributes.get("alarm") if isinstance(attributes, dict) else None
    if kind != "alarm" and kind not in _EVENT_FIELDS:
        return None
    device_id = _device_id(document)
    ts_ms = _time(event.get("eventTime") or event.get("serverTime"), "event.eventTime")
    position = document.get("position")
    fields = _position_fields(position) if isinstance(position, dict) else {"source": "traccar", "gnss_fix": False}
    if not isinstance(position, dict):
        fields.pop("gnss_fix")  # no position came with the event: its fix is not reported, not absent
    if kind == "alarm":
        fields.pop("alarm", None)
        apply_alarms(fields, alarm)
    else:
        name, value = _EVENT_FIELDS[kind]
        fields[name] = value
    fields["event"] = kind
    # Events and positions of one instant are different records: the event type sets the seq apart.
    fields["seq"] = device_seq(ts_ms, 1 << 17 | zlib.crc32(f"{kind}:{alarm}".encode()) & 0x1FFFF)
    return DeviceReport(device_id, ts_ms, fields)


def json_object(raw: bytes) -> dict[str, Any]:
    """A device's or server's JSON body as an object, within MAX_JSON_BYTES; DeviceMessageError with the reason."""
    if len(raw) > MAX_JSON_BYTES:
        raise DeviceMessageError("oversized", f"{len(raw)} bytes, expected at most {MAX_JSON_BYTES}")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DeviceMessageError("not_json", str(exc)) from None
    if not isinstance(document, dict):
        raise DeviceMessageError("malformed", f"got {describe_value(document)}, expected a JSON object")
    return document


def decode_forward(raw: bytes) -> DeviceReport | None:
    """Any forwarded JSON document: an event when it has ``event``, else a position."""
    document = json_object(raw)
    return event_report(document) if "event" in document else position_report(document)
