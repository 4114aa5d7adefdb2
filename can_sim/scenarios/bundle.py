"""Generates a labelled replay bundle: reference files, telemetry in arrival order, and labels.json."""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from shapely.geometry import Polygon
from shapely.geometry.polygon import orient

from can_sim.scenarios.cities import City, resolve_cities
from can_sim.scenarios.fleets import FleetSpec, VehicleSpec, compose_fleets
from can_sim.scenarios.incidents import IncidentSpec, normalise_requests, place_incidents
from can_sim.scenarios.labels import LABELS_FILE, HardCase, labels_document, rfc3339
from can_sim.scenarios.layout import CityMap, build_city
from can_sim.scenarios.network import Projection
from can_sim.scenarios.plans import PlanContext, TripPlan, VehiclePlan, plan_vehicle
from can_sim.scenarios.profiles import DEVICE_KINDS, DRIVING_PROFILES, NEVER_S, assign_profiles
from can_sim.scenarios.runner import VehicleRun
from telematics.bundle import FLEET_FILE, TELEMETRY_FILE, TRIPS_FILE, ZONES_FILE
from telematics.errors import BadInput

GENERATOR_VERSION = 1
MAX_DAYS = 31
MAX_VEHICLES = 5000
DEPOT_RADIUS_M = 300.0
STATION_RADIUS_M = 150.0
STOP_RADIUS_M = 150.0
JSON_OPTIONS = orjson.OPT_INDENT_2


class ScenarioError(BadInput):
    """generate_bundle was given an argument it cannot use; the message names it and what was expected."""


@dataclass
class BundleSummary:
    """What generate_bundle wrote, for the command line and tests."""

    out_dir: Path
    seed: int
    start: datetime
    end: datetime
    vehicles: int
    fleets: int
    records: int
    """Telemetry records produced (each once)."""
    lines: int
    """Lines in telemetry.jsonl: records plus duplicates."""
    late_records: int
    duplicates: int
    incidents: list[dict[str, Any]] = field(default_factory=list)
    skipped_incidents: list[str] = field(default_factory=list)
    hard_cases: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir), "seed": self.seed, "start": self.start.isoformat(),
            "end": self.end.isoformat(), "vehicles": self.vehicles, "fleets": self.fleets, "records": self.records,
            "lines": self.lines, "late_records": self.late_records, "duplicates": self.duplicates,
            "incidents": self.incidents, "skipped_incidents": self.skipped_incidents, "hard_cases": self.hard_cases,
        }


