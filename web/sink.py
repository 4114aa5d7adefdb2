"""The output sink: consumes alerts and stop requests from Kafka into the store, committing offsets after the store;
beside it, it relays the site's outbox, expires stale stop requests and tracks vehicle positions from telemetry."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from ingest.deadletter import deadletter_value
from ingest.kafka_clients import make_consumer, make_producer
from ingest.topics import ALERTS, DEADLETTER, STOP_REQUESTS, TELEMETRY, ensure_topics
from telematics.parse import parse_telemetry
from telematics.settings import Settings
from telematics.timeutil import TimestampError, parse_rfc3339_ms, to_datetime
from telematics.validation import InvalidRecord
from web.contract import ContractViolation, check_alert, check_stop_request, decode_object
from web.db import make_engine, writer
from web.migrate import upgrade_store
from web.outbox import prune_sent, relay, run_stop_relay
from web.positions import Fix, PositionBuffer, fix_from_record, note_position, prune_track
from web.reference import REFERENCE_TOPIC
from web.stop_flow import DEFAULT_EXPIRY_S, expire_overdue
from web.store import upsert_alert, upsert_stop_request

GROUP_ID = "truckguard-web-store"
POSITIONS_GROUP_ID = "truckguard-web-positions"
TOPICS = (ALERTS, STOP_REQUESTS)
POLL_TIMEOUT_MS = 500
POSITIONS_FLUSH_S = 1.0
"""Telemetry can arrive every second from thousands of vehicles: positions are written at most this often."""
HOUSEKEEPING_S = 5.0
RETRY_BACKOFF_S = (0.5, 1, 2, 5, 10)

log = logging.getLogger(__name__)

_CHECKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    ALERTS: check_alert, STOP_REQUESTS: check_stop_request,
}


def _store_alert(session: Session, alert: dict[str, Any]) -> bool:
    """Stores an alert; its position is also the vehicle's latest known one, if nothing newer is."""
    changed = upsert_alert(session, alert)
    if alert.get("lat") is not None and alert.get("lon") is not None:
        try:
            ts = to_datetime(parse_rfc3339_ms(alert["ts"]))
        except TimestampError:
            return changed
        note_position(session, Fix(alert["vehicle_id"], ts, alert["lat"], alert["lon"], source="alert"))
    return changed


_UPSERTS: dict[str, Callable[[Session, dict[str, Any]], bool]] = {
    ALERTS: _store_alert, STOP_REQUESTS: upsert_stop_request,
}


