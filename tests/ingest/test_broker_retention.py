"""Retention of the durable broker's store: what a sweep deletes and keeps, on objects laid out as Tansu lays them."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.structs import OffsetAndMetadata

from ingest.broker import DURABLE_BUCKET_URL, BrokerStorage, EmbeddedBroker, free_port, port_open
from ingest.broker_retention import RetentionLimits, RetentionSweeper
from ingest.broker_storage import FileObjectStore
from ingest.kafka_clients import read_to_end
from telematics.settings import SettingsError, load_settings

CLUSTER = "clusters/tansu_cluster"
HOUR_MS = 3600 * 1000
DAY_MS = 24 * HOUR_MS
NOW_MS = int(time.time() * 1000)
LIMITS = RetentionLimits(default_retention_ms=HOUR_MS, hard_limit_ms=DAY_MS)
LZ4 = 3
"""The record batch attribute of the lz4 codec, which the detectors' state checkpoints use."""


def _meta(store: FileObjectStore, topics: dict[str, dict[str, str]]) -> None:
    body = {
        "producers": {},
        "transactions": {},
        "topics": {
            name: {
                "id": "01a250f3-836b-7cd0-a73a-d83aec34bb28",
                "topic": {
                    "name": name,
                    "num_partitions": 2,
                    "replication_factor": 1,
                    "assignments": [],
                    "configs": [{"name": key, "value": value} for key, value in configs.items()],
                },
            }
            for name, configs in topics.items()
        },
    }
    store.write(f"{CLUSTER}/meta.json", json.dumps(body).encode(), if_match=None, if_none_match=None)


def _batch(
    store: FileObjectStore,
    topic: str,
    base_offset: int,
    records: Sequence[tuple[bytes | None, int]],
    *,
    stored_ms: int,
    partition: int = 0,
    compression: int = 0,
) -> str:
    """A batch of (key, timestamp) records as Tansu stores it (base offset 0 inside, the real one in the name)."""
    builder = DefaultRecordBatchBuilder(2, compression, False, -1, -1, -1, 1 << 20)
    for delta, (key, timestamp) in enumerate(records):
        builder.append(delta, timestamp, key, b"value of " + (key or b"none") * 20, [])
    key = f"{CLUSTER}/topics/{topic}/partitions/{partition:010d}/records/{base_offset:020d}.batch"
    store.write(key, bytes(builder.build()), if_match=None, if_none_match="*")
    os.utime(store.path(key), ns=(stored_ms * 1_000_000, stored_ms * 1_000_000))
    watermark = f"{CLUSTER}/topics/{topic}/partitions/{partition:010d}/watermark.json"
    high = json.dumps({"low": None, "high": base_offset + len(records), "timestamps": None}).encode()
    store.write(watermark, high, if_match=None, if_none_match=None)
    return key


def _reopened(root: Path) -> FileObjectStore:
    """The store over the same folder: it lists the batches with the times _batch gave their files."""
    return FileObjectStore(root, sync=False)


def _commit(store: FileObjectStore, group: str, topic: str, partition: int, offset: int) -> None:
    key = f"{CLUSTER}/groups/consumers/{group}/offsets/{topic}/partitions/{partition:010d}.json"
    body = json.dumps({"offset": offset, "leader_epoch": -1, "timestamp": None, "metadata": ""}).encode()
    store.write(key, body, if_match=None, if_none_match=None)


def _listed(store: FileObjectStore, topic: str, partition: int = 0) -> list[int]:
    prefix = f"{CLUSTER}/topics/{topic}/partitions/{partition:010d}/records/"
    objects, _, _ = store.list_objects(prefix, None, "", 1000)
    return [int(key.rsplit("/", 1)[1].removesuffix(".batch")) for key, _ in objects]


def _low(store: FileObjectStore, topic: str, partition: int = 0) -> int | None:
    body, _ = store.read(f"{CLUSTER}/topics/{topic}/partitions/{partition:010d}/watermark.json")
    low: int | None = json.loads(body)["low"]
    return low


