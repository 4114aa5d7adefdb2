from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.web.samples import alert, stop_request
from web.contract import ContractViolation
from web.models import AlertRow, StopRequestRow
from web.store import list_alerts, list_stop_requests, merge_history, upsert_alert, upsert_stop_request


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_alert_redelivery_never_duplicates(session: Session) -> None:
    assert upsert_alert(session, alert()) is True
    assert upsert_alert(session, alert()) is False
    session.commit()
    assert upsert_alert(session, alert()) is False
    session.commit()
    assert _count(session, AlertRow) == 1


def test_alert_round_trips_in_contract_shape(session: Session) -> None:
    upsert_alert(session, alert(ts="2026-11-24T10:15:00.250+01:00", extra_field="ignored"))
    session.commit()
    [stored] = list_alerts(session)
    expected = {k: v for k, v in alert().items()}
    expected["ts"] = "2026-11-24T09:15:00.250Z"
    assert {k: stored[k] for k in expected} == expected
    assert stored["status"] == "open"
    assert "extra_field" not in stored
    assert datetime.fromisoformat(stored["received_at"]).tzinfo == UTC


def test_higher_revision_replaces_and_lower_is_ignored(session: Session) -> None:
    upsert_alert(session, alert(revision=1, severity="warning"))
    session.commit()
    assert upsert_alert(session, alert(revision=2, severity="critical", score=0.95)) is True
    assert upsert_alert(session, alert(revision=1, severity="info", score=0.1)) is False
    assert upsert_alert(session, alert(revision=2, severity="info")) is False
    session.commit()
    [stored] = list_alerts(session)
    assert (stored["revision"], stored["severity"], stored["score"]) == (2, "critical", 0.95)
    assert _count(session, AlertRow) == 1


def test_replacement_keeps_acknowledgement_status(session: Session) -> None:
    upsert_alert(session, alert())
    session.commit()
    session.get(AlertRow, "al-0001").status = "acknowledged"
    session.commit()
    upsert_alert(session, alert(revision=1, severity="critical"))
    session.commit()
    [stored] = list_alerts(session)
    assert (stored["status"], stored["severity"]) == ("acknowledged", "critical")


def test_malformed_alert_is_refused_before_the_store(session: Session) -> None:
    with pytest.raises(ContractViolation, match="severity"):
        upsert_alert(session, alert(severity="high"))
    assert _count(session, AlertRow) == 0


def test_list_alerts_filters_and_orders_newest_first(session: Session) -> None:
    upsert_alert(session, alert(alert_id="a", ts="2026-11-24T09:00:00Z"))
    upsert_alert(session, alert(alert_id="b", ts="2026-11-24T11:00:00Z", kind="panic", severity="critical"))
    upsert_alert(session, alert(alert_id="c", ts="2026-11-24T10:00:00Z", fleet_id="other", vehicle_id="OT-1"))
    session.commit()
    assert [a["alert_id"] for a in list_alerts(session)] == ["b", "c", "a"]
    assert [a["alert_id"] for a in list_alerts(session, limit=2)] == ["b", "c"]
    assert [a["alert_id"] for a in list_alerts(session, fleet_id="nordfracht")] == ["b", "a"]
    assert [a["alert_id"] for a in list_alerts(session, kind="panic")] == ["b"]
    assert [a["alert_id"] for a in list_alerts(session, severity="warning", vehicle_id="OT-1")] == ["c"]


AUTHORIZED = {"status": "authorized", "at": "2026-11-24T09:18:00Z", "by": "police-berlin", "note": "unit 12"}


def test_stop_request_redelivery_never_duplicates(session: Session) -> None:
    assert upsert_stop_request(session, stop_request()) is True
    assert upsert_stop_request(session, stop_request()) is False
    session.commit()
    assert _count(session, StopRequestRow) == 1


def test_status_change_appends_to_history(session: Session) -> None:
    upsert_stop_request(session, stop_request())
    session.commit()
    change = stop_request(status="authorized", history=[*stop_request()["history"], AUTHORIZED])
    assert upsert_stop_request(session, change) is True
    session.commit()
    [stored] = list_stop_requests(session)
    assert stored["status"] == "authorized"
    assert [h["status"] for h in stored["history"]] == ["requested", "authorized"]


def test_status_change_carrying_only_its_own_entry_keeps_earlier_history(session: Session) -> None:
    upsert_stop_request(session, stop_request())
    upsert_stop_request(session, stop_request(status="authorized", history=[AUTHORIZED]))
    session.commit()
    [stored] = list_stop_requests(session)
    assert stored["status"] == "authorized"
    assert [{k: v for k, v in h.items() if k != "recorded_at"} for h in stored["history"]] == \
        [stop_request()["history"][0], AUTHORIZED]


def test_late_redelivery_of_an_older_version_never_moves_status_back(session: Session) -> None:
    upsert_stop_request(session, stop_request(status="authorized", history=[*stop_request()["history"], AUTHORIZED]))
    session.commit()
    assert upsert_stop_request(session, stop_request()) is False
    session.commit()
    [stored] = list_stop_requests(session)
    assert stored["status"] == "authorized"
    assert len(stored["history"]) == 2


def test_alert_ids_are_unioned(session: Session) -> None:
    upsert_stop_request(session, stop_request())
    upsert_stop_request(session, stop_request(alert_ids=["al-0002", "al-0001"]))
    session.commit()
    [stored] = list_stop_requests(session)
    assert stored["alert_ids"] == ["al-0001", "al-0002"]


def test_list_stop_requests_filters_by_status(session: Session) -> None:
    upsert_stop_request(session, stop_request())
    upsert_stop_request(session, stop_request(request_id="sr-2", ts="2026-11-24T10:00:00Z", status="refused",
                                              history=[]))
    session.commit()
    assert [r["request_id"] for r in list_stop_requests(session)] == ["sr-2", "sr-0001"]
    assert [r["request_id"] for r in list_stop_requests(session, status="requested")] == ["sr-0001"]


def test_merge_history_orders_by_the_time_the_platform_recorded_each_entry() -> None:
    # The detector writes event time, which in a fast demo runs minutes ahead of the officers' wall clock.
    requested = {"status": "requested", "at": "2026-11-24T09:21:00Z", "by": "detector",
                 "recorded_at": "2026-11-24T09:16:01Z"}
    authorized = {"status": "authorized", "at": "2026-11-24T10:18:00+01:00", "by": "police",
                  "recorded_at": "2026-11-24T09:18:00Z"}
    sent = {"status": "sent", "at": "soon", "by": "dispatcher"}
    merged = merge_history([authorized], [requested, authorized, sent],
                           recorded_at=datetime(2026, 11, 24, 9, 18, 30, tzinfo=UTC))
    assert [h["status"] for h in merged] == ["requested", "authorized", "sent"]
    assert merged[2] == {**sent, "recorded_at": "2026-11-24T09:18:30Z"}  # stamped; its own ``at`` kept
    assert merged[0] is requested
