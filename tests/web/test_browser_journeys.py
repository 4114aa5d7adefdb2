"""Browser journeys through the real site: waitress, a real broker and `truckguard sink`, driven in Chromium."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from ingest.broker import EmbeddedBroker, free_port
from ingest.topics import ALERTS, STOP_REQUESTS, TELEMETRY
from telematics.geo import destination
from telematics.settings import Settings
from tests.bundles import FLEET, MARKET_CENTRE, ZONES, write_bundle
from tests.conftest import wait_for
from tests.ingest.kafka_helpers import produce
from tests.web.browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    Site,
    add_users,
    cheap_passwords,
    drawn_on_map,
    messages,
    requires_chromium,
    running_sink,
    running_site,
    shoot,
    sign_in,
    ts,
)
from tests.web.samples import alert, stop_request
from web.db import make_engine
from web.models import AlertRow, StopRequestRow
from web.positions import latest_positions
from web.reference import import_reference

pytestmark = [pytest.mark.browser, pytest.mark.slow, requires_chromium]

ZONE_ID = ZONES["features"][0]["properties"]["zone_id"]
USERS = [("dispatch-a", "fleet_operator", ("nordfracht",)), ("desk-b", "rental", ("stadtvan",)),
         ("officer-1", "law_enforcement", ()), ("officer-2", "law_enforcement", ())]
TRACK_POINTS = 24
ZONE_FILL, VEHICLE_FILLS = "#8e24aa", ("#c62828", "#1565c0", "#2e7d32", "#757575")


def approach(vehicle_id: str = "NF-101") -> list[dict[str, Any]]:
    """A vehicle driving south at 40 km/h towards the market zone over the last two minutes, one fix every 6 s;
    it ends 280 m from the zone's centre."""
    records = []
    for i in range(TRACK_POINTS):
        lat, lon = destination(MARKET_CENTRE[0], MARKET_CENTRE[1], 0, 1800 - i * 66)
        records.append({"vehicle_id": vehicle_id, "ts": ts(-6 * (TRACK_POINTS - 1 - i)), "seq": i, "lat": lat,
                        "lon": lon, "gnss_speed_kmh": 40.0, "heading_deg": 180.0, "ignition": True})
    return records


def in_store(site: Site, model: type, key: str) -> Any:
    engine = make_engine(site.settings.store_url)
    try:
        with Session(engine) as session:
            return session.get(model, key)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Two fleets, four accounts, a broker, `truckguard sink` and the site; NF-101's track already stored."""
    root = tmp_path_factory.mktemp("browser")
    with cheap_passwords(), EmbeddedBroker(free_port(), log_path=root / "broker.log") as broker:
        settings = Settings(data_dir=root / "data", bootstrap_servers=broker.bootstrap, partitions=1)
        import_reference(settings.store_url, write_bundle(root / "bundle", [], fleet=FLEET, zones=ZONES))
        add_users(settings, USERS)
        with running_sink(settings, root / "sink.log") as sink, running_site(settings) as base:
            running = Site(base, settings, root / "sink.log")
            track = approach()

            def tracked() -> bool:
                # The positions consumer starts at the newest telemetry: send until it has joined and stored.
                assert sink.poll() is None, running.sink_log.read_text()
                produce(running.bootstrap, TELEMETRY, track)
                engine = make_engine(settings.store_url)
                try:
                    with Session(engine) as session:
                        position = latest_positions(session, ["NF-101"]).get("NF-101")
                finally:
                    engine.dispose()
                return position is not None and position["ts"] == track[-1]["ts"]

            wait_for(tracked, 60, "the sink to store NF-101's position from telemetry", interval_s=1.0)
            yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def sessions() -> dict[str, Any]:
    """Each user's signed-in browser state, kept after the first sign-in through the form."""
    return {}


@pytest.fixture
def offline(browser: Any, site: Site, sessions: dict[str, Any]) -> Iterator[Any]:
    """Opens a page in a new browser context, signed in as ``user``; pages may reach only the site: any other
    request is refused and noted, and the test fails."""
    contexts: list[Any] = []
    foreign: list[str] = []

    def new_page(user: str, viewport: dict[str, int] = DESKTOP) -> Any:
        context = browser.new_context(viewport=viewport, accept_downloads=True, storage_state=sessions.get(user))
        context.set_default_timeout(15_000)

        def guard(route: Any) -> None:
            if route.request.url.startswith(site.base):
                route.continue_()
            else:
                foreign.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        contexts.append(context)
        page = context.new_page()
        if user not in sessions:
            sign_in(page, site.base, user)
            sessions[user] = context.storage_state()
        return page

    yield new_page
    for context in contexts:
        context.close()
    assert foreign == [], f"pages asked for something outside the site: {foreign}"


