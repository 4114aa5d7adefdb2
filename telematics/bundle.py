"""Reads a replay bundle (contract section 6): reference files into ReferenceData, telemetry lines as raw bytes."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import msgspec
import orjson

from telematics.errors import BadInput
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
from telematics.schedule import ScheduleError, WeeklySchedule, parse_operating_hours, parse_windows, zone_info
from telematics.timeutil import TimestampError, parse_rfc3339_ms
from telematics.wire import VEHICLE_ID_PATTERN

FLEET_FILE = "fleet.json"
TRIPS_FILE = "trips.geojson"
ZONES_FILE = "zones.geojson"
TELEMETRY_FILE = "telemetry.jsonl"
CAN_FILE = "can.jsonl"
DEFAULT_CORRIDOR_M = 500.0
DEFAULT_STOP_RADIUS_M = 150.0


class ReferenceDataError(BadInput):
    """A reference file is missing or malformed; the message names the file and the path inside it."""


def _fail(where: str, problem: str) -> NoReturn:
    raise ReferenceDataError(f"{where}: {problem}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _absent(obj: dict[str, Any], key: str, where: str, expected: str) -> NoReturn:
    _fail(f"{where}.{key}", f"missing, expected {expected}" if key not in obj else f"got None, expected {expected}")


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail(where, f"got {_show(value)}, expected an object")
    return value


def _list(obj: dict[str, Any], key: str, where: str, *, top: bool = False) -> list[Any]:
    """A list that may be absent or null (then empty); top: a key of the document itself."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        _fail(f"{where}: {key}" if top else f"{where}.{key}", f"got {_show(value)}, expected a list")
    return value


