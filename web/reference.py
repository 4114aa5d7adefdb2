"""Reference data in the store (fleets, vehicles, sites, trips, zones): validated changes, sent to the detectors as
versioned messages per fleet, per vehicle's trips and per zone."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import shapely
from shapely.geometry import Polygon
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ingest import topics
from ingest.reference_source import (
    FLEET_PART,
    MANIFEST_PART,
    TRIPS_PART,
    ZONE_PART,
    deleted_part,
    part_key,
    split_snapshot,
)
from telematics.bundle import (
    FLEET_FILE,
    TRIPS_FILE,
    ZONES_FILE,
    ReferenceDataError,
    parse_fleet_document,
    parse_trips_document,
    parse_zones_document,
)
from web.audit import record
from web.models import FleetRow, ReferenceVersionRow, SiteRow, TripRow, VehicleRow, ZoneRow
from web.outbox import (
    REFERENCE_MAX_BYTES,
    REFERENCE_MAX_COMPRESSED_BYTES,
    enqueue,
    wire_size,
)
from web.scope import Scope

REFERENCE_TOPIC = getattr(topics, "REFERENCE", "truckguard.reference.v1")
REFERENCE_KEY = "reference"
"""The key of the whole snapshots the site sent before it sent parts (detectors still read them)."""
MANIFEST_KEY = MANIFEST_PART
_CHANGES = "truckguard.reference_changes"
"""session.info entry: the parts (``(part, id)``) the transaction's changes touched, for announce_change."""

ZONE_MAX_VERTICES = 1_000
"""Corners a stored zone may keep. A market square or pedestrian street is drawn with tens of corners, a city
centre's boundary with a few hundred; the detector tests every record near a zone against its ring, so its cost
per record grows with this number."""
ZONE_REFUSED_VERTICES = 100_000
"""Beyond this many corners an upload is refused outright instead of simplified (no drawing needs it)."""
SIMPLIFY_TOLERANCES_M = (0.5, 1.0, 2.0, 5.0)
"""Douglas-Peucker tolerances tried in turn. Vehicle GNSS fixes are good to about 2-5 m (open sky), so a
boundary moved by up to 5 m is one the detector cannot tell from the original."""
METRES_PER_DEGREE = 111_320.0
"""Length of one degree of latitude (and of longitude at the equator), in metres."""


class ReferenceScopeError(ReferenceDataError):
    """A change touches a fleet the user may not change."""


class ReferenceTooLarge(ReferenceDataError):
    """The change would make the reference data larger than the detectors can be sent (answered with 413)."""


def _now() -> datetime:
    return datetime.now(UTC)


