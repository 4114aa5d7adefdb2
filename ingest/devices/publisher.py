"""Publishes device records to Kafka from an asyncio loop, and tells the caller when the broker acknowledged them."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any

import orjson
from kafka import KafkaProducer

from ingest import topics
from ingest.deadletter import deadletter_value
from telematics.errors import OperationFailed

log = logging.getLogger(__name__)


class NotAcknowledged(OperationFailed):
    """The broker did not acknowledge a record: the device must not be told it was accepted."""


class _Countdown:
    """Resolves one asyncio future when every one of n Kafka sends succeeded, or at the first that failed.

    kafka-python calls back on its sender thread; only the last call crosses into the loop, so a packet of
    fifty records costs one thread hand-over, not fifty.
    """

    __slots__ = ("done", "future", "lock", "loop", "remaining")

    def __init__(self, loop: asyncio.AbstractEventLoop, count: int) -> None:
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()
        self.remaining = count
        self.done = False
        self.lock = threading.Lock()

    def success(self, _metadata: object) -> None:
        with self.lock:
            self.remaining -= 1
            finished = self.remaining == 0 and not self.done
            self.done = self.done or finished
        if finished:
            self.loop.call_soon_threadsafe(self._resolve, None)

    def failure(self, error: BaseException) -> None:
        with self.lock:
            first = not self.done
            self.done = True
        if first:
            self.loop.call_soon_threadsafe(self._resolve, error)

    def _resolve(self, error: BaseException | None) -> None:
        if self.future.done():
            return
        if error is None:
            self.future.set_result(None)
        else:
            self.future.set_exception(NotAcknowledged(f"the broker did not acknowledge a record ({error})"))


class DevicePublisher:
    """Sends contract records keyed by vehicle_id to truckguard.telemetry.v1, and rejects to the dead-letter topic."""

    def __init__(self, producer: KafkaProducer, *, topic: str = topics.TELEMETRY) -> None:
        self.producer = producer
        self.topic = topic

    async def publish(self, vehicle_id: str, records: Sequence[dict[str, Any]]) -> None:
        """Returns once the broker acknowledged every record (acks=all); NotAcknowledged otherwise."""
        if not records:
            return
        countdown = _Countdown(asyncio.get_running_loop(), len(records))
        key = vehicle_id.encode()
        send = self.producer.send
        for record in records:
            future = send(self.topic, key=key, value=orjson.dumps(record))
            future.add_callback(countdown.success)
            future.add_errback(countdown.failure)
        await countdown.future

    def dead_letter(self, source: str, error: str, raw: bytes | None, key: str | None = None) -> None:
        """Sends a rejected input to truckguard.deadletter.v1 with its reason; a failure to do so is logged.

        A device input has no topic, partition and offset: ``topic`` names the listener it came in on, and
        partition and offset are -1.
        """
        value = deadletter_value(source, -1, -1, error, raw)
        future = self.producer.send(topics.DEADLETTER, key=key.encode() if key else None, value=value)
        future.add_errback(lambda exc: log.error("dead letter from %s not written: %s", source, exc))
