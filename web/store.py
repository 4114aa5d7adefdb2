"""Writes alerts and stop requests into the store idempotently and reads them back in contract shape."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from telematics.errors import ConfigurationError
from telematics.timeutil import TimestampError, parse_rfc3339_ms
from web.contract import check_alert, check_stop_request
from web.models import AlertRow, StopRequestRow
from web.scope import Scope

DEFAULT_LIMIT = 100


class UnsupportedStore(ConfigurationError):
    """The store URL names a database other than SQLite or PostgreSQL."""


def _insert(session: Session, table: Table) -> Any:
    """The dialect's INSERT, which has ON CONFLICT: the one statement that is idempotent under concurrency."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return sqlite.insert(table)
    if dialect == "postgresql":
        return postgresql.insert(table)
    raise UnsupportedStore(f"store database {dialect!r}: expected sqlite or postgresql")


def _rowcount(session: Session, statement: Any) -> int:
    """Rows an INSERT … ON CONFLICT wrote: 1 when it inserted or updated, 0 when the conflict rule skipped it."""
    return session.execute(statement, execution_options={"preserve_rowcount": True}).rowcount


def _now() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """An aware datetime to contract text: UTC, ``Z``, milliseconds only when not zero."""
    moment = moment.astimezone(UTC)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S")
    millis = moment.microsecond // 1000
    return f"{stamp}.{millis:03d}Z" if millis else f"{stamp}Z"


def upsert_alert(session: Session, alert: dict[str, Any]) -> bool:
    """Stores one contract alert; a re-delivery changes nothing, a higher ``revision`` replaces a lower one.

    Returns whether the row was inserted or replaced. Raises ContractViolation for a malformed alert.
    The acknowledgement ``status`` and ``received_at`` survive a replacement.
    """
    values = check_alert(alert)
    now = _now()
    table = AlertRow.__table__
    insert = _insert(session, table).values(**values, status="open", received_at=now, updated_at=now)
    replaced = {name: insert.excluded[name] for name in values if name != "alert_id"}
    replaced["updated_at"] = insert.excluded.updated_at
    statement = insert.on_conflict_do_update(
        index_elements=[table.c.alert_id], set_=replaced, where=table.c.revision < insert.excluded.revision,
    )
    return _rowcount(session, statement) == 1


def _history_key(entry: dict[str, Any]) -> tuple[Any, ...]:
    return entry.get("status"), entry.get("at"), entry.get("by"), entry.get("note")


def _at_ms(entry: dict[str, Any], field: str = "at") -> int | None:
    try:
        return parse_rfc3339_ms(entry[field])
    except (TimestampError, KeyError, TypeError):
        return None


def recorded_ms(entry: dict[str, Any]) -> int | None:
    """When the platform recorded a history entry (``recorded_at``), else its own ``at`` for entries from
    before the platform stamped them."""
    return _at_ms(entry, "recorded_at") if "recorded_at" in entry else _at_ms(entry)


def merge_history(*histories: Iterable[dict[str, Any]], recorded_at: datetime | None = None) -> list[dict[str, Any]]:
    """Every distinct status change of the given histories in the order the platform recorded them.

    ``at`` is each writer's own clock: the detector's event time, a truck's bus time, a server's wall clock,
    and in a replay or a fast demo they disagree by minutes, so ordering by it put "requested" after "sent".
    Entries without ``recorded_at`` are stamped with ``recorded_at`` (the sink's or the site's clock now) and
    ordered by it; ``at`` stays as the writer gave it. Entries with neither time readable go last.
    """
    stamp = rfc3339(recorded_at or _now())
    seen: set[tuple[Any, ...]] = set()
    merged: list[dict[str, Any]] = []
    for history in histories:
        for entry in history:
            key = _history_key(entry)
            if key not in seen:
                seen.add(key)
                merged.append(entry if "recorded_at" in entry else {**entry, "recorded_at": stamp})

    def order(entry: dict[str, Any]) -> tuple[int, int]:
        at = recorded_ms(entry)
        return (0, at) if at is not None else (1, 0)

    return sorted(merged, key=order)


def _audit_new_steps(session: Session, values: dict[str, Any], known: list[dict[str, Any]],
                     history: list[dict[str, Any]]) -> None:
    """Audits each status change the platform learnt from a topic (the detector's request, the dispatcher's
    ``sent``, the truck's ``acknowledged`` and ``completed``), so the audit log tells the whole story; the
    officers' own changes are audited where they are made and come back here already known."""
    from web.audit import record
    from web.display import step_label

    old = {_history_key(entry) for entry in known}
    for entry in history:
        if _history_key(entry) not in old:
            record(session, str(entry.get("by", "?")), f"stop_request.{entry.get('status', '?')}", "stop_request",
                   values["request_id"], fleet_id=values.get("fleet_id"),
                   after={"status": entry.get("status"), "step": step_label(entry), "at": entry.get("at"),
                          "note": entry.get("note")})


_REQUEST_FIELDS = ("vehicle_id", "fleet_id", "ts", "mode", "target_speed_kmh", "status", "reason",
                   "zone_id", "lat", "lon")


