"""The alert page's map (track around the alert, its zone by name, the projected course), the evidence chart's
labels that never overlap, and the vehicle's speed governor carried to the map."""

from __future__ import annotations

import dataclasses
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from telematics.settings import Settings
from tests.web.browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORD,
    PHONE,
    add_users,
    cheap_passwords,
    requires_chromium,
    running_site,
    shoot,
)
from tests.web.people import signed_in
from tests.web.samples import alert
from web import create_app
from web.db import get_engine
from web.evidence import LABEL_CHAR_PX, LABEL_SUFFIX_CHARS, chart, layout_labels
from web.mapdata import EARTH_M_PER_DEG, projected_course
from web.migrate import upgrade_store
from web.positions import Fix, fix_from_record, note_position, note_track_points, position_to_dict
from web.reference import put_zones
from web.store import rfc3339, upsert_alert
from web.timeline import Event

# Straße des 17. Juni in Berlin, west of the Großer Stern to east of it (rounded), and a zone on the street further
# east where a fan mile stands; the base map drawn under them is the tests' own street plan (street_plan.py).
ROAD = [(52.51363, 13.33639), (52.51442, 13.34800), (52.51455, 13.35174), (52.51500, 13.35900)]
FAN_MILE = [[13.3605, 52.5148], [13.3660, 52.5151], [13.3660, 52.5160], [13.3605, 52.5157], [13.3605, 52.5148]]
ZONES = {"type": "FeatureCollection", "features": [{
    "type": "Feature", "geometry": {"type": "Polygon", "coordinates": [FAN_MILE]},
    "properties": {"zone_id": "ber-event-1", "name": "Fanmeile Straße des 17. Juni", "kind": "event",
                   "timezone": "Europe/Berlin"}}]}
RAMMING = {"zone_name": "Fanmeile Straße des 17. Juni", "zone_kind": "event", "distance_m": 102,
           "along_course_m": 104, "time_to_boundary_s": 7.5, "speed_kmh": 50.0, "course_deg": 79,
           "summary": "heading for Fanmeile Straße des 17. Juni at 50 km/h, boundary in 7 s"}
"""As the ramming detector reports it from the road's end: 102 m east to the zone's western edge is 104 m along a
course of 79° (102 / sin 79°), 7.5 s at 50 km/h."""


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine metres between (lat, lon) points: independent of the flat-earth step under test."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


def _drive(now: datetime) -> list[Fix]:
    """A truck along the road at 50 km/h, one fix every 10 s, ending at the alert."""
    fixes = []
    for i in range(31):
        f = i / 30
        leg = min(int(f * (len(ROAD) - 1)), len(ROAD) - 2)
        t = f * (len(ROAD) - 1) - leg
        (lat0, lon0), (lat1, lon1) = ROAD[leg], ROAD[leg + 1]
        fixes.append(Fix("NF-101", now - timedelta(seconds=300 - 10 * i), lat0 + t * (lat1 - lat0),
                         lon0 + t * (lon1 - lon0), 50.0, 79.0, True))
    return fixes


def store_ramming(app: Flask, governor: dict | None = None) -> datetime:
    """A ramming alert with its track; the vehicle's last position carries the governor, if given."""
    now = datetime.now(UTC).replace(microsecond=0)
    end = ROAD[-1]
    with app.app_context(), Session(get_engine()) as session, session.begin():
        put_zones(session, ZONES, actor="test")
        fixes = _drive(now)
        note_track_points(session, fixes)
        note_position(session, dataclasses.replace(fixes[-1], speed_governor=governor))
        upsert_alert(session, alert(alert_id="al-ram", kind="ramming_risk", severity="critical",
                                    zone_id="ber-event-1", lat=end[0], lon=end[1], evidence=RAMMING,
                                    ts=rfc3339(now), onset_ts=rfc3339(now - timedelta(seconds=20))))
    return now


def test_projected_course_goes_the_distance_in_the_direction() -> None:
    start = (52.515, 13.359)
    (lon0, lat0), (lon1, lat1) = projected_course(*start, 79.0, 400.0)
    assert (lat0, lon0) == start
    assert abs(_metres(start, (lat1, lon1)) - 400.0) < 1.0
    bearing = math.degrees(math.atan2((lon1 - lon0) * math.cos(math.radians(lat0)), lat1 - lat0)) % 360
    assert abs(bearing - 79.0) < 0.1
    assert EARTH_M_PER_DEG == 111_320.0


