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
from confluent_kafka import TIMESTAMP_CREATE_TIME, KafkaError, KafkaException, TopicPartition

from anomaly.config import EngineConfig
from anomaly.engine import Output
from ingest import topics
from ingest.deadletter import deadletter_value
from ingest.kafka_clients import (
    FETCH_MAX_WAIT_MS,
    AckedProducer,
    Delivery,
    UnacknowledgedSends,
    librdkafka_consumer,
    librdkafka_producer,
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

POLL_RECORDS = 500
"""Records taken from the consumer per loop turn at most."""

COMMIT_REFUSED_AT_REBALANCE = frozenset(
    {KafkaError.REBALANCE_IN_PROGRESS, KafkaError.ILLEGAL_GENERATION, KafkaError.UNKNOWN_MEMBER_ID}
)
"""A commit refused because the group is rebalancing: the partitions' new owner restores the checkpoint just
sent and reads the uncommitted records again, which it recognises as duplicates."""

CHECKPOINT_SLICE = 100
"""Vehicles snapshotted per loop turn while a checkpoint is under way: ~50 µs each (encode and send), so a slice
holds the records behind it for about 5 ms instead of a whole fleet's worth at once (20,000 vehicles: ~1 s)."""


class _Checkpoint:
    """A checkpoint under way: the offsets it commits, the vehicles still to snapshot, the sends it waits for."""

    __slots__ = ("futures", "offsets", "started", "to_snapshot")

    def __init__(self, offsets: dict[int, int], to_snapshot: list[str], futures: list[Delivery]) -> None:
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
        self._next_offsets: dict[int, int] = {}
        """Per partition of the topic, the offset after the last record handled since the last checkpoint began."""
        self._read_to: dict[int, int] = {}
        """Per partition held, the offset of the next record to handle: where this instance has read to."""
        self._dirty: set[str] = set()
        self._vehicle_partition: dict[str, int] = {}
        self._partition_event_ms: dict[int, int] = {}
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
        self._consumer: Any = None
        """The librdkafka group consumer (confluent_kafka.Consumer)."""
        self._stopping = False
        """The loop has ended: a revocation while the consumer closes commits nothing more."""

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
        consumer = self._consumer = librdkafka_consumer(
            options.bootstrap, options.group_id, self.client_id, fetch_max_wait_ms=options.fetch_max_wait_ms
        )
        self.pause()
        consumer.subscribe([options.topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)
        last_checkpoint = last_idle_check = last_reference_check = last_stats = time.monotonic()
        timings = self.timings
        try:
            while not stop.is_set():
                # While a checkpoint has vehicles to snapshot, or saved states wait to be restored, poll without
                # waiting; unless the last slice found every vehicle waiting for acknowledgements: then a short wait.
                snapshotting = self._checkpoint is not None and bool(self._checkpoint.to_snapshot) and self._sliced
                busy = snapshotting or bool(self._parked)
                messages = self._take(0 if busy else (0.02 if self._checkpoint is not None else 0.2))
                polled_ms = time.time() * 1000
                if ready is not None and not ready.is_set() and consumer.assignment():
                    ready.set()
                for message in messages:
                    if message.error() is not None:
                        _consumer_error(message.error())
                        continue
                    timestamp_type, timestamp = message.timestamp()
                    if timestamp_type == TIMESTAMP_CREATE_TIME:  # the producer's clock, on this machine in benches
                        timings.add("fetch_ms", polled_ms - timestamp)
                    timings.add("in_batch_ms", time.time() * 1000 - polled_ms)
                    self._handle(message)
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
            self._stopping = True
            consumer.close()
            self._producer.close()
            self._state_producer.close()

    def _take(self, wait_s: float) -> list[Any]:
        """The messages ready now, up to POLL_RECORDS; when there are none, wait up to wait_s for the first.

        librdkafka's batch call waits for a full batch or the whole timeout, so at 2,000 records/s a record would sit
        out most of the wait: the loop takes what is ready, and waits only for one message when nothing is."""
        consumer = self._consumer
        messages: list[Any] = consumer.consume(POLL_RECORDS, 0)
        if not messages and wait_s > 0:
            first = consumer.poll(wait_s)
            if first is not None:
                messages = [first, *consumer.consume(POLL_RECORDS - 1, 0)]
        return messages

    def _log_stats(self) -> None:
        log.info("detector %s: %s", self.client_id, self.pipeline.counts.as_dict())
        log.info("loop timings %s: %s", self.options.topic, orjson.dumps(self.timings.summary()).decode())

    def _handle(self, message: Any) -> None:
        key: bytes | None = message.key()
        value: bytes | None = message.value()
        partition: int = message.partition()
        offset: int = message.offset()
        if self._parked and key is not None:
            # A vehicle's state is restored before its first record (the contract keys records by vehicle_id).
            self._unpark(key.decode("utf-8", errors="replace"))
        result = self.pipeline.feed(value if value is not None else b"")
        if result.rejection is not None:
            self._send(
                topics.DEADLETTER,
                key,
                deadletter_value(message.topic(), partition, offset, result.rejection, value),
            )
        self._emit(result.outputs)
        if result.vehicle_id is not None:
            self._dirty.add(result.vehicle_id)
            self._vehicle_partition[result.vehicle_id] = partition
            self._last_arrival[result.vehicle_id] = time.monotonic()
        self._next_offsets[partition] = self._read_to[partition] = offset + 1
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
        for partition, position in self._read_to.items():
            # The end as of librdkafka's latest fetch of the partition; unknown (negative) before its first.
            _, end = consumer.get_watermark_offsets(TopicPartition(self.options.topic, partition), cached=True)
            if 0 <= position < end:
                behind.append(self._partition_event_ms.get(partition, -1))
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

    def _acknowledged_offsets(self) -> dict[int, int]:
        """The offsets of every finished checkpoint whose sends are all acknowledged, taken in order (later ones
        supersede earlier ones of the same partition)."""
        offsets: dict[int, int] = {}
        while self._committing and all(f.is_done for f in self._committing[0].futures):
            checkpoint = self._committing.popleft()
            raise_unacknowledged(checkpoint.futures)
            offsets.update(checkpoint.offsets)
            self.timings.add("checkpoint_lag_ms", (time.monotonic() - checkpoint.started) * 1000)
        return offsets

    def _commit(self, offsets: dict[int, int]) -> None:
        """Commit these next-offsets of the topic's partitions, and wait for the group coordinator's answer."""
        assert self._consumer is not None
        if not offsets:
            return
        started = time.monotonic()
        topic = self.options.topic
        try:
            answers = self._consumer.commit(
                offsets=[TopicPartition(topic, partition, offset) for partition, offset in offsets.items()],
                asynchronous=False,
            )
            errors = [answer.error for answer in answers or () if answer.error is not None]
        except KafkaException as exc:
            errors = [exc.args[0]]
        if errors:
            if any(error.code() not in COMMIT_REFUSED_AT_REBALANCE for error in errors):
                raise UnacknowledgedSends(f"the group coordinator refused {len(errors)} commits (first: {errors[0]})")
            log.warning("commit refused in a rebalance (%s); the next owner reads those records again", errors[0])
            return
        self.timings.add("commit_ms", (time.monotonic() - started) * 1000)

    def checkpoint(self) -> dict[int, int]:
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

    # -- the group's rebalances: served inside consume, on the loop's own thread ------------------------------
    def _on_revoke(self, _consumer: Any, revoked: list[TopicPartition]) -> None:
        """Partitions about to go to another member: checkpoint their state and commit their offsets first."""
        self.pause()
        if revoked and not self._stopping:
            self._commit(self.checkpoint())
        self.drop_partitions(tp.partition for tp in revoked)

    def _on_lost(self, _consumer: Any, lost: list[TopicPartition]) -> None:
        """Partitions already given to another member (this one missed its session): nothing can be committed for
        them; their new owner restores the last checkpoint and reads on from the last commit."""
        self.pause()
        self.drop_partitions(tp.partition for tp in lost)

    def _on_assign(self, consumer: Any, assigned: list[TopicPartition]) -> None:
        """Partitions taken over: learn where reading starts, then restore their vehicles' saved state."""
        for tp in consumer.committed(assigned, timeout=10):
            start = tp.offset
            if start < 0:  # nothing committed yet: the earliest record still kept
                start, _ = consumer.get_watermark_offsets(tp, timeout=10)
            self._read_to[tp.partition] = start
        self.resume(sorted(tp.partition for tp in assigned))

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
        for partition in gone:
            self._partition_event_ms.pop(partition, None)
            self._read_to.pop(partition, None)
            self._next_offsets.pop(partition, None)


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


def _consumer_error(error: KafkaError) -> None:
    """An error librdkafka hands the loop in place of a message: fatal ones end it; the rest (a broker gone for a
    moment, a partition's leader moving) librdkafka recovers from by itself, so they are logged."""
    if error.fatal():
        raise KafkaException(error)
    log.warning("consumer: %s", error)