def test_operator_sees_an_alert_arrive_live_opens_its_evidence_and_acknowledges_it(site: Site, offline: Any) -> None:
    page = offline("dispatch-a")
    with page.expect_response(lambda r: r.url == f"{site.base}/events"):
        page.goto(f"{site.base}/alerts")
    assert page.locator("h1").inner_text() == "Live alerts"
    page.evaluate("window.notReloaded = true")

    lat, lon = destination(MARKET_CENTRE[0], MARKET_CENTRE[1], 0, 330)
    raised = alert(alert_id="al-live-1", kind="ramming_risk", severity="critical", ts=ts(-5), onset_ts=ts(-60),
                   lat=lat, lon=lon, zone_id=ZONE_ID, score=0.93,
                   evidence={"summary": "40 km/h towards the Breitscheidplatz market, 200 m away", "speed_kmh": 40,
                             "distance_m": 200})
    produce(site.bootstrap, ALERTS, [raised])

    # SSE, not the half-minute fallback poll and not a reload, brings the row in.
    row = page.locator('tr[data-id="al-live-1"]')
    row.wait_for(timeout=10_000)
    assert page.evaluate("window.notReloaded") is True
    assert "is-new" in (row.get_attribute("class") or "")
    assert "Ramming risk" in row.inner_text() and "critical" in row.inner_text()
    assert page.locator("#live-announce").inner_text() == "1 new alert"
    shoot(page, "alerts-live-desktop")

    row.get_by_role("link").first.click()  # the time links to the alert, the vehicle to its page
    page.wait_for_url(f"{site.base}/alerts/al-live-1")
    chart = page.locator("figure.chart svg.timeline")
    assert chart.is_visible()
    assert chart.locator("polyline.tl-speed").count() == 1, "the stored track draws the speed line"
    assert chart.locator("polyline.tl-distance").count() == 1, "the zone draws the distance line"
    page.locator("details summary").click()
    timeline = page.locator("details table tbody tr")
    assert timeline.count() >= 10
    assert "Ramming risk" in page.locator("details table").inner_text()
    shoot(page, "alert-detail-desktop")

    page.fill("#note", "Called the driver; he confirms a diversion.")
    page.get_by_role("button", name="Acknowledge").click()
    page.wait_for_url(f"{site.base}/alerts/al-live-1")
    assert page.locator(".flash-ok").inner_text() == "Alert acknowledged."
    assert page.locator("#alert-status").inner_text() == "acknowledged"
    assert "acknowledged by dispatch-a" in page.locator("ol.history").inner_text()
    assert "Called the driver" in page.locator("ol.history").inner_text()
    assert in_store(site, AlertRow, "al-live-1").status == "acknowledged"

    phone = offline("dispatch-a", PHONE)
    phone.goto(f"{site.base}/alerts")
    phone.locator('tr[data-id="al-live-1"]').wait_for()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling"
    shoot(phone, "alerts-phone")
    phone.goto(f"{site.base}/alerts/al-live-1")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling"
    shoot(phone, "alert-detail-phone")


def _decide(page: Any, base: str, request_id: str, button: str) -> str:
    page.goto(f"{base}/stop-requests/{request_id}")
    page.get_by_role("button", name=button).click()
    page.wait_for_url(f"{base}/stop-requests/{request_id}")
    return page.locator(".flash").first.inner_text()


