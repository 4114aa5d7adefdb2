from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.web.samples import alert, stop_request
from web.db import get_engine
from web.store import upsert_alert, upsert_stop_request

AUTHORIZED = {"status": "authorized", "at": "2026-11-24T09:18:00Z", "by": "police-berlin",
              "recorded_at": "2026-11-24T09:18:00Z"}  # as the site itself writes it
REQUESTED = {**stop_request()["history"][0], "recorded_at": "2026-11-24T09:16:01Z"}  # as the sink stored it


@pytest.fixture
def stored(app: Flask) -> None:
    with app.app_context(), Session(get_engine()) as session, session.begin():
        upsert_alert(session, alert())
        upsert_alert(session, alert(alert_id="al-0002", ts="2026-11-24T09:20:00Z", kind="gnss_jamming",
                                    severity="critical", zone_id="berlin-alex", score=0.93, fleet_id=None,
                                    evidence={"lasted_s": 40, "gnss_fix": False}))
        upsert_stop_request(session, stop_request(status="authorized", history=[REQUESTED, AUTHORIZED]))


@pytest.mark.usefixtures("stored")
@pytest.mark.parametrize("path", ["/", "/alerts"])
def test_alerts_page_lists_stored_alerts_newest_first(officer_client: FlaskClient, path: str) -> None:
    response = officer_client.get(path)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.index("al-0002") < page.index("al-0001")
    for text in ("NF-101", "nordfracht", "Route deviation", "GNSS jamming", "critical", "berlin-alex", "0.93",
                 "850 m off the planned route", "lasted s: 40; gnss fix: no", "2026-11-24 09:20:00",
                 'src="/static/live.js"', 'data-live="/api/alerts"'):
        assert text in page


@pytest.mark.usefixtures("stored")
def test_alerts_page_filters(officer_client: FlaskClient) -> None:
    page = officer_client.get("/alerts?severity=critical").get_data(as_text=True)
    assert 'data-id="al-0002"' in page and 'data-id="al-0001"' not in page
    assert 'data-live="/api/alerts?severity=critical"' in page


def test_empty_pages_say_so(officer_client: FlaskClient) -> None:
    # In the table itself: the page's live-update words (a JSON block) hold the same sentences.
    assert '<tr class="empty"><td colspan="9">No alerts yet.</td></tr>' in officer_client.get("/alerts").get_data(
        as_text=True)
    assert '<tr class="empty"><td colspan="8">No stop requests.</td></tr>' in officer_client.get(
        "/stop-requests").get_data(as_text=True)


@pytest.mark.usefixtures("stored")
def test_stop_requests_page(officer_client: FlaskClient) -> None:
    page = officer_client.get("/stop-requests").get_data(as_text=True)
    for text in ("sr-0001", "Controlled stop", "authorized", "heading into the Alexanderplatz market",
                 "authorized by police-berlin at 2026-11-24 09:18:00", 'aria-current="page"'):
        assert text in page


@pytest.mark.usefixtures("stored")
def test_api_alerts_returns_contract_shapes(officer_client: FlaskClient) -> None:
    response = officer_client.get("/api/alerts")
    assert response.status_code == 200 and response.is_json
    alerts = response.get_json()["alerts"]
    assert [a["alert_id"] for a in alerts] == ["al-0002", "al-0001"]
    contract = alert()
    assert {k: alerts[1][k] for k in contract} == contract
    assert list(alerts[1])[: len(contract)] == list(contract)  # contract field order
    assert officer_client.get("/api/alerts?kind=gnss_jamming&limit=5").get_json()["alerts"][0]["alert_id"] == "al-0002"


@pytest.mark.usefixtures("stored")
def test_api_stop_requests_returns_contract_shapes(officer_client: FlaskClient) -> None:
    [request] = officer_client.get("/api/stop-requests").get_json()["stop_requests"]
    expected = stop_request(status="authorized", history=[REQUESTED, AUTHORIZED])
    assert {k: request[k] for k in expected} == expected
    assert officer_client.get("/api/stop-requests?status=refused").get_json() == {"stop_requests": []}


@pytest.mark.parametrize("query", ["severity=high", "kind=nope", "limit=0", "limit=abc", "limit=100000"])
def test_api_refuses_bad_filters_as_json(officer_client: FlaskClient, query: str) -> None:
    response = officer_client.get(f"/api/alerts?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"] == "Bad Request"
    assert query.split("=")[0] in response.get_json()["message"]


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "store": "ok"}


def test_pages_are_served_locally_under_a_strict_policy(officer_client: FlaskClient) -> None:
    response = officer_client.get("/alerts")
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    page = response.get_data(as_text=True)
    assert "http://" not in page and "https://" not in page
    for asset in ("/static/style.css", "/static/live.js"):
        static = officer_client.get(asset)
        assert static.status_code == 200
        static.close()

