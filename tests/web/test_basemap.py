"""The offline base map: drawn from an OpenStreetMap file (a street plan the tests write, tests/web/street_plan.py),
clipped, compact, attributed, built by `truckguard basemap build` into the data folder and served from there with
revalidation; none is served until one is built."""

from __future__ import annotations

import argparse
import gzip
from pathlib import Path

import orjson
import pytest

from telematics.settings import Settings
from tests.web.people import signed_in
from tests.web.street_plan import CENTRE, MAJOR_STREET, write_street_plan
from truckguard.commands import basemap as basemap_command
from web import create_app
from web.basemap import COORD_DECIMALS, FILE_NAME, BasemapError, basemap_path, build_basemap
from web.migrate import upgrade_store


@pytest.fixture(scope="module")
def extract(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_street_plan(tmp_path_factory.mktemp("osm") / "plan.osm")


@pytest.fixture(scope="module")
def built(extract: Path) -> dict:
    return build_basemap(extract)[0]


def _coordinates(geometry: dict) -> list[list[float]]:
    out: list[list[float]] = []

    def walk(value: list) -> None:
        if value and isinstance(value[0], int | float):
            out.append(value)
        else:
            for item in value:
                walk(item)

    walk(geometry["coordinates"])
    return out


def test_the_extract_gives_named_roads_buildings_water_and_green(built: dict) -> None:
    layers = built["layers"]
    roads = layers["roads"]["features"]
    names = {f["properties"].get("name") for f in roads}
    assert {MAJOR_STREET, "Teststraße 1", "Prüfweg 2", "Marktgasse"} <= names
    classes = {f["properties"]["name"]: f["properties"]["class"] for f in roads if f["properties"].get("name")}
    assert classes[MAJOR_STREET] == "major" and classes["Teststraße 1"] == "secondary"
    assert classes["Marktgasse"] == "path"  # a pedestrian street: where an attack does most harm, drawn
    assert {f["properties"]["class"] for f in roads} >= {"major", "secondary", "minor", "path"}
    assert len(layers["buildings"]["features"]) >= 1 and len(layers["water"]["features"]) >= 1
    assert len(layers["green"]["features"]) >= 5  # the plan's parks
    assert {f["geometry"]["type"] for f in layers["buildings"]["features"]} <= {"Polygon", "MultiPolygon"}
    assert [f["properties"]["class"] for f in roads] == sorted(
        (f["properties"]["class"] for f in roads), key=["path", "minor", "secondary", "major"].index)
    assert built["attribution"] == "© OpenStreetMap contributors" and "ODbL" in built["licence"]
    west, south, east, north = built["bbox"]
    assert west < CENTRE[1] < east and south < CENTRE[0] < north
    for feature in roads:
        for lon, lat in _coordinates(feature["geometry"]):
            assert round(lon, COORD_DECIMALS) == lon and round(lat, COORD_DECIMALS) == lat


def test_it_is_smaller_than_the_extract(built: dict, extract: Path) -> None:
    size = len(orjson.dumps(built))
    assert size < extract.stat().st_size * 0.6 and size < 100_000  # coordinates rounded, tags dropped


def test_a_bbox_clips_every_layer_to_it(extract: Path) -> None:
    bbox = (13.3530, 52.5140, 13.3570, 52.5160)  # the middle of the plan and little more
    document, summary = build_basemap(extract, bbox)
    assert document["bbox"] == list(bbox)
    for layer in document["layers"].values():
        for feature in layer["features"]:
            for lon, lat in _coordinates(feature["geometry"]):
                assert bbox[0] - 1e-5 <= lon <= bbox[2] + 1e-5 and bbox[1] - 1e-5 <= lat <= bbox[3] + 1e-5
    assert "Marktgasse" in {f["properties"].get("name") for f in document["layers"]["roads"]["features"]}
    assert summary.counts["roads"] < len(build_basemap(extract)[0]["layers"]["roads"]["features"])


def test_what_cannot_be_drawn_is_said_plainly(tmp_path: Path, extract: Path) -> None:
    with pytest.raises(BasemapError, match="file not found"):
        build_basemap(tmp_path / "missing.osm.pbf")
    garbage = tmp_path / "notes.osm"
    garbage.write_text("this is not OSM XML")
    with pytest.raises(BasemapError, match="cannot be read as an OSM file"):
        build_basemap(garbage)
    with pytest.raises(BasemapError, match="no roads, buildings, water or green space to draw inside --bbox"):
        build_basemap(extract, (2.0, 48.0, 2.1, 48.1))  # Paris: not in this extract


def _run(argv: list[str], settings: Settings) -> int:
    parser = argparse.ArgumentParser(prog="truckguard")
    basemap_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args, settings)


def test_the_command_builds_into_the_data_folder_and_the_site_serves_it(
        tmp_path: Path, extract: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    upgrade_store(settings.store_url)
    app = create_app(settings, testing=True)
    client = signed_in(app, "disp", "fleet_operator", ("nordfracht",))
    assert basemap_path(settings.data_dir) is None
    none_yet = client.get("/basemap.json")  # the site ships no map data: it says how to build one
    assert none_yet.status_code == 404 and "truckguard basemap build" in none_yet.get_json()["error"]
    assert _run(["basemap", "build", str(extract)], settings) == 0
    first = client.get("/basemap.json")
    assert first.status_code == 200 and first.get_json()["source"] == extract.name
    assert _run(["basemap", "build", str(extract), "--bbox", "13.3530,52.5140,13.3570,52.5160"], settings) == 0
    assert "written to" in capsys.readouterr().out
    assert basemap_path(settings.data_dir) == settings.data_dir / FILE_NAME
    served = client.get("/basemap.json")
    assert served.status_code == 200 and served.get_json()["bbox"] == [13.353, 52.514, 13.357, 52.516]
    assert served.headers["ETag"] != first.headers["ETag"] and "max-age=3600" in served.headers["Cache-Control"]
    again = client.get("/basemap.json", headers={"If-None-Match": served.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""
    packed = client.get("/basemap.json", headers={"Accept-Encoding": "gzip, deflate"})
    assert packed.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed.headers["Vary"]
    assert orjson.loads(gzip.decompress(packed.get_data())) == served.get_json()
    assert len(packed.get_data()) < len(served.get_data()) / 3
    assert app.test_client().get("/basemap.json").status_code == 302  # signed out: to the sign-in page


def test_the_command_refuses_a_bad_bbox(tmp_path: Path, extract: Path) -> None:
    from telematics.osm_zones import OsmImportError

    with pytest.raises(OsmImportError, match="expected W,S,E,N"):
        _run(["basemap", "build", str(extract), "--bbox", "13.3,52.5"], Settings(data_dir=tmp_path))
    assert not (tmp_path / FILE_NAME).exists()
