"""Gathers an alert's evidence timeline from the store: the vehicle's track, its other alerts, the zone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from web.display import kind_label
from web.models import AlertRow, ZoneRow
from web.positions import track
from web.timeline import Event, render, zone_distances

BEFORE = timedelta(minutes=10)
AFTER = timedelta(minutes=5)


def evidence_timeline(session: Session, alert: AlertRow) -> tuple[str, list[dict[str, Any]]]:
    """The SVG chart and the same data as table rows (time, speed, zone distance, event)."""
    start, end = alert.onset_ts - BEFORE, alert.ts + AFTER
    points = track(session, alert.vehicle_id, start, end)
    ring = None
    if alert.zone_id:
        zone = session.get(ZoneRow, alert.zone_id)
        if zone is not None:
            ring = zone.feature["geometry"]["coordinates"][0]
    distances = zone_distances(points, ring)
    others = session.execute(select(AlertRow).where(AlertRow.vehicle_id == alert.vehicle_id,
                                                    AlertRow.ts >= start, AlertRow.ts <= end)
                             .order_by(AlertRow.ts)).scalars()
    events = [Event(alert.onset_ts, "onset", alert.severity)]
    events += [Event(o.ts, kind_label(o.kind), o.severity) for o in others]
    svg = render(points, distances, events, title=f"Evidence timeline of {alert.vehicle_id}")
    rows: list[dict[str, Any]] = [
        {"ts": p["ts"], "speed_kmh": p["speed_kmh"], "distance_m": d, "event": None}
        for p, d in zip(points, distances, strict=True)
    ]
    rows += [{"ts": e.ts, "speed_kmh": None, "distance_m": None, "event": e.label} for e in events]
    rows.sort(key=lambda r: r["ts"])
    return svg, rows
