"""Realistic perturbations of recorded telemetry and plans: what real devices, GNSS and drivers do to a clean day."""

from __future__ import annotations

import copy
import json
import math
import random
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
from shapely.geometry import Point, shape

from telematics.geo import bearing_deg, destination, haversine_m
from telematics.timeutil import format_ms, parse_rfc3339_ms

Record = dict[str, Any]
"""One telemetry record as the contract's JSON object (what telemetry.jsonl holds, one per line)."""

STANDING_KMH = 2.0
"""Below this a record counts as standing: GNSS speed of a parked receiver wanders up to 1-2 km/h."""
CAN_FIELDS = ("wheel_speed_kmh", "engine_rpm", "driver_card_id", "trailer_connected")
"""What a unit with no CAN or tachograph connection (a phone app, a basic tracker) cannot report."""
RECEIVER_MOTION_FIELDS = ("gnss_speed_kmh", "heading_deg")


def ts_ms(record: Record) -> int:
    ts = record["ts"]
    return ts if isinstance(ts, int) else parse_rfc3339_ms(ts)


def _at(record: Record, ms: int) -> Record:
    return {**record, "ts": format_ms(ms)}


def speed_kmh(record: Record) -> float:
    """The record's speed: the wheels' where reported, else the receiver's (0 when neither is)."""
    for key in ("wheel_speed_kmh", "gnss_speed_kmh"):
        value = record.get(key)
        if isinstance(value, int | float):
            return float(value)
    return 0.0


def by_vehicle(records: Iterable[Record]) -> dict[str, list[Record]]:
    """Each vehicle's records once (duplicates by seq dropped), in event-time order."""
    tracks: dict[str, dict[Any, Record]] = {}
    for record in records:
        seen = tracks.setdefault(record["vehicle_id"], {})
        key = record.get("seq", (record["ts"], len(seen)))
        seen.setdefault(key, record)
    return {vid: sorted(rs.values(), key=ts_ms) for vid, rs in tracks.items()}


def merge(tracks: Iterable[list[Record]]) -> list[Record]:
    """Tracks back into one stream in event-time order (ties keep track order)."""
    tagged = [(ts_ms(r), n, k, r) for n, track in enumerate(tracks) for k, r in enumerate(track)]
    return [r for *_, r in sorted(tagged, key=lambda row: row[:3])]


# ----------------------------------------------------------------------------- reporting


def resample(track: list[Record], period_s: float) -> list[Record]:
    """Keep one record per period, as a unit logging every `period_s` seconds would (30-60 s for tracker apps
    and basic AVL units); switch changes in between are lost, as they are on such units."""
    out: list[Record] = []
    next_ms = -math.inf
    for record in track:
        t = ts_ms(record)
        if t >= next_ms:
            out.append(record)
            next_ms = t + period_s * 1000
    return out


def drop_stationary(track: list[Record], keep_first: bool = False) -> list[Record]:
    """Drop standing records, as an event-driven unit that reports only on movement does; `keep_first` keeps
    the first record of each standstill (units that send one 'stopped' record)."""
    out: list[Record] = []
    was_standing = False
    for record in track:
        standing = speed_kmh(record) < STANDING_KMH
        if not standing or (keep_first and not was_standing):
            out.append(record)
        was_standing = standing
    return out


def strip_fields(track: list[Record], fields: Iterable[str]) -> list[Record]:
    """Remove fields the unit does not report (absent means 'not reported', never false)."""
    names = tuple(fields)
    return [{k: v for k, v in record.items() if k not in names} for record in track]


def strip_receiver_motion(track: list[Record]) -> list[Record]:
    """A unit that reports position only: no receiver speed over ground, no course."""
    return strip_fields(track, RECEIVER_MOTION_FIELDS)


def strip_can(track: list[Record]) -> list[Record]:
    """A unit with no CAN or tachograph connection."""
    return strip_fields(track, CAN_FIELDS)


def store_and_forward(track: list[Record], gap_start_ms: int, gap_s: float, newest_first: bool = True) -> list[Record]:
    """A coverage gap: the records inside it reach the platform in one burst after the first record past it,
    newest first or oldest first (Teltonika 'Sort by' setting). Returns the track in arrival order."""
    gap_end = gap_start_ms + int(gap_s * 1000)
    held = [r for r in track if gap_start_ms <= ts_ms(r) < gap_end]
    live = [r for r in track if not gap_start_ms <= ts_ms(r) < gap_end]
    if not held:
        return list(track)
    after = next((k for k, r in enumerate(live) if ts_ms(r) >= gap_end), len(live))
    burst = list(reversed(held)) if newest_first else held
    return live[:after + 1] + burst + live[after + 1:]


# ----------------------------------------------------------------------------- GNSS


