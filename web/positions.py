"""Vehicle positions in the store: the latest one per vehicle and a thinned recent track, fed from telemetry
and alerts; a newer event time always wins, an older one never moves a vehicle back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from telematics.timeutil import to_datetime
from web.models import TrackPointRow, VehiclePositionRow
from web.store import _insert, rfc3339

TRACK_STEP = timedelta(seconds=5)
"""At most one track point per vehicle per this much event time."""
TRACK_KEEP = timedelta(hours=48)


@dataclass(frozen=True)
class Fix:
    """One position report of a vehicle."""

    vehicle_id: str
    ts: datetime
    lat: float
    lon: float
    speed_kmh: float | None = None
    heading_deg: float | None = None
    ignition: bool | None = None
    source: str = "telemetry"
    speed_governor: dict[str, Any] | None = None
    """The contract's ``speed_governor`` (active, limit_kmh, zone_id, source) when the record carried one."""


def fix_from_record(record: Any) -> Fix | None:
    """A validated telemetry record to a Fix; None when it has no GNSS position."""
    if not record.has_position:
        return None
    return Fix(record.vehicle_id, to_datetime(record.ts_ms), record.lat, record.lon, record.speed_kmh,
               record.heading_deg, record.ignition, speed_governor=record.speed_governor)


_POSITION_COLUMNS = ("vehicle_id", "ts", "lat", "lon", "speed_kmh", "heading_deg", "ignition", "source", "updated_at",
                     "speed_governor")


def note_positions(session: Session, fixes: list[Fix]) -> None:
    """Stores each fix as its vehicle's latest position unless a newer one is stored already: one statement
    for the whole batch, in vehicle order (so two writers on PostgreSQL take the rows in the same order)."""
    if not fixes:
        return
    table = VehiclePositionRow.__table__
    now = datetime.now(UTC)
    rows = [{"vehicle_id": f.vehicle_id, "ts": f.ts, "lat": f.lat, "lon": f.lon, "speed_kmh": f.speed_kmh,
             "heading_deg": f.heading_deg, "ignition": f.ignition, "source": f.source, "updated_at": now,
             "speed_governor": f.speed_governor}
            for f in sorted(fixes, key=lambda f: f.vehicle_id)]
    insert = _insert(session, table)
    session.execute(insert.on_conflict_do_update(
        index_elements=[table.c.vehicle_id],
        set_={name: insert.excluded[name] for name in _POSITION_COLUMNS if name != "vehicle_id"},
        where=table.c.ts < insert.excluded.ts,
    ), rows)


def note_position(session: Session, fix: Fix) -> None:
    """Stores ``fix`` as the vehicle's latest position unless a newer one is stored already."""
    note_positions(session, [fix])


def note_track_points(session: Session, fixes: list[Fix]) -> None:
    """Adds the fixes to their vehicles' tracks (one statement; a point already stored is kept)."""
    if not fixes:
        return
    table = TrackPointRow.__table__
    insert = _insert(session, table)
    session.execute(insert.on_conflict_do_nothing(index_elements=[table.c.vehicle_id, table.c.ts]), [
        {"vehicle_id": f.vehicle_id, "ts": f.ts, "lat": f.lat, "lon": f.lon, "speed_kmh": f.speed_kmh,
         "heading_deg": f.heading_deg} for f in fixes])


def note_track_point(session: Session, fix: Fix) -> None:
    note_track_points(session, [fix])


def prune_track(session: Session, now: datetime | None = None) -> None:
    cutoff = (now or datetime.now(UTC)) - TRACK_KEEP
    session.execute(delete(TrackPointRow).where(TrackPointRow.ts < cutoff))


def position_to_dict(row: VehiclePositionRow) -> dict[str, Any]:
    return {"vehicle_id": row.vehicle_id, "ts": rfc3339(row.ts), "lat": row.lat, "lon": row.lon,
            "speed_kmh": row.speed_kmh, "heading_deg": row.heading_deg, "ignition": row.ignition,
            "source": row.source, "speed_governor": row.speed_governor}


def latest_positions(session: Session, vehicle_ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Latest positions by vehicle id (only of ``vehicle_ids`` when given)."""
    query = select(VehiclePositionRow)
    if vehicle_ids is not None:
        query = query.where(VehiclePositionRow.vehicle_id.in_(vehicle_ids))
    rows = session.execute(query.execution_options(populate_existing=True)).scalars()
    return {row.vehicle_id: position_to_dict(row) for row in rows}


def track(session: Session, vehicle_id: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The stored track of a vehicle between two times, oldest first."""
    rows = session.execute(select(TrackPointRow).where(TrackPointRow.vehicle_id == vehicle_id,
                                                       TrackPointRow.ts >= start, TrackPointRow.ts <= end)
                           .order_by(TrackPointRow.ts)).scalars()
    return [{"ts": row.ts, "lat": row.lat, "lon": row.lon, "speed_kmh": row.speed_kmh} for row in rows]


class PositionBuffer:
    """Keeps the newest fix per vehicle between writes, and which fixes belong on the track (throttled)."""

    def __init__(self) -> None:
        self.latest: dict[str, Fix] = {}
        self.track: list[Fix] = []
        self._last_track: dict[str, datetime] = {}

    def add(self, fix: Fix) -> None:
        current = self.latest.get(fix.vehicle_id)
        if current is None or fix.ts > current.ts:
            self.latest[fix.vehicle_id] = fix
        last = self._last_track.get(fix.vehicle_id)
        if last is None or fix.ts - last >= TRACK_STEP or fix.ts < last - TRACK_STEP:
            self._last_track[fix.vehicle_id] = fix.ts
            self.track.append(fix)

    def __len__(self) -> int:
        return len(self.latest)

    def flush(self, session: Session) -> int:
        """Writes what was gathered into the session, two statements for the lot; returns how many vehicles moved."""
        note_positions(session, list(self.latest.values()))
        note_track_points(session, self.track)
        count = len(self.latest)
        self.latest.clear()
        self.track.clear()
        return count