def _text(obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> Any:
    """Non-empty text; absent or null is None unless required."""
    value = obj.get(key)
    if value is None:
        if required:
            _absent(obj, key, where, "text")
        return None
    if not isinstance(value, str) or not value:
        _fail(f"{where}.{key}", f"got {_show(value)}, expected non-empty text")
    return value


def _one_of(obj: dict[str, Any], key: str, where: str, allowed: tuple[str, ...], *, required: bool = True) -> Any:
    value = _text(obj, key, where, required=required)
    if value is not None and value not in allowed:
        _fail(f"{where}.{key}", f"got {value!r}, expected one of {', '.join(allowed)}")
    return value


def _number(obj: dict[str, Any], key: str, where: str, *, low: float | None = None, high: float | None = None,
            positive: bool = False, default: float | None = None) -> Any:
    """A finite number in range; absent or null gives the default, or fails when there is none."""
    value = obj.get(key)
    if value is None:
        if default is None:
            _absent(obj, key, where, "a number")
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        _fail(f"{where}.{key}", f"got {_show(value)}, expected a finite number")
    if positive and value <= 0:
        _fail(f"{where}.{key}", f"got {value!r}, expected a number above 0")
    if (low is not None and value < low) or (high is not None and value > high):
        _fail(f"{where}.{key}", f"got {value!r}, expected a number from {low:g} to {high:g}")
    return float(value)


def _time(obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> int | None:
    value = obj.get(key)
    if value is None:
        if required:
            _absent(obj, key, where, "RFC 3339 text")
        return None
    if not isinstance(value, str):
        _fail(f"{where}.{key}", f"got {_show(value)}, expected RFC 3339 text")
    try:
        return parse_rfc3339_ms(value)
    except TimestampError as exc:
        _fail(f"{where}.{key}", str(exc))


def _zone(obj: dict[str, Any], key: str, where: str, default: str | None = None) -> ZoneInfo:
    name = _text(obj, key, where, required=default is None) or default
    assert isinstance(name, str)  # required when there is no default
    try:
        return zone_info(name)
    except ScheduleError as exc:
        _fail(f"{where}.{key}", str(exc))


def _unique(seen: dict[str, str], value: str, where: str) -> str:
    if value in seen:
        _fail(where, f"{value!r} is already used by {seen[value]}")
    seen[value] = where.split(": ", 1)[-1].rsplit(".", 1)[0]
    return value


def _vehicle_id(obj: dict[str, Any], where: str) -> str:
    vehicle_id: str = _text(obj, "vehicle_id", where)
    if VEHICLE_ID_PATTERN.fullmatch(vehicle_id) is None:
        _fail(f"{where}.vehicle_id", f"got {vehicle_id!r}, expected 1-64 characters of A-Z a-z 0-9 . _ - "
                                     "(as in telemetry)")
    return vehicle_id


def _schedule(parse: Callable[[object, str], WeeklySchedule], value: Any, where: str) -> WeeklySchedule:
    try:
        return parse(value, where)
    except ScheduleError as exc:
        raise ReferenceDataError(str(exc)) from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ReferenceDataError(f"{path}: file not found") from None
    except OSError as exc:
        raise ReferenceDataError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _parse_json(data: bytes, path: Path) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ReferenceDataError(f"{path}: not valid JSON ({exc})") from None


def _load_json(path: Path) -> Any:
    return _parse_json(_read(path), path)


def parse_fleet_document(doc: Any, source: str = FLEET_FILE) -> tuple[dict[str, Fleet], dict[str, Vehicle], list[Site]]:
    """fleet.json content to fleets, vehicles and sites."""
    if not isinstance(doc, dict):
        _fail(source, f"got {_show(doc)}, expected an object with fleets, vehicles and sites")
    top = f"{source}: "
    fleets: dict[str, Fleet] = {}
    seen: dict[str, str] = {}
    for i, raw in enumerate(_list(doc, "fleets", source, top=True)):
        where = f"{top}fleets[{i}]"
        fleet = _object(raw, where)
        fleet_id = _unique(seen, _text(fleet, "fleet_id", where), f"{where}.fleet_id")
        fleets[fleet_id] = Fleet(
            fleet_id=fleet_id,
            name=_text(fleet, "name", where, required=False) or fleet_id,
            kind=_one_of(fleet, "kind", where, FLEET_KINDS),
            timezone=_zone(fleet, "timezone", where),
            operating_hours=_schedule(parse_operating_hours, fleet.get("operating_hours"), f"{where}.operating_hours"),
        )
    vehicles: dict[str, Vehicle] = {}
    seen = {}
    devices_seen: dict[str, str] = {}
    for i, raw in enumerate(_list(doc, "vehicles", source, top=True)):
        where = f"{top}vehicles[{i}]"
        vehicle = _object(raw, where)
        vehicle_id = _unique(seen, _vehicle_id(vehicle, where), f"{where}.vehicle_id")
        fleet_id = _text(vehicle, "fleet_id", where)
        if fleet_id not in fleets:
            _fail(f"{where}.fleet_id", f"{fleet_id!r} is not a fleet in this file")
        cards = _list(vehicle, "authorized_driver_cards", where)
        for j, card in enumerate(cards):
            if not isinstance(card, str) or not 0 < len(card) <= 64:
                _fail(f"{where}.authorized_driver_cards[{j}]", f"got {_show(card)}, expected a driver card id")
        device_ids = _list(vehicle, "device_ids", where)
        for j, device_id in enumerate(device_ids):
            if not isinstance(device_id, str) or not 0 < len(device_id) <= 64:
                _fail(f"{where}.device_ids[{j}]", f"got {_show(device_id)}, expected a device id of 1-64 characters")
            _unique(devices_seen, device_id, f"{where}.device_ids[{j}]")
        vehicles[vehicle_id] = Vehicle(
            vehicle_id=vehicle_id,
            fleet_id=fleet_id,
            category=_one_of(vehicle, "category", where, VEHICLE_CATEGORIES, required=False),
            plate=_text(vehicle, "plate", where, required=False),
            authorized_driver_cards=frozenset(cards),
            device_ids=frozenset(device_ids),
        )
    sites = []
    seen = {}
    for i, raw in enumerate(_list(doc, "sites", source, top=True)):
        where = f"{top}sites[{i}]"
        site = _object(raw, where)
        site_id = _unique(seen, _text(site, "site_id", where), f"{where}.site_id")
        fleet_id = _text(site, "fleet_id", where)
        if fleet_id not in fleets:
            _fail(f"{where}.fleet_id", f"{fleet_id!r} is not a fleet in this file")
        sites.append(
            Site(
                site_id=site_id,
                fleet_id=fleet_id,
                kind=_text(site, "kind", where, required=False) or "site",
                lat=_number(site, "lat", where, low=-90, high=90),
                lon=_number(site, "lon", where, low=-180, high=180),
                radius_m=_number(site, "radius_m", where, positive=True),
            )
        )
    return fleets, vehicles, sites


def _feature_list(doc: Any, source: str) -> list[Any]:
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list) or doc.get("type") != "FeatureCollection":
        _fail(source, "expected a GeoJSON FeatureCollection with a list of features")
    return features


def _feature(raw: Any, where: str, geometry_type: str) -> tuple[dict[str, Any], Any]:
    """A feature's properties and coordinates, once its geometry is of the type expected."""
    feature = _object(raw, where)
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict) or geometry.get("type") != geometry_type:
        got = geometry.get("type") if isinstance(geometry, dict) else geometry
        _fail(f"{where}.geometry", f"got {_show(got)}, expected a {geometry_type}")
    return _object(feature.get("properties"), f"{where}.properties"), geometry.get("coordinates")


