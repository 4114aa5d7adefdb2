"""Benchmark of the live path through the embedded broker: detector throughput and produce-to-alert latency.

    python bench/bench_live.py [--records 3000000] [--vehicles 400] [--rate 2000 --rate 20000] [--latency-seconds 30]

Throughput: N telemetry records are produced first, then 1 (and then, on a fresh broker, 2) `truckguard detect`
processes consume them; the rate is measured from the group's committed offsets, from the first commit to the
last, and each instance's CPU seconds over the same span are printed per 1,000 records it consumed. The detectors
checkpoint every second here (TRUCKGUARD_CHECKPOINT_S=1, against 5 s by default), so the first commit comes early
in the run and the rate covers nearly all of it. The run must last many commits: at 170,000 records/s one
detector reads 400,000 records in under 3 s, and 1,000,000 records gave 0.72x for two instances whose logs show
both finishing 4.5 s after their assignment; hence 3,000,000 records by default (about 3 minutes in all).
Latency: one detector, on the default settings, runs while records are produced at each --rate records/s with
wall-clock timestamps; each vehicle presses its panic button once, and the time from producing that record to
reading the panic alert from truckguard.alerts.v1 is measured (p50, p99), split where the clocks allow it: up
to the detector's send of the alert (the alert's Kafka CreateTime), and from there to the reader; the detector's
own loop timings (fetch wait, records ahead in a poll, acknowledgements, checkpoint slices, commits) are read
from its log. Prints the figures and the machine's load; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson
from confluent_kafka import Producer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from ingest.broker import EmbeddedBroker, free_port
from ingest.processes import start_child, stop_child
from ingest.topics import ALERTS, TELEMETRY, ensure_topics
from telematics.timeutil import parse_rfc3339_ms

BERLIN = (52.52, 13.405)


def write_reference(directory: Path, vehicles: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    fleet = {
        "fleets": [
            {
                "fleet_id": "bench",
                "name": "Bench Haulage",
                "kind": "haulier",
                "timezone": "Europe/Berlin",
                "operating_hours": {d: ["00:00", "24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            }
        ],
        "vehicles": [
            {
                "vehicle_id": f"B-{i:05d}",
                "fleet_id": "bench",
                "category": "N3",
                "authorized_driver_cards": [f"C{i:05d}"],
            }
            for i in range(vehicles)
        ],
        "sites": [],
    }
    lat, lon = BERLIN
    ring = [
        [lon - 0.002, lat - 0.0012],
        [lon + 0.002, lat - 0.0012],
        [lon + 0.002, lat + 0.0012],
        [lon - 0.002, lat + 0.0012],
        [lon - 0.002, lat - 0.0012],
    ]
    zones = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {
                    "zone_id": "bench-square",
                    "name": "Bench square",
                    "kind": "public_square",
                    "timezone": "Europe/Berlin",
                    "access": {"categories_allowed": ["N1"], "max_speed_kmh": 20},
                },
            }
        ],
    }
    (directory / "fleet.json").write_text(json.dumps(fleet))
    (directory / "zones.geojson").write_text(json.dumps(zones))
    (directory / "trips.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    return directory


class Fleet:
    """Vehicles driving around Berlin at 1 Hz, each record a contract-v1 telemetry message."""

    def __init__(self, vehicles: int, seed: int = 1) -> None:
        rng = random.Random(seed)
        self.state = []
        for i in range(vehicles):
            self.state.append(
                {
                    "vehicle_id": f"B-{i:05d}",
                    "seq": 0,
                    "card": f"C{i:05d}",
                    "lat": BERLIN[0] + rng.uniform(-0.08, 0.08),
                    "lon": BERLIN[1] + rng.uniform(-0.12, 0.12),
                    "heading": rng.uniform(0, 360),
                    "speed": rng.uniform(20, 60),
                }
            )
        self.rng = rng

    def record(self, index: int, ts_ms: int, panic: bool = False) -> bytes:
        v = self.state[index]
        v["heading"] = (v["heading"] + self.rng.uniform(-10, 10)) % 360
        step = v["speed"] / 3.6 / 111_000
        v["lat"] += step * math.cos(math.radians(v["heading"]))
        v["lon"] += step * math.sin(math.radians(v["heading"])) / math.cos(math.radians(v["lat"]))
        message = {
            "vehicle_id": v["vehicle_id"],
            "ts": ts_ms,  # contract: RFC 3339 or integer epoch milliseconds; the integer is cheaper at 20,000/s
            "seq": v["seq"],
            "lat": round(v["lat"], 6),
            "lon": round(v["lon"], 6),
            "gnss_speed_kmh": round(v["speed"], 1),
            "wheel_speed_kmh": round(v["speed"], 1),
            "heading_deg": round(v["heading"], 1),
            "engine_rpm": 1400,
            "ignition": True,
            "driver_card_id": v["card"],
            "ext_power_v": 24.1,
            "panic": panic,
        }
        v["seq"] += 1
        return orjson.dumps(message)


def committed_total(admin: KafkaAdminClient, group: str) -> int:
    offsets = admin.list_group_offsets(group).get(group, {})
    return sum(o.offset for tp, o in offsets.items() if tp.topic == TELEMETRY and o.offset > 0)


def start_detectors(
    count: int, bootstrap: str, reference: Path, group: str, workdir: Path, checkpoint_s: float | None = 1.0
) -> list:
    env = {
        **os.environ,
        "TRUCKGUARD_BOOTSTRAP_SERVERS": bootstrap,
        "TRUCKGUARD_GROUP_ID": group,
        "TRUCKGUARD_DATA_DIR": str(workdir),
        "TRUCKGUARD_IDLE_FLUSH_S": "2",
    }
    if checkpoint_s is not None:
        env["TRUCKGUARD_CHECKPOINT_S"] = str(checkpoint_s)
    return [
        start_child(
            [sys.executable, "-m", "truckguard", "detect", "--reference", str(reference)],
            env,
            workdir / f"detect-{group}-{i}.log",
        )
        for i in range(count)
    ]


def settled(logs: list[Path]) -> bool:
    """Every detector's latest telemetry assignment is non-empty and together they cover the four partitions."""
    latest = []
    for log in logs:
        found = re.findall(rf"assigned partitions (\[[^\]]*\]) of {re.escape(TELEMETRY)}", log.read_text())
        if not found or found[-1] == "[]":
            return False
        latest.append(set(json.loads(found[-1])))
    return set().union(*latest) == {0, 1, 2, 3} and sum(map(len, latest)) == 4


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(detectors: int, records: int, vehicles: int, workdir: Path) -> tuple[float, list[float]]:
    """Records/s of the group, and each instance's CPU seconds per 1,000 records of the group's total."""
    with EmbeddedBroker(free_port()) as broker:
        ensure_topics(broker.bootstrap, 4)
        reference = write_reference(workdir / "reference", vehicles)
        fleet = Fleet(vehicles)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=20, batch_size=256 * 1024)
        t0 = 1_795_500_000_000
        for n in range(records):
            index = n % vehicles
            producer.send(
                TELEMETRY,
                key=fleet.state[index]["vehicle_id"].encode(),
                value=fleet.record(index, t0 + (n // vehicles) * 1000),
            )
        producer.flush()
        producer.close()
        group = f"bench-{detectors}"
        processes = start_detectors(detectors, broker.bootstrap, reference, group, workdir)
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        logs = [workdir / f"detect-{group}-{i}.log" for i in range(detectors)]
        first_seen = first_count = None
        first_cpu: list[float] = []
        try:
            while True:
                done = committed_total(admin, group)
                now = time.monotonic()
                # The clock starts once every instance holds its share (after the group's last rebalance) and has
                # committed: a join mid-run would measure the group protocol, not the detectors.
                if first_seen is None and done > 0 and settled(logs):
                    first_seen, first_count = now, done
                    first_cpu = [cpu_seconds(p.pid) for p in processes]
                if done >= records:
                    last_cpu = [cpu_seconds(p.pid) for p in processes]
                    break
                if any(p.poll() is not None for p in processes):
                    raise RuntimeError("a detector exited; see the logs in " + str(workdir))
                time.sleep(0.2)
        finally:
            for p in processes:
                stop_child(p)
            admin.close()
        assert first_seen is not None and first_count is not None
        elapsed = time.monotonic() - first_seen
        measured = records - first_count
        per_1000 = [(last - first) / measured * 1000 for first, last in zip(first_cpu, last_cpu, strict=True)]
        return (measured / elapsed if elapsed > 0 else float("inf")), per_1000


def read_panic_latencies(bootstrap: str, seconds: float, out: multiprocessing.Queue) -> None:
    """In a process of its own: per panic alert, (record ts to reading it, record ts to the alert's CreateTime)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_wait_ms=10
    )
    consumer.assign([TopicPartition(ALERTS, p) for p in range(4)])
    delays: list[tuple[float, float]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for messages in consumer.poll(timeout_ms=100).values():
            now_ms = time.time() * 1000
            for m in messages:
                alert = orjson.loads(m.value)
                if alert["kind"] == "panic":
                    produced_ms = parse_rfc3339_ms(alert["ts"])
                    delays.append(((now_ms - produced_ms) / 1000, (m.timestamp - produced_ms) / 1000))
    consumer.close()
    out.put(delays)


def latency(rate: int, seconds: int, workdir: Path) -> tuple[list[tuple[float, float]], int, dict]:
    """Records at `rate`/s stamped with the wall clock; each vehicle presses panic once; delays of the alerts."""
    vehicles = rate  # each vehicle reports once a second
    with EmbeddedBroker(free_port()) as broker:
        ensure_topics(broker.bootstrap, 4)
        reference = write_reference(workdir / f"reference-latency-{rate}", vehicles)
        group = f"bench-latency-{rate}"
        (detector,) = start_detectors(1, broker.bootstrap, reference, group, workdir, checkpoint_s=None)
        time.sleep(8)  # the detector joins its group (about 3 s) before the clock starts
        results: multiprocessing.Queue = multiprocessing.Queue()
        reader = multiprocessing.Process(target=read_panic_latencies, args=(broker.bootstrap, seconds + 15, results))
        reader.start()
        fleet = Fleet(vehicles, seed=2)
        panic_second = {i: random.Random(i).randrange(2, seconds) for i in range(vehicles)}
        keys = [v["vehicle_id"].encode() for v in fleet.state]
        # librdkafka's producer (a few µs a record) rather than kafka-python's (about 30 µs): at 20,000 records/s
        # on two cores the bench's own producer must not be what falls behind. Records due within the next 2 ms
        # go out at once instead of after a sleep each, which a schedule of one record every 50 µs cannot keep.
        # It lingers 5 ms, as the device listeners' publisher does (ingest/devices/publisher.py): with 2 ms the
        # embedded broker spent a whole core on 500 small produce requests a second at 20,000 records/s, and the
        # records waited in it (p99 1.1 s with the kafka-python consumer, 0.56-1.1 s with librdkafka's).
        producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5, "client.id": "bench-latency"})
        start = time.monotonic()
        for second in range(seconds):
            for i in range(vehicles):
                pause = start + second + i / vehicles - time.monotonic()
                if pause > 0.002:
                    time.sleep(pause)
                value = fleet.record(i, int(time.time() * 1000), panic=panic_second[i] == second)
                producer.produce(TELEMETRY, value=value, key=keys[i])
                producer.poll(0)
        behind = time.monotonic() - (start + seconds)
        producer.flush()
        delays = results.get()
        reader.join()
        stop_child(detector)
        if behind > 0.5:
            print(f"  (the producer fell {behind:.1f} s behind the schedule: this machine could not offer {rate:,}/s)")
        return delays, vehicles, loop_timings(workdir / f"detect-{group}-0.log")


def loop_timings(log: Path) -> dict:
    """The telemetry loop's last timing summary in a detector's log."""
    found: dict = {}
    for line in log.read_text().splitlines():
        marker = f"loop timings {TELEMETRY}: "
        if marker in line:
            found = json.loads(line.split(marker, 1)[1])
    return found


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=3_000_000)
    parser.add_argument("--vehicles", type=int, default=400)
    parser.add_argument("--rate", type=int, action="append", help="records/s of a latency run (repeatable)")
    parser.add_argument("--latency-seconds", type=int, default=30)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="truckguard-bench-"))
    print(f"machine: {os.cpu_count()} cores, {load()}; logs in {workdir}", flush=True)
    if not args.skip_throughput:
        rates = {}
        for detectors in (1, 2):
            rate, cpu = throughput(detectors, args.records, args.vehicles, workdir)
            rates[detectors] = rate
            print(
                f"live throughput, {detectors} detect process(es): {rate:,.0f} records/s "
                f"({args.records:,} records, {args.vehicles} vehicles, 4 partitions); CPU s per 1,000 records of "
                f"the group: {', '.join(f'{c:.3f}' for c in cpu)} by instance ({load()})",
                flush=True,
            )
        print(f"scale-out, 2 processes against 1: {rates[2] / rates[1]:.2f}x", flush=True)
    if args.skip_latency:
        return
    for rate in args.rate or [2000]:
        values, panics, timings = latency(rate, args.latency_seconds, workdir)
        if not values:
            print(f"no panic alert arrived ({panics} sent); see the logs in {workdir}")
            continue
        total = [t for t, _ in values]
        sent = [s for _, s in values]
        read = [t - s for t, s in values]
        print(
            f"produce-to-alert latency at {rate:,} records/s: p50 {percentile(total, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(total, 0.99) * 1000:.0f} ms, max {max(total) * 1000:.0f} ms "
            f"({len(values)} of {panics} panic alerts, mean {statistics.mean(total) * 1000:.0f} ms; {load()})"
        )
        print(
            f"  record produced -> detector sends the alert: p50 {percentile(sent, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(sent, 0.99) * 1000:.0f} ms; alert sent -> read by a consumer: "
            f"p50 {percentile(read, 0.5) * 1000:.0f} ms, p99 {percentile(read, 0.99) * 1000:.0f} ms"
        )
        for stage, figures in timings.items():
            print(
                f"  detector {stage:<20} p50 {figures['p50']:>7.1f}  p99 {figures['p99']:>7.1f}  "
                f"max {figures['max']:>7.1f}  (n {figures['n']:.0f})"
            )


if __name__ == "__main__":
    main()
