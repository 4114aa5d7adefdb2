"""The offline base map: roads with their names, buildings, water and green space drawn from an OpenStreetMap
extract once into one compact JSON document, and the route that serves it to the site's maps.

The maps draw vector layers only unless a tile server is configured, so without this layer nobody can tell which
street a truck is on. The document is generated once (`truckguard basemap build`) from the same extract the zone
import reads, stored in the data folder and served from there with no internet. Until one is built the site has no
base map (it ships no map data) and the maps say so. OpenStreetMap data is under the ODbL: the document carries
the attribution, and the maps show it.
"""

from __future__ import annotations

import gzip
import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
import shapely
import shapely.wkb
from flask import Blueprint, Response, current_app, request
from shapely.geometry import LineString, MultiLineString, Polygon, box, mapping
from shapely.geometry.base import BaseGeometry

from telematics.errors import BadInput
from telematics.osm_zones import ATTRIBUTION, LICENCE, METRES_PER_DEGREE
from web.auth import ALL_ROLES, allow

FORMAT = "truckguard.basemap"
VERSION = 1
FILE_NAME = "basemap.json"
"""Where `truckguard basemap build` writes by default and the site looks first: the data folder."""

COORD_DECIMALS = 5
"""1e-5 degree is about 1.1 m of latitude: finer than a GNSS fix (a few metres) and than a map drawn at street
zoom needs, and it keeps each coordinate to a few bytes."""
SIMPLIFY_DEG = 0.00001
"""About 1 m: drops the near-collinear nodes of traced outlines without moving a kerb visibly."""
MIN_AREA_M2 = 4.0
"""Smaller outlines (a kiosk's corner, a tagging slip) are invisible at street zoom and only cost bytes."""

ROAD_CLASSES: dict[str, str] = {
    **dict.fromkeys(("motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link"), "major"),
    **dict.fromkeys(("secondary", "secondary_link", "tertiary", "tertiary_link"), "secondary"),
    **dict.fromkeys(("residential", "unclassified", "living_street", "road", "service", "busway"), "minor"),
    **dict.fromkeys(("pedestrian", "footway", "cycleway", "path", "steps", "track", "bridleway"), "path"),
}
"""OSM highway values by how a person reads a map: a truck can use the first three, people are on the fourth
(a pedestrian street is where a vehicle attack does most harm, so it is drawn, not dropped)."""
WATER_AREAS = {("natural", "water"), ("waterway", "riverbank"), ("landuse", "reservoir"), ("landuse", "basin")}
WATER_LINES = {"river", "canal", "stream", "ditch", "drain"}
GREEN_AREAS = {("leisure", "park"), ("leisure", "garden"), ("leisure", "common"), ("landuse", "grass"),
               ("landuse", "forest"), ("landuse", "meadow"), ("landuse", "recreation_ground"), ("natural", "wood"),
               ("natural", "scrub"), ("natural", "grassland")}
FILTER_KEYS = ("highway", "building", "natural", "waterway", "landuse", "leisure")
LAYERS = ("water", "green", "buildings", "roads")
"""Drawing order, bottom to top."""


class BasemapError(BadInput):
    """The extract cannot be read, holds nothing to draw, or a base map document is malformed."""


@dataclass
class BasemapSummary:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LAYERS, 0))
    named_roads: int = 0
    skipped: list[str] = field(default_factory=list)
    size_bytes: int = 0

    def render(self) -> str:
        layers = ", ".join(f"{name} {self.counts[name]}" for name in LAYERS)
        return (f"{layers} features ({self.named_roads} named roads), {self.size_bytes / 1024:.0f} KiB; "
                f"{len(self.skipped)} objects skipped")


def road_class(tags: dict[str, str]) -> str | None:
    if tags.get("area") == "yes":
        return None  # a pedestrian square drawn as an area, not a line to follow
    return ROAD_CLASSES.get(tags.get("highway", ""))


def area_layer(tags: dict[str, str]) -> str | None:
    if "building" in tags and tags["building"] != "no":
        return "buildings"
    pairs = set(tags.items())
    if pairs & WATER_AREAS:
        return "water"
    if pairs & GREEN_AREAS:
        return "green"
    return None


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, COORD_DECIMALS)
    if isinstance(value, list | tuple):
        return [_round(v) for v in value]
    return value


def _area_m2(polygon: BaseGeometry) -> float:
    lat = polygon.centroid.y if not polygon.is_empty else 0.0
    return polygon.area * METRES_PER_DEGREE**2 * math.cos(math.radians(lat))


def _feature(geometry: BaseGeometry, properties: dict[str, Any]) -> dict[str, Any] | None:
    geometry = geometry.simplify(SIMPLIFY_DEG, preserve_topology=True)
    if geometry.is_empty:
        return None
    shape = mapping(geometry)
    return {"type": "Feature", "properties": properties,
            "geometry": {"type": shape["type"], "coordinates": _round(shape["coordinates"])}}


def _objects(path: Path) -> Iterator[tuple[str, dict[str, str], str, Any]]:
    """(OSM id, tags, "line" or "area", WKB geometry or the error that kept it from being built)."""
    import osmium
    import osmium.geom

    factory = osmium.geom.WKBFactory()
    try:
        processor = (osmium.FileProcessor(str(path)).with_locations().with_areas()
                     .with_filter(osmium.filter.KeyFilter(*FILTER_KEYS)))
        for obj in processor:
            tags = dict(obj.tags)
            if obj.is_area():
                if area_layer(tags) is None:
                    continue
                osm_id = f"{'way' if obj.from_way() else 'relation'}/{obj.orig_id()}"
                try:
                    yield osm_id, tags, "area", factory.create_multipolygon(obj)
                except RuntimeError as exc:  # a multipolygon whose members the extract cuts off
                    yield osm_id, tags, "area", exc
            elif obj.is_way() and (road_class(tags) or tags.get("waterway") in WATER_LINES):
                osm_id = f"way/{obj.id}"
                try:
                    yield osm_id, tags, "line", factory.create_linestring(obj)
                except RuntimeError as exc:  # nodes missing from the extract, or a way of one point
                    yield osm_id, tags, "line", exc
    except RuntimeError as exc:
        raise BasemapError(f"{path}: cannot be read as an OSM file ({exc})") from None


