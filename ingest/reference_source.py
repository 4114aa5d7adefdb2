"""Where the live detector gets its reference data, and notices that it changed (so no restart is needed)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson

from ingest.topics import REFERENCE
from telematics.bundle import (
    FLEET_FILE,
    TRIPS_FILE,
    ZONES_FILE,
    ReferenceDataError,
    load_reference,
    parse_fleet_document,
    parse_trips_document,
    parse_zones_document,
)
from telematics.reference import Fleet, ReferenceData, Site, Trip, Vehicle, Zone

log = logging.getLogger(__name__)

FLEET_PART = "fleet"
"""A fleet with its vehicles and sites: ``{"version", "part": "fleet", "fleet_id", "fleet": <fleet.json shape>}``."""
TRIPS_PART = "trips"
"""A vehicle's planned trips: ``{"version", "part": "trips", "vehicle_id", "trips": <trips.geojson shape>}``."""
ZONE_PART = "zone"
"""One protected zone: ``{"version", "part": "zone", "zone_id", "zones": <zones.geojson shape, one feature>}``."""
MANIFEST_PART = "manifest"
"""Every key that exists at a version: ``{"version", "part": "manifest", "keys": [...]}``; parts of an older
version not listed are gone (sent after a full resend, so a detector forgets what the store no longer has)."""
PART_ID_FIELDS = {FLEET_PART: "fleet_id", TRIPS_PART: "vehicle_id", ZONE_PART: "zone_id"}
EMPTY_COLLECTION: dict[str, Any] = {"type": "FeatureCollection", "features": []}


def part_key(part: str, item_id: str) -> str:
    """The Kafka key of a part (``fleet:nordfracht``, ``trips:NF-101``, ``zone:alex``): a compacted topic keeps
    the newest message of each key, so the topic holds the whole reference data however long it runs."""
    return f"{part}:{item_id}"


def deleted_part(part: str, item_id: str, version: int) -> dict[str, Any]:
    """The message saying a fleet, a vehicle's trips or a zone no longer exists."""
    return {"version": version, "part": part, PART_ID_FIELDS[part]: item_id, "deleted": True}


class ReferenceSource(Protocol):
    def load(self) -> ReferenceData: ...

    def changed(self) -> bool:
        """True when the data differs from what the last load() returned."""
        ...


