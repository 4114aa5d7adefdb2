"""Kafka producers and consumers configured for truckguard: acknowledged writes, manual commits, fast group joins."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

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


class UnacknowledgedSends(OperationFailed):
    """The broker did not acknowledge every send; offsets were not committed."""


def raise_unacknowledged(
    futures: Iterable[FutureRecordMetadata], consequence: str = "offsets were not committed"
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
