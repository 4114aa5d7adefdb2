"""Tamper-evident audit: each entry carries its place in a hash chain and the hash of the entry before it.

The entries already in the log are chained in the order they were written, so the chain covers the whole history.

Revision ID: 0005_audit_chain
Revises: 0004_security
Create Date: 2026-12-07 04:30:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0005_audit_chain"
down_revision: str | Sequence[str] | None = "0004_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)
_GENESIS = "0" * 64


# The append-only guards of 0002_site, lifted only while the entries already written get their chain place.
_SQLITE_GUARD = ("CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
                 "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")


def upgrade() -> None:
    # Plain ADD COLUMN (no table copy): on SQLite a batch copy would drop the append-only triggers.
    op.add_column("audit_log", sa.Column("chain_seq", sa.Integer(), nullable=True))
    op.add_column("audit_log", sa.Column("prev_hash", sa.String(length=64), nullable=True))
    op.add_column("audit_log", sa.Column("entry_hash", sa.String(length=64), nullable=True))
    op.create_index("ix_audit_log_chain_seq", "audit_log", ["chain_seq"], unique=True)
    op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain")),
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only" if postgresql
               else "DROP TRIGGER audit_log_no_update")
    _chain_existing_entries()
    op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only" if postgresql else _SQLITE_GUARD)


def _chain_existing_entries() -> None:
    """Seal the entries written before the chain, in the order written, with web/audit_chain.py's digest
    (version 1, which never changes: ``audit verify`` recomputes it for these entries too)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from web.audit_chain import GENESIS, HEAD_ID, digest_of
    from web.models import AuditChainRow, AuditRow

    assert GENESIS == _GENESIS
    seq, prev = 0, GENESIS
    with Session(bind=op.get_bind()) as session:
        # Only the columns that exist at this revision: later ones may be added to the model.
        columns = (AuditRow.audit_id, AuditRow.at, AuditRow.actor, AuditRow.action, AuditRow.target_type,
                   AuditRow.target_id, AuditRow.fleet_id, AuditRow.before, AuditRow.after, AuditRow.ip)
        for entry in session.execute(select(*columns).order_by(AuditRow.audit_id)).all():
            seq += 1
            prev_hash, prev = prev, digest_of(AuditRow(**entry._asdict()), seq, prev)
            session.execute(AuditRow.__table__.update().where(AuditRow.__table__.c.audit_id == entry.audit_id)
                            .values(chain_seq=seq, prev_hash=prev_hash, entry_hash=prev))
        session.add(AuditChainRow(id=HEAD_ID, seq=seq, head_hash=prev, updated_at=datetime.now(UTC)))
        session.flush()


def downgrade() -> None:
    op.drop_table("audit_chain")
    op.drop_index("ix_audit_log_chain_seq", table_name="audit_log")
    for column in ("entry_hash", "prev_hash", "chain_seq"):
        op.drop_column("audit_log", column)
