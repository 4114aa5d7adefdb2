"""Turns a surveyed public space into a protected zone in contract form (a GeoJSON Polygon Feature, section 6)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shapely.geometry import Polygon
from shapely.geometry.polygon import orient

from toolkit.errors import AnswerError
from toolkit.loader import default_content
from toolkit.model import Content
from toolkit.site_survey import SITE_ID_PATTERN, SiteSurvey

COORDINATE_DECIMALS = 7
"""About 1 cm: more digits only add noise."""


def _ring(boundary: tuple[tuple[float, float], ...]) -> list[list[float]]:
    """Closed [lon, lat] ring, counter-clockwise as RFC 7946 asks of exterior rings."""
    outline = orient(Polygon(boundary), sign=1.0)
    return [[round(lon, COORDINATE_DECIMALS), round(lat, COORDINATE_DECIMALS)] for lon, lat in outline.exterior.coords]


def zone_feature(survey: SiteSurvey, *, zone_id: str | None = None, content: Content | None = None) -> dict[str, Any]:
    """The site as a protected zone: active in its crowd times, open to its delivery categories in their windows."""
    content = content or default_content()
    zone_id = zone_id if zone_id is not None else survey.site_id
    if not isinstance(zone_id, str) or not SITE_ID_PATTERN.match(zone_id):
        raise AnswerError("zone_id", zone_id, "1-64 characters of A-Z a-z 0-9 . _ -")
    deliveries = survey.deliveries
    max_speed = deliveries.max_speed_kmh
    if max_speed is None:
        max_speed = content.public_space.zone_max_speed_kmh
    return {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [_ring(survey.boundary)]},
        "properties": {
            "zone_id": zone_id,
            "name": survey.name,
            "kind": survey.kind,
            "timezone": survey.timezone,
            "active": [{"days": list(c.window.days), "from": c.window.start, "to": c.window.end}
                       for c in survey.crowd_times],
            "access": {
                "categories_allowed": list(deliveries.categories),
                "delivery_windows": [{"from": w.start, "to": w.end} for w in deliveries.windows],
                "max_speed_kmh": int(max_speed) if float(max_speed).is_integer() else max_speed,
            },
        },
    }


def zones_feature_collection(features: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A zones.geojson document of protected-zone features; zone ids must be unique."""
    out = []
    seen: set[str] = set()
    for n, feature in enumerate(features):
        geometry = feature.get("geometry") if isinstance(feature, Mapping) else None
        props = feature.get("properties") if isinstance(feature, Mapping) else None
        if (not isinstance(feature, Mapping) or feature.get("type") != "Feature" or not isinstance(geometry, Mapping)
                or geometry.get("type") != "Polygon" or not isinstance(props, Mapping)):
            raise AnswerError(f"features[{n}]", feature, "a GeoJSON Feature with a Polygon geometry and properties")
        zone_id = props.get("zone_id")
        if not isinstance(zone_id, str):
            raise AnswerError(f"features[{n}].properties.zone_id", zone_id, "a zone id")
        if zone_id in seen:
            raise AnswerError(f"features[{n}].properties.zone_id", zone_id, "a zone id not used by another feature")
        seen.add(zone_id)
        out.append(dict(feature))
    return {"type": "FeatureCollection", "features": out}
