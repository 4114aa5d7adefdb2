"""Protected zones proposed from an OpenStreetMap extract on the zone page: reviewed, then only the kept ones saved."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from telematics.osm_zones import LICENCE
from telematics.settings import Settings
from tests.web.browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    add_users,
    cheap_passwords,
    requires_chromium,
    running_site,
    sign_in,
)
from tests.web.people import csrf_token, signed_in
from web.db import get_engine
from web.migrate import upgrade_store
from web.models import AuditRow, OutboxRow, ZoneRow
from web.reference import REFERENCE_TOPIC
from web.views.reference import OSM_UPLOAD_MAX_BYTES

ORIGIN = (47.1000, 9.2000)
"""(lat, lon) of an invented town square: no real place is mapped here by the tests."""
AREAS: tuple[tuple[int, tuple[float, float], dict[str, str]], ...] = (
    (101, (0.0000, 0.0000), {"amenity": "marketplace", "name": "Probemarkt", "opening_hours": "Tu,Fr 08:00-13:00"}),
    (102, (0.0010, 0.0000), {"highway": "pedestrian", "area": "yes", "name": "Beispielgasse"}),
    (103, (0.0000, 0.0020), {"amenity": "school", "name": "Schule am Prüfhain"}),
    (104, (0.0010, 0.0020), {"building": "yes"}),  # not a public space: never proposed
)
SIZE_DEG = (0.0006, 0.0008)
"""About 65 m by 60 m: well above the importer's smallest area."""


def write_extract(path: Path) -> Path:
    """Four invented areas as OSM XML; three are public spaces."""
    nodes, ways, node_id = [], [], 1
    for way_id, (dlat, dlon), tags in AREAS:
        south, west = ORIGIN[0] + dlat, ORIGIN[1] + dlon
        refs = []
        for lat, lon in ((south, west), (south, west + SIZE_DEG[1]), (south + SIZE_DEG[0], west + SIZE_DEG[1]),
                         (south + SIZE_DEG[0], west)):
            nodes.append(f'  <node id="{node_id}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"/>')
            refs.append(node_id)
            node_id += 1
        body = [f'    <nd ref="{ref}"/>' for ref in [*refs, refs[0]]]
        body += [f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items()]
        ways.append(f'  <way id="{way_id}" version="1">\n' + "\n".join(body) + "\n  </way>")
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="truckguard tests">\n'
                    + "\n".join(nodes + ways) + "\n</osm>\n", encoding="utf-8")
    return path


@pytest.fixture
def extract(tmp_path: Path) -> bytes:
    return write_extract(tmp_path / "town.osm").read_bytes()


@pytest.fixture
def officer(app: Flask) -> FlaskClient:
    return signed_in(app, "officer1", "law_enforcement")


def upload(client: FlaskClient, content: bytes, name: str = "town.osm", **fields: str) -> Any:
    from io import BytesIO

    data: dict[str, Any] = {"csrf_token": csrf_token(client), "timezone": "Europe/Berlin",
                            "extract": (BytesIO(content), name), **fields}
    return client.post("/reference/zones/osm", data=data, content_type="multipart/form-data")


def stored(app: Flask) -> dict[str, dict[str, Any]]:
    with app.app_context(), Session(get_engine()) as session:
        return {row.zone_id: row.feature for row in session.execute(select(ZoneRow)).scalars()}


def reference_messages(app: Flask) -> list[str]:
    with app.app_context(), Session(get_engine()) as session:
        return list(session.execute(select(OutboxRow.key).where(OutboxRow.topic == REFERENCE_TOPIC)).scalars())


