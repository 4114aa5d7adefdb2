"""The law-enforcement side of a remote-stop request: two-officer authorisation, refusal, expiry and release; each
change is appended to the history, audited and queued for truckguard.stop-requests.v1."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.topics import STOP_REQUESTS, VEHICLE_COMMANDS
from telematics.commands import (
    DEFAULT_TTL_S,
    MAX_ENVELOPE_BYTES,
    CommandEnvelope,
    load_signing_key,
    new_nonce,
    parse_command,
    sign_release,
)
from telematics.errors import BadInput, ConfigurationError
from telematics.timeutil import TimestampError, parse_rfc3339_ms, to_datetime
from web.audit import record
from web.display import step_label
from web.models import StopRequestRow
from web.outbox import enqueue
from web.store import rfc3339, stop_request_to_dict

DEFAULT_EXPIRY_S = 900.0
SYSTEM_ACTOR = "truckguard-web"
RELEASABLE = ("sent", "acknowledged", "completed")
"""A command went to the vehicle: only then can a measure be in force on it to lift."""
RELEASE_APPROVED = "release_approved"
RELEASED = "released"
"""History steps of a release. The contract's statuses end at ``completed``; the request keeps its contract status
(on the topic, in the store's column and on the API) and the release is told by these history entries, which the
contract's history allows any status text for, and by the site."""


class StopRequestError(BadInput):
    """The change cannot be made to the request in its present state; the message says why."""


class ReleaseUnavailable(StopRequestError):
    """The site cannot sign a release: the platform's command-signing key is missing or unreadable here."""


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


@dataclass(frozen=True)
class Release:
    """Where a request's release stands, read from its history (the one record of who did what)."""

    pending_by: str | None
    """The officer whose release approval (1 of 2) still waits for a second officer."""
    pending_at: str | None
    released: dict[str, Any] | None
    """The history entry that released the vehicle: who (the second officer), when, the command id."""

    @property
    def done(self) -> bool:
        return self.released is not None

    def as_dict(self) -> dict[str, Any]:
        released = self.released
        return {"released": released is not None, "pending_approval_by": self.pending_by,
                "pending_since": self.pending_at,
                "released_at": None if released is None else released.get("recorded_at") or released.get("at"),
                "released_by": None if released is None else [released.get("first_approval_by"), released.get("by")],
                "command_id": None if released is None else released.get("command_id")}


def _entry_time(entry: dict[str, Any]) -> datetime | None:
    try:
        return to_datetime(parse_rfc3339_ms(entry.get("recorded_at") or entry.get("at")))
    except (TimestampError, TypeError):
        return None


def release_of(history: list[dict[str, Any]], window_s: float = DEFAULT_EXPIRY_S,
               now: datetime | None = None) -> Release:
    """The release state of a history: released, or a first approval younger than ``window_s`` waiting for a second
    officer (an older one has lapsed, as an unconfirmed stop approval lapses with its request), or neither."""
    now = now or datetime.now(UTC)
    released = next((e for e in reversed(history) if e.get("status") == RELEASED), None)
    if released is not None:
        return Release(None, None, released)
    first = next((e for e in reversed(history) if e.get("status") == RELEASE_APPROVED), None)
    at = _entry_time(first) if first is not None else None
    if first is None or at is None or now - at > timedelta(seconds=window_s):
        return Release(None, None, None)
    return Release(str(first.get("by")), first.get("recorded_at") or first.get("at"), None)


def _signing_key(keys_dir: Path, now: datetime) -> Any:
    try:
        return load_signing_key(keys_dir, now)[0]
    except ConfigurationError as exc:
        raise ReleaseUnavailable(f"release: the platform's command-signing key is not usable here ({exc}); "
                                 f"nothing was recorded") from None


def approve_release(session: Session, request_id: str, officer: str, reason: str, *, keys_dir: Path,
                    ip: str | None = None, ttl_s: float = DEFAULT_TTL_S, window_s: float = DEFAULT_EXPIRY_S,
                    now: datetime | None = None) -> tuple[StopRequestRow, Release]:
    """One officer's approval to release a stopped or immobilised vehicle, with the reason (required).

    The first approval is recorded and waits for a second, different officer; the second signs the release
    command with the platform's key and queues it for truckguard.vehicle-commands.v1 in the same transaction (the
    outbox's stop lane carries it, as it carries the officers' stop decisions), so the release is recorded if and
    only if its command is on its way. Both approvals are audited and published on truckguard.stop-requests.v1.
    """
    reason = reason.strip()
    if not reason:
        raise StopRequestError("reason: a release needs a reason (who has the vehicle back, how it was checked)")
    now = now or datetime.now(UTC)
    row = session.execute(select(StopRequestRow).where(StopRequestRow.request_id == request_id)
                          .with_for_update().execution_options(populate_existing=True)).scalar_one_or_none()
    if row is None:
        raise StopRequestError(f"request {request_id}: not found")
    state = release_of(row.history, window_s, now)
    if state.done:
        raise StopRequestError(f"request {request_id}: already released")
    if row.status not in RELEASABLE:
        raise StopRequestError(f"request {request_id}: is {row.status}; only a request whose command was sent "
                               f"({', '.join(RELEASABLE)}) can be released")
    stamp = rfc3339(now)
    entry: dict[str, Any] = {"status": RELEASE_APPROVED, "at": stamp, "by": officer, "note": reason,
                             "recorded_at": stamp}
    if state.pending_by is None:
        entry["release_approval"] = 1  # not ``approval``: that key marks the stop's own first approval
        _append(session, row, entry, "stop_request.release_approve", "release approved 1 of 2", ip, now)
        return row, release_of(row.history, window_s, now)
    if state.pending_by == officer:
        raise StopRequestError(f"request {request_id}: you gave the first release approval; a second officer "
                               f"must approve the release")
    key = _signing_key(keys_dir, now)
    signed = sign_release(row.request_id, row.vehicle_id, key, authorized_by=officer, authorized_at=stamp, now=now,
                          nonce=new_nonce(), ttl_s=ttl_s)
    command = parse_command(signed.payload)
    entry.update(status=RELEASED, release_approval=2, first_approval_by=state.pending_by, command_id=command.command_id,
                 expires_at=command.expires_at)
    _append(session, row, entry, "stop_request.released", RELEASED, ip, now)
    request = contract_value(row)
    raw = CommandEnvelope(signed, request).encode()
    if len(raw) > MAX_ENVELOPE_BYTES:  # a long history: the vehicle acts on the signed command alone, so shorten it
        raw = CommandEnvelope(signed, {**request, "history": request["history"][-1:]}).encode()
    enqueue(session, VEHICLE_COMMANDS, row.vehicle_id, json.loads(raw))
    return row, release_of(row.history, window_s, now)


def _append(session: Session, row: StopRequestRow, entry: dict[str, Any], action: str, step: str, ip: str | None,
            now: datetime) -> None:
    """Adds a history entry that leaves the contract status as it is; audits it and publishes the request."""
    before = {"status": row.status, "history_length": len(row.history)}
    row.history = [*row.history, entry]
    row.updated_at = now
    after = {"status": row.status, "step": step, "note": entry.get("note")}
    if "command_id" in entry:
        after.update(command_id=entry["command_id"], first_approval_by=entry.get("first_approval_by"))
    record(session, entry["by"], action, "stop_request", row.request_id, fleet_id=row.fleet_id, before=before,
           after=after, ip=ip)
    enqueue(session, STOP_REQUESTS, row.vehicle_id, contract_value(row))
