"""The OsmAnd HTTP protocol of Traccar Client and simple trackers (query string, form or JSON body) as device reports.

Query or form fields as Traccar's OsmAnd decoder reads them: ``id`` (or ``deviceid``), ``timestamp`` (epoch
seconds, epoch milliseconds or ISO 8601), ``lat`` and ``lon`` (or ``location=lat,lon``), ``speed`` in knots,
``bearing`` (or ``heading``), ``altitude``, ``accuracy`` (metres), ``hdop``, ``batt`` (%), ``valid``, and any
other key as an attribute (``ignition``, ``alarm``, ``driverUniqueId``, ``power``, ...). Current Traccar Client
versions post JSON instead: ``{"device_id", "location": {"timestamp", "coords": {"latitude", "longitude",
"accuracy", "speed", "heading", "altitude"}, "is_moving", "odometer", "battery": {"level", "is_charging"}}}``
with speed in metres per second and -1 for what the phone does not know.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from telematics.devices.telemetry import DeviceMessageError, DeviceReport, device_seq
from telematics.devices.traccar import KNOT_KMH, MAX_JSON_BYTES, apply_alarms, json_object
from telematics.timeutil import TimestampError, parse_rfc3339_ms
from telematics.validation import describe_value

MPS_KMH = 3.6
_SECONDS_LIMIT = 2**31 - 1
"""Traccar's rule: a numeric timestamp below 2^31 is in seconds, above in milliseconds."""

_NUMBERS: dict[str, tuple[str, float]] = {
    "speed": ("gnss_speed_kmh", KNOT_KMH),
    "bearing": ("heading_deg", 1.0),
    "heading": ("heading_deg", 1.0),
    "altitude": ("altitude_m", 1.0),
    "accuracy": ("gnss_accuracy_m", 1.0),
    "hdop": ("hdop", 1.0),
    "batt": ("battery_pct", 1.0),
    "power": ("ext_power_v", 1.0),
    "sat": ("satellites", 1.0),
    "satellites": ("satellites", 1.0),
    "odometer": ("odometer_km", 0.001),
}
_POSITION_ONLY = ("gnss_speed_kmh", "heading_deg", "altitude_m", "gnss_accuracy_m")
_BOOLEANS = {"ignition": "ignition"}
_HANDLED = frozenset({"id", "deviceid", "timestamp", "lat", "lon", "location", "valid", "alarm", "driverUniqueId",
                      *_NUMBERS, *_BOOLEANS})


