"""Reference data reaches the detectors as small messages per fleet, per vehicle's trips and per zone, which rebuild
exactly the store's data, and no upload can leave one in the outbox that the broker would refuse."""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ingest.reference_source import ReferenceParts, TopicSource, parse_snapshot
from ingest.topics import STOP_REQUESTS, ensure_topics
from telematics.reference import ReferenceData
from telematics.settings import Settings
from tests.web.samples import stop_request
from web.models import OutboxRow
from web.outbox import REFERENCE_MAX_COMPRESSED_BYTES, wire_size
from web.reference import (
    REFERENCE_TOPIC,
    ReferenceTooLarge,
    announce_change,
    delete_item,
    put_fleet_document,
    put_trips,
    put_zones,
    reference_snapshot,
)
from web.scope import Scope
from web.stop_flow import approve
from web.store import upsert_stop_request
from workers.sink import run_sink

EVERYTHING = Scope(None)


def _fleet(fleet_id: str, vehicles: int, *, prefix: str = "V", sites: int = 1) -> dict[str, Any]:
    return {"fleets": [{"fleet_id": fleet_id, "name": fleet_id.title(), "kind": "haulier", "timezone": "Europe/Berlin",
                        "operating_hours": {"mon": ["05:00", "21:00"]}}],
            "vehicles": [{"vehicle_id": f"{prefix}-{n:05d}", "fleet_id": fleet_id, "category": "N3",
                          "plate": f"B-{prefix} {n}", "authorized_driver_cards": [f"DE{n:010d}", f"DE{n + 1:010d}"]}
                         for n in range(vehicles)],
            "sites": [{"site_id": f"{fleet_id}-depot-{n}", "fleet_id": fleet_id, "kind": "depot", "lat": 52.43,
                       "lon": 13.52 + n / 100, "radius_m": 300} for n in range(sites)]}


def _trip(trip_id: str, vehicle_id: str) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[13.40, 52.50], [13.45, 52.52]]},
            "properties": {"trip_id": trip_id, "vehicle_id": vehicle_id, "planned_start": "2026-12-07T06:00:00Z",
                           "planned_end": "2026-12-07T09:00:00Z", "corridor_m": 500}}


def _zone(zone_id: str, speed: float = 10, corners: list[list[float]] | None = None) -> dict[str, Any]:
    ring = corners or [[13.41, 52.52], [13.42, 52.52], [13.42, 52.53], [13.41, 52.52]]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"zone_id": zone_id, "name": zone_id, "kind": "market", "timezone": "Europe/Berlin",
                           "access": {"categories_allowed": ["N1"], "max_speed_kmh": speed}}}


def _collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def _change(engine: Engine, change: Any) -> list[tuple[str, dict[str, Any]]]:
    """Runs one change and announces it; returns the (key, message) pairs it queued."""
    with Session(engine) as session, session.begin():
        before = session.scalar(select(OutboxRow.message_id).order_by(OutboxRow.message_id.desc()).limit(1)) or 0
        change(session)
        announce_change(session)
    with Session(engine) as session:
        rows = session.execute(select(OutboxRow).where(OutboxRow.message_id > before, OutboxRow.topic ==
                                                       REFERENCE_TOPIC).order_by(OutboxRow.message_id)).scalars()
        return [(r.key, r.value) for r in rows]


def _whole(engine: Engine) -> dict[str, Any]:
    with Session(engine) as session:
        return reference_snapshot(session)


def _same(data: ReferenceData, expected: ReferenceData) -> None:
    assert data.fleets == expected.fleets
    assert data.vehicles == expected.vehicles
    assert data.sites == expected.sites
    assert data.trips == expected.trips
    assert data.zones == expected.zones


def _world_changes(engine: Engine) -> list[list[tuple[str, dict[str, Any]]]]:
    """A day of the site's life: two fleets, trips and zones arrive, a vehicle changes fleet, a zone is redrawn,
    then a site, a trip, a zone and a whole fleet are deleted."""
    return [
        _change(engine, lambda s: put_fleet_document(s, _fleet("nordfracht", 30, prefix="NF"), EVERYTHING,
                                                     actor="admin")),
        _change(engine, lambda s: put_fleet_document(s, _fleet("stadtvan", 20, prefix="SV", sites=2), EVERYTHING,
                                                     actor="admin")),
        _change(engine, lambda s: put_trips(s, _collection(_trip("t1", "NF-00001"), _trip("t2", "NF-00001"),
                                                           _trip("t3", "SV-00002")), EVERYTHING, actor="admin")),
        _change(engine, lambda s: put_zones(s, _collection(_zone("alex"), _zone("markt"), _zone("ku-damm")),
                                            actor="officer")),
        _change(engine, lambda s: put_fleet_document(
            s, {"vehicles": [{"vehicle_id": "NF-00003", "fleet_id": "stadtvan", "category": "N1"}]}, EVERYTHING,
            actor="admin")),
        _change(engine, lambda s: put_zones(s, _collection(_zone("markt", speed=6)), actor="officer")),
        _change(engine, lambda s: delete_item(s, "site", "stadtvan-depot-1", EVERYTHING, actor="admin")),
        _change(engine, lambda s: delete_item(s, "trip", "t3", EVERYTHING, actor="admin")),
        _change(engine, lambda s: delete_item(s, "zone", "ku-damm", EVERYTHING, actor="officer")),
        _change(engine, lambda s: delete_item(s, "fleet", "nordfracht", EVERYTHING, actor="admin")),
    ]


