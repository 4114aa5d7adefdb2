"""Dead-letter completeness: every message consumed is either processed or dead-lettered, exactly once, counted so.

Hypothesis draws malformed telemetry of every kind the contract rejects (section 2), mixed with good records,
duplicates and records too late to process, and sends them through the real embedded broker to a live detector
(the same LiveDetector `truckguard detect` runs, here in a thread so its counters can be read). The producer's
delivery reports are all checked, so every message is known by partition and offset; the dead letters must
name exactly the malformed ones, and the counters must add up to what the topic holds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kafka import KafkaAdminClient, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord

from anomaly.config import EngineConfig
from anomaly.engine import DetectionEngine
from ingest.broker import EmbeddedBroker
from ingest.kafka_clients import read_to_end
from ingest.live_detector import LiveDetector, LiveDetectorOptions
from ingest.pipeline import DetectPipeline
from ingest.reference_source import DirectorySource
from ingest.topics import DEADLETTER, TELEMETRY, ensure_topics
from telematics.validation import InvalidRecord, validate_record
from telematics.wire import MAX_MESSAGE_BYTES, VEHICLE_ID_PATTERN
from tests.bundles import write_bundle

pytestmark = pytest.mark.slow

T0 = 1_795_500_000_000  # 2026-11-24, within the contract's range of ts
LATENESS_MS = 60_000
GOOD = {"vehicle_id": "NF-101", "ts": T0, "lat": 52.43, "lon": 13.52, "ignition": False}

Message = tuple[bytes | None, bytes | None]
"""(key, value) as produced; a None value is a Kafka tombstone."""


def record(**fields: object) -> bytes:
    return orjson.dumps({**GOOD, **fields})


def invalid_ts(text: str) -> bool:
    try:
        validate_record({**GOOD, "ts": text})
    except InvalidRecord:
        return True
    return False


INT64 = st.integers(-(2**63), 2**63 - 1)
"""Integers orjson writes; bigger ones are not a message a producer can send as JSON here."""
# Every kind of malformed message of contract section 2, each drawn with varied content.
MALFORMED: dict[str, st.SearchStrategy[bytes | None]] = {
    "not_json": st.binary(max_size=40).map(lambda b: b"\x00" + b),
    "not_utf8": st.binary(max_size=40).map(lambda b: b'{"vehicle_id": "\xff' + b),
    "empty": st.just(b""),
    "tombstone": st.just(None),
    "not_an_object": st.one_of(st.lists(INT64, max_size=3), INT64, st.text(max_size=10), st.none()).map(orjson.dumps),
    "no_vehicle_id": st.builds(lambda ts: orjson.dumps({"ts": ts}), st.integers(0, T0)),
    "bad_vehicle_id": st.one_of(
        st.text(max_size=8).filter(lambda t: not VEHICLE_ID_PATTERN.fullmatch(t)),
        st.text(alphabet="AB", min_size=65, max_size=70),
        INT64,
    ).map(lambda v: record(vehicle_id=v)),
    "no_ts": st.just(orjson.dumps({"vehicle_id": "NF-101"})),
    "bad_ts": st.text(max_size=30).filter(invalid_ts).map(lambda t: record(ts=t)),
    "ts_without_offset": st.datetimes().map(lambda d: record(ts=d.isoformat())),
    "not_finite": st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e999"]).map(
        lambda token: b'{"vehicle_id": "NF-101", "ts": %d, "engine_rpm": %s}' % (T0, token)
    ),
    "lat_out_of_range": st.one_of(st.floats(90.0001, 1e6), st.floats(-1e6, -90.0001)).map(lambda v: record(lat=v)),
    "lon_out_of_range": st.one_of(st.floats(180.0001, 1e6), st.floats(-1e6, -180.0001)).map(lambda v: record(lon=v)),
    "speed_out_of_range": st.tuples(
        st.sampled_from(["gnss_speed_kmh", "wheel_speed_kmh"]),
        st.one_of(st.floats(300.0001, 1e6), st.floats(-1e6, -0.0001)),
    ).map(lambda fv: record(**{fv[0]: fv[1]})),
    "oversized": st.integers(MAX_MESSAGE_BYTES + 1, MAX_MESSAGE_BYTES + 4096).map(lambda size: record(pad="x" * size)),
}


@st.composite
def mixed_input(draw: st.DrawFn, round_number: int) -> tuple[list[Message], set[int], int]:
    """Messages in a drawn order, the positions of those that must be dead-lettered, and how many duplicates."""
    vehicle = f"FZ-{round_number}"
    messages: list[tuple[Message, bool]] = []
    for strategy in MALFORMED.values():
        for value in draw(st.lists(strategy, min_size=1, max_size=4)):
            messages.append(((draw(st.sampled_from([b"raw", b"NF-101", b""])), value), True))
    good = [
        orjson.dumps({**GOOD, "vehicle_id": vehicle, "seq": n, "ts": T0 + round_number * 3_600_000 + n * 1000})
        for n in range(draw(st.integers(2, 6)))
    ]
    # A duplicate is processed (recognised and dropped by the engine), not dead-lettered.
    duplicates = draw(st.lists(st.sampled_from(good), max_size=3))
    order = draw(st.permutations(messages + [((vehicle.encode(), g), False) for g in duplicates]))
    # Good records first, in order, then a record older than the released ones: too late, dead-lettered.
    too_late = orjson.dumps({**GOOD, "vehicle_id": vehicle, "ts": T0 + round_number * 3_600_000 - LATENESS_MS})
    ordered = [((vehicle.encode(), g), False) for g in good] + list(order) + [((vehicle.encode(), too_late), True)]
    return [m for m, _ in ordered], {i for i, (_, bad) in enumerate(ordered) if bad}, len(duplicates)


def produce_checked(bootstrap: str, messages: list[Message]) -> list[tuple[int, int]]:
    """Send every message and wait for each delivery report; (partition, offset) of each, or raise."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=2 * 1024 * 1024)
    try:
        futures = [producer.send(TELEMETRY, key=key, value=value) for key, value in messages]
        producer.flush()
        return [(m.partition, m.offset) for m in (f.get(timeout=10) for f in futures)]
    finally:
        producer.close()


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.05)


