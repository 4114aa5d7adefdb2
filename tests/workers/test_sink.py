from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import orjson
import pytest
from kafka import TopicPartition
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from ingest.topics import ALERTS, DEADLETTER, STOP_REQUESTS
from telematics.settings import Settings
from tests.web.samples import alert, stop_request
from web.models import AlertRow
from web.store import list_alerts, list_stop_requests
from workers import store_sink
from workers.sink import run_sink
from workers.store_sink import GROUP_ID, OutputSink


class Record(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class Sent:
    def get(self, timeout: float | None = None) -> None:
        return None


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, dict[str, Any]]] = []

    def send(self, topic: str, key: bytes | None = None, value: bytes | None = None) -> Sent:
        self.sent.append((topic, key, orjson.loads(value or b"null")))
        return Sent()

    def flush(self) -> None:
        pass


class FakeConsumer:
    """Hands out prepared batches and records commits and seeks, as KafkaConsumer would."""

    def __init__(self, *batches: list[Record]) -> None:
        self.batches = list(batches)
        self.committed: dict[TopicPartition, int] = {}
        self.seeks: list[tuple[TopicPartition, int]] = []

    def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[Record]]:
        if not self.batches:
            return {}
        polled: dict[TopicPartition, list[Record]] = {}
        for record in self.batches.pop(0):
            polled.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
        return polled

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        self.committed.update({tp: meta.offset for tp, meta in offsets.items()})

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(t, p) for t in (ALERTS, STOP_REQUESTS) for p in range(4)}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))


def _json(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value)


def _sink(engine: Engine, consumer: FakeConsumer) -> tuple[OutputSink, FakeProducer]:
    producer = FakeProducer()
    return OutputSink(engine, consumer, producer), producer  # type: ignore[arg-type]


def test_batch_is_stored_bad_messages_dead_lettered_then_offsets_committed(engine: Engine) -> None:
    consumer = FakeConsumer([
        Record(ALERTS, 0, 10, b"NF-101", _json(alert())),
        Record(ALERTS, 0, 11, b"NF-101", _json(alert())),
        Record(ALERTS, 1, 3, b"NF-102", b"{not json"),
        Record(ALERTS, 1, 4, b"NF-102", b"\xff\xfe"),
        Record(ALERTS, 1, 5, b"NF-102", _json(alert(alert_id="al-x", severity="high"))),
        Record(STOP_REQUESTS, 2, 0, b"NF-101", _json(stop_request())),
    ])
    sink, producer = _sink(engine, consumer)
    assert sink.step() == 6

    with Session(engine) as session:
        assert [a["alert_id"] for a in list_alerts(session)] == ["al-0001"]
        assert [r["request_id"] for r in list_stop_requests(session)] == ["sr-0001"]
    assert [(topic, key) for topic, key, _ in producer.sent] == [(DEADLETTER, b"NF-102")] * 3
    letters = [value for _, _, value in producer.sent]
    assert [(v["topic"], v["partition"], v["offset"]) for v in letters] == [(ALERTS, 1, 3), (ALERTS, 1, 4),
                                                                             (ALERTS, 1, 5)]
    assert letters[0]["error"].startswith("message: not valid JSON") and letters[0]["raw"] == "{not json"
    assert letters[1]["raw"] == "//4=" and letters[1].get("raw_encoding") == "base64"
    assert letters[2]["error"].startswith("severity: got 'high'")
    assert consumer.committed == {TopicPartition(ALERTS, 0): 12, TopicPartition(ALERTS, 1): 6,
                                  TopicPartition(STOP_REQUESTS, 2): 1}
    assert (sink.stored, sink.dead_lettered) == (3, 3)


