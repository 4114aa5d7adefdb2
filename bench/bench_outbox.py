"""Outbox relay benchmark: how soon a stop decision reaches truckguard.stop-requests.v1 behind a large backlog.

    python bench/bench_outbox.py [--reference-rows 15000] [--stop-requests 50] [--timed 5]

On the embedded defaults: the embedded broker, a SQLite store and the sink (`run_sink`, as `truckguard sink` runs
it, with its stop lane's own thread) in this process. The outbox (web/outbox.py, relayed by workers/outbox_relay.py)
is filled in one transaction with --reference-rows reference messages, one per vehicle's planned trips of a
15,000-vehicle fleet (the issue's fleet; each about 1 kB, distinct keys, so none is superseded), and --stop-requests
stop requests each first approved and then authorised (two stop-lane rows each). Then stop requests are authorised
through the site's own code (`web.stop_flow.approve`) one after another, each timed from its commit to its
`authorized` message on the topic:

- warm: the sink is running when the backlog lands; --timed decisions, 0.5 s apart, while the backlog drains;
- cold: the backlog and one decision are queued while no sink runs (an outage); timed from the sink's start.

Prints the figures as JSON lines (and the machine and its load); asserts nothing (the target is 2 s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.broker import EmbeddedBroker, free_port
from ingest.topics import STOP_REQUESTS, ensure_topics
from telematics.settings import Settings
from web.db import make_engine, writer
from web.migrate import upgrade_store
from web.models import OutboxRow
from web.outbox import GENERAL_LANE, STOP_LANE, enqueue
from web.reference import REFERENCE_TOPIC
from web.stop_flow import approve
from web.store import upsert_stop_request
from workers.sink import run_sink

FLEET_VEHICLES = 15_000


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _stop_request(request_id: str, vehicle_id: str) -> dict[str, Any]:
    """A contract stop request as the detector raises it."""
    now = _now()
    return {"request_id": request_id, "vehicle_id": vehicle_id, "fleet_id": "big-rental", "ts": now,
            "mode": "controlled_stop", "target_speed_kmh": None, "status": "requested", "alert_ids": ["al-1"],
            "reason": "heading into a protected zone", "zone_id": "market", "lat": 52.521, "lon": 13.411,
            "history": [{"status": "requested", "at": now, "by": "detector"}]}


def _trips_message(vehicle: int, version: int) -> dict[str, Any]:
    """One vehicle's planned trips as the site queues them: a 30-point route, about 1 kB."""
    route = [[round(13.30 + 0.002 * i + vehicle * 1e-6, 6), round(52.45 + 0.001 * i, 6)] for i in range(30)]
    vehicle_id = f"BR-{vehicle:06d}"
    return {"version": version, "part": "trips", "vehicle_id": vehicle_id, "trips": {
        "type": "FeatureCollection", "features": [{
            "type": "Feature", "geometry": {"type": "LineString", "coordinates": route},
            "properties": {"trip_id": f"t-{vehicle:06d}", "vehicle_id": vehicle_id, "fleet_id": "big-rental",
                           "start": "2026-11-24T06:00:00Z", "end": "2026-11-24T18:00:00Z"}}]}}


def _requests(engine: Engine, request_ids: list[str], *, first_approval: bool) -> None:
    with Session(writer(engine)) as session, session.begin():
        for n, request_id in enumerate(request_ids):
            upsert_stop_request(session, _stop_request(request_id, f"BR-{n:06d}"))
            if first_approval:
                approve(session, request_id, "officer1")


def _backlog(engine: Engine, reference_rows: int, stop_requests: int, tag: str) -> float:
    """Queues the backlog in one transaction; returns its seconds."""
    started = time.monotonic()
    request_ids = [f"sr-{tag}-backlog-{n:04d}" for n in range(stop_requests)]
    _requests(engine, request_ids, first_approval=False)
    with Session(writer(engine)) as session, session.begin():
        for vehicle in range(reference_rows):
            enqueue(session, REFERENCE_TOPIC, f"trips:BR-{vehicle % FLEET_VEHICLES:06d}", _trips_message(vehicle, 2))
            if stop_requests and vehicle % max(1, reference_rows // stop_requests) == 0 and request_ids:
                request_id = request_ids.pop()
                approve(session, request_id, "officer1")
                approve(session, request_id, "officer2")
    return time.monotonic() - started


def _watch(bootstrap: str) -> KafkaConsumer:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="bench-outbox-watch",
                             fetch_max_wait_ms=10)
    partitions = [TopicPartition(STOP_REQUESTS, p) for p in sorted(consumer.partitions_for_topic(STOP_REQUESTS)
                                                                   or {0})]
    consumer.assign(partitions)
    consumer.seek_to_end(*partitions)
    for tp in partitions:
        consumer.position(tp)
    return consumer


def _seen_authorised(watch: KafkaConsumer, request_id: str, since: float, timeout_s: float) -> float | None:
    """Seconds from ``since`` until the request's ``authorized`` message is read from the topic, or None."""
    while time.monotonic() - since < timeout_s:
        for messages in watch.poll(timeout_ms=20).values():
            for message in messages:
                value = orjson.loads(message.value)
                if value.get("request_id") == request_id and value.get("status") == "authorized":
                    return time.monotonic() - since
    return None