def upsert_stop_request(session: Session, request: dict[str, Any]) -> bool:
    """Stores one contract stop request; idempotent by ``request_id``, merging status histories.

    The history becomes the union of what is stored and what arrived, so no change is ever lost.
    Status and the other fields follow the message holding the latest recorded change, so a late
    re-delivery of an older version never moves the status back. Alert ids are unioned.
    Returns whether anything changed. Raises ContractViolation for a malformed request.
    """
    values = check_stop_request(request)
    now = _now()
    values["history"] = merge_history(values["history"], recorded_at=now)
    table = StopRequestRow.__table__
    insert = _insert(session, table).values(**values, received_at=now, updated_at=now)
    if _rowcount(session, insert.on_conflict_do_nothing(index_elements=[table.c.request_id])) == 1:
        _audit_new_steps(session, values, [], values["history"])
        return True

    row = session.execute(
        select(StopRequestRow).where(StopRequestRow.request_id == values["request_id"])
        .with_for_update().execution_options(populate_existing=True)
    ).scalar_one()
    changed = False
    history = merge_history(row.history, values["history"], recorded_at=now)
    # The message is the newest version when the latest recorded change is one of its own.
    newest = not history or _history_key(history[-1]) in {_history_key(e) for e in values["history"]}
    if history != row.history:
        _audit_new_steps(session, values, row.history, history)
        row.history = history
        changed = True
    alert_ids = list(dict.fromkeys([*row.alert_ids, *values["alert_ids"]]))
    if alert_ids != row.alert_ids:
        row.alert_ids = alert_ids
        changed = True
    if newest:
        for name in _REQUEST_FIELDS:
            if getattr(row, name) != values[name]:
                setattr(row, name, values[name])
                changed = True
    if changed:
        row.updated_at = now
        session.flush()
    return changed


def alert_to_dict(row: AlertRow) -> dict[str, Any]:
    """A stored alert in contract shape, plus ``revision``, ``status`` and ``received_at``."""
    return {
        "alert_id": row.alert_id,
        "vehicle_id": row.vehicle_id,
        "fleet_id": row.fleet_id,
        "kind": row.kind,
        "severity": row.severity,
        "ts": rfc3339(row.ts),
        "onset_ts": rfc3339(row.onset_ts),
        "lat": row.lat,
        "lon": row.lon,
        "score": row.score,
        "zone_id": row.zone_id,
        "evidence": row.evidence,
        "revision": row.revision,
        "status": row.status,
        "received_at": rfc3339(row.received_at),
    }


def stop_request_to_dict(row: StopRequestRow) -> dict[str, Any]:
    """A stored stop request in contract shape, plus ``received_at`` and ``updated_at``."""
    return {
        "request_id": row.request_id,
        "vehicle_id": row.vehicle_id,
        "fleet_id": row.fleet_id,
        "ts": rfc3339(row.ts),
        "mode": row.mode,
        "target_speed_kmh": row.target_speed_kmh,
        "status": row.status,
        "alert_ids": row.alert_ids,
        "reason": row.reason,
        "zone_id": row.zone_id,
        "lat": row.lat,
        "lon": row.lon,
        "history": row.history,
        "first_approval_by": row.first_approval_by,
        "released": any(entry.get("status") == "released" for entry in row.history or []),
        "received_at": rfc3339(row.received_at),
        "updated_at": rfc3339(row.updated_at),
    }


def list_alerts(
    session: Session, *, fleet_id: str | None = None, vehicle_id: str | None = None, kind: str | None = None,
    severity: str | None = None, status: str | None = None, limit: int = DEFAULT_LIMIT, scope: Scope | None = None,
) -> list[dict[str, Any]]:
    """Stored alerts the scope may see, newest event time first, optionally only those matching every filter."""
    query = select(AlertRow)
    if scope is not None:
        query = query.where(scope.where(AlertRow.fleet_id))
    for column, wanted in ((AlertRow.fleet_id, fleet_id), (AlertRow.vehicle_id, vehicle_id),
                           (AlertRow.kind, kind), (AlertRow.severity, severity), (AlertRow.status, status)):
        if wanted is not None:
            query = query.where(column == wanted)
    query = query.order_by(AlertRow.ts.desc(), AlertRow.received_at.desc(), AlertRow.alert_id).limit(limit)
    rows = session.execute(query.execution_options(populate_existing=True)).scalars()
    return [alert_to_dict(row) for row in rows]


def list_stop_requests(
    session: Session, *, fleet_id: str | None = None, vehicle_id: str | None = None, status: str | None = None,
    limit: int = DEFAULT_LIMIT, scope: Scope | None = None,
) -> list[dict[str, Any]]:
    """Stored stop requests the scope may see, newest first, optionally only those matching every filter given."""
    query = select(StopRequestRow)
    if scope is not None:
        query = query.where(scope.where(StopRequestRow.fleet_id))
    for column, wanted in ((StopRequestRow.fleet_id, fleet_id), (StopRequestRow.vehicle_id, vehicle_id),
                           (StopRequestRow.status, status)):
        if wanted is not None:
            query = query.where(column == wanted)
    query = query.order_by(StopRequestRow.ts.desc(), StopRequestRow.request_id).limit(limit)
    rows = session.execute(query.execution_options(populate_existing=True)).scalars()
    return [stop_request_to_dict(row) for row in rows]
