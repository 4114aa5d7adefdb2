"""The maps' layers as GeoJSON: the fleet map's vehicles at their last position with status and open alerts,
trips, zones and sites, all within the reader's fleets; and one alert's map, its track, zone and projected course."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from anomaly.config import EngineConfig
from web.models import AlertRow, VehiclePositionRow, VehicleRow, ZoneRow
from web.positions import latest_positions, position_to_dict, track
from web.reference import feature_collection, fleet_document, trips_document, zones_document
from web.scope import Scope
from web.store import rfc3339

STALE_AFTER = timedelta(minutes=10)
MOVING_KMH = EngineConfig().moving_kmh
"""A vehicle this fast or faster is moving: the detector's own rule, so the map, the decision page's "vehicle
stopped" and the stop policy's choice between a controlled stop and a restart inhibit (a towed truck crawling at
4 km/h stands for all three) never disagree."""
_SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


def vehicle_status(position: dict[str, Any] | None, top_severity: str | None, now: datetime) -> str:
    """``alert`` (open warning or critical), ``no_position``, ``stale``, ``moving`` or ``stopped``."""
    if top_severity in ("warning", "critical"):
        return "alert"
    if position is None:
        return "no_position"
    if now - datetime.fromisoformat(position["ts"].replace("Z", "+00:00")) > STALE_AFTER:
        return "stale"
    return "moving" if (position["speed_kmh"] or 0) >= MOVING_KMH else "stopped"


def vehicles(session: Session, scope: Scope, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every vehicle the scope may see: registered ones, and (for all-fleet readers) unregistered ones seen."""
    now = now or datetime.now(UTC)
    registered = {r.vehicle_id: r for r in session.execute(select(VehicleRow).where(scope.where(VehicleRow.fleet_id)))
                  .scalars()}
    positions = {r.vehicle_id: position_to_dict(r) for r in session.execute(
        select(VehiclePositionRow).execution_options(populate_existing=True)).scalars()}
    counts: dict[str, dict[str, int]] = {}
    fleets: dict[str, str | None] = {}
    rows = session.execute(select(AlertRow.vehicle_id, AlertRow.fleet_id, AlertRow.severity, func.count())
                           .where(AlertRow.status != "resolved", scope.where(AlertRow.fleet_id))
                           .group_by(AlertRow.vehicle_id, AlertRow.fleet_id, AlertRow.severity))
    for vehicle_id, fleet_id, severity, count in rows:
        counts.setdefault(vehicle_id, {})[severity] = count
        fleets.setdefault(vehicle_id, fleet_id)
    ids = set(registered) | set(counts)
    if scope.everything:
        ids |= set(positions)
    out = []
    for vehicle_id in sorted(ids):
        row = registered.get(vehicle_id)
        by_severity = counts.get(vehicle_id, {})
        top = max(by_severity, key=_SEVERITY_RANK.__getitem__, default=None)
        position = positions.get(vehicle_id)
        out.append({
            "vehicle_id": vehicle_id,
            "fleet_id": row.fleet_id if row else fleets.get(vehicle_id),
            "plate": row.document.get("plate") if row else None,
            "category": row.document.get("category") if row else None,
            "position": position,
            "open_alerts": sum(by_severity.values()),
            "top_severity": top,
            "status": vehicle_status(position, top, now),
        })
    return out


SAME_PLACE_DEG = 0.0002
"""Vehicles closer than this (about 20 m) stand at one place, e.g. trucks parked at a depot: a map draws them as
one dot unless it fans them out, so each one's feature says its place in the stack."""


def _stacks(features: list[dict[str, Any]]) -> None:
    """Adds ``stack_index`` and ``stack_size`` to vehicle features that share a place with others."""
    places: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for feature in features:
        lon, lat = feature["geometry"]["coordinates"]
        places.setdefault((round(lat / SAME_PLACE_DEG), round(lon / SAME_PLACE_DEG)), []).append(feature)
    for stack in places.values():
        for index, feature in enumerate(stack):
            feature["properties"]["stack_index"] = index
            feature["properties"]["stack_size"] = len(stack)


