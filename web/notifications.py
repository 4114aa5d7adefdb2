"""The notification store: people's profiles, channels and rules, the notifier's outbox and escalations, kept in
the site's database (the notifier reaches it through ingest.notifier.store.NotificationStore)."""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time as monotonic
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ingest.notifier.channels import KINDS as CHANNEL_KINDS
from ingest.notifier.channels import Channel
from ingest.notifier.channels.posting import redact
from ingest.notifier.channels.webpush import SubscriptionError, parse_subscription
from ingest.notifier.config import push_public_key
from ingest.notifier.notice import SEVERITY_RANK, Notice
from ingest.notifier.routing import (
    BROWSER,
    MAX_TIER,
    STOP_REQUEST_KIND,
    Area,
    ChannelConfig,
    Escalation,
    Person,
    PlannedDelivery,
    Rule,
)
from ingest.notifier.store import Claimed, Outcome
from ingest.notifier.vapid import VapidKeyError
from telematics.errors import BadInput
from telematics.kinds import ALERT_KINDS
from telematics.settings import Settings
from web.audit import record as audit
from web.db import writer
from web.models import AlertRow, UserRow
from web.notification_models import (
    NotificationChannelRow,
    NotificationEscalationRow,
    NotificationProfileRow,
    NotificationRow,
    NotificationRuleRow,
)

log = logging.getLogger(__name__)

PEOPLE_REFRESH_S = 2.0
"""A change on the settings page reaches the notifier within this."""
RULE_KINDS = (*ALERT_KINDS, STOP_REQUEST_KIND)
CHANNELS_PER_USER = 20
RULES_PER_USER = 50
WEBPUSH = "webpush"
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class NotificationInputError(BadInput):
    """A notification setting that cannot be used; the message names the field and what was expected."""


def _now() -> datetime:
    return datetime.now(UTC)


def _insert(session: Session, table: Any) -> Any:
    return (postgresql if session.get_bind().dialect.name == "postgresql" else sqlite).insert(table)


def _hhmm(value: str | None) -> time | None:
    return time.fromisoformat(value) if value else None


def person_of(user: UserRow, profile: NotificationProfileRow | None, channels: Iterable[NotificationChannelRow],
              rules: Iterable[NotificationRuleRow]) -> Person:
    """The notifier's view of one user."""
    p = profile
    area = Area(frozenset(p.area_zone_ids or ()), p.area_lat, p.area_lon, p.area_radius_km) if p else Area()
    return Person(
        user_id=user.user_id, username=user.username, role=user.role, fleet_ids=frozenset(user.fleet_ids or ()),
        timezone=p.timezone if p else "UTC", quiet_from=_hhmm(p.quiet_from) if p else None,
        quiet_to=_hhmm(p.quiet_to) if p else None, on_duty=bool(p.on_duty) if p else False, area=area,
        browser=bool(p.browser) if p else True,
        channels=tuple(ChannelConfig(c.channel_id, c.kind, c.target, c.secret or "") for c in channels if c.enabled),
        rules=tuple(Rule(r.fleet_id, frozenset(r.kinds or ()), r.min_severity, r.tier, frozenset(r.channel_ids or ()))
                    for r in rules))


def load_people(session: Session) -> list[Person]:
    users = session.execute(select(UserRow).where(UserRow.active.is_(True))).scalars().all()
    profiles = {p.user_id: p for p in session.execute(select(NotificationProfileRow)).scalars()}
    channels: dict[int, list[NotificationChannelRow]] = {}
    for c in session.execute(select(NotificationChannelRow).order_by(NotificationChannelRow.channel_id)).scalars():
        channels.setdefault(c.user_id, []).append(c)
    rules: dict[int, list[NotificationRuleRow]] = {}
    for r in session.execute(select(NotificationRuleRow).order_by(NotificationRuleRow.rule_id)).scalars():
        rules.setdefault(r.user_id, []).append(r)
    return [person_of(u, profiles.get(u.user_id), channels.get(u.user_id, ()), rules.get(u.user_id, ()))
            for u in users]


