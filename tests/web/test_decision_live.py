"""The officer's open decision page stays current (issue 22): an alert raised while the request waits appears in its
evidence marked so, a request overtaken by events says so, and an authorisation given elsewhere replaces the decide
form with its outcome, all without a reload; live rows link their vehicle to its page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

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
from tests.web.samples import SOUTH_OF_ZONE, ZONES, alert, stop_request
from web.db import make_engine
from web.migrate import upgrade_store
from web.positions import Fix, note_position
from web.reference import put_zones
from web.stop_flow import approve
from web.store import rfc3339, upsert_alert, upsert_stop_request
from web.views import events

pytestmark = [pytest.mark.browser, requires_chromium]

INSIDE_ZONE = (52.505, 13.405)
SEEN_WITHIN_MS = 5000
"""The stream asks again every half second here (two seconds on a real site); a change shows within a few."""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("decision-live") / "data")
    upgrade_store(settings.store_url)
    with _store(settings) as session:
        put_zones(session, ZONES, actor="test")
    with cheap_passwords(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(events, "RETRY_S", 0.5)
        add_users(settings, [("officer1", "law_enforcement", ()), ("officer2", "law_enforcement", ())])
        with running_site(settings) as url:
            yield url, settings


@contextmanager
def _store(settings: Settings) -> Iterator[Session]:
    """A session on the site's store, committed on leaving: the site reads what the sink would have written."""
    engine = make_engine(settings.store_url)
    try:
        with Session(engine) as session, session.begin():
            yield session
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def officer_state(site: tuple[str, Settings]) -> Iterator[tuple[Any, dict[str, Any]]]:
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=DESKTOP)
        sign_in(context.new_page(), site[0], "officer1")
        state = context.storage_state()
        context.close()
        yield browser, state
        browser.close()


@pytest.fixture
def officer(site: tuple[str, Settings], officer_state: tuple[Any, dict[str, Any]]) -> Iterator[Any]:
    """officer1's page, signed in; a page that reloads loses ``window.notReloaded``."""
    browser, state = officer_state
    context = browser.new_context(viewport=DESKTOP, storage_state=state)
    context.set_default_timeout(SEEN_WITHIN_MS)
    yield context.new_page()
    context.close()


def _raise(settings: Settings, request_id: str, vehicle_id: str) -> None:
    """A hijacked truck 557 m south of the market at 50 km/h and the request the detector raised for it."""
    now = datetime.now(UTC)
    with _store(settings) as session:
        upsert_alert(session, alert(alert_id=f"{vehicle_id}-hijack", vehicle_id=vehicle_id, kind="hijack_suspected",
                                    severity="critical", ts=rfc3339(now - timedelta(seconds=60)),
                                    onset_ts=rfc3339(now - timedelta(seconds=70))))
        upsert_stop_request(session, stop_request(
            request_id=request_id, vehicle_id=vehicle_id, ts=rfc3339(now - timedelta(seconds=45)),
            alert_ids=[f"{vehicle_id}-hijack"], zone_id="ber-market-1",
            history=[{"status": "requested", "at": rfc3339(now - timedelta(seconds=45)), "by": "detector"}]))
        note_position(session, Fix(vehicle_id, now, *SOUTH_OF_ZONE, 50.0, 0.0, True))


def _open(page: Any, base: str, request_id: str) -> None:
    page.goto(f"{base}/stop-requests/{request_id}")
    page.evaluate("window.notReloaded = true")


def test_an_alert_raised_after_the_page_loaded_appears_marked_after_the_request(site: Any, officer: Any) -> None:
    base, settings = site
    _raise(settings, "sr-late-alert", "NF-201")
    _open(officer, base, "sr-late-alert")
    assert officer.locator("#evidence tbody tr").count() == 1
    with _store(settings) as session:
        upsert_alert(session, alert(alert_id="NF-201-intrusion", vehicle_id="NF-201", kind="protected_zone_intrusion",
                                    severity="critical", zone_id="ber-market-1", ts=rfc3339(datetime.now(UTC)),
                                    onset_ts=rfc3339(datetime.now(UTC)),
                                    evidence={"summary": "entered <b>Weihnachtsmarkt</b> at 48 km/h"}))
    row = officer.locator('#evidence tr[data-id="NF-201-intrusion"]')
    row.wait_for()
    assert "after-request" in row.get_attribute("class") and "is-new" in row.get_attribute("class")
    assert row.locator(".tag-after").inner_text() == "after the request"
    assert "Protected zone intrusion" in row.inner_text()
    assert "entered <b>Weihnachtsmarkt</b> at 48 km/h" in row.inner_text()  # text, never markup
    assert row.locator("b").count() == 0
    assert officer.locator('#evidence tr[data-id="NF-201-hijack"] .tag').inner_text() == "named by the request"
    assert officer.evaluate("window.notReloaded") is True


