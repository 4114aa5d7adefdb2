"""Chaos bench: a labelled bundle fed live while its detector, broker, sink and dispatcher are killed; what survives.

    python bench/chaos.py [--bundle theft-wave --vehicles 60] [--speed 10] [--detector-kills 3]
    python bench/chaos.py --bundle scenarios --vehicles 24 --days 0.05 --incidents 16 --seed 11

A labelled bundle (60 trucks stolen and driven into a market, or one from `truckguard scenarios generate`) is
replayed first (the expected alerts and stop requests). Then the durable embedded broker (`truckguard broker
--durable`'s storage), `truckguard detect`, `truckguard sink` and `truckguard dispatch` run on a fresh data folder
while the telemetry is produced in arrival order, paced at --speed times event time. Meanwhile the detector is
SIGKILLed --detector-kills times (and started again each time), the whole broker (object store and Tansu) is
SIGKILLed and started again on its folder, and the sink and the dispatcher are each
SIGKILLed once and started again. An "officer" thread approves every stop request the store receives twice (two
officers), so each is authorised and must be sent once. Afterwards it waits for the outputs to settle and prints:

- alerts: each (alert id, revision) of replay on the topic, missing and extra ones, byte-identical redeliveries
  (the crash window re-sends an output; consumers keep it once) and copies that differ (there must be none);
- the store: each alert id of replay stored at its last revision, ids missing, ids not from replay;
- stop requests: on the topic and in the store; authorised ones; distinct commands sent per request (must be 1)
  and `sent` steps per request in the store's history (must be 1);
- the audit chain of the store (`truckguard audit verify`).

Asserts nothing; exit code 1 when a figure that must be zero is not.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafka import KafkaProducer

from ingest.broker import BrokerStorage, EmbeddedBroker, free_port, port_open
from ingest.kafka_clients import read_to_end
from ingest.processes import start_child, stop_child
from ingest.replay import replay_bundle
from ingest.topics import ALERTS, STOP_REQUESTS, TELEMETRY, VEHICLE_COMMANDS, ensure_topics
from telematics.commands import generate_keypair
from telematics.timeutil import parse_rfc3339_ms

PARTITIONS = 4


class Platform:
    """The durable broker and the three services, each startable and killable by name."""

    def __init__(self, workdir: Path, bundle: Path, idle_flush_s: float) -> None:
        self.workdir = workdir
        self.idle_flush_s = idle_flush_s
        self.broker = EmbeddedBroker(free_port(), log_path=workdir / "broker.log",
                                     storage=BrokerStorage.durable(workdir))
        self.store_url = f"sqlite:///{workdir / 'store.sqlite'}"
        self.keys = workdir / "keys"
        generate_keypair(self.keys)
        self.commands = {
            "detect": ["detect", "--reference", str(bundle)],
            "sink": ["sink"],
            "dispatch": ["dispatch"],
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.started_at: dict[str, float] = {}
        self.kills: Counter[str] = Counter()

    def env(self) -> dict[str, str]:
        return {**os.environ, "TRUCKGUARD_BOOTSTRAP_SERVERS": self.broker.bootstrap,
                "TRUCKGUARD_DATABASE_URL": self.store_url, "TRUCKGUARD_DATA_DIR": str(self.workdir),
                "TRUCKGUARD_COMMAND_KEYS": str(self.keys), "TRUCKGUARD_PARTITIONS": str(PARTITIONS),
                "TRUCKGUARD_CHECKPOINT_S": "1", "TRUCKGUARD_IDLE_FLUSH_S": str(self.idle_flush_s),
                "TRUCKGUARD_LOG_LEVEL": "INFO",
                # Officers approve within seconds here; the default 900 s expiry is not what is being tested.
                "TRUCKGUARD_STOP_REQUEST_EXPIRY_S": "3600"}

    def start(self, name: str) -> None:
        self.processes[name] = start_child([sys.executable, "-m", "truckguard", *self.commands[name]], self.env(),
                                           self.workdir / f"{name}.log")
        self.started_at[name] = time.monotonic()

    def uptime(self, name: str) -> float:
        return time.monotonic() - self.started_at.get(name, time.monotonic())

    def kill(self, name: str) -> None:
        process = self.processes[name]
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        self.kills[name] += 1

    def restart_broker(self) -> None:
        """SIGKILL the object store and Tansu together, as a power cut would, and start them on the same folder."""
        assert self.broker.process is not None
        os.killpg(self.broker.process.pid, signal.SIGKILL)
        self.broker.process.wait()
        self.broker.process = None
        deadline = time.monotonic() + 10
        while port_open("127.0.0.1", self.broker.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.kills["broker"] += 1
        self.broker.start()
        self.started_at["broker"] = time.monotonic()

    def stop_all(self) -> None:
        for name in ("dispatch", "sink", "detect"):
            if name in self.processes:
                stop_child(self.processes[name], 20)
        self.broker.stop()


def produce(bootstrap: str, lines: list[bytes], speed: float, produced: list[int]) -> None:
    # Not idempotent: Tansu 0.6 answers a send retried across its restart with DUPLICATE_SEQUENCE_NUMBER, which
    # kafka-python takes for success though the restarted broker never stored it. A plain retry may store a
    # record twice instead; the detector drops the copy as a duplicate (vehicle_id, seq).
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=1_000, retry_backoff_ms=250,
                             linger_ms=5, max_in_flight_requests_per_connection=1, request_timeout_ms=5_000,
                             delivery_timeout_ms=300_000, enable_idempotence=False)
    started = time.monotonic()
    first_ms = latest_ms = None
    for n, line in enumerate(lines):
        record = json.loads(line)
        # Paced in event time, as the vehicles send: the detector's silence watermark is the latest event time it
        # has seen, so a feed hundreds of times faster than real time lets one partition's records run minutes of
        # event time ahead of another's between two polls, and vehicles that are not silent look silent.
        ts_ms = parse_rfc3339_ms(record["ts"]) if isinstance(record["ts"], str) else int(record["ts"])
        first_ms = ts_ms if first_ms is None else first_ms
        latest_ms = ts_ms if latest_ms is None else max(latest_ms, ts_ms)
        ahead = (latest_ms - first_ms) / 1000 / speed - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
        producer.send(TELEMETRY, key=record["vehicle_id"].encode(), value=line)
        produced[0] = n + 1
    producer.flush(300)
    producer.close()


def officer(store_url: str, stop: threading.Event, approved: set[str]) -> None:
    """Two officers approve each stop request as soon as the store has it."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from web.db import make_engine, writer
    from web.models import StopRequestRow
    from web.stop_flow import StopRequestError, approve

    engine = None
    while not stop.wait(0.5):
        try:
            engine = engine or make_engine(store_url)
            with Session(engine) as session:
                waiting = session.execute(select(StopRequestRow.request_id)
                                          .where(StopRequestRow.status == "requested")).scalars().all()
            for request_id in waiting:
                for name in ("chaos-officer-1", "chaos-officer-2"):
                    try:
                        with Session(writer(engine)) as session, session.begin():
                            approve(session, request_id, name, expiry_s=3600)
                    except StopRequestError:
                        pass  # already decided by this officer's earlier pass
                approved.add(request_id)
        except Exception as exc:  # the store may not exist yet, or be busy: try again
            if "no such table" not in str(exc):
                print(f"  officer: {type(exc).__name__}: {str(exc).splitlines()[0]}", flush=True)
    if engine is not None:
        engine.dispose()


