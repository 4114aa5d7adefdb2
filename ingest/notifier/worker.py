"""`truckguard notify`: consumes alerts and stop requests, plans who is told, stores the messages, then sends them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata

from ingest.kafka_clients import FETCH_MAX_WAIT_MS, GROUP_TIMEOUTS
from ingest.notifier.channels import Channel
from ingest.notifier.delivery import RetryPolicy, deliver
from ingest.notifier.notice import announced, outcome_entry
from ingest.notifier.routing import escalations_for, plan_alert, plan_stop_request
from ingest.notifier.store import NotificationStore
from ingest.topics import ALERTS, STOP_REQUESTS, ensure_topics

log = logging.getLogger(__name__)

GROUP_ID = "truckguard-notifier"
POLL_TIMEOUT_MS = 500
CLAIM_LEASE = timedelta(seconds=60)
"""A message claimed by a notifier that dies is claimed again after this (longer than any channel's time-out)."""
CLAIM_BATCH = 50
SENDERS = 8
"""Messages sent at once: a stop request goes to every officer of the area together."""
IDLE_WAIT_S = 0.5
"""The sender looks for retries and escalations due at least this often."""
RETENTION = timedelta(days=30)
"""Sent and dead messages are kept this long for the settings page's history, then deleted; far longer than
STALE_AFTER, so a message's key outlives any chance of its alert being announced again."""
PRUNE_EVERY_S = 3600.0
STALE_AFTER = timedelta(hours=1)
"""An alert or stop request whose event time is this far behind the clock is history (a replayed topic, a notifier
catching up after a long outage): the site shows it, nobody is woken for it."""


@dataclass(frozen=True)
class NotifierOptions:
    public_url: str
    """The site's address as people reach it; every message links to a page under it."""
    escalate_after: timedelta = timedelta(minutes=3)
    policy: RetryPolicy = field(default_factory=RetryPolicy)


def _parse_ts(value: Any) -> datetime | None:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def event_time(topic: str, value: dict[str, Any]) -> datetime | None:
    """When what a message announces happened: an alert's ``ts``; for a stop request's outcome, the time of the
    latest change it announces (a prevent-restart completes when the engine is next switched off, and a release
    comes later still, hours after the request was raised), else the request's ``ts``."""
    if topic == STOP_REQUESTS and value.get("status") != "requested":
        times = []
        for status in announced(value):
            entry = outcome_entry(value, status)
            moment = _parse_ts(entry.get("recorded_at")) or _parse_ts(entry.get("at"))
            if moment is not None:
                times.append(moment)
        if times:
            return max(times)
    return _parse_ts(value.get("ts"))


class Notifier:
    """The decisions and the sending, without Kafka: ``handle`` a batch of alerts and stop requests, ``escalate``
    what fell due, ``send_due`` what waits. Exactly once for the person: every message has a key made of what it
    says and to whom, the store keeps each key once, and the offsets are committed only after the store."""

    def __init__(self, store: NotificationStore, channels: Mapping[str, Channel], options: NotifierOptions,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.channels = channels
        self.options = options
        self.clock = clock
        self.wake = threading.Event()
        self.pool = ThreadPoolExecutor(SENDERS, thread_name_prefix="notify-send")
        self.sent = 0
        self.dead = 0

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def handle(self, messages: list[tuple[str, dict[str, Any]]]) -> int:
        """Plans and stores the messages for one batch of (topic, value); returns how many are new."""
        now = self.clock()
        people = self.store.people()
        deliveries, escalations = [], []
        for topic, value in messages:
            ts = event_time(topic, value)
            if ts is not None and now - ts > STALE_AFTER:
                continue
            if topic == ALERTS:
                deliveries += plan_alert(value, people, now, self.options.public_url)
                escalations += escalations_for(value, people, now, self.options.escalate_after)
            elif topic == STOP_REQUESTS:
                deliveries += plan_stop_request(value, people, self.options.public_url)
        if not deliveries and not escalations:
            return 0
        new = self.store.enqueue(deliveries, escalations)
        if new:
            self.wake.set()
        return new

    def escalate(self) -> int:
        """Tells the next tier about each critical alert still unacknowledged at its deadline."""
        added = 0
        now = self.clock()
        for escalation in self.store.due_escalations(now):
            if not self.store.alert_open(escalation.alert_id):
                self.store.finish_escalation(escalation, [], "acknowledged", now)
                continue
            planned = plan_alert(escalation.alert, self.store.people(), now, self.options.public_url,
                                 tier=escalation.tier)
            added += self.store.finish_escalation(escalation, planned, "escalated", now)
            log.info("alert %s unacknowledged: escalated to tier %d (%d messages)", escalation.alert_id,
                     escalation.tier, len(planned))
        return added

    def send_due(self) -> int:
        """Sends what is due, records each outcome; returns how many were claimed."""
        now = self.clock()
        batch = self.store.claim(now, CLAIM_LEASE, CLAIM_BATCH)
        if not batch:
            return 0
        outcomes = deliver(self.channels, batch, self.options.policy, now, self.pool)
        self.store.record(outcomes, self.clock())
        self.sent += sum(o.sent for o in outcomes)
        self.dead += sum(o.dead for o in outcomes)
        return len(batch)

    def run_sender(self, stop: threading.Event) -> None:
        """Escalates and sends until ``stop``; woken at once by ``handle``, else every IDLE_WAIT_S."""
        failures = 0
        pruned_at = float("-inf")
        while not stop.is_set():
            self.wake.clear()
            try:
                if time.monotonic() - pruned_at >= PRUNE_EVERY_S:
                    self.store.prune(self.clock() - RETENTION)
                    pruned_at = time.monotonic()
                self.escalate()
                while self.send_due() and not stop.is_set():
                    pass
                failures = 0
            except Exception:  # the store or a bug: logged, and tried again; never stop telling people
                failures = min(failures + 1, 5)
                log.exception("notifier sender pass failed; retrying")
            self.wake.wait(IDLE_WAIT_S * (2 ** failures))


class _Assigned(ConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python has no type hints
    def __init__(self, ready: threading.Event) -> None:
        self.ready = ready

    def on_partitions_revoked(self, revoked: Any) -> None:
        pass

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.ready.set()


def make_notifier_consumer(bootstrap: str, group_id: str = GROUP_ID) -> KafkaConsumer:
    """A group consumer that commits by hand and starts a new group at the end of the topics: a first start
    announces what happens from now on, never the topics' whole history."""
    return KafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, client_id="truckguard-notifier",
                         enable_auto_commit=False, auto_offset_reset="latest", max_poll_records=500,
                         max_poll_interval_ms=120_000, fetch_max_wait_ms=FETCH_MAX_WAIT_MS, **GROUP_TIMEOUTS)


def consume(notifier: Notifier, consumer: KafkaConsumer, stop: threading.Event) -> None:
    """poll → parse → plan and store → commit, until ``stop``; a batch that fails is read again."""
    while not stop.is_set():
        polled = consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
        records = [record for batch in polled.values() for record in batch]
        if not records:
            continue
        values = []
        for record in records:
            try:
                value = orjson.loads(record.value)
            except (orjson.JSONDecodeError, TypeError):
                value = None
            if not isinstance(value, dict):
                # the sink dead-letters what breaks the contract; the notifier only skips it
                log.warning("%s[%d]@%d: not a JSON object; skipped", record.topic, record.partition, record.offset)
                continue
            values.append((record.topic, value))
        try:
            notifier.handle(values)
        except Exception:
            log.exception("notifier batch failed; reading it again")
            first: dict[TopicPartition, int] = {}
            for r in records:
                tp = TopicPartition(r.topic, r.partition)
                first[tp] = min(first.get(tp, r.offset), r.offset)
            for tp, offset in first.items():
                consumer.seek(tp, offset)
            stop.wait(1.0)
            continue
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for r in records:
            offsets[TopicPartition(r.topic, r.partition)] = OffsetAndMetadata(r.offset + 1, "", -1)
        try:
            consumer.commit(offsets)
        except CommitFailedError:
            log.warning("offset commit refused after a rebalance; the new owner reads the batch again (no repeat)")


def run_notifier(notifier: Notifier, bootstrap: str, partitions: int, stop: threading.Event,
                 ready: threading.Event | None = None, group_id: str = GROUP_ID) -> None:
    """The whole worker until ``stop``: the sender in a thread, the consumer here; reconnects while the broker is
    away. ``ready`` is set once the consumer has its partitions."""
    ready = ready or threading.Event()
    sender = threading.Thread(target=notifier.run_sender, args=(stop,), name="notify-sender", daemon=True)
    sender.start()
    attempt = 0
    try:
        while not stop.is_set():
            consumer = None
            try:
                ensure_topics(bootstrap, partitions, (ALERTS, STOP_REQUESTS))
                consumer = make_notifier_consumer(bootstrap, group_id)
                consumer.subscribe([ALERTS, STOP_REQUESTS], listener=_Assigned(ready))
                log.info("notifier consuming %s and %s from %s", ALERTS, STOP_REQUESTS, bootstrap)
                attempt = 0
                consume(notifier, consumer, stop)
            except KafkaError as exc:
                log.warning("Kafka at %s: %s; retrying", bootstrap, exc)
                stop.wait(min(30.0, 2.0 ** attempt))
                attempt += 1
            finally:
                if consumer is not None:
                    consumer.close(autocommit=False)
    finally:
        notifier.wake.set()
        sender.join(timeout=10)
        notifier.close()
