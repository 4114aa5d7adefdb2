"""In Chromium: a notice the notifier stored for a person shows on their open page, with the link to the alert."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.notifier.notice import alert_notice
from ingest.notifier.routing import ChannelConfig, PlannedDelivery
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
from web.db import make_engine
from web.migrate import upgrade_store
from web.models import UserRow
from web.notifications import SqlNotificationStore

pytestmark = [pytest.mark.browser, pytest.mark.slow, requires_chromium]


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Settings]]:
    settings = Settings(data_dir=tmp_path / "data")
    upgrade_store(settings.store_url)
    with cheap_passwords():
        add_users(settings, [("night-desk", "fleet_operator", ("nordfracht",))])
        with running_site(settings) as base:
            yield base, settings


def test_a_critical_alert_shows_on_the_open_page_with_its_link(site: tuple[str, Settings]) -> None:
    from playwright.sync_api import sync_playwright

    base, settings = site
    alert = {"alert_id": "al-77", "vehicle_id": "NF-101", "fleet_id": "nordfracht", "kind": "ramming_risk",
             "severity": "critical", "ts": "2026-12-07T04:00:00Z", "evidence": {"summary": "heading for the market"}}
    engine = make_engine(settings.store_url)
    try:
        with Session(engine) as session:
            user_id = session.execute(select(UserRow.user_id).where(UserRow.username == "night-desk")).scalar_one()
        notice = alert_notice(alert, base)
        SqlNotificationStore(engine).enqueue(
            [PlannedDelivery("b" * 64, user_id, ChannelConfig(None, "browser"), notice)], [])
    finally:
        engine.dispose()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page: Any = browser.new_page(viewport=PHONE)
            page.goto(f"{base}/login")  # a dispatcher: no second factor
            page.fill("#username", "night-desk")
            page.fill("#password", PASSWORD)
            page.click("main button[type=submit]")
            page.wait_for_url(f"{base}/alerts")
            # Every page of the site shows the person's notices: the first one after signing in shows this one.
            shown = page.locator(".notices [role=alert]")
            shown.wait_for(timeout=10_000)
            assert "Ramming risk" in shown.inner_text() and "heading for the market" in shown.inner_text()
            assert shown.locator("a").get_attribute("href") == f"{base}/alerts/al-77"
            shoot(page, "notifications-phone-notice", full_page=False)
            shown.locator("button").click()
            assert page.locator(".notices [role=alert]").count() == 0
        finally:
            browser.close()