def expected_outputs(bundle: Path, out: Path) -> tuple[dict[tuple[str, int], bytes], set[str]]:
    replay_bundle(bundle, out / "alerts.jsonl", out / "stops.jsonl", progress=False)
    alerts = {}
    for line in (out / "alerts.jsonl").read_bytes().splitlines():
        alert = json.loads(line)
        alerts[(alert["alert_id"], alert["revision"])] = line
    stops = {json.loads(line)["request_id"] for line in (out / "stops.jsonl").read_bytes().splitlines()}
    return alerts, stops


def topic_alerts(bootstrap: str) -> dict[tuple[str, int], list[bytes]]:
    seen: dict[tuple[str, int], list[bytes]] = defaultdict(list)
    for message in read_to_end(bootstrap, ALERTS, client_id="chaos-reader"):
        alert = json.loads(message.value)
        seen[(alert["alert_id"], alert["revision"])].append(message.value)
    return seen


def topic_commands(bootstrap: str) -> dict[str, Counter[str]]:
    """request id → command id → messages carrying it."""
    commands: dict[str, Counter[str]] = defaultdict(Counter)
    for message in read_to_end(bootstrap, VEHICLE_COMMANDS, client_id="chaos-reader"):
        try:
            value = json.loads(message.value)
            command = json.loads(value["command"]["payload"])
        except (ValueError, KeyError, TypeError):
            continue  # trust lists and zone sets share the topic
        commands[command["request_id"]][command["command_id"]] += 1
    return commands