def test_the_extract_is_proposed_then_only_the_kept_zones_are_saved(app: Flask, officer: FlaskClient,
                                                                    extract: bytes) -> None:
    response = upload(officer, extract)
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200, page
    rows = re.findall(r'<tr id="proposal-(\d+)"', page)
    assert len(rows) == 3  # the building is no public space
    for text in ("Probemarkt", "Beispielgasse", "Schule am Prüfhain", "market", "pedestrian_precinct", "school",
                 "way/101", "way/102", "way/103", "tue,fri 08:00-13:00", "Tu,Fr 08:00-13:00"):
        assert text in page, text
    assert re.findall(r"<td data-label=\"Corners\">(\d+)</td>", page) == ["4", "4", "4"]
    assert stored(app) == {} and reference_messages(app) == []  # nothing reaches the detectors yet

    tokens = re.findall(r'name="proposal" value="([^"]+)"', page)
    index = {name: str(i) for i, name in enumerate(re.findall(r'name="name-\d+" value="([^"]*)"', page))}
    data = {"csrf_token": csrf_token(officer), "proposal": tokens,
            "keep": [index["Probemarkt"], index["Beispielgasse"]],  # the school is dropped
            f"name-{index['Beispielgasse']}": "Fußgängerzone Beispielgasse",
            f"active-{index['Beispielgasse']}": "mon-sat 10:00-20:00"}
    for i in index.values():  # the rest as the page filled them in
        for field in ("name", "kind", "active"):
            data.setdefault(f"{field}-{i}", re.search(rf'name="{field}-{i}" value="([^"]*)"', page).group(1))
    response = officer.post("/reference/zones/osm/save", data=data, content_type="multipart/form-data")
    assert response.status_code == 303, response.get_data(as_text=True)

    zones = stored(app)
    assert sorted(zones) == ["osm-way-101", "osm-way-102"]
    market, street = zones["osm-way-101"]["properties"], zones["osm-way-102"]["properties"]
    assert (market["name"], market["kind"], market["active"]) == \
        ("Probemarkt", "market", [{"days": ["tue", "fri"], "from": "08:00", "to": "13:00"}])
    assert (street["name"], street["active"]) == \
        ("Fußgängerzone Beispielgasse", [{"days": ["mon", "tue", "wed", "thu", "fri", "sat"], "from": "10:00",
                                          "to": "20:00"}])
    for properties, osm_id in ((market, "way/101"), (street, "way/102")):
        assert properties["osm_id"] == osm_id and properties["licence"] == LICENCE
        assert properties["attribution"] == "© OpenStreetMap contributors"
    with app.app_context(), Session(get_engine()) as session:
        audit = session.execute(select(AuditRow.action, AuditRow.target_id, AuditRow.actor)
                                .where(AuditRow.target_type == "zone")).all()
    assert sorted(audit) == [("zone.create", "osm-way-101", "officer1"), ("zone.create", "osm-way-102", "officer1")]
    keys = reference_messages(app)  # the saved zones, and only they, go to the detectors
    assert [any(zone_id in key for key in keys) for zone_id in ("osm-way-101", "osm-way-102", "osm-way-103")] == \
        [True, True, False]


