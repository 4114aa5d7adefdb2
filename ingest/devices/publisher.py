"""Publishes device records to Kafka from an asyncio loop, and tells the caller when the broker acknowledged them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol, cast

import orjson

from ingest import topics
from ingest.deadletter import deadletter_value
from ingest.kafka_clients import librdkafka_producer
from telematics.errors import OperationFailed

log = logging.getLogger(__name__)

DeliveryCallback = Callable[[Any, Any], None]
"""librdkafka's delivery report: (error or None, message)."""

BACKLOG_RECORDS = 250_000
"""Records the producer may hold unacknowledged: a full packet in flight from every unit at the default connection
limit (5,000), an FMB unit's packet being at most 1280 bytes (Teltonika's figure), about 50 typical records. Beyond
it a send waits for room, and so its unit, instead of the listener holding ever more in memory."""

POLL_INTERVAL_S = 0.001
"""How often the loop serves delivery reports while records are in flight: a millisecond on top of the broker's
acknowledgement, against the 5 ms the producer lingers to batch records."""

_FULL_WAIT_S = 0.005
"""How long a send waits when the producer's backlog is full before it tries again."""


class NotAcknowledged(OperationFailed):
    """The broker did not acknowledge a record: the device must not be told it was accepted."""


class DeliveryProducer(Protocol):
    """What the publisher needs of a confluent_kafka.Producer (tests give it one whose acknowledgements they hold)."""

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        on_delivery: DeliveryCallback | None = None,
    ) -> None: ...

    def poll(self, timeout: float) -> int: ...

    def purge(self) -> None: ...

    def close(self) -> bool: ...


def make_device_producer(bootstrap: str, client_id: str) -> DeliveryProducer:
    """A librdkafka producer for the device listeners (see librdkafka_producer), which may hold BACKLOG_RECORDS.

    librdkafka's few µs of CPU per record, against kafka-python's 24, is what lets one core keep 1,000 units
    acknowledged at 20,000 records/s (bench/bench_devices.py).
    """
    return cast(
        DeliveryProducer,
        librdkafka_producer(
            bootstrap, client_id, queue_messages=BACKLOG_RECORDS, logger_name="ingest.devices.librdkafka"
        ),
    )


class _Countdown:
    """Resolves one asyncio future when every one of n records was acknowledged, or at the first that failed."""

    __slots__ = ("future", "publisher", "remaining")

    def __init__(self, publisher: DevicePublisher, future: asyncio.Future[None], count: int) -> None:
        self.publisher = publisher
        self.future = future
        self.remaining = count

    def delivered(self, error: Any, _message: Any) -> None:
        """A record's delivery report, served on the event loop by the publisher's poll."""
        self.publisher.in_flight -= 1
        if self.remaining <= 0 or self.future.done():
            return  # failed already, or the connection waiting for it was closed meanwhile
        if error is not None:
            self.remaining = 0
            self.future.set_exception(NotAcknowledged(f"the broker did not acknowledge a record ({error})"))
            return
        self.remaining -= 1
        if self.remaining == 0:
            self.future.set_result(None)


class DevicePublisher:
    """Sends contract records keyed by vehicle_id to truckguard.telemetry.v1, and rejects to the dead-letter topic.

    librdkafka hands delivery reports over only inside ``poll``. The event loop polls, every millisecond while
    records are in flight and not at all otherwise, so each report is served on the loop itself. A thread blocked
    in ``poll`` instead took the interpreter lock from the loop for every report: 9.5 µs of CPU per record
    published against 6.8 (bench: 1,000 units publishing without parsing), a tenth of the whole listener's work.
    All use of a publisher is on one event loop, the one it first publishes from.
    """

    def __init__(self, producer: DeliveryProducer, *, topic: str = topics.TELEMETRY) -> None:
        self.producer = producer
        self.topic = topic
        self.in_flight = 0
        """Records and dead letters sent whose delivery report has not been served yet."""
        self._wake: asyncio.Event | None = None
        self._poller: asyncio.Task[None] | None = None

    def _start(self) -> asyncio.Event:
        """Starts polling for delivery reports on the running loop, at the first send."""
        self._wake = wake = asyncio.Event()
        self._poller = asyncio.get_running_loop().create_task(self._serve_reports(wake), name="device-deliveries")
        return wake

    async def _serve_reports(self, wake: asyncio.Event) -> None:
        poll = self.producer.poll
        while True:
            if self.in_flight <= 0:
                wake.clear()
                await wake.wait()
            poll(0)
            await asyncio.sleep(POLL_INTERVAL_S)

    async def publish(self, vehicle_id: str, records: Sequence[dict[str, Any]]) -> None:
        """Returns once the broker acknowledged every record (acks=all); NotAcknowledged otherwise."""
        if not records:
            return
        wake = self._wake or self._start()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        delivered = _Countdown(self, future, len(records)).delivered
        key = vehicle_id.encode()
        topic = self.topic
        produce = self.producer.produce
        dumps = orjson.dumps
        for record in records:
            value = dumps(record)
            while True:
                try:
                    produce(topic, value, key, on_delivery=delivered)
                    break
                except BufferError:  # the backlog is full: let the broker catch up, then send
                    wake.set()
                    await asyncio.sleep(_FULL_WAIT_S)
            self.in_flight += 1
        wake.set()
        await future

    def dead_letter(self, source: str, error: str, raw: bytes | None, key: str | None = None) -> None:
        """Sends a rejected input to truckguard.deadletter.v1 with its reason; a failure to do so is logged.

        A device input has no topic, partition and offset: ``topic`` names the listener it came in on, and
        partition and offset are -1.
        """
        value = deadletter_value(source, -1, -1, error, raw)

        def report(failure: Any, _message: Any) -> None:
            self.in_flight -= 1
            if failure is not None:
                log.error("dead letter from %s not written: %s", source, failure)

        wake = self._wake or self._start()
        try:
            self.producer.produce(topics.DEADLETTER, value, key.encode() if key else None, on_delivery=report)
        except BufferError:
            log.error("dead letter from %s not written: the producer's backlog is full", source)
            return
        self.in_flight += 1
        wake.set()

    async def close(self, timeout_s: float = 30.0) -> int:
        """Waits up to ``timeout_s`` for what is in flight, then closes the producer and its broker connections;
        returns how many records and dead letters were still not acknowledged."""
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.in_flight > 0 and loop.time() < deadline:
            self.producer.poll(0)
            await asyncio.sleep(0.01)
        unacknowledged = max(0, self.in_flight)
        if unacknowledged:
            self.producer.purge()  # given up: their devices got no ACK and resend them to the next server
            self.producer.poll(0)
        await loop.run_in_executor(None, self.producer.close)
        return unacknowledged
