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
from tests.conftest import wait_for
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

SHOWING_RECORDED = """() => {
  // what the worker asks the system to show, kept in the worker: headless Chromium may close a notification that
  // needs no interaction before a page can list it
  const registration = self.registration, show = registration.showNotification.bind(registration);
  self.shownByWorker = [];
  registration.showNotification = (title, options) => {
    self.shownByWorker.push({title, body: options.body, tag: options.tag, url: options.data.url});
    return show(title, options);
  };
}"""


def _push_turned_on(browser: Any, base: str, subscription: str) -> Any:
    """A phone's page of night-desk, signed in, with web push turned on through the page's own switch (the push
    service replaced by a stand-in that hands out ``subscription``)."""
    context = browser.new_context(viewport=PHONE)
    context.grant_permissions(["notifications"], origin=base)
    context.add_init_script(PUSH_SERVICE_STAND_IN % subscription)
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("#username", "night-desk")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/alerts")
    page.goto(f"{base}/notifications")
    page.click("#push-on")
    page.locator("#push-state-on").wait_for(timeout=10_000)  # after the page reloaded with the channel
    return page


def test_push_turned_on_in_chromium_shows_a_pushed_test_message_as_a_system_notification(
        site: tuple[str, Settings], receiver: Receiver) -> None:
    from playwright.sync_api import sync_playwright

    base, settings = site
    keys = Browser()
    endpoint = receiver.url("/wpush/chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = _push_turned_on(browser, base, keys.subscription(endpoint))
            context = page.context
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
            # polled here: Playwright's wait_for_function answers a promise-valued expression at its first look
            wait_for(lambda: page.evaluate("navigator.serviceWorker.getRegistration('/static/push-worker.js')"
                                           ".then(r => Boolean(r && r.active))"), 10, "the worker active", 0.1)
            wait_for(lambda: any(r["scopeURL"] == f"{base}/static/" for r in registrations), 10,
                     "the worker's registration", 0.1)
            [worker] = [r for r in registrations if r["scopeURL"] == f"{base}/static/" and not r["isDeleted"]][-1:]
            [running] = context.service_workers or [context.wait_for_event("serviceworker")]
            running.evaluate(SHOWING_RECORDED)
            message = keys.decrypt(body)
            cdp.send("ServiceWorker.deliverPushMessage", {"origin": base, "registrationId": worker["registrationId"],
                                                          "data": json.dumps(message)})
            [shown] = wait_for(lambda: running.evaluate("() => self.shownByWorker"), 10,
                               "the notification the worker showed", 0.1)
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


WORKER_STAND_IN = """
keys => {
  // in the worker, the same stand-in as on the page: each subscribe hands back the next subscription the test made
  const made = keys.map(JSON.parse);
  self.standInHeld = null;
  PushManager.prototype.getSubscription = () => Promise.resolve(self.standInHeld);
  PushManager.prototype.subscribe = function (options) {
    const next = made.shift();
    self.standInHeld = Object.assign({}, next, {options: {applicationServerKey: options.applicationServerKey},
                                                toJSON: () => next});
    return Promise.resolve(self.standInHeld);
  };
}
"""


def test_a_rotated_subscription_replaces_the_persons_channel_found_by_the_old_endpoint(
        site: tuple[str, Settings], receiver: Receiver) -> None:
    from playwright.sync_api import sync_playwright

    base, settings = site
    endpoints = [receiver.url(f"/wpush/{name}") for name in ("first", "rotated", "again")]
    keys = [Browser() for _ in endpoints]
    stray, elsewhere = Browser(), receiver.url("/wpush/stray")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = _push_turned_on(browser, base, keys[0].subscription(endpoints[0]))
            context = page.context
            [(channel_id, target)] = _push_channels(settings)
            assert target == endpoints[0]
            # without the token the site refuses, as it refuses any cross-site form
            refused = page.evaluate("""fetch("/notifications/push/renew", {method: "POST", body: new FormData()})
                                       .then(answer => answer.status)""")
            assert refused == 400

            [worker] = context.service_workers or [context.wait_for_event("serviceworker")]
            worker.evaluate(WORKER_STAND_IN, [k.subscription(e) for k, e in zip(keys[1:], endpoints[1:], strict=True)])
            # Firefox's event carries the old subscription; Chromium's carries none: then the endpoint push.js saved
            carried = worker.evaluate("old => self.renewPushSubscription({endpoint: old})", endpoints[0])
            assert carried == {"channel_id": channel_id, "replaced": True}
            assert _push_channels(settings) == [(channel_id, endpoints[1])]
            # dropped this time: the browser holds no subscription, and the worker makes one
            bare = worker.evaluate("() => { self.standInHeld = null; return self.renewPushSubscription(null); }")
            assert bare == {"channel_id": channel_id, "replaced": True}
            # an old endpoint this person does not hold: nothing to replace, so the subscription is added
            added = page.evaluate("""([old, made]) => fetch("/notifications/push").then(a => a.json()).then(site => {
                const form = new FormData();
                form.append("old_endpoint", old);
                form.append("target", made);
                return fetch(site.renew, {method: "POST", body: form, headers: {"X-CSRFToken": site.csrf_token}});
              }).then(answer => answer.json())""", [receiver.url("/wpush/elsewhere"), stray.subscription(elsewhere)])
            assert added["replaced"] is False and added["channel_id"] != channel_id
        finally:
            browser.close()
    engine = make_engine(settings.store_url)
    try:
        with Session(engine) as session:
            channel = session.get_one(NotificationChannelRow, channel_id)
    finally:
        engine.dispose()
    held = keys[2].keys()
    assert (channel.channel_id, channel.target, channel.enabled) == (channel_id, endpoints[2], True)
    assert channel.secret == f"{held['p256dh']}.{held['auth']}"


def _push_channels(settings: Settings) -> list[tuple[int, str]]:
    engine = make_engine(settings.store_url)
    try:
        with Session(engine) as session:
            return [(c.channel_id, c.target) for c in session.execute(
                select(NotificationChannelRow).where(NotificationChannelRow.kind == "webpush")).scalars()]
    finally:
        engine.dispose()
