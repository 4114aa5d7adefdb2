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


def make_producer(bootstrap: str, client_id: str) -> KafkaProducer:
    """A producer whose sends are acknowledged by all in-sync replicas before `flush()` returns."""
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        retries=5,
        linger_ms=5,
        max_in_flight_requests_per_connection=1,
    )


def make_consumer(bootstrap: str, group_id: str, client_id: str, *, max_poll_records: int = 500) -> KafkaConsumer:
    """A group consumer that never commits by itself: offsets are committed after outputs are safe."""
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_poll_records,
        max_poll_interval_ms=120_000,
        **GROUP_TIMEOUTS,
    )


class UnacknowledgedSends(OperationFailed):
    """The broker did not acknowledge every send; offsets were not committed."""


def commit_after_acknowledged(
    producer: KafkaProducer,
    futures: list[FutureRecordMetadata],
    consumer: KafkaConsumer,
    offsets: Mapping[TopicPartition, int],
) -> None:
    """Wait for every send, then commit the consumed offsets; nothing is committed if one send failed."""
    producer.flush()
    failed = [f.exception for f in futures if f.failed()]
    futures.clear()
    if failed:
        raise UnacknowledgedSends(f"{len(failed)} sends were not acknowledged (first: {failed[0]}); not committing")
    if offsets:
        consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()})


def read_to_end(
    bootstrap: str, topic: str, partitions: Iterable[int] | None = None, *, client_id: str = "truckguard-reader"
) -> Iterator[ConsumerRecord]:
    """Every message now in these partitions of a topic (all of them when None), from the beginning, no group."""
    reader = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id=client_id)
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
