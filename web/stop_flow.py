"""The law-enforcement side of a remote-stop request: two-officer authorisation, refusal, expiry; each change
is appended to the history, audited and queued for truckguard.stop-requests.v1."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.topics import STOP_REQUESTS
from telematics.errors import BadInput
from web.audit import record
from web.display import step_label
from web.models import StopRequestRow
from web.outbox import enqueue
from web.store import rfc3339, stop_request_to_dict

DEFAULT_EXPIRY_S = 900.0
SYSTEM_ACTOR = "truckguard-web"


class StopRequestError(BadInput):
    """The change cannot be made to the request in its present state; the message says why."""


def contract_value(row: StopRequestRow) -> dict[str, Any]:
    """The request as published: the contract fields (section 4), none of the store's own."""
    value = stop_request_to_dict(row)
    value.pop("received_at")
    value.pop("updated_at")
    value.pop("first_approval_by")
    return value


def _state(row: StopRequestRow) -> dict[str, Any]:
    return {"status": row.status, "first_approval_by": row.first_approval_by}


def _change(session: Session, row: StopRequestRow, status: str, officer: str, note: str | None,
            ip: str | None, *, approval: int | None = None, before: dict[str, Any] | None = None) -> None:
    before = before or _state(row)
    now = rfc3339(datetime.now(UTC))
    # The site's clock is both the time of the change and the time the platform recorded it.
    entry: dict[str, Any] = {"status": status, "at": now, "by": officer}
    if note:
        entry["note"] = note
    if approval is not None:
        entry["approval"] = approval
    entry["recorded_at"] = now
    row.history = [*row.history, entry]
    row.status = status
    row.updated_at = datetime.now(UTC)
    record(session, officer, f"stop_request.{'approve' if approval == 1 else status}", "stop_request",
           row.request_id, fleet_id=row.fleet_id, before=before,
           after={"status": row.status, "step": step_label(entry), "first_approval_by": row.first_approval_by,
                  "note": note}, ip=ip)
    enqueue(session, STOP_REQUESTS, row.vehicle_id, contract_value(row))


def _open(session: Session, request_id: str, expiry_s: float) -> StopRequestRow:
    # FOR UPDATE takes the row (on SQLite the write lock) and reads it afresh, so two officers approving at
    # once are serialised: the second sees the first approval.
    row = session.execute(select(StopRequestRow).where(StopRequestRow.request_id == request_id)
                          .with_for_update().execution_options(populate_existing=True)).scalar_one_or_none()
    if row is None:
        raise StopRequestError(f"request {request_id}: not found")
    if row.status != "requested":
        raise StopRequestError(f"request {request_id}: is {row.status}, only a requested one can be decided")
    if datetime.now(UTC) - row.received_at > timedelta(seconds=expiry_s):
        _change(session, row, "expired", SYSTEM_ACTOR, f"not authorised within {expiry_s:g} s", None)
        raise StopRequestError(f"request {request_id}: expired before it was authorised")
    return row


def approve(session: Session, request_id: str, officer: str, note: str | None = None, *, ip: str | None = None,
            expiry_s: float = DEFAULT_EXPIRY_S) -> StopRequestRow:
    """The first approval records the officer; a second approval by a different officer authorises."""
    row = _open(session, request_id, expiry_s)
    if row.first_approval_by is None:
        before = _state(row)  # the audit shows who approved first as the change, not as the state before it
        row.first_approval_by = officer
        _change(session, row, "requested", officer, note or "first approval (1 of 2)", ip, approval=1, before=before)
    elif row.first_approval_by == officer:
        raise StopRequestError(f"request {request_id}: you gave the first approval; a second officer must authorise")
    else:
        _change(session, row, "authorized", officer, note, ip, approval=2)
    return row


def refuse(session: Session, request_id: str, officer: str, reason: str, *, ip: str | None = None,
           expiry_s: float = DEFAULT_EXPIRY_S) -> StopRequestRow:
    """Refuses a request; the reason is required and goes into the history."""
    reason = reason.strip()
    if not reason:
        raise StopRequestError("reason: a refusal needs a reason")
    row = _open(session, request_id, expiry_s)
    _change(session, row, "refused", officer, reason, ip)
    return row


def expire_overdue(session: Session, expiry_s: float = DEFAULT_EXPIRY_S, now: datetime | None = None) -> int:
    """Moves every request still ``requested`` after ``expiry_s`` to ``expired``; returns how many."""
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=expiry_s)
    rows = session.execute(select(StopRequestRow).where(StopRequestRow.status == "requested",
                                                        StopRequestRow.received_at < cutoff).with_for_update()
                           .execution_options(populate_existing=True)).scalars().all()
    for row in rows:
        _change(session, row, "expired", SYSTEM_ACTOR, f"not authorised within {expiry_s:g} s", None)
    return len(rows)
