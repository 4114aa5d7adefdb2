"""`truckguard detect`: the live loop consume → engine → produce → flush → checkpoint state → commit offsets.

Offsets are committed only after every alert, stop request, dead letter and state checkpoint produced for the
consumed records has been acknowledged by the broker. Per-vehicle state is checkpointed to an internal
topic partitioned like the telemetry, so the instance that takes over a partition (after a crash, restart or
rebalance) restores its vehicles' state and goes on where the last checkpoint left off; records consumed
again after a crash are recognised as duplicates, and alerts carry deterministic ids, so none is doubled.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.producer.future import FutureRecordMetadata

from anomaly.config import EngineConfig
from anomaly.engine import Output
from ingest import topics
from ingest.deadletter import deadletter_value
from ingest.kafka_clients import commit_after_acknowledged, make_consumer, make_producer, read_to_end
from ingest.pipeline import FeedResult, PipelineCounts
from ingest.reference_source import ReferenceSource
from telematics.outputs import Alert, encode
from telematics.reference import ReferenceData

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveDetectorOptions:
    bootstrap: str
    group_id: str = "truckguard-detector"
    partitions: int = 4
    config: EngineConfig = field(default_factory=EngineConfig)
    idle_flush_s: float = 5.0
    checkpoint_s: float = 5.0
    reference_poll_s: float = 5.0
    stats_every_s: float = 30.0
    topic: str = topics.TELEMETRY


class LiveDetector:
    """One detector instance of the consumer group; several share the telemetry partitions."""

    def __init__(self, options: LiveDetectorOptions, reference: ReferenceSource, pipeline: StreamPipeline) -> None:
        self.options = options
        self.reference = reference
        self.pipeline = pipeline
        self.client_id = f"truckguard-detect-{os.getpid()}"
        self._futures: list[FutureRecordMetadata] = []
        self._next_offsets: dict[TopicPartition, int] = {}
        self._dirty: set[str] = set()
        self._vehicle_partition: dict[str, int] = {}
        self._last_arrival: dict[str, float] = {}
        self._producer = None
        self._consumer: KafkaConsumer | None = None

    # -- the loop ------------------------------------------------------------------------------------------
    def run(self, stop: threading.Event, ready: threading.Event | None = None) -> None:
        options = self.options
        topics.ensure_topics(options.bootstrap, options.partitions)
        self._producer = make_producer(options.bootstrap, self.client_id)
        consumer = self._consumer = make_consumer(options.bootstrap, options.group_id, self.client_id)
        consumer.subscribe([options.topic], listener=_Rebalance(self))
        last_checkpoint = last_idle_check = last_reference_check = last_stats = time.monotonic()
        try:
            while not stop.is_set():
                batch = consumer.poll(timeout_ms=200)
                if ready is not None and consumer.assignment():
                    ready.set()
                for partition, messages in batch.items():
                    for message in messages:
                        self._handle(partition, message)
                now = time.monotonic()
                if now - last_idle_check >= min(1.0, options.idle_flush_s):
                    self._flush_idle(now)
                    self._emit_marking_dirty(self.pipeline.advance(options.config.lateness_ms))
                    last_idle_check = now
                if now - last_checkpoint >= options.checkpoint_s:
                    self.checkpoint()
                    last_checkpoint = now
                if now - last_reference_check >= options.reference_poll_s:
                    self._reload_reference()
                    last_reference_check = now
                if now - last_stats >= options.stats_every_s:
                    log.info("detector %s: %s", self.client_id, self.pipeline.counts.as_dict())
                    last_stats = now
            self.checkpoint()
        finally:
            consumer.close(autocommit=False)
            self._producer.close()

    def _handle(self, partition: TopicPartition, message) -> None:
        result = self.pipeline.feed(message.value if message.value is not None else b"")
        if result.rejection is not None:
            self._send(
                topics.DEADLETTER,
                message.key,
                deadletter_value(message.topic, message.partition, message.offset, result.rejection, message.value),
            )
        self._emit(result.outputs)
        if result.vehicle_id is not None:
            self._dirty.add(result.vehicle_id)
            self._vehicle_partition[result.vehicle_id] = partition.partition
            self._last_arrival[result.vehicle_id] = time.monotonic()
        self._next_offsets[partition] = message.offset + 1

    def _emit(self, outputs: Iterable[Output]) -> None:
        for output in outputs:
            topic = topics.ALERTS if isinstance(output, Alert) else topics.STOP_REQUESTS
            self._send(topic, output.vehicle_id.encode(), encode(output))

    def _send(self, topic: str, key: bytes | None, value: bytes, partition: int | None = None) -> None:
        assert self._producer is not None
        self._futures.append(self._producer.send(topic, key=key, value=value, partition=partition))

    def _flush_idle(self, now: float) -> None:
        """Release records held for ordering once their vehicle has been silent for idle_flush_s."""
        for vehicle_id in self.pipeline.held_vehicles():
            if now - self._last_arrival.get(vehicle_id, now) >= self.options.idle_flush_s:
                self._emit_marking_dirty(self.pipeline.flush_vehicle(vehicle_id))

    def _emit_marking_dirty(self, outputs: list[Output]) -> None:
        """Emit outputs raised outside a record's arrival, and checkpoint the vehicles they changed."""
        self._emit(outputs)
        self._dirty.update(o.vehicle_id for o in outputs if o.vehicle_id in self._vehicle_partition)

    def _reload_reference(self) -> None:
        if not self.reference.changed():
            return
        try:
            self.pipeline.reference = self.reference.load()
            log.info("reference data reloaded (%s)", self.options.topic)
        except ValueError as exc:
            log.error("reference data changed but could not be loaded, keeping the previous data: %s", exc)

    # -- checkpoints ---------------------------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Produce state snapshots, wait for every send to be acknowledged, then commit the consumed offsets."""
        if not self._futures and not self._dirty and not self._next_offsets:
            return
        prefix = self.pipeline.state_key_prefix
        for vehicle_id in sorted(self._dirty):
            snapshot = self.pipeline.snapshot(vehicle_id)
            if snapshot is not None:
                key = f"{prefix}{vehicle_id}".encode()
                self._send(topics.DETECTOR_STATE, key, snapshot, self._vehicle_partition[vehicle_id])
        assert self._producer is not None and self._consumer is not None
        commit_after_acknowledged(self._producer, self._futures, self._consumer, self._next_offsets)
        self._dirty.clear()
        self._next_offsets.clear()

    def restore_partitions(self, partitions: Iterable[int]) -> int:
        """Load the latest state checkpoint of every vehicle in these partitions; returns how many were restored."""
        latest: dict[str, tuple[int, bytes]] = {}
        reader_id = f"{self.client_id}-restore"
        for message in read_to_end(self.options.bootstrap, topics.DETECTOR_STATE, partitions, client_id=reader_id):
            if message.key is not None and message.value is not None:
                vehicle_id = _own_key(message.key.decode(), self.pipeline.state_key_prefix)
                if vehicle_id is not None:
                    latest[vehicle_id] = (message.partition, message.value)
        for vehicle_id, (partition, snapshot) in latest.items():
            self.pipeline.restore(vehicle_id, snapshot)
            self._vehicle_partition[vehicle_id] = partition
        return len(latest)

    def drop_partitions(self, partitions: Iterable[int]) -> None:
        gone = set(partitions)
        for vehicle_id, partition in list(self._vehicle_partition.items()):
            if partition in gone:
                self.pipeline.forget(vehicle_id)
                del self._vehicle_partition[vehicle_id]
                self._last_arrival.pop(vehicle_id, None)