def test_a_bounding_box_leaves_out_the_areas_outside_it(officer: FlaskClient, extract: bytes) -> None:
    west, south = ORIGIN[1] - 0.0005, ORIGIN[0] - 0.0005
    response = upload(officer, extract, bbox=f"{west},{south},{ORIGIN[1] + 0.0012},{ORIGIN[0] + 0.0020}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "way/101" in page and "way/102" in page and "way/103" not in page


@pytest.mark.parametrize(("username", "role"), [("op_a", "fleet_operator"), ("rental_a", "rental")])
def test_operators_and_rental_clerks_may_not_import_zones(app: Flask, extract: bytes, username: str,
                                                          role: str) -> None:
    client = signed_in(app, username, role, ("fleet-a",))
    assert upload(client, extract).status_code == 403
    assert client.post("/reference/zones/osm/save", data={"csrf_token": csrf_token(client)}).status_code == 403
    assert stored(app) == {}


def test_an_extract_above_the_limit_gets_413(officer: FlaskClient) -> None:
    response = upload(officer, b"<osm>" + b" " * OSM_UPLOAD_MAX_BYTES + b"</osm>")
    assert response.status_code == 413


@pytest.mark.parametrize(("content", "name", "fields", "expected"), [
    (b"this is no map at all", "town.osm", {}, "town.osm: cannot be read as an OSM file"),
    (b"\x00\x01garbage" * 8, "town.osm.pbf", {}, "town.osm.pbf: cannot be read as an OSM file"),
    (b"<osm/>", "town.geojson", {}, "town.geojson: expected an OpenStreetMap extract"),
    (None, "town.osm", {"bbox": "9.3,47.2,9.1,47.0"}, "expected west &lt; east"),
    (None, "town.osm", {"timezone": "Mars/Olympus"}, "is not an IANA zone name"),
], ids=["xml", "pbf", "suffix", "bbox", "timezone"])
def test_garbage_gets_a_clear_400(officer: FlaskClient, extract: bytes, content: bytes | None, name: str,
                                  fields: dict[str, str], expected: str) -> None:
    response = upload(officer, extract if content is None else content, name, **fields)
    text = response.get_data(as_text=True)
    assert response.status_code == 400 and expected in text, text
    assert "truckguard-osm-" not in text  # the server's temporary path is not shown


def test_proposals_changed_in_the_browser_or_from_another_session_are_refused(app: Flask, officer: FlaskClient,
                                                                             extract: bytes) -> None:
    page = upload(officer, extract).get_data(as_text=True)
    tokens = re.findall(r'name="proposal" value="([^"]+)"', page)
    other = signed_in(app, "admin", "admin")
    for client, sent in ((officer, [tokens[0][:-3] + "abc"]), (other, tokens[:1])):
        response = client.post("/reference/zones/osm/save", data={"csrf_token": csrf_token(client), "proposal": sent,
                                                                   "keep": "0"})
        assert response.status_code == 400 and "Upload the extract again" in response.get_data(as_text=True)
    response = officer.post("/reference/zones/osm/save", data={"csrf_token": csrf_token(officer), "proposal": tokens,
                                                               "active-0": "someday"})
    assert response.status_code == 400 and "Keep at least one proposal" in response.get_data(as_text=True)
    response = officer.post("/reference/zones/osm/save", data={"csrf_token": csrf_token(officer), "proposal": tokens,
                                                               "keep": "0", "active-0": "someday"})
    assert response.status_code == 400 and "osm-way-101: active" in html.unescape(response.get_data(as_text=True))
    assert stored(app) == {}


@pytest.mark.browser
@requires_chromium
def test_in_chromium_the_proposals_are_drawn_on_the_map(tmp_path: Path) -> None:
    """The review page draws each proposal over the map; one dropped in the list is drawn faint."""
    from playwright.sync_api import sync_playwright

    settings = Settings(data_dir=tmp_path / "data")
    upgrade_store(settings.store_url)
    with cheap_passwords():
        add_users(settings, [("officer-z", "law_enforcement", ())])
        with running_site(settings) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page: Any = browser.new_page(viewport=DESKTOP)
                sign_in(page, base, "officer-z")
                page.goto(f"{base}/reference")
                page.set_input_files("input[name=extract]", str(write_extract(tmp_path / "town.osm")))
                page.click("form[action$='/zones/osm'] button[type=submit]")
                page.locator("#map[data-proposals='3']").wait_for(state="attached")
                kept = '#map .leaflet-overlay-pane path[stroke="#00838f"]'
                assert page.locator(kept).count() == 3
                page.uncheck("#proposal-3 input[name=keep]")
                assert page.locator(kept).count() == 2
                assert page.locator('#map .leaflet-overlay-pane path[stroke="#757575"]').count() == 1
            finally:
                browser.close()


@pytest.mark.parametrize("text", ["mon-fri 07:00-20:00; sat 10:00-16:00", "mon,wed,fri 06:00-09:00", "00:00-24:00",
                                  "mon,tue 07:00-20:00; thu-sun 10:00-22:00"])
def test_the_review_writes_active_times_as_the_zone_form_reads_them(text: str) -> None:
    from web.zone_form import parse_windows, windows_text

    windows = parse_windows(text, "active", with_days=True)
    assert windows_text(windows) == text and parse_windows(windows_text(windows), "active", with_days=True) == windows
