"""The sink's side jobs: vehicle positions from telemetry, the outbox relay and stop-request expiry."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson
import pytest
from kafka.errors import KafkaError
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from ingest.topics import STOP_REQUESTS, TELEMETRY, ensure_topics
from telematics.settings import Settings
from tests.bundles import ZONES
from tests.conftest import wait_for
from tests.ingest.kafka_helpers import produce, read_all
from tests.web.samples import stop_request
from web.db import make_engine
from web.migrate import upgrade_store
from web.models import OutboxRow, StopRequestRow, TrackPointRow
from web.positions import PositionBuffer, latest_positions
from web.reference import REFERENCE_TOPIC, announce_change, put_zones
from web.stop_flow import approve
from web.store import upsert_stop_request
from workers.housekeeping import housekeeping
from workers.outbox_relay import relay
from workers.positions_feed import read_fixes, run_positions
from workers.sink import run_sink

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class Record(NamedTuple):
    value: bytes


class Sent:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def get(self, timeout: float | None = None) -> None:
        if self.error is not None:
            raise self.error


class Producer:
    """Keeps what it is given; ``fail`` makes the broker refuse every message; ``delay_s`` slows each flush."""

    def __init__(self, *, fail: bool = False, delay_s: float = 0.0) -> None:
        self.sent: list[tuple[str, bytes, dict[str, Any]]] = []
        self.fail = fail
        self.delay_s = delay_s

    def send(self, topic: str, key: bytes, value: bytes) -> Sent:
        if self.fail:
            return Sent(TimeoutError("broker did not acknowledge"))
        self.sent.append((topic, key, orjson.loads(value)))
        return Sent()

    def flush(self, timeout: float | None = None) -> None:
        time.sleep(self.delay_s)


def telemetry(seq: int, at: datetime, **fields: Any) -> Record:
    value = {"vehicle_id": "NF-101", "ts": at.isoformat().replace("+00:00", "Z"), "seq": seq, "lat": 52.5,
             "lon": 13.4 + seq / 1000, "gnss_speed_kmh": 30.0, "heading_deg": 90.0, "ignition": True} | fields
    return Record(orjson.dumps({k: v for k, v in value.items() if v is not None}))


def test_positions_keep_the_newest_fix_and_a_thinned_track(engine: Engine) -> None:
    records = [telemetry(i, T0 + timedelta(seconds=i)) for i in range(12)]  # one a second
    records += [Record(b"{not json"), Record(b'{"vehicle_id": "NF-101"}'),
                telemetry(99, T0 + timedelta(minutes=5), lat=None, lon=None, gnss_fix=False)]
    buffer = PositionBuffer()
    for fix in read_fixes(records):
        buffer.add(fix)
    with Session(engine) as session, session.begin():
        assert buffer.flush(session) == 1
    assert len(buffer) == 0

    # A late record (mobile networks buffer) never moves the vehicle back.
    for fix in read_fixes([telemetry(3, T0 + timedelta(seconds=3), lon=14.0)]):
        buffer.add(fix)
    with Session(engine) as session, session.begin():
        buffer.flush(session)

    with Session(engine) as session:
        position = latest_positions(session)["NF-101"]
        track = session.execute(select(TrackPointRow.ts).order_by(TrackPointRow.ts)).scalars().all()
    assert (position["ts"], position["lon"], position["speed_kmh"]) == ("2026-11-24T09:00:11Z", 13.411, 30.0)
    assert position["source"] == "telemetry" and position["ignition"] is True
    assert [t.replace(tzinfo=UTC) - T0 for t in track] == [timedelta(seconds=s) for s in (0, 3, 5, 10)]


def _stored_request(engine: Engine, request_id: str, *, age: timedelta = timedelta()) -> None:
    with Session(engine) as session, session.begin():
        upsert_stop_request(session, stop_request(request_id=request_id))
        session.execute(update(StopRequestRow).where(StopRequestRow.request_id == request_id)
                        .values(received_at=datetime.now(UTC) - age))


def test_housekeeping_expires_overdue_requests_and_publishes_each_change_once(engine: Engine) -> None:
    _stored_request(engine, "sr-stale", age=timedelta(minutes=20))
    _stored_request(engine, "sr-fresh", age=timedelta(minutes=5))
    producer = Producer()
    housekeeping(engine, producer, expiry_s=900)
    housekeeping(engine, producer, expiry_s=900)

    [(topic, key, value)] = producer.sent
    assert (topic, key, value["request_id"], value["status"]) == (STOP_REQUESTS, b"NF-101", "sr-stale", "expired")
    assert value["history"][-1]["by"] == "truckguard-web" and "900 s" in value["history"][-1]["note"]
    with Session(engine) as session:
        statuses = dict(session.execute(select(StopRequestRow.request_id, StopRequestRow.status)).all())
    assert statuses == {"sr-stale": "expired", "sr-fresh": "requested"}


def test_housekeeping_deletes_messages_sent_over_a_week_ago_and_keeps_the_rest(engine: Engine) -> None:
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        for key, sent_at, dead_at in (("old", now - timedelta(days=8), None), ("recent", now - timedelta(days=6), None),
                                      ("unsent", None, None), ("dead", None, now - timedelta(days=30))):
            session.add(OutboxRow(topic=REFERENCE_TOPIC, key=key, value={}, created_at=now - timedelta(days=40),
                                  sent_at=sent_at, dead_at=dead_at, lane="general"))
    housekeeping(engine, Producer(fail=True), expiry_s=900)  # the broker refuses: only the deletion is seen
    with Session(engine) as session:
        assert sorted(session.scalars(select(OutboxRow.key))) == ["dead", "recent", "unsent"]


def test_a_refused_send_leaves_the_outbox_pending_for_the_next_relay(engine: Engine) -> None:
    _stored_request(engine, "sr-0001")
    with Session(engine) as session, session.begin():
        approve(session, "sr-0001", "officer-1")
        approve(session, "sr-0001", "officer-2")
    with pytest.raises(KafkaError, match="broker took none of 2 messages"):
        relay(engine, Producer(fail=True))
    with Session(engine) as session:
        assert session.scalar(select(func.count()).where(OutboxRow.sent_at.is_(None))) == 2

    producer = Producer()
    assert relay(engine, producer) == 2
    assert relay(engine, producer) == 0
    assert [(v["status"], v["history"][-1]["by"]) for _, _, v in producer.sent] == [
        ("requested", "officer-1"), ("authorized", "officer-2")]


@pytest.mark.postgres
def test_two_sinks_relaying_at_once_send_each_message_once(postgres_url: str) -> None:
    upgrade_store(postgres_url)
    engine = make_engine(postgres_url)
    try:
        with Session(engine) as session, session.begin():
            session.execute(OutboxRow.__table__.delete())
            for n in range(5):
                session.add(OutboxRow(topic="t", key=f"k{n}", value={"n": n}, created_at=datetime.now(UTC)))
        producers = [Producer(delay_s=0.3), Producer(delay_s=0.3)]
        threads = [threading.Thread(target=relay, args=(engine, p)) for p in producers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        sent = sorted(v["n"] for p in producers for _, _, v in p.sent)
        assert sent == [0, 1, 2, 3, 4]
    finally:
        engine.dispose()


@pytest.fixture
def sink_settings(broker: str, settings: Settings, engine: Engine) -> Settings:
    """Settings of a sink on the test's broker and the same store as ``engine``."""
    return settings.with_overrides(bootstrap_servers=broker, partitions=1)


