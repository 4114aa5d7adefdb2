"""One vehicle's page: its last hour on the map, open alerts, trips, device and drivers, stop requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, abort, jsonify, render_template
from sqlalchemy import select

from web.auth import ALL_ROLES, allow, current_scope
from web.db import get_session
from web.mapdata import vehicles
from web.models import TripRow, VehicleRow
from web.positions import track
from web.store import list_alerts, list_stop_requests, rfc3339

bp = Blueprint("vehicles", __name__)
TRACK_WINDOW = timedelta(hours=1)


def _vehicle(vehicle_id: str) -> dict[str, Any]:
    """The vehicle as the map lists it (status, position, open alerts); 404 outside the reader's fleets."""
    found = next((v for v in vehicles(get_session(), current_scope()) if v["vehicle_id"] == vehicle_id), None)
    if found is None:
        abort(404)
    return found


def _track(vehicle_id: str, now: datetime) -> list[dict[str, Any]]:
    return [{"ts": rfc3339(p["ts"]), "lat": p["lat"], "lon": p["lon"], "speed_kmh": p["speed_kmh"]}
            for p in track(get_session(), vehicle_id, now - TRACK_WINDOW, now) if p["lat"] is not None]


@bp.get("/vehicles/<vehicle_id>")
@allow(*ALL_ROLES)
def detail(vehicle_id: str) -> str:
    vehicle = _vehicle(vehicle_id)
    session, scope = get_session(), current_scope()
    row = session.get(VehicleRow, vehicle_id)
    trips = [t.feature for t in session.execute(select(TripRow).where(TripRow.vehicle_id == vehicle_id)
                                                .order_by(TripRow.trip_id)).scalars()]
    alerts = [a for a in list_alerts(session, vehicle_id=vehicle_id, scope=scope) if a["status"] != "resolved"]
    return render_template(
        "vehicle.html", vehicle=vehicle, document=row.document if row else {}, trips=trips, alerts=alerts,
        stop_requests=list_stop_requests(session, vehicle_id=vehicle_id, scope=scope),
        track_points=len(_track(vehicle_id, datetime.now(UTC))))


@bp.get("/vehicles/<vehicle_id>/track")
@allow(*ALL_ROLES)
def track_json(vehicle_id: str) -> Any:
    """The last hour's track as a GeoJSON LineString feature, with the vehicle's latest position."""
    vehicle = _vehicle(vehicle_id)
    points = _track(vehicle_id, datetime.now(UTC))
    position = vehicle["position"]
    return jsonify({
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[p["lon"], p["lat"]] for p in points]},
        "properties": {"vehicle_id": vehicle_id, "points": points, "position": position,
                       "window_s": int(TRACK_WINDOW.total_seconds())},
    })
