"""Kafka producers and consumers configured for truckguard: acknowledged writes, manual commits, fast group joins."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.producer.future import FutureRecordMetadata
from kafka.structs import OffsetAndMetadata

from telematics.errors import OperationFailed

GROUP_TIMEOUTS = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}
"""With kafka-python's defaults a group join on the embedded broker takes ~20 s; with these, ~3 s."""

FETCH_MAX_WAIT_MS = 20
"""How long the broker may hold a fetch that finds no new data. A real Kafka broker answers a waiting fetch as
soon as data arrives, so there this only sets how often an idle consumer asks again; the embedded broker (Tansu
0.6) answers only when the wait is over, so with kafka-python's 500 ms default a record waited 100-200 ms in the
broker before the detector saw it (bench/bench_live.py breakdown). 20 ms costs an idle consumer 50 small
requests a second."""

PRODUCER_LINGER_MS = 5
"""Sends wait this long for others to share their request: alerts are rare, so this is nearly pure delay."""

DELIVERY_TIMEOUT_MS = 120_000
"""How long a librdkafka send may wait for the broker (retries included) before it counts as not acknowledged: the
120 s that kafka-python's producers allow by default (its delivery_timeout_ms)."""

_BY_KEY = -1
"""librdkafka's 'no partition given' (RD_KAFKA_PARTITION_UA): the partitioner picks one from the key."""

_FULL_WAIT_S = 0.005
"""How long a librdkafka send waits for delivery reports when the producer's queue is full, before it tries again."""


class UnacknowledgedSends(OperationFailed):
    """The broker did not acknowledge every send; offsets were not committed."""


def librdkafka_producer(
    bootstrap: str,
    client_id: str,
    *,
    linger_ms: int = PRODUCER_LINGER_MS,
    queue_messages: int = 100_000,
    compression: str | None = None,
    logger_name: str = "ingest.librdkafka",
) -> Any:
    """A confluent_kafka (librdkafka) producer configured like make_producer: acks from all in-sync replicas, one
    request in flight per connection, Kafka's murmur2 partitioner.

    kafka-python costs about 24 µs of CPU per record sent (its accumulator, futures and sender thread are Python,
    and hold the interpreter lock); librdkafka about 2 µs, with its network work in C threads. ``murmur2_random`` is
    the partitioner of Kafka's Java client and of kafka-python, so a key lands on the partition where every other
    truckguard producer puts it.
    """
    from confluent_kafka import Producer

    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "acks": "all",
        "linger.ms": linger_ms,
        "partitioner": "murmur2_random",
        # A key's records stay in order across retries, as with kafka-python's single request in flight.
        "max.in.flight.requests.per.connection": 1,
        # As make_producer: the embedded broker answers a retried idempotent send across its restart with
        # DUPLICATE_SEQUENCE_NUMBER though nothing was stored; consumers drop duplicates anyway.
        "enable.idempotence": False,
        "message.timeout.ms": DELIVERY_TIMEOUT_MS,
        "queue.buffering.max.messages": queue_messages,
        "log_level": 4,  # warnings and worse: librdkafka reports every idle connection it closes at level 6
        "logger": logging.getLogger(logger_name),  # into the log, served by poll like delivery reports
    }
    if compression is not None:
        config["compression.type"] = compression
    return Producer(config)


def librdkafka_consumer(
    bootstrap: str,
    group_id: str,
    client_id: str,
    *,
    fetch_max_wait_ms: int = FETCH_MAX_WAIT_MS,
    logger_name: str = "ingest.librdkafka",
) -> Any:
    """A confluent_kafka (librdkafka) group consumer configured like make_consumer: it never commits by itself,
    starts a new group at the earliest record, and joins fast.

    kafka-python fetches and decodes record batches in Python, on the caller's thread and under the interpreter lock;
    librdkafka fetches ahead and decodes in its own C threads, so the loop only takes ready messages. Its group
    callbacks (assignment, revocation) are served inside ``consume``, on the caller's thread, where a blocking
    commit is allowed.
    """
    from confluent_kafka import Consumer

    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group_id,
            "client.id": client_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "max.poll.interval.ms": 120_000,
            "session.timeout.ms": GROUP_TIMEOUTS["session_timeout_ms"],
            "heartbeat.interval.ms": GROUP_TIMEOUTS["heartbeat_interval_ms"],
            "fetch.wait.max.ms": fetch_max_wait_ms,
            # What librdkafka fetches ahead of the loop, all partitions together (one queue for a group consumer):
            # 16 MB instead of 64, about 50,000 records.
            "queued.max.messages.kbytes": 16_384,
            # Once that much waits, librdkafka's next fetch waits this long (1 s by default): the loop drains 100,000
            # records in about 1.5 s, so a catch-up after an outage would stall for most of every second.
            "fetch.queue.backoff.ms": 20,
            "log_level": 4,
            "logger": logging.getLogger(logger_name),
        }
    )