def test_two_officers_authorise_a_stop_request_and_the_audit_log_shows_both(site: Site, offline: Any) -> None:
    lat, lon = destination(MARKET_CENTRE[0], MARKET_CENTRE[1], 0, 400)
    produce(site.bootstrap, STOP_REQUESTS, [stop_request(
        request_id="sr-two-1", ts=ts(-3), zone_id=ZONE_ID, lat=lat, lon=lon, alert_ids=["al-live-1"],
        reason="40 km/h towards the Breitscheidplatz Christmas market", history=[
            {"status": "requested", "at": ts(-3), "by": "detector"}])])
    first = offline("officer-1")
    first.goto(f"{site.base}/stop-requests")
    first.locator('tr[data-id="sr-two-1"]').wait_for(timeout=15_000)
    shoot(first, "stop-requests-desktop")

    first.goto(f"{site.base}/stop-requests/sr-two-1")
    assert first.locator("#request-status").inner_text() == "requested"
    first.locator("#map[data-vehicles]").wait_for(state="attached")
    assert drawn_on_map(first, ZONE_FILL) == 1, "the threatened zone is in view"
    assert sum(drawn_on_map(first, fill) for fill in VEHICLE_FILLS) == 1, "the vehicle is in view"
    assert "Ramming risk" in first.locator("#evidence").inner_text()
    shoot(first, "stop-request-console-desktop")
    assert _decide(first, site.base, "sr-two-1", "Approve (first of two)") == \
        "First approval recorded; a second officer must approve."
    assert first.locator("#request-status").inner_text() == "requested"
    assert "officer-1" in first.locator("dl.facts").inner_text()

    # The same officer cannot give the second approval.
    message = _decide(first, site.base, "sr-two-1", "Authorise (second approval)")
    assert "you gave the first approval; a second officer must authorise" in message
    assert first.locator(".flash-error").count() == 1
    assert first.locator("#request-status").inner_text() == "requested"

    second = offline("officer-2")
    assert _decide(second, site.base, "sr-two-1", "Authorise (second approval)") == "Request authorised."
    assert second.locator("#request-status").inner_text() == "authorized"
    assert second.get_by_role("button", name="Refuse").count() == 0, "a decided request offers no more decisions"
    history = second.locator("#history").inner_text()
    assert "approved 1 of 2 by officer-1" in history and "authorized by officer-2" in history
    shoot(second, "stop-request-authorized-desktop")

    def published() -> list[dict[str, Any]]:
        return messages(site.bootstrap, STOP_REQUESTS,
                        lambda v: v.get("request_id") == "sr-two-1" and v.get("status") == "authorized")

    [authorized] = wait_for(published, 20, "the authorised status change on truckguard.stop-requests.v1")
    assert authorized["history"][-1]["by"] == "officer-2" and authorized["history"][-1]["approval"] == 2
    assert "first_approval_by" not in authorized and "received_at" not in authorized

    second.goto(f"{site.base}/audit?target_id=sr-two-1")
    entries = {(r.locator("td[data-label=Who]").inner_text(), r.locator("td[data-label=Action]").inner_text())
               for r in second.locator("#audit tbody tr").all()}
    assert {("officer-1", "stop_request.approve"), ("officer-2", "stop_request.authorized")} <= entries
    shoot(second, "audit-desktop")
    with second.expect_download() as download:
        second.get_by_role("link", name="Export CSV").click()
    path = Path(download.value.path())
    assert download.value.suggested_filename == "truckguard-audit.csv"
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    # Every step of the request's history is in the audit log, the detector's request included.
    assert {(r["actor"], r["action"], r["target_id"]) for r in rows} == {
        ("detector", "stop_request.requested", "sr-two-1"),
        ("officer-1", "stop_request.approve", "sr-two-1"), ("officer-2", "stop_request.authorized", "sr-two-1")}
    assert all(r["fleet_id"] == "nordfracht" for r in rows)
    assert all(r["ip"] == "127.0.0.1" for r in rows if r["actor"].startswith("officer"))
    first_approval = next(r for r in rows if r["action"] == "stop_request.approve")
    assert json.loads(first_approval["before"]) == {"status": "requested", "first_approval_by": None}
    assert json.loads(first_approval["after"])["first_approval_by"] == "officer-1"

    phone = offline("officer-1", PHONE)
    phone.goto(f"{site.base}/stop-requests/sr-two-1")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling"
    shoot(phone, "stop-request-console-phone")
    phone.goto(f"{site.base}/stop-requests")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling"
    shoot(phone, "stop-requests-phone")


