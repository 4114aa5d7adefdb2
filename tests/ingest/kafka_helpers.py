"""Producing test records and reading topics back, with kafka-python against the real broker."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def produce(bootstrap: str, topic: str, records: Iterable[dict[str, Any] | bytes | str]) -> int:
    """Send records keyed by vehicle_id (raw bytes/str are sent as they are, keyed b'raw')."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    sent = 0
    for record in records:
        if isinstance(record, dict):
            key = str(record.get("vehicle_id", "")).encode() or None
            value = json.dumps(record).encode()
        else:
            key, value = b"raw", record.encode() if isinstance(record, str) else record
        producer.send(topic, key=key, value=value)
        sent += 1
    producer.flush()
    producer.close()
    return sent


def read_all(bootstrap: str, topic: str) -> list[bytes]:
    """Every message value now in a topic, partition by partition (no consumer group)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        values: list[bytes] = []
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            for messages in consumer.poll(timeout_ms=500).values():
                values.extend(m.value for m in messages)
        return values
    finally:
        consumer.close()