def map_layers(session: Session, scope: Scope) -> dict[str, Any]:
    """``{"vehicles", "trips", "zones", "sites"}`` as FeatureCollections."""
    vehicle_features = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [v["position"]["lon"], v["position"]["lat"]]},
         "properties": {k: v[k] for k in v if k != "position"} | {
             k: v["position"].get(k) for k in ("ts", "speed_kmh", "heading_deg", "ignition", "speed_governor")}}
        for v in vehicles(session, scope) if v["position"] is not None
    ]
    _stacks(vehicle_features)
    sites = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [s["lon"], s["lat"]]}, "properties": s}
        for s in fleet_document(session, scope)["sites"]
    ]
    return {"vehicles": feature_collection(vehicle_features), "trips": trips_document(session, scope),
            "zones": zones_document(session), "sites": feature_collection(sites)}


EARTH_M_PER_DEG = 111_320.0
"""Metres per degree of latitude; a degree of longitude is that times cos(latitude). Flat-earth steps are exact to
well under a metre over the few kilometres an alert's projected course spans."""
TRACK_BEFORE = timedelta(minutes=10)
TRACK_AFTER = timedelta(minutes=5)
"""The alert map shows the same stretch of time as the evidence chart (web/evidence.py BEFORE and AFTER)."""


def projected_course(lat: float, lon: float, course_deg: float, metres: float) -> list[list[float]]:
    """[[lon, lat], [lon, lat]]: from a position along a compass course for ``metres``."""
    rad = math.radians(course_deg)
    dlat = metres * math.cos(rad) / EARTH_M_PER_DEG
    dlon = metres * math.sin(rad) / (EARTH_M_PER_DEG * math.cos(math.radians(lat)))
    return [[round(lon, 6), round(lat, 6)], [round(lon + dlon, 6), round(lat + dlat, 6)]]


def _projection(alert: AlertRow) -> dict[str, Any] | None:
    """The course the detector projected to the zone's edge (a ramming-risk alert's evidence ``course_deg`` and
    ``along_course_m`` from the alert's position), as a LineString feature; None when the alert carries none."""
    evidence = alert.evidence or {}
    course, along = evidence.get("course_deg"), evidence.get("along_course_m")
    if alert.lat is None or alert.lon is None or not isinstance(course, int | float) \
            or not isinstance(along, int | float) or along <= 0:
        return None
    return {"type": "Feature", "geometry": {"type": "LineString",
                                            "coordinates": projected_course(alert.lat, alert.lon, course, along)},
            "properties": {"course_deg": course, "along_course_m": along,
                           "time_to_boundary_s": evidence.get("time_to_boundary_s")}}


def alert_map(session: Session, alert: AlertRow) -> dict[str, Any]:
    """One alert's map as a Feature: the vehicle's track around the alert (LineString), and in its properties the
    alert's position, its zone, the projected course when the alert carries one, and where the vehicle is now."""
    start, end = alert.onset_ts - TRACK_BEFORE, alert.ts + TRACK_AFTER
    points = [{"ts": rfc3339(p["ts"]), "lat": p["lat"], "lon": p["lon"], "speed_kmh": p["speed_kmh"]}
              for p in track(session, alert.vehicle_id, start, end) if p["lat"] is not None]
    zone = session.get(ZoneRow, alert.zone_id) if alert.zone_id else None
    where = None if alert.lat is None else {"lat": alert.lat, "lon": alert.lon, "ts": rfc3339(alert.ts),
                                            "kind": alert.kind, "severity": alert.severity}
    return {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[p["lon"], p["lat"]] for p in points]},
        "properties": {
            "vehicle_id": alert.vehicle_id, "points": points, "from": rfc3339(start), "to": rfc3339(end),
            "alert": where,
            "zone": None if zone is None else {**zone.feature, "properties": {
                **(zone.feature.get("properties") or {}), "zone_id": zone.zone_id, "name": zone.name}},
            "projected": _projection(alert),
            "position": latest_positions(session, [alert.vehicle_id]).get(alert.vehicle_id),
        },
    }