def messages_on(bootstrap: str, topic: str) -> list[ConsumerRecord]:
    return list(read_to_end(bootstrap, topic, client_id="fuzz-reader"))


def test_every_consumed_message_is_processed_or_dead_lettered_exactly_once(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    ensure_topics(broker.bootstrap, 4)
    bundle = write_bundle(tmp_path / "reference", [])
    reference = DirectorySource(bundle)
    config = EngineConfig(lateness_ms=LATENESS_MS)
    pipeline = DetectPipeline(DetectionEngine(reference.load(), config))
    options = LiveDetectorOptions(bootstrap=broker.bootstrap, group_id="fuzz", config=config, checkpoint_s=0.3)
    detector = LiveDetector(options, reference, pipeline)
    stop, ready = threading.Event(), threading.Event()
    loop = threading.Thread(target=detector.run, args=(stop, ready), name="fuzz-detect")
    loop.start()
    produced: dict[tuple[int, int], bool] = {}  # (partition, offset) -> must be dead-lettered
    rounds = iter(range(1000))
    duplicates = 0
    try:
        assert ready.wait(30), "the detector did not join its group"

        # Rounds share one broker and detector, so a failing round is reported as drawn, not shrunk.
        @settings(
            max_examples=4,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(st.data())
        def one_round(data: st.DataObject) -> None:
            nonlocal duplicates
            messages, bad, repeated = data.draw(mixed_input(next(rounds)))
            duplicates += repeated
            for position, place in enumerate(produce_checked(broker.bootstrap, messages)):
                produced[place] = position in bad
            wait_until(lambda: pipeline.counts.records == len(produced), 15, "the detector to consume every message")
            wait_until(
                lambda: len(messages_on(broker.bootstrap, DEADLETTER)) >= sum(produced.values()),
                15,
                "the dead letters",
            )

        one_round()
    finally:
        stop.set()
        loop.join(30)
    assert not loop.is_alive()

    letters = messages_on(broker.bootstrap, DEADLETTER)
    named = [(d["partition"], d["offset"]) for d in (orjson.loads(m.value) for m in letters)]
    must = sorted(place for place, bad in produced.items() if bad)
    # Every message produced is on the topic (delivery reports checked), was consumed once, and went one way.
    assert len(messages_on(broker.bootstrap, TELEMETRY)) == len(produced)
    assert sorted(named) == must  # exactly the malformed ones, each once
    counts = pipeline.counts
    assert counts.records == len(produced)
    assert counts.rejected == len(letters) == len(must)
    assert counts.records - counts.rejected == len(produced) - len(must)
    assert counts.too_late == next(rounds)  # one per round
    assert counts.duplicates == duplicates
    # The consumer group's committed offsets reached the end: nothing will be consumed again.
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        committed = admin.list_group_offsets("fuzz")["fuzz"]
    finally:
        admin.close()
    ends: dict[int, int] = {}
    for partition, offset in produced:
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    assert {tp.partition: meta.offset for tp, meta in committed.items() if tp.topic == TELEMETRY} == ends
