"""Replays the converted real-trace bundles and prints false alerts per 1,000 vehicle-hours, by kind (a script).

    python bench/real_data/measure.py                          # every bundle under /tmp/real-bundles
    python bench/real_data/measure.py /tmp/real-bundles/otr-trucks --examples 3
    python bench/real_data/measure.py --json figures.json

Every trace in these sets is ordinary driving (buses on their routes, trucks on their runs, cars going about), so
every warning or critical alert and every stop request is false. Vehicle-hours count the time between a vehicle's
consecutive records when they are at most an hour apart: a longer silence is a unit switched off or a vehicle
parked out of sight, not an hour the detector watched (the trucks' units report every 15 min even when parked).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from ingest.replay import replay_bundle
from telematics.timeutil import format_ms, parse_rfc3339_ms

DEFAULT_BUNDLES = Path("/tmp/real-bundles")
WATCHED_GAP_MS = 3_600_000
"""A gap between two records of one vehicle counts as watched time up to an hour (see the module docstring)."""
TARGET_PER_1000_VH = 2.0
"""Issue 15's target: at most 2 false warning + critical alerts per 1,000 vehicle-hours."""
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass
class Fixes:
    """One vehicle's records in event time, for vehicle-hours and for describing what the trace did at an alert."""

    ts_ms: list[int] = field(default_factory=list)
    lat: list[float | None] = field(default_factory=list)
    lon: list[float | None] = field(default_factory=list)
    speed: list[float | None] = field(default_factory=list)


def read_fixes(bundle: Path) -> dict[str, Fixes]:
    tracks: dict[str, Fixes] = defaultdict(Fixes)
    with open(bundle / "telemetry.jsonl", "rb") as lines:
        for line in lines:
            r = json.loads(line)
            f = tracks[r["vehicle_id"]]
            f.ts_ms.append(parse_rfc3339_ms(r["ts"]))
            f.lat.append(r.get("lat"))
            f.lon.append(r.get("lon"))
            f.speed.append(r.get("gnss_speed_kmh"))
    for f in tracks.values():
        order = sorted(range(len(f.ts_ms)), key=f.ts_ms.__getitem__)
        for name in ("ts_ms", "lat", "lon", "speed"):
            values = getattr(f, name)
            setattr(f, name, [values[i] for i in order])
    return tracks


def vehicle_hours(tracks: dict[str, Fixes]) -> float:
    watched = 0
    for f in tracks.values():
        gaps = (b - a for a, b in zip(f.ts_ms, f.ts_ms[1:], strict=False))
        watched += sum(gap for gap in gaps if gap <= WATCHED_GAP_MS)
    return watched / 3_600_000


def metres(lat1: float | None, lon1: float | None, lat2: float | None, lon2: float | None) -> float:
    if lat1 is None or lon1 is None or lat2 is None or lon2 is None:
        return math.nan
    dy = (lat2 - lat1) * 111_195.0
    dx = (lon2 - lon1) * 111_195.0 * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, dy)


def trace_around(f: Fixes, ts_ms: int, before: int = 3, after: int = 2) -> list[str]:
    """The records around an alert: time from the alert, distance from the previous fix, reported speed."""
    import bisect

    i = bisect.bisect_right(f.ts_ms, ts_ms) - 1
    rows = []
    for j in range(max(0, i - before), min(len(f.ts_ms), i + after + 1)):
        step = metres(f.lat[j - 1], f.lon[j - 1], f.lat[j], f.lon[j]) if j > 0 else 0.0
        gap = (f.ts_ms[j] - f.ts_ms[j - 1]) / 1000 if j > 0 else 0.0
        speed = "-" if f.speed[j] is None else f"{f.speed[j]:.0f}"
        mark = "*" if j == i else " "
        rows.append(
            f"{mark} {format_ms(f.ts_ms[j])} ({(f.ts_ms[j] - ts_ms) / 1000:+.0f} s) {f.lat[j]},{f.lon[j]} "
            f"moved {step:.0f} m in {gap:.0f} s, speed {speed} km/h"
        )
    return rows


def zone_exposure(bundle: Path, tracks: dict[str, Fixes]) -> dict[str, int]:
    """How hard the zones were exercised: fixes inside a zone, and within 50 m and 200 m of one, over all vehicles."""
    import shapely
    from shapely.geometry import shape

    zones_file = bundle / "zones.geojson"
    features = json.loads(zones_file.read_text())["features"] if zones_file.is_file() else []
    exposure = {"inside": 0, "within_50m": 0, "within_200m": 0}
    if not features:
        return exposure
    union = shapely.union_all([shape(f["geometry"]) for f in features])
    for f in tracks.values():
        points = [(lon, lat) for lat, lon in zip(f.lat, f.lon, strict=True) if lat is not None and lon is not None]
        if not points:
            continue
        lat0 = points[0][1]
        metres_per_deg = 111_195.0 * math.cos(math.radians(lat0)) ** 0.5  # a mean of the two axes at this latitude
        distances = shapely.distance(union, shapely.points(points)) * metres_per_deg
        exposure["inside"] += int((distances == 0).sum())
        exposure["within_50m"] += int(((distances > 0) & (distances <= 50)).sum())
        exposure["within_200m"] += int(((distances > 50) & (distances <= 200)).sum())
    return exposure


def final_alerts(path: Path) -> dict[str, dict[str, Any]]:
    """One entry per incident (alert_id), at its highest severity: escalations rewrite the same alert."""
    alerts: dict[str, dict[str, Any]] = {}
    with open(path, "rb") as lines:
        for line in lines:
            a = json.loads(line)
            old = alerts.get(a["alert_id"])
            if old is None or SEVERITY_RANK[a["severity"]] >= SEVERITY_RANK[old["severity"]]:
                alerts[a["alert_id"]] = a
    return alerts


