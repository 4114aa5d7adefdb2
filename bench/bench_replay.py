"""Replay benchmark: records per second and peak memory of `truckguard replay`, the whole process on one core.

    python bench/bench_replay.py                 # a synthetic bundle: many vehicles, some near zones, with trips
    python bench/bench_replay.py BUNDLE_DIR      # an existing bundle, e.g. a day of 570 vehicles:
        truckguard scenarios generate /tmp/tg570 --seed 18 --vehicles 570 --days 1
    python bench/bench_replay.py --profile       # in this process instead, with the top of a cProfile

The replay runs as its own process (`python -m truckguard replay`, start-up and reading included) pinned to one
core (the lowest this process may use, or --cpu N), in this checkout (whatever the current directory), so the code
measured is this checkout's; it prints which, compiled or not. It prints the machine, the load it saw, records/s by
the wall clock and by the CPU time the process used (the steadier figure on a shared machine), and its peak RSS.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.replay import replay_bundle
from telematics.geo import destination
from telematics.timeutil import format_ms, parse_rfc3339_ms
from tests.bundles import DEPOT, FLEET, MARKET_CENTRE, ZONES

ROOT = Path(__file__).resolve().parent.parent
"""This checkout: the replay runs here, so `python -m truckguard` imports its packages first."""


def synthetic_bundle(directory: Path, vehicles: int, seconds: int) -> Path:
    """Vehicles on planned trips around the depot and past the market, one record a second, arrival-interleaved."""
    fleet = json.loads(json.dumps(FLEET))
    fleet["vehicles"] = [
        {
            "vehicle_id": f"B-{i:04d}",
            "fleet_id": "nordfracht",
            "category": "N3",
            "plate": f"B {i}",
            "authorized_driver_cards": [f"DE{i:010d}"],
        }
        for i in range(vehicles)
    ]
    t0 = parse_rfc3339_ms("2026-11-24T09:00:00Z")
    features, tracks = [], []
    for i in range(vehicles):
        near_market = i % 5 == 0
        origin = (
            destination(*MARKET_CENTRE, 180, 400 + 10 * i) if near_market else destination(*DEPOT, i * 7 % 360, 500)
        )
        course = 90.0 if near_market else (i * 37) % 360
        end = destination(*origin, course, 20_000)
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [[origin[1], origin[0]], [end[1], end[0]]]},
                "properties": {
                    "trip_id": f"T-{i}",
                    "vehicle_id": f"B-{i:04d}",
                    "driver_card_id": f"DE{i:010d}",
                    "planned_start": "2026-11-24T08:30:00Z",
                    "planned_end": "2026-11-24T12:00:00Z",
                    "corridor_m": 300,
                    "stops": [],
                },
            }
        )
        tracks.append((origin, course))
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "fleet.json").write_text(json.dumps(fleet))
    (directory / "zones.geojson").write_text(json.dumps(ZONES))
    (directory / "trips.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    with open(directory / "telemetry.jsonl", "w") as out:
        for t in range(seconds):
            for i, (origin, course) in enumerate(tracks):
                lat, lon = destination(*origin, course, 13.9 * t)
                out.write(
                    json.dumps(
                        {
                            "vehicle_id": f"B-{i:04d}",
                            "ts": format_ms(t0 + t * 1000),
                            "seq": t,
                            "lat": round(lat, 7),
                            "lon": round(lon, 7),
                            "gnss_speed_kmh": 50.0,
                            "wheel_speed_kmh": 50.0,
                            "heading_deg": course,
                            "engine_rpm": 1300.0,
                            "ignition": True,
                            "driver_card_id": f"DE{i:010d}",
                            "ext_power_v": 24.1,
                            "cargo_door_open": False,
                            "trailer_connected": True,
                            "odometer_km": 1000.0 + t / 72,
                            "fuel_level_pct": 60.0,
                        }
                    )
                    + "\n"
                )
    return directory


def machine() -> str:
    """This machine in one line: processor, cores, Python, and the load average when the run began."""
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or platform.machine(),
    ) if Path("/proc/cpuinfo").exists() else platform.machine()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{model}; {os.cpu_count()} cores; Python {platform.python_version()}; load average {load}"


def replay_process(bundle: Path, work: Path, cpu: int) -> tuple[str, float, float, int]:
    """`truckguard replay` of the bundle in a child pinned to cpu: its summary, wall and CPU seconds, peak RSS (KiB)."""
    command = [sys.executable, "-m", "truckguard", "replay", str(bundle.resolve()),
               "--alerts", str(work / "alerts.jsonl"), "--stop-requests", str(work / "stops.jsonl"), "--no-progress"]
    started = time.perf_counter()
    child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                             preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    assert child.stderr is not None
    summary = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"replay failed:\n{summary}")
    return summary, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def measured_code() -> str:
    """Which code the replay runs: this checkout's engine, compiled (setup.py) or its Python sources."""
    import anomaly.engine

    engine = Path(anomaly.engine.__file__)
    how = "compiled" if engine.suffix != ".py" else "Python sources (not compiled, or TRUCKGUARD_PURE_PYTHON=1)"
    return f"code: {engine.parent.parent}, {how}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", help="bundle directory (default: build a synthetic one)")
    parser.add_argument("--vehicles", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=1200)
    parser.add_argument("--profile", action="store_true", help="replay in this process under cProfile instead")
    parser.add_argument("--cpu", type=int, help="the core to run on (default: the lowest this process may use)")
    args = parser.parse_args()
    cpu = args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))
    print(machine())
    print(measured_code())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bundle = Path(args.bundle) if args.bundle else synthetic_bundle(work / "bundle", args.vehicles, args.seconds)
        if args.profile:
            os.sched_setaffinity(0, {cpu})
            profiler = cProfile.Profile()
            profiler.enable()
            summary = replay_bundle(bundle, work / "alerts.jsonl", work / "stops.jsonl", progress=False)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            print(summary.render(), file=sys.stderr)
            return 0
        text, wall, cpu_s, peak_kib = replay_process(bundle, work, cpu)
    records = int(next(line.split()[1] for line in text.splitlines() if line.startswith("records")))
    print(text.rstrip(), file=sys.stderr)
    print(f"{records:,} records on one core (cpu {cpu}), whole process: {records / wall:,.0f} records/s by the wall "
          f"clock ({wall:.2f} s), {records / cpu_s:,.0f} by CPU time ({cpu_s:.2f} s); "
          f"peak RSS {peak_kib / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
