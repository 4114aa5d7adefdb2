"""Every API body checked against its schema (a 400 naming the field, never a 500, in process and through the real
server); CSV that stays text."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.web import real_server
from tests.web.people import csrf_token, signed_in
from tests.web.real_server import Account, Site, running_site
from tests.web.samples import stop_request
from web.audit import record, spreadsheet_safe
from web.db import get_engine, make_engine
from web.models import UserRow, VehicleRow
from web.reference import announce_change, put_fleet_document
from web.scope import Scope
from web.store import upsert_stop_request

FLEET = {"fleets": [{"fleet_id": "ber-haul", "name": "Berlin Haulage", "kind": "haulier",
                     "timezone": "Europe/Berlin"}],
         "vehicles": [{"vehicle_id": "BH-1", "fleet_id": "ber-haul", "category": "N3", "plate": "B-BH 1",
                       "authorized_driver_cards": ["DE0000000001"]}]}


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    with app.app_context(), Session(get_engine()) as session, session.begin():
        put_fleet_document(session, FLEET, Scope(None), actor="test")
        announce_change(session)
    client = signed_in(app, "admin", "admin")
    client.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(client)
    return client


@pytest.mark.parametrize(("path", "body", "message"), [
    ("/api/users", {"username": "clerk", "password": "plum orbit candle 42", "role": "rental",
                    "fleet_ids": "ber-haul"}, "body.fleet_ids: got 'ber-haul', expected array"),
    ("/api/users", {"username": "clerk", "password": "plum orbit candle 42", "role": "rental", "fleet_ids": 5},
     "body.fleet_ids: got 5, expected array"),
    ("/api/users", {"username": "clerk", "password": "plum orbit candle 42", "role": "rental",
                    "fleet_ids": ["nowhere"]}, "fleet_ids: nowhere not in the store"),
    ("/api/users", {"username": "clerk", "password": "plum orbit candle 42", "role": "rental",
                    "fleet_ids": ["ber-haul"], "is_admin": True}, "body: unknown field(s) 'is_admin'"),
    ("/api/reference/fleet", {"vehicles": [{"vehicle_id": "BH-2", "fleet_id": ["ber-haul"]}]},
     "body.vehicles[0].fleet_id: got ['ber-haul'], expected string"),
    ("/api/reference/fleet", {"vehicles": [{"vehicle_id": "<a href=//x.example>BH</a>", "fleet_id": "ber-haul"}]},
     "body.vehicles[0].vehicle_id: got '<a href=//x.example>BH</a>', expected letters, digits"),
    ("/api/reference/fleet", {"vehicles": [{"vehicle_id": "BH-2", "fleet_id": "ber-haul", "owner_notes": "x"}]},
     "body.vehicles[0]: unknown field(s) 'owner_notes'"),
    ("/api/tokens", {"name": "x" * 101}, "body.name: got 'xxxxx"),
])
def test_a_body_of_the_wrong_shape_gets_a_400_naming_the_field(admin: FlaskClient, path: str, body: dict[str, Any],
                                                                message: str) -> None:
    response = admin.post(path, json=body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["message"].startswith(message)


def test_deep_nesting_is_refused_without_exhausting_the_stack(admin: FlaskClient) -> None:
    for depth in (20, 100_000):
        body = "[" * depth + "]" * depth
        response = admin.post("/api/reference/zones", data=body, content_type="application/json")
        assert response.status_code == 400
        assert response.get_json()["message"].startswith("body: ")


def test_nothing_the_schema_refuses_is_stored(admin: FlaskClient, app: Flask) -> None:
    admin.post("/api/reference/fleet", json={"vehicles": [{"vehicle_id": "BH-2", "fleet_id": "ber-haul",
                                                           "x": 1}]})
    admin.post("/api/users", json={"username": "clerk", "password": "plum orbit candle 42", "role": "rental",
                                   "fleet_ids": "ber-haul"})
    with app.app_context(), Session(get_engine()) as session:
        assert session.get(VehicleRow, "BH-2") is None
        assert session.execute(select(UserRow).where(UserRow.username == "clerk")).first() is None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
FIELD_NAMES = st.sampled_from(["fleets", "vehicles", "sites", "features", "type", "geometry", "properties",
                               "coordinates", "vehicle_id", "fleet_id", "zone_id", "trip_id", "username", "password",
                               "role", "fleet_ids", "name", "note", "reason", "access", "active"])
SHAPED = st.recursive(
    JSON, lambda children: st.lists(children, max_size=3) | st.dictionaries(FIELD_NAMES, children, max_size=5),
    max_leaves=25,
)
POSTS = ["/api/reference/fleet", "/api/reference/trips", "/api/reference/zones", "/api/users", "/api/tokens",
         "/api/alerts/al-0001/acknowledge", "/api/stop-requests/sr-0001/refuse"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(POSTS), body=SHAPED)
def test_no_body_makes_the_api_fail(admin: FlaskClient, path: str, body: Any) -> None:
    response = admin.post(path, json=body)
    assert response.status_code < 500, (path, body, response.get_data(as_text=True))
    assert response.is_json


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=SHAPED)
def test_no_body_makes_an_officers_decision_fail(app: Flask, body: Any) -> None:
    with app.app_context(), Session(get_engine()) as session, session.begin():
        upsert_stop_request(session, stop_request())
    officer = signed_in(app, "officer1", "law_enforcement")
    officer.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(officer)
    response = officer.post("/api/stop-requests/sr-0001/approve", json=body)
    assert response.status_code in (200, 400, 409), response.get_data(as_text=True)


@pytest.fixture(scope="module")
def real_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """`truckguard web` over the store the in-process fuzz has: the fleet and the detector's stop request sr-0001."""
    accounts = [Account("admin", "admin"), Account("officer1", "law_enforcement")]
    with running_site(tmp_path_factory.mktemp("api"), accounts, fleet=FLEET) as site:
        engine = make_engine(site.settings.store_url)
        try:
            with Session(engine) as session, session.begin():
                upsert_stop_request(session, stop_request())
        finally:
            engine.dispose()
        yield site


