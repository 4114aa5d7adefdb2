"""Checks alerts and remote-stop requests against contract sections 3 and 4, naming the field at fault."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from telematics.outputs import ALERT_KINDS, SEVERITIES, STOP_MODES, STOP_STATUSES
from telematics.timeutil import TimestampError, parse_rfc3339_ms, to_datetime
from telematics.validation import ContractError, describe_value
from telematics.wire import VEHICLE_ID_PATTERN


class ContractViolation(ContractError):
    """An alert or stop request breaks the contract (sections 3 and 4)."""


def decode_object(raw: bytes | str | None) -> dict[str, Any]:
    """One Kafka value to a JSON object; ContractViolation when it is empty, not JSON or not an object."""
    if raw is None:
        raise ContractViolation("message", "empty value (tombstone), expected a JSON object")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ContractViolation("message", f"not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ContractViolation("message", f"got a JSON {type(value).__name__}, expected an object")
    return value


def _text(obj: dict[str, Any], field: str, *, nullable: bool = False, required: bool = True) -> str | None:
    if field not in obj:
        if required:
            raise ContractViolation(field, "missing, expected text" + (" or null" if nullable else ""))
        return None
    value = obj[field]
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not value:
        raise ContractViolation(field, f"got {describe_value(value)}, expected non-empty text"
                                + (" or null" if nullable else ""))
    return value


def _vehicle_id(obj: dict[str, Any]) -> str:
    value = obj.get("vehicle_id")
    if not isinstance(value, str) or not VEHICLE_ID_PATTERN.fullmatch(value):
        got = "missing" if "vehicle_id" not in obj else f"got {describe_value(value)}"
        raise ContractViolation("vehicle_id", f"{got}, expected 1-64 characters of A-Z a-z 0-9 . _ -")
    return value


def _choice(obj: dict[str, Any], field: str, allowed: tuple[str, ...]) -> str:
    value = obj.get(field)
    if value not in allowed:
        got = "missing" if field not in obj else f"got {describe_value(value)}"
        raise ContractViolation(field, f"{got}, expected one of {', '.join(allowed)}")
    return value


def _time(obj: dict[str, Any], field: str) -> datetime:
    value = obj.get(field)
    if not isinstance(value, str):
        got = "missing" if field not in obj else f"got {describe_value(value)}"
        raise ContractViolation(field, f"{got}, expected RFC 3339 date-time text (e.g. 2026-11-24T09:15:00Z)")
    try:
        return to_datetime(parse_rfc3339_ms(value))
    except TimestampError as exc:
        raise ContractViolation(field, str(exc)) from None


def _number(
    obj: dict[str, Any], field: str, *, low: float | None = None, high: float | None = None,
    nullable: bool = False, required: bool = True,
) -> float | None:
    if field not in obj and not required:
        return None
    value = obj.get(field)
    if value is None and nullable and field in obj:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        got = "missing" if field not in obj else f"got {describe_value(value)}"
        raise ContractViolation(field, f"{got}, expected a finite number" + (" or null" if nullable else ""))
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"between {low:g} and {high:g}" if low is not None and high is not None else (
            f"at least {low:g}" if low is not None else f"at most {high:g}")
        raise ContractViolation(field, f"got {value!r}, expected {bounds}")
    return float(value)


def _position(obj: dict[str, Any]) -> tuple[float | None, float | None]:
    lat = _number(obj, "lat", low=-90, high=90, nullable=True, required=False)
    lon = _number(obj, "lon", low=-180, high=180, nullable=True, required=False)
    if (lat is None) != (lon is None):
        missing = "lon" if lon is None else "lat"
        raise ContractViolation(missing, "missing or null while the other coordinate is given; "
                                "expected both or neither")
    return lat, lon


def _field(prefix: str, check: Callable[[], Any]) -> Any:
    """Runs one check, naming the enclosing list item in any violation (e.g. ``history[2].by``)."""
    try:
        return check()
    except ContractViolation as exc:
        raise ContractViolation(f"{prefix}.{exc.field}" if exc.field else prefix, exc.reason) from None


def check_alert(obj: dict[str, Any]) -> dict[str, Any]:
    """A decoded alert to the store's column values (times as aware UTC datetimes); unknown fields are dropped."""
    revision = obj.get("revision", 0)
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
        raise ContractViolation("revision", f"got {describe_value(revision)}, expected an integer of 0 or more")
    evidence = obj.get("evidence")
    if not isinstance(evidence, dict):
        got = "missing" if "evidence" not in obj else f"got {describe_value(evidence)}"
        raise ContractViolation("evidence", f"{got}, expected a JSON object")
    lat, lon = _position(obj)
    return {
        "alert_id": _text(obj, "alert_id"),
        "vehicle_id": _vehicle_id(obj),
        "fleet_id": _text(obj, "fleet_id", nullable=True),
        "kind": _choice(obj, "kind", ALERT_KINDS),
        "severity": _choice(obj, "severity", SEVERITIES),
        "ts": _time(obj, "ts"),
        "onset_ts": _time(obj, "onset_ts"),
        "lat": lat,
        "lon": lon,
        "score": _number(obj, "score", low=0, high=1),
        "zone_id": _text(obj, "zone_id", nullable=True, required=False),
        "evidence": evidence,
        "revision": revision,
    }


def _history_entry(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ContractViolation("", f"got {describe_value(entry)}, expected an object with status, at and by")
    for field in ("status", "at", "by"):
        _text(entry, field)
    _text(entry, "note", required=False)
    return entry


def check_stop_request(obj: dict[str, Any]) -> dict[str, Any]:
    """A decoded stop request to the store's column values; ``history`` defaults to an empty list."""
    alert_ids = obj.get("alert_ids")
    if (not isinstance(alert_ids, list) or not alert_ids
            or not all(isinstance(a, str) and a for a in alert_ids)):
        got = "missing" if "alert_ids" not in obj else f"got {describe_value(alert_ids)}"
        raise ContractViolation("alert_ids", f"{got}, expected a non-empty list of alert ids")
    history = obj.get("history", [])
    if not isinstance(history, list):
        raise ContractViolation("history", f"got {describe_value(history)}, expected a list of status changes")
    entries = [_field(f"history[{i}]", lambda e=entry: _history_entry(e)) for i, entry in enumerate(history)]
    reason = obj.get("reason")
    if not isinstance(reason, str):
        got = "missing" if "reason" not in obj else f"got {describe_value(reason)}"
        raise ContractViolation("reason", f"{got}, expected text")
    lat, lon = _position(obj)
    return {
        "request_id": _text(obj, "request_id"),
        "vehicle_id": _vehicle_id(obj),
        "fleet_id": _text(obj, "fleet_id", nullable=True),
        "ts": _time(obj, "ts"),
        "mode": _choice(obj, "mode", STOP_MODES),
        "target_speed_kmh": _number(obj, "target_speed_kmh", low=0, nullable=True, required=False),
        "status": _choice(obj, "status", STOP_STATUSES),
        "alert_ids": alert_ids,
        "reason": reason,
        "zone_id": _text(obj, "zone_id", nullable=True, required=False),
        "lat": lat,
        "lon": lon,
        "history": entries,
    }
