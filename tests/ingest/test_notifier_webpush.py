"""Web push against a local push service: the message is encrypted for the browser's keys (decrypted here with
http_ece as the browser would), signed with the site's VAPID key, refusals sorted, and a dropped subscription is
switched off in the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.notifier.channels import ChannelSettings, Delivery, DeliveryFailed, build_channels
from ingest.notifier.channels.webpush import SubscriptionError, parse_subscription
from ingest.notifier.notice import stop_request_notice, trial_notice
from ingest.notifier.vapid import VapidKeyError, b64url, key_path, load_or_create
from ingest.notifier.worker import Notifier, NotifierOptions
from ingest.topics import ALERTS
from tests.ingest.notifier_push_browser import Browser, verify_vapid
from tests.ingest.webhook_receiver import Receiver
from web.accounts import create_user
from web.db import make_engine, writer
from web.migrate import upgrade_store
from web.models import AuditRow
from web.notification_models import NotificationChannelRow, NotificationRow
from web.notifications import SqlNotificationStore

SITE = "https://tg.example.org"


@pytest.fixture(autouse=True)
def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """The people here never sign in: Argon2 at its real cost would only slow the tests."""
    from argon2 import PasswordHasher

    from web import passwords

    monkeypatch.setattr(passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def test_a_stop_request_reaches_a_push_service_encrypted_for_the_browser_and_signed_by_the_site(
        tmp_path: Path, receiver: Receiver) -> None:
    browser = Browser()
    subscription = parse_subscription(browser.subscription(receiver.url("/wpush/v2/abc")))
    settings = ChannelSettings(vapid_key_path=key_path(tmp_path), vapid_subject="mailto:ops@tg.example.org")
    request = {"request_id": "sr-1", "vehicle_id": "NF-101", "fleet_id": "nordfracht", "status": "requested",
               "mode": "controlled_stop", "reason": "hijack suspected, heading for the market",
               "ts": "2026-12-07T12:00:00Z"}
    notice = stop_request_notice(request, SITE)
    build_channels(settings)["webpush"].send(Delivery(subscription.endpoint, notice, "m-1", subscription.secret))

    [(path, headers, body)] = receiver.posts
    assert path == "/wpush/v2/abc"
    assert (headers["content-encoding"], headers["ttl"], headers["urgency"]) == ("aes128gcm", "900", "high")
    assert len(headers["topic"]) == 32
    site_key = load_or_create(key_path(tmp_path)).public_key  # the pair made by the first send, read back
    claims = verify_vapid(headers["authorization"], receiver.url("").rstrip("/"), site_key)
    assert claims["sub"] == "mailto:ops@tg.example.org"
    assert b"hijack" not in body  # encrypted end to end: the push service reads nothing
    shown = browser.decrypt(body)
    assert shown == {"title": notice.title, "body": "hijack suspected, heading for the market",
                     "url": f"{SITE}/stop-requests/sr-1", "severity": "critical",
                     "tag": "truckguard-stop_request-sr-1", "test": False}

    # another process (the site, a restarted notifier) signs with the same pair; a test message has no topic
    build_channels(settings)["webpush"].send(Delivery(subscription.endpoint, trial_notice("disp", SITE), "m-2",
                                                      subscription.secret))
    _, headers, body = receiver.posts[1]
    assert verify_vapid(headers["authorization"], receiver.url("").rstrip("/"), site_key)
    assert "topic" not in headers and headers["urgency"] == "normal" and browser.decrypt(body)["test"] is True


@pytest.mark.parametrize(("path", "permanent", "gone", "retry_after"), [
    ("/status/410", True, True, None), ("/status/404", True, True, None), ("/status/413", True, False, None),
    ("/status/503", False, False, None), ("/busy", False, False, 7.0)])
def test_push_service_refusals_are_sorted(tmp_path: Path, receiver: Receiver, path: str, permanent: bool,
                                          gone: bool, retry_after: float | None) -> None:
    subscription = parse_subscription(Browser().subscription(receiver.url(path)))
    channel = build_channels(ChannelSettings(vapid_key_path=key_path(tmp_path)))["webpush"]
    with pytest.raises(DeliveryFailed) as failed:
        channel.send(Delivery(subscription.endpoint, trial_notice("disp", SITE), "m", subscription.secret))
    assert (failed.value.permanent, failed.value.gone, failed.value.retry_after_s) == (permanent, gone, retry_after)


def test_subscriptions_a_browser_could_not_have_made_are_refused_with_the_field() -> None:
    good = json.loads(Browser().subscription("https://push.example.net/x"))
    for change, field in ((lambda s: s.update(endpoint="ftp://push.example.net/x"), "endpoint"),
                          (lambda s: s.update(endpoint="http://push.example.net/x"), "endpoint"),
                          (lambda s: s["keys"].update(p256dh=b64url(b"\x04" + b"1" * 10)), "keys.p256dh"),
                          (lambda s: s["keys"].update(auth="not base64 !"), "keys.auth"),
                          (lambda s: s.pop("keys"), "subscription")):
        bad = json.loads(json.dumps(good))
        change(bad)
        with pytest.raises(SubscriptionError, match=field):
            parse_subscription(json.dumps(bad))
    padded = json.loads(json.dumps(good))
    padded["keys"]["auth"] += "=="  # some browsers pad: kept in one spelling
    assert parse_subscription(json.dumps(padded)).auth == good["keys"]["auth"]


def test_a_broken_key_file_is_named_not_replaced(tmp_path: Path) -> None:
    path = key_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("not a key")
    with pytest.raises(VapidKeyError, match=r"vapid_private\.pem"):
        load_or_create(path)
    assert path.read_text() == "not a key"  # replacing it would end every browser's subscription silently


def test_a_subscription_the_push_service_dropped_is_switched_off(tmp_path: Path, receiver: Receiver) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    upgrade_store(url)
    engine = make_engine(url)
    with Session(writer(engine)) as session, session.begin():
        user = create_user(session, "disp", "correct horse battery", "fleet_operator", ["nordfracht"], actor="test")
        subscription = parse_subscription(Browser().subscription(receiver.url("/status/410")))
        session.add(NotificationChannelRow(user_id=user.user_id, kind="webpush", label="phone",
                                           target=subscription.endpoint, secret=subscription.secret, enabled=True,
                                           created_at=datetime.now(UTC)))
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    alert = {"alert_id": "a-1", "vehicle_id": "NF-101", "fleet_id": "nordfracht", "kind": "panic",
             "severity": "critical", "ts": now, "onset_ts": now, "lat": 52.5, "lon": 13.4, "score": 1.0,
             "zone_id": None, "evidence": {}}
    notifier = Notifier(SqlNotificationStore(engine),
                        build_channels(ChannelSettings(vapid_key_path=key_path(tmp_path))), NotifierOptions(SITE))
    try:
        assert notifier.handle([(ALERTS, alert)]) == 2  # web push and the open pages
        assert notifier.send_due() == 1
        with Session(engine) as session:
            channel = session.execute(select(NotificationChannelRow)).scalar_one()
            pushed = session.execute(select(NotificationRow).where(NotificationRow.channel_kind == "webpush")) \
                .scalar_one()
            audited = session.execute(select(AuditRow).where(AuditRow.action == "notifications.channel_gone")) \
                .scalar_one()
        assert channel.enabled is False and pushed.dead_at is not None and "410" in pushed.last_error
        assert audited.actor == "truckguard-notifier"
        [person] = SqlNotificationStore(engine).people()  # as the notifier sees the person from now on
        assert person.channels == ()
    finally:
        notifier.close()
        engine.dispose()
    assert len(receiver.posts) == 1


def test_the_notify_command_makes_the_key_pair_once_and_prints_its_public_half(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from truckguard.cli import main

    monkeypatch.setenv("TRUCKGUARD_DATA_DIR", str(tmp_path))
    assert main(["notify", "--vapid-public-key"]) == 0
    printed = capsys.readouterr().out.strip()
    assert main(["notify", "--vapid-public-key"]) == 0
    assert capsys.readouterr().out.strip() == printed == load_or_create(key_path(tmp_path)).public_key
    assert key_path(tmp_path).stat().st_mode & 0o777 == 0o600  # the private half: readable by its owner only
