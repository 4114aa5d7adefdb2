"""Who is told what, by rule: fleet and role, kind and severity, quiet hours, escalation tiers, officers on duty."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ingest.notifier.notice import (
    ALERT,
    SEVERITY_RANK,
    STOP_REQUEST,
    Notice,
    alert_notice,
    announced,
    outcome_entry,
    stop_request_notice,
    stop_request_outcome_notice,
)

BROWSER = "browser"
"""The built-in channel: the site's pages that are open show the notice (server-sent events)."""
OFFICER_ROLE = "law_enforcement"
FLEET_ROLES = ("fleet_operator", "rental")
"""Roles that see only their own fleets (as on the site)."""
MAX_TIER = 2
"""First in line (0), second (1), third (2): a larger control room escalates by its own procedures, not ours."""
STOP_REQUEST_KIND = "stop_request"
"""What a rule lists among its kinds to be told of stop requests of its fleets (officers are told regardless)."""


@dataclass(frozen=True)
class ChannelConfig:
    """One of a person's channels: its kind (email, webhook, slack, teams, mattermost, browser) and address."""

    channel_id: int | None
    kind: str
    target: str = ""
    secret: str = ""

    @property
    def key(self) -> str:
        return BROWSER if self.channel_id is None else str(self.channel_id)


@dataclass(frozen=True)
class Rule:
    """Tell this person of these kinds (all when empty) of this fleet (all of theirs when None) from this severity,
    at this escalation tier, on these channels (all of theirs when empty)."""

    fleet_id: str | None = None
    kinds: frozenset[str] = frozenset()
    min_severity: str = "critical"
    tier: int = 0
    channel_ids: frozenset[int] = frozenset()

    def matches(self, kind: str, fleet_id: str | None, severity: str) -> bool:
        if self.kinds and kind not in self.kinds:
            return False
        if self.fleet_id is not None and fleet_id != self.fleet_id:
            return False
        return SEVERITY_RANK.get(severity, 0) >= SEVERITY_RANK.get(self.min_severity, 2)


DEFAULT_FLEET_RULE = Rule()
"""A dispatcher or rental desk with no rules of their own is told of their fleets' critical alerts at once, so a
new account is not silent about a hijack; any rule they write replaces it."""


@dataclass(frozen=True)
class Area:
    """Where an officer answers stop requests: listed zones and/or a circle; neither means everywhere."""

    zone_ids: frozenset[str] = frozenset()
    lat: float | None = None
    lon: float | None = None
    radius_km: float | None = None

    @property
    def everywhere(self) -> bool:
        return not self.zone_ids and self.radius_km is None

    def covers(self, zone_id: str | None, lat: float | None, lon: float | None) -> bool:
        if self.everywhere:
            return True
        if zone_id is not None and zone_id in self.zone_ids:
            return True
        if None in (self.radius_km, self.lat, self.lon, lat, lon):
            return False
        return _distance_km(self.lat, self.lon, lat, lon) <= float(self.radius_km)  # type: ignore[arg-type]


def _distance_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> float:
    """Great-circle distance on a sphere of the Earth's mean radius (6371.0088 km, IUGG)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class Person:
    """A user of the site as the notifier sees them: role, fleets, when to be quiet, duty, area, channels, rules."""

    user_id: int
    username: str
    role: str
    fleet_ids: frozenset[str] = frozenset()
    timezone: str = "UTC"
    quiet_from: time | None = None
    quiet_to: time | None = None
    on_duty: bool = False
    area: Area = field(default_factory=Area)
    browser: bool = True
    channels: tuple[ChannelConfig, ...] = ()
    rules: tuple[Rule, ...] = ()

    def sees(self, fleet_id: str | None) -> bool:
        return self.role not in FLEET_ROLES or (fleet_id is not None and fleet_id in self.fleet_ids)

    def effective_rules(self) -> tuple[Rule, ...]:
        return self.rules or ((DEFAULT_FLEET_RULE,) if self.role in FLEET_ROLES else ())

    def in_quiet_hours(self, now: datetime) -> bool:
        if self.quiet_from is None or self.quiet_to is None or self.quiet_from == self.quiet_to:
            return False
        try:
            local = now.astimezone(ZoneInfo(self.timezone)).time()
        except ZoneInfoNotFoundError:
            local = now.time()
        if self.quiet_from < self.quiet_to:
            return self.quiet_from <= local < self.quiet_to
        return local >= self.quiet_from or local < self.quiet_to  # across midnight

    def all_channels(self) -> tuple[ChannelConfig, ...]:
        browser = (ChannelConfig(None, BROWSER),) if self.browser else ()
        return (*self.channels, *browser)

    def channels_for(self, rule: Rule) -> tuple[ChannelConfig, ...]:
        if not rule.channel_ids:
            return self.all_channels()
        chosen = tuple(c for c in self.channels if c.channel_id in rule.channel_ids)
        return (*chosen, ChannelConfig(None, BROWSER)) if self.browser else chosen


@dataclass(frozen=True)
class PlannedDelivery:
    """One message for one person on one channel; ``dedupe_key`` makes it unique forever."""

    dedupe_key: str
    user_id: int
    channel: ChannelConfig
    notice: Notice
    tier: int = 0


@dataclass(frozen=True)
class Escalation:
    """Tell the people of ``tier`` about a critical alert at ``due_at`` unless someone has acknowledged it."""

    alert_id: str
    tier: int
    due_at: datetime
    alert: dict[str, Any]


def dedupe_key(*parts: object) -> str:
    """64 hex characters naming a message for good: the same parts always give the same key."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()


