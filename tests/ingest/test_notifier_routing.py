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
    # 5 asked for stop requests; 6 has no rules of their own, so is told of their fleet's, as of its critical alerts
    assert {d.user_id for d in planned} == {1, 2, 5, 6}
    assert all(d.notice.url == f"{SITE}/stop-requests/sr-1" for d in planned)
    in_nice = {**request, "zone_id": None, "lat": 43.70, "lon": 7.27}
    assert {d.user_id for d in plan_stop_request(in_nice, people, SITE)} == {2, 4, 5, 6}
    other_fleet = {**request, "fleet_id": "sudtrans"}
    assert {d.user_id for d in plan_stop_request(other_fleet, people, SITE)} == {1, 2}
    ruled = dispatcher(user_id=7, rules=(Rule(kinds=frozenset({"hijack_suspected"})),))
    assert plan_stop_request(request, [ruled], SITE) == []  # rules of their own that leave stop requests out


def _changed(request: dict, status: str, by: str, note: str = "", **more: object) -> dict:
    entry = {"status": status, "at": "2026-12-07T12:00:30Z", "by": by, **({"note": note} if note else {}), **more}
    return {**request, "status": status, "history": [*request.get("history", []), entry]}


def test_every_outcome_of_a_stop_request_reaches_the_same_people_once_but_not_whoever_made_it() -> None:
    market = Area(zone_ids=frozenset({"berlin-market"}))
    people = [officer(1, area=market), officer(2, area=market), officer(3, on_duty=False, area=market),
              dispatcher(user_id=5), dispatcher(user_id=6, fleet_ids=frozenset({"sudtrans"}))]
    request = {"request_id": "sr-9", "vehicle_id": "NF-101", "fleet_id": "nordfracht", "status": "requested",
               "mode": "controlled_stop", "zone_id": "berlin-market", "reason": "hijack suspected",
               "ts": "2026-12-07T12:00:00Z", "history": [{"status": "requested", "at": "2026-12-07T12:00:00Z",
                                                          "by": "detector"}]}
    raised = plan_stop_request(request, people, SITE)
    first = _changed(request, "requested", "officer1", "first approval (1 of 2)", approval=1)
    assert {d.dedupe_key for d in plan_stop_request(first, people, SITE)} == {d.dedupe_key for d in raised}
    authorised = _changed(first, "authorized", "officer2", approval=2)
    sent = _changed(authorised, "sent", "command-dispatch", "command c-1")
    acknowledged = _changed(sent, "acknowledged", "vehicle:NF-101", "command c-1 accepted: slowing to a stop")
    completed = _changed(acknowledged, "completed", "vehicle:NF-101", "stopped, parking brake set")
    keys = {d.dedupe_key for d in raised}
    for value, told in ((authorised, {1, 5}), (sent, {1, 2, 5}), (acknowledged, {1, 2, 5}),
                        (completed, {1, 2, 5})):
        planned = plan_stop_request(value, people, SITE)
        assert {d.user_id for d in planned} == told, value["status"]
        assert not keys & {d.dedupe_key for d in planned}  # one message per outcome: none repeats another's
        keys |= {d.dedupe_key for d in planned}
        assert all(d.notice.subject_id == "sr-9" and d.notice.url == f"{SITE}/stop-requests/sr-9" for d in planned)
    # the same outcome read again (a repeated message, a restart) names the very same messages
    assert {d.dedupe_key for d in plan_stop_request(dict(sent), people, SITE)} <= keys
    [to_officer] = [d for d in plan_stop_request(authorised, people, SITE) if d.user_id == 1]
    assert to_officer.notice.title == "Stop request for NF-101 authorised by officer2: controlled stop"
    assert ("By", "officer2") in to_officer.notice.facts and ("Status", "authorized") in to_officer.notice.facts
    told = next(d for d in plan_stop_request(acknowledged, people, SITE) if d.user_id == 5)
    assert told.notice.summary == "command c-1 accepted: slowing to a stop"
    refused = plan_stop_request(_changed(request, "refused", "officer2", "driver confirmed safe by phone"),
                                people, SITE)
    assert {d.user_id for d in refused} == {1, 5}
    assert refused[0].notice.title == "Stop request for NF-101 refused by officer2"
    assert refused[0].notice.summary == "driver confirmed safe by phone"
    expired = plan_stop_request(_changed(request, "expired", "truckguard-web", "not authorised within 900 s"),
                                people, SITE)
    assert {d.user_id for d in expired} == {1, 2, 5} and expired[0].notice.severity == "warning"
    assert (expired[0].notice.title, expired[0].notice.summary) == (
        "Stop request for NF-101 expired: no command was sent", "not authorised within 900 s")
    assert plan_stop_request({**request, "status": "lost"}, people, SITE) == []
    # a release is a history step of its own (two officers); the request keeps its status
    half = _changed(completed, "release_approved", "officer1", "owner has the truck back", release_approval=1)
    half["status"] = "completed"
    assert {d.dedupe_key for d in plan_stop_request(half, people, SITE)} <= keys
    released = _changed(half, "released", "officer2", "owner has the truck back", release_approval=2)
    released["status"] = "completed"
    new = [d for d in plan_stop_request(released, people, SITE) if d.dedupe_key not in keys]
    assert {d.user_id for d in new} == {1, 5}
    assert new[0].notice.title == "NF-101 released from the stop measures by officer2"
    assert new[0].notice.summary == "owner has the truck back" and new[0].notice.severity == "info"


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


def test_an_outcome_is_as_fresh_as_its_change_not_as_the_request() -> None:
    from ingest.notifier.worker import STALE_AFTER, event_time
    from ingest.topics import STOP_REQUESTS

    raised = {"request_id": "sr-3", "status": "requested", "ts": "2026-12-07T08:00:00Z",
              "history": [{"status": "requested", "at": "2026-12-07T08:00:00Z", "by": "detector"}]}
    completed = _changed(raised, "completed", "vehicle:NF-101", "engine will not restart")
    completed["history"][-1]["recorded_at"] = "2026-12-07T11:59:00Z"  # the driver switched off hours later
    assert event_time(STOP_REQUESTS, raised) == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert NOW - event_time(STOP_REQUESTS, completed) < STALE_AFTER < NOW - event_time(STOP_REQUESTS, raised)