class Running:
    def __init__(self, target: Any, *args: Any) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=target, args=(*args, self.stop), name="sink-under-test")
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(20)
        assert not self.thread.is_alive()


@pytest.fixture
def sinks() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for running in started:
        if running.thread.is_alive():
            running.close()


def _values(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    return [orjson.loads(v) for v in read_all(bootstrap, topic)]


@pytest.mark.slow
def test_outbox_reaches_kafka_exactly_once_across_a_sink_restart(
        sink_settings: Settings, engine: Engine, sinks: list[Running]) -> None:
    bootstrap = sink_settings.bootstrap
    with Session(engine) as session, session.begin():
        put_zones(session, ZONES, actor="admin")
        version = announce_change(session)
    _stored_request(engine, "sr-0001")
    with Session(engine) as session, session.begin():
        approve(session, "sr-0001", "officer-1")
        approve(session, "sr-0001", "officer-2")

    sinks.append(Running(run_sink, sink_settings))

    def authorised() -> list[dict[str, Any]]:
        return [v for v in _values(bootstrap, STOP_REQUESTS) if v["status"] == "authorized"]

    wait_for(authorised, 30, "the authorised status change on the topic")
    sinks[0].close()

    # While the sink is down, a request nobody decided in time waits to be expired.
    _stored_request(engine, "sr-stale", age=timedelta(hours=1))
    sinks.append(Running(run_sink, sink_settings))
    wait_for(lambda: [v for v in _values(bootstrap, STOP_REQUESTS) if v["status"] == "expired"], 30,
             "the expiry on the topic")
    time.sleep(1.5)  # a few more sink steps: anything sent twice would show now
    sinks[1].close()

    snapshots = _values(bootstrap, REFERENCE_TOPIC)
    assert [s["version"] for s in snapshots] == [version]
    assert [z["properties"]["zone_id"] for z in snapshots[0]["zones"]["features"]] == ["berlin-breitscheidplatz"]
    changes = [(v["request_id"], v["status"], v["history"][-1]["by"]) for v in _values(bootstrap, STOP_REQUESTS)]
    assert sorted(changes) == [("sr-0001", "authorized", "officer-2"), ("sr-0001", "requested", "officer-1"),
                               ("sr-stale", "expired", "truckguard-web")]
    with Session(engine) as session:
        assert session.scalar(select(func.count()).where(OutboxRow.sent_at.is_(None))) == 0
        # The sink read its own status changes back; the store is unchanged by them.
        row = session.get(StopRequestRow, "sr-0001")
        assert (row.status, row.first_approval_by, len(row.history)) == ("authorized", "officer-1", 3)


@pytest.mark.slow
def test_positions_follow_telemetry_on_the_broker(sink_settings: Settings, engine: Engine,
                                                  sinks: list[Running]) -> None:
    ensure_topics(sink_settings.bootstrap, 1, (TELEMETRY,))
    sinks.append(Running(run_positions, sink_settings, engine))
    now = datetime.now(UTC).replace(microsecond=0)
    seq = iter(range(1000))

    def moved() -> dict[str, Any] | None:
        # It starts at the newest telemetry, so a gateway's records count only once it has joined: keep sending.
        at = now + timedelta(seconds=next(seq))
        produce(sink_settings.bootstrap, TELEMETRY, [
            orjson.loads(telemetry(0, at).value), b"not json", {"vehicle_id": "NF-102", "ts": "yesterday"}])
        with Session(engine) as session:
            return latest_positions(session).get("NF-101")

    position = wait_for(moved, 30, "NF-101's position from telemetry", interval_s=0.5)
    assert position["source"] == "telemetry" and position["speed_kmh"] == 30.0
    with Session(engine) as session:
        assert set(latest_positions(session)) == {"NF-101"}
