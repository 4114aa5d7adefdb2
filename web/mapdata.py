"""The fleet map's layers as GeoJSON: vehicles at their last position with status and open alerts, trips,
zones and sites, all within the reader's fleets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from web.models import AlertRow, VehiclePositionRow, VehicleRow
from web.positions import position_to_dict
from web.reference import feature_collection, fleet_document, trips_document, zones_document
from web.scope import Scope

STALE_AFTER = timedelta(minutes=10)
MOVING_KMH = 3.0
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
             k: v["position"][k] for k in ("ts", "speed_kmh", "heading_deg", "ignition")}}
        for v in vehicles(session, scope) if v["position"] is not None
    ]
    _stacks(vehicle_features)
    sites = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [s["lon"], s["lat"]]}, "properties": s}
        for s in fleet_document(session, scope)["sites"]
    ]
    return {"vehicles": feature_collection(vehicle_features), "trips": trips_document(session, scope),
            "zones": zones_document(session), "sites": feature_collection(sites)}
