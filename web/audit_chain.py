"""The audit log's hash chain: each entry carries the SHA-256 of the one before it; sealing and verifying it.

An entry's hash covers its place in the chain, its fields and the previous entry's hash, so changing, removing,
inserting or reordering any entry breaks every link after it, and the chain head kept beside the log
(``audit_chain``) shows entries cut from the end. Entries are sealed as the transaction that wrote them commits,
under a lock on the head row: concurrent writers chain one after the other, in commit order. Someone able to
rewrite the whole table and its head can forge a consistent chain; the head hash that ``truckguard audit verify``
prints, and that every signed record export carries, is what to keep elsewhere to rule that out too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, SessionTransaction

from web.models import AuditChainRow, AuditRow

GENESIS = "0" * 64
"""The ``prev_hash`` of the first entry."""
DIGEST_VERSION = 1
HEAD_ID = 1
_UNSEALED = "truckguard.audit.unsealed"


def _moment(at: datetime) -> str:
    # Microseconds, as both SQLite and PostgreSQL keep them: the text is the same before and after a round trip.
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_value(value: Any) -> Any:
    # What the JSON column gives back: tuples become lists, keys strings.
    return None if value is None else orjson.loads(orjson.dumps(value))


def entry_digest(seq: int, prev_hash: str, at: datetime, actor: str, action: str, target_type: str, target_id: str,
                 fleet_id: str | None, before: Any, after: Any, ip: str | None) -> str:
    """SHA-256 (hex) of the canonical JSON (sorted keys, no spaces) of the entry, its place and the previous hash."""
    document = {
        "v": DIGEST_VERSION, "seq": seq, "prev": prev_hash, "at": _moment(at), "actor": actor, "action": action,
        "target_type": target_type, "target_id": target_id, "fleet_id": fleet_id,
        "before": _json_value(before), "after": _json_value(after), "ip": ip,
    }
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


def digest_of(row: AuditRow, seq: int, prev_hash: str) -> str:
    return entry_digest(seq, prev_hash, row.at, row.actor, row.action, row.target_type, row.target_id,
                        row.fleet_id, row.before, row.after, row.ip)


def mark_unsealed(session: Session, entry: AuditRow) -> None:
    """Hold an entry until its transaction commits; it is then chained and inserted (the log takes no UPDATE)."""
    session.info.setdefault(_UNSEALED, []).append(entry)


def _head(session: Session) -> AuditChainRow:
    # FOR UPDATE: the next writer waits here until this transaction has committed its part of the chain.
    head = session.execute(select(AuditChainRow).where(AuditChainRow.id == HEAD_ID).with_for_update()
                           .execution_options(populate_existing=True)).scalar_one_or_none()
    if head is None:
        head = AuditChainRow(id=HEAD_ID, seq=0, head_hash=GENESIS, updated_at=datetime.now(UTC))
        session.add(head)
    return head


def seal(session: Session, entries: Iterable[AuditRow]) -> int:
    """Give each entry its place and hashes after the chain head, in the order recorded, and add it to the
    session; returns how many."""
    entries = [entry for entry in entries if entry.chain_seq is None]
    if not entries:
        return 0
    # The rest of the transaction is written first, so every row lock it needs is taken before the head's: a
    # transaction holding the head never waits for another's rows, and writers cannot deadlock.
    session.flush()
    head = _head(session)
    seq, prev = head.seq, head.head_hash
    for entry in entries:
        seq += 1
        entry.chain_seq, entry.prev_hash = seq, prev
        entry.entry_hash = prev = digest_of(entry, seq, prev)
    session.add_all(entries)
    head.seq, head.head_hash, head.updated_at = seq, prev, datetime.now(UTC)
    return len(entries)


@event.listens_for(Session, "before_commit")
def _seal_on_commit(session: Session) -> None:
    rows = session.info.pop(_UNSEALED, None)
    if rows:
        seal(session, rows)


@event.listens_for(Session, "after_transaction_end")
def _forget_on_rollback(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended: its entries are committed or gone
        session.info.pop(_UNSEALED, None)


@dataclass
class ChainReport:
    """What ``verify_chain`` found: entries checked, the head, and every break (empty when the chain holds)."""

    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


MAX_PROBLEMS = 50
"""Stop listing after this many: one edit breaks one link, a rewritten table breaks them all."""


def _chained(session: Session, batch: int = 1000) -> Iterator[AuditRow]:
    last = 0
    while True:
        rows = session.execute(select(AuditRow).where(AuditRow.chain_seq > last).order_by(AuditRow.chain_seq)
                               .limit(batch)).scalars().all()
        if not rows:
            return
        for row in rows:
            yield row
            session.expunge(row)  # a long log is read in pages, not held in memory
        last = rows[-1].chain_seq or last


def verify_chain(session: Session) -> ChainReport:
    """Recompute every link in chain order and compare with the stored hashes and the head."""
    report = ChainReport()

    def problem(text: str) -> None:
        if len(report.problems) < MAX_PROBLEMS:
            report.problems.append(text)

    expected_seq, prev = 1, GENESIS
    for row in _chained(session):
        report.entries += 1
        where = f"entry {row.audit_id} (chain place {row.chain_seq})"
        if row.chain_seq != expected_seq:
            problem(f"{where}: expected chain place {expected_seq}; entries {expected_seq}-{row.chain_seq - 1} "
                    "are missing" if row.chain_seq and row.chain_seq > expected_seq else f"{where}: out of order")
        if row.prev_hash != prev:
            problem(f"{where}: previous hash {row.prev_hash}, expected {prev} (the entry before it was changed, "
                    "removed or inserted)")
        recomputed = digest_of(row, row.chain_seq or 0, row.prev_hash or "")
        if recomputed != row.entry_hash:
            problem(f"{where}: its fields do not match its hash (the entry was changed after it was written)")
        expected_seq, prev = (row.chain_seq or expected_seq) + 1, row.entry_hash or ""
    report.head_seq, report.head_hash = expected_seq - 1, prev
    head = session.get(AuditChainRow, HEAD_ID)
    stored_seq, stored_hash = (head.seq, head.head_hash) if head is not None else (0, GENESIS)
    if (stored_seq, stored_hash) != (report.head_seq, report.head_hash):
        problem(f"chain head: the log ends at place {report.head_seq} ({report.head_hash}) but the head says "
                f"{stored_seq} ({stored_hash}): entries were cut from the end or added outside the chain")
    unchained = session.execute(select(func.count()).select_from(AuditRow)
                                .where(AuditRow.chain_seq.is_(None))).scalar_one()
    if unchained:
        problem(f"{unchained} entries carry no chain place: they were written around the chain, not through it")
    return report


def verify_store(store_url: str) -> ChainReport:
    """``verify_chain`` over the store at ``store_url``."""
    from web.db import make_engine

    engine = make_engine(store_url)
    try:
        with Session(engine) as session:
            return verify_chain(session)
    finally:
        engine.dispose()
