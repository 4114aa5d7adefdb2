"""The durable embedded broker: killed mid-stream and started again, it has every acknowledged record and offset."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from ingest.broker import BrokerStorage, EmbeddedBroker, free_port, port_open
from ingest.broker_storage import FileObjectStore, ObjectStoreError, _byte_range, forget_group_membership
from ingest.kafka_clients import read_to_end
from ingest.topics import ensure_topics

TOPIC = "truckguard.telemetry.v1"
GROUP = "truckguard-test-durable"


def _values(bootstrap: str) -> list[bytes]:
    return [message.value for message in read_to_end(bootstrap, TOPIC, client_id="truckguard-test-reader")]


def _kill_whole_broker(broker: EmbeddedBroker) -> None:
    """SIGKILL the store and Tansu at once, as a power cut would: no shutdown, no flush."""
    assert broker.process is not None
    os.killpg(broker.process.pid, signal.SIGKILL)
    broker.process.wait(10)
    deadline = time.monotonic() + 10
    while port_open("127.0.0.1", broker.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    broker.process = None


@pytest.mark.slow
def test_a_broker_killed_mid_stream_keeps_every_acknowledged_record_and_committed_offset(tmp_path: Path) -> None:
    port = free_port()
    storage = BrokerStorage.durable(tmp_path)
    broker = EmbeddedBroker(port, log_path=tmp_path / "broker.log", storage=storage)
    broker.start()
    try:
        ensure_topics(broker.bootstrap, 2, (TOPIC,))
        # Not idempotent: Tansu 0.6 answers a send retried across its restart with DUPLICATE_SEQUENCE_NUMBER,
        # which kafka-python takes for success, though the restarted broker never stored it (offset -1).
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", retries=50, linger_ms=2,
                                 retry_backoff_ms=200, max_in_flight_requests_per_connection=1,
                                 request_timeout_ms=5000, delivery_timeout_ms=60_000, enable_idempotence=False)
        acknowledged: list[bytes] = []
        lock = threading.Lock()

        def acked(value: bytes) -> object:
            def callback(_metadata: object) -> None:
                with lock:
                    acknowledged.append(value)
            return callback

        # A steady stream that goes on while the broker dies and comes back.
        def stream() -> None:
            for n in range(1500):
                value = f"record-{n:05d}".encode()
                producer.send(TOPIC, key=f"V-{n % 13}".encode(), value=value).add_callback(acked(value))
                time.sleep(0.001)
            producer.flush(60)

        sender = threading.Thread(target=stream)
        sender.start()
        while len(acknowledged) < 500:
            time.sleep(0.01)
        # A consumer commits what it has read so far, as the detector does after its outputs are safe.
        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=GROUP, enable_auto_commit=False)
        partitions = [TopicPartition(TOPIC, p) for p in (0, 1)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        read_before: list[bytes] = []
        while len(read_before) < 300:
            for messages in consumer.poll(timeout_ms=500).values():
                read_before.extend(m.value for m in messages)
        committed = {tp: consumer.position(tp) for tp in partitions}
        consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in committed.items()})
        consumer.close()
        with lock:
            before_kill = list(acknowledged)

        _kill_whole_broker(broker)
        broker.start()  # the same folder, a new process: what it acknowledged before must all be there
        sender.join(90)
        assert not sender.is_alive()
        producer.close()

        values = _values(broker.bootstrap)
        assert set(before_kill) <= set(values), "records acknowledged before the kill were lost"
        assert set(acknowledged) <= set(values)
        assert len(acknowledged) == 1500  # the producer got through the restart and every send was stored
        # The group's offsets survived too: a new member goes on where the old one committed.
        resumed = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=GROUP, enable_auto_commit=False)
        assert {tp: resumed.committed(tp) for tp in partitions} == committed
        resumed.close()
    finally:
        broker.stop()


def test_memory_storage_is_the_default_and_a_url_is_given_to_tansu_as_it_is(tmp_path: Path) -> None:
    assert not EmbeddedBroker(free_port()).storage.is_durable
    configured = BrokerStorage.durable(tmp_path, "postgres://tansu@db.example/tansu")
    assert configured.folder is None
    command = EmbeddedBroker(free_port(), storage=configured).command()
    assert command[command.index("--storage-engine") + 1] == "postgres://tansu@db.example/tansu"
    folder = EmbeddedBroker(free_port(), storage=BrokerStorage.durable(tmp_path)).command()
    assert folder[folder.index("--root") + 1] == str(tmp_path / "broker-storage")
    assert folder[folder.index("--storage-engine") + 1] == "s3://truckguard/"


def test_conditional_writes_refuse_a_stale_version_and_a_second_create(tmp_path: Path) -> None:
    from ingest.broker_storage import _etag

    store = FileObjectStore(tmp_path, sync=False)
    first = store.write("topics/t/watermark.json", b"1", if_match=None, if_none_match="*")
    with pytest.raises(ObjectStoreError) as again:
        store.write("topics/t/watermark.json", b"2", if_match=None, if_none_match="*")
    assert again.value.status == 412
    second = store.write("topics/t/watermark.json", b"2", if_match=_etag(first), if_none_match=None)
    with pytest.raises(ObjectStoreError) as stale:
        store.write("topics/t/watermark.json", b"3", if_match=_etag(first), if_none_match=None)
    assert stale.value.status == 412
    assert store.read("topics/t/watermark.json")[0] == b"2"
    assert _etag(second) != _etag(first)
    with pytest.raises(ObjectStoreError):
        store.path("topics/../../etc/passwd")


def test_listing_pages_through_keys_in_order_with_common_prefixes(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path, sync=False)
    for key in ("a/1/x", "a/1/y", "a/2/x", "a/3", "b/1"):
        store.write(key, b"", if_match=None, if_none_match=None)
    objects, prefixes, more = store.list_objects("a/", "/", "", 2)
    assert (objects, prefixes, more) == ([], ["a/1/", "a/2/"], "a/3")
    objects, prefixes, more = store.list_objects("a/", "/", "a/2/", 10)
    assert [key for key, _ in objects] == ["a/3"] and prefixes == [] and more is None
    objects, _, _ = store.list_objects("a/1/", None, "", 10)
    assert [key for key, _ in objects] == ["a/1/x", "a/1/y"]
    assert _byte_range("bytes=2-4", 10) == (2, 5)
    assert _byte_range("bytes=-3", 10) == (7, 10)
    assert _byte_range("bytes=8-", 10) == (8, 10)


def test_a_listing_entry_is_written_once_per_version_and_follows_a_rewrite(tmp_path: Path) -> None:
    from ingest.broker_storage import _etag

    store = FileObjectStore(tmp_path, sync=False)
    first = store.write("t/records/1.batch", b"abc", if_match=None, if_none_match=None)
    [(key, stat)] = store.list_objects("t/", None, "", 10)[0]
    entry = store.listing_entry(key, stat)
    assert _etag(first).strip('"') in entry
    assert "<Size>3</Size>" in entry
    assert store.listing_entry(key, stat) is entry  # the same version: written once
    second = store.write("t/records/1.batch", b"abcdef", if_match=None, if_none_match=None)
    [(_, restat)] = store.list_objects("t/", None, "", 10)[0]
    rewritten = store.listing_entry(key, restat)
    assert "<Size>6</Size>" in rewritten and _etag(second).strip('"') in rewritten
    assert _etag(first).strip('"') not in rewritten
    store.delete(key)
    assert store.list_objects("t/", None, "", 10)[0] == []


def test_a_restarted_broker_forgets_group_members_but_keeps_their_committed_offsets(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path, sync=False)
    groups = "clusters/tansu_cluster/groups/consumers"
    offset = f"{groups}/truckguard-detector/offsets/{TOPIC}/partitions/0000000000.json"
    for key in (f"{groups}/truckguard-detector.json", f"{groups}/truckguard-web-store.json", offset):
        store.write(key, b"{}", if_match=None, if_none_match=None)
    assert forget_group_membership(tmp_path) == 2  # before the store starts, as the broker's start does
    objects, _, _ = FileObjectStore(tmp_path, sync=False).list_objects("clusters/", None, "", 100)
    assert [key for key, _ in objects] == [offset]
