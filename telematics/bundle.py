"""Reads a replay bundle directory (contract section 6): reference files into ReferenceData, telemetry lines as raw bytes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from telematics.reference import (
    FLEET_KINDS,
    VEHICLE_CATEGORIES,
    Fleet,
    ReferenceData,
    Site,
    Trip,
    TripStop,
    Vehicle,
    Zone,
    ZoneAccess,
)
from telematics.schedule import ScheduleError, parse_operating_hours, parse_windows, zone_info
from telematics.timeutil import TimestampError, parse_rfc3339_ms

FLEET_FILE = "fleet.json"
TRIPS_FILE = "trips.geojson"
ZONES_FILE = "zones.geojson"
TELEMETRY_FILE = "telemetry.jsonl"
CAN_FILE = "can.jsonl"


class ReferenceDataError(ValueError):
    """A reference file is missing or malformed; the message names the file and the path inside it."""


def _require(obj: dict[str, Any], key: str, kinds: type | tuple[type, ...], where: str) -> Any:
    if key not in obj:
        raise ReferenceDataError(f"{where}.{key}: missing")
    value = obj[key]
    allowed = kinds if isinstance(kinds, tuple) else (kinds,)
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        raise ReferenceDataError(f"{where}.{key}: got {value!r}, expected {_kind_name(kinds)}")
    return value


def _kind_name(kinds: type | tuple[type, ...]) -> str:
    names = [k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,))]
    return " or ".join({"str": "text", "float": "a number", "int": "a number", "list": "a list", "dict": "an object"}.get(n, n) for n in names)


def _number(obj: dict[str, Any], key: str, where: str) -> float:
    return float(_require(obj, key, (int, float), where))


def _time(value: Any, where: str) -> int:
    if not isinstance(value, str):
        raise ReferenceDataError(f"{where}: got {value!r}, expected RFC 3339 text")
    try:
        return parse_rfc3339_ms(value)
    except TimestampError as exc:
        raise ReferenceDataError(f"{where}: {exc}") from None


def _load_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise ReferenceDataError(f"{path}: file not found") from None
    except orjson.JSONDecodeError as exc:
        raise ReferenceDataError(f"{path}: not valid JSON ({exc})") from None


def parse_fleet_document(doc: Any, source: str = FLEET_FILE) -> tuple[dict[str, Fleet], dict[str, Vehicle], list[Site]]:
    """fleet.json content to fleets, vehicles and sites."""
    if not isinstance(doc, dict):
        raise ReferenceDataError(f"{source}: expected an object with fleets, vehicles and sites")
    fleets: dict[str, Fleet] = {}
    try:
        for i, raw in enumerate(doc.get("fleets", [])):
            where = f"{source}: fleets[{i}]"
            kind = _require(raw, "kind", str, where)
            if kind not in FLEET_KINDS:
                raise ReferenceDataError(f"{where}.kind: got {kind!r}, expected one of {FLEET_KINDS}")
            fleet_id = _require(raw, "fleet_id", str, where)
            fleets[fleet_id] = Fleet(
                fleet_id=fleet_id,
                name=raw.get("name") or fleet_id,
                kind=kind,
                timezone=zone_info(_require(raw, "timezone", str, where)),
                operating_hours=parse_operating_hours(raw.get("operating_hours"), f"{where}.operating_hours"),
            )
        vehicles: dict[str, Vehicle] = {}
        for i, raw in enumerate(doc.get("vehicles", [])):
            where = f"{source}: vehicles[{i}]"
            fleet_id = _require(raw, "fleet_id", str, where)
            if fleet_id not in fleets:
                raise ReferenceDataError(f"{where}.fleet_id: {fleet_id!r} is not a fleet in this file")
            category = raw.get("category")
            if category is not None and category not in VEHICLE_CATEGORIES:
                raise ReferenceDataError(f"{where}.category: got {category!r}, expected one of {VEHICLE_CATEGORIES}")
            cards = raw.get("authorized_driver_cards") or []
            if not isinstance(cards, list) or not all(isinstance(c, str) for c in cards):
                raise ReferenceDataError(f"{where}.authorized_driver_cards: expected a list of card ids")
            vehicle_id = _require(raw, "vehicle_id", str, where)
            vehicles[vehicle_id] = Vehicle(vehicle_id, fleet_id, category, raw.get("plate"), frozenset(cards))
        sites = []
        for i, raw in enumerate(doc.get("sites", [])):
            where = f"{source}: sites[{i}]"
            sites.append(
                Site(
                    site_id=_require(raw, "site_id", str, where),
                    fleet_id=_require(raw, "fleet_id", str, where),
                    kind=raw.get("kind") or "site",
                    lat=_number(raw, "lat", where),
                    lon=_number(raw, "lon", where),
                    radius_m=_number(raw, "radius_m", where),
                )
            )
    except ScheduleError as exc:
        raise ReferenceDataError(str(exc)) from None
    except (AttributeError, TypeError) as exc:
        raise ReferenceDataError(f"{source}: malformed entry ({exc})") from None
    return fleets, vehicles, sites


def _features(doc: Any, geometry_type: str, source: str) -> list[tuple[str, dict[str, Any], list[Any]]]:
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise ReferenceDataError(f"{source}: expected a GeoJSON FeatureCollection")
    out = []
    for i, feature in enumerate(doc["features"]):
        where = f"{source}: features[{i}]"
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if not isinstance(geometry, dict) or geometry.get("type") != geometry_type:
            raise ReferenceDataError(f"{where}.geometry: expected a {geometry_type}")
        props = feature.get("properties")
        if not isinstance(props, dict):
            raise ReferenceDataError(f"{where}.properties: expected an object")
        out.append((where, props, geometry.get("coordinates")))
    return out


def _positions(coords: Any, where: str, minimum: int) -> tuple[tuple[float, float], ...]:
    if not isinstance(coords, list) or len(coords) < minimum:
        raise ReferenceDataError(f"{where}: expected at least {minimum} [lon, lat] positions")
    out = []
    for j, pos in enumerate(coords):
        if (
            not isinstance(pos, list) or len(pos) < 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pos[:2])
            or not (-180 <= pos[0] <= 180 and -90 <= pos[1] <= 90)
        ):
            raise ReferenceDataError(f"{where}[{j}]: got {pos!r}, expected [lon, lat] in WGS 84 degrees")
        out.append((float(pos[0]), float(pos[1])))
    return tuple(out)


def parse_trips_document(doc: Any, source: str = TRIPS_FILE) -> list[Trip]:
    """trips.geojson content to planned trips."""
    trips = []
    for where, props, coords in _features(doc, "LineString", source):
        stops = []
        for j, stop in enumerate(props.get("stops") or []):
            swhere = f"{where}.properties.stops[{j}]"
            if not isinstance(stop, dict):
                raise ReferenceDataError(f"{swhere}: expected an object")
            stops.append(
                TripStop(
                    lat=_number(stop, "lat", swhere),
                    lon=_number(stop, "lon", swhere),
                    radius_m=float(stop.get("radius_m", 150)),
                    planned_arrival_ms=_time(stop["planned_arrival"], f"{swhere}.planned_arrival") if stop.get("planned_arrival") else None,
                    planned_departure_ms=_time(stop["planned_departure"], f"{swhere}.planned_departure") if stop.get("planned_departure") else None,
                )
            )
        pwhere = f"{where}.properties"
        trips.append(
            Trip(
                trip_id=_require(props, "trip_id", str, pwhere),
                vehicle_id=_require(props, "vehicle_id", str, pwhere),
                driver_card_id=props.get("driver_card_id"),
                planned_start_ms=_time(props.get("planned_start"), f"{pwhere}.planned_start"),
                planned_end_ms=_time(props.get("planned_end"), f"{pwhere}.planned_end"),
                corridor_m=float(props.get("corridor_m", 500)),
                route=_positions(coords, f"{where}.geometry.coordinates", 2),
                stops=tuple(stops),
            )
        )
    return trips


def parse_zones_document(doc: Any, source: str = ZONES_FILE) -> list[Zone]:
    """zones.geojson content to protected zones (outer ring of each polygon)."""
    zones = []
    for where, props, coords in _features(doc, "Polygon", source):
        pwhere = f"{where}.properties"
        if not isinstance(coords, list) or not coords:
            raise ReferenceDataError(f"{where}.geometry.coordinates: expected a list of rings")
        access = props.get("access") or {}
        if not isinstance(access, dict):
            raise ReferenceDataError(f"{pwhere}.access: expected an object")
        max_speed = access.get("max_speed_kmh")
        if max_speed is not None and (isinstance(max_speed, bool) or not isinstance(max_speed, int | float)):
            raise ReferenceDataError(f"{pwhere}.access.max_speed_kmh: got {max_speed!r}, expected a number")
        try:
            zone = Zone(
                zone_id=_require(props, "zone_id", str, pwhere),
                name=props.get("name") or props["zone_id"],
                kind=props.get("kind") or "public_space",
                timezone=zone_info(props.get("timezone") or "UTC"),
                active=parse_windows(props.get("active"), f"{pwhere}.active"),
                access=ZoneAccess(
                    categories_allowed=frozenset(access.get("categories_allowed") or ()),
                    delivery_windows=parse_windows(access.get("delivery_windows"), f"{pwhere}.access.delivery_windows"),
                    max_speed_kmh=float(max_speed) if max_speed is not None else None,
                ),
                ring=_positions(coords[0], f"{where}.geometry.coordinates[0]", 4),
            )
        except ScheduleError as exc:
            raise ReferenceDataError(str(exc)) from None
        zones.append(zone)
    return zones


def load_reference(directory: Path) -> ReferenceData:
    """The reference files of a bundle directory; trips.geojson and zones.geojson may be absent (none)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ReferenceDataError(f"{directory}: not a directory (expected a bundle with {FLEET_FILE})")
    fleets, vehicles, sites = parse_fleet_document(_load_json(directory / FLEET_FILE), str(directory / FLEET_FILE))
    trips_path, zones_path = directory / TRIPS_FILE, directory / ZONES_FILE
    trips = parse_trips_document(_load_json(trips_path), str(trips_path)) if trips_path.exists() else []
    zones = parse_zones_document(_load_json(zones_path), str(zones_path)) if zones_path.exists() else []
    return ReferenceData(fleets=fleets, vehicles=vehicles, sites=sites, trips=trips, zones=zones)


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw line without its newline) of a JSON Lines file; blank lines are skipped."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip(b"\r\n")
            if line.strip():
                yield number, line
