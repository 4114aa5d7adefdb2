"""The officer's decision page: zone by name with distance and time to it, every alert of the incident, the time
left, an overtaken request said plainly, and a history in the order the platform recorded it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.web.people import csrf_token, signed_in
from tests.web.samples import SOUTH_OF_ZONE, ZONES, alert, stop_request
from web.db import get_engine
from web.models import AuditRow, StopRequestRow
from web.positions import Fix, note_position
from web.reference import put_zones
from web.store import rfc3339, upsert_alert, upsert_stop_request


def _stamp(moment: datetime) -> str:
    return rfc3339(moment)


def _store(app: Flask, *, speed_kmh: float, position: tuple[float, float] = SOUTH_OF_ZONE,
           ignition: bool = True) -> datetime:
    """A hijack near the market as the detector reports it today: the request names no zone and only the
    control-loss alerts; the ramming alert that names the zone came just before it."""
    now = datetime.now(UTC).replace(microsecond=0)
    with app.app_context(), Session(get_engine()) as session, session.begin():
        put_zones(session, ZONES, actor="test")
        for alert_id, kind, zone, ago in (("al-driver", "unauthorized_driver", None, 300),
                                          ("al-hijack", "hijack_suspected", None, 60),
                                          ("al-ramming", "ramming_risk", "ber-market-1", 50)):
            upsert_alert(session, alert(alert_id=alert_id, kind=kind, severity="critical", zone_id=zone,
                                        ts=_stamp(now - timedelta(seconds=ago)),
                                        onset_ts=_stamp(now - timedelta(seconds=ago + 10))))
        upsert_alert(session, alert(alert_id="al-other-truck", vehicle_id="NF-999", kind="towing",
                                    ts=_stamp(now - timedelta(seconds=30)),
                                    onset_ts=_stamp(now - timedelta(seconds=40))))
        upsert_stop_request(session, stop_request(
            ts=_stamp(now - timedelta(seconds=45)), alert_ids=["al-hijack", "al-driver"], zone_id=None,
            reason="hijack suspected at 50 km/h near an active protected zone",
            history=[{"status": "requested", "at": _stamp(now + timedelta(seconds=200)), "by": "detector"}]))
    with app.app_context(), Session(get_engine()) as session, session.begin():
        # raised while the request waits
        upsert_alert(session, alert(alert_id="al-intrusion", kind="protected_zone_intrusion", severity="critical",
                                    zone_id="ber-market-1", ts=_stamp(now), onset_ts=_stamp(now)))
        note_position(session, Fix("NF-101", now, position[0], position[1], speed_kmh, 10.0, ignition))
    return now


def test_the_page_names_the_zone_with_distance_and_time_and_lists_every_alert(app: Flask) -> None:
    _store(app, speed_kmh=50.0)
    officer = signed_in(app, "officer1", "law_enforcement")
    page = officer.get("/stop-requests/sr-0001").get_data(as_text=True)
    assert "Weihnachtsmarkt Breitscheidplatz" in page and "named by its alerts" in page
    assert "557 m, about 40 s at 50 km/h" in page  # 557 m at 13.9 m/s
    for alert_id in ("al-driver", "al-hijack", "al-ramming", "al-intrusion"):
        assert f'data-id="{alert_id}"' in page
    assert "al-other-truck" not in page
    after = page[page.index('data-id="al-intrusion"'):]
    assert "after the request" in after[:after.index("</tr>")]
    assert 'class="countdown"' in page and "expires at" in page
    assert "overtaken" not in page.lower()

    facts = officer.get("/stop-requests/sr-0001/decision").get_json()
    assert facts["zone"] == {"zone_id": "ber-market-1", "name": "Weihnachtsmarkt Breitscheidplatz",
                             "kind": "market", "source": "alerts"}
    assert facts["distance_m"] == pytest.approx(557, abs=1) and facts["eta_s"] == pytest.approx(40, abs=1)
    assert [(a["alert_id"], a["linked"], a["after"]) for a in facts["alerts"]] == [
        ("al-driver", True, False), ("al-hijack", True, False), ("al-ramming", False, False),
        ("al-intrusion", False, True)]
    assert 890 <= facts["seconds_left"] <= 900 and facts["overtaken"] == []


def test_a_request_overtaken_by_events_says_so_and_still_lets_officers_decide(app: Flask) -> None:
    _store(app, speed_kmh=0.0039, position=(52.505, 13.405), ignition=False)
    officer = signed_in(app, "officer1", "law_enforcement")
    page = officer.get("/stop-requests/sr-0001").get_data(as_text=True)
    assert 'id="overtaken"' in page
    for why in ("the vehicle has stopped", "the vehicle is already inside Weihnachtsmarkt Breitscheidplatz",
                "its ignition is off"):
        assert why in page
    assert "inside the zone" in page and "Approve (first of two)" in page


def test_two_officers_decide_and_the_history_reads_in_the_order_it_happened(app: Flask) -> None:
    now = _store(app, speed_kmh=50.0)
    first, second = signed_in(app, "officer1", "law_enforcement"), signed_in(app, "officer2", "law_enforcement")
    for officer in (first, second):
        response = officer.post("/stop-requests/sr-0001/approve", data={"csrf_token": csrf_token(officer)})
        assert response.status_code == 303
    # The dispatcher's "sent" and the truck's "acknowledged" come back through the topic; the truck writes its own
    # bus time, which in a fast replay runs ahead of the platform's clock.
    with app.app_context(), Session(get_engine()) as session, session.begin():
        row = session.execute(select(StopRequestRow)).scalar_one()
        history = [{k: v for k, v in e.items() if k != "recorded_at"} for e in row.history]
        for status, by, at in (("sent", "truckguard-dispatch", now + timedelta(seconds=1)),
                               ("acknowledged", "vehicle:NF-101", now + timedelta(seconds=400))):
            history.append({"status": status, "at": _stamp(at), "by": by})
            upsert_stop_request(session, stop_request(status=status, alert_ids=["al-hijack"], history=history))
    api = first.get("/api/stop-requests/sr-0001").get_json()
    assert [(e["status"], e["by"]) for e in api["history"]] == [
        ("requested", "detector"), ("requested", "officer1"), ("authorized", "officer2"),
        ("sent", "truckguard-dispatch"), ("acknowledged", "vehicle:NF-101")]
    recorded = [e["recorded_at"] for e in api["history"]]
    assert recorded == sorted(recorded) and all(r <= _stamp(datetime.now(UTC)) for r in recorded)
    assert api["history"][1]["approval"] == 1
    # The API carries the decision page's facts too, for a console that is not the site.
    assert api["decision"] == first.get("/stop-requests/sr-0001/decision").get_json()

    page = first.get("/stop-requests/sr-0001").get_data(as_text=True)
    steps = page[page.index('id="history"'):]
    words = ["requested</strong> by detector", "approved 1 of 2</strong> by officer1",
             "authorized</strong> by officer2", "sent</strong> by truckguard-dispatch",
             "acknowledged</strong> by vehicle:NF-101"]
    assert [steps.index(w) for w in words] == sorted(steps.index(w) for w in words)
    assert "requested by officer1" not in page
    assert steps.count("(event time") == 2  # the detector's and the truck's own clocks, beside the recorded time

    with app.app_context(), Session(get_engine()) as session:
        audit = [(r.action, r.actor, (r.after or {}).get("step")) for r in
                 session.execute(select(AuditRow).where(AuditRow.target_id == "sr-0001")
                                 .order_by(AuditRow.audit_id)).scalars()]
    assert audit == [("stop_request.requested", "detector", "requested"),
                     ("stop_request.approve", "officer1", "approved 1 of 2"),
                     ("stop_request.authorized", "officer2", "authorized"),
                     ("stop_request.sent", "truckguard-dispatch", "sent"),
                     ("stop_request.acknowledged", "vehicle:NF-101", "acknowledged")]


def test_the_vehicle_page_shows_its_track_alerts_and_stop_requests(app: Flask) -> None:
    now = _store(app, speed_kmh=50.0)
    from web.positions import note_track_point

    with app.app_context(), Session(get_engine()) as session, session.begin():
        for ago, lat in ((7200, 52.40), (600, 52.48), (300, 52.49)):
            note_track_point(session, Fix("NF-101", now - timedelta(seconds=ago), lat, 13.405, 50.0))
    officer = signed_in(app, "officer1", "law_enforcement")
    page = officer.get("/vehicles/NF-101").get_data(as_text=True)
    assert "Vehicle NF-101" in page and "2 points" in page and "Hijack suspected" in page
    assert "/stop-requests/sr-0001" in page and 'id="track-map"' in page
    track = officer.get("/vehicles/NF-101/track").get_json()
    assert track["geometry"]["coordinates"] == [[13.405, 52.48], [13.405, 52.49]]  # the last hour only
    assert track["properties"]["position"]["speed_kmh"] == 50.0
    assert officer.get("/vehicles/NO-SUCH").status_code == 404
    operator = signed_in(app, "op-other", "fleet_operator", ("another-fleet",))
    assert operator.get("/vehicles/NF-101").status_code == 404


def test_a_page_read_in_flight_across_an_approval_cannot_undo_its_confirmation(app: Flask) -> None:
    # The open page refreshes its facts while the officer approves: a read that began before the approval and ends
    # after it must not hand the browser back the session as it was (without the approval's confirmation), or the
    # officer is never told that the first approval was recorded.
    _store(app, speed_kmh=50.0)
    officer = signed_in(app, "officer1", "law_enforcement")
    token = csrf_token(officer)
    session_before = officer.get_cookie("truckguard_session").value
    approved = officer.post("/stop-requests/sr-0001/approve", data={"csrf_token": token})
    assert approved.status_code == 303

    late_read = app.test_client()  # the refresh that left with the session of before the approval
    late_read.set_cookie("truckguard_session", session_before)
    for path in ("/stop-requests/sr-0001/decision", "/api/map", "/events"):
        response = late_read.get(path)
        assert response.status_code == 200, (path, response.status_code)
        assert not [c for c in response.headers.getlist("Set-Cookie") if c.startswith("truckguard_session=")], path

    assert "First approval recorded" in officer.get("/stop-requests/sr-0001").get_data(as_text=True)