def _own_key(key: str, prefix: str) -> str | None:
    """The vehicle id of a state checkpoint key, if the key belongs to the pipeline with this prefix."""
    if prefix:
        return key[len(prefix) :] if key.startswith(prefix) else None
    return None if ":" in key else key


class StreamPipeline(Protocol):
    """What the live loop needs of a pipeline: telemetry (DetectPipeline) or raw CAN (CanPipeline)."""

    state_key_prefix: str
    counts: PipelineCounts
    reference: ReferenceData

    def feed(self, raw: bytes) -> FeedResult: ...
    def flush_vehicle(self, vehicle_id: str) -> list[Output]: ...
    def advance(self, lateness_ms: int) -> list[Output]: ...
    def held_vehicles(self) -> list[str]: ...
    def snapshot(self, vehicle_id: str) -> bytes | None: ...
    def restore(self, vehicle_id: str, snapshot: bytes) -> None: ...
    def forget(self, vehicle_id: str) -> None: ...


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, detector: LiveDetector) -> None:
        self.detector = detector

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if revoked:
            self.detector.checkpoint()
            self.detector.drop_partitions(tp.partition for tp in revoked)

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        restored = self.detector.restore_partitions(sorted(tp.partition for tp in assigned))
        log.info(
            "assigned partitions %s; restored state of %d vehicles", sorted(tp.partition for tp in assigned), restored
        )