def _float(text: str, key: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DeviceMessageError("malformed", f"{key}: got {describe_value(text)}, expected a number") from None
    if not math.isfinite(value):
        raise DeviceMessageError("malformed", f"{key}: got {describe_value(text)}, expected a finite number")
    return value


def _timestamp(text: str | None, received_ms: int) -> int:
    if text is None or text == "":
        return received_ms  # what Traccar does too: a report without a time is taken as of its arrival
    if text.isdigit():
        value = int(text)
        return value * 1000 if value < _SECONDS_LIMIT else value
    candidate = text.replace(" ", "T", 1)
    if candidate[-1:] not in ("Z", "z") and "+" not in candidate[10:] and "-" not in candidate[10:]:
        candidate += "Z"  # "yyyy-MM-dd HH:mm:ss" from simple trackers: taken as UTC
    try:
        return parse_rfc3339_ms(candidate)
    except TimestampError as exc:
        raise DeviceMessageError("malformed", f"timestamp: {exc}") from None


def _boolean(text: str) -> bool | None:
    lowered = text.strip().lower()
    return True if lowered in ("true", "1") else False if lowered in ("false", "0") else None


def query_report(params: Mapping[str, str], received_ms: int) -> DeviceReport:
    """Query-string or form fields of one OsmAnd request to a report."""
    device_id = params.get("id") or params.get("deviceid")
    if not device_id:
        raise DeviceMessageError("malformed", "id: missing, expected the device identifier")
    ts_ms = _timestamp(params.get("timestamp"), received_ms)
    fields: dict[str, Any] = {"source": "osmand"}
    lat_text, lon_text = params.get("lat"), params.get("lon")
    if (lat_text is None or lon_text is None) and params.get("location"):
        lat_text, _, lon_text = params["location"].partition(",")
    lat = _float(lat_text, "lat") if lat_text else None
    lon = _float(lon_text, "lon") if lon_text else None
    for key, (name, scale) in _NUMBERS.items():
        if params.get(key):
            fields[name] = _float(params[key], key) * scale
    if "satellites" in fields:
        fields["satellites"] = int(fields["satellites"])
    for key, name in _BOOLEANS.items():
        if key in params and _boolean(params[key]) is not None:
            fields[name] = _boolean(params[key])
    valid = _boolean(params.get("valid", "true")) is not False
    if valid and lat is not None and lon is not None and (lat, lon) != (0.0, 0.0):
        fields.update(lat=lat, lon=lon, gnss_fix=True)
        if "heading_deg" in fields:
            fields["heading_deg"] %= 360
    else:
        fields["gnss_fix"] = False
        for name in _POSITION_ONLY:
            fields.pop(name, None)
    if params.get("driverUniqueId"):
        fields["driver_card_id"] = params["driverUniqueId"]
    apply_alarms(fields, params.get("alarm"))
    rest = {k: v for k, v in params.items() if k not in _HANDLED}
    if rest:
        fields["attributes"] = rest
    fields["seq"] = device_seq(ts_ms)
    return DeviceReport(device_id, ts_ms, fields)


def _json_location(device_id: str, location: Mapping[str, Any]) -> DeviceReport:
    stamp = location.get("timestamp")
    if not isinstance(stamp, str):
        raise DeviceMessageError("malformed", f"location.timestamp: got {describe_value(stamp)}, expected ISO 8601")
    try:
        ts_ms = parse_rfc3339_ms(stamp)
    except TimestampError as exc:
        raise DeviceMessageError("malformed", f"location.timestamp: {exc}") from None
    coords = location.get("coords")
    if not isinstance(coords, dict):
        raise DeviceMessageError("malformed", "location.coords: missing, expected latitude and longitude")
    fields: dict[str, Any] = {"source": "osmand"}

    def known(key: str) -> float | None:
        value = coords.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            detail = f"location.coords.{key}: got {describe_value(value)}, expected a number"
            raise DeviceMessageError("malformed", detail)
        return None if value < 0 and key in ("speed", "heading", "accuracy") else float(value)

    lat, lon = known("latitude"), known("longitude")
    if lat is not None and lon is not None and (lat, lon) != (0.0, 0.0):
        fields.update(lat=lat, lon=lon, gnss_fix=True)
        for key, name, scale in (("speed", "gnss_speed_kmh", MPS_KMH), ("heading", "heading_deg", 1.0),
                                 ("altitude", "altitude_m", 1.0), ("accuracy", "gnss_accuracy_m", 1.0)):
            value = known(key)
            if value is not None:
                fields[name] = value * scale
        if "heading_deg" in fields:
            fields["heading_deg"] %= 360
    else:
        fields["gnss_fix"] = False
    odometer = location.get("odometer")
    if isinstance(odometer, int | float) and not isinstance(odometer, bool) and odometer >= 0:
        fields["odometer_km"] = odometer / 1000
    battery = location.get("battery")
    if isinstance(battery, dict) and isinstance(battery.get("level"), int | float) and battery["level"] >= 0:
        fields["battery_pct"] = float(battery["level"]) * 100
    if isinstance(location.get("is_moving"), bool):
        fields["motion"] = location["is_moving"]
    fields["seq"] = device_seq(ts_ms)
    return DeviceReport(device_id, ts_ms, fields)


def json_reports(raw: bytes) -> list[DeviceReport]:
    """The JSON body of Traccar Client: one location, or a list of them buffered while offline."""
    document = json_object(raw)
    device_id = document.get("device_id")
    if not isinstance(device_id, str) or not device_id:
        raise DeviceMessageError("malformed", "device_id: missing, expected the device identifier")
    locations = document.get("location")
    items = locations if isinstance(locations, list) else [locations]
    if not items or not all(isinstance(item, dict) for item in items):
        raise DeviceMessageError("malformed", "location: expected an object (or a list of them)")
    return [_json_location(device_id, item) for item in items if isinstance(item, dict)]


def osmand_reports(query: Mapping[str, str], body: bytes, content_type: str, received_ms: int) -> list[DeviceReport]:
    """One OsmAnd request: query parameters, else a form or JSON body."""
    if query:
        return [query_report(query, received_ms)]
    if "json" in content_type or body.lstrip()[:1] == b"{":
        return json_reports(body)
    if len(body) > MAX_JSON_BYTES:
        raise DeviceMessageError("oversized", f"{len(body)} bytes, expected at most {MAX_JSON_BYTES}")
    try:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body)))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DeviceMessageError("malformed", f"body is neither a query string nor JSON ({exc})") from None
    return [query_report(form, received_ms)]
