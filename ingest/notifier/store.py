"""What the notifier needs from a store: people and their rules, an outbox of messages, escalations due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from ingest.notifier.notice import Notice
from ingest.notifier.routing import Escalation, Person, PlannedDelivery


@dataclass(frozen=True)
class Claimed:
    """A message taken for sending under a lease: no other notifier sends it until the lease ends."""

    notification_id: int
    message_id: str
    channel_kind: str
    target: str
    secret: str
    notice: Notice
    attempts: int
    channel_gone: bool = False
    """Its channel was removed or switched off since the message was planned."""


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed message: sent, tried again at ``next_try_at``, or dead (set aside for good)."""

    notification_id: int
    attempts: int
    sent: bool = False
    next_try_at: datetime | None = None
    error: str | None = None
    target_gone: bool = False
    """The channel's address no longer exists (a dropped push subscription): the store switches the channel off."""

    @property
    def dead(self) -> bool:
        return not self.sent and self.next_try_at is None


class NotificationStore(Protocol):
    """The notifier's outbox and directory; web/notifications.py keeps it in the site's store.

    ``enqueue`` is one transaction and ignores messages and escalations whose key it already holds, so a batch
    handled twice (a crash before the offsets were committed) plans nothing new.
    """

    def people(self) -> list[Person]: ...

    def enqueue(self, deliveries: list[PlannedDelivery], escalations: list[Escalation]) -> int: ...

    def claim(self, now: datetime, lease: timedelta, limit: int) -> list[Claimed]: ...

    def record(self, outcomes: list[Outcome], now: datetime) -> None: ...

    def due_escalations(self, now: datetime) -> list[Escalation]: ...

    def alert_open(self, alert_id: str) -> bool: ...

    def finish_escalation(self, escalation: Escalation, deliveries: list[PlannedDelivery], outcome: str,
                          now: datetime) -> int: ...

    def prune(self, before: datetime) -> int: ...
