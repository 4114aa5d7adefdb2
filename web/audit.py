"""The append-only audit log: records every change with who, what, when, before/after and IP; exports CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from telematics.spreadsheet import spreadsheet_safe
from web.audit_chain import mark_unsealed
from web.models import AuditRow
from web.scope import Scope

DEFAULT_LIMIT = 200
CSV_COLUMNS = ("audit_id", "at", "actor", "action", "target_type", "target_id", "fleet_id", "ip", "before", "after",
               "chain_seq", "prev_hash", "entry_hash")


def record(
    session: Session, actor: str, action: str, target_type: str, target_id: str, *,
    fleet_id: str | None = None, before: Any = None, after: Any = None, ip: str | None = None,
) -> AuditRow:
    """Appends one entry to the session's transaction, so it commits (or not) with the change it describes.

    The entry is written, with its place in the hash chain, when the transaction commits."""
    row = AuditRow(at=datetime.now(UTC), actor=actor, action=action, target_type=target_type,
                   target_id=str(target_id), fleet_id=fleet_id, before=before, after=after, ip=ip)
    # Added to the session as the transaction commits, chained to the entries before it (web/audit_chain.py).
    mark_unsealed(session, row)
    return row


def audit_to_dict(row: AuditRow) -> dict[str, Any]:
    from web.store import rfc3339

    return {"audit_id": row.audit_id, "at": rfc3339(row.at), "actor": row.actor, "action": row.action,
            "target_type": row.target_type, "target_id": row.target_id, "fleet_id": row.fleet_id,
            "before": row.before, "after": row.after, "ip": row.ip, "chain_seq": row.chain_seq,
            "prev_hash": row.prev_hash, "entry_hash": row.entry_hash}


def list_audit(
    session: Session, scope: Scope, *, actor: str | None = None, action: str | None = None,
    target_id: str | None = None, limit: int | None = DEFAULT_LIMIT,
) -> list[dict[str, Any]]:
    """Entries the scope may see, newest first; a fleet-scoped reader sees only entries of their fleets."""
    query = select(AuditRow).where(scope.where(AuditRow.fleet_id))
    for column, wanted in ((AuditRow.actor, actor), (AuditRow.action, action), (AuditRow.target_id, target_id)):
        if wanted:
            query = query.where(column == wanted)
    query = query.order_by(AuditRow.audit_id.desc())
    if limit is not None:
        query = query.limit(limit)
    return [audit_to_dict(row) for row in session.execute(query).scalars()]


def to_csv(entries: list[dict[str, Any]]) -> str:
    """Entries as CSV text with a header row; before and after as compact JSON; no cell can be a formula."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        writer.writerow([
            spreadsheet_safe(orjson.dumps(entry[c]).decode() if c in ("before", "after") and entry[c] is not None
                             else ("" if entry[c] is None else entry[c]))
            for c in CSV_COLUMNS
        ])
    return out.getvalue()
