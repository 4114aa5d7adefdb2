"""The stop path first and alone: outbox lanes, dead letters, bounded reference snapshots, the consoles' alarm; in
process and through the real server, sink and broker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import requests
from flask import Flask
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ingest.broker import EmbeddedBroker, free_port
from ingest.kafka_clients import make_producer
from ingest.reference_source import FLEET_PART, TopicSource, part_key
from ingest.topics import STOP_REQUESTS
from tests.conftest import wait_for
from tests.web import real_server
from tests.web.people import signed_in
from tests.web.real_server import Account, Site, running_site
from tests.web.samples import stop_request
from web import alarms
from web.db import get_engine, make_engine
from web.models import OutboxRow
from web.outbox import GENERAL_LANE, STOP_LANE, enqueue, outbox_health
from web.reference import (
    REFERENCE_KEY,
    REFERENCE_TOPIC,
    ZONE_MAX_VERTICES,
    ReferenceTooLarge,
    announce_change,
    bounded_zone,
    put_fleet_document,
)
from web.scope import Scope
from web.stop_flow import approve
from web.store import upsert_stop_request
from workers.outbox_relay import MAX_ATTEMPTS, relay, relay_lane


class Future:
    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    def get(self, timeout: float | None = None) -> None:
        if self.error is not None:
            raise self.error


class Broker:
    """A producer double: ``refuse`` maps a topic to the error the broker answers every message of it with."""

    def __init__(self, refuse: dict[str, BaseException] | None = None) -> None:
        self.refuse = refuse or {}
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, topic: str, key: bytes, value: bytes) -> Future:
        error = self.refuse.get(topic)
        if error is None:
            self.sent.append((topic, orjson.loads(value)))
        return Future(error)

    def flush(self, timeout: float | None = None) -> None:
        pass


def _requested(engine: Engine, request_id: str = "sr-0001") -> None:
    with Session(engine) as session, session.begin():
        upsert_stop_request(session, stop_request(request_id=request_id))


def _authorise(engine: Engine, request_id: str = "sr-0001") -> None:
    with Session(engine) as session, session.begin():
        approve(session, request_id, "officer1")
        approve(session, request_id, "officer2")


def _rows(engine: Engine) -> list[OutboxRow]:
    with Session(engine) as session:
        return list(session.execute(select(OutboxRow).order_by(OutboxRow.message_id)).scalars())


def test_a_snapshot_the_broker_refuses_is_dead_lettered_and_the_stop_decision_still_goes(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        enqueue(session, REFERENCE_TOPIC, REFERENCE_KEY, {"version": 1, "fleet": {}})
    _requested(engine)
    _authorise(engine)
    broker = Broker({REFERENCE_TOPIC: MessageSizeTooLargeError("the message is 3145800 bytes")})

    assert relay(engine, broker) == 2
    assert [(topic, value["status"]) for topic, value in broker.sent] == [(STOP_REQUESTS, "requested"),
                                                                           (STOP_REQUESTS, "authorized")]
    snapshot, *decisions = _rows(engine)
    assert [d.lane for d in decisions] == [STOP_LANE, STOP_LANE] and snapshot.lane == GENERAL_LANE
    # Too large never gets smaller: set aside at once, with its reason, and never tried again.
    assert snapshot.dead_at is not None and "MessageSizeTooLargeError" in (snapshot.last_error or "")
    assert relay(engine, broker) == 0 and len(broker.sent) == 2
    with Session(engine) as session:
        health = outbox_health(session)
    assert health.alarming and health.dead == 1 and "MessageSizeTooLargeError" in health.message()


def test_a_message_refused_for_a_passing_reason_is_retried_with_back_off_then_dead_lettered(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        enqueue(session, REFERENCE_TOPIC, REFERENCE_KEY, {"version": 1})
        enqueue(session, "truckguard.other.v1", "k", {"n": 1})
    broker = Broker({REFERENCE_TOPIC: KafkaTimeoutError("no acknowledgement")})

    result = relay_lane(engine, broker, GENERAL_LANE)
    assert (result.sent, result.failed, result.dead) == (1, 1, 0)
    # Backing off: an immediate second pass does not try it again.
    assert relay_lane(engine, broker, GENERAL_LANE).failed == 0
    for attempt in range(2, MAX_ATTEMPTS + 1):
        with Session(engine) as session, session.begin():
            row = session.execute(select(OutboxRow).where(OutboxRow.topic == REFERENCE_TOPIC)).scalar_one()
            row.next_try_at = datetime.now(UTC) - timedelta(seconds=1)
            # Other messages go through meanwhile: the broker is up, so the failures are this message's own.
            enqueue(session, "truckguard.other.v1", "k", {"n": attempt})
        result = relay_lane(engine, broker, GENERAL_LANE)
        assert (result.failed, result.dead) == ((0, 1) if attempt == MAX_ATTEMPTS else (1, 0))
    snapshot = _rows(engine)[0]
    assert snapshot.attempts == MAX_ATTEMPTS and snapshot.dead_at is not None
    assert snapshot.last_error == "KafkaTimeoutError: KafkaTimeoutError: no acknowledgement"


def test_an_unreachable_broker_counts_against_no_message(engine: Engine) -> None:
    """Nothing went through, so nothing tells the message from the broker: a stop decision is never set aside
    because the broker was down; it waits (and the consoles show it stuck)."""
    _requested(engine)
    _authorise(engine)
    down = Broker({STOP_REQUESTS: KafkaTimeoutError("broker down")})
    for _ in range(MAX_ATTEMPTS + 2):
        with pytest.raises(Exception, match="broker took none of 2 messages"):
            relay_lane(engine, down, STOP_LANE)
    assert all(r.attempts == 0 and r.dead_at is None and r.sent_at is None for r in _rows(engine))
    assert relay_lane(engine, Broker(), STOP_LANE).sent == 2


def test_only_the_newest_snapshot_is_sent(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        for version in (1, 2, 3):
            enqueue(session, REFERENCE_TOPIC, REFERENCE_KEY, {"version": version})
    broker = Broker()
    assert relay(engine, broker) == 1
    assert broker.sent == [(REFERENCE_TOPIC, {"version": 3})]
    assert [r.last_error for r in _rows(engine)] == ["superseded by message 3; not sent"] * 2 + [None]


def test_a_message_over_its_topics_limit_is_dead_lettered_without_trying(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        enqueue(session, STOP_REQUESTS, "NF-101", {"reason": "x" * 100_000})
    broker = Broker()
    assert relay(engine, broker) == 0 and broker.sent == []
    [row] = _rows(engine)
    assert row.dead_at is not None and "exceeds the 65536-byte limit of truckguard.stop-requests.v1" in row.last_error


def _fleet(vehicles: int, fleet_id: str = "big-rental") -> dict[str, Any]:
    return {"fleets": [{"fleet_id": fleet_id, "name": "Big Rental", "kind": "rental", "timezone": "Europe/Berlin"}],
            "vehicles": [{"vehicle_id": f"BR-{n:06d}", "fleet_id": fleet_id, "category": "N1",
                          "plate": f"B-BR {n}", "authorized_driver_cards": [f"DE{n:010d}", f"DE{n + 1:010d}"]}
                         for n in range(vehicles)]}


def test_a_change_that_would_make_the_snapshot_too_large_is_refused(engine: Engine,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    monkeypatch.setattr(importlib.import_module("web.reference"), "REFERENCE_MAX_BYTES", 200_000)
    with Session(engine) as session, session.begin(), pytest.raises(ReferenceTooLarge, match="200000-byte limit"):
        put_fleet_document(session, _fleet(2_000), Scope(None), actor="admin")
        announce_change(session)


def _circle(corners: int, radius_deg: float = 0.002) -> list[list[float]]:
    import math

    ring = [[round(13.4 + radius_deg * math.cos(2 * math.pi * i / corners), 6),
             round(52.5 + radius_deg * math.sin(2 * math.pi * i / corners), 6)] for i in range(corners)]
    return [*ring, ring[0]]


def test_a_zone_with_too_many_corners_is_simplified_or_refused() -> None:
    feature = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [_circle(20_000)]},
               "properties": {"zone_id": "market"}}
    simple = bounded_zone(feature, "zones")
    assert len(simple["geometry"]["coordinates"][0]) <= ZONE_MAX_VERTICES
    assert simple["properties"] == feature["properties"]
    small = {**feature, "geometry": {"type": "Polygon", "coordinates": [_circle(50)]}}
    assert bounded_zone(small, "zones") is small
    huge = {**feature, "geometry": {"type": "Polygon", "coordinates": [_circle(150_000)]}}
    with pytest.raises(ReferenceTooLarge, match=r"zones\.geometry\.coordinates: 150001 corners"):
        bounded_zone(huge, "zones")


def test_the_api_answers_413_for_a_zone_beyond_the_limit(app: Flask) -> None:
    admin = signed_in(app, "admin", "admin")
    token = admin.post("/api/tokens", json={"name": "t"}, headers={"X-CSRFToken": _csrf(admin)}).get_json()["token"]
    zones = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [_circle(250_000)]},
         "properties": {"zone_id": "market"}}]}
    response = app.test_client().post("/api/reference/zones", json=zones,
                                      headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 413  # beyond what the site reads at all
    zones["features"][0]["geometry"]["coordinates"] = [_circle(101_000)]
    response = app.test_client().post("/api/reference/zones", json=zones,
                                      headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400
    assert response.get_json()["message"].startswith("body.features[0].geometry.coordinates[0]: ")
    zones["features"][0]["geometry"]["coordinates"] = [_circle(5_000)]
    response = app.test_client().post("/api/reference/zones", json=zones,
                                      headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_json()
    with app.app_context(), Session(get_engine()) as session:
        [row] = session.execute(select(OutboxRow).where(OutboxRow.topic == REFERENCE_TOPIC)).scalars()
        [zone] = row.value["zones"]["features"]
    assert 4 <= len(zone["geometry"]["coordinates"][0]) <= ZONE_MAX_VERTICES


def _csrf(client: Any) -> str:
    from tests.web.people import csrf_token

    return csrf_token(client)


def test_operators_and_admins_see_the_alarm_when_a_message_is_stuck(app: Flask) -> None:
    alarms.forget()
    operator = signed_in(app, "op", "fleet_operator", ("nordfracht",))
    admin = signed_in(app, "admin", "admin")
    rental = signed_in(app, "desk", "rental", ("stadtvan",))
    assert "Outbox alarm" not in operator.get("/alerts").get_data(as_text=True)
    with app.app_context(), Session(get_engine()) as session, session.begin():
        session.add(OutboxRow(topic=STOP_REQUESTS, key="NF-101", value={}, lane=STOP_LANE, attempts=0,
                              created_at=datetime.now(UTC) - timedelta(minutes=2)))
    alarms.forget()
    page = operator.get("/alerts").get_data(as_text=True)
    assert "Outbox alarm: 1 stop-request decision(s) not yet delivered" in page
    alarms.forget()
    assert "Outbox alarm: 1 stop-request decision(s)" in admin.get("/users").get_data(as_text=True)
    assert "Outbox alarm" not in rental.get("/alerts").get_data(as_text=True)
    alarms.forget()


RENTAL = {"fleet_id": "big-rental", "name": "Big Rental", "kind": "rental", "timezone": "Europe/Berlin"}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The embedded broker, `truckguard web` and `truckguard sink` in processes of their own, as deployed."""
    root = tmp_path_factory.mktemp("deployment")
    accounts = [Account("officer1", "law_enforcement"), Account("officer2", "law_enforcement"),
                Account("officer3", "law_enforcement"), Account("rentals", "fleet_operator", ("big-rental",))]
    with (EmbeddedBroker(free_port(), log_path=root / "broker.log") as broker,
          running_site(root, accounts, fleet={"fleets": [RENTAL]}, bootstrap=broker.bootstrap) as site):
        yield site


