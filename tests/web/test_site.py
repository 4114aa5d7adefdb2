"""Sign-in, CSRF, the two-officer authorisation, reference snapshots, OpenAPI coverage and the live stream."""

from __future__ import annotations

import re

import orjson
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.reference_source import ReferenceParts
from ingest.topics import STOP_REQUESTS
from tests.web.people import PASSWORD, csrf_token, ensure_user, signed_in
from tests.web.samples import alert, stop_request
from web.db import get_engine
from web.models import OutboxRow
from web.reference import REFERENCE_TOPIC
from web.store import upsert_alert, upsert_stop_request


def _outbox(app: Flask, topic: str) -> list[dict]:
    with app.app_context(), Session(get_engine()) as session:
        return [r.value for r in session.execute(select(OutboxRow).where(OutboxRow.topic == topic)
                                                 .order_by(OutboxRow.message_id)).scalars()]


def test_sign_in_is_throttled_per_account(app: Flask) -> None:
    ensure_user(app, "op", "fleet_operator", ("fleet-a",))
    client = app.test_client()
    for _ in range(5):
        token = csrf_token(client, "/login")
        response = client.post("/login", data={"username": "op", "password": "nope", "csrf_token": token})
        assert response.status_code == 401
        assert "wrong password" in response.get_data(as_text=True)
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"username": "op", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 429