class DirectorySource:
    """fleet.json, trips.geojson and zones.geojson in a directory (the bundle layout); reloaded when a file changes."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._seen: tuple[float, ...] | None = None

    def _stamps(self) -> tuple[float, ...]:
        paths = (self.directory / name for name in (FLEET_FILE, TRIPS_FILE, ZONES_FILE))
        return tuple(p.stat().st_mtime_ns if p.exists() else -1 for p in paths)

    def load(self) -> ReferenceData:
        stamps = self._stamps()
        data = load_reference(self.directory)
        self._seen = stamps
        return data

    def changed(self) -> bool:
        return self._seen is not None and self._stamps() != self._seen


@dataclass
class _Part:
    """The newest message of one key, parsed once when it arrives."""

    version: int
    deleted: bool
    raw: bytes
    """The message as it came (kept small: the detector reads the parsed objects, document() reads this)."""
    fleets: dict[str, Fleet] = field(default_factory=dict)
    vehicles: dict[str, Vehicle] = field(default_factory=dict)
    sites: list[Site] = field(default_factory=list)
    trips: list[Trip] = field(default_factory=list)
    zones: list[Zone] = field(default_factory=list)


class ReferenceParts:
    """The reference data rebuilt from the messages of truckguard.reference.v1, newest version per key.

    Two kinds of message are read: parts (one fleet, one vehicle's trips, one zone, each keyed by itself, a
    ``deleted`` one when it is gone, and a manifest after a full resend) and whole snapshots ``{"version",
    "fleet", "trips", "zones"}`` as the site sent them before it sent parts; a snapshot is read as all its parts
    at its version plus a manifest of them. Each part is parsed when it arrives, so a change costs the size of
    what changed; a part that cannot be parsed is logged and skipped, and the key keeps its previous message.
    """

    def __init__(self) -> None:
        self._parts: dict[str, _Part] = {}
        self.version: int | None = None

    def apply(self, raw: bytes | None) -> bool:
        """Takes one message's value; True when the reference data changed."""
        if raw is None:
            return False
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            log.error("%s: a message that is not JSON was skipped (%s)", REFERENCE, exc)
            return False
        version = message.get("version") if isinstance(message, dict) else None
        if not isinstance(version, int) or isinstance(version, bool):
            log.error("%s: a message without an integer version was skipped", REFERENCE)
            return False
        try:
            if "part" not in message:
                return self._apply_snapshot(message, version)
            if message["part"] == MANIFEST_PART:
                return self._apply_manifest(message.get("keys"), version)
            return self._apply_part(message, version)
        except ReferenceDataError as exc:
            log.error("%s: version %d skipped, the detectors keep what they had: %s", REFERENCE, version, exc)
            return False

    def _newer(self, key: str, version: int) -> bool:
        known = self._parts.get(key)
        return known is None or version >= known.version

    def _apply_part(self, message: dict[str, Any], version: int) -> bool:
        part = message["part"]
        id_field = PART_ID_FIELDS.get(part) if isinstance(part, str) else None
        item_id = message.get(id_field) if id_field else None
        if not isinstance(item_id, str):
            raise ReferenceDataError(f"{REFERENCE}: part {part!r}: expected one of {sorted(PART_ID_FIELDS)} "
                                     f"with its {id_field or 'id'} as text")
        key = part_key(part, item_id)
        if not self._newer(key, version):
            return False
        if message.get("deleted") is True:
            self._parts[key] = _Part(version, True, orjson.dumps(message))
        else:
            self._parts[key] = _parse_part(part, item_id, message, version)
        self._seen(version)
        return True

    def _apply_manifest(self, keys: Any, version: int) -> bool:
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise ReferenceDataError(f"{REFERENCE}: manifest.keys: expected a list of part keys")
        listed = set(keys)
        gone = [k for k, p in self._parts.items() if k not in listed and p.version < version]
        for key in gone:
            del self._parts[key]
        self._seen(version)
        return bool(gone)

    def _apply_snapshot(self, snapshot: dict[str, Any], version: int) -> bool:
        # The whole snapshot is checked as the detector always read it (ids across fleets included) before it is
        # split into parts.
        _parse_whole(snapshot)
        parts = list(split_snapshot(snapshot))
        for part, item_id, message in parts:
            key = part_key(part, item_id)
            if self._newer(key, version):
                self._parts[key] = _parse_part(part, item_id, {**message, "version": version}, version)
        self._apply_manifest([part_key(p, i) for p, i, _ in parts], version)
        self._seen(version)
        return True

    def _seen(self, version: int) -> None:
        self.version = version if self.version is None else max(self.version, version)

    def _live(self) -> list[_Part]:
        return [p for _, p in sorted(self._parts.items()) if not p.deleted]

    def data(self) -> ReferenceData:
        fleets: dict[str, Fleet] = {}
        vehicles: dict[str, Vehicle] = {}
        sites: list[Site] = []
        trips: list[Trip] = []
        zones: list[Zone] = []
        for part in self._live():
            fleets.update(part.fleets)
            vehicles.update(part.vehicles)
            sites += part.sites
            trips += part.trips
            zones += part.zones
        return ReferenceData(fleets=dict(sorted(fleets.items())), vehicles=dict(sorted(vehicles.items())),
                             sites=sorted(sites, key=lambda s: s.site_id), trips=sorted(trips, key=lambda t: t.trip_id),
                             zones=sorted(zones, key=lambda z: z.zone_id))

    def document(self) -> dict[str, Any]:
        """The reference data in the whole snapshot's shape (without its version), in the store's order."""
        fleet: dict[str, list[Any]] = {"fleets": [], "vehicles": [], "sites": []}
        trips: list[Any] = []
        zones: list[Any] = []
        for part in self._live():
            message = orjson.loads(part.raw)
            for name in fleet:
                fleet[name] += (message.get("fleet") or {}).get(name) or []
            trips += (message.get("trips") or EMPTY_COLLECTION)["features"]
            zones += (message.get("zones") or EMPTY_COLLECTION)["features"]
        for name, id_field in (("fleets", "fleet_id"), ("vehicles", "vehicle_id"), ("sites", "site_id")):
            fleet[name].sort(key=lambda item, f=id_field: item[f])  # type: ignore[misc]
        trips.sort(key=lambda f: f["properties"]["trip_id"])
        zones.sort(key=lambda f: f["properties"]["zone_id"])
        return {"fleet": fleet, "trips": {**EMPTY_COLLECTION, "features": trips},
                "zones": {**EMPTY_COLLECTION, "features": zones}}


def _parse_part(part: str, item_id: str, message: dict[str, Any], version: int) -> _Part:
    where = f"{REFERENCE}: {part_key(part, item_id)}"
    parsed = _Part(version, False, orjson.dumps(message))
    if part == FLEET_PART:
        parsed.fleets, parsed.vehicles, parsed.sites = parse_fleet_document(message.get("fleet"), f"{where} fleet")
        if set(parsed.fleets) != {item_id}:
            raise ReferenceDataError(f"{where}: fleet.fleets: expected exactly fleet {item_id!r}")
    elif part == TRIPS_PART:
        parsed.trips = parse_trips_document(message.get("trips"), f"{where} trips")
        if any(trip.vehicle_id != item_id for trip in parsed.trips):
            raise ReferenceDataError(f"{where}: trips: expected only trips of vehicle {item_id!r}")
    else:
        parsed.zones = parse_zones_document(message.get("zones"), f"{where} zones")
        if [zone.zone_id for zone in parsed.zones] != [item_id]:
            raise ReferenceDataError(f"{where}: zones: expected exactly zone {item_id!r}")
    return parsed


