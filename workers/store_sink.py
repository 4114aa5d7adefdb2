"""The store sink: one consumer-group member taking alerts and stop requests from Kafka into the site's store,
dead-lettering what the contract or the store refuses, and committing offsets only after the store."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from ingest.deadletter import deadletter_value
from ingest.topics import ALERTS, DEADLETTER, STOP_REQUESTS
from telematics.timeutil import TimestampError, parse_rfc3339_ms, to_datetime
from web.contract import ContractViolation, check_alert, check_stop_request, decode_object
from web.db import writer
from web.positions import Fix, note_position
from web.store import upsert_alert, upsert_stop_request
from workers.pacing import POLL_TIMEOUT_MS

GROUP_ID = "truckguard-web-store"
TOPICS = (ALERTS, STOP_REQUESTS)

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
