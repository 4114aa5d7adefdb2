"""Every route of the app, for every role: who may use it, and that fleet A never sees anything of fleet B."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.web.people import csrf_token, signed_in
from tests.web.samples import alert, stop_request
from web.db import get_engine
from web.reference import announce_change, put_fleet_document, put_trips
from web.scope import Scope
from web.store import upsert_alert, upsert_stop_request

FLEETS = {
    "fleets": [{"fleet_id": f, "name": f.upper(), "kind": "haulier", "timezone": "Europe/Berlin",
                "operating_hours": {"mon": ["05:00", "21:00"]}} for f in ("fleet-a", "fleet-b")],
    "vehicles": [{"vehicle_id": v, "fleet_id": f, "category": "N3", "plate": f"B-{v}", "authorized_driver_cards": []}
                 for v, f in (("VA-1", "fleet-a"), ("VB-1", "fleet-b"))],
    "sites": [{"site_id": "site-b", "fleet_id": "fleet-b", "kind": "depot", "lat": 52.4, "lon": 13.5,
               "radius_m": 300}],
}
TRIP_B = {"type": "FeatureCollection", "features": [{
    "type": "Feature", "geometry": {"type": "LineString", "coordinates": [[13.4, 52.5], [13.5, 52.6]]},
    "properties": {"trip_id": "trip-b", "vehicle_id": "VB-1", "planned_start": "2026-11-24T08:00:00Z",
                   "planned_end": "2026-11-24T12:00:00Z", "corridor_m": 500}}]}

ROLES = {"op_a": ("fleet_operator", ("fleet-a",)), "rental_a": ("rental", ("fleet-a",)),
         "officer1": ("law_enforcement", ()), "admin": ("admin", ())}
ALL = frozenset(ROLES)
FLEET_EDIT = frozenset({"op_a", "rental_a", "admin"})
B_MARKERS = ("VB-1", "al-b", "sr-b", "site-b", "trip-b")

# endpoint → (method, path, who may use it, body). Paths name fleet B's items, so an operator of fleet A
# must get 404 from item routes and must find no trace of fleet B in list routes.
ROUTES: dict[str, tuple[str, str, frozenset[str] | None, dict[str, Any] | None]] = {
    "static": ("GET", "/static/style.css", None, None),
    "health.healthz": ("GET", "/healthz", None, None),
    "auth.login": ("GET", "/login", None, None),
    "auth.logout": ("POST", "/logout", None, {}),
    "account.index": ("GET", "/account", ALL, None),
    "account.create": ("POST", "/account/tokens", ALL, {"name": "t"}),
    "account.revoke": ("POST", "/account/tokens/999/revoke", ALL, {}),
    "account.password": ("POST", "/account/password", ALL, {"current": "wrong", "new": "x"}),
    "users.index": ("GET", "/users", frozenset({"admin"}), None),
    "users.create": ("POST", "/users", frozenset({"admin"}), {"username": ""}),
    "users.set_active": ("POST", "/users/nobody/active", frozenset({"admin"}), {"active": "1"}),
    "users.second_factor": ("POST", "/users/nobody/second-factor", frozenset({"admin"}), {}),
    "alerts.index": ("GET", "/alerts", ALL, None),
    "alerts.detail": ("GET", "/alerts/al-b", ALL, None),
    "alerts.change": ("POST", "/alerts/al-b/acknowledge", FLEET_EDIT, {"note": "x"}),
    "fleet.index": ("GET", "/map", ALL, None),
    "reference.index": ("GET", "/reference", ALL, None),
    "reference.upload_fleet": ("POST", "/reference/fleet", FLEET_EDIT, {"document": '{"vehicles": []}'}),
    "reference.upload_trips": ("POST", "/reference/trips", FLEET_EDIT,
                               {"document": '{"type": "FeatureCollection", "features": []}'}),
    "reference.put_vehicle": ("POST", "/reference/vehicles", FLEET_EDIT,
                              {"vehicle_id": "VB-1", "fleet_id": "fleet-b"}),
    "reference.put_site": ("POST", "/reference/sites", FLEET_EDIT,
                           {"site_id": "site-b", "fleet_id": "fleet-b", "lat": "1", "lon": "1", "radius_m": "9"}),
    "reference.draw_zone": ("GET", "/reference/zones/new", frozenset({"officer1", "admin"}), None),
    "reference.put_zone": ("POST", "/reference/zones", frozenset({"officer1", "admin"}), {"zone_id": ""}),
    "reference.import_osm": ("POST", "/reference/zones/osm", frozenset({"officer1", "admin"}), {}),
    "reference.save_osm_zones": ("POST", "/reference/zones/osm/save", frozenset({"officer1", "admin"}), {}),
    "reference.delete": ("POST", "/reference/vehicle/VB-1/delete", FLEET_EDIT | {"officer1"}, {}),
    "stop_requests.index": ("GET", "/stop-requests", ALL, None),
    "stop_requests.detail": ("GET", "/stop-requests/sr-b", ALL, None),
    "stop_requests.decide": ("POST", "/stop-requests/sr-b/refuse", frozenset({"officer1"}), {"reason": ""}),
    "stop_requests.release": ("POST", "/stop-requests/sr-b/release", frozenset({"officer1"}), {"reason": ""}),
    "audit.index": ("GET", "/audit", ALL, None),
    "audit.export": ("GET", "/audit.csv", ALL, None),
    "audit.stop_request_record": ("GET", "/stop-requests/sr-b/record.json", frozenset({"officer1", "admin"}), None),
    "events.stream": ("GET", "/events", ALL, None),
    "account.language": ("POST", "/account/language", None, {"language": "de"}),
    "alerts.map_json": ("GET", "/alerts/al-b/map", ALL, None),
    "basemap.layers": ("GET", "/basemap.json", ALL, None),
    "notifications.index": ("GET", "/notifications", ALL, None),
    "notifications.profile": ("POST", "/notifications/profile", ALL, {"timezone": "UTC"}),
    "notifications.create_channel": ("POST", "/notifications/channels", ALL, {"kind": "webhook", "name": ""}),
    "notifications.delete_channel": ("POST", "/notifications/channels/999/remove", ALL, {}),
    "notifications.test_channel": ("POST", "/notifications/channels/999/test", ALL, {}),
    "notifications.test_browser": ("POST", "/notifications/browser/test", ALL, {}),
    "notifications.push_renewal": ("GET", "/notifications/push", ALL, None),
    "notifications.renew_push": ("POST", "/notifications/push/renew", ALL, {}),
    "notifications.create_rule": ("POST", "/notifications/rules", ALL, {"kinds": ""}),
    "notifications.delete_rule": ("POST", "/notifications/rules/999/remove", ALL, {}),
    "notifications.events": ("GET", "/notifications/events", ALL, None),
    "notifications.script": ("GET", "/notifications/notify.js", ALL, None),
    "api.openapi": ("GET", "/api/openapi.json", None, None),
    "api.me": ("GET", "/api/me", ALL, None),
    "api.alerts": ("GET", "/api/alerts", ALL, None),
    "api.alert": ("GET", "/api/alerts/al-b", ALL, None),
    "api.alert_action": ("POST", "/api/alerts/al-b/acknowledge", FLEET_EDIT, {"note": "x"}),
    "api.stop_requests": ("GET", "/api/stop-requests", ALL, None),
    "api.stop_request": ("GET", "/api/stop-requests/sr-b", ALL, None),
    "api.stop_request_action": ("POST", "/api/stop-requests/sr-b/refuse", frozenset({"officer1"}), {"reason": ""}),
    "api.map_data": ("GET", "/api/map", ALL, None),
    "api.vehicle_list": ("GET", "/api/vehicles", ALL, None),
    "api.reference": ("GET", "/api/reference", ALL, None),
    "api.put_fleet": ("POST", "/api/reference/fleet", FLEET_EDIT, {"vehicles": [FLEETS["vehicles"][1]]}),
    "api.put_trip_collection": ("POST", "/api/reference/trips", FLEET_EDIT, TRIP_B),
    "api.put_zone_collection": ("POST", "/api/reference/zones", frozenset({"officer1", "admin"}),
                                {"type": "FeatureCollection", "features": []}),
    "api.delete_reference": ("DELETE", "/api/reference/vehicle/VB-1", FLEET_EDIT | {"officer1"}, None),
    "api.audit": ("GET", "/api/audit", ALL, None),
    "api.tokens": ("GET", "/api/tokens", ALL, None),
    "api.new_token": ("POST", "/api/tokens", ALL, {"name": "t"}),
    "api.delete_token": ("DELETE", "/api/tokens/999", ALL, None),
    "api.users": ("GET", "/api/users", frozenset({"admin"}), None),
    "api.new_user": ("POST", "/api/users", frozenset({"admin"}), {"username": ""}),
    "toolkit.index": ("GET", "/toolkit", None, None),
    "toolkit.audience": ("GET", "/toolkit/audiences/rental_counter", None, None),
    "toolkit.phase": ("GET", "/toolkit/phases/handover", None, None),
    "toolkit.item": ("GET", "/toolkit/items/drv-prep-01", None, None),
    "toolkit.search": ("GET", "/toolkit/search?q=cash", None, None),
    "vehicles.detail": ("GET", "/vehicles/VB-1", ALL, None),
    "vehicles.track_json": ("GET", "/vehicles/VB-1/track", ALL, None),
    "stop_requests.decision": ("GET", "/stop-requests/sr-b/decision", ALL, None),
    "toolkit.plans": ("GET", "/toolkit/plans", None, None),
    "toolkit.plan": ("GET", "/toolkit/plans/fleet-security-plan", None, None),
    "toolkit.plan_download": ("GET", "/toolkit/plans/fleet-security-plan.pdf", None, None),
    "toolkit.checklists": ("GET", "/toolkit/checklists", None, None),
    "toolkit.checklist": ("GET", "/toolkit/checklists/driver-every-stop", None, None),
    "toolkit.save_checklist": ("POST", "/toolkit/checklists/driver-every-stop", ALL, {"done": "drv-park-01"}),
    "toolkit.assessment": ("GET", "/toolkit/assessment", FLEET_EDIT, None),
    "toolkit.submit_assessment": ("POST", "/toolkit/assessment", FLEET_EDIT, {}),
    "toolkit.assessment_result": ("GET", "/toolkit/assessment/999", FLEET_EDIT, None),
    "toolkit.assessment_pdf": ("GET", "/toolkit/assessment/999.pdf", FLEET_EDIT, None),
    "toolkit.screening": ("GET", "/toolkit/screening", frozenset({"rental_a"}), None),
    "toolkit.submit_screening": ("POST", "/toolkit/screening", frozenset({"rental_a"}), {}),
    "toolkit.screening_result": ("GET", "/toolkit/screening/999", frozenset({"rental_a"}), None),
    "toolkit.report_screening": ("POST", "/toolkit/screening/999/report", frozenset({"rental_a"}), {}),
    "toolkit.screening_reports": ("GET", "/toolkit/screening-reports", frozenset({"officer1", "admin"}), None),
    "toolkit.screening_report": ("GET", "/toolkit/screening-reports/999", frozenset({"officer1", "admin"}), None),
    "toolkit.public_space": ("GET", "/toolkit/public-space", frozenset({"officer1", "admin"}), None),
    "toolkit.submit_public_space": ("POST", "/toolkit/public-space", frozenset({"officer1", "admin"}), {}),
    "toolkit.public_space_result": ("GET", "/toolkit/public-space/999", frozenset({"officer1", "admin"}), None),
    "toolkit.send_public_space_zone": ("POST", "/toolkit/public-space/999/send", frozenset({"officer1", "admin"}),
                                       {}),
}


@pytest.fixture
def world(app: Flask) -> Flask:
    """Two fleets, each with a vehicle, an alert and a stop request; fleet B also a site and a trip."""
    app.config["SSE_MAX_S"] = 0.0
    with app.app_context(), Session(get_engine()) as session, session.begin():
        put_fleet_document(session, FLEETS, Scope(None), actor="test")
        put_trips(session, TRIP_B, Scope(None), actor="test")
        announce_change(session)
        for suffix, vehicle in (("a", "VA-1"), ("b", "VB-1")):
            upsert_alert(session, alert(alert_id=f"al-{suffix}", vehicle_id=vehicle, fleet_id=f"fleet-{suffix}"))
            upsert_stop_request(session, stop_request(request_id=f"sr-{suffix}", vehicle_id=vehicle,
                                                      fleet_id=f"fleet-{suffix}", alert_ids=[f"al-{suffix}"]))
    return app


def test_every_route_is_in_the_table(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - set(ROUTES) == set(), "new routes need a row in ROUTES (who may use them, and scope)"
    assert set(ROUTES) - endpoints == set(), "ROUTES names routes that no longer exist"


def _call(client: FlaskClient, method: str, path: str, body: dict[str, Any] | None, *, token: str | None = None,
          ) -> Any:
    if path.startswith("/api/"):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return client.open(path, method=method, json=body if method != "GET" else None, headers=headers)
    data = dict(body or {})
    if method == "POST":
        data["csrf_token"] = csrf_token(client)
    return client.open(path, method=method, data=data if method == "POST" else None)


@pytest.mark.parametrize("endpoint", sorted(ROUTES))
def test_signed_out_visitors_get_nothing_but_public_pages(world: Flask, endpoint: str) -> None:
    method, path, roles, body = ROUTES[endpoint]
    response = world.test_client().open(path, method=method, json=body if path.startswith("/api/") else None,
                                        data=None if path.startswith("/api/") else body)
    if roles is None:
        assert response.status_code < 500 and response.status_code != 401
    elif path.startswith("/api/") or path == "/events":
        assert response.status_code == 401
    else:
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def _api_token(app: Flask, client: FlaskClient) -> str:
    response = client.post("/account/tokens", data={"name": "perm", "csrf_token": csrf_token(client)})
    assert response.status_code == 201
    import re

    return re.search(r'id="new-token">([^<]+)<', response.get_data(as_text=True)).group(1)


@pytest.mark.parametrize("username", sorted(ROLES))
def test_each_role_reaches_exactly_its_routes_and_fleet_a_never_sees_fleet_b(world: Flask, username: str) -> None:
    role, fleets = ROLES[username]
    client = signed_in(world, username, role, fleets)
    token = _api_token(world, client)
    scoped = role in ("fleet_operator", "rental")
    for endpoint, (method, path, roles, body) in sorted(ROUTES.items()):
        if endpoint in ("auth.logout", "static"):
            continue
        response = _call(client, method, path, body, token=token)
        # A PDF download is bytes, not text: read it leniently (the fleet markers are plain ASCII either way).
        text = response.get_data().decode("utf-8", errors="replace")
        where = f"{username} {method} {path}: {response.status_code} {text[:200]}"
        if roles is not None and username not in roles:
            assert response.status_code == 403, where
            continue
        assert response.status_code < 500 and response.status_code not in (401, 403), where
        if scoped and endpoint != "api.openapi" and response.status_code < 300:
            assert not any(marker in text for marker in B_MARKERS), where
            if method != "GET" and ("b" in path.split("/")[-1] or "B-1" in path or "sr-b" in path or "al-b" in path):
                assert response.status_code in (400, 404), where


def test_cross_fleet_changes_are_refused_and_change_nothing(world: Flask) -> None:
    client = signed_in(world, "op_a", "fleet_operator", ("fleet-a",))
    officer = signed_in(world, "officer1", "law_enforcement")
    assert client.post("/alerts/al-b/acknowledge", data={"csrf_token": csrf_token(client)}).status_code == 404
    response = client.post("/reference/vehicles", data={"vehicle_id": "VB-1", "fleet_id": "fleet-a",
                                                        "csrf_token": csrf_token(client)})
    text = response.get_data(as_text=True)
    assert response.status_code == 400 and "not available to you" in text
    assert "fleet-b" not in text  # the refusal does not say whose it is
    assert officer.get("/api/alerts/al-b").get_json()["status"] == "open"
    vehicles = {v["vehicle_id"]: v["fleet_id"] for v in officer.get("/api/vehicles").get_json()["vehicles"]}
    assert vehicles["VB-1"] == "fleet-b"