def _deliveries(person: Person, channels: Iterable[ChannelConfig], notice: Notice, tier: int,
                *identity: object) -> list[PlannedDelivery]:
    out, seen = [], set()
    for channel in channels:
        if channel.key in seen:
            continue
        seen.add(channel.key)
        out.append(PlannedDelivery(dedupe_key(*identity, person.user_id, channel.key), person.user_id, channel,
                                   notice, tier))
    return out


def plan_alert(alert: dict[str, Any], people: Iterable[Person], now: datetime, public_url: str,
               tier: int = 0) -> list[PlannedDelivery]:
    """The messages about this alert revision for the people of ``tier``: one per person and channel, named by the
    alert and its severity, so a revision that keeps its severity adds nothing and one that changes it adds one.

    Quiet hours hold back info and warning alerts; critical ones always go through.
    """
    kind, fleet_id, severity = str(alert.get("kind", "")), alert.get("fleet_id"), str(alert.get("severity", ""))
    notice = alert_notice(alert, public_url)
    if tier:
        notice = replace(notice, title=f"Unacknowledged: {notice.title}",
                         summary=f"Nobody has acknowledged this alert yet; you are next in line. {notice.summary}")
    planned: list[PlannedDelivery] = []
    for person in people:
        if not person.sees(fleet_id):
            continue
        if severity != "critical" and person.in_quiet_hours(now):
            continue
        channels: list[ChannelConfig] = []
        for rule in person.effective_rules():
            if rule.tier == tier and rule.matches(kind, fleet_id, severity):
                channels.extend(person.channels_for(rule))
        planned += _deliveries(person, channels, notice, tier, ALERT, alert["alert_id"], severity, tier)
    return planned


def escalations_for(alert: dict[str, Any], people: Iterable[Person], now: datetime,
                    escalate_after: timedelta) -> list[Escalation]:
    """For a critical alert, one escalation per later tier that someone's rules fill: tier k falls due k times
    ``escalate_after`` after now, and goes out only while the alert is still unacknowledged."""
    if alert.get("severity") != "critical":
        return []
    kind, fleet_id = str(alert.get("kind", "")), alert.get("fleet_id")
    tiers = {rule.tier for person in people if person.sees(fleet_id)
             for rule in person.effective_rules() if rule.tier > 0 and rule.matches(kind, fleet_id, "critical")}
    return [Escalation(str(alert["alert_id"]), tier, now + tier * escalate_after, alert) for tier in sorted(tiers)]


def _fleet_channels(person: Person, fleet_id: str | None) -> list[ChannelConfig]:
    """A fleet's person is told of its stop requests by their rules that list stop requests; with no rules of their
    own, on all their channels (as of their fleets' critical alerts: the default leaves nobody silent about a stop
    of their own truck)."""
    if not person.sees(fleet_id):
        return []
    if not person.rules:
        return list(person.all_channels()) if person.role in FLEET_ROLES else []
    channels: list[ChannelConfig] = []
    for rule in person.rules:
        if STOP_REQUEST_KIND in rule.kinds and (rule.fleet_id is None or rule.fleet_id == fleet_id):
            channels.extend(person.channels_for(rule))
    return channels


def plan_stop_request(request: dict[str, Any], people: Iterable[Person], public_url: str
                      ) -> list[PlannedDelivery]:
    """A new stop request goes at once to every on-duty officer whose area covers it, on all their channels (when
    no officer of the area is on duty, to every officer of the area: a request nobody sees expires unanswered),
    and to the fleet's people (see _fleet_channels). Each later outcome (authorised, refused, expired, sent,
    acknowledged, completed, cancelled, released) goes to the same people, once per outcome, except to the
    person who made the change. What a message announces: ingest.notifier.notice.announced."""
    people = list(people)
    zone_id, lat, lon = request.get("zone_id"), request.get("lat"), request.get("lon")
    officers = [p for p in people if p.role == OFFICER_ROLE and p.area.covers(zone_id, lat, lon)]
    on_duty = {p.user_id for p in officers if p.on_duty} or {p.user_id for p in officers}
    fleet_id = request.get("fleet_id")
    audience = [(p, list(p.all_channels()) if p.user_id in on_duty else _fleet_channels(p, fleet_id))
                for p in people]
    planned: list[PlannedDelivery] = []
    for status in announced(request):
        if status == "requested":
            notice, actor = stop_request_notice(request, public_url), None
        else:
            notice = stop_request_outcome_notice(request, status, public_url)
            actor = outcome_entry(request, status).get("by")
        told: set[int] = set()
        for person, channels in audience:
            if not channels or person.user_id in told or (actor is not None and person.username == actor):
                continue
            told.add(person.user_id)
            planned += _deliveries(person, channels, notice, 0, STOP_REQUEST, request["request_id"], status)
    return planned
