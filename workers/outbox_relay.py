"""The outbox relay: sends the messages the site queued in its outbox (web/outbox.py) to Kafka, lane by lane:
stop-request decisions first and alone, on their own thread and producer, nothing able to block them; a message that
cannot go is dead-lettered."""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError
from sqlalchemy import Engine, func, or_, select
from sqlalchemy.orm import Session

from ingest.topics import REFERENCE
from web.db import writer
from web.models import OutboxRow
from web.outbox import GENERAL_LANE, REFERENCE_MAX_BYTES, STOP_LANE, STOP_TOPICS

RELAY_BATCH = 100
MAX_ATTEMPTS = 5
"""A message the broker keeps refusing is dead-lettered after this many tries, so its lane goes on."""
RETRY_BACKOFF_S = (1.0, 2.0, 4.0, 8.0)
SEND_TIMEOUT_S = 5.0
STOP_MESSAGE_MAX_BYTES = 64 * 1024
"""A stop request with its history is a few kilobytes; anything near this is not one."""
GENERAL_MESSAGE_MAX_BYTES = REFERENCE_MAX_BYTES
COALESCED_TOPICS = frozenset({REFERENCE})
"""Topics whose consumer keeps only the newest message per key (a reference message is keyed by the fleet, the
vehicle's trips or the zone it carries): an older unsent one is superseded, not sent."""

log = logging.getLogger(__name__)


@dataclass
class RelayResult:
    """What one relay pass of a lane did."""

    sent: int = 0
    failed: int = 0
    dead: int = 0
    superseded: int = 0


def _limit(topic: str) -> int:
    return STOP_MESSAGE_MAX_BYTES if topic in STOP_TOPICS else GENERAL_MESSAGE_MAX_BYTES


def make_general_producer(bootstrap: Any, client_id: str) -> KafkaProducer:
    """Acknowledged, gzip-compressed sends up to the largest reference message (the client checks the size before
    compressing, and its default stops at 1 MB)."""
    # enable_idempotence=False: see ingest/kafka_clients.make_producer (Tansu restarts).
    return KafkaProducer(bootstrap_servers=bootstrap, client_id=client_id, acks="all", retries=5, linger_ms=5,
                         max_in_flight_requests_per_connection=1, compression_type="gzip",
                         max_request_size=GENERAL_MESSAGE_MAX_BYTES + 64 * 1024, enable_idempotence=False)


_GENERAL_PRODUCERS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def general_producer(stop_producer: Any) -> Any:
    """The producer of the general lane: its own connection (a large reference message in flight never delays a
    stop decision on the stop lane's producer), gzip-compressed, with room for the largest reference message.

    Built once from the stop lane's producer settings; a test double (no ``config``) serves both lanes.
    """
    config = getattr(stop_producer, "config", None)
    if not isinstance(config, dict) or not config.get("bootstrap_servers"):
        return stop_producer
    producer = _GENERAL_PRODUCERS.get(stop_producer)
    if producer is None:
        client_id = f"{config.get('client_id', 'truckguard')}-general"
        producer = make_general_producer(config["bootstrap_servers"], client_id)
        _GENERAL_PRODUCERS[stop_producer] = producer
        weakref.finalize(stop_producer, producer.close, 2)
    return producer


@dataclass
class _Outcome:
    message_id: int
    topic: str
    key: str
    value: dict[str, Any]
    attempts: int
    error: BaseException | None = None
    dead_reason: str | None = None
    superseded_by: int | None = None

    @property
    def delivered(self) -> bool:
        return self.error is None and self.dead_reason is None and self.superseded_by is None


