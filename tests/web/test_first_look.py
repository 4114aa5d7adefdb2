"""What a new user sees at first look (issue 22's smaller points): vehicles reach their own page from every list,
a filter by vehicle says so, speeds carry a unit and no false precision, the badges wear the map legend's colours,
trucks parked together are drawn apart, a button that deletes looks unlike one that saves, and the countdown says
in the reader's language when the request has expired."""

from __future__ import annotations

import re
from collections.abc import Iterator
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
    DESKTOP,
    add_users,
    cheap_passwords,
    requires_chromium,
    running_site,
    sign_in,
)
from tests.web.people import signed_in
from tests.web.samples import alert, stop_request
from web.db import get_engine, make_engine
from web.i18n import LANGUAGE_COOKIE
from web.migrate import upgrade_store
from web.positions import Fix, note_positions
from web.store import rfc3339, upsert_alert, upsert_stop_request

WEB = Path(__file__).resolve().parents[2] / "web"
DEPOT = (52.5694, 13.4050)
"""Three trucks of one haulier stand here side by side: GNSS puts them within a metre of each other."""
DESTRUCTIVE = re.compile(r'<button type="submit"([^>]*)>\{\{ _\("(Delete|Remove|Revoke|Deactivate|Refuse)\b')


def test_every_button_that_deletes_or_takes_away_is_marked_as_such() -> None:
    """Delete, remove, revoke, deactivate and refuse are drawn in the danger colour, never like Save."""
    found = []
    for template in sorted((WEB / "templates").rglob("*.html")):
        for match in DESTRUCTIVE.finditer(template.read_text()):
            found.append((template.name, match[2]))
            assert "danger" in match[1], f"{template.name}: the {match[2]} button looks like a save button"
    assert {verb for _, verb in found} == {"Delete", "Remove", "Revoke", "Deactivate", "Refuse"}, found


def _store_incident(app: Flask) -> None:
    now = datetime.now(UTC)
    with app.app_context(), Session(get_engine()) as session, session.begin():
        upsert_alert(session, alert(alert_id="al-1", ts=rfc3339(now - timedelta(seconds=40)),
                                    onset_ts=rfc3339(now - timedelta(seconds=50))))
        upsert_stop_request(session, stop_request(
            ts=rfc3339(now - timedelta(seconds=30)), alert_ids=["al-1"],
            history=[{"status": "requested", "at": rfc3339(now - timedelta(seconds=30)), "by": "detector"}]))


def test_the_vehicle_is_one_click_away_and_its_filter_says_so(app: Flask) -> None:
    _store_incident(app)
    officer = signed_in(app, "officer1", "law_enforcement")
    for path in ("/alerts", "/alerts/al-1", "/stop-requests", "/stop-requests/sr-0001"):
        assert 'href="/vehicles/NF-101"' in officer.get(path).get_data(as_text=True), path
    filtered = officer.get("/alerts?vehicle_id=NF-101").get_data(as_text=True)
    notice = filtered[filtered.index('id="vehicle-filter"'):]
    notice = notice[:notice.index("</p>")]
    assert "Showing only the alerts of vehicle" in notice and 'href="/vehicles/NF-101"' in notice
    assert 'href="/alerts">Show every alert' in notice
    assert 'id="vehicle-filter"' not in officer.get("/alerts").get_data(as_text=True)


def test_the_countdown_says_in_the_readers_language_that_the_request_expired(app: Flask) -> None:
    _store_incident(app)
    officer = signed_in(app, "officer1", "law_enforcement")
    officer.set_cookie(LANGUAGE_COOKIE, "de")
    page = officer.get("/stop-requests/sr-0001").get_data(as_text=True)
    expired = re.findall(r'class="countdown" data-expires="[^"]+" data-expired="([^"]+)"', page)
    assert len(expired) == 2 and "expired" not in expired[0] and expired[0] == expired[1], expired


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.mark.browser
@requires_chromium
def test_the_countdown_shows_the_pages_words_once_the_request_expired(browser: Any) -> None:
    page = browser.new_page()
    try:
        page.set_content('<time class="countdown" data-expires="2020-01-01T00:00:00Z" data-expired="abgelaufen">'
                         '1 s</time><time class="countdown" id="later" data-expires="2999-01-01T00:00:00Z">x</time>')
        page.add_script_tag(path=str(WEB / "static" / "countdown.js"))
        assert page.inner_text("time.countdown") == "abgelaufen"
        assert re.fullmatch(r"\d+ h \d\d min", page.inner_text("#later"))
    finally:
        page.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The site under waitress: three trucks standing at one depot, one driving, a parked van whose GNSS reports
    0.0039 km/h; an administrator and an ordinary second account for the users page."""
    root = tmp_path_factory.mktemp("first-look")
    settings = Settings(data_dir=root / "data")
    upgrade_store(settings.store_url)
    now = datetime.now(UTC)
    fixes = [Fix(f"HV-{n}", now - timedelta(seconds=5), DEPOT[0] + n * 2e-6, DEPOT[1], 0.0, 90.0, False)
             for n in (1, 2, 3)]
    fixes += [Fix("RV-1", now - timedelta(seconds=5), 52.5460, 13.4470, 42.0, 180.0, True),
              Fix("VAN-9", now - timedelta(seconds=5), 52.5200, 13.4100, 0.00390625, 70.1875, False)]
    engine = make_engine(settings.store_url)
    try:
        with Session(engine) as session, session.begin():
            note_positions(session, fixes)
    finally:
        engine.dispose()
    with cheap_passwords():
        add_users(settings, [("verwalter", "admin", ()), ("disponent", "fleet_operator", ("nordfracht",))])
        with running_site(settings) as url:
            yield url


@pytest.fixture(scope="module")
def admin_state(browser: Any, site: str) -> dict[str, Any]:
    """The administrator's cookies after one sign-in through the form (a second-factor code is good once)."""
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, site, "verwalter")
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture
def admin_page(browser: Any, site: str, admin_state: dict[str, Any]) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP, storage_state=admin_state)
    context.route(re.compile(r"^(?!" + re.escape(site) + ")"), lambda route: route.abort())
    yield context.new_page()
    context.close()


