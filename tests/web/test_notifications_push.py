"""Web push from the settings page: the page offers the site's VAPID key, a browser's subscription becomes the
person's channel (once per browser, moving with the person who uses it), and a test push reaches a local push
service encrypted for that browser."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.notifier.config import push_public_key
from telematics.settings import Settings
from tests.ingest.notifier_push_browser import Browser, verify_vapid
from tests.ingest.webhook_receiver import Receiver
from tests.web.people import csrf_token, signed_in
from web.db import get_engine
from web.models import UserRow
from web.notification_models import NotificationChannelRow


def _push_channels(app: Flask) -> list[tuple[str, str, str | None, bool]]:
    with app.app_context(), Session(get_engine()) as session:
        rows = session.execute(select(UserRow.username, NotificationChannelRow.target, NotificationChannelRow.secret,
                                      NotificationChannelRow.enabled).join(UserRow, UserRow.user_id ==
                                                                           NotificationChannelRow.user_id)
                               .where(NotificationChannelRow.kind == "webpush")).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_the_page_offers_push_with_the_sites_key_and_its_service_worker(app: Flask, settings: Settings) -> None:
    client = signed_in(app, "disp", "fleet_operator", ("nordfracht",))
    page = client.get("/notifications").get_data(as_text=True)
    key = push_public_key(settings)
    assert f'data-key="{key}"' in page and len(key) == 87  # an uncompressed P-256 point, base64url
    assert "/static/push.js" in page and 'data-worker="/static/push-worker.js"' in page
    worker = client.get("/static/push-worker.js")
    assert worker.status_code == 200 and "showNotification" in worker.get_data(as_text=True)
    assert worker.mimetype == "text/javascript"  # browsers register a service worker only with a script type


def test_a_browser_subscribes_once_a_test_push_reaches_it_and_it_moves_with_its_user(
        app: Flask, settings: Settings, receiver: Receiver) -> None:
    client = signed_in(app, "disp", "fleet_operator", ("nordfracht",))
    token = csrf_token(client, "/notifications")
    endpoint = receiver.url("/wpush/v2/phone")
    first = Browser()
    added = client.post("/notifications/channels", data={"csrf_token": token, "kind": "webpush",
                                                         "label": "push: Chrome · Android",
                                                         "target": first.subscription(endpoint)},
                        follow_redirects=True)
    said = added.get_data(as_text=True)
    assert added.status_code == 200 and "Channel added." in said
    assert "signing secret" not in said and first.keys()["auth"] not in said  # the browser's secret stays unsaid
    [(user, target, secret, enabled)] = _push_channels(app)
    assert (user, target, enabled) == ("disp", endpoint, True)
    assert secret == f"{first.keys()['p256dh']}.{first.keys()['auth']}"
    page = client.get("/notifications").get_data(as_text=True)
    assert f'data-push-endpoint="{endpoint}"' in page and "push: Chrome · Android" in page

    # the same browser subscribes again (its keys renewed): still one channel, with the new keys
    renewed = Browser()
    client.post("/notifications/channels", data={"csrf_token": token, "kind": "webpush", "label": "phone",
                                                 "target": renewed.subscription(endpoint)})
    [(_, _, secret, _)] = _push_channels(app)
    assert secret == f"{renewed.keys()['p256dh']}.{renewed.keys()['auth']}"

    with app.app_context(), Session(get_engine()) as session:
        channel_id = session.execute(select(NotificationChannelRow.channel_id)).scalar_one()
    sent = client.post(f"/notifications/channels/{channel_id}/test", data={"csrf_token": token},
                       follow_redirects=True)
    assert "Test message sent to phone" in sent.get_data(as_text=True)
    [(path, headers, body)] = receiver.posts
    assert path == "/wpush/v2/phone" and renewed.decrypt(body)["test"] is True
    verify_vapid(headers["authorization"], receiver.url("").rstrip("/"), push_public_key(settings))

    # someone else signs in on that browser and turns push on: the browser is theirs now, not disp's
    other = signed_in(app, "desk2", "fleet_operator", ("nordfracht",))
    other.post("/notifications/channels", data={"csrf_token": csrf_token(other, "/notifications"),
                                                "kind": "webpush", "label": "phone",
                                                "target": renewed.subscription(endpoint)})
    assert [(u, t) for u, t, _, _ in _push_channels(app)] == [("desk2", endpoint)]

    refused = client.post("/notifications/channels", data={
        "csrf_token": token, "kind": "webpush", "label": "x",
        "target": '{"endpoint": "https://push.example.net/1", "keys": {"p256dh": "AAAA", "auth": "AAAA"}}'})
    assert refused.status_code == 400 and "keys.p256dh: 3 bytes, expected 65" in refused.get_data(as_text=True)


def test_a_renewed_subscription_takes_its_old_channels_place_and_never_touches_another_persons(
        app: Flask, receiver: Receiver) -> None:
    # What the service worker posts on pushsubscriptionchange (web/static/push-worker.js), without a browser.
    disp = signed_in(app, "disp", "fleet_operator", ("nordfracht",))
    other = signed_in(app, "desk", "rental", ("berent",))
    old, new, theirs = (receiver.url(f"/wpush/v2/{name}") for name in ("old", "new", "theirs"))
    for client, endpoint in ((disp, old), (other, theirs)):
        token = csrf_token(client, "/notifications")
        client.post("/notifications/channels", data={"csrf_token": token, "kind": "webpush", "label": "push",
                                                     "target": Browser().subscription(endpoint)})
    renewal = disp.get("/notifications/push").get_json()
    assert renewal["renew"] == "/notifications/push/renew" and len(renewal["key"]) == 87

    def renew(client: Any, old_endpoint: str, endpoint: str, token: str | None) -> Any:
        headers = {"X-CSRFToken": token} if token else {}
        return client.post("/notifications/push/renew", headers=headers, data={
            "old_endpoint": old_endpoint, "target": Browser().subscription(endpoint)})

    assert renew(disp, old, new, None).status_code == 400  # no CSRF token: refused, nothing changed
    answer = renew(disp, old, new, renewal["csrf_token"])
    assert answer.status_code == 200 and answer.get_json()["replaced"] is True
    assert sorted((user, target) for user, target, _, _ in _push_channels(app)) == [("desk", theirs), ("disp", new)]
    # naming another person's endpoint as one's new one removes nothing of theirs: it is added as one's own
    answer = renew(disp, new, theirs, renewal["csrf_token"])
    assert answer.status_code == 200
    assert ("desk", theirs) in [(user, target) for user, target, _, _ in _push_channels(app)]
    # an old endpoint this person does not hold: the new subscription is added as a channel of theirs
    added = renew(disp, "https://push.example/unknown", receiver.url("/wpush/v2/third"), renewal["csrf_token"])
    assert added.status_code == 201 and added.get_json()["replaced"] is False
