"""The notifier's channels against real local receivers (an aiosmtpd SMTP server, an HTTP server), its outbox in
the site's store, and the whole worker through the embedded broker: exactly once, escalation, dead letters."""

from __future__ import annotations

import email
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ingest.broker import free_port
from ingest.notifier.channels import ChannelSettings, Delivery, DeliveryFailed, build_channels
from ingest.notifier.channels.webhook import verify
from ingest.notifier.delivery import RetryPolicy
from ingest.notifier.notice import alert_notice
from ingest.notifier.worker import Notifier, NotifierOptions, run_notifier
from ingest.topics import ALERTS, STOP_REQUESTS
from tests.conftest import wait_for
from tests.ingest.kafka_helpers import produce
from tests.ingest.webhook_receiver import Receiver
from web.accounts import create_user
from web.db import make_engine, writer
from web.migrate import upgrade_store
from web.models import AlertRow
from web.notification_models import NotificationChannelRow, NotificationRow, NotificationRuleRow
from web.notifications import SqlNotificationStore

SITE = "https://tg.example.org"


@pytest.fixture(autouse=True)
def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """The people here never sign in: Argon2 at its real cost would only slow the tests."""
    from argon2 import PasswordHasher

    from web import passwords

    monkeypatch.setattr(passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


class Mailbox:
    """aiosmtpd handler: keeps each message; refuses recipients at refused.example (550) and busy.example (451)."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if address.endswith("@refused.example"):
            return "550 5.1.1 no such mailbox"
        if address.endswith("@busy.example"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 Message accepted"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def _alert(severity: str = "critical", alert_id: str = "a-1", ts: datetime | None = None) -> dict:
    stamp = (ts or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"alert_id": alert_id, "vehicle_id": "NF-101", "fleet_id": "nordfracht", "kind": "hijack_suspected",
            "severity": severity, "ts": stamp, "onset_ts": stamp, "lat": 52.5, "lon": 13.4, "score": 0.9,
            "zone_id": None, "evidence": {"summary": "card removed, route left"}}


def test_email_reaches_a_real_smtp_server_and_refusals_are_sorted(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    mail = build_channels(ChannelSettings(smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
                                          smtp_from="alerts@tg.example.org"))["email"]
    notice = alert_notice(_alert(), SITE)
    mail.send(Delivery("disp@nordfracht.example", notice, "m-1"))
    [message] = mailbox.messages
    assert message["To"] == "disp@nordfracht.example" and message["From"] == "alerts@tg.example.org"
    assert "Hijack suspected" in message["Subject"] and message["Auto-Submitted"] == "auto-generated"
    assert f"{SITE}/alerts/a-1" in message.get_payload(decode=True).decode()
    with pytest.raises(DeliveryFailed) as refused:
        mail.send(Delivery("nobody@refused.example", notice, "m-2"))
    assert refused.value.permanent
    with pytest.raises(DeliveryFailed) as busy:
        mail.send(Delivery("someone@busy.example", notice, "m-3"))
    assert not busy.value.permanent
    assert mail.check_target("not-an-address") is not None


def test_webhooks_are_signed_and_chat_formats_carry_the_link(receiver: Receiver) -> None:
    channels = build_channels(ChannelSettings())
    notice = alert_notice(_alert(), SITE)
    channels["webhook"].send(Delivery(receiver.url(), notice, "msg-42", secret="k3y"))
    _, headers, body = receiver.posts[-1]
    assert verify("k3y", headers, body) and not verify("other", headers, body)
    assert not verify("k3y", headers, body.replace(b"NF-101", b"NF-102"))
    sent = json.loads(body)
    assert headers["webhook-id"] == "msg-42" == sent["id"]
    assert sent["url"] == f"{SITE}/alerts/a-1" and sent["data"]["alert_id"] == "a-1"

    channels["slack"].send(Delivery(receiver.url("/slack"), notice, "m"))
    slack = json.loads(receiver.posts[-1][2])
    assert f"<{SITE}/alerts/a-1|" in slack["text"] and slack["blocks"][-1]["elements"][0]["url"] == notice.url
    channels["teams"].send(Delivery(receiver.url("/teams"), notice, "m"))
    teams = json.loads(receiver.posts[-1][2])
    card = teams["attachments"][0]
    assert teams["type"] == "message" and card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["actions"][0] == {"type": "Action.OpenUrl", "title": "Open", "url": notice.url}
    channels["mattermost"].send(Delivery(receiver.url("/mm"), notice, "m"))
    mattermost = json.loads(receiver.posts[-1][2])
    assert f"]({notice.url})" in mattermost["text"] and mattermost["attachments"][0]["title_link"] == notice.url

    for path, permanent, retry_after in (("/status/400", True, None), ("/status/503", False, None),
                                         ("/busy", False, 7.0)):
        with pytest.raises(DeliveryFailed) as failed:
            channels["webhook"].send(Delivery(receiver.url(path), notice, "m"))
        assert (failed.value.permanent, failed.value.retry_after_s) == (permanent, retry_after)


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    upgrade_store(url)
    return url


def _person(url: str, name: str, role: str, channels: list[tuple[str, str]], tier: int | None = None) -> int:
    """A user with these (kind, target) channels and, when ``tier`` is given, a rule for critical alerts at it."""
    engine = make_engine(url)
    with Session(writer(engine)) as session, session.begin():
        user = create_user(session, name, "correct horse battery", role, ["nordfracht"], actor="test")
        for kind, target in channels:
            session.add(NotificationChannelRow(user_id=user.user_id, kind=kind, label=kind, target=target,
                                               secret="k3y" if kind == "webhook" else None, enabled=True,
                                               created_at=datetime.now(UTC)))
        if tier is not None:
            session.add(NotificationRuleRow(user_id=user.user_id, fleet_id=None, kinds=[], min_severity="critical",
                                            tier=tier, channel_ids=[], created_at=datetime.now(UTC)))
        user_id = user.user_id
    engine.dispose()
    return user_id


def _rows(url: str) -> list[NotificationRow]:
    engine = make_engine(url)
    with Session(engine) as session:
        rows = list(session.execute(select(NotificationRow).order_by(NotificationRow.notification_id)).scalars())
        session.expunge_all()
    engine.dispose()
    return rows


def test_a_receiver_that_keeps_failing_is_retried_then_dead_lettered(store_url: str, receiver: Receiver) -> None:
    _person(store_url, "disp", "fleet_operator", [("webhook", receiver.url("/status/503"))])
    engine = make_engine(store_url)
    clock = [datetime.now(UTC)]
    notifier = Notifier(SqlNotificationStore(engine), build_channels(ChannelSettings()),
                        NotifierOptions(SITE, policy=RetryPolicy(backoff_s=(2.0, 4.0))), clock=lambda: clock[0])
    try:
        assert notifier.handle([(ALERTS, _alert())]) == 2  # webhook and browser
        assert notifier.send_due() == 1
        assert notifier.send_due() == 0  # backing off
        clock[0] += timedelta(seconds=2)
        assert notifier.send_due() == 1
        clock[0] += timedelta(seconds=4)
        assert notifier.send_due() == 1
        clock[0] += timedelta(seconds=60)
        assert notifier.send_due() == 0
    finally:
        notifier.close()
        engine.dispose()
    [hook] = [r for r in _rows(store_url) if r.channel_kind == "webhook"]
    assert hook.dead_at is not None and hook.sent_at is None and hook.attempts == 3 and "503" in hook.last_error
    assert len(receiver.posts) == 3
    assert len({headers["webhook-id"] for _, headers, _ in receiver.posts}) == 1  # one message, tried three times
    engine = make_engine(store_url)
    try:  # kept for the history until the retention ends; the browser notice nobody has seen yet stays
        store = SqlNotificationStore(engine)
        assert store.prune(hook.dead_at) == 0
        assert store.prune(hook.dead_at + timedelta(seconds=1)) == 1
    finally:
        engine.dispose()
    assert [r.channel_kind for r in _rows(store_url)] == ["browser"]


def test_escalation_goes_to_the_next_tier_only_while_nobody_acknowledged(store_url: str, receiver: Receiver) -> None:
    _person(store_url, "first", "fleet_operator", [("webhook", receiver.url("/first"))], tier=0)
    _person(store_url, "second", "fleet_operator", [("webhook", receiver.url("/second"))], tier=1)
    engine = make_engine(store_url)
    clock = [datetime.now(UTC)]
    notifier = Notifier(SqlNotificationStore(engine), build_channels(ChannelSettings()),
                        NotifierOptions(SITE, escalate_after=timedelta(minutes=2)), clock=lambda: clock[0])
    try:
        notifier.handle([(ALERTS, _alert(alert_id="open-one")), (ALERTS, _alert(alert_id="acked-one"))])
        with Session(writer(engine)) as session, session.begin():  # the sink stored it, a dispatcher acknowledged
            now = datetime.now(UTC)
            session.add(AlertRow(alert_id="acked-one", vehicle_id="NF-101", fleet_id="nordfracht",
                                 kind="hijack_suspected", severity="critical", ts=now, onset_ts=now, score=0.9,
                                 evidence={}, revision=0, status="acknowledged", received_at=now, updated_at=now))
        while notifier.send_due():
            pass
        assert sorted(p for p, _, _ in receiver.posts) == ["/first", "/first"]
        clock[0] += timedelta(minutes=1)
        assert notifier.escalate() == 0
        clock[0] += timedelta(minutes=1)
        assert notifier.escalate() == 2  # webhook and browser of the second person, for the open alert only
        while notifier.send_due():
            pass
        assert notifier.escalate() == 0
    finally:
        notifier.close()
        engine.dispose()
    second = [json.loads(body) for path, _, body in receiver.posts if path == "/second"]
    assert [s["subject_id"] for s in second] == ["open-one"]


def _stop_request(*changes: str) -> dict:
    """A stop request of NF-101 raised now, moved through ``changes`` (statuses), each recorded as the site does."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    history = [{"status": "requested", "at": now, "by": "detector"}]
    history += [{"status": status, "at": now, "by": "officer2" if status == "authorized" else "command-dispatch",
                 "recorded_at": now} for status in changes]
    return {"request_id": "sr-1", "vehicle_id": "NF-101", "fleet_id": "nordfracht", "ts": now,
            "mode": "controlled_stop", "target_speed_kmh": None, "status": history[-1]["status"],
            "alert_ids": ["a-1"], "reason": "hijack suspected, heading for the market", "zone_id": None,
            "lat": 52.5, "lon": 13.4, "history": history}


@pytest.mark.slow
def test_through_the_broker_one_message_per_severity_and_outcome_and_a_restart_resends_nothing(
        tmp_path: Path, store_url: str, smtp: tuple[Mailbox, int], receiver: Receiver) -> None:
    from ingest.broker import EmbeddedBroker

    mailbox, port = smtp
    _person(store_url, "disp", "fleet_operator",
            [("email", "disp@nordfracht.example"), ("webhook", receiver.url())])
    channels = build_channels(ChannelSettings(smtp_host="127.0.0.1", smtp_port=port, smtp_security="none"))

    def start(engine: Engine) -> tuple[threading.Event, threading.Thread]:
        stop, ready = threading.Event(), threading.Event()
        notifier = Notifier(SqlNotificationStore(engine), channels, NotifierOptions(SITE))
        thread = threading.Thread(target=run_notifier, args=(notifier, broker.bootstrap, 1, stop, ready),
                                  daemon=True)
        thread.start()
        assert ready.wait(30), "the notifier never got its partitions"
        return stop, thread

    with EmbeddedBroker(free_port(), log_path=tmp_path / "broker.log") as broker:
        engine = make_engine(store_url)
        stop, thread = start(engine)
        produce(broker.bootstrap, ALERTS, [_alert("warning"), _alert("critical"), _alert("critical")])
        produce(broker.bootstrap, STOP_REQUESTS, [_stop_request(), _stop_request("authorized")])
        wait_for(lambda: len(mailbox.messages) >= 3 and len(receiver.posts) >= 3, 20, "the e-mails and webhooks")
        stop.set()
        thread.join(15)
        # a restart in the same consumer group, then the same alert and outcome again, and the next outcome:
        # only the new outcome is told
        stop, thread = start(engine)
        produce(broker.bootstrap, ALERTS, [_alert("critical")])
        produce(broker.bootstrap, STOP_REQUESTS, [_stop_request("authorized"), _stop_request("authorized", "sent")])
        wait_for(lambda: len(_rows(store_url)) == 12 and not any(
            r.sent_at is None and r.channel_kind != "browser" for r in _rows(store_url)), 10, "the outbox to be empty")
        stop.set()
        thread.join(15)
        engine.dispose()
    assert len(mailbox.messages) == 4 and len(receiver.posts) == 4
    # the two topics are read side by side, so the alert's e-mail may come before or after the outcomes'
    subjects = [" ".join(m["Subject"].split()) for m in mailbox.messages]
    assert sum("Critical" in s for s in subjects) == 1, subjects
    titles = {json.loads(body)["title"] for _, _, body in receiver.posts}
    assert titles == {"Critical: Hijack suspected — NF-101",
                      "Stop request for NF-101: authorisation needed (controlled stop)",
                      "Stop request for NF-101 authorised by officer2: controlled stop",
                      "Stop command sent to NF-101: controlled stop"}
    assert [r.channel_kind for r in _rows(store_url)] == ["email", "webhook", "browser"] * 4
