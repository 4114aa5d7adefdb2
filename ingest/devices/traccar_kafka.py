"""`truckguard devices traccar-kafka`: consumes a Traccar server's Kafka forwarding and publishes contract records.

Traccar with ``forward.type=kafka`` and ``event.forward.type=kafka`` writes each position and event, as the same
JSON its HTTP forwarding posts, to the topics ``positions`` and ``events`` (``forward.topic`` and
``event.forward.topic`` rename them), keyed by the device's unique id. Offsets are committed only after every
record taken from them is acknowledged on truckguard.telemetry.v1, so a crash re-reads rather than loses.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson
from kafka import TopicPartition

from ingest import topics
from ingest.deadletter import deadletter_value
from ingest.devices.counters import DeviceCounters
from ingest.devices.directory import DeviceDirectory
from ingest.kafka_clients import commit_after_acknowledged, make_consumer, make_producer
from telematics.devices.telemetry import DeviceMessageError
from telematics.devices.traccar import decode_forward
from telematics.validation import InvalidRecord

log = logging.getLogger(__name__)

LISTENER = "traccar-kafka"


@dataclass(frozen=True)
class TraccarKafkaOptions:
    traccar_bootstrap: str
    """Kafka that the Traccar server forwards to (may be the same cluster as truckguard's)."""
    bootstrap: str
    """truckguard's Kafka."""
    positions_topic: str = "positions"
    events_topic: str = "events"
    group_id: str = "truckguard-traccar"
    commit_every_s: float = 1.0
    summary_every_s: float = 60.0


def run_traccar_kafka(
    options: TraccarKafkaOptions, directory: DeviceDirectory, stop: threading.Event
) -> DeviceCounters:
    """Consumes until ``stop`` is set; returns the counters."""
    consumer = make_consumer(options.traccar_bootstrap, options.group_id, "truckguard-traccar-consumer")
    consumer.subscribe([options.positions_topic, options.events_topic])
    producer = make_producer(options.bootstrap, "truckguard-traccar-kafka")
    counters = DeviceCounters()
    futures: list[Any] = []
    offsets: dict[TopicPartition, int] = {}
    next_commit = time.monotonic() + options.commit_every_s
    next_summary = time.monotonic() + options.summary_every_s
    try:
        while not stop.is_set():
            for partition, messages in consumer.poll(timeout_ms=500).items():
                for message in messages:
                    _handle(message, directory, producer, futures, counters)
                    offsets[partition] = message.offset + 1
            now = time.monotonic()
            if offsets and now >= next_commit:
                commit_after_acknowledged(producer, futures, consumer, offsets)
                offsets.clear()
                next_commit = now + options.commit_every_s
                directory.refresh()
            if now >= next_summary:
                counters.log_summary()
                next_summary = now + options.summary_every_s
        if offsets:
            commit_after_acknowledged(producer, futures, consumer, offsets)
    finally:
        consumer.close()
        producer.close()
        counters.log_summary()
    return counters


def _handle(message: Any, directory: DeviceDirectory, producer: Any, futures: list[Any], counters: DeviceCounters,
            ) -> None:
    raw: bytes = message.value or b""
    key = message.key.decode("utf-8", "replace") if message.key else None

    def reject(reason: str, detail: str) -> None:
        counters.reject(LISTENER, reason)
        log.warning("traccar-kafka %s at %s/%d/%d: %s", reason, message.topic, message.partition, message.offset,
                    detail)
        value = deadletter_value(message.topic, message.partition, message.offset, f"{reason}: {detail}", raw)
        futures.append(producer.send(topics.DEADLETTER, key=message.key, value=value))

    try:
        report = decode_forward(raw)
    except DeviceMessageError as exc:
        reject(exc.reason, exc.detail)
        return
    if report is None:
        counters.reject(LISTENER, "event_without_record")
        return
    vehicle_id = directory.vehicle_for(report.device_id)
    if vehicle_id is None:
        reject("unknown_device", f"device {report.device_id!r} (key {key!r}) is in no vehicle's device_ids")
        return
    try:
        record = report.to_record(vehicle_id)
    except InvalidRecord as exc:
        reject("invalid_record", str(exc))
        return
    future = producer.send(topics.TELEMETRY, key=vehicle_id.encode(), value=orjson.dumps(record))
    future.add_callback(lambda _metadata: counters.accept(LISTENER))
    futures.append(future)