def store_figures(store_url: str) -> tuple[dict[str, int], dict[str, dict[str, Any]]]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from web.db import make_engine
    from web.models import AlertRow, StopRequestRow

    engine = make_engine(store_url)
    try:
        with Session(engine) as session:
            alerts = {alert_id: revision for alert_id, revision in
                      session.execute(select(AlertRow.alert_id, AlertRow.revision))}
            requests = {row.request_id: {"status": row.status, "history": row.history}
                        for row in session.execute(select(StopRequestRow)).scalars()}
        return alerts, requests
    finally:
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=60)
    parser.add_argument("--days", type=float, default=0.05)
    parser.add_argument("--incidents", type=int, default=16)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--bundle", choices=("theft-wave", "scenarios"), default="theft-wave",
                        help="theft-wave: N trucks stolen at night and driven into a market (tests/bundles.py, with "
                        "out-of-order and repeated records); scenarios: `truckguard scenarios generate`")
    parser.add_argument("--speed", type=float, default=10.0, help="event time per wall-clock time of the feed")
    parser.add_argument("--detector-kills", type=int, default=3)
    parser.add_argument("--sink-kills", type=int, default=1)
    parser.add_argument("--dispatch-kills", type=int, default=1)
    parser.add_argument("--broker-restarts", type=int, default=1)
    parser.add_argument("--min-uptime-s", type=float, default=10.0,
                        help="a part is killed only after it has run this long (started, joined its group, working)")
    parser.add_argument("--idle-flush-s", type=float, default=5.0,
                        help="TRUCKGUARD_IDLE_FLUSH_S of the detector (its default 5 s)")
    parser.add_argument("--settle-s", type=float, default=180.0, help="longest wait for outputs after the feed")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="truckguard-chaos-"))
    bundle = workdir / "bundle"
    if args.bundle == "scenarios":
        subprocess.run([sys.executable, "-m", "truckguard", "scenarios", "generate", str(bundle), "--seed",
                        str(args.seed), "--vehicles", str(args.vehicles), "--days", str(args.days), "--incidents",
                        str(args.incidents), "--profiles", "classic"], check=True, capture_output=True)
    else:
        from tests.bundles import theft_wave, write_bundle

        fleet, records = theft_wave(args.vehicles)
        write_bundle(bundle, records, fleet=fleet)
    (workdir / "replay").mkdir()
    expected_alerts, expected_stops = expected_outputs(bundle, workdir / "replay")
    lines = (bundle / "telemetry.jsonl").read_bytes().splitlines()
    print(f"bundle: {len(lines):,} records of {args.vehicles} vehicles; replay: {len(expected_alerts)} alert "
          f"revisions of {len({a for a, _ in expected_alerts})} alerts, {len(expected_stops)} stop requests; "
          f"work folder {workdir}", flush=True)

    platform = Platform(workdir, bundle, args.idle_flush_s)
    platform.broker.start()
    platform.started_at["broker"] = time.monotonic()
    ensure_topics(platform.broker.bootstrap, PARTITIONS)
    for name in ("sink", "dispatch", "detect"):
        platform.start(name)
    stop_officer = threading.Event()
    approved: set[str] = set()
    officer_thread = threading.Thread(target=officer, args=(platform.store_url, stop_officer, approved), daemon=True)
    officer_thread.start()
    # Records fed before the detector has joined its group pile up, and its first polls would then come from one
    # partition far ahead of the others: start the feed once it has its partitions, as a running platform would.
    deadline = time.monotonic() + 120
    while "assigned partitions" not in (workdir / "detect.log").read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise SystemExit(f"the detector did not get its partitions; see {workdir / 'detect.log'}")
        time.sleep(0.2)
    produced = [0]
    feeder = threading.Thread(target=produce, args=(platform.broker.bootstrap, lines, args.speed, produced))
    started = time.monotonic()
    feeder.start()

    # The chaos, spread over the feed: at each fraction of the records produced, one blow.
    blows: list[tuple[float, str]] = [((i + 1) / (args.detector_kills + 4), "detect")
                                      for i in range(args.detector_kills)]
    blows += [(0.30, "sink")] * args.sink_kills + [(0.50, "broker")] * args.broker_restarts
    blows += [(0.70, "dispatch")] * args.dispatch_kills
    for fraction, target in sorted(blows):
        # A blow lands mid-stream, and only on a part that has been up long enough to be doing its work.
        while (produced[0] < fraction * len(lines) or platform.uptime(target) < args.min_uptime_s) \
                and feeder.is_alive():
            time.sleep(0.05)
        at = time.monotonic() - started
        if target == "broker":
            platform.restart_broker()
        else:
            platform.kill(target)
            platform.start(target)
        print(f"  {at:6.1f} s  {produced[0]:>7,} records produced: killed {target} and started it again", flush=True)
    feeder.join()
    print(f"  {time.monotonic() - started:6.1f} s  all {len(lines):,} records produced and acknowledged", flush=True)

    # Settle: every alert revision of replay on the topic, every authorised request sent.
    deadline = time.monotonic() + args.settle_s
    while time.monotonic() < deadline:
        seen = topic_alerts(platform.broker.bootstrap)
        _, requests = store_figures(platform.store_url)
        sent = {r for r, value in requests.items() if any(e.get("status") == "sent" for e in value["history"])}
        if set(expected_alerts) <= set(seen) and expected_stops <= approved and expected_stops <= sent:
            break
        time.sleep(2)
    time.sleep(5)  # late redeliveries and the last acknowledgements
    stop_officer.set()
    officer_thread.join(10)
    seen = topic_alerts(platform.broker.bootstrap)
    commands = topic_commands(platform.broker.bootstrap)
    stored_alerts, requests = store_figures(platform.store_url)
    stop_topic = {json.loads(m.value)["request_id"]
                  for m in read_to_end(platform.broker.bootstrap, STOP_REQUESTS, client_id="chaos-reader")}
    platform.stop_all()

    from web.audit_chain import verify_store

    chain = verify_store(platform.store_url)
    last_revision: dict[str, int] = {}
    for alert_id, revision in expected_alerts:
        last_revision[alert_id] = max(revision, last_revision.get(alert_id, -1))
    missing = sorted(set(expected_alerts) - set(seen))
    extra = sorted(set(seen) - set(expected_alerts))
    redelivered = sum(len(copies) - 1 for copies in seen.values())
    differing = sorted(key for key, copies in seen.items() if len(set(copies)) > 1 or
                       (key in expected_alerts and copies[0] != expected_alerts[key]))
    store_missing = sorted(a for a in last_revision if a not in stored_alerts)
    store_stale = sorted(a for a, r in last_revision.items() if a in stored_alerts and stored_alerts[a] != r)
    store_extra = sorted(set(stored_alerts) - set(last_revision))
    sent_steps = {r: sum(1 for e in v["history"] if e.get("status") == "sent") for r, v in requests.items()}
    authorised = sorted(r for r, v in requests.items() if any(e.get("status") == "authorized" for e in v["history"]))
    commands_per_request = {r: len(commands.get(r, {})) for r in authorised}

    print("kills:", ", ".join(f"{name} {count}" for name, count in sorted(platform.kills.items())))
    print(f"alerts on the topic: {len(set(seen) & set(expected_alerts))} of {len(expected_alerts)} revisions of "
          f"replay; missing {len(missing)}, not from replay {len(extra)}, byte-identical redeliveries {redelivered}, "
          f"differing copies {len(differing)}")
    print(f"alerts in the store: {len(last_revision) - len(store_missing)} of {len(last_revision)} alert ids; "
          f"missing {len(store_missing)}, not at replay's last revision {len(store_stale)}, "
          f"not from replay {len(store_extra)}")
    print(f"stop requests: replay {len(expected_stops)}, on the topic {len(expected_stops & stop_topic)}, in the "
          f"store {len(expected_stops & set(requests))}, authorised {len(authorised)}; distinct commands per "
          f"authorised request {dict(Counter(commands_per_request.values()))}, `sent` steps per request "
          f"{dict(Counter(sent_steps[r] for r in authorised))}, command messages "
          f"{sum(sum(c.values()) for c in commands.values())}")
    print(f"audit chain: {'intact' if chain.intact else 'BROKEN'}, {chain.entries} entries"
          + ("" if chain.intact else f"; {chain.problems[:3]}"))
    if missing or extra:
        print(f"  missing {missing[:5]} extra {extra[:5]}")
    failed = (missing or extra or differing or store_missing or store_stale or store_extra
              or expected_stops - stop_topic or expected_stops - set(requests)
              or any(n != 1 for n in commands_per_request.values())
              or any(sent_steps[r] != 1 for r in authorised) or len(authorised) != len(expected_stops)
              or not chain.intact)
    print("RESULT:", "FAIL" if failed else "PASS", f"(logs in {workdir})")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