def _ten(first_key: int, timestamp: int) -> list[tuple[bytes | None, int]]:
    return [(f"V-{first_key + n}".encode(), timestamp) for n in range(10)]


def test_old_batches_every_group_has_read_go_and_the_first_unread_one_holds_the_rest(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path, sync=False)
    _meta(store, {"t": {}})
    stored = NOW_MS - 3 * HOUR_MS
    for base, age_ms in ((0, 3 * HOUR_MS), (10, 3 * HOUR_MS), (20, 2 * HOUR_MS), (30, 2 * HOUR_MS), (40, 60_000)):
        _batch(store, "t", base, _ten(base, NOW_MS - age_ms), stored_ms=max(stored, NOW_MS - age_ms))
    _commit(store, "detector", "t", 0, 25)  # half-way through the batch at 20
    _commit(store, "web-store", "t", 0, 45)
    store = _reopened(tmp_path)  # the batches' stored times as files, as after a restart
    sweeper = RetentionSweeper(store, LIMITS, grace_s=0)

    report = sweeper.sweep(NOW_MS)

    # 0-9 and 10-19 are older than the hour and both groups have read them; 20-29 is old but the detector is in it.
    assert _listed(store, "t") == [20, 30, 40]
    assert (report.deleted_batches, report.held_back) == (2, {"t/0": 20})
    assert report.deleted_bytes > 0
    assert _low(store, "t") == 20
    files = sorted(os.listdir(store.root / "clusters/tansu_cluster/topics/t/partitions/0000000000/records"))
    assert len(files) == 5  # retired, out of listings, still readable until the grace is over
    assert store.read(f"{CLUSTER}/topics/t/partitions/0000000000/records/{0:020d}.batch")[0]
    assert store.purge_retired() == (2, report.deleted_bytes)
    assert len(os.listdir(store.root / "clusters/tansu_cluster/topics/t/partitions/0000000000/records")) == 3

    _commit(store, "detector", "t", 0, 45)
    report = sweeper.sweep(NOW_MS)
    assert _listed(store, "t") == [40]  # the recent batch stays
    assert report.held_back == {}
    assert _low(store, "t") == 40


def test_a_group_that_has_not_read_a_partition_keeps_it_until_the_hard_limit(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path, sync=False)
    _meta(store, {"t": {}, "unread": {}})
    for partition in (0, 1):
        for base in (0, 10, 20):
            _batch(
                store, "t", base, _ten(base, NOW_MS - 5 * HOUR_MS), stored_ms=NOW_MS - 5 * HOUR_MS, partition=partition
            )
    for base in (0, 10, 20):  # nobody commits on this topic: time alone decides
        _batch(store, "unread", base, _ten(base, NOW_MS - 5 * HOUR_MS), stored_ms=NOW_MS - 5 * HOUR_MS)
    _commit(store, "detector", "t", 0, 30)  # it has read partition 0 only
    store = _reopened(tmp_path)  # the batches' stored times as files, as after a restart
    sweeper = RetentionSweeper(store, LIMITS, grace_s=0)

    assert sweeper.sweep(NOW_MS).held_back == {"t/1": 0}
    assert _listed(store, "t", 0) == [20]
    assert _listed(store, "t", 1) == [0, 10, 20]
    assert _listed(store, "unread") == [20]
    # Stored longer than the hard limit, the batches go even though the group has not read them.
    assert sweeper.sweep(NOW_MS + DAY_MS).deleted_batches == 2
    assert _listed(store, "t", 1) == [20]


TANSU_MEMBER_SUBSCRIBED_TO_T = [0, 0, 0, 0, 0, 1, 0, 1, 116, 0, 0, 0, 0]
"""A kafka-python member's JoinGroup metadata for topic "t", as Tansu 0.6 kept it in a group's state object."""