class Delivery:
    """One send of an AckedProducer: done once the broker acknowledged it or it failed (then ``exception``).

    Read like kafka-python's FutureRecordMetadata (``is_done``, ``failed()``, ``exception``), so the loops that wait
    for acknowledgements take either.
    """

    __slots__ = ("exception", "is_done", "on_done")

    def __init__(self, on_done: Callable[[], None] | None) -> None:
        self.is_done = False
        self.exception: Exception | None = None
        self.on_done = on_done

    def failed(self) -> bool:
        return self.exception is not None

    def report(self, error: Any, _message: Any) -> None:
        """librdkafka's delivery report for this send, served inside the producer's poll or flush."""
        if error is not None:
            self.exception = UnacknowledgedSends(f"the broker did not acknowledge a send ({error})")
        self.is_done = True
        if self.on_done is not None:
            self.on_done()


class AckedProducer:
    """A librdkafka producer for a single-threaded loop: each send returns a Delivery that the loop can test without
    blocking. Delivery reports are served only inside ``serve`` and ``flush``, on the caller's thread, so a loop
    calls ``serve`` once a turn before it looks at what is acknowledged."""

    def __init__(self, producer: Any) -> None:
        self._producer = producer

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        *,
        partition: int | None = None,
        on_done: Callable[[], None] | None = None,
    ) -> Delivery:
        delivery = Delivery(on_done)
        where = _BY_KEY if partition is None else partition
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, partition=where, on_delivery=delivery.report)
                return delivery
            except BufferError:  # the local queue is full: serve reports until there is room
                self._producer.poll(_FULL_WAIT_S)

    def serve(self) -> None:
        """Serve the delivery reports that have arrived, without waiting."""
        self._producer.poll(0)

    def flush(self) -> None:
        """Wait until every send so far is acknowledged or has failed (its report served)."""
        while self._producer.flush(1.0) > 0:
            pass

    def partitions_for(self, topic: str) -> set[int]:
        """The topic's partitions; fetching them ahead keeps the first send to it from waiting for metadata."""
        return set(self._producer.list_topics(topic, timeout=10).topics[topic].partitions)

    def close(self) -> None:
        self.flush()


def make_producer(
    bootstrap: str,
    client_id: str,
    *,
    linger_ms: int = PRODUCER_LINGER_MS,
    batch_size: int = 16_384,
    compression_type: str | None = None,
) -> KafkaProducer:
    """A producer whose sends are acknowledged by all in-sync replicas before `flush()` returns."""
    return KafkaProducer(
        compression_type=compression_type,
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        retries=5,
        linger_ms=linger_ms,
        batch_size=batch_size,
        max_in_flight_requests_per_connection=1,
        # Tansu answers a send retried across its restart with DUPLICATE_SEQUENCE_NUMBER, which kafka-python takes
        # for success (offset -1) though nothing was stored; consumers already drop duplicates.
        enable_idempotence=False,
    )


def make_consumer(
    bootstrap: str,
    group_id: str,
    client_id: str,
    *,
    max_poll_records: int = 500,
    fetch_max_wait_ms: int = FETCH_MAX_WAIT_MS,
) -> KafkaConsumer:
    """A group consumer that never commits by itself: offsets are committed after outputs are safe."""
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_poll_records,
        max_poll_interval_ms=120_000,
        fetch_max_wait_ms=fetch_max_wait_ms,
        **GROUP_TIMEOUTS,
    )


def raise_unacknowledged(
    futures: Iterable[FutureRecordMetadata | Delivery], consequence: str = "offsets were not committed"
) -> None:
    """Raise UnacknowledgedSends naming the first failure if any of these finished sends failed."""
    failed = [f.exception for f in futures if f.failed()]
    if failed:
        raise UnacknowledgedSends(f"{len(failed)} sends were not acknowledged (first: {failed[0]}); {consequence}")


def commit_after_acknowledged(
    producer: KafkaProducer,
    futures: list[FutureRecordMetadata],
    consumer: KafkaConsumer,
    offsets: Mapping[TopicPartition, int],
) -> None:
    """Wait for every send, then commit the consumed offsets; nothing is committed if one send failed."""
    producer.flush()
    done = list(futures)
    futures.clear()
    raise_unacknowledged(done)
    if offsets:
        consumer.commit(commit_offsets(offsets))


def commit_offsets(offsets: Mapping[TopicPartition, int]) -> dict[TopicPartition, OffsetAndMetadata]:
    """Next-offsets to commit, in the shape KafkaConsumer.commit takes."""
    return {tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()}


def read_to_end(
    bootstrap: str, topic: str, partitions: Iterable[int] | None = None, *, client_id: str = "truckguard-reader"
) -> Iterator[ConsumerRecord]:
    """Every message now in these partitions of a topic (all of them when None), from the beginning, no group."""
    reader = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, client_id=client_id, fetch_max_wait_ms=FETCH_MAX_WAIT_MS
    )
    try:
        numbers = sorted(reader.partitions_for_topic(topic) or ()) if partitions is None else list(partitions)
        wanted = [TopicPartition(topic, p) for p in numbers]
        if not wanted:
            return
        reader.assign(wanted)
        reader.seek_to_beginning(*wanted)
        # The embedded broker may report the end as the last batch's base offset + 1, so read until
        # every position has reached or passed it: positions move a whole batch at a time.
        end = reader.end_offsets(wanted)
        while any(reader.position(tp) < end[tp] for tp in wanted):
            for messages in reader.poll(timeout_ms=500).values():
                yield from messages
    finally:
        reader.close()