def split_snapshot(snapshot: dict[str, Any]) -> Iterable[tuple[str, str, dict[str, Any]]]:
    """A whole snapshot's parts as ``(part, id, message without version)``: one per fleet (with its vehicles and
    sites), per vehicle with planned trips, per zone."""
    fleet = snapshot.get("fleet") or {}
    for item in fleet.get("fleets") or []:
        fleet_id = item["fleet_id"]
        yield FLEET_PART, fleet_id, {"part": FLEET_PART, "fleet_id": fleet_id, "fleet": {
            "fleets": [item],
            "vehicles": [v for v in fleet.get("vehicles") or [] if v.get("fleet_id") == fleet_id],
            "sites": [s for s in fleet.get("sites") or [] if s.get("fleet_id") == fleet_id]}}
    by_vehicle: dict[str, list[Any]] = {}
    for feature in (snapshot.get("trips") or EMPTY_COLLECTION).get("features") or []:
        by_vehicle.setdefault(feature["properties"]["vehicle_id"], []).append(feature)
    for vehicle_id, features in by_vehicle.items():
        yield TRIPS_PART, vehicle_id, {"part": TRIPS_PART, "vehicle_id": vehicle_id,
                                       "trips": {**EMPTY_COLLECTION, "features": features}}
    for feature in (snapshot.get("zones") or EMPTY_COLLECTION).get("features") or []:
        zone_id = feature["properties"]["zone_id"]
        yield ZONE_PART, zone_id, {"part": ZONE_PART, "zone_id": zone_id,
                                   "zones": {**EMPTY_COLLECTION, "features": [feature]}}


class TopicSource:
    """The reference data on truckguard.reference.v1, published by the web site after every change.

    The site sends what changed, one message per fleet, per vehicle's trips and per zone (see ReferenceParts);
    the topic is read from its beginning and the newest message of each key wins. Until anything is published
    the detector runs with empty reference data (every vehicle is unregistered).
    """

    def __init__(self, bootstrap: str) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, client_id="truckguard-reference"
        )
        count = len(self._consumer.partitions_for_topic(REFERENCE) or {0})
        self._partitions = [TopicPartition(REFERENCE, p) for p in range(count)]
        self._consumer.assign(self._partitions)
        self._consumer.seek_to_beginning(*self._partitions)
        self._parts = ReferenceParts()
        self._pending = False
        self.version: int | None = None

    def _read_new(self) -> None:
        """Read what was published since the last call into the parts."""
        end = self._consumer.end_offsets(self._partitions)
        while any(self._consumer.position(tp) < end[tp] for tp in self._partitions):
            for messages in self._consumer.poll(timeout_ms=500).values():
                for message in messages:
                    self._pending |= self._parts.apply(message.value)

    def load(self) -> ReferenceData:
        self._read_new()
        self._pending = False
        self.version = self._parts.version
        if self._parts.version is None:
            log.warning("no reference data on %s yet: every vehicle counts as unregistered", REFERENCE)
        return self._parts.data()

    def changed(self) -> bool:
        self._read_new()
        return self._pending

    def document(self) -> dict[str, Any] | None:
        """The reference data as bundle-shaped documents (ReferenceParts.document), None before any is published;
        each call reads only what was published since the last."""
        self._read_new()
        return self._parts.document() if self._parts.version is not None else None

    def close(self) -> None:
        self._consumer.close()


def parse_snapshot(raw: bytes) -> ReferenceData:
    """One whole reference snapshot message to ReferenceData; ReferenceDataError names the part at fault."""
    try:
        snapshot = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ReferenceDataError(f"{REFERENCE}: snapshot is not valid JSON ({exc})") from None
    return _parse_whole(snapshot)


def _parse_whole(snapshot: Any) -> ReferenceData:
    if not isinstance(snapshot, dict) or "fleet" not in snapshot:
        raise ReferenceDataError(f"{REFERENCE}: expected an object with fleet, trips and zones")
    fleets, vehicles, sites = parse_fleet_document(snapshot["fleet"], f"{REFERENCE}: fleet")
    trips = parse_trips_document(snapshot.get("trips") or EMPTY_COLLECTION, f"{REFERENCE}: trips")
    zones = parse_zones_document(snapshot.get("zones") or EMPTY_COLLECTION, f"{REFERENCE}: zones")
    return ReferenceData(fleets=fleets, vehicles=vehicles, sites=sites, trips=trips, zones=zones)