def build_basemap(path: Path, bbox: tuple[float, float, float, float] | None = None,
                  ) -> tuple[dict[str, Any], BasemapSummary]:
    """An OSM extract (.osm, .osm.gz, .osm.pbf ...) to the base map document, clipped to ``bbox`` when given."""
    path = Path(path)
    if not path.exists():
        raise BasemapError(f"{path}: file not found")
    window = box(*bbox) if bbox is not None else None
    summary = BasemapSummary()
    layers: dict[str, list[dict[str, Any]]] = {name: [] for name in LAYERS}
    bounds: list[float] = []
    for osm_id, tags, shape, wkb in _objects(path):
        if isinstance(wkb, Exception):
            summary.skipped.append(f"{osm_id}: {wkb}")
            continue
        geometry = shapely.wkb.loads(wkb, hex=True)
        if shape == "area":
            geometry = shapely.make_valid(geometry)
        if window is not None:
            geometry = geometry.intersection(window)
        if geometry.is_empty:
            continue
        if shape == "area":
            layer = area_layer(tags)
            assert layer is not None
            polygons = [p for p in shapely.get_parts(geometry) if isinstance(p, Polygon) and _area_m2(p) >= MIN_AREA_M2]
            if not polygons:
                continue
            geometry = polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)
            properties: dict[str, Any] = {"name": tags["name"]} if layer != "buildings" and "name" in tags else {}
        else:
            lines = [g for g in shapely.get_parts(geometry) if isinstance(g, LineString) and g.length > 0]
            if not lines:
                continue
            geometry = lines[0] if len(lines) == 1 else MultiLineString(lines)
            cls = road_class(tags)
            layer = "roads" if cls else "water"
            properties = {"class": cls or "waterway"}
            if tags.get("name"):
                properties["name"] = tags["name"]
                summary.named_roads += cls is not None
        feature = _feature(geometry, properties)
        if feature is None:
            continue
        layers[layer].append(feature)
        summary.counts[layer] += 1
        bounds = _extend(bounds, geometry.bounds)
    if not any(layers.values()):
        raise BasemapError(f"{path}: no roads, buildings, water or green space to draw"
                           + (f" inside --bbox {bbox}" if bbox else ""))
    # Wider roads last, so a main road is drawn over the footpaths that cross it.
    order = {"path": 0, "minor": 1, "secondary": 2, "major": 3}
    layers["roads"].sort(key=lambda f: order[f["properties"]["class"]])
    document = {
        "format": FORMAT, "version": VERSION, "attribution": ATTRIBUTION, "licence": LICENCE,
        "source": path.name, "bbox": _round(list(bbox) if bbox else bounds),
        "layers": {name: {"type": "FeatureCollection", "features": layers[name]} for name in LAYERS},
    }
    summary.size_bytes = len(orjson.dumps(document))
    return document, summary


def _extend(bounds: list[float], other: tuple[float, float, float, float]) -> list[float]:
    if not bounds:
        return list(other)
    return [min(bounds[0], other[0]), min(bounds[1], other[1]), max(bounds[2], other[2]), max(bounds[3], other[3])]


def write_basemap(document: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_bytes(orjson.dumps(document))
    tmp.replace(out)  # a site serving the old one never reads half a file


def basemap_path(data_dir: Path) -> Path | None:
    """The base map the site serves: the one built into the data folder; None until one is built."""
    built = Path(data_dir) / FILE_NAME
    return built if built.exists() else None


bp = Blueprint("basemap", __name__)
CACHE_S = 3600
"""An hour: the base map changes only when someone rebuilds it, and a phone on a weak link should not fetch its
few hundred KiB with every page."""


@lru_cache(maxsize=4)
def _body(path: Path, mtime_ns: int, size: int) -> tuple[bytes, bytes, str]:
    """The file's bytes, gzipped too, and its ETag, made once per version of the file (a rebuild changes its mtime
    and size). Street geometry compresses about six to one: a phone on a weak link gets the small one."""
    body = path.read_bytes()
    return body, gzip.compress(body, compresslevel=6, mtime=0), hashlib.sha256(body).hexdigest()[:32]


@bp.get("/basemap.json")
@allow(*ALL_ROLES)
def layers() -> Response:
    """The base map document, with an ETag so a browser revalidates instead of downloading it again."""
    path = basemap_path(current_app.extensions["truckguard.settings"].data_dir)
    if path is None:
        return Response(orjson.dumps({"error": "no base map built yet: truckguard basemap build EXTRACT"}),
                        status=404, mimetype="application/json")
    stat = path.stat()
    body, packed, etag = _body(path, stat.st_mtime_ns, stat.st_size)
    zipped = "gzip" in request.accept_encodings
    response = Response(packed if zipped else body, mimetype="application/json")
    if zipped:
        response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
    response.set_etag(etag + ("-gz" if zipped else ""))
    response.headers["Cache-Control"] = f"private, max-age={CACHE_S}"
    return response.make_conditional(request)
