"""In Chromium: text from the data (a plate with markup in it) stays text in the map's tooltips and popups."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from telematics.settings import Settings
from tests.web.browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    add_users,
    cheap_passwords,
    requires_chromium,
    running_site,
    sign_in,
)
from web.db import make_engine
from web.migrate import upgrade_store
from web.positions import Fix, note_position
from web.reference import announce_change, put_fleet_document
from web.scope import Scope

pytestmark = [pytest.mark.browser, pytest.mark.slow, requires_chromium]

PLATE = '<a id="planted" href="https://attacker.example/">B-XY 1</a><img src=x onerror="window.ran=1">'


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("markup")
    settings = Settings(data_dir=root / "data")
    upgrade_store(settings.store_url)
    engine = make_engine(settings.store_url)
    try:
        with Session(engine) as session, session.begin():
            # Stored as an older release allowed, before ids and plates were checked at the API.
            put_fleet_document(session, {
                "fleets": [{"fleet_id": "ber-haul", "name": "Berlin Haulage", "kind": "haulier",
                            "timezone": "Europe/Berlin"}],
                "vehicles": [{"vehicle_id": "BH-1", "fleet_id": "ber-haul", "category": "N3", "plate": PLATE}],
            }, Scope(None), actor="test")
            announce_change(session)
            note_position(session, Fix("BH-1", datetime.now(UTC), 52.52, 13.40, speed_kmh=30.0, heading_deg=90.0))
    finally:
        engine.dispose()
    with cheap_passwords():
        add_users(settings, [("dispatch-x", "fleet_operator", ("ber-haul",))])
        with running_site(settings) as base:
            yield base


def test_a_plate_with_markup_shows_as_text_in_the_map_tooltip_and_popup(site: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page: Any = browser.new_page(viewport={"width": 1280, "height": 900})
            sign_in(page, site, "dispatch-x")
            page.goto(f"{site}/map")
            page.locator("#map[data-vehicles='1']").wait_for(state="attached")
            marker = page.locator("#map .leaflet-overlay-pane path.leaflet-interactive").last
            marker.hover()
            tooltip = page.locator(".leaflet-tooltip")
            tooltip.wait_for()
            assert PLATE in tooltip.inner_text()
            marker.click()
            popup = page.locator(".leaflet-popup-content")
            popup.wait_for()
            assert PLATE in popup.inner_text()
            assert page.locator("#planted").count() == 0 and page.locator(".leaflet-pane img[src=x]").count() == 0
            assert page.evaluate("window.ran") is None
        finally:
            browser.close()