def generate_bundle(
    out_dir: Path,
    *,
    seed: int,
    vehicles: int,
    days: float | int,
    start: datetime,
    cities: list[str] | None = None,
    incidents: int | list[str | IncidentSpec] | None = None,
    on_progress: Callable[[int], None] | None = None,
    profiles: bool = True,
    device_profile: str | None = None,
    driving_profile: str | None = None,
) -> BundleSummary:
    """Write a replay bundle and its labels to out_dir; the same arguments always give the same bytes.

    ``incidents``: None for the default number (one per three vehicles, at most ten per hundred
    vehicle-days), a count (the types in turn from a seed-chosen first, skipping what does not fit the window,
    listed in the summary), or a list of type names or IncidentSpec (each must fit, else IncidentError).
    ``on_progress`` is called with the number of telemetry lines written so far, every 100,000 lines.
    ``profiles``: give each vehicle a device kind and a driving profile drawn from the seed
    (can_sim.scenarios.profiles), so the bundle mixes them; False keeps every vehicle on the classic ones.
    ``device_profile`` / ``driving_profile`` pin one kind or profile for every vehicle (rental vans keep to
    the driving profiles a van can have).
    """
    window = validate_window(start, days)
    if isinstance(vehicles, bool) or not isinstance(vehicles, int) or not 1 <= vehicles <= MAX_VEHICLES:
        raise ScenarioError(f"vehicles: got {vehicles!r}, expected a whole number from 1 to {MAX_VEHICLES}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ScenarioError(f"seed: got {seed!r}, expected a whole number")
    known_devices = [k.name for k in DEVICE_KINDS]
    if device_profile is not None and device_profile not in known_devices:
        raise ScenarioError(f"device_profile: got {device_profile!r}, expected one of {', '.join(known_devices)}")
    known_driving = [p.name for p in DRIVING_PROFILES]
    if driving_profile is not None and driving_profile not in known_driving:
        raise ScenarioError(f"driving_profile: got {driving_profile!r}, expected one of {', '.join(known_driving)}")
    chosen = resolve_cities(cities)[:vehicles]
    requests, limit = normalise_requests(incidents, vehicles, float(days), random.Random(f"{seed}/incident-types"))
    options = WorldOptions(profiles=profiles or device_profile is not None or driving_profile is not None,
                           device_profile=device_profile, driving_profile=driving_profile)
    extra: dict[str, Any] = {"days": days, "profiles": options.profiles}
    if device_profile or driving_profile:
        extra["pinned_profiles"] = {"device": device_profile, "driving": driving_profile}
    return write_bundle(Path(out_dir), seed, chosen, vehicles, window, requests, limit, options, extra, on_progress)


@dataclass(frozen=True)
class WorldOptions:
    """Knobs that presets (the demo) turn; generate_bundle uses the defaults."""

    align_shifts: bool = False
    always_active_zone_kinds: tuple[str, ...] = ()
    profiles: bool = False
    """Draw a device kind and a driving profile per vehicle (generate_bundle's default; the demo keeps classic)."""
    device_profile: str | None = None
    driving_profile: str | None = None


def write_bundle(out_dir: Path, seed: int, cities: list[City], vehicles: int, window: tuple[int, int],
                 requests: list[IncidentSpec], limit: int | None, options: WorldOptions,
                 generator_extra: dict[str, Any], on_progress: Callable[[int], None] | None = None) -> BundleSummary:
    """Build the world, place the incidents, simulate, and write every file of the bundle."""
    world = build_world(seed, cities, vehicles, window, options)
    takeovers, skipped = place_incidents(requests, limit, world.vehicles, world.plans, window,
                                         random.Random(f"{seed}/incidents"), frozenset(world.featured))
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = [VehicleRun(v, world.maps[v.fleet.city.key], world.plans[v.vehicle_id], window,
                       takeovers.get(v.vehicle_id), seed) for v in world.vehicles]
    lines = write_telemetry(out_dir / TELEMETRY_FILE, runs, on_progress)
    labels = [run.label for run in runs if run.label is not None and run.label.start is not None]
    missing = [run.label.type for run in runs if run.label is not None and run.label.start is None]
    hard_cases = [case for run in runs for case in run.hard_cases if case.end > window[0] and case.start < window[1]]
    hard_cases += _delivery_cases(runs)
    _write_json(out_dir / FLEET_FILE, fleet_document(world.fleets, world.vehicles, world.maps))
    _write_json(out_dir / TRIPS_FILE, trips_document(world, window))
    _write_json(out_dir / ZONES_FILE, zones_document(world.maps))
    stats = [run.device.stats for run in runs]
    delivery = {"records": sum(s.records for s in stats), "lines": lines,
                "late_records": sum(s.late for s in stats), "duplicates": sum(s.duplicates for s in stats)}
    generator = {"name": "can_sim.scenarios", "version": GENERATOR_VERSION, "seed": seed, "vehicles": vehicles,
                 **generator_extra, "start": rfc3339(window[0]), "cities": [c.key for c in cities],
                 "incidents_requested": limit if limit is not None else [r.type for r in requests],
                 "incidents_skipped": skipped + missing}
    doc = labels_document(generator=generator, window=window, vehicles=[_vehicle_entry(r) for r in runs],
                          incidents=labels, hard_cases=hard_cases, delivery=delivery)
    _write_json(out_dir / LABELS_FILE, doc)
    return BundleSummary(
        out_dir=out_dir, seed=seed, start=datetime.fromtimestamp(window[0], UTC),
        end=datetime.fromtimestamp(window[1], UTC), vehicles=len(world.vehicles), fleets=len(world.fleets),
        records=delivery["records"], lines=lines, late_records=delivery["late_records"],
        duplicates=delivery["duplicates"],
        incidents=[{"incident_id": i.incident_id, "type": i.type, "vehicle_id": i.vehicle_id, "start": rfc3339(i.start),
                    "zone_id": i.zone_id, "zone_entry_ts": rfc3339(i.zone_entry)} for i in labels],
        skipped_incidents=skipped + missing, hard_cases=dict(sorted(Counter(h.kind for h in hard_cases).items())),
    )


def validate_window(start: datetime, days: float | int) -> tuple[int, int]:
    if not isinstance(start, datetime) or start.tzinfo is None or start.utcoffset() is None:
        raise ScenarioError(f"start: got {start!r}, expected a timezone-aware datetime")
    if isinstance(days, bool) or not isinstance(days, int | float) or not 0 < days <= MAX_DAYS:
        raise ScenarioError(f"days: got {days!r}, expected a number of days above 0 and at most {MAX_DAYS}")
    first = int(start.timestamp())
    return first, first + max(60, round(days * 86400))


@dataclass
class World:
    """Everything decided before the simulation runs: cities, fleets, vehicles and their plans."""

    maps: dict[str, CityMap]
    fleets: list[FleetSpec]
    vehicles: list[VehicleSpec]
    plans: dict[str, VehiclePlan]
    featured: list[str]
    """Vehicles asked to show hard cases inside the window."""


def build_world(seed: int, cities: list[City], vehicles: int, window: tuple[int, int],
                options: WorldOptions | None = None) -> World:
    """Cities, fleets, vehicles and every vehicle's plan: all decided by the seed before anything moves."""
    options = options or WorldOptions()
    maps = {c.key: build_city(c, random.Random(f"{seed}/{c.key}/map"), fleets=1 + vehicles // 60,
                              always_active=options.always_active_zone_kinds) for c in cities}
    fleets, specs = compose_fleets(cities, maps, vehicles, random.Random(f"{seed}/fleets"))
    if options.profiles:
        specs = assign_profiles(specs, seed, (options.device_profile, options.driving_profile))
    features = _hard_case_features(specs)
    plans = {v.vehicle_id: plan_vehicle(PlanContext(v, maps[v.fleet.city.key], window,
                                                    random.Random(f"{seed}/{v.vehicle_id}/plan"),
                                                    features.get(v.vehicle_id, set()), options.align_shifts))
             for v in specs}
    return World(maps, fleets, specs, plans, sorted(features))


def _hard_case_features(vehicles: list[VehicleSpec]) -> dict[str, set[str]]:
    """Make the first haulier trucks of each city show the hard cases inside the window, however short."""
    out: dict[str, set[str]] = {}
    by_city: dict[str, list[VehicleSpec]] = {}
    for v in vehicles:
        if v.fleet.kind == "haulier":
            by_city.setdefault(v.fleet.city.key, []).append(v)
    for trucks in by_city.values():
        wishes = [{"tunnel", "swap"}, {"zone_delivery", "detour"}]
        for n, wish in enumerate(wishes):
            target = trucks[n] if n < len(trucks) else trucks[0]
            out.setdefault(target.vehicle_id, set()).update(wish)
    return out


def write_telemetry(path: Path, runs: list[VehicleRun], on_progress: Callable[[int], None] | None) -> int:
    """Merge every vehicle's records by arrival time (ties: vehicle order, then queue order) into JSON Lines."""
    streams = [_tagged(run.records(), n) for n, run in enumerate(runs)]
    count = 0
    chunk: list[bytes] = []
    with open(path, "wb") as handle:
        for _arrival, _vehicle, _order, line in heapq.merge(*streams):
            chunk.append(line)
            count += 1
            if len(chunk) >= 10_000:
                handle.write(b"\n".join(chunk) + b"\n")
                chunk = []
                if on_progress is not None and count % 100_000 == 0:
                    on_progress(count)
        if chunk:
            handle.write(b"\n".join(chunk) + b"\n")
    return count


def _tagged(records: Iterator[tuple[int, int, bytes]], vehicle: int) -> Iterator[tuple[int, int, int, bytes]]:
    for arrival, order, line in records:
        yield arrival, vehicle, order, line


def _delivery_cases(runs: list[VehicleRun]) -> list[HardCase]:
    """Link outages (records arriving late in a burst) and sparse devices, as hard cases."""
    out = []
    for run in runs:
        vid = run.spec.vehicle_id
        out += [HardCase("late_burst", vid, a, b, {"max_late_s": b - a}) for a, b in run.device.stats.outages]
        if run.spec.device.sparse:
            out.append(HardCase("sparse_reporting", vid, run.window[0], run.window[1],
                                {"period_moving_s": run.spec.device.period_moving_s,
                                 "heartbeat_s": run.spec.device.heartbeat_s
                                 if run.spec.device.heartbeat_s < NEVER_S else None}))
    return out


def _vehicle_entry(run: VehicleRun) -> dict[str, Any]:
    spec = run.spec
    return {"vehicle_id": spec.vehicle_id, "fleet_id": spec.fleet.fleet_id, "fleet_kind": spec.fleet.kind,
            "category": spec.category, "city": spec.fleet.city.key,
            "device": {"period_moving_s": spec.device.period_moving_s,
                       "heartbeat_s": spec.device.heartbeat_s if spec.device.heartbeat_s < NEVER_S else None,
                       "sparse": spec.device.sparse},
            "device_profile": spec.device.name, "driving_profile": spec.driving.name,
            "incident_id": run.label.incident_id if run.label is not None and run.label.start is not None else None}


# ----------------------------------------------------------------------------- reference documents


def _point(projection: Projection, x: float, y: float) -> tuple[float, float]:
    lat, lon = projection.latlon(x, y)
    return round(lat, 6), round(lon, 6)


def fleet_document(fleets: list[FleetSpec], vehicles: list[VehicleSpec], maps: dict[str, CityMap]) -> dict[str, Any]:
    """fleet.json (contract section 6)."""
    fleet_docs, site_docs = [], []
    for fleet in fleets:
        doc: dict[str, Any] = {"fleet_id": fleet.fleet_id, "name": fleet.name, "kind": fleet.kind,
                               "timezone": fleet.city.timezone}
        if fleet.operating_hours is not None:
            doc["operating_hours"] = fleet.operating_hours
        fleet_docs.append(doc)
        net = maps[fleet.city.key].network
        lat, lon = _point(net.projection, net.xs[fleet.site_node], net.ys[fleet.site_node])
        site_docs.append({"site_id": fleet.site_id, "fleet_id": fleet.fleet_id, "kind": fleet.site_kind,
                          "lat": lat, "lon": lon,
                          "radius_m": DEPOT_RADIUS_M if fleet.site_kind == "depot" else STATION_RADIUS_M})
    vehicle_docs = [{"vehicle_id": v.vehicle_id, "fleet_id": v.fleet.fleet_id, "category": v.category,
                     "plate": v.plate, "authorized_driver_cards": list(v.cards)} for v in vehicles]
    return {"fleets": fleet_docs, "vehicles": vehicle_docs, "sites": site_docs}


def trips_document(world: World, window: tuple[int, int]) -> dict[str, Any]:
    """trips.geojson: every planned trip that overlaps the window."""
    features = []
    for vehicle in world.vehicles:
        net = world.maps[vehicle.fleet.city.key].network
        for trip in world.plans[vehicle.vehicle_id].trips:
            if trip.planned_end < window[0] or trip.planned_start >= window[1]:
                continue
            features.append(_trip_feature(trip, net.projection, net.xs, net.ys))
    return {"type": "FeatureCollection", "features": features}


def _trip_feature(trip: TripPlan, projection: Projection, xs: list[float], ys: list[float]) -> dict[str, Any]:
    coords = []
    for node in trip.route:
        lat, lon = _point(projection, xs[node], ys[node])
        if not coords or coords[-1] != [lon, lat]:
            coords.append([lon, lat])
    stops = []
    for node, arrival, departure in trip.stops:
        lat, lon = _point(projection, xs[node], ys[node])
        stops.append({"lat": lat, "lon": lon, "radius_m": STOP_RADIUS_M, "planned_arrival": rfc3339(arrival),
                      "planned_departure": rfc3339(departure)})
    return {"type": "Feature", "geometry": {"type": "LineString", "coordinates": coords},
            "properties": {"trip_id": trip.trip_id, "vehicle_id": trip.vehicle_id,
                           "driver_card_id": trip.driver_card_id, "planned_start": rfc3339(trip.planned_start),
                           "planned_end": rfc3339(trip.planned_end), "corridor_m": trip.corridor_m, "stops": stops}}


def zones_document(maps: dict[str, CityMap]) -> dict[str, Any]:
    """zones.geojson: every city's protected zones, rings counter-clockwise as RFC 7946 recommends."""
    features = []
    for city_map in maps.values():
        projection = city_map.network.projection
        for zone in city_map.zones:
            ring = orient(Polygon(zone.ring_xy), sign=1.0).exterior.coords
            coords = [[lon, lat] for lat, lon in (_point(projection, x, y) for x, y in ring)]
            features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [coords]},
                             "properties": zone.properties})
    return {"type": "FeatureCollection", "features": features}


def _write_json(path: Path, doc: Any) -> None:
    path.write_bytes(orjson.dumps(doc, option=JSON_OPTIONS) + b"\n")