def _unsent(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        rows = session.execute(select(OutboxRow.lane, func.count()).where(
            OutboxRow.sent_at.is_(None), OutboxRow.dead_at.is_(None)).group_by(OutboxRow.lane)).all()
    counts = {lane: count for lane, count in rows}
    return {lane: counts.get(lane, 0) for lane in (STOP_LANE, GENERAL_LANE)}


def _drained(engine: Engine, since: float, lane: str, timeout_s: float) -> float | None:
    while time.monotonic() - since < timeout_s:
        if _unsent(engine)[lane] == 0:
            return time.monotonic() - since
        time.sleep(0.05)
    return None


class Sink:
    """`run_sink` in a thread, as `truckguard sink` runs it."""

    def __init__(self, settings: Settings) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=run_sink, args=(settings, self.stop), name="sink", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def warm(settings: Settings, engine: Engine, args: argparse.Namespace) -> dict[str, Any]:
    sink = Sink(settings)
    watch = _watch(settings.bootstrap)
    try:
        # Warm-up: the sink is connected and its stop lane running once a first decision comes through.
        _requests(engine, ["sr-warm-up"], first_approval=True)
        with Session(writer(engine)) as session, session.begin():
            approve(session, "sr-warm-up", "officer2")
        if _seen_authorised(watch, "sr-warm-up", time.monotonic(), 60) is None:
            raise SystemExit("the sink never relayed the warm-up decision")
        timed_ids = [f"sr-warm-{n}" for n in range(args.timed)]
        _requests(engine, timed_ids, first_approval=True)
        fill_s = _backlog(engine, args.reference_rows, args.stop_requests, "warm")
        backlog_at = time.monotonic()
        delays: list[float | None] = []
        for n, request_id in enumerate(timed_ids):
            time.sleep(max(0.0, backlog_at + 0.5 * n - time.monotonic()))
            with Session(writer(engine)) as session, session.begin():
                approve(session, request_id, "officer2")
            delays.append(_seen_authorised(watch, request_id, time.monotonic(), 30))
        stop_drained = _drained(engine, backlog_at, STOP_LANE, 60)
        general_drained = _drained(engine, backlog_at, GENERAL_LANE, args.drain_timeout)
    finally:
        watch.close()
        sink.close()
    known = [d for d in delays if d is not None]
    return {"scenario": "warm", "reference_rows": args.reference_rows, "backlog_stop_rows": 2 * args.stop_requests,
            "fill_s": _round(fill_s), "decisions_timed": len(delays), "decisions_seen": len(known),
            "decision_to_topic_s": [_round(d) for d in delays],
            "decision_to_topic_max_s": _round(max(known)) if known else None,
            "decision_to_topic_median_s": _round(statistics.median(known)) if known else None,
            "stop_lane_drained_s": _round(stop_drained), "general_lane_drained_s": _round(general_drained),
            "general_rows_per_s": round(args.reference_rows / general_drained) if general_drained else None,
            "unsent_after": _unsent(engine)}


def cold(settings: Settings, engine: Engine, args: argparse.Namespace) -> dict[str, Any]:
    _requests(engine, ["sr-cold"], first_approval=True)
    fill_s = _backlog(engine, args.reference_rows, args.stop_requests, "cold")
    with Session(writer(engine)) as session, session.begin():
        approve(session, "sr-cold", "officer2")
    watch = _watch(settings.bootstrap)
    started = time.monotonic()
    sink = Sink(settings)
    try:
        delay = _seen_authorised(watch, "sr-cold", started, 60)
        general_drained = _drained(engine, started, GENERAL_LANE, args.drain_timeout)
    finally:
        watch.close()
        sink.close()
    return {"scenario": "cold", "reference_rows": args.reference_rows, "backlog_stop_rows": 2 * args.stop_requests,
            "fill_s": _round(fill_s), "sink_start_to_decision_on_topic_s": _round(delay),
            "general_lane_drained_s": _round(general_drained),
            "general_rows_per_s": round(args.reference_rows / general_drained) if general_drained else None,
            "unsent_after": _unsent(engine)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference-rows", type=int, default=FLEET_VEHICLES)
    parser.add_argument("--stop-requests", type=int, default=50, help="authorised stop requests in the backlog")
    parser.add_argument("--timed", type=int, default=5, help="decisions timed while the warm backlog drains")
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    parser.add_argument("--scenario", choices=("warm", "cold", "both"), default="both")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="tg-bench-outbox-"))
    print(json.dumps({"machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                      "python": platform.python_version(), "load_average": [round(x, 2) for x in os.getloadavg()],
                      "workdir": str(workdir)}), flush=True)
    with EmbeddedBroker(free_port(), log_path=workdir / "broker.log") as broker:
        ensure_topics(broker.bootstrap, 1, (STOP_REQUESTS, REFERENCE_TOPIC))
        for scenario in (("warm", "cold") if args.scenario == "both" else (args.scenario,)):
            settings = Settings(data_dir=workdir / scenario).with_overrides(bootstrap_servers=broker.bootstrap,
                                                                            partitions=1)
            upgrade_store(settings.store_url)
            engine = make_engine(settings.store_url)
            try:
                figures = (warm if scenario == "warm" else cold)(settings, engine, args)
            finally:
                engine.dispose()
            print(json.dumps(figures), flush=True)
    print(json.dumps({"load_average_after": [round(x, 2) for x in os.getloadavg()]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
