"""The notification settings page: channels with a real test message, rules, quiet hours and duty, each person's
own only; and the feed that shows browser notices on the person's open pages."""

from __future__ import annotations

import json

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.notifier.channels.webhook import verify
from ingest.notifier.notice import alert_notice
from ingest.notifier.routing import ChannelConfig, PlannedDelivery
from tests.ingest.webhook_receiver import Receiver
from tests.web.people import csrf_token, ensure_user, signed_in
from web.db import get_engine
from web.models import AuditRow
from web.notification_models import NotificationChannelRow, NotificationProfileRow, NotificationRuleRow
from web.notifications import SqlNotificationStore


def test_a_dispatcher_sets_up_a_webhook_a_rule_and_quiet_hours_and_a_test_message_arrives_signed(
        app: Flask, receiver: Receiver) -> None:
    client = signed_in(app, "disp", "fleet_operator", ("nordfracht",))
    token = csrf_token(client, "/notifications")
    added = client.post("/notifications/channels", data={"csrf_token": token, "kind": "webhook", "label": "desk",
                                                         "target": receiver.url("/desk")}, follow_redirects=True)
    page = added.get_data(as_text=True)
    assert added.status_code == 200 and "signing secret" in page
    with app.app_context(), Session(get_engine()) as session:
        channel = session.execute(select(NotificationChannelRow)).scalar_one()
        audited = session.execute(select(AuditRow).where(AuditRow.action == "notifications.channel_add")).scalar_one()
    assert channel.secret and channel.secret in page
    # a chat's webhook URL is its password: the audit trail keeps only where it points
    assert audited.actor == "disp" and audited.after["target"] == receiver.url("/…")

    response = client.post(f"/notifications/channels/{channel.channel_id}/test", data={"csrf_token": token},
                           follow_redirects=True)
    assert "Test message sent to desk" in response.get_data(as_text=True)
    [(path, headers, body)] = receiver.posts
    assert path == "/desk" and verify(channel.secret, headers, body)
    assert json.loads(body)["test"] is True

    client.post("/notifications/rules", data={"csrf_token": token, "fleet_id": "nordfracht",
                                              "kinds": ["panic", "stop_request"], "min_severity": "warning",
                                              "tier": "1", "channel_ids": [str(channel.channel_id)]})
    client.post("/notifications/profile", data={"csrf_token": token, "timezone": "Europe/Berlin",
                                                "quiet_from": "22:00", "quiet_to": "06:00", "on_duty": "on"})
    with app.app_context(), Session(get_engine()) as session:
        rule = session.execute(select(NotificationRuleRow)).scalar_one()
        profile = session.execute(select(NotificationProfileRow)).scalar_one()
    assert (rule.fleet_id, rule.kinds, rule.min_severity, rule.tier, rule.channel_ids) == \
        ("nordfracht", ["panic", "stop_request"], "warning", 1, [channel.channel_id])
    assert (profile.timezone, profile.quiet_from, profile.quiet_to) == ("Europe/Berlin", "22:00", "06:00")
    assert profile.on_duty is False and profile.browser is False  # duty is for officers; browser box unticked
    page = client.get("/notifications").get_data(as_text=True)
    assert "delivered" in page and "truckguard test message" in page


def test_wrong_input_is_refused_with_the_field_and_nobody_touches_another_persons_channel(
        app: Flask, receiver: Receiver) -> None:
    owner = signed_in(app, "disp", "fleet_operator", ("nordfracht",))
    token = csrf_token(owner, "/notifications")
    for data, field in (({"kind": "webhook", "target": "ftp://x"}, "not an http(s) URL"),
                        ({"kind": "email", "target": "nobody"}, "not an e-mail address"),
                        ({"kind": "pager", "target": "x"}, "kind: &#39;pager&#39;")):
        response = owner.post("/notifications/channels", data={"csrf_token": token, **data})
        assert response.status_code == 400 and field in response.get_data(as_text=True)
    bad_zone = owner.post("/notifications/profile", data={"csrf_token": token, "timezone": "Mars/Olympus"})
    assert bad_zone.status_code == 400 and "timezone" in bad_zone.get_data(as_text=True)
    foreign = owner.post("/notifications/rules", data={"csrf_token": token, "fleet_id": "someone-else"})
    assert foreign.status_code == 400 and "not one of your fleets" in foreign.get_data(as_text=True)
    owner.post("/notifications/channels", data={"csrf_token": token, "kind": "slack", "target": receiver.url()})

    other = signed_in(app, "rival", "fleet_operator", ("othercargo",))
    other_token = csrf_token(other, "/notifications")
    for action in ("test", "remove"):
        response = other.post(f"/notifications/channels/1/{action}", data={"csrf_token": other_token})
        assert response.status_code == 400 and "not one of yours" in response.get_data(as_text=True)
    assert receiver.posts == []
    assert "slack" in owner.get("/notifications").get_data(as_text=True)