def test_a_request_overtaken_by_events_says_so_without_a_reload(site: Any, officer: Any) -> None:
    base, settings = site
    _raise(settings, "sr-overtaken", "NF-202")
    _open(officer, base, "sr-overtaken")
    assert officer.locator("#overtaken").count() == 0
    assert "50 km/h" in officer.inner_text("#vehicle-now") and "557 m" in officer.inner_text("#zone-distance")
    with _store(settings) as session:
        note_position(session, Fix("NF-202", datetime.now(UTC), *INSIDE_ZONE, 0.0039, 70.1875, False))
    notice = officer.locator("#overtaken")
    notice.wait_for()
    assert notice.get_attribute("role") == "alert"
    assert "Events may have overtaken this request" in notice.inner_text()
    for why in ("the vehicle has stopped", "the vehicle is already inside Weihnachtsmarkt Breitscheidplatz",
                "its ignition is off"):
        assert why in notice.inner_text()
    now = officer.inner_text("#vehicle-now")
    assert "0 km/h" in now and "heading 70° ENE" in now and "ignition off" in now
    assert officer.inner_text("#zone-distance") == "inside the zone"
    assert officer.get_by_role("button", name="Approve (first of two)").is_visible()  # the decision stays theirs
    assert officer.evaluate("window.notReloaded") is True


def test_an_authorisation_given_elsewhere_replaces_the_decide_form(site: Any, officer: Any) -> None:
    base, settings = site
    _raise(settings, "sr-elsewhere", "NF-203")
    _open(officer, base, "sr-elsewhere")
    # as tests/test_demo_journey.py clicks and waits: the page's script data must not get in its way
    officer.click("text=Approve (first of two)")
    officer.wait_for_selector("text=First approval recorded")
    officer.evaluate("window.notReloaded = true")
    assert officer.get_by_role("button", name="Authorise (second approval)").is_visible()
    with _store(settings) as session:
        approve(session, "sr-elsewhere", "officer2", "seen on the camera", ip="10.0.0.2")
    outcome = officer.locator("#decision-outcome")
    outcome.wait_for()
    assert "This request no longer waits for a decision: authorized by officer2 at" in outcome.inner_text()
    assert outcome.inner_text().endswith(": seen on the camera.")
    assert officer.locator("#decide").count() == 0 and officer.get_by_role("button", name="Refuse").count() == 0
    assert officer.locator("#decision-bar").count() == 0 and officer.locator("#time-left").count() == 0
    assert officer.inner_text("#request-status") == "authorized"
    history = officer.inner_text("#history")
    assert [history.index(w) for w in ("requested by detector", "approved 1 of 2 by officer1",
                                       "authorized by officer2")] == sorted(
        history.index(w) for w in ("requested by detector", "approved 1 of 2 by officer1", "authorized by officer2"))
    assert officer.evaluate("window.notReloaded") is True


def test_live_rows_link_their_vehicle_to_its_page(site: Any, officer: Any) -> None:
    base, settings = site
    with officer.expect_response(lambda r: r.url == f"{base}/events"):
        officer.goto(f"{base}/alerts")
    with _store(settings) as session:
        upsert_alert(session, alert(alert_id="NF-204-towing", vehicle_id="NF-204", kind="towing",
                                    ts=rfc3339(datetime.now(UTC)), onset_ts=rfc3339(datetime.now(UTC))))
    row = officer.locator('tr[data-id="NF-204-towing"].is-new')
    row.wait_for()
    assert row.get_by_role("link", name="NF-204").get_attribute("href") == "/vehicles/NF-204"

    with officer.expect_response(lambda r: r.url == f"{base}/events"):
        officer.goto(f"{base}/stop-requests")
    _raise(settings, "sr-live-row", "NF-204")
    row = officer.locator('tr[data-id="sr-live-row"].is-new')
    row.wait_for()
    assert row.get_by_role("link", name="NF-204").get_attribute("href") == "/vehicles/NF-204"