def _features(doc: Any, geometry_type: str, source: str) -> list[tuple[str, dict[str, Any], Any]]:
    out = []
    for i, raw in enumerate(_feature_list(doc, source)):
        where = f"{source}: features[{i}]"
        out.append((where, *_feature(raw, where, geometry_type)))
    return out


_PLAIN_NUMBERS = (float, int)
"""The types a JSON parser gives numbers (bool, an int subclass, is not one of them)."""


def _positions(
    coords: Any, where: str, minimum: int, shared: dict[tuple[float, float], tuple[float, float]] | None = None
) -> tuple[tuple[float, float], ...]:
    """[lon, lat] positions as (lon, lat) tuples; a position already in ``shared`` is that same tuple (the routes of
    a fleet run through the same junctions and depots, so a day's trips share most of their points)."""
    if not isinstance(coords, list) or len(coords) < minimum:
        _fail(where, f"got {_show(coords)}, expected a list of at least {minimum} [lon, lat] positions")
    out = []
    for j, pos in enumerate(coords):
        # The common case first, decided by exact types (a JSON parser gives plain lists, floats and ints; bool is
        # not int here) and by the ranges, which no NaN and no infinity passes: a day's routes hold millions of
        # positions, and the full check below cost about 2 µs each. Anything else takes the full check.
        if type(pos) is list and len(pos) == 2:
            lon, lat = pos
            if type(lon) in _PLAIN_NUMBERS and type(lat) in _PLAIN_NUMBERS and -180 <= lon <= 180 and -90 <= lat <= 90:
                point = (float(lon), float(lat))
                out.append(point if shared is None else shared.setdefault(point, point))
                continue
        if (
            not isinstance(pos, list) or not 2 <= len(pos) <= 3
            or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in pos)
            or not (-180 <= pos[0] <= 180 and -90 <= pos[1] <= 90)
        ):
            _fail(f"{where}[{j}]", f"got {_show(pos)}, expected [lon, lat] in WGS 84 degrees")
        point = (float(pos[0]), float(pos[1]))
        out.append(point if shared is None else shared.setdefault(point, point))
    return tuple(out)


def parse_trips_document(doc: Any, source: str = TRIPS_FILE) -> list[Trip]:
    """trips.geojson content to planned trips."""
    return _trips(_feature_list(doc, source), source)


