"""Messages for Kafka written in the same transaction as the change they announce, and their relay to the broker."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from web.db import writer
from web.models import OutboxRow

RELAY_BATCH = 100

log = logging.getLogger(__name__)


def enqueue(session: Session, topic: str, key: str, value: dict[str, Any]) -> None:
    """Adds a message to the session's transaction: it is sent only if the change commits."""
    session.add(OutboxRow(topic=topic, key=key, value=value, created_at=datetime.now(UTC)))


def pending(session: Session, limit: int = RELAY_BATCH) -> list[OutboxRow]:
    """The oldest unsent messages, locked until the transaction ends (on PostgreSQL) so that a second sink
    relaying at the same time waits, then finds them sent, instead of sending them again."""
    query = (select(OutboxRow).where(OutboxRow.sent_at.is_(None)).order_by(OutboxRow.message_id).limit(limit)
             .with_for_update())
    return list(session.execute(query).scalars())


def relay(engine: Engine, producer: Any) -> int:
    """Sends unsent messages in order, waits for the broker's acknowledgement, then marks them sent.

    A crash between sending and marking sends them again: every consumer of these topics is
    idempotent (stop requests merge by history, reference snapshots carry a version).
    """
    with Session(writer(engine)) as session, session.begin():
        rows = pending(session)
        if not rows:
            return 0
        futures = [producer.send(r.topic, key=r.key.encode(), value=orjson.dumps(r.value)) for r in rows]
        producer.flush()
        for future in futures:
            future.get(timeout=10)
        now = datetime.now(UTC)
        for row in rows:
            row.sent_at = now
    log.info("relayed %d outbox messages", len(rows))
    return len(rows)