def test_each_change_sends_only_what_it_touched(engine: Engine) -> None:
    changes = _world_changes(engine)
    assert [key for key, _ in changes[0]] == ["fleet:nordfracht"]
    assert [key for key, _ in changes[2]] == ["trips:NF-00001", "trips:SV-00002"]
    assert [key for key, _ in changes[3]] == ["zone:alex", "zone:ku-damm", "zone:markt"]
    # A vehicle that changes fleet leaves one and joins the other: both are sent, nothing else.
    assert [key for key, _ in changes[4]] == ["fleet:nordfracht", "fleet:stadtvan"]
    assert [key for key, _ in changes[5]] == ["zone:markt"]
    [(_, trips_gone)] = changes[7]
    assert trips_gone == {"version": 8, "part": "trips", "vehicle_id": "SV-00002", "deleted": True}
    assert changes[8] == [("zone:ku-damm", {"version": 9, "part": "zone", "zone_id": "ku-damm", "deleted": True})]
    # A deleted fleet takes its vehicles' trips with it.
    assert [(key, value.get("deleted")) for key, value in changes[9]] == [("fleet:nordfracht", True),
                                                                          ("trips:NF-00001", True)]
    assert [value["version"] for change in changes for _, value in change] == [1, 2, 3, 3, 4, 4, 4, 5, 5, 6, 7, 8, 9,
                                                                               10, 10]


def test_the_parts_rebuild_exactly_the_whole_snapshot_even_after_compaction(engine: Engine) -> None:
    messages = [(key, orjson.dumps(value)) for change in _world_changes(engine) for key, value in change]
    whole = _whole(engine)
    expected = parse_snapshot(orjson.dumps(whole))
    everything = ReferenceParts()
    assert all([everything.apply(raw) for _, raw in messages])
    assert everything.document() == {k: v for k, v in whole.items() if k != "version"}
    assert everything.version == whole["version"] == 10
    _same(everything.data(), expected)
    assert set(everything.data().vehicles) == {f"SV-{n:05d}" for n in range(20)} | {"NF-00003"}
    # A compacted topic keeps only the newest message of each key: a detector starting from it ends the same.
    newest = dict(messages)
    compacted = ReferenceParts()
    for raw in newest.values():
        compacted.apply(raw)
    assert compacted.document() == everything.document()
    _same(compacted.data(), expected)


def test_a_manifest_or_an_old_whole_snapshot_makes_the_detector_forget_what_the_store_no_longer_has(
        engine: Engine) -> None:
    from web.reference import full_reference

    old = {"version": 1, "fleet": _fleet("gone", 2, prefix="GO"), "trips": _collection(_trip("t9", "GO-00000")),
           "zones": _collection(_zone("old-market"))}
    parts = ReferenceParts()
    assert parts.apply(orjson.dumps(old))  # what a site before this change left on the topic
    assert set(parts.data().vehicles) == {"GO-00000", "GO-00001"} and parts.version == 1
    _change(engine, lambda s: put_fleet_document(s, _fleet("nordfracht", 3, prefix="NF"), EVERYTHING, actor="a"))
    _change(engine, lambda s: put_zones(s, _collection(_zone("alex")), actor="officer"))
    with Session(engine) as session:
        resend = full_reference(session, 5)
    assert [key for key, _ in resend] == ["fleet:nordfracht", "zone:alex", "manifest"]
    for _, message in resend:
        parts.apply(orjson.dumps(message))
    _same(parts.data(), parse_snapshot(orjson.dumps(_whole(engine))))
    # A whole snapshot newer than every part replaces them all, as it always did.
    assert parts.apply(orjson.dumps({**old, "version": 6}))
    assert set(parts.data().vehicles) == {"GO-00000", "GO-00001"}
    assert [z.zone_id for z in parts.data().zones] == ["old-market"]