def _trips(features: Iterable[Any], source: str) -> list[Trip]:
    """Planned trips from the features, taken one at a time. The fault reported is that of the first feature that is
    not a LineString feature, else that of the first faulty trip, as when every feature was checked before any trip
    was read; and when the features are parsed as they come, only after the last one was parsed."""
    trips: list[Trip] = []
    seen: dict[str, str] = {}
    points: dict[tuple[float, float], tuple[float, float]] = {}
    not_a_line: ReferenceDataError | None = None
    faulty_trip: ReferenceDataError | None = None
    for i, raw in enumerate(features):
        if not_a_line is not None:
            continue
        where = f"{source}: features[{i}]"
        try:
            props, coords = _feature(raw, where, "LineString")
        except ReferenceDataError as exc:
            not_a_line = exc
            continue
        if faulty_trip is None:
            try:
                trips.append(_trip(where, props, coords, seen, points))
            except ReferenceDataError as exc:
                faulty_trip = exc
    for fault in (not_a_line, faulty_trip):
        if fault is not None:
            raise fault
    return trips


def _trip(
    where: str,
    props: dict[str, Any],
    coords: Any,
    seen: dict[str, str],
    points: dict[tuple[float, float], tuple[float, float]],
) -> Trip:
    pwhere = f"{where}.properties"
    trip_id = _unique(seen, _text(props, "trip_id", pwhere), f"{pwhere}.trip_id")
    start = _time(props, "planned_start", pwhere)
    end = _time(props, "planned_end", pwhere)
    if end < start:  # type: ignore[operator]
        _fail(f"{pwhere}.planned_end", f"got {props['planned_end']!r}, expected no earlier than planned_start")
    stops = []
    for j, raw in enumerate(_list(props, "stops", pwhere)):
        swhere = f"{pwhere}.stops[{j}]"
        stop = _object(raw, swhere)
        arrival = _time(stop, "planned_arrival", swhere, required=False)
        departure = _time(stop, "planned_departure", swhere, required=False)
        if arrival is not None and departure is not None and departure < arrival:
            _fail(f"{swhere}.planned_departure",
                  f"got {stop['planned_departure']!r}, expected no earlier than planned_arrival")
        stops.append(
            TripStop(
                lat=_number(stop, "lat", swhere, low=-90, high=90),
                lon=_number(stop, "lon", swhere, low=-180, high=180),
                radius_m=_number(stop, "radius_m", swhere, positive=True, default=DEFAULT_STOP_RADIUS_M),
                planned_arrival_ms=arrival,
                planned_departure_ms=departure,
            )
        )
    driver_card = props.get("driver_card_id")
    if driver_card is not None and (not isinstance(driver_card, str) or not 0 < len(driver_card) <= 64):
        _fail(f"{pwhere}.driver_card_id", f"got {_show(driver_card)}, expected a driver card id or null")
    return Trip(
        trip_id=trip_id,
        vehicle_id=_vehicle_id(props, pwhere),
        driver_card_id=driver_card,
        planned_start_ms=start,  # type: ignore[arg-type]
        planned_end_ms=end,  # type: ignore[arg-type]
        corridor_m=_number(props, "corridor_m", pwhere, positive=True, default=DEFAULT_CORRIDOR_M),
        route=_positions(coords, f"{where}.geometry.coordinates", 2, points),
        stops=tuple(stops),
    )