@pytest.fixture(scope="module")
def browsers(real_site: Site) -> dict[str, requests.Session]:
    """The administrator's and an officer's browsers, signed in, sending the page's CSRF token as its scripts do."""
    return {"admin": real_server.signed_in(real_site, "admin", "127.0.0.31"),
            "officer1": real_server.signed_in(real_site, "officer1", "127.0.0.32")}


APPROVE = "/api/stop-requests/sr-0001/approve"


@pytest.mark.slow
@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from([*POSTS, APPROVE]), body=SHAPED)
def test_no_body_makes_the_real_server_fail(real_site: Site, browsers: dict[str, requests.Session], path: str,
                                            body: Any) -> None:
    """The bodies of both fuzz tests above, sent over HTTP to `truckguard web` (the administrator's to the API,
    the officer's to the decision): what the server says, never an error of its own."""
    who = "officer1" if path == APPROVE else "admin"
    response = browsers[who].post(f"{real_site.base}{path}", json=body, timeout=30)
    event(f"{response.status_code} {path}")  # --hypothesis-show-statistics: what the server answered
    assert response.status_code < 500, (path, body, response.text[:500])
    assert response.headers["Content-Type"].startswith("application/json"), (path, body, response.text[:500])
    if path == APPROVE:
        assert response.status_code in (200, 400, 409), (body, response.text[:500])


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x.example\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_starts_are_neutralised(text: str) -> None:
    assert spreadsheet_safe(text) == "'" + text
    assert spreadsheet_safe("NF-101") == "NF-101" and spreadsheet_safe(5) == 5


def test_the_audit_csv_shows_a_formula_as_text(app: Flask) -> None:
    with app.app_context(), Session(get_engine()) as session, session.begin():
        record(session, "=cmd|' /C calc'!A0", "site.create", "site", "+SUM(1)", fleet_id=None, ip="@evil")
    admin = signed_in(app, "admin", "admin")
    rows = list(csv.reader(io.StringIO(admin.get("/audit.csv").get_data(as_text=True))))
    [entry] = [r for r in rows if r[3] == "site.create"]
    assert entry[2] == "'=cmd|' /C calc'!A0" and entry[5] == "'+SUM(1)" and entry[7] == "'@evil"