@dataclass(frozen=True)
class Message:
    """The parts of one consumed Kafka record the sink uses."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Rejected:
    message: Message
    error: str


def parse(message: Message) -> dict[str, Any]:
    """One message to its contract object, or ContractViolation naming the field at fault."""
    obj = decode_object(message.value)
    _CHECKS[message.topic](obj)
    return obj


def write_batch(engine: Engine, batch: list[tuple[Message, dict[str, Any]]]) -> list[Rejected]:
    """Stores a batch of valid messages in one transaction; returns those the database refused.

    A database refusal caused by the data itself (a constraint or a value it cannot hold) would stop
    the whole batch forever, so the batch is then retried one message per transaction and the
    refused ones are handed back for the dead-letter topic. Errors of the database itself (it is
    down, locked) are raised: the caller retries the batch later.
    """
    try:
        with Session(writer(engine)) as session, session.begin():
            for message, obj in batch:
                _UPSERTS[message.topic](session, obj)
        return []
    except (IntegrityError, DataError):
        log.warning("store refused a batch of %d messages; retrying one by one", len(batch), exc_info=True)
    rejected: list[Rejected] = []
    for message, obj in batch:
        try:
            with Session(writer(engine)) as session, session.begin():
                _UPSERTS[message.topic](session, obj)
        except (IntegrityError, DataError) as exc:
            rejected.append(Rejected(message, f"store: {exc.orig or exc}"))
    return rejected


class OutputSink:
    """One consumer-group member: poll → validate → dead-letter → store transaction → commit offsets."""

    def __init__(self, engine: Engine, consumer: KafkaConsumer, producer: KafkaProducer) -> None:
        self.engine = engine
        self.consumer = consumer
        self.producer = producer
        self.stored = 0
        self.dead_lettered = 0

    def step(self) -> int:
        """Handles one poll's batch; returns how many messages it took. Raises when it must be retried."""
        polled = self.consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
        messages = [
            Message(record.topic, record.partition, record.offset, record.key, record.value)
            for records in polled.values() for record in records
        ]
        if not messages:
            return 0
        try:
            self._handle(messages)
        except Exception:
            self._rewind(messages)
            raise
        return len(messages)

    def _handle(self, messages: list[Message]) -> None:
        valid: list[tuple[Message, dict[str, Any]]] = []
        rejected: list[Rejected] = []
        for message in messages:
            try:
                valid.append((message, parse(message)))
            except ContractViolation as exc:
                rejected.append(Rejected(message, str(exc)))
        refused = write_batch(self.engine, valid) if valid else []
        self._dead_letter(rejected + refused)
        self.stored += len(valid) - len(refused)
        self._commit(messages)

    def _dead_letter(self, rejected: list[Rejected]) -> None:
        futures = []
        for item in rejected:
            m = item.message
            log.warning("dead-lettering %s[%d]@%d: %s", m.topic, m.partition, m.offset, item.error)
            value = deadletter_value(m.topic, m.partition, m.offset, item.error, m.value)
            futures.append(self.producer.send(DEADLETTER, key=m.key, value=value))
        self.producer.flush()
        for future in futures:
            future.get(timeout=0)  # raises if the broker did not take it: the batch is then retried
        self.dead_lettered += len(rejected)

    def _commit(self, messages: list[Message]) -> None:
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for m in messages:
            tp = TopicPartition(m.topic, m.partition)
            if tp not in offsets or offsets[tp].offset <= m.offset:
                offsets[tp] = OffsetAndMetadata(m.offset + 1, "", -1)
        try:
            self.consumer.commit(offsets)
        except CommitFailedError:
            # The group rebalanced: the new owner re-reads these messages, and the store is idempotent.
            log.warning("offset commit refused after a rebalance; the messages will be re-delivered")

    def _rewind(self, messages: list[Message]) -> None:
        """Seek back to the batch's first offsets so the next poll delivers it again."""
        first: dict[TopicPartition, int] = {}
        for m in messages:
            tp = TopicPartition(m.topic, m.partition)
            first[tp] = min(first.get(tp, m.offset), m.offset)
        assigned = self.consumer.assignment()
        for tp, offset in first.items():
            if tp in assigned:
                self.consumer.seek(tp, offset)


def _wait(stop: threading.Event, attempt: int) -> None:
    stop.wait(RETRY_BACKOFF_S[min(attempt, len(RETRY_BACKOFF_S) - 1)])


def _connect(settings: Settings, stop: threading.Event) -> tuple[KafkaConsumer, KafkaProducer] | None:
    """Topics, consumer and producer, retrying while the broker is unreachable; None when stopped first."""
    attempt = 0
    while not stop.is_set():
        try:
            ensure_topics(settings.bootstrap, settings.partitions, (*TOPICS, DEADLETTER, TELEMETRY, REFERENCE_TOPIC))
            consumer = make_consumer(settings.bootstrap, GROUP_ID, "truckguard-web-sink")
            try:
                producer = make_producer(settings.bootstrap, "truckguard-web-sink")
            except Exception:
                consumer.close(autocommit=False)
                raise
            consumer.subscribe(list(TOPICS))
            return consumer, producer
        except KafkaError as exc:
            log.warning("Kafka at %s not reachable (%s); retrying", settings.bootstrap, exc)
            _wait(stop, attempt)
            attempt += 1
    return None


def housekeeping(engine: Engine, producer: Any, expiry_s: float) -> None:
    """Expires stop requests nobody authorised in time, deletes messages sent over a week ago, then relays the
    outbox (the site's messages)."""
    with Session(writer(engine)) as session, session.begin():
        expire_overdue(session, expiry_s)
        prune_sent(session, datetime.now(UTC))
    while relay(engine, producer):
        pass