@pytest.fixture
def deployed_store(deployment: Site) -> Iterator[Engine]:
    """The deployment's store, as the test reads it (and sets up what came before the upgrade)."""
    engine = make_engine(deployment.settings.store_url)
    yield engine
    engine.dispose()


def _watch(bootstrap: str, topic: str) -> KafkaConsumer:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="test-watch")
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})]
    consumer.assign(partitions)
    consumer.seek_to_end(*partitions)
    for tp in partitions:
        consumer.position(tp)
    return consumer


def _rental_fleet(vehicles: int, cards: int) -> dict[str, Any]:
    """A rental company's vans, each open to its pool of drivers' cards: about 100 bytes of JSON a van and 15 a
    card."""
    return {"vehicles": [{"vehicle_id": f"BR-{n:06d}", "fleet_id": "big-rental", "category": "N1",
                          "plate": f"B-BR {n}", "authorized_driver_cards": [f"DE{n + k:010d}" for k in range(cards)]}
                         for n in range(vehicles)]}


@pytest.mark.slow
def test_a_3_mb_reference_upload_then_two_officers_approvals_reach_the_topic_within_2_s(
        deployment: Site, deployed_store: Engine) -> None:
    """Everything as deployed: the detector's request comes through the broker and the sink, the operator uploads
    the fleet and the officers decide over HTTP as their browsers do, and the sink relays the outbox to the broker."""
    site, bootstrap, engine = deployment, deployment.settings.bootstrap, deployed_store
    producer = make_producer(bootstrap, "test-detector")
    watch = _watch(bootstrap, STOP_REQUESTS)
    try:
        # Before the upgrade nothing bounded a message: one queued that no broker takes is still in the outbox.
        with Session(engine) as session, session.begin():
            enqueue(session, "truckguard.reference-archive.v1", REFERENCE_KEY, {"blob": "x" * 9_000_000})
        request = stop_request(request_id="sr-3mb")
        producer.send(STOP_REQUESTS, key=b"NF-101", value=orjson.dumps(request)).get(10)
        first = real_server.signed_in(site, "officer1", "127.0.0.21")
        second = real_server.signed_in(site, "officer2", "127.0.0.22")
        operator = real_server.signed_in(site, "rentals", "127.0.0.23")
        # 10,000 vans with 14 drivers each in one upload: over 3 MB. It takes the server seconds; meanwhile the
        # sink stores the detector's request and the first officer approves it.
        body = orjson.dumps(_rental_fleet(10_000, 14))
        assert len(body) > 3_000_000
        with ThreadPoolExecutor(1) as pool:
            upload = pool.submit(operator.post, f"{site.base}/api/reference/fleet", data=body,
                                 headers={"Content-Type": "application/json"}, timeout=60)
            wait_for(lambda: first.get(f"{site.base}/api/stop-requests/sr-3mb", timeout=10).status_code == 200, 20,
                     "the sink to store the detector's stop request")
            response = first.post(f"{site.base}/api/stop-requests/sr-3mb/approve", json={}, timeout=10)
            assert response.status_code == 200 and response.json()["status"] == "requested", response.text
            response = upload.result()
        assert response.status_code == 200, response.text[:500]
        version = response.json()["version"]
        with Session(engine) as session:
            snapshot = session.execute(select(OutboxRow.value).where(
                OutboxRow.topic == REFERENCE_TOPIC, OutboxRow.key == part_key(FLEET_PART, "big-rental"),
            ).order_by(OutboxRow.message_id.desc()).limit(1)).scalar_one()
        assert len(orjson.dumps(snapshot)) > 3_000_000

        response = second.post(f"{site.base}/api/stop-requests/sr-3mb/approve", json={}, timeout=10)
        answered_at = time.monotonic()
        assert response.status_code == 200 and response.json()["status"] == "authorized", response.text
        seen: list[dict[str, Any]] = []

        def authorised() -> bool:
            return any(v["request_id"] == "sr-3mb" and v["status"] == "authorized" for v in seen)

        while time.monotonic() - answered_at < 2.0 and not authorised():
            for messages in watch.poll(timeout_ms=50).values():
                seen += [orjson.loads(m.value) for m in messages]
        delay = time.monotonic() - answered_at
    finally:
        watch.close()
        producer.close(5)
    assert authorised(), f"no authorised decision within 2 s of the second approval's response: {seen}"
    print(f"authorised decision on {STOP_REQUESTS} {delay:.2f} s after the second approval's response")

    def settled() -> bool:
        rows = _rows(engine)
        return all(r.sent_at is not None or r.dead_at is not None for r in rows)

    wait_for(settled, 30, "the sink to send or set aside every outbox message")
    rows = {(r.topic, r.key): r for r in _rows(engine)}  # the newest message of each topic and key
    fleet = rows[REFERENCE_TOPIC, part_key(FLEET_PART, "big-rental")]
    assert fleet.sent_at is not None and fleet.dead_at is None
    archive = rows["truckguard.reference-archive.v1", REFERENCE_KEY]
    assert archive.dead_at is not None and "exceeds the" in (archive.last_error or "")
    # The detectors' reader gets the 3 MB fleet whole (compressed on the wire).
    source = TopicSource(bootstrap)
    try:
        data = source.load()
    finally:
        source.close()
    assert source.version == version and len(data.vehicles) == 10_000