def relay_lane(engine: Engine, producer: Any, lane: str) -> RelayResult:
    """Sends one batch of a lane, waits for the broker's acknowledgements, marks each message by its own outcome.

    A message the broker refuses for what it is (too large, invalid) is dead-lettered at once; one it refuses for
    a passing reason is retried with back-off and dead-lettered after MAX_ATTEMPTS. Others in the batch are sent
    regardless, so no message holds up the ones behind it. When every message of the batch fails for a passing
    reason the broker itself is unreachable: nothing is counted against the messages and KafkaError is raised
    so the caller backs off.

    On PostgreSQL the batch's rows stay locked (skipping rows another sink holds) while they are sent, so two
    sinks never send one message twice, and nothing else waits on those locks. SQLite has one write lock for the
    whole store, which must never wait on the broker (an officer's decision is written under it): there the
    store is read before and written after the sends. A crash between sending and marking sends a message
    again: every consumer of these topics is idempotent (stop requests merge by history, reference messages
    carry a version).
    """
    if lane == STOP_LANE:
        with _STOP_LANE_LOCK:  # the sink's loop and the stop lane's own thread take turns, never send twice
            return _relay_lane(engine, producer, lane)
    return _relay_lane(engine, producer, lane)


_STOP_LANE_LOCK = threading.Lock()


def _relay_lane(engine: Engine, producer: Any, lane: str) -> RelayResult:
    now = datetime.now(UTC)
    if engine.dialect.name == "sqlite":
        with Session(engine) as session:
            batch = _claim(session, lane, now, lock=False)
        if not batch:
            return RelayResult()
        _send(producer, batch, lane)
        with Session(writer(engine)) as session, session.begin():
            result = _mark(session, batch, now)
    else:
        with Session(writer(engine)) as session, session.begin():
            batch = _claim(session, lane, now, lock=True)
            if not batch:
                return RelayResult()
            _send(producer, batch, lane)
            result = _mark(session, batch, now)
    if result.sent:
        log.info("relayed %d outbox messages on the %s lane", result.sent, lane)
    return result


def _claim(session: Session, lane: str, now: datetime, *, lock: bool) -> list[_Outcome]:
    query = select(OutboxRow).where(OutboxRow.sent_at.is_(None), OutboxRow.dead_at.is_(None),
                                    OutboxRow.lane == lane,
                                    or_(OutboxRow.next_try_at.is_(None), OutboxRow.next_try_at <= now))
    query = query.order_by(OutboxRow.message_id).limit(RELAY_BATCH)
    if lock:
        query = query.with_for_update(skip_locked=True)
    rows = list(session.execute(query).scalars())
    if not rows:
        return []
    newest = _newest_coalesced(session, rows)
    batch = []
    for row in rows:
        outcome = _Outcome(row.message_id, row.topic, row.key, row.value, row.attempts)
        latest = newest.get((row.topic, row.key))
        if latest is not None and row.message_id < latest:
            outcome.superseded_by = latest
        batch.append(outcome)
    return batch


def _passing(error: BaseException) -> bool:
    """A refusal that may not happen on the next try (a timeout, a leader election); unknown errors count too."""
    return not isinstance(error, KafkaError) or bool(error.retriable)


def _send(producer: Any, batch: list[_Outcome], lane: str) -> None:
    """Sends what is to be sent and notes each message's error; raises KafkaError when the broker took none."""
    futures: list[tuple[_Outcome, Any]] = []
    for outcome in batch:
        if outcome.superseded_by is not None:
            continue
        raw = orjson.dumps(outcome.value)
        if len(raw) > _limit(outcome.topic):
            outcome.dead_reason = (f"message of {len(raw)} bytes exceeds the {_limit(outcome.topic)}-byte limit of "
                                   f"{outcome.topic}")
            continue
        try:
            futures.append((outcome, producer.send(outcome.topic, key=outcome.key.encode(), value=raw)))
        except KafkaError as exc:
            outcome.error = exc
    if futures:
        try:
            producer.flush(timeout=SEND_TIMEOUT_S)
        except KafkaTimeoutError:
            log.warning("outbox %s lane: broker did not acknowledge within %g s", lane, SEND_TIMEOUT_S)
    for outcome, future in futures:
        try:
            future.get(timeout=1)
        except Exception as exc:  # the future carries whatever the client raised
            outcome.error = exc
    failures = [o for o in batch if o.error is not None]
    if failures and not any(o.delivered for o in batch) and all(_passing(o.error) for o in failures if o.error):
        raise KafkaError(f"outbox {lane} lane: broker took none of {len(failures)} messages ({failures[0].error})")


