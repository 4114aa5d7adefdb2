"""Zone guard benchmark: the gateway's per-fix work with many zones loaded (target: at most 50 µs with 500 zones).

Run: python bench/bench_zone_guard.py [--zones 500] [--fixes 20000] [--repeat 5]
Lays out N protected zones (irregular 12-24-vertex outlines of 60-250 m, a city's squares, markets and pedestrian
streets) over a 24 km x 24 km area, installs them as one zone set, and times ``ZoneGuard.limit_at`` (what the
gateway runs ten times a second) over a drive that weaves through the area: most fixes far from any zone, some
approaching, passing or inside one. Prints the median, 99th percentile and worst per-fix time of the repeats, and
the machine it ran on.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from can_sim.truck.zone_guard import GuardFix, ZoneGuard
from telematics.bundle import parse_zones_document
from telematics.geo import LocalFrame, destination
from telematics.zone_sets import ZoneSet

TARGET_US = 50.0
AREA_M = 24_000.0
ORIGIN = (52.40, 13.25)


def zones_document(count: int, rng: random.Random) -> dict:
    frame = LocalFrame(*ORIGIN)
    features = []
    for i in range(count):
        cx, cy = rng.uniform(0, AREA_M), rng.uniform(0, AREA_M)
        radius = rng.uniform(30, 125)
        vertices = rng.randint(12, 24)
        ring = []
        for k in range(vertices):
            angle = 2 * math.pi * k / vertices
            r = radius * rng.uniform(0.75, 1.0)
            lat, lon = frame.to_latlon(cx + r * math.sin(angle), cy + r * math.cos(angle))
            ring.append([round(lon, 7), round(lat, 7)])
        ring.append(ring[0])
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                         "properties": {"zone_id": f"z{i:04d}", "timezone": "Europe/Berlin",
                                        "access": {"categories_allowed": ["N1"], "max_speed_kmh": 20}}})
    return {"type": "FeatureCollection", "features": features}


def drive(fixes: int, rng: random.Random, t0: float) -> list[GuardFix]:
    """A truck weaving through the area at 30-60 km/h, ten fixes a second, turning now and then."""
    frame = LocalFrame(*ORIGIN)
    lat, lon = frame.to_latlon(AREA_M / 2, AREA_M / 2)
    heading, speed = rng.uniform(0, 360), 50.0
    out = []
    for n in range(fixes):
        if n % 300 == 0:
            heading = (heading + rng.choice((-90, 90, 0, 45, -45))) % 360
            speed = rng.uniform(30, 60)
        x, y = frame.to_xy(lat, lon)
        if not (1_000 < x < AREA_M - 1_000 and 1_000 < y < AREA_M - 1_000):
            heading = math.degrees(math.atan2(AREA_M / 2 - x, AREA_M / 2 - y)) % 360
        out.append(GuardFix(t0 + n * 0.1, lat, lon, heading, speed))
        lat, lon = destination(lat, lon, heading, speed / 3.6 * 0.1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zones", type=int, default=500)
    parser.add_argument("--fixes", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    logging.getLogger("can_sim").setLevel(logging.WARNING)  # the guard logs each installed set
    rng = random.Random(args.seed)
    zones = tuple(parse_zones_document(zones_document(args.zones, rng)))
    t0 = 1_795_507_200.0
    fixes = drive(args.fixes, rng, t0)
    per_fix: list[float] = []
    governed = 0
    for _ in range(args.repeat):
        guard = ZoneGuard(category="N3")
        guard.install(ZoneSet("bench", "BENCH-1", "N3", 0, 1, "0" * 32, "0" * 16, zones))
        clock = time.perf_counter_ns
        times = []
        governed = 0
        for fix in fixes:
            started = clock()
            limit = guard.limit_at(fix)
            times.append((clock() - started) / 1000)
            governed += limit is not None
        per_fix.append(statistics.median(times))
        times.sort()
        p99, worst = times[int(0.99 * len(times))], times[-1]
    median = statistics.median(per_fix)
    print(f"machine: {platform.machine()} {platform.processor() or platform.uname().machine}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()} ({platform.python_implementation()}), "
          f"{platform.system()} {platform.release()}")
    print(f"zones loaded: {len(zones)}; fixes per run: {len(fixes)} (10 Hz, {len(fixes) / 10 / 60:.0f} min of "
          f"driving); governed at {governed} fixes ({governed / len(fixes):.1%}); repeats: {args.repeat}")
    print(f"per-fix work: median {median:.1f} µs (runs {', '.join(f'{m:.1f}' for m in per_fix)}), last run's "
          f"p99 {p99:.1f} µs, worst {worst:.1f} µs; target {TARGET_US:g} µs: "
          f"{'met' if median <= TARGET_US else 'NOT met'}")
    return 0 if median <= TARGET_US else 1


if __name__ == "__main__":
    sys.exit(main())
