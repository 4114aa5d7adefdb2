"""Housekeeping of the site's store, every few seconds: stop requests nobody authorised in time expire, messages
sent over a week ago leave the outbox, then the outbox is relayed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from web.db import writer
from web.models import OutboxRow
from web.stop_flow import expire_overdue
from workers.outbox_relay import relay

HOUSEKEEPING_S = 5.0
SENT_KEPT = timedelta(days=7)
"""A sent message stays this long (what went out this week can be looked up), then housekeeping deletes it, so the
table holds a week of messages, not every one ever sent. Dead-lettered ones stay: they are the stuck alarm's."""


def prune_sent(session: Session, now: datetime) -> int:
    """Deletes messages sent more than SENT_KEPT before ``now``; returns how many."""
    result = session.execute(delete(OutboxRow).where(OutboxRow.sent_at < now - SENT_KEPT))
    return int(getattr(result, "rowcount", 0) or 0)


def housekeeping(engine: Engine, producer: Any, expiry_s: float) -> None:
    """Expires stop requests nobody authorised in time, deletes messages sent over a week ago, then relays the
    outbox (the site's messages)."""
    with Session(writer(engine)) as session, session.begin():
        expire_overdue(session, expiry_s)
        prune_sent(session, datetime.now(UTC))
    while relay(engine, producer):
        pass
