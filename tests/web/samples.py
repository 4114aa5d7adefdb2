"""Small contract alerts and stop requests built by code for the web tests."""

from __future__ import annotations

from typing import Any


def alert(**overrides: Any) -> dict[str, Any]:
    """A valid contract alert (section 3); keyword arguments replace fields."""
    value: dict[str, Any] = {
        "alert_id": "al-0001",
        "vehicle_id": "NF-101",
        "fleet_id": "nordfracht",
        "kind": "route_deviation",
        "severity": "warning",
        "ts": "2026-11-24T09:15:00Z",
        "onset_ts": "2026-11-24T09:14:00Z",
        "lat": 52.52,
        "lon": 13.40,
        "score": 0.8,
        "zone_id": None,
        "evidence": {"distance_m": 850, "summary": "850 m off the planned route"},
        "revision": 0,
    }
    value.update(overrides)
    return value


def stop_request(**overrides: Any) -> dict[str, Any]:
    """A valid contract stop request (section 4) as the detector raises it; keyword arguments replace fields."""
    value: dict[str, Any] = {
        "request_id": "sr-0001",
        "vehicle_id": "NF-101",
        "fleet_id": "nordfracht",
        "ts": "2026-11-24T09:16:00Z",
        "mode": "controlled_stop",
        "target_speed_kmh": None,
        "status": "requested",
        "alert_ids": ["al-0001"],
        "reason": "heading into the Alexanderplatz market at 52 km/h",
        "zone_id": "berlin-alex",
        "lat": 52.521,
        "lon": 13.411,
        "history": [{"status": "requested", "at": "2026-11-24T09:16:00Z", "by": "detector"}],
    }
    value.update(overrides)
    return value


SQUARE = [[13.40, 52.50], [13.41, 52.50], [13.41, 52.51], [13.40, 52.51], [13.40, 52.50]]
ZONES: dict[str, Any] = {"type": "FeatureCollection", "features": [{
    "type": "Feature", "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
    "properties": {"zone_id": "ber-market-1", "name": "Weihnachtsmarkt Breitscheidplatz", "kind": "market",
                   "timezone": "Europe/Berlin"}}]}
"""The market a decision page's stop request names (a 0.01° square in Berlin)."""
SOUTH_OF_ZONE = (52.495, 13.405)
"""0.005° of latitude south of the zone's southern edge: 557 m."""