def _delivery_row(d: PlannedDelivery, now: datetime) -> dict[str, Any]:
    return {"dedupe_key": d.dedupe_key, "user_id": d.user_id, "channel_id": d.channel.channel_id,
            "channel_kind": d.channel.kind, "subject": d.notice.subject, "subject_id": d.notice.subject_id,
            "severity": d.notice.severity, "tier": d.tier, "notice": d.notice.to_dict(), "created_at": now,
            "attempts": 0}


def _insert_deliveries(session: Session, deliveries: list[PlannedDelivery], now: datetime) -> int:
    added = 0
    for d in deliveries:  # one statement each: the rowcount says whether this key was new
        statement = _insert(session, NotificationRow.__table__).values(**_delivery_row(d, now)) \
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
        added += session.execute(statement, execution_options={"preserve_rowcount": True}).rowcount
    return added


NOTIFIER_ACTOR = "truckguard-notifier"


def _switch_off_gone(session: Session, channel_id: int, error: str | None) -> None:
    """A channel whose address the receiver says is gone for good (a push subscription the browser dropped or that
    expired) is switched off, so no later message is tried on it; the person sees it on the settings page."""
    channel = session.get(NotificationChannelRow, channel_id)
    if channel is None or not channel.enabled:
        return
    channel.enabled = False
    audit(session, NOTIFIER_ACTOR, "notifications.channel_gone", "notification_channel", str(channel_id),
          before={"enabled": True}, after={"enabled": False, "kind": channel.kind, "error": error})