def add_gnss_noise(track: list[Record], rng: random.Random, sigma_m: float, correlation: float = 0.8) -> list[Record]:
    """Add a correlated horizontal error of standard deviation `sigma_m` to every fix (2-5 m open sky, 10-50 m
    among tall buildings); a standing vehicle's position wanders with it."""
    out: list[Record] = []
    ex = ey = 0.0
    step = sigma_m * math.sqrt(1.0 - correlation * correlation)
    for record in track:
        if record.get("lat") is None or record.get("lon") is None:
            out.append(record)
            continue
        ex = correlation * ex + rng.gauss(0.0, step)
        ey = correlation * ey + rng.gauss(0.0, step)
        out.append(_moved(record, ex, ey))
    return out


def add_gnss_spikes(track: list[Record], rng: random.Random, rate: float,
                    distance_m: tuple[float, float] = (200.0, 800.0)) -> list[Record]:
    """Throw single fixes hundreds of metres off (multipath lock on a reflection), each fix with chance `rate`."""
    out: list[Record] = []
    for record in track:
        if record.get("lat") is not None and rng.random() < rate:
            bearing = rng.uniform(0.0, 360.0)
            distance = rng.uniform(*distance_m)
            out.append(_moved(record, distance * math.sin(math.radians(bearing)),
                              distance * math.cos(math.radians(bearing))))
        else:
            out.append(record)
    return out


def spike_at(track: list[Record], index: int, bearing: float, distance_m: float) -> list[Record]:
    """One stray fix: the record at `index` moved `distance_m` towards `bearing`."""
    out = list(track)
    east, north = distance_m * math.sin(math.radians(bearing)), distance_m * math.cos(math.radians(bearing))
    out[index] = _moved(out[index], east, north)
    return out


def _moved(record: Record, east_m: float, north_m: float) -> Record:
    distance = math.hypot(east_m, north_m)
    if distance == 0:
        return dict(record)
    lat, lon = destination(record["lat"], record["lon"], math.degrees(math.atan2(east_m, north_m)) % 360.0, distance)
    return {**record, "lat": round(lat, 6), "lon": round(lon, 6)}


# ----------------------------------------------------------------------------- driving


def shift_plan(trips: dict[str, Any], minutes: float, vehicle_id: str | None = None) -> dict[str, Any]:
    """Move the planned times of the trips (of one vehicle, or all) by `minutes`: a vehicle then runs that much
    early (plan later) or late (plan earlier) against its plan, as trucks do by up to an hour."""
    out = copy.deepcopy(trips)
    delta = int(minutes * 60_000)
    for feature in out.get("features", []):
        props = feature["properties"]
        if vehicle_id is not None and props.get("vehicle_id") != vehicle_id:
            continue
        for key in ("planned_start", "planned_end"):
            props[key] = format_ms(parse_rfc3339_ms(props[key]) + delta)
        for stop in props.get("stops", []):
            for key in ("planned_arrival", "planned_departure"):
                stop[key] = format_ms(parse_rfc3339_ms(stop[key]) + delta)
    return out


def shift_times(track: list[Record], minutes: float) -> list[Record]:
    """Move every record by `minutes` (the whole day earlier or later against fixed plans and hours)."""
    delta = int(minutes * 60_000)
    return [_at(r, ts_ms(r) + delta) for r in track]


def moving_spans(track: list[Record], min_s: float) -> list[tuple[int, int]]:
    """(first, last) record indices of stretches driven without a standstill for at least `min_s` seconds."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for k, record in enumerate([*track, None]):
        moving = record is not None and speed_kmh(record) >= STANDING_KMH and record.get("lat") is not None
        if moving and start is None:
            start = k
        elif not moving and start is not None:
            if ts_ms(track[k - 1]) - ts_ms(track[start]) >= min_s * 1000:
                spans.append((start, k - 1))
            start = None
    return spans


def insert_break(track: list[Record], index: int, minutes: float, period_s: float = 60.0,
                 card_out: bool = False) -> list[Record]:
    """The driver pulls over where record `index` is and stops for `minutes` (ignition off, parking brake on;
    the card stays in, as a tachograph break is recorded with it): a break of Regulation (EC) 561/2006, a
    fuel stop, a queue. Everything after runs that much later. Inserted records every `period_s` seconds."""
    anchor = track[index]
    pause_ms = int(minutes * 60_000)
    t0 = ts_ms(anchor)
    parked = {k: v for k, v in anchor.items() if k not in ("wheel_speed_kmh", "engine_rpm")}
    parked.update(ignition=False, parking_brake=True)
    if "gnss_speed_kmh" in parked:
        parked["gnss_speed_kmh"] = 0.0
    if card_out and "driver_card_id" in parked:
        parked["driver_card_id"] = None
    stand = []
    n = max(1, int(pause_ms // (period_s * 1000)))
    for k in range(1, n + 1):
        stand.append(_at(parked, t0 + int(k * pause_ms / (n + 1))))
    later = [_at(r, ts_ms(r) + pause_ms) for r in track[index + 1:]]
    return _renumbered([*track[:index + 1], *stand, *later])


def insert_detour(track: list[Record], first: int, last: int, offset_m: float, side: float = 1.0,
                  ramp: float = 0.2) -> list[Record]:
    """Round a closure: between records `first` and `last` the vehicle drives a parallel street `offset_m` to
    one side (`side` +1 right, -1 left of its course) and rejoins its route; times are unchanged."""
    a, b = track[first], track[last]
    course = bearing_deg(a["lat"], a["lon"], b["lat"], b["lon"])
    lateral = math.radians(course + 90.0 * (1 if side >= 0 else -1))
    t_a, t_b = ts_ms(a), ts_ms(b)
    out = list(track)
    for k in range(first, last + 1):
        record = track[k]
        if record.get("lat") is None:
            continue
        f = (ts_ms(record) - t_a) / max(1, t_b - t_a)
        share = min(1.0, f / ramp, (1.0 - f) / ramp)
        out[k] = _moved(record, share * offset_m * math.sin(lateral), share * offset_m * math.cos(lateral))
    for k in range(first, min(last + 1, len(out) - 1)):
        here, there = out[k], out[k + 1]
        if ("heading_deg" in here and here.get("lat") is not None and there.get("lat") is not None
                and haversine_m(here["lat"], here["lon"], there["lat"], there["lon"]) > 1.0):
            here["heading_deg"] = round(bearing_deg(here["lat"], here["lon"], there["lat"], there["lon"]), 1)
    return out


def _renumbered(track: list[Record]) -> list[Record]:
    """Fresh seq numbers in event-time order from the first record's (inserted records need their own)."""
    if not track or not isinstance(track[0].get("seq"), int):
        return [{k: v for k, v in r.items() if k != "seq"} for r in track]
    first = track[0]["seq"]
    return [{**r, "seq": first + k} for k, r in enumerate(track)]


