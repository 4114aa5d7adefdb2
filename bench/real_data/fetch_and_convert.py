"""Turns the public real-trace sets (git repositories, pinned commits) into truckguard replay bundles.

    python bench/real_data/fetch_and_convert.py                       # every set, into /tmp/real-bundles/NAME/
    python bench/real_data/fetch_and_convert.py --set capmetro-2017-03-21 --out DIR
    python bench/real_data/fetch_and_convert.py --repo scascketta/CapMetrics=~/src/CapMetrics/.git
    python bench/real_data/fetch_and_convert.py --sample --out DIR   # the slices tests/test_real_data.py replays
    python bench/real_data/fetch_and_convert.py --grow-zones 10 --out /tmp/real-bundles-kerb   # zone edges at the kerb

Each set is read with `git show COMMIT:PATH` from a copy of its repository: by default the mirror the search tool's
`fetch` leaves under /work/.mirror/OWNER+NAME/repo, or any clone given with --repo OWNER/NAME=GIT_DIR
(`git clone https://github.com/OWNER/NAME`; pass its .git). A bundle holds:

- fleet.json: the set's fleets and one vehicle per traced vehicle with its EU category; no operating hours, as
  these fleets run round the clock and we do not know their timetables;
- zones.geojson: real places near the traces (places.py);
- telemetry.jsonl: contract records in arrival order: ts in RFC 3339 UTC, a per-vehicle seq, lat/lon (or
  gnss_fix false when the source had no position), gnss_speed_kmh and heading_deg only where the source has them,
  source "import"; a row the source repeats keeps its seq, so replay counts it as the duplicate it is;
- source.json: where the set came from, its licence and attribution.

No trips: none of the sets has plans.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent.parent)]

from places import ZONES, grown  # noqa: E402
from sources import SETS, Fix, ReadBlob, RealSet, VehicleClass, git_reader  # noqa: E402

from telematics.timeutil import format_ms, parse_rfc3339_ms  # noqa: E402

DEFAULT_MIRROR = Path("/work/.mirror")
DEFAULT_OUT = Path("/tmp/real-bundles")


@dataclass(frozen=True)
class SampleCut:
    """A small slice of a set for a replay test: some vehicles over an event-time window, kept whole."""

    vehicles: tuple[str, ...]
    start: str
    end: str


SAMPLES = {
    # A long-haul truck's week: 15-min heartbeats on the interstate, bursts, nights parked.
    "otr-trucks": SampleCut(("OTR-Crowley",), "2014-07-14T00:00:00Z", "2014-07-21T00:00:00Z"),
    # Five buses of the 4-min day: out-of-service drop-outs and a stray fix in Republic Square.
    "capmetro-2016-11-25": SampleCut(
        ("CM-1975", "CM-2355", "CM-2509", "CM-2607", "CM-5017"), "2016-11-25T00:00:00Z", "2016-11-27T00:00:00Z"
    ),
    # A car at 1 Hz with receiver speed and heading: a trip, parked overnight (logger off), the next start.
    "ndsbr-curitiba": SampleCut(("BR-C",), "2019-09-23T00:00:00Z", "2019-09-24T14:15:00Z"),
}


def git_dir_of(repo: str, mirror: Path, overrides: dict[str, Path]) -> Path:
    if repo in overrides:
        return overrides[repo]
    path = mirror / repo.replace("/", "+") / "repo"
    if not path.exists():
        raise SystemExit(f"{repo}: no copy at {path}; fetch it, or pass --repo {repo}=PATH_TO_ITS_GIT_DIR")
    return path


def records(fixes: list[tuple[Fix, VehicleClass]]) -> list[dict[str, object]]:
    """Contract records in arrival order (event time across vehicles), each vehicle's seq in its own time order."""
    by_vehicle: dict[str, list[Fix]] = defaultdict(list)
    for fix, _ in fixes:
        by_vehicle[fix.vehicle_id].append(fix)
    out: list[tuple[int, str, int, dict[str, object]]] = []
    for vehicle_id, track in by_vehicle.items():
        track.sort(key=lambda f: f.ts_ms)
        seq = -1
        previous: Fix | None = None
        for fix in track:
            if fix != previous:  # the very same report repeated by the source is one record sent twice
                seq += 1
            previous = fix
            record: dict[str, object] = {"vehicle_id": vehicle_id, "ts": format_ms(fix.ts_ms), "seq": seq}
            if fix.lat is None or fix.lon is None:
                record["gnss_fix"] = False
            else:
                record["lat"] = round(fix.lat, 7)
                record["lon"] = round(fix.lon, 7)
            if fix.speed_kmh is not None:
                record["gnss_speed_kmh"] = fix.speed_kmh
            if fix.heading_deg is not None:
                record["heading_deg"] = fix.heading_deg
            record["source"] = "import"
            out.append((fix.ts_ms, vehicle_id, seq, record))
    out.sort(key=lambda item: item[:3])
    return [item[3] for item in out]