def test_the_alert_map_has_the_track_the_zone_and_the_course_into_it(app: Flask) -> None:
    store_ramming(app)
    dispatcher = signed_in(app, "disp", "fleet_operator", ("nordfracht",))
    response = dispatcher.get("/alerts/al-ram/map")
    assert response.status_code == 200
    doc: dict[str, Any] = response.get_json()
    track = doc["geometry"]["coordinates"]
    assert len(track) >= 25 and track[-1] == [ROAD[-1][1], ROAD[-1][0]]
    props = doc["properties"]
    assert props["zone"]["properties"]["name"] == "Fanmeile Straße des 17. Juni"
    assert props["zone"]["geometry"]["coordinates"] == [FAN_MILE]
    assert props["alert"]["kind"] == "ramming_risk" and props["position"]["vehicle_id"] == "NF-101"
    (lon0, lat0), (lon1, lat1) = props["projected"]["geometry"]["coordinates"]
    assert (lat0, lon0) == ROAD[-1]
    assert abs(_metres((lat0, lon0), (lat1, lon1)) - 104) < 1.0
    # the course the detector projected ends on the zone's edge (to the metre its evidence is rounded to)
    from shapely.geometry import Point, Polygon

    assert Polygon(FAN_MILE).exterior.distance(Point(lon1, lat1)) * EARTH_M_PER_DEG < 3
    assert props["projected"]["properties"]["time_to_boundary_s"] == 7.5
    # another fleet's dispatcher sees none of it
    other = signed_in(app, "other", "fleet_operator", ("elsewhere",))
    assert other.get("/alerts/al-ram/map").status_code == 404


def test_an_alert_without_a_course_or_zone_has_no_projection(app: Flask) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with app.app_context(), Session(get_engine()) as session, session.begin():
        upsert_alert(session, alert(alert_id="al-route", ts=rfc3339(now), onset_ts=rfc3339(now)))
    doc = signed_in(app, "officer1", "law_enforcement").get("/alerts/al-route/map").get_json()
    props = doc["properties"]
    assert props["projected"] is None and props["zone"] is None and doc["geometry"]["coordinates"] == []
    assert props["alert"]["lat"] == 52.52


def test_the_alert_page_names_the_zone_and_carries_the_map(app: Flask) -> None:
    store_ramming(app)
    page = signed_in(app, "officer1", "law_enforcement").get("/alerts/al-ram").get_data(as_text=True)
    zone = page[page.index('id="alert-zone"'):]
    assert "<strong>Fanmeile Straße des 17. Juni</strong> (ber-event-1)" in zone[:zone.index("</dd>")]
    assert 'id="track-map"' in page and 'data-source="/alerts/al-ram/map"' in page
    assert "/static/basemap.js" in page and "/static/track.js" in page
    assert page.index("/static/basemap.js") < page.index("/static/track.js")  # deferred: run in this order


def _labels(svg: str) -> list[tuple[float, float, str]]:
    return [(float(x), float(y), re.sub(r"<title>.*?</title>", "", text)) for x, y, text in
            re.findall(r'<text x="([\d.]+)" y="([\d.]+)" class="tl-label"[^>]*>(.*?)</text>', svg)]


def test_event_labels_never_overlap_however_close_the_events() -> None:
    start = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    kinds = ["onset", "Ramming risk", "Speed in zone", "Protected zone intrusion", "Hijack suspected", "Panic"]
    events = [Event(start + timedelta(seconds=s), kinds[i % len(kinds)], "critical")
              for i, s in enumerate([0, 2, 3, 5, 6, 8, 9, 30, 31, 32, 600, 601, 602, 899, 900])]
    points = [{"ts": start + timedelta(seconds=10 * i), "speed_kmh": 40.0, "lat": 52.5, "lon": 13.4}
              for i in range(91)]
    svg = chart(points, [None] * len(points), events, "Evidence timeline of NF-101")
    labels = _labels(svg)
    assert svg.count('class="tl-event') == len(events)  # every event keeps its line
    hidden = sum(int(m.group(1)) for *_, t in labels if (m := re.search(r" \+(\d+)$", t)))
    assert len(labels) + hidden == len(events)  # each event is labelled or counted on a neighbour
    assert 3 <= len(labels) < len(events)
    for i, (x1, y1, t1) in enumerate(labels):
        half1 = len(t1) * LABEL_CHAR_PX / 2
        assert half1 <= x1 <= 720 - half1
        for x2, y2, t2 in labels[i + 1:]:
            if y1 == y2:
                assert abs(x1 - x2) >= half1 + len(t2) * LABEL_CHAR_PX / 2, (t1, t2)
    assert "<title>" in svg  # the counted events are named on hover


def test_labels_far_apart_share_the_first_row_and_keep_their_room() -> None:
    labels = layout_labels([(100.0, "onset"), (400.0, "Ramming risk"), (700.0, "Panic")])
    assert [label.row for label in labels] == [0, 0, 0]
    assert labels[2].x <= 720 - (len("Panic") + LABEL_SUFFIX_CHARS) * LABEL_CHAR_PX / 2  # pulled inside the chart
    crowded = layout_labels([(300.0 + i, f"Alert {i}") for i in range(5)])
    assert [label.row for label in crowded] == [0, 1, 2] and crowded[-1].shown == "Alert 2 +2"


