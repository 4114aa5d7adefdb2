"""Real protected places near the traces of each set, as approximate polygons (centres from public maps, ±50 m).

These are squares, parks and market places that ordinary traffic drives past every day. The polygons are drawn from
remembered public coordinates and the blocks' real sizes, not surveyed: good enough to put a zone edge one street
away from a bus or truck lane, which is what exercises the zone and ramming logic. None of them covers a street
that carries through traffic, so a vehicle inside one is never ordinary driving on a public road.
"""

from __future__ import annotations

import math
from typing import Any

from shapely import affinity
from shapely.geometry import Polygon, box, mapping

EARTH_M_PER_DEG = 111_195.0
AUSTIN_GRID_DEG = 17.0
"""Austin's 1839 downtown grid runs about 17° east of north (the bus lanes on Guadalupe shift east going north)."""

NO_VEHICLES: dict[str, Any] = {"categories_allowed": [], "delivery_windows": [], "max_speed_kmh": 10}
MORNING_DELIVERIES: dict[str, Any] = {
    "categories_allowed": ["N1", "N2"],
    "delivery_windows": [{"from": "06:00", "to": "10:00"}],
    "max_speed_kmh": 10,
}


def block(lat: float, lon: float, width_m: float, depth_m: float, grid_deg: float = 0.0) -> Polygon:
    """A rectangle width (east-west) by depth (north-south) around a centre, turned with the street grid."""
    local = affinity.rotate(box(-width_m / 2, -depth_m / 2, width_m / 2, depth_m / 2), -grid_deg, origin=(0, 0))
    m_per_deg_lon = EARTH_M_PER_DEG * math.cos(math.radians(lat))
    return Polygon([(lon + x / m_per_deg_lon, lat + y / EARTH_M_PER_DEG) for x, y in local.exterior.coords])


def zone(zone_id: str, name: str, kind: str, timezone: str, shape: Polygon, access: dict[str, Any]) -> dict[str, Any]:
    geometry = mapping(shape)
    geometry["coordinates"] = [[[round(x, 6), round(y, 6)] for x, y in ring] for ring in geometry["coordinates"]]
    return {
        "type": "Feature",
        "properties": {"zone_id": zone_id, "name": name, "kind": kind, "timezone": timezone, "access": access},
        "geometry": geometry,
    }


def grown(feature: dict[str, Any], metres: float) -> dict[str, Any]:
    """The zone pushed outward by some metres on every side: a stress test with its edge nearer the traffic lanes."""
    ring = feature["geometry"]["coordinates"][0]
    lat0 = sum(y for _, y in ring) / len(ring)
    m_per_deg_lon = EARTH_M_PER_DEG * math.cos(math.radians(lat0))
    local = Polygon([(x * m_per_deg_lon, y * EARTH_M_PER_DEG) for x, y in ring]).buffer(metres, join_style="mitre")
    shape = Polygon([(x / m_per_deg_lon, y / EARTH_M_PER_DEG) for x, y in local.exterior.coords])
    p = feature["properties"]
    return zone(p["zone_id"], p["name"], p["kind"], p["timezone"], shape, p["access"])


AUSTIN = "America/Chicago"
ARACAJU = "America/Maceio"
EASTERN = "America/New_York"
CURITIBA = "America/Sao_Paulo"

ZONES: dict[str, list[dict[str, Any]]] = {
    "capmetro": [
        # One city block each (84 m, streets 24 m wide); MetroRapid and local buses run on Guadalupe beside both.
        # Centres checked against the bus lanes themselves: the lane centres on Guadalupe and 4th Street lie 20 m
        # outside the blocks (kerb about 10 m); a fix inside is GNSS scatter, a corner cut or a stale position.
        zone(
            "atx-republic-square",
            "Republic Square (Saturday farmers' market)",
            "market",
            AUSTIN,
            block(30.26773, -97.74748, 80, 80, AUSTIN_GRID_DEG),
            NO_VEHICLES,
        ),
        zone(
            "atx-wooldridge-square",
            "Wooldridge Square",
            "public_square",
            AUSTIN,
            block(30.27165, -97.7460, 80, 84, AUSTIN_GRID_DEG),
            NO_VEHICLES,
        ),
        # The Capitol's south lawn and Great Walk, between 11th Street and the building.
        zone(
            "atx-capitol-south-lawn",
            "Texas State Capitol south lawn",
            "public_square",
            AUSTIN,
            block(30.27371, -97.7411, 110, 130, AUSTIN_GRID_DEG),
            NO_VEHICLES,
        ),
    ],
    "otr-trucks": [
        zone(
            "pit-market-square",
            "Market Square, Pittsburgh",
            "market",
            EASTERN,
            block(40.4406, -80.0025, 90, 70),
            NO_VEHICLES,
        ),
        zone(
            "cmh-capitol-square",
            "Ohio Statehouse grounds, Columbus",
            "public_square",
            EASTERN,
            block(39.9612, -82.9990, 150, 150),
            NO_VEHICLES,
        ),
        zone(
            "roa-market-square",
            "Roanoke City Market square",
            "market",
            EASTERN,
            block(37.2735, -79.9397, 80, 60),
            MORNING_DELIVERIES,
        ),
        zone(
            "bk-columbus-park",
            "Columbus Park and Borough Hall plaza, Brooklyn",
            "public_square",
            EASTERN,
            block(40.6935, -73.9898, 90, 180),
            NO_VEHICLES,
        ),
    ],
    "gotrack-aracaju": [
        zone(
            "aju-praca-fausto-cardoso",
            "Praça Fausto Cardoso, Aracaju",
            "public_square",
            ARACAJU,
            block(-10.9117, -37.0490, 110, 90),
            NO_VEHICLES,
        ),
        zone(
            "aju-calcadao-joao-pessoa",
            "Calçadão da Rua João Pessoa (pedestrian shopping street), Aracaju",
            "pedestrian_precinct",
            ARACAJU,
            block(-10.9125, -37.0512, 30, 260),
            MORNING_DELIVERIES,
        ),
        zone(
            "aju-mercado-municipal",
            "Mercados Thales Ferraz and Antônio Franco, Aracaju",
            "market",
            ARACAJU,
            block(-10.9098, -37.0497, 90, 120),
            MORNING_DELIVERIES,
        ),
    ],
    "ndsbr-curitiba": [
        # Moved 220 m west of the first guess after a car of the set drove through it on a cross street.
        zone(
            "cwb-boca-maldita",
            "Boca Maldita and Rua XV de Novembro (Rua das Flores), Curitiba",
            "pedestrian_precinct",
            CURITIBA,
            block(-25.4325, -49.2740, 80, 25),
            MORNING_DELIVERIES,
        ),
        zone(
            "cwb-praca-tiradentes",
            "Praça Tiradentes, Curitiba",
            "public_square",
            CURITIBA,
            block(-25.4295, -49.2714, 90, 70),
            NO_VEHICLES,
        ),
        zone(
            "cwb-largo-da-ordem",
            "Largo da Ordem (Sunday craft fair), Curitiba",
            "market",
            CURITIBA,
            block(-25.4270, -49.2717, 80, 60),
            NO_VEHICLES,
        ),
        zone(
            "cwb-mercado-municipal",
            "Mercado Municipal de Curitiba",
            "market",
            CURITIBA,
            block(-25.4355, -49.2625, 120, 80),
            MORNING_DELIVERIES,
        ),
    ],
}
