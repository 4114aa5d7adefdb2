"""Retention for the durable embedded broker's own store: lets go of the batches a topic no longer has to keep.

Tansu 0.6's S3 engine ("dynostore") stores each produced batch as an object that nothing ever deletes: its
``maintain`` does nothing on this engine, and it accepts ``retention.ms``, ``retention.bytes`` and
``cleanup.policy`` without applying them. The layout it writes, per cluster (``clusters/<cluster>/``):

- ``meta.json``: the topics with the configs they were created with (and producers, transactions);
- ``topics/<topic>/partitions/<%010d>/records/<%020d>.batch``: one Kafka v2 record batch, named by its base offset;
- ``topics/<topic>/partitions/<%010d>/watermark.json``: ``{"low", "high", "timestamps"}``; Tansu answers ``low``
  as the log start offset in fetch responses (it rereads the object on its next produce to the partition, or
  when its 5-second object cache expires), and an earliest ListOffsets with the oldest batch it lists;
- ``groups/consumers/<group>/offsets/<topic>/partitions/<%010d>.json``: a group's committed offset (``offset``);
- ``groups/consumers/<group>.json``: the group's state, with each member's JoinGroup metadata (``members`` →
  ``join_response`` → ``metadata``, the bytes of Kafka's ConsumerProtocolSubscription: the topics it subscribes to).

A sweep applies the topic's rules as Kafka does (Apache Kafka documentation, "Topic Configs": cleanup.policy,
retention.ms, retention.bytes, min.compaction.lag.ms), a whole batch at a time, with one more rule: a batch some
consumer group that has committed offsets on the topic has not read past is kept, until it has been stored
``hard_limit_ms`` (and at least the topic's retention), so that an abandoned group cannot hold the disk forever.
A group with a member subscribed to the topic that has not committed yet (a detector catching up on a backlog
commits only once its first results are out) has read none of it, and holds it the same way.

- delete (the default policy): from the oldest batch on, while a batch is older than retention.ms or the
  partition is over retention.bytes without it. A batch's age runs from the earlier of its records' newest
  timestamp (as in Kafka) and the time it was stored, so a producer whose clock runs ahead cannot keep it for
  ever. Only a prefix goes, so the log stays contiguous.
- compact: a batch each of whose keys has a newer record in a later batch is deleted (Kafka's cleaner keeps the
  newest record per key; whole batches is all that can go without rewriting Tansu's objects). A batch with a
  record without a key, a control batch, or one that cannot be decoded is kept; tombstones are kept (truckguard
  writes none).
- The newest batch of a partition is always kept: Tansu answers an empty partition's earliest and latest offset
  with 0, which would send a consumer back to the start.

The partition's ``low`` watermark is raised to the first batch kept, and the batches are retired from the store
(ingest/broker_storage.py): out of every listing at once, their files deleted a little later, so a fetch that
listed them just before can still read them. A consumer whose offset was deleted meanwhile is not answered
OFFSET_OUT_OF_RANGE (Tansu 0.6 never answers it): its fetch returns the first batch kept, and it goes on from there.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from ingest.broker_storage import FileObjectStore
from ingest.topics import TOPIC_CONFIGS
from telematics.settings import Settings

log = logging.getLogger(__name__)

RETIRE_GRACE_S = 2.0
"""How long a retired batch stays readable for fetches that listed it: Tansu lists a partition's batches and reads
them at once, within one fetch, which waits at most the client's fetch.max.wait.ms (500 ms by default, 20 ms in
truckguard)."""
BATCH_HEADER = struct.Struct(">qiibIhiqqqhii")
"""A Kafka record batch (magic 2) header: baseOffset, batchLength, partitionLeaderEpoch, magic, crc, attributes,
lastOffsetDelta, baseTimestamp, maxTimestamp, producerId, producerEpoch, baseSequence, recordsCount (Apache Kafka
documentation, "Implementation", section "Record Batch")."""
CONTROL_ATTRIBUTE = 0x20
"""Bit 5 of a batch's attributes: a control batch (transaction markers), which has no keys to compact."""


