"""Copies a converted real-trace bundle and plans each vehicle's own drives as trips (a script).

    python bench/real_data/with_own_trips.py /tmp/real-bundles/otr-trucks /tmp/real-trips/otr-trucks
    python bench/bench_replay.py /tmp/real-trips/otr-trucks      # the cost per record with long planned routes
    python bench/real_data/measure.py /tmp/real-trips/otr-trucks # every alert is false: the plan is the drive

A vehicle's records are cut into drives wherever it was silent for more than --gap-h hours (a unit off overnight).
Each drive becomes a planned trip whose route is the drive's own track, every fix of it, with planned start and end
at its first and last record and a --corridor-m corridor. Two questions are answered on real traces this way:
- does the cost of a record grow with the length of its planned route? Long-haul trucks' drives run for hours over
  hundreds of kilometres, so their routes have thousands of segments; compare the replay's records/s with and
  without the trips;
- does a vehicle that drives exactly its plan raise route, stop or schedule alerts? It must not.

The plan has no planned stops: stops would need to be guessed from the track, and a guess is not a plan.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from telematics.timeutil import format_ms, parse_rfc3339_ms

PLAN_MARGIN_MS = 10 * 60_000
"""A trip is planned to start this long before its first record and end this long after its last."""


Fix = tuple[int, dict[str, Any]]
"""A record with a position, and its event time in ms."""


def drives(fixes: list[Fix], gap_ms: int) -> list[list[Fix]]:
    """A vehicle's fixes (in event time) cut where the silence between two of them exceeds gap_ms."""
    runs: list[list[Fix]] = []
    last_ms: int | None = None
    for ts_ms, record in fixes:
        if last_ms is None or ts_ms - last_ms > gap_ms:
            runs.append([])
        runs[-1].append((ts_ms, record))
        last_ms = ts_ms
    return runs


def route(run: list[Fix]) -> list[list[float]]:
    """The drive's track as [lon, lat] coordinates, consecutive repeats (a standing vehicle) dropped."""
    line: list[list[float]] = []
    for _ts_ms, record in run:
        point = [record["lon"], record["lat"]]
        if not line or line[-1] != point:
            line.append(point)
    return line


def own_trips(bundle: Path, gap_ms: int, corridor_m: float) -> dict[str, Any]:
    by_vehicle: dict[str, list[Fix]] = defaultdict(list)
    with (bundle / "telemetry.jsonl").open() as lines:
        for line in lines:
            record = json.loads(line)
            if record.get("lat") is not None and record.get("lon") is not None:
                by_vehicle[record["vehicle_id"]].append((parse_rfc3339_ms(record["ts"]), record))
    features = []
    for vehicle_id in sorted(by_vehicle):
        fixes = sorted(by_vehicle[vehicle_id], key=lambda fix: fix[0])
        for number, run in enumerate(drives(fixes, gap_ms), start=1):
            line = route(run)
            if len(line) < 2:
                continue
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "LineString", "coordinates": line},
                    "properties": {
                        "trip_id": f"{vehicle_id}-drive-{number}",
                        "vehicle_id": vehicle_id,
                        "driver_card_id": None,
                        "planned_start": format_ms(run[0][0] - PLAN_MARGIN_MS),
                        "planned_end": format_ms(run[-1][0] + PLAN_MARGIN_MS),
                        "corridor_m": corridor_m,
                        "stops": [],
                    },
                }
            )
    return {"type": "FeatureCollection", "features": features}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--gap-h", type=float, default=2.0, help="a silence this long ends a drive")
    parser.add_argument("--corridor-m", type=float, default=500.0)
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    shutil.copytree(args.bundle, args.out)
    trips = own_trips(args.bundle, int(args.gap_h * 3_600_000), args.corridor_m)
    (args.out / "trips.geojson").write_text(json.dumps(trips))
    points = [len(f["geometry"]["coordinates"]) for f in trips["features"]]
    print(
        f"{args.out}: {len(points)} planned drives, route points per drive: median "
        f"{sorted(points)[len(points) // 2] if points else 0}, longest {max(points, default=0)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