def fleet_document(real: RealSet, fixes: list[tuple[Fix, VehicleClass]]) -> dict[str, object]:
    classes: dict[str, VehicleClass] = {}
    for fix, vehicle_class in fixes:
        classes.setdefault(fix.vehicle_id, vehicle_class)
    vehicles = [
        {"vehicle_id": vid, "fleet_id": c.fleet_id, "category": c.category, "authorized_driver_cards": []}
        for vid, c in sorted(classes.items())
    ]
    return {"fleets": list(real.fleets), "vehicles": vehicles, "sites": []}


def convert(
    real: RealSet, readers: dict[str, ReadBlob], out: Path, cut: SampleCut | None = None, grow_zones_m: float = 0.0
) -> Path:
    fixes = list(real.read(readers))
    if cut is not None:
        start, end = parse_rfc3339_ms(cut.start), parse_rfc3339_ms(cut.end)
        fixes = [(f, c) for f, c in fixes if f.vehicle_id in cut.vehicles and start <= f.ts_ms < end]
    bundle = out / real.name
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / "fleet.json").write_text(json.dumps(fleet_document(real, fixes), indent=1) + "\n")
    features = ZONES.get(real.places or real.name, [])
    if grow_zones_m:
        features = [grown(feature, grow_zones_m) for feature in features]
    zones = {"type": "FeatureCollection", "features": features}
    (bundle / "zones.geojson").write_text(json.dumps(zones, indent=1, ensure_ascii=False) + "\n")
    lines = records(fixes)
    with open(bundle / "telemetry.jsonl", "w") as telemetry:
        for record in lines:
            telemetry.write(json.dumps(record, separators=(",", ":")) + "\n")
    source = {
        "set": real.name,
        "repository": f"https://github.com/{real.repo}",
        "commit": real.commit,
        "also": [{"repository": f"https://github.com/{r}", "commit": c} for r, c in real.extra_repos],
        "licence": real.licence,
        "attribution": real.attribution,
        "what": real.what,
        "cadence": real.cadence,
        "zones": "approximate polygons of real places from public maps (bench/real_data/places.py)",
    }
    if grow_zones_m:
        source["zones"] += f", each grown by {grow_zones_m:g} m toward the traffic (a stress test)"
    if cut is not None:
        source["sample"] = {"vehicles": list(cut.vehicles), "from": cut.start, "to": cut.end}
    (bundle / "source.json").write_text(json.dumps(source, indent=1, ensure_ascii=False) + "\n")
    vehicles = len({fix.vehicle_id for fix, _ in fixes})
    print(f"{real.name:18s} {len(lines):>8} records  {vehicles:>4} vehicles  -> {bundle}")
    return bundle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", choices=sorted(SETS), help="a set to convert (default: all)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR, help="where fetched repositories live")
    parser.add_argument("--repo", action="append", default=[], metavar="OWNER/NAME=GIT_DIR")
    parser.add_argument(
        "--grow-zones",
        type=float,
        default=0.0,
        metavar="METRES",
        help="push every zone's edge this far out, toward the lanes beside it (a stress test; use another --out)",
    )
    parser.add_argument(
        "--sample", action="store_true", help="write only the small slices of SAMPLES (for tests/test_real_data.py)"
    )
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.repo:
        name, _, path = item.partition("=")
        overrides[name] = Path(path).expanduser()
    for name in args.set or sorted(SAMPLES if args.sample else SETS):
        real = SETS[name]
        pins = ((real.repo, real.commit), *real.extra_repos)
        readers = {repo: git_reader(git_dir_of(repo, args.mirror, overrides), commit) for repo, commit in pins}
        convert(real, readers, args.out, SAMPLES.get(name) if args.sample else None, args.grow_zones)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