def test_browser_notices_reach_the_persons_open_pages_once_and_nobody_elses(app: Flask) -> None:
    officer = signed_in(app, "officer1", "law_enforcement")
    other = signed_in(app, "disp", "fleet_operator", ("nordfracht",))
    user_id = ensure_user(app, "officer1", "law_enforcement").user_id
    alert = {"alert_id": "al-9", "vehicle_id": "NF-101", "fleet_id": "nordfracht", "kind": "ramming_risk",
             "severity": "critical", "ts": "2026-12-07T04:00:00Z", "evidence": {"summary": "heading for the market"}}
    notice = alert_notice(alert, "https://tg.example.org")
    with app.app_context():
        store = SqlNotificationStore(get_engine())
        planned = PlannedDelivery("k" * 64, user_id, ChannelConfig(None, "browser"), notice)
        assert store.enqueue([planned, planned], []) == 1

    first = officer.get("/notifications/events")
    assert first.mimetype == "text/event-stream"
    events = [block for block in first.get_data(as_text=True).split("\n\n") if "event: notice" in block]
    assert len(events) == 1
    data = json.loads(events[0].split("data: ", 1)[1])
    assert data["url"] == "https://tg.example.org/alerts/al-9" and data["severity"] == "critical"
    cursor = events[0].split("\n")[0].removeprefix("id: ")
    again = officer.get("/notifications/events", headers={"Last-Event-ID": cursor}).get_data(as_text=True)
    assert "event: notice" not in again
    assert "event: notice" not in other.get("/notifications/events").get_data(as_text=True)
    script = officer.get("/notifications/notify.js")
    assert script.mimetype == "text/javascript" and "/notifications/events" in script.get_data(as_text=True)


def test_the_outbox_on_postgresql_keeps_each_message_once_and_a_claim_holds_it(postgres_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import delete

    from ingest.notifier.store import Outcome
    from web.accounts import create_user
    from web.db import make_engine, writer
    from web.migrate import upgrade_store
    from web.models import UserRow
    from web.notification_models import NotificationRow

    upgrade_store(postgres_url)
    engine = make_engine(postgres_url)
    try:
        with Session(writer(engine)) as session, session.begin():
            session.execute(delete(NotificationRow))
            session.execute(delete(UserRow).where(UserRow.username == "pg-disp"))
            user = create_user(session, "pg-disp", "correct horse battery", "fleet_operator", ["nordfracht"],
                               actor="test")
            channel = NotificationChannelRow(user_id=user.user_id, kind="webhook", label="w", target="http://h/x",
                                             secret="s", enabled=True, created_at=datetime.now(UTC))
            session.add(channel)
            session.flush()
            user_id, channel_id = user.user_id, channel.channel_id
        store = SqlNotificationStore(engine)
        notice = alert_notice({"alert_id": "pg-1", "vehicle_id": "NF-101", "kind": "panic", "severity": "critical"},
                              "https://tg.example.org")
        planned = PlannedDelivery("p" * 64, user_id, ChannelConfig(channel_id, "webhook", "http://h/x", "s"), notice)
        assert store.enqueue([planned], []) == 1
        assert store.enqueue([planned], []) == 0
        now = datetime.now(UTC)
        [claimed] = store.claim(now, timedelta(seconds=60), 10)
        assert (claimed.target, claimed.secret, claimed.notice.url) == ("http://h/x", "s",
                                                                        "https://tg.example.org/alerts/pg-1")
        assert store.claim(now, timedelta(seconds=60), 10) == []  # leased to the first claimer
        store.record([Outcome(claimed.notification_id, 1, sent=True)], now)
        assert store.claim(now + timedelta(minutes=5), timedelta(seconds=60), 10) == []
    finally:
        engine.dispose()