def _group_state(store: FileObjectStore, group: str, topics_metadata: list[list[int]]) -> None:
    """A group's state object as Tansu 0.6 writes it (taken from a real one): a member per metadata, not yet formed."""
    members = {
        f"kafka-python-3.0.12-{n}": {
            "join_response": {"member_id": f"kafka-python-3.0.12-{n}", "group_instance_id": None, "metadata": metadata},
            "last_contact": {"secs_since_epoch": NOW_MS // 1000, "nanos_since_epoch": 0},
        }
        for n, metadata in enumerate(topics_metadata)
    }
    body = {"session_timeout_ms": 45000, "rebalance_timeout_ms": 300000, "members": members, "generation_id": 0,
            "skip_assignment": False, "inception": {"secs_since_epoch": NOW_MS // 1000, "nanos_since_epoch": 0},
            "state": {"Forming": {"protocol_type": "consumer", "protocol_name": "range", "leader": None}}}
    store.write(f"{CLUSTER}/groups/consumers/{group}.json", json.dumps(body).encode(), if_match=None,
                if_none_match=None)


def test_a_group_subscribed_but_not_yet_committed_keeps_what_it_has_not_read(tmp_path: Path) -> None:
    # A detector catching up on a backlog commits only once its first results are out: until then the broker knows
    # it only as a member subscribed to the topic, and what it has not read must not go.
    store = FileObjectStore(tmp_path, sync=False)
    _meta(store, {"t": {}, "other": {}})
    for base in (0, 10, 20):
        _batch(store, "t", base, _ten(base, NOW_MS - 5 * HOUR_MS), stored_ms=NOW_MS - 5 * HOUR_MS)
        _batch(store, "other", base, _ten(base, NOW_MS - 5 * HOUR_MS), stored_ms=NOW_MS - 5 * HOUR_MS)
    _group_state(store, "truckguard-detector", [TANSU_MEMBER_SUBSCRIBED_TO_T])
    _group_state(store, "left", [])  # every member gone: it holds nothing
    _group_state(store, "garbled", [[1, 2, 3]])  # metadata that is no subscription: it holds nothing
    store = _reopened(tmp_path)
    sweeper = RetentionSweeper(store, LIMITS, grace_s=0)

    assert sweeper.sweep(NOW_MS).held_back == {"t/0": 0}
    assert _listed(store, "t") == [0, 10, 20]
    assert _listed(store, "other") == [20]  # a topic it does not read goes by time alone
    # Once it commits, it holds only what it has not read; and never past the hard limit.
    _commit(store, "truckguard-detector", "t", 0, 10)
    sweeper.sweep(NOW_MS)
    assert _listed(store, "t") == [10, 20]
    sweeper.sweep(NOW_MS + DAY_MS)
    assert _listed(store, "t") == [20]


def test_a_members_subscription_is_read_from_its_join_metadata() -> None:
    from ingest.broker_retention import subscribed_topics

    assert subscribed_topics(bytes(TANSU_MEMBER_SUBSCRIBED_TO_T)) == ["t"]
    two = bytes([0, 1, 0, 0, 0, 2, 0, 3, *b"abc", 0, 2, *b"de", 255, 255, 255, 255])  # version 1, user data null
    assert subscribed_topics(two) == ["abc", "de"]
    for garbage in (b"", b"\x00\x00\x00\x00\x00\x02\x00\x09abc", bytes([1, 2, 3])):
        with pytest.raises(ValueError):
            subscribed_topics(garbage)


def test_the_newest_batch_stays_and_a_topic_s_own_retention_wins(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path, sync=False)
    old = NOW_MS - 10 * DAY_MS
    _meta(
        store,
        {
            "lonely": {},
            "kept-long": {"retention.ms": str(30 * DAY_MS)},
            "by-size": {"retention.ms": "-1"},
            "truckguard.alerts.v1": {},  # created before truckguard gave it a retention: it gets its 30 days
        },
    )
    _batch(store, "lonely", 0, _ten(0, old), stored_ms=old)
    sizes: dict[tuple[str, int], int] = {}
    for topic in ("kept-long", "by-size", "truckguard.alerts.v1"):
        for base in (0, 10, 20, 30):
            key = _batch(store, topic, base, _ten(base, old), stored_ms=old)
            sizes[(topic, base)] = store.path(key).stat().st_size
    store = _reopened(tmp_path)  # the batches' stored times as files, as after a restart
    sweeper = RetentionSweeper(store, LIMITS, grace_s=0)
    sweeper.sweep(NOW_MS)
    assert _listed(store, "lonely") == [0]
    assert _listed(store, "kept-long") == [0, 10, 20, 30]
    assert _listed(store, "by-size") == [0, 10, 20, 30]
    assert _listed(store, "truckguard.alerts.v1") == [0, 10, 20, 30]

    newest_two = sizes[("by-size", 20)] + sizes[("by-size", 30)]
    _meta(store, {"by-size": {"retention.ms": "-1", "retention.bytes": str(newest_two)}})
    sweeper.sweep(NOW_MS)
    assert _listed(store, "by-size") == [20, 30]  # the two newest fit in retention.bytes


def test_a_producer_clock_ahead_does_not_keep_a_batch_for_ever(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path, sync=False)
    _meta(store, {"t": {}})
    _batch(store, "t", 0, _ten(0, NOW_MS + 365 * DAY_MS), stored_ms=NOW_MS - 2 * HOUR_MS)
    _batch(store, "t", 10, _ten(10, NOW_MS - 2 * HOUR_MS), stored_ms=NOW_MS)  # stamped two hours ago: old
    _batch(store, "t", 20, _ten(20, NOW_MS), stored_ms=NOW_MS)
    store = _reopened(tmp_path)
    RetentionSweeper(store, LIMITS, grace_s=0).sweep(NOW_MS)
    assert _listed(store, "t") == [20]


def test_compaction_drops_batches_whose_every_key_has_a_newer_record(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path, sync=False)
    _meta(store, {"state": {"cleanup.policy": "compact"}})
    old = NOW_MS - 90 * DAY_MS  # far past any retention: compaction alone decides
    batches: list[list[tuple[bytes | None, int]]] = [
        [(b"A", old), (b"B", old)],  # 0-1: A and B are both newer below
        [(b"A", old)],  # 2: the newest A
        [(b"B", old), (b"C", old)],  # 3-4: the newest B
        [(None, old), (b"C", old)],  # 5-6: a record without a key: kept
        [(b"C", old), (b"D", old)],  # 7-8: the newest C
        [(b"D", old)],  # 9: the newest D
    ]
    base = 0
    for records in batches:
        _batch(store, "state", base, records, stored_ms=old, compression=LZ4)
        base += len(records)
    store = _reopened(tmp_path)  # the batches' stored times as files, as after a restart
    sweeper = RetentionSweeper(store, LIMITS, grace_s=0)

    report = sweeper.sweep(NOW_MS)

    assert _listed(store, "state") == [2, 3, 5, 7, 9]
    assert report.deleted_batches == 1
    assert _low(store, "state") == 2
    _batch(store, "state", 10, [(b"A", NOW_MS), (b"B", NOW_MS), (b"C", NOW_MS)], stored_ms=NOW_MS, compression=LZ4)
    sweeper.sweep(NOW_MS)
    assert _listed(store, "state") == [5, 9, 10]


def test_compaction_waits_for_groups_and_min_compaction_lag(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path, sync=False)
    _meta(store, {"state": {"cleanup.policy": "compact", "min.compaction.lag.ms": str(HOUR_MS)}})
    for base, stored in ((0, NOW_MS - 2 * HOUR_MS), (1, NOW_MS - 2 * HOUR_MS), (2, NOW_MS - 60_000), (3, NOW_MS)):
        _batch(store, "state", base, [(b"A", stored)], stored_ms=stored)
    _commit(store, "reader", "state", 0, 1)
    store = _reopened(tmp_path)  # the batches' stored times as files, as after a restart
    sweeper = RetentionSweeper(store, LIMITS, grace_s=0)
    sweeper.sweep(NOW_MS)
    assert _listed(store, "state") == [1, 2, 3]  # 1 is unread by the group; 2 is younger than the lag
    _commit(store, "reader", "state", 0, 4)
    sweeper.sweep(NOW_MS)
    assert _listed(store, "state") == [2, 3]


def test_a_retired_object_written_again_stays(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path, sync=False)
    store.write("topics/t/records/1.batch", b"old", if_match=None, if_none_match="*")
    store.retire(["topics/t/records/1.batch"], grace_s=0)
    assert store.list_objects("topics/", None, "", 10)[0] == []
    # A topic deleted and created again writes the same key: it is new, and the purge leaves it.
    store.write("topics/t/records/1.batch", b"new", if_match=None, if_none_match="*")
    assert store.purge_retired() == (0, 0)
    assert [key for key, _ in store.list_objects("topics/", None, "", 10)[0]] == ["topics/t/records/1.batch"]
    assert store.read("topics/t/records/1.batch")[0] == b"new"


def test_retiring_runs_of_keys_leaves_the_others_listed_in_order(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path, sync=False)
    for name in "abcdefghij":
        store.write(f"k/{name}", name.encode(), if_match=None, if_none_match=None)
    store.retire(["k/j", "k/b", "k/i", "k/c", "k/e", "k/h", "k/missing"], grace_s=0)
    assert [key for key, _ in store.list_objects("k/", None, "", 100)[0]] == ["k/a", "k/d", "k/f", "k/g"]
    assert store.has_retired()
    assert store.purge_retired(chunk=2) == (6, 6)
    assert sorted(os.listdir(store.root / "k")) == ["a", "d", "f", "g"]
    assert not store.has_retired()


def test_retention_settings_have_defaults_and_refuse_nonsense() -> None:
    settings = load_settings({})
    limits = RetentionLimits.from_settings(settings)
    assert (limits.default_retention_ms, limits.hard_limit_ms) == (7 * DAY_MS, 30 * DAY_MS)
    assert settings.broker_retention_sweep_s == 300
    assert load_settings({"TRUCKGUARD_BROKER_RETENTION_SWEEP_S": "0"}).broker_retention_sweep_s == 0
    for variable, value in (
        ("TRUCKGUARD_BROKER_RETENTION_S", "0"),
        ("TRUCKGUARD_BROKER_RETENTION_HARD_LIMIT_S", "-5"),
        ("TRUCKGUARD_BROKER_RETENTION_SWEEP_S", "-1"),
        ("TRUCKGUARD_BROKER_RETENTION_S", "a week"),
    ):
        with pytest.raises(SettingsError, match=variable):
            load_settings({variable: value})


def _records_on_disk(folder: Path, topic: str) -> tuple[int, int]:
    """How many batch files a topic has in the durable broker's folder, and their bytes."""
    files = list((folder / "objects" / CLUSTER / "topics" / topic).glob("partitions/*/records/*.batch"))
    return len(files), sum(file.stat().st_size for file in files)


def _first_offsets_on_disk(folder: Path, topic: str) -> list[int]:
    """The base offset of each partition's oldest batch file still on disk (batch files are named by it)."""
    partitions = sorted((folder / "objects" / CLUSTER / "topics" / topic / "partitions").iterdir())
    return [min(int(file.stem) for file in (partition / "records").glob("*.batch")) for partition in partitions]


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        time.sleep(0.1)


def _read(consumer: KafkaConsumer, until: Callable[[dict[int, list[int]]], bool]) -> dict[int, list[int]]:
    """Offsets read per partition, polling until ``until`` holds (or 20 s)."""
    got: dict[int, list[int]] = {0: [], 1: []}
    deadline = time.monotonic() + 20
    while not until(got) and time.monotonic() < deadline:
        for tp, messages in consumer.poll(timeout_ms=200).items():
            got[tp.partition].extend(message.offset for message in messages)
    return got


@pytest.mark.slow
def test_the_durable_broker_deletes_what_retention_lets_go_and_its_consumers_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUCKGUARD_BROKER_RETENTION_S", "2")  # topics without a retention.ms of their own
    monkeypatch.setenv("TRUCKGUARD_BROKER_RETENTION_SWEEP_S", "0.3")
    folder = tmp_path / "broker-storage"
    broker = EmbeddedBroker(
        free_port(), log_path=tmp_path / "broker.log", storage=BrokerStorage(DURABLE_BUCKET_URL, folder, sync=False)
    )
    broker.start()
    try:
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        admin.create_topics(
            [
                NewTopic("retained", 2, 1),
                NewTopic("kept", 1, 1, topic_configs={"retention.ms": str(HOUR_MS)}),
                NewTopic("compacted", 1, 1, topic_configs={"cleanup.policy": "compact"}),
            ]
        )
        admin.close()
        parts = [TopicPartition("retained", 0), TopicPartition("retained", 1)]
        group = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="reader", enable_auto_commit=False)
        group.assign(parts)
        group.commit({tp: OffsetAndMetadata(0, "", -1) for tp in parts})  # a group that has read nothing yet

        # Batches go out only at each flush (a linger longer than the test), so each flush is exactly one batch per
        # partition: with a 1 ms linger a busy machine's sender thread could take a batch mid-loop and split it.
        producer = KafkaProducer(
            bootstrap_servers=broker.bootstrap, acks="all", linger_ms=60_000, compression_type="lz4"
        )
        an_hour_ago = int(time.time() * 1000) - HOUR_MS
        for _ in range(15):  # 15 batches of 10 per partition, each flush one batch per partition
            for tp in parts:
                for n in range(10):
                    producer.send(
                        "retained",
                        f"{tp.partition}".encode(),
                        partition=tp.partition,
                        key=f"V-{n}".encode(),
                        timestamp_ms=an_hour_ago,
                    )
            for n in range(10):
                producer.send("kept", b"kept", key=f"V-{n}".encode(), timestamp_ms=an_hour_ago + 50 * 60_000)
                producer.send("compacted", f"state {_}".encode(), key=f"V-{n % 5}".encode(), timestamp_ms=an_hour_ago)
            producer.flush()
        before = _records_on_disk(folder, "retained")
        assert before[0] == 30
        time.sleep(1.5)  # several sweeps: everything is past the 2 s retention, but the group has read none of it
        assert _records_on_disk(folder, "retained") == before

        group.seek_to_beginning(*parts)
        read = _read(group, lambda got: len(got[0]) >= 150 and len(got[1]) >= 150)
        assert read == {0: list(range(150)), 1: list(range(150))}
        group.commit({parts[0]: OffsetAndMetadata(100, "", -1), parts[1]: OffsetAndMetadata(55, "", -1)})
        group.close()

        # Batches wholly read go: 0-99 of partition 0, 0-49 of partition 1 (50-59 is read only half-way).
        _wait_for(lambda: _records_on_disk(folder, "retained")[0] == 5 + 10, "the read batches deleted from disk")
        after = _records_on_disk(folder, "retained")
        print(f"retained: {before[0]} batches, {before[1]} bytes before; {after[0]}, {after[1]} after")
        assert after[1] < before[1] * 15 / 30 + 100
        watermark = folder / "objects" / CLUSTER / "topics/retained/partitions/0000000000/watermark.json"
        assert json.loads(watermark.read_text())["low"] == 100
        assert _records_on_disk(folder, "kept")[0] == 15  # its own retention (an hour) is not over
        assert _records_on_disk(folder, "compacted")[0] == 1  # the last batch has the newest of every key

        # A reader from the earliest offset starts where the log now starts and gets every record kept.
        everything = list(read_to_end(broker.bootstrap, "retained"))
        assert sorted((m.partition, m.offset) for m in everything) == [(0, n) for n in range(100, 150)] + [
            (1, n) for n in range(50, 150)
        ]
        reader = KafkaConsumer(bootstrap_servers=broker.bootstrap, enable_auto_commit=False)
        assert reader.beginning_offsets(parts) == {parts[0]: 100, parts[1]: 50}
        # One asking for a deleted offset gets the first record kept (Tansu answers no OFFSET_OUT_OF_RANGE).
        reader.assign(parts[:1])
        reader.seek(parts[0], 20)
        assert _read(reader, lambda got: bool(got[0]))[0][0] == 100
        reader.close()
        assert {m.value for m in read_to_end(broker.bootstrap, "compacted")} == {b"state 14"}
        assert len(list(read_to_end(broker.bootstrap, "kept"))) == 150
        # An operator shortens a topic's retention with any Kafka admin tool: the next sweeps apply it.
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, "kept", configs={"retention.ms": "1000"})])
        admin.close()
        _wait_for(lambda: _records_on_disk(folder, "kept")[0] == 1, "the altered retention applied")

        # The group goes on where it committed, through the records produced since.
        for n in range(10):
            producer.send("retained", b"new", partition=n % 2, key=b"V-0")
        producer.flush()
        group = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="reader", enable_auto_commit=False)
        group.assign(parts)
        read = _read(group, lambda got: len(got[0]) >= 55 and len(got[1]) >= 100)
        assert read == {0: list(range(100, 155)), 1: list(range(55, 155))}
        group.commit({tp: OffsetAndMetadata(150, "", -1) for tp in parts})
        group.close()
        # Everything the group has read past goes; what it has not (150 on) stays, in however many batches the
        # producer sent it.
        _wait_for(lambda: _first_offsets_on_disk(folder, "retained") == [150, 150], "every old batch deleted")

        producer.close()
        broker.stop()
        _wait_for(lambda: not port_open("127.0.0.1", broker.port), "the broker stopped")
        broker.start()  # the same folder: the broker and its consumers are as before the restart
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=1)
        producer.send("retained", b"after restart", partition=0, key=b"V-0")
        producer.flush()
        producer.close()
        group = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="reader", enable_auto_commit=False)
        group.assign(parts)
        read = _read(group, lambda got: len(got[0]) >= 6 and len(got[1]) >= 5)
        assert read == {0: list(range(150, 156)), 1: list(range(150, 155))}
        group.close()
        assert [m.offset for m in read_to_end(broker.bootstrap, "retained", [0])] == list(range(150, 156))
    finally:
        broker.stop()


