"""In Chromium: a notice the notifier stored for a person shows on their open page, with the link to the alert; push
turned on from the settings page, and a pushed notice shown by the service worker as a system notification."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.notifier.config import push_public_key
from ingest.notifier.notice import alert_notice
from ingest.notifier.routing import ChannelConfig, PlannedDelivery
from telematics.settings import Settings
from tests.ingest.notifier_push_browser import Browser
from tests.ingest.webhook_receiver import Receiver
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
from web.notification_models import NotificationChannelRow
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


PUSH_SERVICE_STAND_IN = """
(() => {
  // Chromium subscribes through its vendor's push service, out of reach here: this stands in for that one step,
  // handing back a subscription whose keys the test holds. Service worker, permission, page and site are real.
  const made = %s;
  const key = () => Uint8Array.from(atob(localStorage.getItem("stand-in-key")), c => c.charCodeAt(0)).buffer;
  const held = () => localStorage.getItem("stand-in-key") === null ? null : Object.assign({}, made, {
    options: {applicationServerKey: key()},
    toJSON: () => made,
    unsubscribe: () => { localStorage.removeItem("stand-in-key"); return Promise.resolve(true); }});
  PushManager.prototype.subscribe = function (options) {
    if (!options.userVisibleOnly) { return Promise.reject(new DOMException("userVisibleOnly", "NotAllowedError")); }
    localStorage.setItem("stand-in-key", btoa(String.fromCharCode(...new Uint8Array(options.applicationServerKey))));
    return Promise.resolve(held());
  };
  PushManager.prototype.getSubscription = function () { return Promise.resolve(held()); };
})();
"""
SHOWN = """navigator.serviceWorker.getRegistration("/static/push-worker.js")
  .then(r => r ? r.getNotifications() : [])
  .then(shown => shown.map(n => ({title: n.title, body: n.body, tag: n.tag, url: n.data.url})))"""


def test_push_turned_on_in_chromium_shows_a_pushed_test_message_as_a_system_notification(
        site: tuple[str, Settings], receiver: Receiver) -> None:
    from playwright.sync_api import sync_playwright

    base, settings = site
    keys = Browser()
    endpoint = receiver.url("/wpush/chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=PHONE)
            context.grant_permissions(["notifications"], origin=base)
            context.add_init_script(PUSH_SERVICE_STAND_IN % keys.subscription(endpoint))
            page: Any = context.new_page()
            page.goto(f"{base}/login")
            page.fill("#username", "night-desk")
            page.fill("#password", PASSWORD)
            page.click("main button[type=submit]")
            page.wait_for_url(f"{base}/alerts")
            page.goto(f"{base}/notifications")
            page.click("#push-on")
            page.locator("#push-state-on").wait_for(timeout=10_000)  # after the page reloaded with the channel
            applied = page.evaluate("localStorage.getItem('stand-in-key')")  # the key the page subscribed with
            assert base64.b64decode(applied) == base64.urlsafe_b64decode(push_public_key(settings) + "=")
            shoot(page, "notifications-phone-push-on", full_page=False)

            row = page.locator(f"tr[data-push-endpoint='{endpoint}']")
            row.locator("form[action$='/test'] button").click()
            page.wait_for_load_state()
            [(_, _, body)] = receiver.posts
            # what Chromium does on receiving the push: decrypt with its keys, wake the worker with the plaintext
            cdp = context.new_cdp_session(page)
            registrations: list[dict[str, Any]] = []
            cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: registrations.extend(e["registrations"]))
            cdp.send("ServiceWorker.enable")
            page.wait_for_function("navigator.serviceWorker.getRegistration('/static/push-worker.js')"
                                   ".then(r => Boolean(r && r.active))")
            [worker] = [r for r in registrations if r["scopeURL"] == f"{base}/static/" and not r["isDeleted"]]
            message = keys.decrypt(body)
            cdp.send("ServiceWorker.deliverPushMessage", {"origin": base, "registrationId": worker["registrationId"],
                                                          "data": json.dumps(message)})
            # the list the wait saw (asked again, a notification the system has just closed would be gone)
            [shown] = page.wait_for_function(f"({SHOWN}).then(shown => shown.length > 0 && shown)",
                                             timeout=10_000).json_value()
            assert shown == {"title": "truckguard test message", "body": message["body"], "tag": "truckguard-test-test",
                             "url": message["url"]} and message["url"].endswith("/notifications")
        finally:
            browser.close()
    engine = make_engine(settings.store_url)
    try:
        with Session(engine) as session:
            channel = session.execute(select(NotificationChannelRow)).scalar_one()
    finally:
        engine.dispose()
    assert (channel.kind, channel.target) == ("webpush", endpoint)
