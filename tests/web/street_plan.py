"""A small street plan written as OpenStreetMap XML by the tests themselves (invented names, no real place): a grid
of streets of every class around the alert map's road, a pedestrian street, buildings, a lake and parks."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

CENTRE = (52.5150, 13.3550)
"""(lat, lon) of the plan's middle: the alert map tests' road and zone lie inside it."""
STEP_DEG = (0.0009, 0.0015)
"""About 100 m between streets, both ways."""
LINES = 16
CLASSES = ("primary", "secondary", "residential", "residential", "footway", "tertiary")
MAJOR_STREET = "Teststraße 0"
"""The first east-west street: primary, so drawn as a major road."""


def _rect(south: float, west: float, north: float, east: float) -> list[tuple[float, float]]:
    return [(south, west), (south, east), (north, east), (north, west), (south, west)]


def write_street_plan(path: Path) -> Path:
    """Writes the plan to path (.osm) and returns path."""
    lat0, lon0 = CENTRE[0] - STEP_DEG[0] * LINES / 2, CENTRE[1] - STEP_DEG[1] * LINES / 2
    nodes: list[str] = []
    ways: list[str] = []
    ids = iter(range(1, 1_000_000))

    def way(points: list[tuple[float, float]], tags: dict[str, str]) -> None:
        refs = []
        for lat, lon in points:
            node_id = next(ids)
            nodes.append(f'  <node id="{node_id}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>')
            refs.append(f'    <nd ref="{node_id}"/>')
        tag_lines = [f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items()]
        ways.append(f'  <way id="{next(ids)}" version="1">\n' + "\n".join(refs + tag_lines) + "\n  </way>")

    far_lat, far_lon = lat0 + STEP_DEG[0] * LINES, lon0 + STEP_DEG[1] * LINES
    for i in range(LINES + 1):
        lat, lon = lat0 + STEP_DEG[0] * i, lon0 + STEP_DEG[1] * i
        highway = CLASSES[i % len(CLASSES)]
        way([(lat, lon0 + STEP_DEG[1] * j) for j in range(LINES + 1)], {"highway": highway, "name": f"Teststraße {i}"})
        way([(lat0 + STEP_DEG[0] * j, lon) for j in range(LINES + 1)], {"highway": highway, "name": f"Prüfweg {i}"})
    way([(lat0, lon0), (far_lat, far_lon)], {"highway": "pedestrian", "name": "Marktgasse"})
    for k in range(4):
        south, west = lat0 + STEP_DEG[0] * (2 * k + 0.2), lon0 + STEP_DEG[1] * (2 * k + 0.2)
        way(_rect(south, west, south + 0.0005, west + 0.0008), {"building": "yes"})
    lake = _rect(lat0 + 0.0002, far_lon - 0.0030, lat0 + 0.0012, far_lon - 0.0004)
    way(lake, {"natural": "water", "name": "Testsee"})
    for k in range(5):
        south, west = lat0 + STEP_DEG[0] * (k + 0.3), far_lon - STEP_DEG[1] * (k + 3)
        way(_rect(south, west, south + 0.0004, west + 0.0009), {"leisure": "park", "name": f"Testpark {k}"})
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="truckguard tests">\n'
                    + "\n".join(nodes + ways) + "\n</osm>\n", encoding="utf-8")
    return path
