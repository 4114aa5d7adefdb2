"""Protected zones from small OpenStreetMap extracts written here."""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson
import pytest

from telematics.bundle import parse_zones_document
from telematics.osm_zones import OsmImportError, active_windows, import_osm_zones, parse_bbox
from telematics.settings import Settings
from truckguard.commands.devices import register


def _square(node_id: int, lat: float, lon: float, size: float) -> tuple[str, list[int]]:
    corners = [(lat, lon), (lat, lon + size), (lat + size, lon + size), (lat + size, lon)]
    nodes = "".join(f'<node id="{node_id + i}" lat="{a}" lon="{b}" version="1"/>' for i, (a, b) in enumerate(corners))
    return nodes, [node_id + i for i in range(4)] + [node_id]


def _way(way_id: int, refs: list[int], tags: dict[str, str]) -> str:
    nds = "".join(f'<nd ref="{r}"/>' for r in refs)
    tag_xml = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
    return f'<way id="{way_id}" version="1">{nds}{tag_xml}</way>'


def write_extract(path: Path) -> Path:
    """A made-up quarter of Berlin: a Christmas market, a pedestrian street, a square, a school, a bakery."""
    parts = []
    ways = []
    for index, (lat, lon, tags) in enumerate([
        (52.5200, 13.4000, {"amenity": "marketplace", "name": "Weihnachtsmarkt",
                            "opening_hours": "Nov 24-Dec 23 11:00-22:00"}),
        (52.5220, 13.4000, {"highway": "pedestrian", "area": "yes", "name": "Fussgaengerzone"}),
        (52.5240, 13.4000, {"place": "square", "name": "Platz", "opening_hours": "this is not a rule"}),
        (52.5260, 13.4000, {"amenity": "school", "opening_hours": "Mo-Fr 07:30-16:00"}),
        (52.5280, 13.4000, {"shop": "bakery", "name": "Baeckerei"}),
        (52.6000, 13.6000, {"amenity": "marketplace", "name": "Far away"}),
    ]):
        nodes, refs = _square(100 + index * 10, lat, lon, 0.001)
        parts.append(nodes)
        ways.append(_way(10 + index, refs, tags))
    # A tiny plaza (about 1 m across): a tagging slip, not a public space.
    nodes, refs = _square(900, 52.5300, 13.4000, 0.00001)
    parts.append(nodes)
    ways.append(_way(99, refs, {"place": "square"}))
    path.write_text('<?xml version="1.0" encoding="UTF-8"?><osm version="0.6" generator="test">'
                    + "".join(parts) + "".join(ways) + "</osm>")
    return path


def test_zones_from_an_extract(tmp_path: Path) -> None:
    extract = write_extract(tmp_path / "quarter.osm")
    collection, summary = import_osm_zones(extract, "Europe/Berlin", parse_bbox("13.39,52.51,13.41,52.54"))
    by_name = {f["properties"]["name"]: f["properties"] for f in collection["features"]}
    assert sorted(by_name) == ["Fussgaengerzone", "Platz", "Weihnachtsmarkt", "school way/13"]
    market = by_name["Weihnachtsmarkt"]
    assert market["kind"] == "market" and market["osm_id"] == "way/10" and market["zone_id"] == "osm-way-10"
    assert market["active"] == [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "from": "11:00",
                                 "to": "22:00"}]
    assert "OpenStreetMap contributors" in market["attribution"] and "ODbL" in market["licence"]
    assert by_name["Fussgaengerzone"]["kind"] == "pedestrian_precinct" and "active" not in by_name["Fussgaengerzone"]
    assert by_name["Platz"]["kind"] == "public_square"
    assert "could not be read" in by_name["Platz"]["review"] and "active" not in by_name["Platz"]
    assert by_name["school way/13"]["active"] == [{"days": ["mon", "tue", "wed", "thu", "fri"], "from": "07:30",
                                                  "to": "16:00"}]
    assert summary.by_kind == {"market": 1, "pedestrian_precinct": 1, "public_square": 1, "school": 1}
    assert any("way/99" in s for s in summary.skipped)
    zones = parse_zones_document(orjson.loads(orjson.dumps(collection)))  # what the detector reads
    assert all(z.polygon_xy.is_valid and z.polygon_xy.area > 5_000 for z in zones)  # ~68 m x 111 m squares


def test_opening_hours_to_windows() -> None:
    assert active_windows("24/7") is None
    assert active_windows("Fr 22:00-02:00") == [{"days": ["fri"], "from": "22:00", "to": "24:00"},
                                                {"days": ["sat"], "from": "00:00", "to": "02:00"}]
    with pytest.raises(OsmImportError):
        active_windows("whenever")
    with pytest.raises(OsmImportError, match="opens on no day"):
        active_windows("PH 10:00-12:00")


def test_bad_options() -> None:
    for bad in ("13,52,12,53", "a,b,c,d", "1,2,3"):
        with pytest.raises(OsmImportError):
            parse_bbox(bad)


def test_command_writes_geojson(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extract = write_extract(tmp_path / "quarter.osm")
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["zones", "import-osm", str(extract), "--out", str(tmp_path / "zones.geojson"),
                              "--timezone", "Europe/Berlin"])
    assert args.handler(args, Settings()) == 0
    written = orjson.loads((tmp_path / "zones.geojson").read_bytes())
    assert len(written["features"]) == 5  # no bbox: the far-away market too
    assert "5 zones" in capsys.readouterr().out