def test_store_failure_commits_nothing_and_rewinds(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    batch = [Record(ALERTS, 0, 7, b"NF-101", _json(alert())), Record(ALERTS, 0, 8, b"NF-101", b"bad")]
    consumer = FakeConsumer(batch, batch)
    sink, producer = _sink(engine, consumer)

    def down(*_: Any) -> Any:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    with monkeypatch.context() as patch:
        patch.setattr(store_sink, "write_batch", down)
        with pytest.raises(OperationalError):
            sink.step()
    assert consumer.committed == {}
    assert consumer.seeks == [(TopicPartition(ALERTS, 0), 7)]
    assert producer.sent == []

    assert sink.step() == 2  # the redelivered batch
    assert consumer.committed == {TopicPartition(ALERTS, 0): 9}


def test_a_row_the_database_refuses_is_dead_lettered_alone(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    real: Callable[..., bool] = store_sink._UPSERTS[ALERTS]

    def picky(session: Session, value: dict[str, Any]) -> bool:
        if value["alert_id"] == "al-refused":
            raise IntegrityError("INSERT", {}, Exception("value too long"))
        return real(session, value)

    monkeypatch.setitem(store_sink._UPSERTS, ALERTS, picky)
    consumer = FakeConsumer([
        Record(ALERTS, 0, 0, b"a", _json(alert())),
        Record(ALERTS, 0, 1, b"b", _json(alert(alert_id="al-refused"))),
        Record(ALERTS, 0, 2, b"c", _json(alert(alert_id="al-0003"))),
    ])
    sink, producer = _sink(engine, consumer)
    sink.step()
    with Session(engine) as session:
        assert sorted(a["alert_id"] for a in list_alerts(session)) == ["al-0001", "al-0003"]
    [(_, key, letter)] = producer.sent
    assert key == b"b" and letter["offset"] == 1 and letter["error"].startswith("store: value too long")
    assert consumer.committed == {TopicPartition(ALERTS, 0): 3}


def _wait_for(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")


@pytest.mark.slow
def test_sink_against_the_embedded_broker(broker: str, settings: Settings, engine: Engine) -> None:
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

    settings = settings.with_overrides(bootstrap_servers=broker, partitions=2)  # same store as `engine`
    stop = threading.Event()
    thread = threading.Thread(target=run_sink, args=(settings, stop), name="sink-under-test")
    thread.start()
    admin = KafkaAdminClient(bootstrap_servers=broker)
    producer = KafkaProducer(bootstrap_servers=broker, acks="all")
    try:
        # The sink creates the topics it reads and writes when they are missing.
        _wait_for(lambda: {ALERTS, STOP_REQUESTS, DEADLETTER} <= set(admin.list_topics()), 20, "topics")
        first, second = alert(), alert(alert_id="al-0002", vehicle_id="NF-102", ts="2026-11-24T09:30:00Z")
        for key, value in ((b"NF-101", _json(first)), (b"NF-102", _json(second)), (b"NF-101", _json(first)),
                           (b"NF-103", b'{"alert_id": "broken"')):
            producer.send(ALERTS, key=key, value=value)
        producer.flush()

        def stored() -> list[str]:
            with Session(engine) as session:
                return [a["alert_id"] for a in list_alerts(session)]

        assert sorted(_wait_for(lambda: len(stored()) >= 2 and stored(), 30, "two stored alerts")) == \
            ["al-0001", "al-0002"]

        def committed() -> int:
            return sum(max(meta.offset, 0) for tp, meta in admin.list_group_offsets(GROUP_ID)[GROUP_ID].items()
                       if tp.topic == ALERTS)

        _wait_for(lambda: committed() == 4, 20, "offsets of all four messages committed")
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(AlertRow)) == 2

        reader = KafkaConsumer(bootstrap_servers=broker, auto_offset_reset="earliest", consumer_timeout_ms=500)
        partitions = [TopicPartition(DEADLETTER, p) for p in reader.partitions_for_topic(DEADLETTER)]
        reader.assign(partitions)
        reader.seek_to_beginning()
        letters = _wait_for(lambda: list(reader), 20, "the dead letter")
        reader.close()
        [letter] = letters
        value = orjson.loads(letter.value)
        assert letter.key == b"NF-103"
        assert value["topic"] == ALERTS and value["raw"] == '{"alert_id": "broken"'
        assert value["error"].startswith("message: not valid JSON")
    finally:
        stop.set()
        thread.join(20)
        producer.close()
        admin.close()
    assert not thread.is_alive()
