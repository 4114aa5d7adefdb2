"""Sending claimed messages through their channels, and what to do after a failure: retry later or set aside."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from ingest.notifier.channels import Channel, Delivery, DeliveryFailed
from ingest.notifier.channels.posting import redact
from ingest.notifier.store import Claimed, Outcome

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off between tries; a message still refused after the last one is dead-lettered.

    The default gives up about two minutes after the first try: a stop request gives officers about half a minute
    before the zone (README, the demo scenario), and a notice that late no longer helps; the site still shows it.
    """

    backoff_s: tuple[float, ...] = (2.0, 5.0, 15.0, 30.0, 60.0)

    @property
    def max_attempts(self) -> int:
        return len(self.backoff_s) + 1

    def after_failure(self, attempts: int, failure: DeliveryFailed, now: datetime) -> datetime | None:
        """When to try again after the ``attempts``-th failed try, or None: dead."""
        if failure.permanent or attempts >= self.max_attempts:
            return None
        wait = max(self.backoff_s[attempts - 1], failure.retry_after_s or 0.0)
        return now + timedelta(seconds=wait)


def send_one(channels: Mapping[str, Channel], claimed: Claimed) -> None:
    """Sends one message or raises DeliveryFailed."""
    if claimed.channel_gone:
        raise DeliveryFailed("the channel was removed or switched off", permanent=True)
    channel = channels.get(claimed.channel_kind)
    if channel is None:
        raise DeliveryFailed(f"channel kind {claimed.channel_kind!r}: unknown", permanent=True)
    channel.send(Delivery(claimed.target, claimed.notice, claimed.message_id, claimed.secret))


def deliver(channels: Mapping[str, Channel], batch: list[Claimed], policy: RetryPolicy, now: datetime,
            pool: ThreadPoolExecutor | None = None) -> list[Outcome]:
    """Sends a batch (in parallel on ``pool``: one slow receiver does not hold up the others) and returns each
    message's outcome. Anything a channel raises besides DeliveryFailed counts as a passing failure."""

    def attempt(claimed: Claimed) -> Outcome:
        tries = claimed.attempts + 1
        try:
            send_one(channels, claimed)
        except DeliveryFailed as exc:
            failure = exc
        except Exception as exc:  # a bug in a channel must not stop the others; logged with its traceback
            log.exception("notification %d: %s channel failed unexpectedly", claimed.notification_id,
                          claimed.channel_kind)
            failure = DeliveryFailed(f"{type(exc).__name__}: {exc}")
        else:
            return Outcome(claimed.notification_id, tries, sent=True)
        next_try = policy.after_failure(tries, failure, now)
        if next_try is None:
            log.error("notification %d (%s to %s) dead-lettered after %d tries: %s", claimed.notification_id,
                      claimed.channel_kind, redact(claimed.target), tries, failure)
        else:
            log.warning("notification %d (%s) failed, try %d of %d: %s", claimed.notification_id,
                        claimed.channel_kind, tries, policy.max_attempts, failure)
        return Outcome(claimed.notification_id, tries, next_try_at=next_try, error=str(failure)[:2000],
                       target_gone=failure.gone)

    if pool is None or len(batch) < 2:
        return [attempt(c) for c in batch]
    return list(pool.map(attempt, batch))