class SqlNotificationStore:
    """ingest.notifier.store.NotificationStore on the site's database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._people: tuple[float, list[Person]] = (float("-inf"), [])

    def people(self) -> list[Person]:
        with self._lock:
            looked_at, people = self._people
            if monotonic.monotonic() - looked_at >= PEOPLE_REFRESH_S:
                with Session(self.engine) as session:
                    people = load_people(session)
                self._people = (monotonic.monotonic(), people)
            return people

    def enqueue(self, deliveries: list[PlannedDelivery], escalations: list[Escalation]) -> int:
        now = _now()
        with Session(writer(self.engine)) as session, session.begin():
            added = _insert_deliveries(session, deliveries, now)
            for e in escalations:
                session.execute(_insert(session, NotificationEscalationRow.__table__).values(
                    alert_id=e.alert_id, tier=e.tier, alert=e.alert, due_at=e.due_at)
                    .on_conflict_do_nothing(index_elements=["alert_id", "tier"]))
        return added

    def claim(self, now: datetime, lease: timedelta, limit: int) -> list[Claimed]:
        with Session(writer(self.engine)) as session, session.begin():
            query = select(NotificationRow).where(
                NotificationRow.sent_at.is_(None), NotificationRow.dead_at.is_(None),
                NotificationRow.channel_kind != BROWSER,
                or_(NotificationRow.next_try_at.is_(None), NotificationRow.next_try_at <= now),
                or_(NotificationRow.claimed_until.is_(None), NotificationRow.claimed_until <= now),
            ).order_by(NotificationRow.notification_id).limit(limit)
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = list(session.execute(query).scalars())
            if not rows:
                return []
            ids = {r.channel_id for r in rows if r.channel_id is not None}
            channels = {c.channel_id: c for c in session.execute(
                select(NotificationChannelRow).where(NotificationChannelRow.channel_id.in_(ids))).scalars()}
            claimed = []
            for row in rows:
                row.claimed_until = now + lease
                channel = channels.get(row.channel_id) if row.channel_id is not None else None
                gone = channel is None or not channel.enabled or channel.user_id != row.user_id
                claimed.append(Claimed(row.notification_id, row.dedupe_key, row.channel_kind,
                                       channel.target if channel else "", (channel.secret or "") if channel else "",
                                       Notice.from_dict(row.notice), row.attempts, channel_gone=gone))
            return claimed

    def record(self, outcomes: list[Outcome], now: datetime) -> None:
        with Session(writer(self.engine)) as session, session.begin():
            for o in outcomes:
                row = session.get(NotificationRow, o.notification_id)
                if row is None or row.sent_at is not None:
                    continue
                row.attempts, row.claimed_until, row.last_error = o.attempts, None, o.error
                if o.sent:
                    row.sent_at = now
                elif o.dead:
                    row.dead_at = now
                    if o.target_gone and row.channel_id is not None:
                        _switch_off_gone(session, row.channel_id, o.error)
                else:
                    row.next_try_at = o.next_try_at

    def due_escalations(self, now: datetime) -> list[Escalation]:
        with Session(self.engine) as session:
            rows = session.execute(select(NotificationEscalationRow).where(
                NotificationEscalationRow.done_at.is_(None), NotificationEscalationRow.due_at <= now)
                .order_by(NotificationEscalationRow.due_at)).scalars()
            return [Escalation(r.alert_id, r.tier, r.due_at, r.alert) for r in rows]

    def alert_open(self, alert_id: str) -> bool:
        """Unacknowledged: open in the store, or not stored yet (the sink may lag behind the notifier)."""
        with Session(self.engine) as session:
            status = session.execute(select(AlertRow.status).where(AlertRow.alert_id == alert_id)).scalar_one_or_none()
            return status in (None, "open")

    def finish_escalation(self, escalation: Escalation, deliveries: list[PlannedDelivery], outcome: str,
                          now: datetime) -> int:
        with Session(writer(self.engine)) as session, session.begin():
            taken = session.execute(update(NotificationEscalationRow).where(
                NotificationEscalationRow.alert_id == escalation.alert_id,
                NotificationEscalationRow.tier == escalation.tier, NotificationEscalationRow.done_at.is_(None))
                .values(done_at=now, outcome=outcome), execution_options={"preserve_rowcount": True}).rowcount
            return _insert_deliveries(session, deliveries, now) if taken else 0


    def prune(self, before: datetime) -> int:
        """Deletes messages sent or dead before ``before`` and escalations decided before it."""
        with Session(writer(self.engine)) as session, session.begin():
            removed = session.execute(delete(NotificationRow).where(or_(
                NotificationRow.sent_at < before, NotificationRow.dead_at < before)),
                execution_options={"preserve_rowcount": True}).rowcount
            session.execute(delete(NotificationEscalationRow).where(NotificationEscalationRow.done_at < before))
        return removed


# --- the settings page ----------------------------------------------------------------------------------------


def push_key(settings: Settings) -> str:
    """The site's web-push public key for the settings page (the pair is made in the data folder on first use);
    empty, and the page offers no push, when the key file cannot be read or made."""
    try:
        return push_public_key(settings)
    except (OSError, VapidKeyError) as exc:
        log.error("web push is off: %s", exc)
        return ""


@dataclass(frozen=True)
class ProfileForm:
    timezone: str = "UTC"
    quiet_from: str = ""
    quiet_to: str = ""
    on_duty: bool = False
    area_zone_ids: tuple[str, ...] = ()
    area_lat: float | None = None
    area_lon: float | None = None
    area_radius_km: float | None = None
    browser: bool = True


def get_profile(session: Session, user: UserRow) -> NotificationProfileRow:
    """The user's profile, or the defaults (not stored) when they never saved one."""
    row = session.get(NotificationProfileRow, user.user_id)
    return row or NotificationProfileRow(user_id=user.user_id, timezone="UTC", on_duty=False, area_zone_ids=[],
                                         browser=True)


def _profile_dict(row: NotificationProfileRow) -> dict[str, Any]:
    return {"timezone": row.timezone, "quiet_from": row.quiet_from, "quiet_to": row.quiet_to,
            "on_duty": bool(row.on_duty), "area_zone_ids": list(row.area_zone_ids or []), "area_lat": row.area_lat,
            "area_lon": row.area_lon, "area_radius_km": row.area_radius_km, "browser": bool(row.browser)}