def test_the_speed_governor_travels_from_the_record_to_the_map_layers() -> None:
    from telematics.records import TelemetryRecord
    from web.models import VehiclePositionRow

    governor = {"active": True, "limit_kmh": 20.0, "zone_id": "ber-event-1", "source": "zone"}
    record = TelemetryRecord(vehicle_id="NF-101", ts_ms=1_800_000_000_000, lat=52.515, lon=13.359, gnss_fix=True,
                             gnss_speed_kmh=19.0, heading_deg=79.0, ignition=True, speed_governor=governor)
    fix = fix_from_record(record)
    assert fix is not None and fix.speed_governor == governor
    row = VehiclePositionRow(vehicle_id="NF-101", ts=fix.ts, lat=fix.lat, lon=fix.lon, speed_kmh=fix.speed_kmh,
                             heading_deg=fix.heading_deg, ignition=True, source="telemetry")
    assert position_to_dict(row)["speed_governor"] is None  # no governor reported: none shown
    row.speed_governor = governor
    assert position_to_dict(row)["speed_governor"] == governor


@pytest.mark.slow
@pytest.mark.browser
@requires_chromium
def test_in_chromium_on_a_phone_the_alert_map_shows_streets_by_name_the_course_and_the_governor(
        tmp_path: Path) -> None:
    """The alert page at 390 px: the base map built from an OSM street plan under the track (roads, names that do
    not overlap, the OpenStreetMap attribution), the zone, the projected course, and the ring of a governed
    vehicle."""
    from playwright.sync_api import sync_playwright

    from tests.web.street_plan import write_street_plan
    from web.basemap import FILE_NAME, build_basemap, write_basemap

    settings = Settings(data_dir=tmp_path / "data")
    upgrade_store(settings.store_url)
    write_basemap(build_basemap(write_street_plan(tmp_path / "plan.osm"))[0], settings.data_dir / FILE_NAME)
    app = create_app(settings, testing=True)
    governor = {"active": True, "limit_kmh": 20, "zone_id": "ber-event-1", "source": "zone"}
    store_ramming(app, governor)

    with cheap_passwords():
        add_users(settings, [("disp-x", "fleet_operator", ("nordfracht",))])
        with running_site(settings) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page: Any = browser.new_page(viewport=PHONE)
                # The sign-in form's own button: the header's language switch has submit buttons too.
                page.goto(f"{base}/login")
                page.fill("#username", "disp-x")
                page.fill("#password", PASSWORD)
                page.click("form.stack button[type=submit]")
                page.wait_for_url(f"{base}/alerts")
                page.goto(f"{base}/alerts/al-ram")
                box = page.locator("#track-map[data-basemap='drawn'][data-points]")
                box.wait_for(state="attached")
                page.locator("#track-map[data-governor*='20 km/h']").wait_for(state="attached")
                assert int(box.get_attribute("data-basemap-roads")) > 30
                attribution = page.locator("#track-map .leaflet-control-attribution").inner_text()
                assert "OpenStreetMap contributors" in attribution
                frame = box.bounding_box()
                assert frame is not None and frame["x"] >= 0 and frame["x"] + frame["width"] <= PHONE["width"]
                # the course into the zone (dashed red), the zone, and the ring of the governed vehicle
                assert page.locator('#track-map .leaflet-overlay-pane path[stroke="#c62828"]'
                                    '[stroke-dasharray="8 6"]').count() == 1
                assert page.locator('#track-map .leaflet-overlay-pane path[stroke="#8e24aa"]').count() == 1
                assert page.locator('#track-map .leaflet-overlay-pane path[stroke="#2e7d32"]').count() == 1
                assert "zone guard" in page.locator("#track-map").get_attribute("data-governor")
                # one step closer, as a person would: the names are drawn along their streets, none over another
                zoom = int(box.get_attribute("data-basemap-zoom"))
                page.locator("#track-map .leaflet-control-zoom-in").click()
                page.locator(f"#track-map[data-basemap-zoom='{zoom + 1}']").wait_for(state="attached")
                assert int(box.get_attribute("data-basemap-labels")) >= 2
                labels = page.locator("#track-map .basemap-label")
                names = set(labels.all_inner_texts())
                assert any(name.startswith(("Teststraße", "Prüfweg")) for name in names)
                boxes = [b for b in (label.bounding_box() for label in labels.all()) if b]
                for i, a in enumerate(boxes):
                    for b in boxes[i + 1:]:
                        assert not (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and
                                    a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]), (a, b)
                shoot(page, "alert-map-phone")
            finally:
                browser.close()