def test_forms_without_a_csrf_token_are_refused(app: Flask) -> None:
    client = signed_in(app, "op", "fleet_operator", ("fleet-a",))
    assert client.post("/account/tokens", data={"name": "x"}).status_code == 400
    cookie = client.get_cookie("truckguard_session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"


def test_two_different_officers_authorise_and_every_change_is_published_and_audited(app: Flask) -> None:
    with app.app_context(), Session(get_engine()) as session, session.begin():
        upsert_alert(session, alert())
        upsert_stop_request(session, stop_request())
    first, second = signed_in(app, "officer1", "law_enforcement"), signed_in(app, "officer2", "law_enforcement")
    first.post("/stop-requests/sr-0001/approve", data={"csrf_token": csrf_token(first)})
    again = first.post("/stop-requests/sr-0001/approve", data={"csrf_token": csrf_token(first)}, follow_redirects=True)
    assert "a second officer must authorise" in again.get_data(as_text=True)
    assert first.get("/api/stop-requests/sr-0001").get_json()["status"] == "requested"
    second.post("/stop-requests/sr-0001/approve", data={"note": "confirmed", "csrf_token": csrf_token(second)})
    request = second.get("/api/stop-requests/sr-0001").get_json()
    assert request["status"] == "authorized"
    assert [(h["status"], h["by"]) for h in request["history"]] == [
        ("requested", "detector"), ("requested", "officer1"), ("authorized", "officer2")]
    published = _outbox(app, STOP_REQUESTS)
    assert [m["status"] for m in published] == ["requested", "authorized"]
    assert published[-1]["history"] == request["history"]
    audit = second.get("/api/audit?target_id=sr-0001").get_json()["audit"]
    assert [(e["action"], e["actor"]) for e in audit][:2] == [("stop_request.authorized", "officer2"),
                                                              ("stop_request.approve", "officer1")]
    csv = second.get("/audit.csv").get_data(as_text=True)
    assert csv.startswith("audit_id,at,actor,action") and "stop_request.authorized" in csv


def test_refusal_needs_a_reason(app: Flask) -> None:
    with app.app_context(), Session(get_engine()) as session, session.begin():
        upsert_stop_request(session, stop_request())
    officer = signed_in(app, "officer1", "law_enforcement")
    token = officer.post("/api/tokens", json={"name": "x"}, headers={"X-CSRFToken": csrf_token(officer)})
    bearer = {"Authorization": f"Bearer {token.get_json()['token']}"}
    response = app.test_client().post("/api/stop-requests/sr-0001/refuse", json={"reason": " "}, headers=bearer)
    assert response.status_code == 409 and "needs a reason" in response.get_json()["message"]
    response = app.test_client().post("/api/stop-requests/sr-0001/refuse", json={"reason": "wrong truck"},
                                      headers=bearer)
    assert response.get_json()["status"] == "refused"


def test_reference_changes_publish_versioned_snapshots_in_bundle_shape(app: Flask) -> None:
    admin = signed_in(app, "admin", "admin")
    fleet = {"fleets": [{"fleet_id": "nf", "name": "NF", "kind": "haulier", "timezone": "Europe/Berlin"}],
             "vehicles": [{"vehicle_id": "NF-1", "fleet_id": "nf", "category": "N3"}], "sites": []}
    assert admin.post("/api/reference/fleet", json=fleet).status_code == 400  # session calls need the CSRF header
    headers = {"X-CSRFToken": csrf_token(admin)}
    assert admin.post("/api/reference/fleet", json=fleet, headers=headers).get_json()["version"] == 1
    bad = admin.post("/api/reference/fleet", json={"vehicles": [{"vehicle_id": "X", "fleet_id": "nope"}]},
                     headers=headers)
    assert bad.status_code == 400 and "vehicles[0].fleet_id" in bad.get_json()["message"]
    response = admin.post("/reference/zones", data={
        "csrf_token": headers["X-CSRFToken"], "zone_id": "alex", "name": "Alexanderplatz", "timezone": "Europe/Berlin",
        "active": "mon-sat 08:00-20:00", "categories_allowed": "N1", "delivery_windows": "06:00-10:00",
        "max_speed_kmh": "10",
        "geometry": orjson.dumps({"type": "Polygon", "coordinates": [[[13.41, 52.52], [13.42, 52.52],
                                                                      [13.42, 52.53]]]}).decode()})
    assert response.status_code == 303
    messages = _outbox(app, REFERENCE_TOPIC)  # one per changed fleet or zone, rebuilt as the detectors do
    assert [(m["part"], m["version"]) for m in messages] == [("fleet", 1), ("zone", 2)]
    parts = ReferenceParts()
    for message in messages:
        parts.apply(orjson.dumps(message))
    latest = parts.document()
    assert latest["fleet"] == fleet
    assert latest["trips"] == {"type": "FeatureCollection", "features": []}
    [zone] = latest["zones"]["features"]
    assert zone["properties"]["active"] == [{"days": ["mon", "tue", "wed", "thu", "fri", "sat"],
                                             "from": "08:00", "to": "20:00"}]
    assert zone["geometry"]["coordinates"][0][0] == zone["geometry"]["coordinates"][0][-1]


def test_every_api_route_is_in_the_openapi_document(app: Flask) -> None:
    paths = app.test_client().get("/api/openapi.json").get_json()["paths"]
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        templates = [rule.rule]
        match = re.search(r"<any\(([^)]*)\):\w+>", rule.rule)
        if match and re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule.rule) not in paths:
            # Each value of an any() converter may be documented as a path of its own.
            templates = [rule.rule.replace(match.group(0), option.strip()) for option in match.group(1).split(",")]
        for template in templates:
            template = re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", template)
            assert template in paths, template
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert method.lower() in paths[template], f"{method} {template}"


def test_events_stream_sends_new_alerts_within_scope(app: Flask) -> None:
    app.config.update(SSE_MAX_S=0.0)
    client = signed_in(app, "op", "fleet_operator", ("nordfracht",))
    with app.app_context(), Session(get_engine()) as session, session.begin():
        upsert_alert(session, alert())
        upsert_alert(session, alert(alert_id="al-other", fleet_id="elsewhere"))
    response = client.get("/events?since=2000-01-01T00:00:00Z")
    body = response.get_data(as_text=True)
    assert response.mimetype == "text/event-stream"
    assert "event: alert" in body and "al-0001" in body and "al-other" not in body