def _colour(page: Any, selector: str, prop: str) -> str:
    return page.eval_on_selector(selector, f"e => getComputedStyle(e).getPropertyValue('{prop}')")


def _depot_dots(page: Any) -> list[tuple[float, float]]:
    """Screen centres of the green (stopped) dots near the depot: the three parked trucks."""
    depot = page.evaluate(f"(() => {{ const p = document.getElementById('map').truckguardMap"
                          f".latLngToContainerPoint([{DEPOT[0]}, {DEPOT[1]}]); return [p.x, p.y]; }})()")
    frame = page.locator("#map").bounding_box()
    centres = []
    for path in page.locator('#map .leaflet-overlay-pane path[fill="#2e7d32"]').all():
        box = path.bounding_box()
        x, y = box["x"] + box["width"] / 2 - frame["x"], box["y"] + box["height"] / 2 - frame["y"]
        if abs(x - depot[0]) + abs(y - depot[1]) < 100:
            centres.append((x, y))
    return centres


def _apart(centres: list[tuple[float, float]], pixels: float) -> bool:
    return all(abs(a[0] - b[0]) + abs(a[1] - b[1]) >= pixels for i, a in enumerate(centres) for b in centres[i + 1:])


@pytest.mark.browser
@requires_chromium
def test_badges_wear_the_legends_colours_and_speeds_their_unit(site: str, admin_page: Any) -> None:
    page = admin_page
    page.goto(f"{site}/map")
    page.locator("#map[data-vehicles='5']").wait_for(state="attached")
    legend_moving = _colour(page, ".legend .dot-moving", "background-color")
    legend_stopped = _colour(page, ".legend .dot-stopped", "background-color")
    assert legend_moving != legend_stopped
    assert _colour(page, "tr[data-id='RV-1'] .badge-moving", "border-top-color") == legend_moving
    assert _colour(page, "tr[data-id='HV-1'] .badge-stopped", "border-top-color") == legend_stopped
    assert _colour(page, "tr[data-id='RV-1'] .badge", "background-color") != \
        _colour(page, "tr[data-id='HV-1'] .badge", "background-color")
    assert page.inner_text("tr[data-id='VAN-9'] td.num:last-child") == "0 km/h"
    assert page.inner_text("tr[data-id='RV-1'] td.num:last-child") == "42 km/h"


@pytest.mark.browser
@requires_chromium
@pytest.mark.parametrize("zoom", [None, 17], ids=["fleet_view", "zoomed_to_the_depot"])
def test_trucks_at_one_depot_are_three_dots_at_any_zoom(site: str, admin_page: Any, zoom: int | None) -> None:
    page = admin_page
    page.goto(f"{site}/map")
    page.locator("#map[data-vehicles='5']").wait_for(state="attached")
    if zoom is not None:
        page.evaluate(f"document.getElementById('map').truckguardMap.setView([{DEPOT[0]}, {DEPOT[1]}], {zoom}, "
                      "{animate: false})")
    centres = _depot_dots(page)
    assert len(centres) == 3 and _apart(centres, 8), centres


@pytest.mark.browser
@requires_chromium
def test_a_parked_vans_map_tooltip_gives_its_speed_in_whole_km_h(site: str, admin_page: Any) -> None:
    page = admin_page
    page.goto(f"{site}/vehicles/VAN-9")
    page.locator("#track-map[data-points]").wait_for(state="attached")
    page.locator('#track-map .leaflet-overlay-pane path[fill="#1565c0"]').hover(force=True)
    tooltip = page.locator("#track-map .leaflet-tooltip")
    tooltip.wait_for()
    assert tooltip.inner_text().startswith("VAN-9: 0 km/h at "), tooltip.inner_text()
    assert "0.0039" not in page.inner_text("main")


@pytest.mark.browser
@requires_chromium
def test_deactivate_looks_unlike_add(site: str, admin_page: Any) -> None:
    page = admin_page
    page.goto(f"{site}/users")
    add = page.locator("button", has_text="Add user")
    deactivate = page.locator("button", has_text="Deactivate disponent")
    colours = [b.evaluate("e => getComputedStyle(e).backgroundColor") for b in (add, deactivate)]
    assert colours[0] != colours[1], colours
