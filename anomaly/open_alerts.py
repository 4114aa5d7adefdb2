"""A vehicle's open incidents as the engine keeps them, for fusion and the stop policy to read."""

from __future__ import annotations

import msgspec


class OpenAlert(msgspec.Struct, kw_only=True):
    kind: str
    alert_id: str
    severity: str
    onset_ms: int
    zone_id: str | None
