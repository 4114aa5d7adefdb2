"""Protected zones from an OpenStreetMap extract: public spaces mapped as areas to contract zones (section 6).

Which OSM tags make a protected zone, and of which kind, is in ``KIND_RULES``; its opening hours (the OSM
``opening_hours`` syntax, read with the opening-hours-py parser) become the zone's ``active`` windows. Polygons
are simplified and made valid with shapely, and every zone carries its OSM id and the ODbL attribution that the
data's licence requires. The output is a proposal: a public-space authority reviews it before the detector uses it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import shapely
import shapely.wkb
from shapely.geometry import MultiPolygon, Polygon, box, mapping

from telematics.errors import BadInput
from telematics.schedule import DAY_NAMES, zone_info

ATTRIBUTION = "© OpenStreetMap contributors"
LICENCE = (
    "Contains information from OpenStreetMap, made available under the Open Database Licence (ODbL) 1.0: "
    "https://www.openstreetmap.org/copyright. A database made with it must be shared under the same licence."
)
REVIEW_NOTE = "Imported from OpenStreetMap: review the outline, kind, active windows and access before use."

Tags = dict[str, str]


def _is(key: str, *values: str) -> Callable[[Tags], bool]:
    return lambda tags: tags.get(key) in values


KIND_RULES: tuple[tuple[str, Callable[[Tags], bool]], ...] = (
    ("market", _is("amenity", "marketplace")),
    ("pedestrian_precinct", lambda t: t.get("highway") == "pedestrian" or t.get("area:highway") == "pedestrian"),
    ("public_square", _is("place", "square")),
    ("transport_hub", lambda t: t.get("public_transport") == "station" or t.get("railway") == "station"
     or t.get("amenity") == "bus_station"),
    ("school", _is("amenity", "school", "kindergarten")),
    ("stadium", _is("leisure", "stadium")),
    ("event", lambda t: t.get("amenity") == "events_venue" or t.get("leisure") == "festival_grounds"),
)
"""First match wins: a marketplace on a pedestrian street is a market (its hours matter most)."""
FILTER_KEYS = ("amenity", "highway", "area:highway", "place", "public_transport", "railway", "leisure")

SIMPLIFY_DEG = 0.00001
"""About 1.1 m of latitude: far below what matters for a vehicle's position fix (GNSS is good to a few metres),
and it drops the many near-collinear nodes of traced outlines."""
MIN_AREA_M2 = 50.0
"""A mapped area smaller than a parked truck is a tagging slip, not a public space."""
METRES_PER_DEGREE = 111_320.0
_REFERENCE_YEAR = 2025
"""Opening hours are read over one whole (non-leap) year, so seasonal rules (Christmas markets) still give hours."""


class OsmImportError(BadInput):
    """The extract cannot be read, or an option (bbox, time zone) is malformed."""


@dataclass
class OsmImportSummary:
    zones: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def render(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.by_kind.items())) or "none"
        return f"{self.zones} zones ({kinds}); {len(self.skipped)} areas skipped"


def zone_kind(tags: Tags) -> str | None:
    return next((kind for kind, rule in KIND_RULES if rule(tags)), None)


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """'W,S,E,N' in degrees."""
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError:
        raise OsmImportError(f"--bbox {text!r}: expected W,S,E,N in degrees, e.g. 13.30,52.48,13.48,52.56") from None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise OsmImportError(f"--bbox {text!r}: expected west < east and south < north within WGS 84 ranges")
    return west, south, east, north


def active_windows(opening_hours: str) -> list[dict[str, Any]] | None:
    """OSM opening_hours to contract windows (local time); None means always active (see _windows)."""
    windows = _windows(opening_hours)
    if isinstance(windows, OsmImportError):
        raise windows
    return None if windows is None else [
        {"days": list(days), "from": from_hhmm, "to": to_hhmm} for days, from_hhmm, to_hhmm in windows
    ]


_Windows = tuple[tuple[tuple[str, ...], str, str], ...]


@lru_cache(maxsize=4096)
def _windows(opening_hours: str) -> _Windows | OsmImportError | None:
    """OSM opening_hours to contract windows (local time); None means always active.

    The hours are evaluated over a whole year and every weekday/time when the place is open (or its state is
    'unknown') in any week becomes a window: a zone is protected whenever it may be busy. A rule the parser
    cannot read gives an OsmImportError (the caller leaves the zone always active and says so). Cached: a city
    repeats the same few rules thousands of times, and a year of intervals takes milliseconds to walk.
    """
    from opening_hours import OpeningHours, ParserError, State  # type: ignore[attr-defined]  # not in its stubs

    try:
        hours = OpeningHours(opening_hours)
    except ParserError as exc:
        return OsmImportError(f"opening_hours {opening_hours!r}: {str(exc).splitlines()[0]}")
    start = datetime(_REFERENCE_YEAR, 1, 1)
    end = datetime(_REFERENCE_YEAR + 1, 1, 1)
    spans: set[tuple[int, int, int]] = set()  # (weekday, from minute, to minute)
    for begin, finish, state, _comment in hours.intervals(start, end):
        if state == State.CLOSED:
            continue
        moment = begin
        while moment < finish:
            midnight = datetime(moment.year, moment.month, moment.day) + timedelta(days=1)
            stop = min(finish, midnight)
            from_min = moment.hour * 60 + moment.minute
            to_min = 1440 if stop == midnight else stop.hour * 60 + stop.minute
            if to_min > from_min:
                spans.add((moment.weekday(), from_min, to_min))
            moment = stop
    if not spans:
        # Public holidays only, or 'off': this parser knows no holiday calendar, and a zone that is never active
        # protects no one. Left always active, for the authority to decide.
        return OsmImportError(f"opening_hours {opening_hours!r} opens on no day of an ordinary year")
    if {(d, 0, 1440) for d in range(7)} <= spans:
        return None
    by_time: dict[tuple[int, int], set[int]] = {}
    for day, from_min, to_min in spans:
        by_time.setdefault((from_min, to_min), set()).add(day)
    return tuple(
        (tuple(DAY_NAMES[d] for d in sorted(days)), _hhmm(from_min), _hhmm(to_min))
        for (from_min, to_min), days in sorted(by_time.items(), key=lambda item: (min(item[1]), item[0]))
    )


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parts(geometry: Any) -> list[Polygon]:
    """Valid, simplified polygons of an area, holes dropped (the contract's zones are one outer ring)."""
    simplified = shapely.make_valid(geometry.simplify(SIMPLIFY_DEG, preserve_topology=True))
    polygons: list[Polygon] = []
    for part in shapely.get_parts(simplified):
        pieces = shapely.get_parts(part) if isinstance(part, MultiPolygon) else [part]
        polygons.extend(p for p in pieces if isinstance(p, Polygon) and not p.is_empty)
    return [Polygon(p.exterior).normalize() for p in polygons]


def _area_m2(polygon: Polygon) -> float:
    """Square metres of a small lon/lat polygon: a degree of latitude is ~111.32 km, of longitude that x cos(lat)."""
    area: float = polygon.area * METRES_PER_DEGREE**2 * math.cos(math.radians(polygon.centroid.y))
    return area


def _areas(path: Path) -> Iterator[tuple[str, Tags, Any]]:
    import osmium
    import osmium.geom

    factory = osmium.geom.WKBFactory()
    try:
        processor = osmium.FileProcessor(str(path)).with_areas().with_filter(osmium.filter.KeyFilter(*FILTER_KEYS))
        for obj in processor:
            if not isinstance(obj, osmium.osm.Area):
                continue
            tags = dict(obj.tags)
            if zone_kind(tags) is None:
                continue
            osm_id = f"{'way' if obj.from_way() else 'relation'}/{obj.orig_id()}"
            try:
                geometry = shapely.wkb.loads(factory.create_multipolygon(obj), hex=True)
            except RuntimeError as exc:  # an area osmium could not assemble (broken multipolygon)
                yield osm_id, tags, exc
                continue
            yield osm_id, tags, geometry
    except RuntimeError as exc:
        raise OsmImportError(f"{path}: cannot be read as an OSM file ({exc})") from None


def import_osm_zones(path: Path, timezone: str, bbox: tuple[float, float, float, float] | None = None,
                     ) -> tuple[dict[str, Any], OsmImportSummary]:
    """An OSM extract (.osm, .osm.pbf, ...) to a zones.geojson FeatureCollection and a summary."""
    if not Path(path).exists():
        raise OsmImportError(f"{path}: file not found")
    zone_info(timezone)
    window = box(*bbox) if bbox is not None else None
    summary = OsmImportSummary()
    features = []
    for osm_id, tags, geometry in _areas(Path(path)):
        if isinstance(geometry, Exception):
            summary.skipped.append(f"{osm_id}: {geometry}")
            continue
        if window is not None and not geometry.intersects(window):
            continue
        kind = zone_kind(tags)
        assert kind is not None
        parts = [p for p in _parts(geometry) if _area_m2(p) >= MIN_AREA_M2]
        if not parts:
            summary.skipped.append(f"{osm_id}: smaller than {MIN_AREA_M2:g} m² once simplified")
            continue
        properties: dict[str, Any] = {
            "name": tags.get("name") or f"{kind.replace('_', ' ')} {osm_id}",
            "kind": kind,
            "timezone": timezone,
            "osm_id": osm_id,
            "source": "OpenStreetMap",
            "attribution": ATTRIBUTION,
            "licence": LICENCE,
            "review": REVIEW_NOTE,
        }
        raw_hours = tags.get("opening_hours")
        if raw_hours:
            properties["opening_hours"] = raw_hours
            try:
                active = active_windows(raw_hours)
            except OsmImportError as exc:
                active = None
                properties["review"] = f"{REVIEW_NOTE} Its opening_hours could not be read ({exc}); always active."
            if active is not None:
                properties["active"] = active
        base = osm_id.replace("/", "-")
        for index, part in enumerate(sorted(parts, key=lambda p: -p.area)):
            zone_id = f"osm-{base}" if len(parts) == 1 else f"osm-{base}-{index + 1}"
            features.append({"type": "Feature", "properties": {"zone_id": zone_id, **properties},
                             "geometry": mapping(part)})
            summary.zones += 1
            summary.by_kind[kind] = summary.by_kind.get(kind, 0) + 1
    features.sort(key=lambda f: f["properties"]["zone_id"])
    collection = {"type": "FeatureCollection", "attribution": ATTRIBUTION, "licence": LICENCE, "features": features}
    return _plain(collection), summary


def _plain(value: Any) -> Any:
    """shapely's mapping() gives tuples; GeoJSON wants lists (and the bundle reader checks for them)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
