"""`truckguard detect`: the live loop consume → engine → produce → checkpoint state → commit offsets.

Offsets are committed only after every alert, stop request, dead letter and state checkpoint produced for the
consumed records has been acknowledged by the broker; checkpoints run beside the records, a slice at a time, so
they never hold a record up for long. Per-vehicle state is checkpointed to an internal topic partitioned like
the telemetry, so the instance that takes over a partition (after a crash, restart or rebalance) restores its
vehicles' state, on demand, and goes on where the last checkpoint left off; records consumed again after a crash
are recognised as duplicates, and alerts carry deterministic ids, so none is doubled.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener
from kafka.errors import IllegalStateError

from anomaly.config import EngineConfig
from anomaly.engine import Output
from ingest import topics
from ingest.deadletter import deadletter_value
from ingest.kafka_clients import (
    FETCH_MAX_WAIT_MS,
    AckedProducer,
    Delivery,
    UnacknowledgedSends,
    commit_offsets,
    librdkafka_producer,
    make_consumer,
    raise_unacknowledged,
    read_to_end,
)
from ingest.loop_timings import LoopTimings
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
    fetch_max_wait_ms: int = FETCH_MAX_WAIT_MS
    """How long the broker may hold an empty fetch (see kafka_clients): shorter is faster on the embedded broker,
    and costs an idle loop more requests."""


RESTORE_SLICE = 200
"""Saved states restored per loop turn after an assignment: ~110 µs each, about 20 ms a turn."""

CHECKPOINT_SLICE = 100
"""Vehicles snapshotted per loop turn while a checkpoint is under way: ~50 µs each (encode and send), so a slice
holds the records behind it for about 5 ms instead of a whole fleet's worth at once (20,000 vehicles: ~1 s)."""


class _Checkpoint:
    """A checkpoint under way: the offsets it commits, the vehicles still to snapshot, the sends it waits for."""

    __slots__ = ("futures", "offsets", "started", "to_snapshot")

    def __init__(self, offsets: dict[TopicPartition, int], to_snapshot: list[str], futures: list[Delivery]) -> None:
        self.offsets = offsets
        self.to_snapshot = to_snapshot
        self.futures = futures
        self.started = time.monotonic()