def measure(bundle: Path, examples: int) -> dict[str, Any]:
    tracks = read_fixes(bundle)
    hours = vehicle_hours(tracks)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        summary = replay_bundle(bundle, out / "alerts.jsonl", out / "stops.jsonl", progress=False)
        alerts = final_alerts(out / "alerts.jsonl")
        with open(out / "stops.jsonl", "rb") as lines:
            stops = [json.loads(line) for line in lines]
    false = [a for a in alerts.values() if a["severity"] in ("warning", "critical")]
    by_kind = Counter(a["kind"] for a in false)
    critical = Counter(a["kind"] for a in false if a["severity"] == "critical")
    info = Counter(a["kind"] for a in alerts.values() if a["severity"] == "info")
    stop_ids = {s["request_id"] for s in stops}
    per_1000 = 1000 * len(false) / hours if hours else float("nan")
    result: dict[str, Any] = {
        "bundle": bundle.name,
        "records": summary.counts["records"],
        "duplicates": summary.counts["duplicates"],
        "vehicles": len(tracks),
        "vehicle_hours": round(hours, 1),
        "false_warning_critical": len(false),
        "false_per_1000_vh": round(per_1000, 1),
        "by_kind_per_1000_vh": {k: round(1000 * n / hours, 1) for k, n in by_kind.most_common()},
        "by_kind": dict(by_kind.most_common()),
        "critical_by_kind": dict(critical.most_common()),
        "info_by_kind": dict(info.most_common()),
        "stop_requests": len(stop_ids),
        "zone_exposure": zone_exposure(bundle, tracks),
        "records_per_s": round(summary.records_per_s),
        "examples": {},
    }
    for kind, _ in by_kind.most_common(4):
        picked = sorted((a for a in false if a["kind"] == kind), key=lambda a: (a["vehicle_id"], a["ts"]))
        step = max(1, len(picked) // max(1, examples))
        result["examples"][kind] = [
            {
                "vehicle_id": a["vehicle_id"],
                "ts": a["ts"],
                "severity": a["severity"],
                "zone_id": a["zone_id"],
                "evidence": a["evidence"],
                "trace": trace_around(tracks[a["vehicle_id"]], parse_rfc3339_ms(a["ts"])),
            }
            for a in picked[::step][:examples]
        ]
    result["stop_request_examples"] = [
        {
            "vehicle_id": s["vehicle_id"],
            "ts": s["ts"],
            "mode": s["mode"],
            "reason": s["reason"],
            "zone_id": s["zone_id"],
            "trace": trace_around(tracks[s["vehicle_id"]], parse_rfc3339_ms(s["ts"])),
        }
        for s in stops[:examples]
    ]
    return result


def render(r: dict[str, Any]) -> str:
    verdict = "meets" if r["false_per_1000_vh"] <= TARGET_PER_1000_VH and not r["stop_requests"] else "MISSES"
    lines = [
        f"== {r['bundle']}: {r['records']:,} records ({r['duplicates']} duplicates), {r['vehicles']} vehicles, "
        f"{r['vehicle_hours']:,.1f} vehicle-hours, {r['records_per_s']:,} records/s",
        f"   false warning+critical: {r['false_warning_critical']}  = {r['false_per_1000_vh']} per 1,000 "
        f"vehicle-hours (target <= {TARGET_PER_1000_VH:g}: {verdict}); stop requests: {r['stop_requests']}",
    ]
    for kind, rate in r["by_kind_per_1000_vh"].items():
        crit = r["critical_by_kind"].get(kind, 0)
        lines.append(f"     {kind:<26}{r['by_kind'][kind]:>6}  {rate:>8} /1000 vh   ({crit} critical)")
    z = r["zone_exposure"]
    lines.append(
        f"   zones exercised by {z['inside']} fixes inside, {z['within_50m']} within 50 m, "
        f"{z['within_200m']} within 50-200 m"
    )
    if r["info_by_kind"]:
        lines.append("   info: " + ", ".join(f"{k} {n}" for k, n in r["info_by_kind"].items()))
    for kind, picked in r["examples"].items():
        for e in picked:
            evidence = json.dumps(e["evidence"], ensure_ascii=False)
            lines.append(f"   e.g. {kind} {e['severity']} {e['vehicle_id']} {e['ts']} zone={e['zone_id']}")
            lines.append(f"        evidence {evidence[:400]}")
            lines += [f"        {row}" for row in e["trace"]]
    for s in r["stop_request_examples"]:
        where = f"{s['vehicle_id']} {s['ts']} zone={s['zone_id']}"
        lines.append(f"   stop request {s['mode']} {where}: {s['reason'][:300]}")
        lines += [f"        {row}" for row in s["trace"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="*", type=Path, help=f"bundle directories (default: all in {DEFAULT_BUNDLES})")
    parser.add_argument("--examples", type=int, default=2, help="examples shown for each of the worst kinds")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    bundles = args.bundles or sorted(p for p in DEFAULT_BUNDLES.iterdir() if (p / "telemetry.jsonl").is_file())
    results = []
    for bundle in bundles:
        result = measure(bundle, args.examples)
        results.append(result)
        print(render(result), flush=True)
    hours = sum(r["vehicle_hours"] for r in results)
    false = sum(r["false_warning_critical"] for r in results)
    stops = sum(r["stop_requests"] for r in results)
    if hours:
        print(
            f"== all: {hours:,.1f} vehicle-hours, {false} false warning+critical = "
            f"{1000 * false / hours:.1f} per 1,000 vehicle-hours, {stops} stop requests"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
