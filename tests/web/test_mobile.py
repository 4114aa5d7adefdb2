"""On a phone and in each role's language: the officer decides a stop request and a dispatcher reads an alert on a
390 px wide screen, and every role walks its pages in two languages, in one Chromium against the real site."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from telematics.geo import destination
from telematics.settings import Settings
from tests.bundles import FLEET, MARKET_CENTRE, ZONES, write_bundle
from tests.web.browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PASSWORD,
    PHONE,
    add_users,
    cheap_passwords,
    requires_chromium,
    running_site,
    shoot,
    totp_code,
    ts,
)
from tests.web.samples import alert, stop_request
from web.db import make_engine
from web.i18n import LANGUAGE_COOKIE
from web.positions import Fix, note_positions, note_track_points
from web.reference import import_reference
from web.store import upsert_alert, upsert_stop_request

pytestmark = [pytest.mark.browser, pytest.mark.slow, requires_chromium]

ZONE = ZONES["features"][0]["properties"]
USERS = [("disponent", "fleet_operator", ("nordfracht",)), ("vermieter", "rental", ("stadtvan",)),
         ("polizei-1", "law_enforcement", ()), ("verwalter", "admin", ())]


def _seed(settings: Settings) -> None:
    """NF-101 driving south at 40 km/h towards the market for two minutes, the ramming-risk alert it raised and
    the stop request waiting for officers."""
    now = datetime.now(UTC)
    fixes = []
    for i in range(20):
        lat, lon = destination(MARKET_CENTRE[0], MARKET_CENTRE[1], 0, 1500 - i * 66)
        fixes.append(Fix("NF-101", now - timedelta(seconds=6 * (19 - i)), lat, lon, 40.0, 180.0, True))
    engine = make_engine(settings.store_url)
    try:
        with Session(engine) as session, session.begin():
            note_positions(session, [fixes[-1]])
            note_track_points(session, fixes)
            upsert_alert(session, alert(
                alert_id="al-ram-1", kind="ramming_risk", severity="critical", ts=ts(-30), onset_ts=ts(-60),
                lat=fixes[-5].lat, lon=fixes[-5].lon, score=0.91, zone_id=ZONE["zone_id"],
                evidence={"summary": "40 km/h straight at the Christmas market, 290 m to go", "speed_kmh": 40.0,
                          "distance_m": 290.0, "heading_deg": 180.796875}))
            upsert_stop_request(session, stop_request(
                request_id="sr-phone-1", ts=ts(-20), zone_id=ZONE["zone_id"], lat=fixes[-1].lat, lon=fixes[-1].lon,
                alert_ids=["al-ram-1"], reason="40 km/h towards the Breitscheidplatz Christmas market",
                history=[{"status": "requested", "at": ts(-20), "by": "detector"}]))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The site under waitress on a store with the Berlin fleets, the market zone, four accounts and an incident;
    stop requests wait ten minutes before they expire, so the countdown runs through the whole module."""
    root = tmp_path_factory.mktemp("mobile")
    settings = Settings(data_dir=root / "data", stop_request_expiry_s=600.0)
    with cheap_passwords():
        import_reference(settings.store_url, write_bundle(root / "bundle", [], fleet=FLEET, zones=ZONES))
        add_users(settings, USERS)
        _seed(settings)
        with running_site(settings) as url:
            yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def signed_in_states() -> dict[str, Any]:
    """Each user's cookies after their first sign-in through the form: a second factor code is good once, so a
    user is signed in once per module."""
    return {}


@pytest.fixture
def open_page(browser: Any, base: str, signed_in_states: dict[str, Any]) -> Iterator[Any]:
    """Opens pages as ``(username, locale, viewport)``: each in a new browser context whose Accept-Language is
    ``locale``, signed in, that may reach only the site; every context is closed afterwards."""
    contexts: list[Any] = []

    def open_as(username: str, locale: str, viewport: dict[str, int]) -> Any:
        context = browser.new_context(viewport=viewport, locale=locale, is_mobile=viewport is PHONE,
                                      has_touch=viewport is PHONE, storage_state=signed_in_states.get(username))
        contexts.append(context)
        context.route(re.compile(r"^(?!" + re.escape(base) + ")"), lambda route: route.abort())
        page = context.new_page()
        if username not in signed_in_states:
            page.goto(f"{base}/login")
            page.fill("#username", username)
            page.fill("#password", PASSWORD)
            page.fill("#code", totp_code(username))
            page.locator("main button[type=submit]").click()
            page.wait_for_url(f"{base}/alerts")
            signed_in_states[username] = context.storage_state()
        else:
            page.goto(f"{base}/alerts")
        return page

    yield open_as
    for context in contexts:
        context.close()


