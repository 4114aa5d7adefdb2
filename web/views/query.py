"""Reads the list filters of a page or API request from its query string, refusing values that cannot match."""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.exceptions import BadRequest

from telematics.outputs import ALERT_KINDS, SEVERITIES, STOP_STATUSES
from web.alert_flow import ALERT_STATUSES

DEFAULT_LIMIT = 200
MAX_LIMIT = 1000


def _text(name: str, allowed: tuple[str, ...] | None = None) -> str | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    if allowed is not None and value not in allowed:
        raise BadRequest(f"{name}={value!r}: expected one of {', '.join(allowed)}")
    return value


def _limit() -> int:
    raw = request.args.get("limit", "").strip()
    if not raw:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(f"limit={raw!r}: expected a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def alert_filters() -> dict[str, Any]:
    """Keyword arguments for ``list_alerts`` from ``?fleet_id=&vehicle_id=&kind=&severity=&limit=``."""
    return {
        "fleet_id": _text("fleet_id"),
        "vehicle_id": _text("vehicle_id"),
        "kind": _text("kind", ALERT_KINDS),
        "severity": _text("severity", SEVERITIES),
        "status": _text("status", ALERT_STATUSES),
        "limit": _limit(),
    }


def stop_request_filters() -> dict[str, Any]:
    """Keyword arguments for ``list_stop_requests`` from ``?fleet_id=&vehicle_id=&status=&limit=``."""
    return {
        "fleet_id": _text("fleet_id"),
        "vehicle_id": _text("vehicle_id"),
        "status": _text("status", STOP_STATUSES),
        "limit": _limit(),
    }