def test_a_bad_message_is_skipped_and_the_key_keeps_what_it_had() -> None:
    parts = ReferenceParts()
    good = {"version": 1, "part": "zone", "zone_id": "alex", "zones": _collection(_zone("alex"))}
    assert parts.apply(orjson.dumps(good))
    crossed = {"version": 2, "part": "zone", "zone_id": "alex", "zones": _collection(_zone("markt"))}
    assert not parts.apply(orjson.dumps(crossed))
    assert not parts.apply(b"{not json")
    assert not parts.apply(orjson.dumps({"part": "zone", "zone_id": "alex"}))  # no version
    assert not parts.apply(orjson.dumps({"version": 3, "part": "lorry", "lorry_id": "x"}))
    assert not parts.apply(orjson.dumps({"version": 3, "part": ["zone"], "zone_id": "alex"}))
    assert not parts.apply(orjson.dumps({**good, "version": 0}))  # older than what it has
    assert [z.zone_id for z in parts.data().zones] == ["alex"] and parts.version == 1


def test_a_change_whose_message_would_not_fit_a_default_broker_is_refused(engine: Engine,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.import_module("web.reference"), "REFERENCE_MAX_COMPRESSED_BYTES", 5_000)
    with Session(engine) as session, session.begin(), pytest.raises(
            ReferenceTooLarge, match=r"fleet:big: .* bytes compressed, above the 5000-byte limit; split the fleet"):
        put_fleet_document(session, _fleet("big", 800, prefix="BG"), EVERYTHING, actor="admin")
        announce_change(session)


@pytest.fixture
def sink(broker: str, settings: Settings, engine: Engine) -> Iterator[Settings]:
    """`run_sink` in a thread on the test's broker and store."""
    sink_settings = settings.with_overrides(bootstrap_servers=broker, partitions=1)
    ensure_topics(broker, 1, (STOP_REQUESTS, REFERENCE_TOPIC))
    stop = threading.Event()
    thread = threading.Thread(target=run_sink, args=(sink_settings, stop), name="sink-under-test")
    thread.start()
    try:
        yield sink_settings
    finally:
        stop.set()
        thread.join(20)


def _watch(bootstrap: str, topic: str) -> KafkaConsumer:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="test-watch")
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})]
    consumer.assign(partitions)
    consumer.seek_to_end(*partitions)
    for tp in partitions:
        consumer.position(tp)
    return consumer


@pytest.mark.slow
def test_through_the_broker_a_large_change_never_delays_a_stop_and_the_detector_rebuilds_the_store(
        sink: Settings, engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        upsert_stop_request(session, stop_request(request_id="sr-0001"))
        approve(session, "sr-0001", "officer1")
    # The change the issue measured: a 15,000-vehicle fleet (2.1 MB), sent whole, as one compressed message.
    [(_, big)] = _change(engine, lambda s: put_fleet_document(s, _fleet("big-rental", 15_000, prefix="BR"),
                                                              EVERYTHING, actor="admin"))
    raw = orjson.dumps(big)
    assert len(raw) > 2_000_000 and wire_size(raw) <= REFERENCE_MAX_COMPRESSED_BYTES
    watch = _watch(sink.bootstrap, STOP_REQUESTS)
    try:
        with Session(engine) as session, session.begin():
            approve(session, "sr-0001", "officer2")
        authorised_at = time.monotonic()
        seen: list[dict[str, Any]] = []
        while time.monotonic() - authorised_at < 2.0 and not any(v["status"] == "authorized" for v in seen):
            for messages in watch.poll(timeout_ms=100).values():
                seen += [orjson.loads(m.value) for m in messages]
        delay = time.monotonic() - authorised_at
    finally:
        watch.close()
    assert any(v["status"] == "authorized" for v in seen), f"no authorised decision within 2 s: {seen}"
    print(f"authorised decision on {STOP_REQUESTS} {delay:.2f} s after its commit, behind a 15,000-vehicle change")
    for change in _world_changes(engine):
        assert change

    def settled() -> bool:
        with Session(engine) as session:
            return all(r.sent_at is not None for r in session.execute(select(OutboxRow)).scalars())

    deadline = time.monotonic() + 30
    while not settled() and time.monotonic() < deadline:
        time.sleep(0.2)
    with Session(engine) as session:
        assert not [(r.key, r.last_error) for r in session.execute(select(OutboxRow)).scalars()
                    if r.dead_at is not None or r.sent_at is None]
    source = TopicSource(sink.bootstrap)
    try:
        data = source.load()
        assert not source.changed()
    finally:
        source.close()
    whole = _whole(engine)
    assert source.version == whole["version"]
    _same(data, parse_snapshot(orjson.dumps(whole)))
    assert len(data.vehicles) == 15_000 + 20 + 1