def run_sink(settings: Settings, stop: threading.Event) -> None:
    """Runs the sink until ``stop`` is set: upgrades the store, creates missing topics, then consumes.

    A bad message goes to the dead-letter topic; a failing store or broker is retried with back-off.
    Nothing but ``stop`` ends the loop. A second thread keeps vehicle positions from telemetry; a third sends
    stop-request decisions from the outbox the moment they commit, whatever the loop is busy with.
    """
    upgrade_store(settings.store_url)
    engine = make_engine(settings.store_url)
    try:
        clients = _connect(settings, stop)
        if clients is None:
            return
        consumer, producer = clients
        sink = OutputSink(engine, consumer, producer)
        positions = threading.Thread(target=run_positions, args=(settings, engine, stop), name="positions",
                                     daemon=True)
        positions.start()
        stop_relay = threading.Thread(target=run_stop_relay, args=(engine, producer, stop), name="stop-relay",
                                      daemon=True)
        stop_relay.start()
        log.info("output sink consuming %s from %s into the store", ", ".join(TOPICS), settings.bootstrap)
        expiry_s = float(getattr(settings, "stop_request_expiry_s", DEFAULT_EXPIRY_S))
        failures = 0
        last_housekeeping = 0.0
        try:
            while not stop.is_set():
                try:
                    sink.step()
                    # The outbox is relayed on every step so a status change reaches the topic within a poll.
                    if time.monotonic() - last_housekeeping >= HOUSEKEEPING_S:
                        housekeeping(engine, producer, expiry_s)
                        last_housekeeping = time.monotonic()
                    else:
                        relay(engine, producer)
                    failures = 0
                except (OperationalError, KafkaError) as exc:
                    log.warning("sink batch failed (%s); retrying", exc)
                    _wait(stop, failures)
                    failures += 1
                except Exception:
                    # Never stop: a bug or an unforeseen error is logged and the batch retried.
                    log.exception("sink batch failed unexpectedly; retrying")
                    _wait(stop, failures)
                    failures += 1
        finally:
            stop_relay.join(timeout=5)  # before its producer closes
            consumer.close(autocommit=False)
            producer.close(timeout=5)
            positions.join(timeout=5)
    finally:
        engine.dispose()


def read_fixes(records: Any) -> list[Fix]:
    """Fixes of the valid telemetry records among ``records``; invalid ones are the detector's to dead-letter."""
    fixes = []
    for record in records:
        try:
            fix = fix_from_record(parse_telemetry(record.value))
        except (InvalidRecord, TypeError, ValueError):
            continue
        if fix is not None:
            fixes.append(fix)
    return fixes


def run_positions(settings: Settings, engine: Engine, stop: threading.Event) -> None:
    """Keeps each vehicle's latest position from truckguard.telemetry.v1, writing at most once a second.

    Its own consumer group starts at the newest telemetry: old positions are of no use to a live map.
    """
    consumer: KafkaConsumer | None = None
    attempt = 0
    while consumer is None and not stop.is_set():
        try:
            consumer = KafkaConsumer(
                bootstrap_servers=settings.bootstrap, group_id=POSITIONS_GROUP_ID, client_id="truckguard-web-positions",
                enable_auto_commit=True, auto_offset_reset="latest", session_timeout_ms=6000,
                heartbeat_interval_ms=1000,
            )
            consumer.subscribe([TELEMETRY])
        except KafkaError as exc:
            log.warning("positions: Kafka not reachable (%s); retrying", exc)
            _wait(stop, attempt)
            attempt += 1
    if consumer is None:
        return
    buffer = PositionBuffer()
    last_flush = time.monotonic()
    last_prune = 0.0
    try:
        while not stop.is_set():
            try:
                polled = consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
                for fix in read_fixes(r for records in polled.values() for r in records):
                    buffer.add(fix)
                if buffer and time.monotonic() - last_flush >= POSITIONS_FLUSH_S:
                    with Session(writer(engine)) as session, session.begin():
                        buffer.flush(session)
                        if time.monotonic() - last_prune > 600:
                            prune_track(session)
                            last_prune = time.monotonic()
                    last_flush = time.monotonic()
            except Exception:
                log.exception("positions: batch failed; carrying on")
                _wait(stop, 0)
    finally:
        consumer.close()