def test_on_the_durable_broker_a_consumer_that_joined_and_has_not_committed_holds_the_topic(tmp_path: Path) -> None:
    folder = tmp_path / "broker-storage"
    broker = EmbeddedBroker(
        free_port(), log_path=tmp_path / "broker.log", storage=BrokerStorage(DURABLE_BUCKET_URL, folder, sync=False)
    )
    broker.start()
    consumer = None
    try:
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        admin.create_topics([NewTopic("backlog", 1, 1)])
        admin.close()
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=60_000)
        for _ in range(3):  # three batches, an hour old
            for n in range(10):
                producer.send("backlog", b"record", key=f"V-{n}".encode(), timestamp_ms=NOW_MS - HOUR_MS)
            producer.flush()
        producer.close()
        consumer = KafkaConsumer("backlog", bootstrap_servers=broker.bootstrap, group_id="catching-up",
                                 enable_auto_commit=False, auto_offset_reset="earliest")
        state = folder / "objects" / CLUSTER / "groups/consumers/catching-up.json"
        _wait_for(lambda: consumer.poll(200) is not None and state.exists(), "the broker's state of the group")

        store = FileObjectStore(folder, sync=False)
        report = RetentionSweeper(store, LIMITS, grace_s=0).sweep()  # all three are past the hour's retention

        assert report.deleted_batches == 0 and report.held_back == {"backlog/0": 0}
        assert _records_on_disk(folder, "backlog")[0] == 3
    finally:
        if consumer is not None:
            consumer.close(autocommit=False, timeout_ms=1000)  # its group still forms: leaving waits out the join
        broker.stop()