@dataclass(frozen=True)
class RetentionLimits:
    """The broker-wide rules: the retention of topics without their own, and the hard limit over group offsets."""

    default_retention_ms: int
    hard_limit_ms: int

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionLimits:
        return cls(
            default_retention_ms=round(settings.broker_retention_s * 1000),
            hard_limit_ms=round(settings.broker_retention_hard_limit_s * 1000),
        )


@dataclass(frozen=True)
class TopicRules:
    """What one topic keeps, from its configs (the broker's, else those truckguard creates it with)."""

    delete: bool
    compact: bool
    retention_ms: int
    """-1: no time limit."""
    retention_bytes: int
    """-1: no size limit (per partition, as in Kafka)."""
    min_compaction_lag_ms: int

    @classmethod
    def of(cls, configs: Mapping[str, str], default_retention_ms: int) -> TopicRules:
        policies = {policy.strip() for policy in configs.get("cleanup.policy", "delete").split(",")}
        return cls(
            delete="delete" in policies,
            compact="compact" in policies,
            retention_ms=_integer(configs, "retention.ms", default_retention_ms),
            retention_bytes=_integer(configs, "retention.bytes", -1),
            min_compaction_lag_ms=_integer(configs, "min.compaction.lag.ms", 0),
        )


def _integer(configs: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(configs[name])
    except (KeyError, ValueError):
        return default


@dataclass(frozen=True)
class Batch:
    """One batch object of a partition: what its name and its file say without opening it."""

    key: str
    base_offset: int
    size: int
    stored_ms: int


@dataclass(frozen=True)
class BatchHeader:
    """What retention reads from a batch's header."""

    last_offset: int
    max_timestamp_ms: int
    """-1 when the producer gave no timestamps."""
    control: bool

    def age_ms(self, batch: Batch, now_ms: int) -> int:
        """How old its records are: from the earlier of their newest timestamp and when the batch was stored."""
        written = self.max_timestamp_ms if 0 <= self.max_timestamp_ms < batch.stored_ms else batch.stored_ms
        return now_ms - written


@dataclass
class SweepReport:
    """What one sweep deleted, and where consumer groups held back what retention would have deleted."""

    deleted_batches: int = 0
    deleted_bytes: int = 0
    held_back: dict[str, int] = field(default_factory=dict)
    """Per ``topic/partition``: the offset of the first batch past retention that a group has not read."""


@dataclass(frozen=True)
class _Partition:
    cluster: str
    topic: str
    partition: int

    def folder(self) -> str:
        return f"clusters/{self.cluster}/topics/{self.topic}/partitions/{self.partition:010d}/"


class RetentionSweeper:
    """Applies retention and compaction to the batches of a FileObjectStore that a Tansu broker writes to.

    A sweep reads the headers of the batches it deletes and of the first one it keeps, not of every batch: a week
    of a fleet's telemetry is millions of batches. Compaction reads every batch of its topics once (their keys
    are remembered), which compaction keeps few.
    """

    def __init__(self, store: FileObjectStore, limits: RetentionLimits, *, grace_s: float = RETIRE_GRACE_S) -> None:
        self.store = store
        self.limits = limits
        self.grace_s = grace_s
        self._keys_of: dict[tuple[str, int, int], frozenset[bytes] | None] = {}
        """The record keys of each batch read for compaction (None: keep it), by key, inode and time: batches are
        never rewritten, so each is read once."""

    def run(self, interval_s: float, stop: threading.Event) -> None:
        """Sweep every interval until stopped, deleting retired files once their grace is over.

        A failed sweep is logged and the next one tried: retention must never take the broker's store down.
        """
        next_sweep = time.monotonic()
        while not stop.is_set():
            try:
                self.store.purge_retired()
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + interval_s
                    self._log(self.sweep())
            except Exception:
                log.exception("retention sweep failed; the next one runs in %g s", interval_s)
            wait = next_sweep - time.monotonic()
            if self.store.has_retired():
                wait = min(wait, self.grace_s)
            stop.wait(max(wait, 0.05))

    @staticmethod
    def _log(report: SweepReport) -> None:
        if report.deleted_batches:
            log.info("retention deleted %d batches (%d bytes)", report.deleted_batches, report.deleted_bytes)
        if report.held_back:
            held = ", ".join(f"{where} at offset {offset}" for where, offset in sorted(report.held_back.items()))
            log.warning(
                "retention keeps batches past their topic's retention that a consumer group has not read, until "
                "they have been stored TRUCKGUARD_BROKER_RETENTION_HARD_LIMIT_S: %s",
                held,
            )

    def sweep(self, now_ms: int | None = None) -> SweepReport:
        """One pass over every partition: retires what its topic's rules let go and raises its low watermark."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        report = SweepReport()
        compacted: set[str] = set()
        for cluster in self._folders("clusters"):
            rules_of = self._topic_rules(cluster)
            committed = self._committed_offsets(cluster)
            for topic, rules in rules_of.items():
                for number in self._folders(f"clusters/{cluster}/topics/{topic}/partitions"):
                    if not number.isdigit():
                        continue
                    part = _Partition(cluster, topic, int(number))
                    bound = self._bound(committed.get(topic), part.partition)
                    doomed, kept = self._sweep_partition(part, rules, bound, now_ms, report)
                    if rules.compact:
                        compacted.add(part.folder())
                    if doomed:
                        self._raise_low_watermark(part, kept)
                        self.store.retire([batch.key for batch in doomed], self.grace_s)
                        report.deleted_batches += len(doomed)
                        report.deleted_bytes += sum(batch.size for batch in doomed)
                        log.debug(
                            "retention: %s/%d: %d batches retired, log starts at %d",
                            topic,
                            part.partition,
                            len(doomed),
                            kept,
                        )
        self._keys_of = {
            cached: keys
            for cached, keys in self._keys_of.items()
            if cached[0].rsplit("records/", 1)[0] in compacted and self.store.stat(cached[0])
        }
        return report

    def _sweep_partition(
        self, part: _Partition, rules: TopicRules, bound: int | None, now_ms: int, report: SweepReport
    ) -> tuple[list[Batch], int]:
        """The batches of one partition to delete, and the base offset of the first one kept."""
        batches: Iterable[Batch] = self._batches(part, page=64)
        if rules.compact or rules.retention_bytes >= 0:
            batches = list(self._batches(part))  # compaction and a size limit need every batch; time, the oldest
        doomed = self._expired(part, batches, rules, bound, now_ms, report) if rules.delete else []
        if rules.compact:
            assert isinstance(batches, list)
            remaining = batches[len(doomed) :]
            doomed += self._superseded(remaining, rules, bound, now_ms)
            gone = {batch.key for batch in doomed}
            kept = next((batch.base_offset for batch in remaining if batch.key not in gone), 0)
            return doomed, kept
        first_kept = next(iter(self._batches(part, after=doomed[-1].key, page=1)), None) if doomed else None
        return doomed, first_kept.base_offset if first_kept else 0

    def _expired(
        self,
        part: _Partition,
        batches: Iterable[Batch],
        rules: TopicRules,
        bound: int | None,
        now_ms: int,
        report: SweepReport,
    ) -> list[Batch]:
        """The oldest batches that time or size retention let go, up to the first one that stays."""
        doomed: list[Batch] = []
        remaining = sum(batch.size for batch in batches) if isinstance(batches, list) else 0
        for batch, newest in _marking_the_last(batches):
            if newest:
                break
            header = self._header(batch)
            if header is None:
                break
            too_old = rules.retention_ms >= 0 and header.age_ms(batch, now_ms) > rules.retention_ms
            too_big = rules.retention_bytes >= 0 and remaining - batch.size >= rules.retention_bytes
            if not (too_old or too_big):
                break
            if not self._read_by_every_group(header, batch, bound, rules, now_ms):
                report.held_back[f"{part.topic}/{part.partition}"] = batch.base_offset
                break
            doomed.append(batch)
            remaining -= batch.size
        return doomed

    def _superseded(self, batches: list[Batch], rules: TopicRules, bound: int | None, now_ms: int) -> list[Batch]:
        """The batches each of whose keys has a newer record in a later batch (compaction)."""
        newer: set[bytes] = set()
        doomed: list[Batch] = []
        for batch in reversed(batches):
            header = self._header(batch)
            keys = None if header is None or header.control else self._record_keys(batch)
            if header is None or keys is None:
                continue
            if (
                keys
                and keys <= newer
                and header.age_ms(batch, now_ms) >= rules.min_compaction_lag_ms
                and self._read_by_every_group(header, batch, bound, rules, now_ms)
            ):
                doomed.append(batch)
            newer |= keys
        return doomed[::-1]

    def _read_by_every_group(
        self, header: BatchHeader, batch: Batch, bound: int | None, rules: TopicRules, now_ms: int
    ) -> bool:
        if bound is None or header.last_offset < bound:
            return True
        return now_ms - batch.stored_ms > max(self.limits.hard_limit_ms, rules.retention_ms)

    def _record_keys(self, batch: Batch) -> frozenset[bytes] | None:
        """The keys of a batch's records; None when it must stay (a record without a key, unreadable)."""
        from kafka.record.default_records import DefaultRecordBatch

        stat = self.store.stat(batch.key)
        if stat is None:
            return None
        cached = (batch.key, stat.st_ino, stat.st_mtime_ns)
        if cached not in self._keys_of:
            try:
                keys = [record.key for record in DefaultRecordBatch(self.store.read(batch.key)[0])]
                self._keys_of[cached] = None if any(key is None for key in keys) else frozenset(keys)
            except Exception as exc:  # a codec not installed, a damaged object: compaction leaves it
                log.debug("retention: %s kept, its records cannot be read (%s)", batch.key, exc)
                self._keys_of[cached] = None
        return self._keys_of[cached]

    def _header(self, batch: Batch) -> BatchHeader | None:
        """The batch's header; None if it is not a record batch of magic 2 (then nothing from it on is deleted)."""
        try:
            with open(os.path.join(self.store.root, batch.key), "rb") as handle:  # a key from the listing
                fields = BATCH_HEADER.unpack(handle.read(BATCH_HEADER.size))
        except (OSError, struct.error):
            return None
        magic, attributes, last_offset_delta, max_timestamp = fields[3], fields[5], fields[6], fields[8]
        if magic != 2:
            return None
        return BatchHeader(batch.base_offset + last_offset_delta, max_timestamp, bool(attributes & CONTROL_ATTRIBUTE))

    def _batches(self, part: _Partition, after: str = "", page: int = 1000) -> Iterator[Batch]:
        """The partition's batches in offset order (their names are zero-padded offsets), a page at a time."""
        prefix = part.folder() + "records/"
        for key, stat in self._listing(prefix, after, page):
            name = key[len(prefix) :]
            if name.endswith(".batch") and name[: -len(".batch")].isdigit():
                yield Batch(key, int(name[: -len(".batch")]), stat.st_size, stat.st_mtime_ns // 1_000_000)

    def _topic_rules(self, cluster: str) -> dict[str, TopicRules]:
        key = f"clusters/{cluster}/meta.json"
        try:
            meta = json.loads(self.store.read(key)[0])
        except Exception:
            log.warning("retention: %s cannot be read, its topics are left alone this time", key)
            return {}
        rules: dict[str, TopicRules] = {}
        for name, entry in (meta.get("topics") or {}).items():
            given = {
                config["name"]: config["value"]
                for config in (entry.get("topic") or {}).get("configs") or ()
                if config.get("value") is not None
            }
            # Topics truckguard created before their configs existed get them now; a topic's own ones win.
            configs = {**TOPIC_CONFIGS.get(name, {}), **given}
            rules[name] = TopicRules.of(configs, self.limits.default_retention_ms)
        return rules

    def _committed_offsets(self, cluster: str) -> dict[str, dict[str, dict[int, int]]]:
        """Per topic, each group's committed offset per partition; a group subscribed to the topic that has
        committed none there has read none of it (an empty map)."""
        committed: dict[str, dict[str, dict[int, int]]] = defaultdict(dict)
        prefix = f"clusters/{cluster}/groups/consumers/"
        for key, _stat in self._listing(prefix):
            # <group, which may hold "/">/offsets/<topic>/partitions/<partition>.json, or <group>.json (its state)
            parts = key[len(prefix) :].split("/")
            if len(parts) < 5 or parts[-4] != "offsets" or parts[-2] != "partitions" or not parts[-1].endswith(".json"):
                if key.endswith(".json") and "/offsets/" not in key:
                    for topic in self._subscriptions(key):
                        committed[topic].setdefault(key[len(prefix) : -len(".json")], {})
                continue
            group = "/".join(parts[:-4])
            try:
                partition = int(parts[-1].removesuffix(".json"))
                offset = int(json.loads(self.store.read(key)[0])["offset"])
            except Exception:
                offset, partition = 0, -1  # unreadable: the group counts as having read nothing of the topic
            committed[parts[-3]].setdefault(group, {})[partition] = max(offset, 0)
        return committed

    def _subscriptions(self, key: str) -> set[str]:
        """The topics the members of a group (its state object) subscribe to; none if it cannot be read."""
        try:
            members = json.loads(self.store.read(key)[0]).get("members") or {}
            return {topic for member in members.values()
                    for topic in subscribed_topics(bytes(member["join_response"]["metadata"]))}
        except Exception:
            return set()

    @staticmethod
    def _bound(groups: Mapping[str, dict[int, int]] | None, partition: int) -> int | None:
        """The lowest offset some group has not read in this partition; None when no group reads the topic.

        A group that committed on other partitions of the topic but not this one has read none of it.
        """
        if not groups:
            return None
        return min(offsets.get(partition, 0) for offsets in groups.values())

    def _folders(self, prefix: str) -> list[str]:
        """The names of the key folders right under a prefix, from the file system: a listing with a delimiter
        would walk every key under it (every batch), holding the store's write lock."""
        try:
            return sorted(entry.name for entry in os.scandir(self.store.root / prefix) if entry.is_dir())
        except (FileNotFoundError, NotADirectoryError):
            return []

    def _listing(self, prefix: str, after: str = "", page: int = 1000) -> Iterator[tuple[str, os.stat_result]]:
        start_after = after
        while True:
            objects, _prefixes, more = self.store.list_objects(prefix, None, start_after, page)
            yield from objects
            if more is None or not objects:
                return
            start_after = objects[-1][0]

    def _raise_low_watermark(self, part: _Partition, log_start: int) -> None:
        key = part.folder() + "watermark.json"

        def raised(body: bytes) -> bytes | None:
            watermark = json.loads(body)
            if not isinstance(watermark, dict) or (watermark.get("low") or 0) >= log_start:
                return None
            watermark["low"] = log_start
            return json.dumps(watermark, separators=(",", ":")).encode()

        try:
            self.store.update(key, raised)
        except ValueError:
            log.warning("retention: %s is not JSON; the log start offset Tansu reports stays as it was", key)


SUBSCRIPTION_HEAD = struct.Struct(">hi")
"""ConsumerProtocolSubscription (every version) opens with its version (int16) and the number of topics (int32),
each topic a string (int16 length, UTF-8) (Apache Kafka, ConsumerProtocolSubscription.json)."""


def subscribed_topics(metadata: bytes) -> list[str]:
    """The topics of a consumer's JoinGroup metadata; ValueError when the bytes are not that."""
    try:
        _version, count = SUBSCRIPTION_HEAD.unpack_from(metadata, 0)
        at, topics = SUBSCRIPTION_HEAD.size, []
        for _ in range(count):
            (length,) = struct.unpack_from(">h", metadata, at)
            at += 2
            if length < 0 or at + length > len(metadata):
                raise ValueError("topic name runs past the end")
            topics.append(metadata[at : at + length].decode())
            at += length
        return topics
    except (struct.error, UnicodeDecodeError) as exc:
        raise ValueError(f"not a consumer subscription: {exc}") from None


def _marking_the_last(batches: Iterable[Batch]) -> Iterator[tuple[Batch, bool]]:
    """Each batch with whether it is the newest (the last one)."""
    iterator = iter(batches)
    previous = next(iterator, None)
    for batch in iterator:
        assert previous is not None
        yield previous, False
        previous = batch
    if previous is not None:
        yield previous, True
