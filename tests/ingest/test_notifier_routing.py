"""Who the notifier tells, by rule: fleets, kinds, severities, quiet hours, escalation tiers, officers on duty."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from ingest.notifier.channels import DeliveryFailed
from ingest.notifier.delivery import RetryPolicy
from ingest.notifier.routing import (
    Area,
    ChannelConfig,
    Person,
    Rule,
    escalations_for,
    plan_alert,
    plan_stop_request,
)

SITE = "https://truckguard.example.org"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
MAIL = ChannelConfig(1, "email", "disp@example.org")
HOOK = ChannelConfig(2, "webhook", "https://hooks.example.org/x", "s3cret")


def alert(severity: str = "critical", kind: str = "hijack_suspected", fleet: str | None = "nordfracht",
          alert_id: str = "a-1") -> dict:
    return {"alert_id": alert_id, "vehicle_id": "NF-101", "fleet_id": fleet, "kind": kind, "severity": severity,
            "ts": "2026-12-07T11:59:50Z", "onset_ts": "2026-12-07T11:58:00Z", "lat": 52.5, "lon": 13.4,
            "score": 0.9, "zone_id": None, "evidence": {"summary": "route left, card removed"}}


def dispatcher(**changes: object) -> Person:
    values = {"user_id": 1, "username": "disp", "role": "fleet_operator", "fleet_ids": frozenset({"nordfracht"}),
              "channels": (MAIL,)}
    return Person(**{**values, **changes})  # type: ignore[arg-type]


def officer(user_id: int, on_duty: bool = True, area: Area | None = None) -> Person:
    return Person(user_id=user_id, username=f"officer{user_id}", role="law_enforcement", on_duty=on_duty,
                  area=area or Area(), channels=(ChannelConfig(10 + user_id, "email", f"o{user_id}@police.example"),),
                  browser=False)


def targets(planned: list) -> set[tuple[int, str]]:
    return {(d.user_id, d.channel.kind) for d in planned}


def test_a_dispatcher_without_rules_gets_their_fleets_critical_alerts_on_every_channel() -> None:
    people = [dispatcher(), dispatcher(user_id=2, fleet_ids=frozenset({"other"})), officer(3)]
    planned = plan_alert(alert(), people, NOW, SITE)
    assert targets(planned) == {(1, "email"), (1, "browser")}
    assert planned[0].notice.url == f"{SITE}/alerts/a-1"
    assert "Hijack suspected" in planned[0].notice.title and "NF-101" in planned[0].notice.title
    assert plan_alert(alert("warning"), people, NOW, SITE) == []


def test_rules_choose_kinds_fleet_severity_and_channels() -> None:
    person = dispatcher(channels=(MAIL, HOOK), browser=False,
                        rules=(Rule(kinds=frozenset({"panic"}), min_severity="warning", channel_ids=frozenset({2})),))
    assert targets(plan_alert(alert("warning", "panic"), [person], NOW, SITE)) == {(1, "webhook")}
    assert plan_alert(alert("critical", "towing"), [person], NOW, SITE) == []
    assert plan_alert(alert("info", "panic"), [person], NOW, SITE) == []
    other_fleet = dispatcher(rules=(Rule(fleet_id="elsewhere", min_severity="info"),))
    assert plan_alert(alert(), [other_fleet], NOW, SITE) == []


def test_one_message_per_severity_a_revision_that_keeps_it_adds_nothing() -> None:
    people = [dispatcher(rules=(Rule(min_severity="warning"),))]
    first = {d.dedupe_key for d in plan_alert(alert("warning"), people, NOW, SITE)}
    again = {d.dedupe_key for d in plan_alert({**alert("warning"), "score": 0.95}, people, NOW + timedelta(1), SITE)}
    raised = {d.dedupe_key for d in plan_alert(alert("critical"), people, NOW, SITE)}
    assert first == again
    assert raised.isdisjoint(first) and len(raised) == 2


def test_quiet_hours_hold_back_warnings_in_the_persons_time_zone_never_critical_alerts() -> None:
    # 23:30 in Berlin (UTC+1 in December), inside 22:00-06:00 across midnight; 12:00 UTC is outside it
    night = datetime(2026, 12, 7, 22, 30, tzinfo=UTC)
    person = dispatcher(rules=(Rule(min_severity="warning"),), timezone="Europe/Berlin",
                        quiet_from=time(22, 0), quiet_to=time(6, 0))
    assert plan_alert(alert("warning"), [person], night, SITE) == []
    assert plan_alert(alert("warning"), [person], NOW, SITE) != []
    assert plan_alert(alert("critical"), [person], night, SITE) != []


def test_critical_alerts_escalate_tier_by_tier_and_later_tiers_wait() -> None:
    first = dispatcher()
    second = dispatcher(user_id=2, rules=(Rule(tier=1),))
    third = dispatcher(user_id=3, rules=(Rule(tier=2),))
    people = [first, second, third]
    assert targets(plan_alert(alert(), people, NOW, SITE)) == {(1, "email"), (1, "browser")}
    escalations = escalations_for(alert(), people, NOW, timedelta(minutes=2))
    assert [(e.tier, e.due_at) for e in escalations] == [(1, NOW + timedelta(minutes=2)),
                                                          (2, NOW + timedelta(minutes=4))]
    escalated = plan_alert(alert(), people, NOW, SITE, tier=1)
    assert {d.user_id for d in escalated} == {2}
    assert escalated[0].notice.title.startswith("Unacknowledged: Critical: Hijack suspected")
    assert escalations_for(alert("warning"), people, NOW, timedelta(minutes=2)) == []


def test_a_stop_request_goes_at_once_to_every_on_duty_officer_of_its_area() -> None:
    market = Area(zone_ids=frozenset({"berlin-market"}))
    around_nice = Area(lat=43.695, lon=7.265, radius_km=10)
    people = [officer(1, area=market), officer(2, area=Area()), officer(3, on_duty=False, area=market),
              officer(4, area=around_nice),
              dispatcher(user_id=5, rules=(Rule(kinds=frozenset({"stop_request"})),)), dispatcher(user_id=6)]
    request = {"request_id": "sr-1", "vehicle_id": "NF-101", "fleet_id": "nordfracht", "status": "requested",
               "mode": "controlled_stop", "zone_id": "berlin-market", "lat": 52.505, "lon": 13.39,
               "reason": "hijack suspected, heading for the market", "ts": "2026-12-07T11:59:55Z"}
    planned = plan_stop_request(request, people, SITE)
    assert {d.user_id for d in planned} == {1, 2, 5}
    assert all(d.notice.url == f"{SITE}/stop-requests/sr-1" for d in planned)
    assert plan_stop_request({**request, "status": "authorized"}, people, SITE) == []
    in_nice = {**request, "zone_id": None, "lat": 43.70, "lon": 7.27}
    assert {d.user_id for d in plan_stop_request(in_nice, people, SITE)} == {2, 4, 5}


def test_with_no_officer_of_the_area_on_duty_every_officer_of_the_area_is_told() -> None:
    market = Area(zone_ids=frozenset({"berlin-market"}))
    people = [officer(1, on_duty=False, area=market), officer(2, on_duty=False, area=Area(zone_ids=frozenset({"x"})))]
    request = {"request_id": "sr-2", "vehicle_id": "NF-101", "fleet_id": "nordfracht", "status": "requested",
               "mode": "controlled_stop", "zone_id": "berlin-market", "reason": "r"}
    assert {d.user_id for d in plan_stop_request(request, people, SITE)} == {1}


def test_retries_back_off_and_the_last_failure_is_dead() -> None:
    policy = RetryPolicy(backoff_s=(2.0, 5.0))
    passing = DeliveryFailed("503")
    assert policy.after_failure(1, passing, NOW) == NOW + timedelta(seconds=2)
    assert policy.after_failure(2, passing, NOW) == NOW + timedelta(seconds=5)
    assert policy.after_failure(3, passing, NOW) is None
    assert policy.after_failure(1, DeliveryFailed("400", permanent=True), NOW) is None
    assert policy.after_failure(1, DeliveryFailed("429", retry_after_s=30), NOW) == NOW + timedelta(seconds=30)
