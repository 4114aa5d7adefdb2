"""Where the live detector gets its reference data, and notices that it changed (so no restart is needed)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

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
from telematics.reference import ReferenceData

log = logging.getLogger(__name__)


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


class TopicSource:
    """The latest snapshot on truckguard.reference.v1, published by the web site after every change.

    A snapshot is one JSON message ``{"version", "fleet", "trips", "zones"}`` whose parts have the shapes of the
    bundle's fleet.json, trips.geojson and zones.geojson. Until one is published the detector runs with empty
    reference data (every vehicle is unregistered).
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
        self._latest: bytes | None = None
        self._latest_version = -1
        self._loaded: bytes | None = None
        self.version: int | None = None

    def _read_new(self) -> None:
        """Read what was published since the last call, keeping the snapshot with the highest version."""
        end = self._consumer.end_offsets(self._partitions)
        while any(self._consumer.position(tp) < end[tp] for tp in self._partitions):
            for messages in self._consumer.poll(timeout_ms=500).values():
                for message in messages:
                    if message.value is None:
                        continue
                    version = _version_of(message.value)
                    if version >= self._latest_version:
                        self._latest, self._latest_version = message.value, version

    def load(self) -> ReferenceData:
        self._read_new()
        self._loaded = self._latest
        if self._latest is None:
            log.warning("no reference data on %s yet: every vehicle counts as unregistered", REFERENCE)
            return ReferenceData()
        return parse_snapshot(self._latest, self)

    def changed(self) -> bool:
        self._read_new()
        return self._latest is not self._loaded

    def close(self) -> None:
        self._consumer.close()


def _version_of(raw: bytes) -> int:
    try:
        version = orjson.loads(raw).get("version")
    except (orjson.JSONDecodeError, AttributeError):
        return -1
    return version if isinstance(version, int) else -1


def parse_snapshot(raw: bytes, source: TopicSource | None = None) -> ReferenceData:
    """One reference snapshot message to ReferenceData; ReferenceDataError names the part at fault."""
    try:
        snapshot = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ReferenceDataError(f"{REFERENCE}: snapshot is not valid JSON ({exc})") from None
    if not isinstance(snapshot, dict) or "fleet" not in snapshot:
        raise ReferenceDataError(f"{REFERENCE}: expected an object with fleet, trips and zones")
    fleets, vehicles, sites = parse_fleet_document(snapshot["fleet"], f"{REFERENCE}: fleet")
    empty = {"type": "FeatureCollection", "features": []}
    trips = parse_trips_document(snapshot.get("trips") or empty, f"{REFERENCE}: trips")
    zones = parse_zones_document(snapshot.get("zones") or empty, f"{REFERENCE}: zones")
    if source is not None:
        source.version = snapshot.get("version")
    return ReferenceData(fleets=fleets, vehicles=vehicles, sites=sites, trips=trips, zones=zones)
