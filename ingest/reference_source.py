"""Where the live detector gets its reference data, and notices that it changed (so no restart is needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from telematics.bundle import FLEET_FILE, TRIPS_FILE, ZONES_FILE, load_reference
from telematics.reference import ReferenceData


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
