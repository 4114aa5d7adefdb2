"""The site's side of the outbox: messages for Kafka queued in the same transaction as the change they announce,
each in its lane and within its size limit, and what the consoles show of them; workers/outbox_relay.py sends them."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingest.topics import STOP_REQUESTS, VEHICLE_COMMANDS
from web.models import OutboxRow

STOP_LANE = "stop"
GENERAL_LANE = "general"
LANES = (STOP_LANE, GENERAL_LANE)
"""Relay order: the stop lane is always emptied before anything else is tried."""
STOP_TOPICS = frozenset({STOP_REQUESTS, VEHICLE_COMMANDS})

REFERENCE_MAX_BYTES = 8 * 1024 * 1024
"""Largest reference message (one fleet with its vehicles and sites, one vehicle's planned trips, or one zone)
before compression: the detector parses a message whole when it arrives. A fleet of 15,000 vehicles is about
2.1 MB; the site refuses a change that would make a message larger (413), so the outbox never holds one."""
REFERENCE_MAX_COMPRESSED_BYTES = 900_000
"""Largest reference message after gzip, as the general lane's producer sends it. Kafka's default
``message.max.bytes`` is 1,048,588 bytes (1 MiB plus the record batch's overhead); staying 14 % below it, every
reference message fits a broker left on its defaults. Fleet JSON shrinks about twelvefold (15,000 vehicles:
2.1 MB to 0.17 MB), so in practice the uncompressed limit above is met first."""
GZIP_LEVEL = 9
"""kafka-python's gzip level: what wire_size measures is what the broker receives."""
STUCK_AFTER = timedelta(seconds=30)
"""A message still unsent this long after it was queued is shown as stuck on the consoles."""


def wire_size(raw: bytes) -> int:
    """Bytes of a message's value once the general lane's producer has gzip-compressed it."""
    return len(gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0))


def lane_of(topic: str) -> str:
    return STOP_LANE if topic in STOP_TOPICS else GENERAL_LANE


def enqueue(session: Session, topic: str, key: str, value: dict[str, Any]) -> None:
    """Adds a message to the session's transaction: it is sent only if the change commits."""
    session.add(OutboxRow(topic=topic, key=key, value=value, created_at=datetime.now(UTC), lane=lane_of(topic),
                          attempts=0))


@dataclass(frozen=True)
class OutboxHealth:
    """What the consoles show about the outbox: dead letters and messages waiting too long, per lane."""

    dead: int
    stuck: int
    stuck_stop: int
    last_error: str | None

    @property
    def alarming(self) -> bool:
        return bool(self.dead or self.stuck)

    def message(self) -> str:
        parts = []
        if self.stuck_stop:
            parts.append(f"{self.stuck_stop} stop-request decision(s) not yet delivered to the vehicles' dispatcher")
        if self.stuck - self.stuck_stop:
            parts.append(f"{self.stuck - self.stuck_stop} other message(s) waiting")
        if self.dead:
            parts.append(f"{self.dead} message(s) could not be sent and were set aside")
        text = "Outbox alarm: " + "; ".join(parts) + "."
        return f"{text} Last error: {self.last_error}" if self.last_error else text


def outbox_health(session: Session, now: datetime | None = None) -> OutboxHealth:
    """Counts of dead-lettered messages and of messages unsent for longer than STUCK_AFTER."""
    cutoff = (now or datetime.now(UTC)) - STUCK_AFTER
    dead = session.execute(select(func.count()).select_from(OutboxRow).where(OutboxRow.dead_at.is_not(None),
                                                                             OutboxRow.sent_at.is_(None))).scalar_one()
    stuck_rows = session.execute(select(OutboxRow.lane, func.count()).where(
        OutboxRow.sent_at.is_(None), OutboxRow.dead_at.is_(None), OutboxRow.created_at < cutoff)
        .group_by(OutboxRow.lane)).all()
    stuck = {lane: count for lane, count in stuck_rows}
    last_error = session.execute(select(OutboxRow.last_error).where(OutboxRow.sent_at.is_(None),
                                                                    OutboxRow.last_error.is_not(None))
                                 .order_by(OutboxRow.message_id.desc()).limit(1)).scalar_one_or_none()
    return OutboxHealth(dead=dead, stuck=sum(stuck.values()), stuck_stop=stuck.get(STOP_LANE, 0),
                        last_error=last_error[:300] if last_error else None)