def save_profile(session: Session, user: UserRow, form: ProfileForm, *, ip: str | None = None) -> None:
    try:
        ZoneInfo(form.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise NotificationInputError(f"timezone: {form.timezone!r} is not an IANA time zone such as "
                                     "Europe/Berlin") from None
    for name, value in (("quiet_from", form.quiet_from), ("quiet_to", form.quiet_to)):
        if value and not _HHMM.match(value):
            raise NotificationInputError(f"{name}: {value!r}, expected HH:MM")
    if bool(form.quiet_from) != bool(form.quiet_to):
        raise NotificationInputError("quiet hours: give both the start and the end, or neither")
    circle = (form.area_lat, form.area_lon, form.area_radius_km)
    if any(v is not None for v in circle) and any(v is None for v in circle):
        raise NotificationInputError("area: give latitude, longitude and radius together, or none of them")
    if form.area_lat is not None and not -90 <= form.area_lat <= 90:
        raise NotificationInputError(f"area latitude: {form.area_lat}, expected -90 to 90")
    if form.area_lon is not None and not -180 <= form.area_lon <= 180:
        raise NotificationInputError(f"area longitude: {form.area_lon}, expected -180 to 180")
    if form.area_radius_km is not None and not 0 < form.area_radius_km <= 1000:
        raise NotificationInputError(f"area radius: {form.area_radius_km} km, expected more than 0 and at most 1000")
    row = session.get(NotificationProfileRow, user.user_id)
    before = _profile_dict(row) if row else None
    if row is None:
        row = NotificationProfileRow(user_id=user.user_id)
        session.add(row)
    row.timezone, row.quiet_from, row.quiet_to = form.timezone, form.quiet_from or None, form.quiet_to or None
    row.on_duty = form.on_duty and user.role == "law_enforcement"
    row.area_zone_ids = sorted(set(form.area_zone_ids))
    row.area_lat, row.area_lon, row.area_radius_km = circle
    row.browser, row.updated_at = form.browser, _now()
    audit(session, user.username, "notifications.profile", "user", str(user.user_id), before=before,
          after=_profile_dict(row), ip=ip)


def list_channels(session: Session, user: UserRow) -> list[NotificationChannelRow]:
    return list(session.execute(select(NotificationChannelRow).where(NotificationChannelRow.user_id == user.user_id)
                                .order_by(NotificationChannelRow.channel_id)).scalars())


def add_push_subscription(session: Session, user: UserRow, label: str, subscription_json: str, *,
                          ip: str | None = None) -> NotificationChannelRow:
    """This browser's web-push subscription as one of the person's channels (target: the endpoint; secret: the
    browser's keys). Subscribing again from the same browser updates its keys. An endpoint belongs to one browser
    profile: held by another person (who signed out there), it moves to this one, so nobody's notices land on a
    browser someone else now uses."""
    try:
        subscription = parse_subscription(subscription_json)
    except SubscriptionError as exc:
        raise NotificationInputError(str(exc)) from None
    label = (label.strip() or "web push")[:100]
    held = session.execute(select(NotificationChannelRow).where(
        NotificationChannelRow.kind == WEBPUSH, NotificationChannelRow.target == subscription.endpoint)).scalars()
    mine = None
    for row in held:
        if row.user_id == user.user_id and mine is None:
            mine = row
            continue
        audit(session, user.username, "notifications.channel_remove", "notification_channel", str(row.channel_id),
              before={"kind": WEBPUSH, "label": row.label, "user_id": row.user_id,
                      "target": redact(row.target)}, after={"moved_to": user.user_id}, ip=ip)
        session.delete(row)
    if mine is not None:
        mine.secret, mine.enabled, mine.label = subscription.secret, True, label
        session.flush()
        return mine
    if len(list_channels(session, user)) >= CHANNELS_PER_USER:
        raise NotificationInputError(f"channels: at most {CHANNELS_PER_USER} per person")
    row = NotificationChannelRow(user_id=user.user_id, kind=WEBPUSH, label=label, target=subscription.endpoint,
                                 secret=subscription.secret, enabled=True, created_at=_now())
    session.add(row)
    session.flush()
    audit(session, user.username, "notifications.channel_add", "notification_channel", str(row.channel_id),
          after={"kind": WEBPUSH, "label": row.label, "target": redact(subscription.endpoint)}, ip=ip)
    return row


def add_channel(session: Session, user: UserRow, kind: str, label: str, target: str,
                channels: dict[str, Channel], *, ip: str | None = None) -> NotificationChannelRow:
    """A new channel; a generic webhook gets a fresh signing secret (shown on the page for the receiver). A web-push
    channel comes from the settings page's script, its target the browser's subscription (add_push_subscription)."""
    kind, label, target = kind.strip(), label.strip(), target.strip()
    if kind == WEBPUSH:
        return add_push_subscription(session, user, label, target, ip=ip)
    if kind not in CHANNEL_KINDS or kind == BROWSER:
        raise NotificationInputError(f"kind: {kind!r}, expected one of "
                                     f"{', '.join(k for k in CHANNEL_KINDS if k != BROWSER)}")
    if not target or len(target) > 500:
        raise NotificationInputError("target: give the address or URL (at most 500 characters)")
    problem = channels[kind].check_target(target)
    if problem:
        raise NotificationInputError(problem)
    if len(list_channels(session, user)) >= CHANNELS_PER_USER:
        raise NotificationInputError(f"channels: at most {CHANNELS_PER_USER} per person")
    row = NotificationChannelRow(user_id=user.user_id, kind=kind, label=(label or kind)[:100], target=target,
                                 secret=secrets.token_urlsafe(32) if kind == "webhook" else None, enabled=True,
                                 created_at=_now())
    session.add(row)
    session.flush()
    audit(session, user.username, "notifications.channel_add", "notification_channel", str(row.channel_id),
          after={"kind": kind, "label": row.label, "target": redact(target)}, ip=ip)
    return row


def own_channel(session: Session, user: UserRow, channel_id: int) -> NotificationChannelRow:
    row = session.get(NotificationChannelRow, channel_id)
    if row is None or row.user_id != user.user_id:
        raise NotificationInputError(f"channel {channel_id}: not one of yours")
    return row


def remove_channel(session: Session, user: UserRow, channel_id: int, *, ip: str | None = None) -> None:
    row = own_channel(session, user, channel_id)
    audit(session, user.username, "notifications.channel_remove", "notification_channel", str(channel_id),
          before={"kind": row.kind, "label": row.label, "target": redact(row.target)}, ip=ip)
    session.delete(row)


def list_rules(session: Session, user: UserRow) -> list[NotificationRuleRow]:
    return list(session.execute(select(NotificationRuleRow).where(NotificationRuleRow.user_id == user.user_id)
                                .order_by(NotificationRuleRow.tier, NotificationRuleRow.rule_id)).scalars())


def add_rule(session: Session, user: UserRow, *, fleet_id: str | None, kinds: Iterable[str], min_severity: str,
             tier: int, channel_ids: Iterable[int], ip: str | None = None) -> NotificationRuleRow:
    kinds = sorted(set(kinds))
    unknown = [k for k in kinds if k not in RULE_KINDS]
    if unknown:
        raise NotificationInputError(f"kinds: unknown {unknown}")
    if min_severity not in SEVERITY_RANK:
        raise NotificationInputError(f"min_severity: {min_severity!r}, expected info, warning or critical")
    if not 0 <= tier <= MAX_TIER:
        raise NotificationInputError(f"tier: {tier}, expected 0 (at once) to {MAX_TIER}")
    if fleet_id and user.role in ("fleet_operator", "rental") and fleet_id not in (user.fleet_ids or []):
        raise NotificationInputError(f"fleet_id: {fleet_id!r} is not one of your fleets")
    ids = sorted(set(channel_ids))
    for channel_id in ids:
        own_channel(session, user, channel_id)
    if len(list_rules(session, user)) >= RULES_PER_USER:
        raise NotificationInputError(f"rules: at most {RULES_PER_USER} per person")
    row = NotificationRuleRow(user_id=user.user_id, fleet_id=fleet_id or None, kinds=kinds,
                              min_severity=min_severity, tier=tier, channel_ids=ids, created_at=_now())
    session.add(row)
    session.flush()
    audit(session, user.username, "notifications.rule_add", "notification_rule", str(row.rule_id),
          fleet_id=row.fleet_id, after={"fleet_id": row.fleet_id, "kinds": kinds, "min_severity": min_severity,
                                        "tier": tier, "channel_ids": ids}, ip=ip)
    return row


def remove_rule(session: Session, user: UserRow, rule_id: int, *, ip: str | None = None) -> None:
    row = session.get(NotificationRuleRow, rule_id)
    if row is None or row.user_id != user.user_id:
        raise NotificationInputError(f"rule {rule_id}: not one of yours")
    audit(session, user.username, "notifications.rule_remove", "notification_rule", str(rule_id),
          fleet_id=row.fleet_id, before={"kinds": row.kinds, "min_severity": row.min_severity, "tier": row.tier},
          ip=ip)
    session.delete(row)


def recent_notifications(session: Session, user: UserRow, limit: int = 30) -> list[NotificationRow]:
    return list(session.execute(select(NotificationRow).where(NotificationRow.user_id == user.user_id)
                                .order_by(NotificationRow.notification_id.desc()).limit(limit)).scalars())


def record_test(session: Session, user: UserRow, channel: NotificationChannelRow, notice: Notice, message_id: str,
                error: str | None) -> NotificationRow:
    """A test message sent from the settings page, kept in the person's history with its outcome."""
    now = _now()
    row = NotificationRow(dedupe_key=message_id, user_id=user.user_id, channel_id=channel.channel_id,
                          channel_kind=channel.kind, subject="test", subject_id="test", severity="info", tier=0,
                          notice=notice.to_dict(), created_at=now, attempts=1, sent_at=None if error else now,
                          dead_at=now if error else None, last_error=error)
    session.add(row)
    return row


def queue_browser_test(session: Session, user: UserRow, notice: Notice) -> NotificationRow:
    row = NotificationRow(dedupe_key=secrets.token_hex(32), user_id=user.user_id, channel_id=None,
                          channel_kind=BROWSER, subject="test", subject_id="test", severity="info", tier=0,
                          notice=notice.to_dict(), created_at=_now(), attempts=0)
    session.add(row)
    return row


BROWSER_LOOKBACK = timedelta(minutes=15)
"""A page opened now shows browser notices of this long ago that no open page has shown yet."""


def latest_browser_id(session: Session, user_id: int) -> int:
    newest = session.execute(select(NotificationRow.notification_id).where(
        NotificationRow.user_id == user_id, NotificationRow.channel_kind == BROWSER)
        .order_by(NotificationRow.notification_id.desc()).limit(1)).scalar_one_or_none()
    return newest or 0


def browser_notices(session: Session, user_id: int, after_id: int | None, limit: int = 20
                    ) -> list[NotificationRow]:
    """The person's browser notices after ``after_id`` (every page open shows them); with no ``after_id`` (a page
    just opened), the recent ones no page has shown yet. Marks them delivered; the caller commits."""
    query = select(NotificationRow).where(NotificationRow.user_id == user_id, NotificationRow.channel_kind == BROWSER)
    if after_id is None:
        query = query.where(NotificationRow.sent_at.is_(None), NotificationRow.created_at >= _now() - BROWSER_LOOKBACK)
    else:
        query = query.where(NotificationRow.notification_id > after_id)
    rows = list(session.execute(query.order_by(NotificationRow.notification_id).limit(limit)).scalars())
    now = _now()
    for row in rows:
        if row.sent_at is None:
            row.sent_at, row.attempts = now, row.attempts + 1
    return rows
