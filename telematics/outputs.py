"""What the platform sends out (contract sections 3 and 4): alerts and remote-stop requests, with deterministic ids."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from telematics.kinds import ALERT_KINDS

__all__ = ["ALERT_KINDS", "SEVERITIES", "STOP_MODES", "STOP_STATUSES"]

SEVERITIES = ("info", "warning", "critical")
STOP_MODES = ("prevent_restart", "speed_limit", "controlled_stop")
STOP_STATUSES = ("requested", "authorized", "refused", "sent", "acknowledged", "completed", "expired", "cancelled")


def deterministic_id(prefix: str, *parts: object) -> str:
    """A stable id from the facts that identify an incident: same facts, same id, on every run and machine."""
    digest = hashlib.sha256("|".join("" if p is None else str(p) for p in parts).encode()).hexdigest()
    return f"{prefix}-{digest[:24]}"


class Alert(msgspec.Struct, kw_only=True):
    """One alert, field for field as contract section 3; ``revision`` counts escalations of the same incident."""

    alert_id: str
    vehicle_id: str
    fleet_id: str | None
    kind: str
    severity: str
    ts: str
    onset_ts: str
    lat: float | None
    lon: float | None
    score: float
    zone_id: str | None
    evidence: dict[str, Any]
    revision: int = 0


class HistoryEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    status: str
    at: str
    by: str
    note: str | None = None


class StopRequest(msgspec.Struct, kw_only=True):
    """One remote-stop request, field for field as contract section 4 and stop_request.schema.json."""

    request_id: str
    vehicle_id: str
    fleet_id: str | None
    ts: str
    mode: str
    target_speed_kmh: float | None
    status: str
    alert_ids: list[str]
    reason: str
    zone_id: str | None
    lat: float | None
    lon: float | None
    history: list[HistoryEntry]


_encoder = msgspec.json.Encoder()


def encode(value: Alert | StopRequest) -> bytes:
    """Canonical JSON bytes: fields in contract order, no spaces; the same value always gives the same bytes."""
    return _encoder.encode(value)


def decode_alert(raw: bytes | str) -> Alert:
    return msgspec.json.decode(raw, type=Alert)


def decode_stop_request(raw: bytes | str) -> StopRequest:
    return msgspec.json.decode(raw, type=StopRequest)