def feature_collection(features: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def fleet_document(session: Session, scope: Scope | None = None) -> dict[str, Any]:
    """fleet.json of the store (only the scope's fleets when given)."""
    scope = scope or Scope(None)
    fleets = session.execute(select(FleetRow).where(scope.where(FleetRow.fleet_id)).order_by(FleetRow.fleet_id))
    vehicles = session.execute(select(VehicleRow).where(scope.where(VehicleRow.fleet_id))
                               .order_by(VehicleRow.vehicle_id))
    sites = session.execute(select(SiteRow).where(scope.where(SiteRow.fleet_id)).order_by(SiteRow.site_id))
    return {"fleets": [r.document for r in fleets.scalars()], "vehicles": [r.document for r in vehicles.scalars()],
            "sites": [r.document for r in sites.scalars()]}


def trips_document(session: Session, scope: Scope | None = None) -> dict[str, Any]:
    scope = scope or Scope(None)
    rows = session.execute(select(TripRow).where(scope.where(TripRow.fleet_id)).order_by(TripRow.trip_id))
    return feature_collection(r.feature for r in rows.scalars())


def zones_document(session: Session) -> dict[str, Any]:
    rows = session.execute(select(ZoneRow).order_by(ZoneRow.zone_id))
    return feature_collection(r.feature for r in rows.scalars())


def current_version(session: Session) -> int:
    row = session.get(ReferenceVersionRow, 1)
    return row.version if row else 0


def reference_snapshot(session: Session) -> dict[str, Any]:
    """The whole reference data as the detector reads it: ``{"version", "fleet", "trips", "zones"}``."""
    return {"version": current_version(session), "fleet": fleet_document(session),
            "trips": trips_document(session), "zones": zones_document(session)}


def _touch(session: Session, part: str, *item_ids: str | None) -> None:
    """Notes that the transaction changed these parts (announce_change sends each one's new state)."""
    changes: set[tuple[str, str]] = session.info.setdefault(_CHANGES, set())
    changes.update((part, item_id) for item_id in item_ids if item_id)


def announce_change(session: Session) -> int:
    """Raises the version and queues, for topic truckguard.reference.v1, one message per part the transaction
    changed (a fleet with its vehicles and sites, a vehicle's planned trips, a zone; a ``deleted`` one for what is
    gone); call after a change. With no change noted it queues every part and a manifest (a full resend).

    Each message is checked against the limits every broker takes (REFERENCE_MAX_BYTES before compression,
    REFERENCE_MAX_COMPRESSED_BYTES after): a change that would make one larger raises ReferenceTooLarge (413), so
    nothing is queued that could not be sent. The version row is locked until commit, so concurrent changes get
    increasing versions in commit order.
    """
    session.flush()
    row = session.execute(select(ReferenceVersionRow).where(ReferenceVersionRow.id == 1).with_for_update()
                          ).scalar_one_or_none()
    if row is None:
        row = ReferenceVersionRow(id=1, version=0, updated_at=_now())
        session.add(row)
    row.version += 1
    row.updated_at = _now()
    session.flush()
    changes: set[tuple[str, str]] = session.info.pop(_CHANGES, set())
    messages = reference_parts(session, changes, row.version) if changes else full_reference(session, row.version)
    for key, message in messages:
        _check_size(key, message)
        enqueue(session, REFERENCE_TOPIC, key, message)
    return row.version


_ADVICE = {FLEET_PART: "split the fleet", TRIPS_PART: "send fewer planned trips for this vehicle at a time",
           ZONE_PART: "draw the zone with fewer corners", MANIFEST_PART: "split the reference data across sites"}


def _check_size(key: str, message: dict[str, Any]) -> None:
    raw = orjson.dumps(message)
    advice = _ADVICE.get(message.get("part", ""), "send less at a time")
    if len(raw) > REFERENCE_MAX_BYTES:
        raise ReferenceTooLarge(f"reference data {key}: the detectors' message would be {len(raw)} bytes, above the "
                                f"{REFERENCE_MAX_BYTES}-byte limit; {advice}")
    compressed = wire_size(raw)
    if compressed > REFERENCE_MAX_COMPRESSED_BYTES:
        raise ReferenceTooLarge(f"reference data {key}: the detectors' message would be {compressed} bytes "
                                f"compressed, above the {REFERENCE_MAX_COMPRESSED_BYTES}-byte limit; {advice}")


def reference_parts(session: Session, changes: Iterable[tuple[str, str]], version: int
                    ) -> list[tuple[str, dict[str, Any]]]:
    """``(key, message)`` of each changed part as the store now has it, in key order."""
    wanted: dict[str, set[str]] = {}
    for part, item_id in changes:
        wanted.setdefault(part, set()).add(item_id)
    messages: dict[str, dict[str, Any]] = {}
    for fleet_id in sorted(wanted.get(FLEET_PART, ())):
        fleet = fleet_document(session, Scope(frozenset({fleet_id})))
        messages[part_key(FLEET_PART, fleet_id)] = (
            {"version": version, "part": FLEET_PART, "fleet_id": fleet_id, "fleet": fleet} if fleet["fleets"]
            else deleted_part(FLEET_PART, fleet_id, version))
    vehicle_ids = sorted(wanted.get(TRIPS_PART, ()))
    trips: dict[str, list[dict[str, Any]]] = {vehicle_id: [] for vehicle_id in vehicle_ids}
    for chunk in _chunks(vehicle_ids):
        for trip in session.execute(select(TripRow).where(TripRow.vehicle_id.in_(chunk))
                                    .order_by(TripRow.trip_id)).scalars():
            trips[trip.vehicle_id].append(trip.feature)
    for vehicle_id, features in trips.items():
        messages[part_key(TRIPS_PART, vehicle_id)] = (
            {"version": version, "part": TRIPS_PART, "vehicle_id": vehicle_id, "trips": feature_collection(features)}
            if features else deleted_part(TRIPS_PART, vehicle_id, version))
    zone_ids = sorted(wanted.get(ZONE_PART, ()))
    zones: dict[str, Any] = {}
    for chunk in _chunks(zone_ids):
        zones.update((z.zone_id, z.feature) for z in session.execute(select(ZoneRow).where(ZoneRow.zone_id.in_(chunk)))
                     .scalars())
    for zone_id in zone_ids:
        messages[part_key(ZONE_PART, zone_id)] = (
            {"version": version, "part": ZONE_PART, "zone_id": zone_id, "zones": feature_collection([zones[zone_id]])}
            if zone_id in zones else deleted_part(ZONE_PART, zone_id, version))
    return sorted(messages.items())


def _chunks(ids: list[str], size: int = 500) -> Iterable[list[str]]:
    """Ids in groups small enough for one IN (...) on every database (SQLite allows 999 parameters by default)."""
    return (ids[i:i + size] for i in range(0, len(ids), size))


def full_reference(session: Session, version: int) -> list[tuple[str, dict[str, Any]]]:
    """Every part of the store's reference data, then the manifest listing them: a detector that reads these
    ends with exactly the store's data, whatever the topic held before."""
    parts = [(part_key(part, item_id), {"version": version, **message})
             for part, item_id, message in split_snapshot(reference_snapshot(session))]
    manifest = {"version": version, "part": MANIFEST_PART, "keys": [key for key, _ in parts]}
    return [*parts, (MANIFEST_KEY, manifest)]


def _fleet_docs(session: Session, fleet_ids: Iterable[str]) -> list[dict[str, Any]]:
    rows = session.execute(select(FleetRow).where(FleetRow.fleet_id.in_(sorted(set(fleet_ids))))).scalars()
    return [r.document for r in rows]


def _check_scope(scope: Scope, fleet_id: str, what: str) -> None:
    if not scope.allows(fleet_id):
        raise ReferenceScopeError(f"{what}.fleet_id: {fleet_id!r} is not one of your fleets")


def _check_owner(row: Any, key: str, scope: Scope, what: str) -> None:
    """An item that exists already (``row``) may only be replaced by someone who may change its present fleet."""
    if row is not None and not scope.allows(row.fleet_id):
        # Ids are global, so a refusal cannot be silent; it says no more than that this id is not available.
        raise ReferenceScopeError(f"{what} {key}: this id is not available to you; choose another or ask an admin")


def put_fleet_document(session: Session, doc: Any, scope: Scope, *, actor: str, ip: str | None = None,
                       source: str = FLEET_FILE) -> dict[str, int]:
    """Adds or replaces the fleets, vehicles and sites of a fleet.json document; returns counts.

    Vehicles and sites may name fleets already in the store. A fleet-scoped user may only touch their
    fleets and may not create fleets.
    """
    if not isinstance(doc, dict):
        raise ReferenceDataError(f"{source}: expected an object with fleets, vehicles and sites")
    named = {x.get("fleet_id") for key in ("vehicles", "sites") for x in doc.get(key) or [] if isinstance(x, dict)}
    known = {f.get("fleet_id") for f in doc.get("fleets") or [] if isinstance(f, dict)}
    stored = _fleet_docs(session, {f for f in named - known if isinstance(f, str)})
    fleets, vehicles, sites = parse_fleet_document({**doc, "fleets": [*stored, *(doc.get("fleets") or [])]}, source)
    stored_vehicles = _stored(session, VehicleRow, vehicles)
    stored_sites = _stored(session, SiteRow, [site.site_id for site in sites])
    with session.no_autoflush:
        for raw in doc.get("fleets") or []:
            if not scope.everything:
                raise ReferenceScopeError(f"{source}: fleets: only an administrator may create or change fleets")
            _put(session, FleetRow, raw["fleet_id"], actor, ip, fleet_id=raw["fleet_id"],
                 name=fleets[raw["fleet_id"]].name, kind=raw["kind"], document=raw)
        for raw in doc.get("vehicles") or []:
            _check_scope(scope, raw["fleet_id"], f"vehicle {raw['vehicle_id']}")
            _check_owner(stored_vehicles.get(raw["vehicle_id"]), raw["vehicle_id"], scope, "vehicle")
            _put(session, VehicleRow, raw["vehicle_id"], actor, ip, stored=stored_vehicles, fleet_id=raw["fleet_id"],
                 document=raw)
        for raw in doc.get("sites") or []:
            _check_scope(scope, raw["fleet_id"], f"site {raw['site_id']}")
            _check_owner(stored_sites.get(raw["site_id"]), raw["site_id"], scope, "site")
            _put(session, SiteRow, raw["site_id"], actor, ip, stored=stored_sites, fleet_id=raw["fleet_id"],
                 document=raw)
    return {"fleets": len(fleets) - len(stored), "vehicles": len(vehicles), "sites": len(sites)}


_KINDS = {FleetRow: "fleet", VehicleRow: "vehicle", SiteRow: "site", TripRow: "trip", ZoneRow: "zone"}


def _stored(session: Session, model: type, keys: Iterable[str]) -> dict[str, Any]:
    """The rows among ``keys`` that the store has, by key, in a few queries: one look-up per item (each flushing
    the rows before it) made a 15,000-vehicle upload take most of a minute."""
    column = model.__mapper__.primary_key[0]
    found: dict[str, Any] = {}
    for chunk in _chunks(sorted(set(keys))):
        found.update((getattr(row, column.name), row)
                     for row in session.execute(select(model).where(column.in_(chunk))).scalars())
    return found


def _put(session: Session, model: type, key: str, actor: str, ip: str | None, *,
         stored: dict[str, Any] | None = None, **values: Any) -> None:
    """Inserts or replaces one row and records the change with before and after; ``stored`` holds the rows that
    exist already (looked up in bulk), else the row is looked up here."""
    row = stored.get(key) if stored is not None else session.get(model, key)
    kind = _KINDS[model]
    document_field = "feature" if model in (TripRow, ZoneRow) else "document"
    before = getattr(row, document_field) if row is not None else None
    _touch_row(session, model, key, row, values)
    if row is None:
        row = model(**{model.__mapper__.primary_key[0].name: key})
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = _now()
    record(session, actor, f"{kind}.{'update' if before is not None else 'create'}", kind, key,
           fleet_id=values.get("fleet_id"), before=before, after=values[document_field], ip=ip)


def _touch_row(session: Session, model: type, key: str, row: Any, values: dict[str, Any]) -> None:
    """Notes the parts a row's change touches: both fleets when a vehicle or site moves, both vehicles' trips
    when a trip does."""
    if model is FleetRow:
        _touch(session, FLEET_PART, key)
    elif model in (VehicleRow, SiteRow):
        _touch(session, FLEET_PART, values.get("fleet_id"), getattr(row, "fleet_id", None))
    elif model is TripRow:
        _touch(session, TRIPS_PART, values.get("vehicle_id"), getattr(row, "vehicle_id", None))
    elif model is ZoneRow:
        _touch(session, ZONE_PART, key)


def put_trips(session: Session, doc: Any, scope: Scope, *, actor: str, ip: str | None = None,
              source: str = TRIPS_FILE) -> int:
    """Adds or replaces the planned trips of a trips.geojson FeatureCollection; returns how many."""
    trips = parse_trips_document(doc, source)
    stored_vehicles = _stored(session, VehicleRow, [trip.vehicle_id for trip in trips])
    stored_trips = _stored(session, TripRow, [trip.trip_id for trip in trips])
    with session.no_autoflush:
        for i, (trip, feature) in enumerate(zip(trips, doc["features"], strict=True)):
            vehicle = stored_vehicles.get(trip.vehicle_id)
            if vehicle is None:
                raise ReferenceDataError(f"{source}: features[{i}].properties.vehicle_id: "
                                         f"{trip.vehicle_id!r} is not a registered vehicle")
            _check_scope(scope, vehicle.fleet_id, f"trip {trip.trip_id}")
            existing = stored_trips.get(trip.trip_id)
            if existing is not None:
                _check_scope(scope, existing.fleet_id, f"trip {trip.trip_id}")
            _put(session, TripRow, trip.trip_id, actor, ip, stored=stored_trips, vehicle_id=trip.vehicle_id,
                 fleet_id=vehicle.fleet_id, feature=feature)
    return len(trips)


def put_zones(session: Session, doc: Any, *, actor: str, ip: str | None = None, source: str = ZONES_FILE) -> int:
    """Adds or replaces the protected zones of a zones.geojson FeatureCollection; returns how many."""
    if isinstance(doc, dict) and isinstance(doc.get("features"), list):
        doc = {**doc, "features": [bounded_zone(feature, f"{source}: features[{i}]")
                                   for i, feature in enumerate(doc["features"])]}
    zones = parse_zones_document(doc, source)
    for zone, feature in zip(zones, doc["features"], strict=True):
        _put(session, ZoneRow, zone.zone_id, actor, ip, name=zone.name, feature=feature)
    return len(zones)


def _ring_count(ring: Any) -> int:
    return len(ring) if isinstance(ring, list) else 0


def bounded_zone(feature: Any, where: str) -> Any:
    """The zone feature with at most ZONE_MAX_VERTICES corners: simplified when it has more, refused (with the
    count) when it has more than ZONE_REFUSED_VERTICES or stays above the limit at the largest tolerance.
    Anything that is not a well-formed polygon feature is handed back unchanged for the parser to name."""
    geometry = feature.get("geometry") if isinstance(feature, dict) else None
    rings = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if not isinstance(rings, list) or not rings or geometry.get("type") != "Polygon":
        return feature
    corners = sum(_ring_count(ring) for ring in rings)
    if corners > ZONE_REFUSED_VERTICES:
        raise ReferenceTooLarge(f"{where}.geometry.coordinates: {corners} corners, expected at most "
                                f"{ZONE_MAX_VERTICES} (larger drawings are simplified up to {ZONE_REFUSED_VERTICES})")
    if corners <= ZONE_MAX_VERTICES:
        return feature
    try:
        polygon = Polygon(rings[0], rings[1:])
    except (TypeError, ValueError, shapely.errors.GEOSException):
        return feature  # not a polygon the parser accepts either: it names the fault
    for metres in SIMPLIFY_TOLERANCES_M:
        simple = polygon.simplify(metres / METRES_PER_DEGREE, preserve_topology=True)
        if isinstance(simple, Polygon) and not simple.is_empty:
            kept = [simple.exterior, *simple.interiors]
            if sum(len(r.coords) for r in kept) <= ZONE_MAX_VERTICES:
                coordinates = [[[round(x, 7), round(y, 7)] for x, y in ring.coords] for ring in kept]
                return {**feature, "geometry": {**geometry, "coordinates": coordinates}}
    raise ReferenceTooLarge(f"{where}.geometry.coordinates: {corners} corners, still above {ZONE_MAX_VERTICES} "
                            f"after simplifying by {SIMPLIFY_TOLERANCES_M[-1]:g} m; draw the zone with fewer corners")


_DELETABLE = {"fleet": FleetRow, "vehicle": VehicleRow, "site": SiteRow, "trip": TripRow, "zone": ZoneRow}


def delete_item(session: Session, kind: str, key: str, scope: Scope, *, actor: str, ip: str | None = None) -> bool:
    """Deletes one item the scope may change; False when it does not exist (or is outside the scope)."""
    model = _DELETABLE[kind]
    row = session.get(model, key)
    fleet_id = getattr(row, "fleet_id", None) if row is not None else None
    if row is None or (kind in ("fleet", "zone") and not scope.everything) or (
            kind not in ("fleet", "zone") and not scope.allows(fleet_id)):
        return False
    before = row.feature if kind in ("trip", "zone") else row.document
    if kind == "fleet":
        _touch(session, FLEET_PART, key)
        trips = session.execute(select(TripRow.vehicle_id).where(TripRow.fleet_id == key)).scalars()
        _touch(session, TRIPS_PART, *trips)
    elif kind == "trip":
        _touch(session, TRIPS_PART, row.vehicle_id)
    elif kind == "zone":
        _touch(session, ZONE_PART, key)
    else:
        _touch(session, FLEET_PART, fleet_id)
    if kind == "fleet":
        # The database cascades on PostgreSQL and SQLite alike; deleting children first keeps the audit complete.
        for child in (VehicleRow, SiteRow, TripRow):
            session.execute(delete(child).where(child.fleet_id == key))
    session.delete(row)
    record(session, actor, f"{kind}.delete", kind, key, fleet_id=fleet_id, before=before, ip=ip)
    return True


def _load(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ReferenceDataError(f"{path}: not valid JSON ({exc})") from None


def import_reference(url: str, bundle_dir: Path | str, *, actor: str = "cli") -> dict[str, int]:
    """``truckguard reference import``: loads a bundle's fleet.json, trips.geojson and zones.geojson into the
    store at ``url`` (adding or replacing by id), in one transaction; queues the new snapshot. Returns counts."""
    from web.db import make_engine, writer
    from web.migrate import upgrade_store

    directory = Path(bundle_dir)
    if not (directory / FLEET_FILE).is_file():
        raise ReferenceDataError(f"{directory}: no {FLEET_FILE} (expected a bundle directory)")
    upgrade_store(url)
    engine = make_engine(url)
    everything = Scope(None)
    try:
        with Session(writer(engine)) as session, session.begin():
            counts = put_fleet_document(session, _load(directory / FLEET_FILE), everything, actor=actor,
                                        source=str(directory / FLEET_FILE))
            for name, put in ((TRIPS_FILE, put_trips), (ZONES_FILE, None)):
                path = directory / name
                if not path.is_file():
                    continue
                if put is None:
                    counts["zones"] = put_zones(session, _load(path), actor=actor, source=str(path))
                else:
                    counts["trips"] = put(session, _load(path), everything, actor=actor, source=str(path))
            counts["version"] = announce_change(session)
    finally:
        engine.dispose()
    return counts