def parse_zones_document(doc: Any, source: str = ZONES_FILE) -> list[Zone]:
    """zones.geojson content to protected zones (the outer ring of each polygon; holes are not read)."""
    zones = []
    seen: dict[str, str] = {}
    for where, props, coords in _features(doc, "Polygon", source):
        pwhere = f"{where}.properties"
        zone_id = _unique(seen, _text(props, "zone_id", pwhere), f"{pwhere}.zone_id")
        access = props.get("access")
        access = {} if access is None else _object(access, f"{pwhere}.access")
        awhere = f"{pwhere}.access"
        categories = _list(access, "categories_allowed", awhere)
        for j, category in enumerate(categories):
            if not isinstance(category, str) or not category:
                _fail(f"{awhere}.categories_allowed[{j}]", f"got {_show(category)}, expected a vehicle category")
        max_speed = access.get("max_speed_kmh")
        if not isinstance(coords, list) or not coords:
            _fail(f"{where}.geometry.coordinates", f"got {_show(coords)}, expected a list of rings")
        ring = _positions(coords[0], f"{where}.geometry.coordinates[0]", 4)
        if ring[0] != ring[-1]:
            _fail(f"{where}.geometry.coordinates[0]", "expected a closed ring (the last position equal to the first)")
        zone = Zone(
            zone_id=zone_id,
            name=_text(props, "name", pwhere, required=False) or zone_id,
            kind=_text(props, "kind", pwhere, required=False) or "public_space",
            timezone=_zone(props, "timezone", pwhere, default="UTC"),
            active=_schedule(parse_windows, props.get("active"), f"{pwhere}.active"),
            access=ZoneAccess(
                categories_allowed=frozenset(categories),
                delivery_windows=_schedule(parse_windows, access.get("delivery_windows"), f"{awhere}.delivery_windows"),
                max_speed_kmh=None if max_speed is None else _number(access, "max_speed_kmh", awhere, low=0, high=300),
            ),
            ring=ring,
        )
        if not zone.polygon_xy.is_valid:
            import shapely

            reason = shapely.is_valid_reason(zone.polygon_xy).split("[")[0]  # without coordinates in the frame
            _fail(f"{where}.geometry.coordinates[0]", f"expected a simple ring, but it is not ({reason})")
        zones.append(zone)
    return zones


def load_reference(directory: Path) -> ReferenceData:
    """The reference files of a bundle directory; trips.geojson and zones.geojson may be absent (none)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ReferenceDataError(f"{directory}: not a directory (expected a bundle with {FLEET_FILE})")
    fleets, vehicles, sites = parse_fleet_document(_load_json(directory / FLEET_FILE), str(directory / FLEET_FILE))
    trips_path, zones_path = directory / TRIPS_FILE, directory / ZONES_FILE
    trips = _load_trips(trips_path) if trips_path.exists() else []
    zones = parse_zones_document(_load_json(zones_path), str(zones_path)) if zones_path.exists() else []
    return ReferenceData(fleets=fleets, vehicles=vehicles, sites=sites, trips=trips, zones=zones)


class _NotValidJSON(BadInput):
    """A piece of the document is not valid JSON: the whole document's parse tells where."""


def _load_trips(path: Path) -> list[Trip]:
    """trips.geojson parsed one feature at a time: parsed whole, a day of hundreds of vehicles' trips (10 MB for 570)
    costs several times the file's size at once, the replay's peak. msgspec finds where each feature's text lies,
    orjson parses the pieces as it would the whole; a document that is anything but a FeatureCollection of valid
    JSON is parsed whole instead, so that every fault is reported exactly as before."""
    data = _read(path)
    try:
        members = msgspec.json.decode(data, type=dict[str, msgspec.Raw])
        features = msgspec.json.decode(members.pop("features"), type=list[msgspec.Raw])
        # What msgspec only skipped over, orjson parses: the same parser decides what is valid.
        others = {key: orjson.loads(memoryview(value)) for key, value in members.items()}
    except (msgspec.MsgspecError, RecursionError, KeyError, orjson.JSONDecodeError):
        return parse_trips_document(_parse_json(data, path), str(path))
    if others.get("type") != "FeatureCollection":
        return parse_trips_document(_parse_json(data, path), str(path))
    del members, others

    def parsed() -> Iterator[Any]:
        for feature in features:
            try:
                yield orjson.loads(memoryview(feature))
            except orjson.JSONDecodeError:
                raise _NotValidJSON from None

    try:
        return _trips(parsed(), str(path))
    except _NotValidJSON:
        return parse_trips_document(_parse_json(data, path), str(path))


_READ_BYTES = 1 << 22


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw line without its newline) of a JSON Lines file; blank lines are skipped."""
    number = 0
    rest = b""
    with open(path, "rb") as handle:
        # Read in large blocks and split them: much faster than reading line by line.
        while True:
            block = handle.read(_READ_BYTES)
            lines = (rest + block).split(b"\n")
            # The last piece may be cut by the block; at the end of the file it is the last line.
            rest = lines.pop() if block else b""
            for line in lines:
                number += 1
                line = line.rstrip(b"\r\n")
                if line.strip():
                    yield number, line
            if not block:
                return
