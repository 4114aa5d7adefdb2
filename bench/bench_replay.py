"""Replay throughput benchmark: records per second of `truckguard replay` on one core (a script, not a test).

    python bench/bench_replay.py                 # a synthetic bundle: many vehicles, some near zones, with trips
    python bench/bench_replay.py BUNDLE_DIR      # an existing bundle (e.g. one made by can_sim)
    python bench/bench_replay.py --profile       # also print the top of a cProfile of the run

The process pins itself to one core (the lowest it may use, or --cpu N), so the figure is single-core throughput
whatever else runs on the machine's other cores; `taskset -c 0 python bench/bench_replay.py` does the same.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.replay import replay_bundle
from telematics.geo import destination
from telematics.timeutil import format_ms, parse_rfc3339_ms
from tests.bundles import DEPOT, FLEET, MARKET_CENTRE, ZONES


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", nargs="?", help="bundle directory (default: build a synthetic one)")
    parser.add_argument("--vehicles", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=1200)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--cpu", type=int, help="the core to run on (default: the lowest this process may use)")
    args = parser.parse_args()
    cpu = args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bundle = Path(args.bundle) if args.bundle else synthetic_bundle(work / "bundle", args.vehicles, args.seconds)
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        summary = replay_bundle(bundle, work / "alerts.jsonl", work / "stops.jsonl", progress=False)
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    print(summary.render(), file=sys.stderr)
    print(f"{summary.records_per_s:,.0f} records/s on one core (cpu {cpu})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