def _fits(page: Any) -> None:
    """Nothing on the page is wider than the screen: no sideways scrolling on a phone."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width} px wide"


def _in_view(page: Any, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    size = page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= size["height"] and box["x"] >= 0 \
        and box["x"] + box["width"] <= size["width"]


def test_an_officer_decides_a_stop_request_on_a_phone(open_page: Any, base: str) -> None:
    page = open_page("polizei-1", "de-DE", PHONE)
    _fits(page)
    page.goto(f"{base}/stop-requests/sr-phone-1")
    _fits(page)
    assert page.locator("html").get_attribute("lang") == "de"
    shoot(page, "phone-de-stop-request-top", full_page=False)
    # The countdown to expiry stays on screen wherever the officer is on the page.
    bar = "#decision-bar"
    assert _in_view(page, bar) and re.fullmatch(r"\d+ min \d\d s", page.locator(f"{bar} time").inner_text())
    for target in ("#map", "#evidence", "#decide-heading"):
        page.locator(target).scroll_into_view_if_needed()
        assert _in_view(page, bar), f"the countdown scrolled away at {target}"
    assert page.locator("#map").bounding_box()["width"] >= 300
    assert page.locator("#evidence td").first.is_visible()
    shoot(page, "phone-de-stop-request-decide", full_page=False)
    page.locator(f"{bar} a").click()
    assert _in_view(page, "#decide-heading")
    page.get_by_role("button", name="Zustimmen (erste von zwei)").click()
    page.wait_for_url(f"{base}/stop-requests/sr-phone-1")
    assert "1 von 2 Zustimmungen" in page.locator("#history").inner_text()
    shoot(page, "phone-de-stop-request-approved", full_page=True)


def test_a_dispatcher_reads_and_acknowledges_an_alert_on_a_phone(open_page: Any, base: str) -> None:
    page = open_page("disponent", "en-GB", PHONE)
    row = page.locator('tr[data-id="al-ram-1"]')
    assert "Ramming risk" in row.inner_text() and "critical" in row.inner_text()
    _fits(page)
    shoot(page, "phone-en-alerts", full_page=False)
    row.get_by_role("link").first.click()
    page.wait_for_url(f"{base}/alerts/al-ram-1")
    _fits(page)
    facts = page.locator("dl.facts").first.inner_text()
    assert "Christmas market" in facts or ZONE["zone_id"] in facts
    assert page.locator(".map").first.bounding_box()["width"] >= 300
    page.locator("#note").fill("Driver called: no answer. Police informed.")
    shoot(page, "phone-en-alert", full_page=True)
    page.get_by_role("button", name="Acknowledge").click()
    page.wait_for_url(f"{base}/alerts/al-ram-1")
    assert page.locator("#alert-status").inner_text() == "acknowledged"
    assert "acknowledged by disponent" in page.locator(".history").inner_text()


def _switch(page: Any, language: str) -> None:
    """Presses the page's language button and waits for the page to come back in that language."""
    page.locator(f'.language-switch button[value="{language}"]').click()
    page.wait_for_function(f'document.documentElement.lang === "{language}"')


JOURNEYS = {
    # role: (user, first locale, second language, [(path, heading in the first, heading in the second)])
    "fleet_operator": ("disponent", "de-DE", "en", [("/alerts", "Aktuelle Alarme", "Live alerts"),
                                                     ("/map", "Flottenkarte", "Fleet map")]),
    "rental": ("vermieter", "sv-SE", "es", [("/alerts", "Aktuella larm", "Alertas en directo"),
                                            ("/reference", "Referensdata", "Datos de referencia")]),
    "law_enforcement": ("polizei-1", "fr-FR", "de", [("/stop-requests", "Demandes d'arrêt à distance",
                                                      "Fernstopp-Anforderungen"),
                                                     ("/audit", "Journal d'audit", "Prüfprotokoll")]),
    "admin": ("verwalter", "es-ES", "fr", [("/users", "Usuarios", "Utilisateurs"),
                                           ("/account", "Su cuenta", "Votre compte")]),
}


@pytest.mark.parametrize("role", list(JOURNEYS))
def test_each_role_walks_its_pages_in_two_languages(open_page: Any, base: str, role: str) -> None:
    user, locale, second, stops = JOURNEYS[role]
    page = open_page(user, locale, DESKTOP)
    first = locale[:2]
    for language in (first, second):
        # In the second language one page shows the switch took (the first language showed them all).
        for path, *headings in stops if language == first else stops[:1]:
            page.goto(f"{base}{path}")
            assert page.locator("html").get_attribute("lang") == language
            assert page.locator("h1").first.inner_text() == headings[language == second]
            shoot(page, f"journey-{role}-{language}-{path.strip('/')}", full_page=False)
        if language == first:
            _switch(page, second)
            assert page.locator(f'.language-switch button[value="{second}"]').get_attribute("aria-pressed") == "true"
    # The choice went with the account: without this browser's language cookie, and still asking for the first
    # language, the site keeps to the second.
    page.context.clear_cookies(name=LANGUAGE_COOKIE)
    page.set_viewport_size(PHONE)
    page.goto(f"{base}{stops[0][0]}")
    assert page.locator("html").get_attribute("lang") == second
    _fits(page)