def _mark(session: Session, batch: list[_Outcome], now: datetime) -> RelayResult:
    result = RelayResult()
    for outcome in batch:
        row = session.get(OutboxRow, outcome.message_id)
        if row is None or row.sent_at is not None or row.dead_at is not None:
            continue
        if outcome.superseded_by is not None:
            row.sent_at, row.last_error = now, f"superseded by message {outcome.superseded_by}; not sent"
            result.superseded += 1
        elif outcome.dead_reason is not None:
            _bury(row, now, outcome.dead_reason, result)
        elif outcome.error is not None:
            row.attempts = outcome.attempts + 1
            row.last_error = f"{type(outcome.error).__name__}: {outcome.error}"[:2000]
            if not _passing(outcome.error) or row.attempts >= MAX_ATTEMPTS:
                _bury(row, now, row.last_error, result)
            else:
                row.next_try_at = now + timedelta(seconds=RETRY_BACKOFF_S[min(row.attempts, len(RETRY_BACKOFF_S)) - 1])
                result.failed += 1
                log.warning("outbox message %d (%s) failed, try %d of %d: %s", row.message_id, row.topic,
                            row.attempts, MAX_ATTEMPTS, row.last_error)
        else:
            row.sent_at = now
            result.sent += 1
    return result


def _bury(row: OutboxRow, now: datetime, reason: str, result: RelayResult) -> None:
    row.dead_at = now
    row.last_error = reason[:2000]
    result.dead += 1
    log.error("outbox message %d (%s key %s) dead-lettered: %s", row.message_id, row.topic, row.key, reason)


def _newest_coalesced(session: Session, batch: list[OutboxRow]) -> dict[tuple[str, str], int]:
    """The newest queued message per key of the batch's coalesced messages: older unsent ones are superseded.

    Only messages from the batch's first onward can supersede one of it, so the query reads that range of the
    primary key and never the outbox's history (sent messages are kept a week): a stop lane's batch, with no coalesced
    topic, costs no query at all, however long the site has run.
    """
    keys = {row.key for row in batch if row.topic in COALESCED_TOPICS}
    if not keys:
        return {}
    rows = session.execute(select(OutboxRow.topic, OutboxRow.key, func.max(OutboxRow.message_id))
                           .where(OutboxRow.message_id >= min(row.message_id for row in batch),
                                  OutboxRow.topic.in_(COALESCED_TOPICS), OutboxRow.key.in_(keys))
                           .group_by(OutboxRow.topic, OutboxRow.key))
    return {(topic, key): message_id for topic, key, message_id in rows}


def relay(engine: Engine, producer: Any) -> int:
    """One pass over every lane, the stop lane first; returns how many messages were sent.

    The general lane goes through its own producer (see general_producer); a broker failure on it is logged and
    left for the next pass, never raised past a stop lane that went through.
    """
    sent = relay_lane(engine, producer, STOP_LANE).sent
    try:
        sent += relay_lane(engine, general_producer(producer), GENERAL_LANE).sent
    except KafkaError as exc:
        log.warning("outbox general lane: %s; retrying on the next pass", exc)
    return sent


STOP_RELAY_POLL_S = 0.2
"""How often the stop lane's own thread looks for decisions to send: well inside the 2 s an authorisation may take
to reach the dispatcher."""


def run_stop_relay(engine: Engine, producer: Any, stop: threading.Event) -> None:
    """The stop lane's own loop beside the sink's: whatever else the sink is doing (storing a batch, sending a
    large reference message), a decision is sent within STOP_RELAY_POLL_S of its commit. Runs until ``stop`` is set."""
    failures = 0
    while not stop.wait(STOP_RELAY_POLL_S if not failures else min(5.0, 0.5 * 2 ** failures)):
        try:
            relay_lane(engine, producer, STOP_LANE)
            failures = 0
        except Exception as exc:  # never stop: the broker or the store comes back
            failures = min(failures + 1, 4)
            log.warning("stop lane relay failed (%s); retrying", exc)