# ----------------------------------------------------------------------------- zones


def zone_distance(zones: dict[str, Any]) -> Callable[[float, float], float]:
    """A function giving the distance in metres from a point to the nearest protected zone of a zones.geojson."""
    polygons = [shape(f["geometry"]) for f in zones.get("features", [])]

    def distance(lat: float, lon: float) -> float:
        if not polygons:
            return math.inf
        point = Point(lon, lat)
        m_per_deg_lat = 111_320.0
        m_per_deg_lon = m_per_deg_lat * math.cos(math.radians(lat))
        best = math.inf
        for polygon in polygons:
            if polygon.contains(point):
                return 0.0
            nearest = polygon.exterior.interpolate(polygon.exterior.project(point))
            best = min(best, math.hypot((nearest.x - lon) * m_per_deg_lon, (nearest.y - lat) * m_per_deg_lat))
        return best

    return distance


# ----------------------------------------------------------------------------- bundles


def read_tracks(bundle: Path) -> dict[str, list[Record]]:
    """A bundle's telemetry as tracks by vehicle (see by_vehicle)."""
    lines = (Path(bundle) / "telemetry.jsonl").read_bytes().splitlines()
    return by_vehicle(orjson.loads(line) for line in lines if line.strip())


def arrival_order(tracks: dict[str, list[Record]]) -> list[Record]:
    """All records in the order they reach the platform: each track's own order (a burst stays a burst, sent
    when the newest record before it in the track was), vehicles interleaved by that time."""
    rows = []
    for vid, track in tracks.items():
        latest = -1
        for k, record in enumerate(track):
            latest = max(latest, ts_ms(record))
            rows.append((latest, vid, k, record))
    rows.sort(key=lambda row: row[:3])
    return [row[3] for row in rows]


def delay_labels(labels: dict[str, Any], delays: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """labels.json with the times of each vehicle's incidents and hard cases after `from` moved `delay` later
    (delays: vehicle -> (from ms, delay ms), as insert_break makes them)."""
    out = copy.deepcopy(labels)

    def moved(vid: str, text: str | None) -> str | None:
        if text is None or vid not in delays:
            return text
        since, delay = delays[vid]
        t = parse_rfc3339_ms(text)
        return format_ms(t + delay) if t >= since else text

    for incident in out.get("incidents", []):
        vid = incident["vehicle_id"]
        for key in ("start", "end", "zone_entry_ts"):
            incident[key] = moved(vid, incident.get(key))
    for case in out.get("hard_cases", []):
        for key in ("start", "end"):
            case[key] = moved(case["vehicle_id"], case.get(key))
    return out


def write_bundle(source: Path, out: Path, tracks: dict[str, list[Record]], trips: dict[str, Any] | None = None,
                 labels: dict[str, Any] | None = None) -> Path:
    """A copy of a bundle with perturbed telemetry (and plans, and labels when times moved): the same fleet and
    zones, so `truckguard replay` and `truckguard evaluate` run on it as on the original."""
    source, out = Path(source), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("fleet.json", "zones.geojson", "trips.geojson", "labels.json"):
        if (source / name).is_file():
            shutil.copyfile(source / name, out / name)
    if trips is not None:
        (out / "trips.geojson").write_text(json.dumps(trips))
    if labels is not None:
        (out / "labels.json").write_text(json.dumps(labels))
    (out / "telemetry.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in arrival_order(tracks)))
    return out