def _bearer(site: Site, username: str, source: str) -> dict[str, str]:
    """A token made on the account's page session (with its CSRF token), sent as a script sends it."""
    client = real_server.signed_in(site, username, source)
    response = client.post(f"{site.base}/api/tokens", json={"name": "zones"}, timeout=10)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.mark.slow
def test_the_real_server_answers_413_for_a_zone_beyond_the_limit(deployment: Site) -> None:
    site = deployment
    headers = _bearer(site, "officer3", "127.0.0.24")
    zones = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [_circle(250_000)]},
         "properties": {"zone_id": "market"}}]}
    body = orjson.dumps(zones)
    assert len(body) > 4 * 1024 * 1024
    response = requests.post(f"{site.base}/api/reference/zones", data=body, timeout=30,
                             headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == 413  # beyond what the site reads at all
    zones["features"][0]["geometry"]["coordinates"] = [_circle(101_000)]
    response = requests.post(f"{site.base}/api/reference/zones", json=zones, headers=headers, timeout=30)
    assert response.status_code == 400
    assert response.json()["message"].startswith("body.features[0].geometry.coordinates[0]: ")
    zones["features"][0]["geometry"]["coordinates"] = [_circle(5_000)]
    response = requests.post(f"{site.base}/api/reference/zones", json=zones, headers=headers, timeout=30)
    assert response.status_code == 200, response.text[:500]
    stored = requests.get(f"{site.base}/api/reference", headers=headers, timeout=10).json()["zones"]
    [zone] = [z for z in stored["features"] if z["properties"]["zone_id"] == "market"]
    assert 4 <= len(zone["geometry"]["coordinates"][0]) <= ZONE_MAX_VERTICES
