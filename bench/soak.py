"""Soak bench: thousands of simulated vehicles for an hour of event time through the embedded broker; memory.

    python bench/soak.py [--vehicles 5000] [--event-minutes 60] [--speed 10] [--cadence-s 10] [--durable]

Each vehicle drives around Berlin and reports every --cadence-s seconds of event time (10 s, a common setting of
fleet telematics units while driving), so 5,000 vehicles are 500 records/s of event time, 5,000 records/s at 10x.
The records go through the embedded broker (in memory, or on its durable storage with --durable) to one
`truckguard detect` and one `truckguard sink` (SQLite store, vehicle positions and the alerts the detector
raises). The resident memory (RSS) of every process (the broker with its object store, the detector, the sink,
this producer) is sampled every --sample-s seconds. After the run it prints, per process, RSS at the end of the
warm-up (the first --warmup fraction of the run), at the end, its peak, and the slope of a least-squares line
through the samples after warm-up in MB per 10 minutes: flat memory means a slope near zero. The detector's lag
(records produced but not yet committed) is printed too. Samples go to --out as CSV. Asserts nothing.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafka import KafkaAdminClient, KafkaProducer

from ingest.broker import BrokerStorage, EmbeddedBroker, free_port
from ingest.processes import start_child, stop_child
from ingest.topics import TELEMETRY, ensure_topics

BERLIN = (52.52, 13.405)
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def write_reference(directory: Path, vehicles: int) -> Path:
    """One haulier's fleet, operating around the clock (so no off-hours alert per vehicle), and no zones."""
    directory.mkdir(parents=True, exist_ok=True)
    every_day = {day: ["00:00", "24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    fleet = {
        "fleets": [{"fleet_id": "soak", "name": "Soak Haulage", "kind": "haulier", "timezone": "Europe/Berlin",
                    "operating_hours": every_day}],
        "vehicles": [{"vehicle_id": f"S-{i:05d}", "fleet_id": "soak", "category": "N3",
                      "authorized_driver_cards": [f"C{i:05d}"]} for i in range(vehicles)],
        "sites": [],
    }
    (directory / "fleet.json").write_text(json.dumps(fleet))
    empty = json.dumps({"type": "FeatureCollection", "features": []})
    (directory / "zones.geojson").write_text(empty)
    (directory / "trips.geojson").write_text(empty)
    return directory


class Fleet:
    """Vehicles wandering around Berlin at town speeds, each report ``cadence_s`` of driving after the last."""

    def __init__(self, vehicles: int, cadence_s: float, seed: int = 1) -> None:
        rng = random.Random(seed)
        self.rng = rng
        self.cadence_s = cadence_s
        self.vehicles = [{"vehicle_id": f"S-{i:05d}", "seq": 0, "card": f"C{i:05d}",
                          "lat": BERLIN[0] + rng.uniform(-0.08, 0.08), "lon": BERLIN[1] + rng.uniform(-0.12, 0.12),
                          "heading": rng.uniform(0, 360), "speed": rng.uniform(25, 50)} for i in range(vehicles)]

    def record(self, index: int, ts_ms: int) -> bytes:
        v = self.vehicles[index]
        v["heading"] = (v["heading"] + self.rng.uniform(-15, 15)) % 360
        step = v["speed"] / 3.6 * self.cadence_s / 111_000  # degrees of latitude driven since the last report
        v["lat"] += step * math.cos(math.radians(v["heading"]))
        v["lon"] += step * math.sin(math.radians(v["heading"])) / math.cos(math.radians(v["lat"]))
        v["seq"] += 1
        return json.dumps({
            "vehicle_id": v["vehicle_id"], "ts": ts_ms, "seq": v["seq"], "lat": round(v["lat"], 6),
            "lon": round(v["lon"], 6), "gnss_speed_kmh": round(v["speed"], 1),
            "wheel_speed_kmh": round(v["speed"], 1), "heading_deg": round(v["heading"], 1), "engine_rpm": 1300,
            "ignition": True, "driver_card_id": v["card"], "ext_power_v": 24.1, "panic": False,
        }, separators=(",", ":")).encode()


def rss_mb(pid: int, *, descendants: bool = False) -> float:
    """Resident memory of a process (with its descendants: the durable broker is a store and Tansu), in MB."""
    total_kb = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/statm") as statm:
                total_kb += int(statm.read().split()[1]) * PAGE_KB
            if descendants:
                with open(f"/proc/{current}/task/{current}/children") as children:
                    pending.extend(int(child) for child in children.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total_kb / 1024


def measure(name: str, pid: int) -> float:
    return rss_mb(pid, descendants=name == "broker")


def sample(pids: dict[str, int], every_s: float, stop: threading.Event, rows: list[tuple[float, str, float]],
           started: float) -> None:
    while not stop.wait(every_s):
        at = time.monotonic() - started
        rows.extend((at, name, measure(name, pid)) for name, pid in pids.items())


def slope_per_10_min(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_m = sum(m for _, m in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return sum((t - mean_t) * (m - mean_m) for t, m in points) / var * 600


def committed(bootstrap: str, group: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
        return sum(o.offset for tp, o in offsets.items() if tp.topic == TELEMETRY and o.offset > 0)
    finally:
        admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=5000)
    parser.add_argument("--event-minutes", type=float, default=60.0)
    parser.add_argument("--speed", type=float, default=10.0, help="event time per wall-clock time")
    parser.add_argument("--cadence-s", type=float, default=10.0, help="event seconds between a vehicle's reports")
    parser.add_argument("--durable", action="store_true", help="the broker on its durable storage, not memory")
    parser.add_argument("--sample-s", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=0.25, help="fraction of the run taken as warm-up")
    parser.add_argument("--out", type=Path, help="CSV of the samples (seconds, process, RSS MB)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="truckguard-soak-"))
    reference = write_reference(workdir / "reference", args.vehicles)
    storage = BrokerStorage.durable(workdir) if args.durable else BrokerStorage()
    broker = EmbeddedBroker(free_port(), log_path=workdir / "broker.log", storage=storage)
    broker.start()
    ensure_topics(broker.bootstrap, 4)
    env = {**os.environ, "TRUCKGUARD_BOOTSTRAP_SERVERS": broker.bootstrap, "TRUCKGUARD_DATA_DIR": str(workdir),
           "TRUCKGUARD_DATABASE_URL": f"sqlite:///{workdir / 'store.sqlite'}", "TRUCKGUARD_LOG_LEVEL": "INFO"}
    me = [sys.executable, "-m", "truckguard"]
    children: dict[str, subprocess.Popen[bytes]] = {
        "detect": start_child([*me, "detect", "--reference", str(reference)], env, workdir / "detect.log"),
        "sink": start_child([*me, "sink"], env, workdir / "sink.log"),
    }
    assert broker.process is not None
    pids = {"broker": broker.process.pid, **{name: p.pid for name, p in children.items()}, "producer": os.getpid()}
    fleet = Fleet(args.vehicles, args.cadence_s)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", linger_ms=20, batch_size=131_072,
                             enable_idempotence=False)
    ticks = int(args.event_minutes * 60 / args.cadence_s)
    tick_wall_s = args.cadence_s / args.speed
    start_ms = int(time.time() * 1000) - int(args.event_minutes * 60_000)  # an hour that ends about now
    rows: list[tuple[float, str, float]] = []
    stop = threading.Event()
    started = time.monotonic()
    sampler = threading.Thread(target=sample, args=(pids, args.sample_s, stop, rows, started), daemon=True)
    sampler.start()
    print(f"soak: {args.vehicles:,} vehicles, {args.event_minutes:g} event minutes at {args.speed:g}x "
          f"({args.vehicles / tick_wall_s:,.0f} records/s), broker {storage.describe()}; work folder {workdir}",
          flush=True)
    produced = behind_s = 0
    try:
        for tick in range(ticks):
            ts_ms = start_ms + int(tick * args.cadence_s * 1000)
            for index in range(args.vehicles):
                producer.send(TELEMETRY, key=fleet.vehicles[index]["vehicle_id"].encode(),
                              value=fleet.record(index, ts_ms + index % 1000))
            produced += args.vehicles
            late = time.monotonic() - started - (tick + 1) * tick_wall_s
            behind_s = max(behind_s, late)
            if late < 0:
                time.sleep(-late)
            if tick % max(1, int(60 / tick_wall_s)) == 0:
                for name, child in children.items():
                    if child.poll() is not None:
                        raise SystemExit(f"{name} exited with {child.returncode}; see {workdir / (name + '.log')}")
                memory = ", ".join(f"{name} {measure(name, pid):.0f} MB" for name, pid in pids.items())
                print(f"  {time.monotonic() - started:6.0f} s  {produced:>10,} records produced, RSS {memory}",
                      flush=True)
        producer.flush()
        wall = time.monotonic() - started
        time.sleep(10)  # let the detector catch up before its lag is read
        try:
            lag: int | str = f"{produced - committed(broker.bootstrap, 'truckguard-detector'):,}"
        except Exception as exc:  # the figure is worth less than the memory figures after it
            lag = f"unknown ({exc})"
    finally:
        stop.set()
        sampler.join(args.sample_s + 1)
        for child in children.values():
            stop_child(child, 30)
        broker.stop()
        producer.close()

    print(f"produced {produced:,} records in {wall:.0f} s ({produced / wall:,.0f} records/s; the producer fell "
          f"behind its pace by at most {behind_s:.1f} s); detector lag after 10 s: {lag} records")
    warm_end = wall * args.warmup
    print(f"{'process':<10} {'RSS after warm-up':>18} {'RSS at end':>11} {'peak':>8} {'slope after warm-up':>22}")
    for name in pids:
        series = [(t, m) for t, n, m in rows if n == name]
        after = [(t, m) for t, m in series if t >= warm_end]
        if not after:
            continue
        print(f"{name:<10} {after[0][1]:>15.0f} MB {after[-1][1]:>8.0f} MB {max(m for _, m in series):>5.0f} MB "
              f"{slope_per_10_min(after):>+14.1f} MB/10 min")
    if args.out:
        with open(args.out, "w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(("seconds", "process", "rss_mb"))
            writer.writerows((f"{t:.1f}", n, f"{m:.1f}") for t, n, m in rows)
        print(f"samples: {args.out}")
    print(f"logs: {workdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
