"""The incident state machine every detector uses: pending → open → (escalated) → closed, with hold and clear times.

One condition may flicker from record to record; an incident opens only once the condition has held for
``hold_ms`` and closes only after it has been false for ``clear_ms``, so one real-world incident gives one
alert (escalated in place, same id) instead of a flood.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

SEVERITY_RANK: Final = {"info": 0, "warning": 1, "critical": 2}


class Change(enum.Enum):
    NONE = 0
    OPENED = 1
    ESCALATED = 2
    CLOSED = 3


@dataclass(slots=True)
class Incident:
    """State of one (vehicle, kind[, zone]) incident; plain data so it can be saved and restored."""

    is_open: bool = False
    onset_ms: int | None = None
    last_true_ms: int | None = None
    severity: str = "info"
    revision: int = -1


def step(incident: Incident, condition: bool, ts_ms: int, *, hold_ms: int, clear_ms: int) -> Change:
    """Advance the incident by one observation of its condition at event time ts_ms."""
    if condition:
        if incident.onset_ms is None:
            incident.onset_ms = ts_ms
        incident.last_true_ms = ts_ms
        if not incident.is_open and ts_ms - incident.onset_ms >= hold_ms:
            incident.is_open = True
            return Change.OPENED
        return Change.NONE
    if incident.is_open:
        if incident.last_true_ms is not None and ts_ms - incident.last_true_ms >= clear_ms:
            _reset(incident)
            return Change.CLOSED
        return Change.NONE
    _reset(incident)
    return Change.NONE


def raise_severity(incident: Incident, severity: str) -> bool:
    """Record the severity an open incident is reported at; True when that is new or higher (emit again)."""
    if incident.revision < 0 or SEVERITY_RANK[severity] > SEVERITY_RANK[incident.severity]:
        incident.severity = severity
        incident.revision += 1
        return True
    return False


def _reset(incident: Incident) -> None:
    incident.is_open = False
    incident.onset_ms = None
    incident.last_true_ms = None
    incident.severity = "info"
    incident.revision = -1
