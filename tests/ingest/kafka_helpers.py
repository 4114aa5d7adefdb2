"""Producing test records and reading topics back, with kafka-python against the real broker."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from kafka import KafkaProducer

from ingest.kafka_clients import read_to_end


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
    return [message.value for message in read_to_end(bootstrap, topic, client_id="truckguard-test-reader")]