def test_a_refusal_needs_a_reason(site: Site, offline: Any) -> None:
    produce(site.bootstrap, STOP_REQUESTS, [stop_request(request_id="sr-refuse-1", ts=ts(-2),
                                                         history=[{"status": "requested", "at": ts(-2),
                                                                   "by": "detector"}])])
    wait_for(lambda: in_store(site, StopRequestRow, "sr-refuse-1"), 15, "the stored stop request")
    page = offline("officer-1")
    page.goto(f"{site.base}/stop-requests/sr-refuse-1")
    # Blanks get past the browser's `required` check; the server must still say no.
    page.fill("#refuse-reason", "   ")
    page.get_by_role("button", name="Refuse").click()
    page.wait_for_url(f"{site.base}/stop-requests/sr-refuse-1")
    assert page.locator(".flash-error").inner_text() == "reason: a refusal needs a reason"
    assert page.locator("#request-status").inner_text() == "requested"
    shoot(page, "stop-request-refusal-needs-reason")

    page.fill("#refuse-reason", "Vehicle confirmed under the driver's control by phone.")
    page.get_by_role("button", name="Refuse").click()
    page.wait_for_url(f"{site.base}/stop-requests/sr-refuse-1")
    assert page.locator(".flash-ok").inner_text() == "Request refused."
    assert page.locator("#request-status").inner_text() == "refused"
    assert "refused by officer-1" in page.locator("#history").inner_text()
    assert in_store(site, StopRequestRow, "sr-refuse-1").status == "refused"


def test_the_operator_of_one_fleet_sees_nothing_of_another(site: Site, offline: Any) -> None:
    # No positions on these: they would move NF-101 away from where the map journey expects it.
    produce(site.bootstrap, ALERTS, [alert(alert_id="al-nf-scope", ts=ts(-4), onset_ts=ts(-30), lat=None, lon=None)])
    produce(site.bootstrap, STOP_REQUESTS, [stop_request(request_id="sr-nf-scope", ts=ts(-4),
                                                         history=[{"status": "requested", "at": ts(-4),
                                                                   "by": "detector"}])])
    wait_for(lambda: in_store(site, AlertRow, "al-nf-scope") and in_store(site, StopRequestRow, "sr-nf-scope"),
             15, "fleet A's alert and stop request in the store")
    page = offline("desk-b")
    with page.expect_response(lambda r: r.url == f"{site.base}/events"):
        page.goto(f"{site.base}/alerts")
    produce(site.bootstrap, ALERTS, [
        alert(alert_id="al-nf-live", ts=ts(-1), onset_ts=ts(-20), lat=None, lon=None),
        alert(alert_id="al-sv-live", vehicle_id="SV-7", fleet_id="stadtvan", kind="off_hours_use", ts=ts(-1),
              onset_ts=ts(-20), evidence={"summary": "ignition on at 03:10, outside the rental period"}),
    ])
    page.locator('tr[data-id="al-sv-live"]').wait_for(timeout=10_000)
    assert page.locator("tbody tr").count() == 1
    shoot(page, "alerts-fleet-b-desktop")

    def nothing_of_a(path: str) -> str:
        page.goto(f"{site.base}{path}")
        text = page.locator("main").inner_text()
        for word in ("nordfracht", "NF-101", "NF-102", "al-nf", "sr-nf", "dispatch-a"):
            assert word not in text, f"{path} shows {word!r} to fleet B"
        return text

    assert "SV-7" in nothing_of_a("/alerts")
    nothing_of_a("/stop-requests")
    assert "SV-7" in nothing_of_a("/map")
    nothing_of_a("/audit")
    nothing_of_a("/reference")
    for path in ("/alerts/al-nf-scope", "/stop-requests/sr-nf-scope", "/alerts/al-nf-live"):
        response = page.goto(f"{site.base}{path}")
        assert response is not None and response.status == 404, path
    api = page.request.get(f"{site.base}/api/map").text()
    assert "NF-101" not in api and "nordfracht" not in api


def test_the_map_draws_the_vehicle_and_the_zone_without_internet(site: Site, offline: Any) -> None:
    page = offline("dispatch-a")
    page.goto(f"{site.base}/map")
    box = page.locator("#map")
    page.locator("#map[data-vehicles]").wait_for(state="attached")  # map.js loaded the layers
    assert "no-tiles" in (box.get_attribute("class") or "")
    assert box.get_attribute("data-vehicles") == "1", "NF-101 has a position, NF-102 none"
    assert page.locator("#map .leaflet-tile").count() == 0
    assert drawn_on_map(page, ZONE_FILL) == 1, "the protected zone is drawn"
    assert sum(drawn_on_map(page, fill) for fill in VEHICLE_FILLS) == 1, "the vehicle is drawn"
    assert page.locator("#vehicles tr[data-id=NF-101]").count() == 1
    shoot(page, "map-desktop")

    phone = offline("dispatch-a", PHONE)
    phone.goto(f"{site.base}/map")
    phone.locator("#map[data-vehicles]").wait_for(state="attached")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "no sideways scrolling"
    shoot(phone, "map-phone", full_page=False)
    shoot(phone, "map-phone-full")
