"""Benchmark of the live path through the embedded broker: detector throughput and produce-to-alert latency.

    python bench/bench_live.py [--records 400000] [--vehicles 400] [--rate 2000] [--latency-seconds 30]

Throughput: N telemetry records are produced first, then 1 (and then, on a fresh broker, 2) `truckguard detect`
processes consume them; the rate is measured from the group's committed offsets, from the first commit to the
last. The detectors checkpoint every second here (TRUCKGUARD_CHECKPOINT_S=1, against 5 s by default), so the
first commit comes early in the run and the rate covers nearly all of it.
Latency: one detector runs while records are produced at --rate records/s with wall-clock timestamps; each
vehicle presses its panic button once, and the time from producing that record to reading the panic
alert from truckguard.alerts.v1 is measured (p50, p99). Prints the figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from ingest.broker import EmbeddedBroker, free_port
from ingest.processes import start_child, stop_child
from ingest.topics import ALERTS, TELEMETRY, ensure_topics
from telematics.timeutil import format_ms, parse_rfc3339_ms

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
            "ts": format_ms(ts_ms),
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
        return json.dumps(message).encode()


def committed_total(admin: KafkaAdminClient, group: str) -> int:
    offsets = admin.list_group_offsets(group).get(group, {})
    return sum(o.offset for tp, o in offsets.items() if tp.topic == TELEMETRY and o.offset > 0)


def start_detectors(count: int, bootstrap: str, reference: Path, group: str, workdir: Path) -> list:
    env = {
        **os.environ,
        "TRUCKGUARD_BOOTSTRAP_SERVERS": bootstrap,
        "TRUCKGUARD_GROUP_ID": group,
        "TRUCKGUARD_DATA_DIR": str(workdir),
        "TRUCKGUARD_IDLE_FLUSH_S": "2",
        "TRUCKGUARD_CHECKPOINT_S": "1",
    }
    return [
        start_child(
            [sys.executable, "-m", "truckguard", "detect", "--reference", str(reference)],
            env,
            workdir / f"detect-{group}-{i}.log",
        )
        for i in range(count)
    ]


def throughput(detectors: int, records: int, vehicles: int, workdir: Path) -> float:
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
        first_seen = first_count = None
        try:
            while True:
                done = committed_total(admin, group)
                now = time.monotonic()
                if done > 0 and first_seen is None:
                    first_seen, first_count = now, done
                if done >= records:
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
        return (records - first_count) / elapsed if elapsed > 0 else float("inf")


def read_panic_latencies(bootstrap: str, seconds: float, out: multiprocessing.Queue) -> None:
    """In a process of its own: the wall-clock delay from each panic record's own ts to its alert's arrival."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False)
    consumer.assign([TopicPartition(ALERTS, p) for p in range(4)])
    delays: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for messages in consumer.poll(timeout_ms=100).values():
            now_ms = time.time() * 1000
            for m in messages:
                alert = json.loads(m.value)
                if alert["kind"] == "panic":
                    delays.append((now_ms - parse_rfc3339_ms(alert["ts"])) / 1000)
    consumer.close()
    out.put(delays)


def latency(rate: int, seconds: int, workdir: Path) -> tuple[list[float], int]:
    """Records at `rate`/s stamped with the wall clock; each vehicle presses panic once; delays of the alerts."""
    vehicles = rate  # each vehicle reports once a second
    with EmbeddedBroker(free_port()) as broker:
        ensure_topics(broker.bootstrap, 4)
        reference = write_reference(workdir / "reference-latency", vehicles)
        (detector,) = start_detectors(1, broker.bootstrap, reference, "bench-latency", workdir)
        time.sleep(8)  # the detector joins its group (about 3 s) before the clock starts
        results: multiprocessing.Queue = multiprocessing.Queue()
        reader = multiprocessing.Process(target=read_panic_latencies, args=(broker.bootstrap, seconds + 15, results))
        reader.start()
        fleet = Fleet(vehicles, seed=2)
        panic_second = {i: random.Random(i).randrange(2, seconds) for i in range(vehicles)}
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=2)
        start = time.monotonic()
        for second in range(seconds):
            for i in range(vehicles):
                pause = start + second + i / vehicles - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                value = fleet.record(i, int(time.time() * 1000), panic=panic_second[i] == second)
                producer.send(TELEMETRY, key=fleet.state[i]["vehicle_id"].encode(), value=value)
        producer.flush()
        delays = results.get()
        reader.join()
        stop_child(detector)
        return delays, vehicles


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=400_000)
    parser.add_argument("--vehicles", type=int, default=400)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--latency-seconds", type=int, default=30)
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="truckguard-bench-"))
    print(f"machine: {os.cpu_count()} cores; logs in {workdir}")
    if not args.skip_throughput:
        for detectors in (1, 2):
            rate = throughput(detectors, args.records, args.vehicles, workdir)
            print(
                f"live throughput, {detectors} detect process(es): {rate:,.0f} records/s "
                f"({args.records:,} records, {args.vehicles} vehicles, 4 partitions)",
                flush=True,
            )
    values, panics = latency(args.rate, args.latency_seconds, workdir)
    if values:
        print(
            f"produce-to-alert latency at {args.rate:,} records/s: p50 {percentile(values, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(values, 0.99) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms "
            f"({len(values)} of {panics} panic alerts, mean {statistics.mean(values) * 1000:.0f} ms)"
        )
    else:
        print(f"no panic alert arrived ({panics} sent); see the logs in {workdir}")


if __name__ == "__main__":
    main()
