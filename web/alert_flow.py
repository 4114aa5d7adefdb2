"""What a dispatcher does with an alert: acknowledge it, resolve it, each with a note, audited."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from telematics.errors import BadInput
from web.audit import record
from web.models import AlertRow
from web.store import alert_to_dict, rfc3339

ALERT_STATUSES = ("open", "acknowledged", "resolved")
_NEXT = {"acknowledge": ("acknowledged", ("open",)), "resolve": ("resolved", ("open", "acknowledged"))}
MAX_NOTE = 2000


class AlertActionError(BadInput):
    """The alert cannot take this action in its present status; the message says why."""


def get_alert(session: Session, alert_id: str) -> AlertRow | None:
    return session.execute(select(AlertRow).where(AlertRow.alert_id == alert_id)
                           .execution_options(populate_existing=True)).scalar_one_or_none()


def alert_detail(row: AlertRow) -> dict[str, Any]:
    return {**alert_to_dict(row), "notes": row.notes}


def act(session: Session, row: AlertRow, action: str, user: str, note: str, *, ip: str | None = None) -> None:
    """Acknowledges or resolves ``row``; resolving needs a note saying what was done."""
    status, from_statuses = _NEXT[action]
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise AlertActionError(f"note: {len(note)} characters, expected at most {MAX_NOTE}")
    if action == "resolve" and not note:
        raise AlertActionError("note: say how the alert was resolved")
    if row.status not in from_statuses:
        raise AlertActionError(f"alert {row.alert_id}: is {row.status}, cannot {action}")
    before = {"status": row.status}
    row.status = status
    row.notes = [*row.notes, {"action": action, "at": rfc3339(datetime.now(UTC)), "by": user, "note": note}]
    row.updated_at = datetime.now(UTC)
    record(session, user, f"alert.{action}", "alert", row.alert_id, fleet_id=row.fleet_id, before=before,
           after={"status": status, "note": note}, ip=ip)