class LiveDetector:
    """One detector instance of the consumer group; several share the telemetry partitions.

    A checkpoint runs beside the records, a slice of vehicles per loop turn, and its offsets are committed once
    every send it covers is acknowledged, so neither snapshots nor acknowledgements hold records up. Two rules keep
    a crash from losing an output: a checkpoint's offsets cover only records consumed before it started, and
    every vehicle it snapshots got its state from them (or later ones: those come again and are duplicates); and
    a vehicle's state is snapshotted only once every output raised for it so far is acknowledged, so a restored
    state never remembers a record whose alert the broker does not hold.
    """

    def __init__(self, options: LiveDetectorOptions, reference: ReferenceSource, pipeline: StreamPipeline) -> None:
        self.options = options
        self.reference = reference
        self.pipeline = pipeline
        self.client_id = f"truckguard-detect-{os.getpid()}"
        self.timings = LoopTimings()
        self._futures: list[Delivery] = []
        self._next_offsets: dict[TopicPartition, int] = {}
        self._dirty: set[str] = set()
        self._vehicle_partition: dict[str, int] = {}
        self._partition_event_ms: dict[TopicPartition, int] = {}
        """The latest event time read from each partition this instance holds."""
        self._last_arrival: dict[str, float] = {}
        self._unacknowledged: dict[str, list[Delivery]] = {}
        """Per vehicle, its outputs not yet known to be acknowledged: its state waits for them."""
        self._paused_since: float | None = None
        """When this member stopped processing for a (re)join: its start, or its partitions being revoked."""
        self._checkpoint: _Checkpoint | None = None
        self._sliced = False
        """The last checkpoint slice snapshotted at least one vehicle."""
        self._parked: dict[str, tuple[int, bytes]] = {}
        """Vehicles of newly assigned partitions whose saved state is read but not restored yet: (partition, state)."""
        self._committing: deque[_Checkpoint] = deque()
        self._producer: AckedProducer | None = None
        self._state_producer: AckedProducer | None = None
        self._consumer: KafkaConsumer | None = None

    # -- the loop ------------------------------------------------------------------------------------------
    def run(self, stop: threading.Event, ready: threading.Event | None = None) -> None:
        options = self.options
        topics.ensure_topics(options.bootstrap, options.partitions)
        # Outputs are rare and urgent: sent at once. State snapshots are bulk traffic: a producer of their own, so
        # alerts never queue behind them. Both are librdkafka's: kafka-python's sender thread took a third of the
        # detector's CPU at 20,000 records/s (py-spy, bench/bench_live.py), and held the interpreter lock for it.
        self._producer = AckedProducer(librdkafka_producer(options.bootstrap, self.client_id, linger_ms=1))
        # A batch of snapshots (JSON of similar shape) shrinks ~29x with lz4 (measured, 500 vehicles after two
        # minutes of driving: 5.5 KB each): the state topic's traffic and the broker's memory shrink with it.
        self._state_producer = AckedProducer(
            librdkafka_producer(options.bootstrap, f"{self.client_id}-state", linger_ms=20, compression="lz4")
        )
        # A producer's first send to a topic blocks until it has the topic's metadata: fetch it now, not in front
        # of the first panic alert.
        for topic in (topics.ALERTS, topics.STOP_REQUESTS, topics.DEADLETTER):
            self._producer.partitions_for(topic)
        self._state_producer.partitions_for(topics.DETECTOR_STATE)
        consumer = self._consumer = make_consumer(
            options.bootstrap, options.group_id, self.client_id, fetch_max_wait_ms=options.fetch_max_wait_ms
        )
        self.pause()
        consumer.subscribe([options.topic], listener=_Rebalance(self))
        last_checkpoint = last_idle_check = last_reference_check = last_stats = time.monotonic()
        timings = self.timings
        try:
            while not stop.is_set():
                # While a checkpoint has vehicles to snapshot, or saved states wait to be restored, poll without
                # waiting; unless the last slice found every vehicle waiting for acknowledgements: then a short wait.
                snapshotting = self._checkpoint is not None and bool(self._checkpoint.to_snapshot) and self._sliced
                busy = snapshotting or bool(self._parked)
                batch = consumer.poll(timeout_ms=0 if busy else (20 if self._checkpoint is not None else 200))
                polled_ms = time.time() * 1000
                if ready is not None and consumer.assignment():
                    ready.set()
                for partition, messages in batch.items():
                    for message in messages:
                        if message.timestamp_type == 0:  # CreateTime: the producer's clock, on this machine in benches
                            timings.add("fetch_ms", polled_ms - message.timestamp)
                        timings.add("in_batch_ms", time.time() * 1000 - polled_ms)
                        self._handle(partition, message)
                self._producer.serve()
                self._state_producer.serve()
                now = time.monotonic()
                if now - last_idle_check >= min(1.0, options.idle_flush_s):
                    self._flush_idle(now)
                    if not self._parked:  # silence is judged over every vehicle, so once all are restored
                        self._emit_marking_dirty(
                            self.pipeline.advance(options.config.lateness_ms, self._slowest_partition_ms())
                        )
                    last_idle_check = now
                if self._checkpoint is None and now - last_checkpoint >= options.checkpoint_s:
                    self._begin_checkpoint()
                    last_checkpoint = now
                self._checkpoint_slice(CHECKPOINT_SLICE)
                self._restore_slice(RESTORE_SLICE)
                self._commit(self._acknowledged_offsets())
                if now - last_reference_check >= options.reference_poll_s:
                    self._reload_reference()
                    last_reference_check = now
                if now - last_stats >= options.stats_every_s:
                    self._log_stats()
                    last_stats = now
            self._commit(self.checkpoint())
            self._log_stats()
        finally:
            consumer.close(autocommit=False)
            self._producer.close()
            self._state_producer.close()

    def _log_stats(self) -> None:
        log.info("detector %s: %s", self.client_id, self.pipeline.counts.as_dict())
        log.info("loop timings %s: %s", self.options.topic, orjson.dumps(self.timings.summary()).decode())

    def _handle(self, partition: TopicPartition, message: Any) -> None:
        if self._parked and message.key is not None:
            # A vehicle's state is restored before its first record (the contract keys records by vehicle_id).
            self._unpark(message.key.decode("utf-8", errors="replace"))
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
        if result.event_ms is not None and result.event_ms > self._partition_event_ms.get(partition, -1):
            self._partition_event_ms[partition] = result.event_ms

    def _emit(self, outputs: Iterable[Output]) -> None:
        for output in outputs:
            topic = topics.ALERTS if isinstance(output, Alert) else topics.STOP_REQUESTS
            future = self._send(topic, output.vehicle_id.encode(), encode(output))
            self._unacknowledged.setdefault(output.vehicle_id, []).append(future)

    def _send(self, topic: str, key: bytes | None, value: bytes) -> Delivery:
        assert self._producer is not None
        sent = time.monotonic()
        timings = self.timings
        delivery = self._producer.send(
            topic, key, value, on_done=lambda: timings.add("output_ack_ms", (time.monotonic() - sent) * 1000)
        )
        self._futures.append(delivery)
        return delivery

    def _slowest_partition_ms(self) -> int | None:
        """The latest event time read from the partitions still behind their end: silence is judged no further
        than that, so while one partition catches up (a backlog after an outage, or one fetched ahead of the
        others) the vehicles on the others do not look gone quiet. A partition read to its end holds nothing back:
        a vehicle on it that stopped reporting has really gone quiet. None: no partition is behind."""
        consumer = self._consumer
        if consumer is None:
            return None
        behind: list[int] = []
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            try:
                position = consumer.position(tp, timeout_ms=0) if end is not None else None
            except IllegalStateError:  # revoked meanwhile
                continue
            if end is not None and position is not None and position < end:
                behind.append(self._partition_event_ms.get(tp, -1))
        return min(behind, default=None)

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
    def _begin_checkpoint(self) -> None:
        """Start a checkpoint of everything consumed so far; its snapshots follow slice by slice."""
        if not self._futures and not self._dirty and not self._next_offsets:
            return
        self._checkpoint = _Checkpoint(dict(self._next_offsets), sorted(self._dirty), self._futures)
        self._futures = []
        self._next_offsets.clear()
        self._dirty.clear()

    def _checkpoint_slice(self, budget: int | None) -> None:
        """Snapshot up to `budget` vehicles of the checkpoint under way (all when None); hand it to commit when done."""
        checkpoint = self._checkpoint
        if checkpoint is None:
            return
        started = time.monotonic()
        assert self._state_producer is not None
        prefix = self.pipeline.state_key_prefix
        waiting: list[str] = []
        todo = checkpoint.to_snapshot
        taken = 0
        while todo and (budget is None or taken < budget):
            vehicle_id = todo.pop()
            taken += 1
            if not self._outputs_acknowledged(vehicle_id):
                waiting.append(vehicle_id)
                continue
            snapshot = self.pipeline.snapshot(vehicle_id)
            partition = self._vehicle_partition.get(vehicle_id)
            if snapshot is not None and partition is not None:
                key = f"{prefix}{vehicle_id}".encode()
                checkpoint.futures.append(
                    self._state_producer.send(topics.DETECTOR_STATE, key, snapshot, partition=partition)
                )
        todo.extend(waiting)
        self._sliced = taken > len(waiting)
        if taken:
            self.timings.add("checkpoint_slice_ms", (time.monotonic() - started) * 1000)
        if not todo:
            # Outputs sent while the slices ran may be for records the snapshots include: wait for them too.
            checkpoint.futures.extend(self._futures)
            self._futures = []
            self._committing.append(checkpoint)
            self._checkpoint = None

    def _outputs_acknowledged(self, vehicle_id: str) -> bool:
        futures = self._unacknowledged.get(vehicle_id)
        if futures is None:
            return True
        if all(f.is_done for f in futures):
            raise_unacknowledged(futures, "the vehicle's state was not checkpointed")
            del self._unacknowledged[vehicle_id]
            return True
        return False

    def _acknowledged_offsets(self) -> dict[TopicPartition, int]:
        """The offsets of every finished checkpoint whose sends are all acknowledged, taken in order (later ones
        supersede earlier ones of the same partition)."""
        offsets: dict[TopicPartition, int] = {}
        while self._committing and all(f.is_done for f in self._committing[0].futures):
            checkpoint = self._committing.popleft()
            raise_unacknowledged(checkpoint.futures)
            offsets.update(checkpoint.offsets)
            self.timings.add("checkpoint_lag_ms", (time.monotonic() - checkpoint.started) * 1000)
        return offsets

    def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None
        if offsets:
            started = time.monotonic()
            self._consumer.commit(commit_offsets(offsets))
            self.timings.add("commit_ms", (time.monotonic() - started) * 1000)

    def checkpoint(self) -> dict[TopicPartition, int]:
        """Checkpoint everything consumed so far and wait for it: snapshots sent and every send acknowledged (at a
        rebalance and at shutdown). Returns the offsets to commit now."""
        assert self._producer is not None and self._state_producer is not None
        self._finish_checkpoint()  # the one under way covers older offsets: it goes first
        self._begin_checkpoint()
        self._finish_checkpoint()
        self._state_producer.flush()
        offsets = self._acknowledged_offsets()
        if self._committing:
            raise UnacknowledgedSends(f"{len(self._committing)} checkpoints still wait for acknowledgements")
        return offsets

    def _finish_checkpoint(self) -> None:
        """Snapshot every vehicle left in the checkpoint under way, once their outputs are acknowledged."""
        assert self._producer is not None
        for _ in range(3):
            if self._checkpoint is None:
                return
            self._producer.flush()  # every output acknowledged (or failed): no vehicle has to wait
            self._checkpoint_slice(None)
        raise UnacknowledgedSends("outputs still unacknowledged after three flushes; not checkpointing")

    def restore_partitions(self, partitions: Iterable[int]) -> int:
        """Read the latest state checkpoint of every vehicle in these partitions; returns how many there are.

        They are kept as bytes and restored on demand, before a vehicle's first record, or a slice at a time
        between polls: decoding costs ~110 µs a vehicle, so a partition of a national fleet (15,000 vehicles)
        would otherwise hold processing up for seconds after every rebalance (docs/scaling.md).
        """
        reader_id = f"{self.client_id}-restore"
        found = 0
        for message in read_to_end(self.options.bootstrap, topics.DETECTOR_STATE, partitions, client_id=reader_id):
            if message.key is not None and message.value is not None:
                vehicle_id = _own_key(message.key.decode(), self.pipeline.state_key_prefix)
                if vehicle_id is not None:
                    found += vehicle_id not in self._parked
                    self._parked[vehicle_id] = (message.partition, message.value)
        return found

    def _unpark(self, vehicle_id: str) -> None:
        parked = self._parked.pop(vehicle_id, None)
        if parked is not None:
            partition, snapshot = parked
            self.pipeline.restore(vehicle_id, snapshot)
            self._vehicle_partition[vehicle_id] = partition

    def _restore_slice(self, budget: int) -> None:
        """Restore up to `budget` vehicles still parked, so that the rest follow without anyone waiting."""
        for vehicle_id in list(itertools.islice(self._parked, budget)):
            self._unpark(vehicle_id)

    @property
    def consumer(self) -> KafkaConsumer:
        assert self._consumer is not None
        return self._consumer

    def pause(self) -> None:
        """The group is rebalancing: this member stops processing until its partitions are assigned again."""
        self._paused_since = time.monotonic()

    def resume(self, partitions: list[int]) -> None:
        """Partitions assigned and their vehicles restored: log how long the rebalance held this member up."""
        restored = self.restore_partitions(partitions)
        pause_ms = None
        if self._paused_since is not None:
            pause_ms = (time.monotonic() - self._paused_since) * 1000
            self.timings.add("rebalance_pause_ms", pause_ms)
            self._paused_since = None
        log.info(
            "assigned partitions %s of %s; restored state of %d vehicles; processing %s ms after the rebalance began",
            partitions,
            self.options.topic,
            restored,
            "?" if pause_ms is None else f"{pause_ms:.0f}",
        )

    def drop_partitions(self, partitions: Iterable[int]) -> None:
        gone = set(partitions)
        for vehicle_id, (partition, _) in list(self._parked.items()):
            if partition in gone:
                del self._parked[vehicle_id]
        for vehicle_id, partition in list(self._vehicle_partition.items()):
            if partition in gone:
                self.pipeline.forget(vehicle_id)
                del self._vehicle_partition[vehicle_id]
                self._last_arrival.pop(vehicle_id, None)
                self._unacknowledged.pop(vehicle_id, None)
        for tp in [tp for tp in self._partition_event_ms if tp.partition in gone]:
            del self._partition_event_ms[tp]


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
    def advance(self, lateness_ms: int, latest_ms: int | None = None) -> list[Output]: ...
    def held_vehicles(self) -> list[str]: ...
    def snapshot(self, vehicle_id: str) -> bytes | None: ...
    def restore(self, vehicle_id: str, snapshot: bytes) -> None: ...
    def forget(self, vehicle_id: str) -> None: ...


class _Rebalance(AsyncConsumerRebalanceListener):  # type: ignore[misc]  # kafka-python has no type hints
    """Hands partitions over at a rebalance: state checkpointed and offsets committed before they go, state
    restored when they come. Async, because kafka-python runs it on the consumer's own IO thread, where a blocking
    commit is refused: the commit is awaited instead."""

    def __init__(self, detector: LiveDetector) -> None:
        self.detector = detector

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.detector.pause()
        if revoked:
            offsets = self.detector.checkpoint()
            if offsets:
                await self.detector.consumer.commit_async(commit_offsets(offsets))
            self.detector.drop_partitions(tp.partition for tp in revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.detector.resume(sorted(tp.partition for tp in assigned))
