"""Toolkit journeys end to end: checklist progress, self-assessment and PDF, hire screening, public-space zones."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from tests.web.people import csrf_token, signed_in
from toolkit.loader import default_content
from web.db import get_engine
from web.models import AuditRow
from web.reference import put_fleet_document, reference_snapshot
from web.scope import Scope
from web.toolkit_store import ChecklistProgressRow, ScreeningReportRow

FLEETS = {
    "fleets": [{"fleet_id": f, "name": f.upper(), "kind": "rental", "timezone": "Europe/Berlin"}
               for f in ("fleet-a", "fleet-b")],
    "vehicles": [{"vehicle_id": v, "fleet_id": f, "category": "N2", "plate": f"B-{v}", "authorized_driver_cards": []}
                 for v, f in (("VA-1", "fleet-a"), ("VB-1", "fleet-b"))],
    "sites": [],
}
CLEAN = {"vehicle_category": "N1", "payment": "business_account", "identity": "licence_and_second_id",
         "documents": "consistent", "purpose": "specific_plausible"}


def _post(client: FlaskClient, path: str, data: dict[str, Any] | list[tuple[str, str]]) -> Any:
    pairs = list(data.items()) if isinstance(data, dict) else list(data)
    return client.post(path, data=MultiDict([*pairs, ("csrf_token", csrf_token(client, "/toolkit"))]))


def _audit(app: Flask, action: str) -> list[AuditRow]:
    with app.app_context(), Session(get_engine()) as session:
        return list(session.execute(select(AuditRow).where(AuditRow.action == action)).scalars())


@pytest.fixture
def fleets(app: Flask) -> Flask:
    with app.app_context(), Session(get_engine()) as session, session.begin():
        put_fleet_document(session, FLEETS, Scope(None), actor="test")
    return app


def test_checklist_progress_is_kept_per_user(app: Flask) -> None:
    checklist = default_content().checklists["driver-every-stop"]
    first, second = checklist.item_ids[:2]
    driver = signed_in(app, "op", "fleet_operator", ("fleet-a",))
    response = _post(driver, f"/toolkit/checklists/{checklist.id}", [("done", first), ("done", second)])
    assert response.status_code == 303
    html = driver.get(f"/toolkit/checklists/{checklist.id}").get_data(as_text=True)
    assert f"2 of {len(checklist.item_ids)} done" in html
    assert re.search(rf'value="{first}" id="done-{first}" checked', html)
    assert f"2 of {len(checklist.item_ids)} done" in driver.get("/toolkit/checklists").get_data(as_text=True)
    with app.app_context(), Session(get_engine()) as session:
        [row] = session.execute(select(ChecklistProgressRow)).scalars()
        assert row.progress == {"format": 1, "checklist_id": checklist.id, "done": sorted([first, second])}

    assert _post(driver, f"/toolkit/checklists/{checklist.id}", [("done", second)]).status_code == 303
    assert f"1 of {len(checklist.item_ids)} done" in driver.get(f"/toolkit/checklists/{checklist.id}").get_data(
        as_text=True)
    other = signed_in(app, "op2", "fleet_operator", ("fleet-b",))
    assert "0 of" in other.get(f"/toolkit/checklists/{checklist.id}").get_data(as_text=True)
    bad = _post(driver, f"/toolkit/checklists/{checklist.id}", [("done", "drv-prep-01")])
    assert bad.status_code == 400 and "done: got &#39;drv-prep-01&#39;" in bad.get_data(as_text=True)
    assert _post(driver, "/toolkit/checklists/nope", []).status_code == 404


def test_self_assessment_result_pdf_and_privacy(app: Flask) -> None:
    questions = default_content().assessment.questions
    operator = signed_in(app, "op", "fleet_operator", ("fleet-a",))
    missing = _post(operator, "/toolkit/assessment", {questions[0].id: "yes"})
    assert missing.status_code == 400
    text = missing.get_data(as_text=True)
    assert "Answer every question" in text and 'aria-invalid="true"' in text and questions[1].text in text

    answers = {q.id: "yes" if q.level == 3 else "no" for q in questions}
    response = _post(operator, "/toolkit/assessment", {**answers, "organisation": "Nordfracht GmbH"})
    assert response.status_code == 303
    result_url = response.headers["Location"]
    html = operator.get(result_url).get_data(as_text=True)
    assert "Level achieved: Level 3 (basic)" in html and "Next level to aim for: Level 2" in html
    level2 = next(q for q in questions if q.level == 2 and q.required)
    assert level2.action.replace("'", "&#39;") in html
    assert f"/toolkit/items/{level2.guidance[0]}" in html

    pdf = operator.get(result_url + ".pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert "attachment" in pdf.headers["Content-Disposition"]
    assert result_url in operator.get("/toolkit/assessment").get_data(as_text=True)

    stranger = signed_in(app, "op2", "fleet_operator", ("fleet-b",))
    assert stranger.get(result_url).status_code == 404
    assert stranger.get(result_url + ".pdf").status_code == 404


def _screen(client: FlaskClient, **answers: str) -> Any:
    return _post(client, "/toolkit/screening", {"hirer_reference": "RA-2026-0042", "plate": "B-VA-1",
                                                 "branch": "Berlin Mitte", **CLEAN, **answers})


def test_screening_outcomes_reach_law_enforcement_and_stay_in_scope(fleets: Flask) -> None:
    app = fleets
    desk_a = signed_in(app, "desk-a", "rental", ("fleet-a",))
    desk_b = signed_in(app, "desk-b", "rental", ("fleet-b",))
    officer = signed_in(app, "officer1", "law_enforcement")

    clean = _screen(desk_a)
    assert clean.status_code == 303
    clean_url = clean.headers["Location"]
    html = desk_a.get(clean_url).get_data(as_text=True)
    assert 'data-outcome="proceed"' in html and "Report this hire" in html

    extra = desk_a.get(_screen(desk_a, payment="card_other_name", purpose="vague").headers["Location"])
    assert 'data-outcome="extra_checks"' in extra.get_data(as_text=True)

    refused = _screen(desk_a, documents="appears_forged", vehicle_id="VA-1", notes="left in a hurry")
    refused_url = refused.headers["Location"]
    html = desk_a.get(refused_url).get_data(as_text=True)
    assert 'data-outcome="refuse_and_report"' in html and 'id="reported"' in html
    assert "Hard stop" in html

    reports = officer.get("/toolkit/screening-reports").get_data(as_text=True)
    assert "RA-2026-0042" in reports and "fleet-a" in reports and "Berlin Mitte" in reports
    with app.app_context(), Session(get_engine()) as session:
        [report] = session.execute(select(ScreeningReportRow)).scalars()
        assert report.report["outcome"] == "refuse_and_report" and report.report["vehicle"]["vehicle_id"] == "VA-1"
        assert report.report["report_kind"] == "truckguard.suspicious_hire" and report.fleet_id == "fleet-a"
        report_id = report.report_id
    detail = officer.get(f"/toolkit/screening-reports/{report_id}").get_data(as_text=True)
    assert "left in a hurry" in detail and "truckguard.suspicious_hire" in detail

    # The explicit report action, on a hire that could proceed.
    assert _post(desk_a, clean_url + "/report", {}).status_code == 303
    assert 'id="reported"' in desk_a.get(clean_url).get_data(as_text=True)
    assert len(_audit(app, "toolkit.screening_report")) == 2
    assert len(_audit(app, "toolkit.screening")) == 3

    # Fleet B's desk sees none of fleet A's screenings and cannot report them.
    assert desk_b.get(refused_url).status_code == 404
    assert _post(desk_b, clean_url + "/report", {}).status_code == 404
    assert "RA-2026-0042" not in desk_b.get("/toolkit/screening").get_data(as_text=True)
    wrong_vehicle = _screen(desk_b, vehicle_id="VA-1")
    assert wrong_vehicle.status_code == 400 and "VA-1" in wrong_vehicle.get_data(as_text=True)
    assert desk_a.get("/toolkit/screening-reports").status_code == 403
    assert officer.get("/toolkit/screening").status_code == 403


def test_screening_validation_names_what_is_missing(fleets: Flask) -> None:
    desk = signed_in(fleets, "desk-a", "rental", ("fleet-a",))
    response = _post(desk, "/toolkit/screening", {"hirer_reference": "R1", "plate": "B-1", "payment": "cash_insisted"})
    text = response.get_data(as_text=True)
    assert response.status_code == 400 and "Answer these questions" in text and 'aria-invalid="true"' in text
    assert 'value="cash_insisted" checked' in text
    no_plate = _post(desk, "/toolkit/screening", {"hirer_reference": "R1", **CLEAN})
    assert no_plate.status_code == 400 and "plate: got &#39;&#39;, expected non-empty text" in no_plate.get_data(
        as_text=True)


BOUNDARY = {"type": "Polygon", "coordinates": [[[13.410, 52.520], [13.414, 52.520], [13.414, 52.523],
                                                [13.410, 52.523], [13.410, 52.520]]]}


def _site_form(**overrides: str) -> list[tuple[str, str]]:
    fields = {"site-site_id": "alex-market", "site-name": "Alexanderplatz Christmas market", "site-kind": "market",
              "site-timezone": "Europe/Berlin", "site-boundary": orjson.dumps(BOUNDARY).decode(),
              "routes-0-name": "Karl-Liebknecht-Str.", "routes-0-max_speed_kmh": "50",
              "routes-0-approach_angle_deg": "85", "routes-1-name": "Rathausstr.", "routes-1-max_speed_kmh": "30",
              "routes-1-approach_angle_deg": "40", "routes-1-barrier-standard": "IWA 14-1 V/7200[N3C]/48/90",
              "routes-1-barrier-rated_mass_kg": "7200", "routes-1-barrier-rated_speed_kmh": "48",
              "crowd_times-0-from": "11:00", "crowd_times-0-to": "22:00", "crowd_times-0-peak_people": "4000",
              "deliveries-windows-0-from": "06:00", "deliveries-windows-0-to": "09:00", **overrides}
    days = [("crowd_times-0-days", d) for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")]
    return [*fields.items(), *days, ("deliveries-categories", "N1"), ("deliveries-categories", "N2")]


def test_public_space_assessment_sends_its_zone_to_the_detector(app: Flask) -> None:
    officer = signed_in(app, "officer1", "law_enforcement")
    assert officer.get("/toolkit/public-space").status_code == 200
    response = _post(officer, "/toolkit/public-space", _site_form())
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    result_url = response.headers["Location"]
    html = officer.get(result_url).get_data(as_text=True)
    assert 'data-rating="' in html and "Karl-Liebknecht-Str.: no vehicle security barrier" in html
    assert "alex-market" in html and "Send to the detector" in html

    with app.app_context(), Session(get_engine()) as session:
        assert reference_snapshot(session)["zones"]["features"] == []
    assert _post(officer, result_url + "/send", {}).status_code == 303
    assert 'id="zone-sent"' in officer.get(result_url).get_data(as_text=True)
    with app.app_context(), Session(get_engine()) as session:
        snapshot = reference_snapshot(session)
    [zone] = snapshot["zones"]["features"]
    assert zone["properties"]["zone_id"] == "alex-market" and snapshot["version"] == 1
    assert zone["properties"]["access"]["categories_allowed"] == ["N1", "N2"]
    assert zone["properties"]["active"][0] == {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                               "from": "11:00", "to": "22:00"}
    assert len(_audit(app, "toolkit.zone_sent")) == 1 and len(_audit(app, "zone.create")) == 1
    assert len(_audit(app, "toolkit.site_assessment")) == 1


def test_public_space_validation_names_the_field(app: Flask) -> None:
    admin = signed_in(app, "admin", "admin")
    response = _post(admin, "/toolkit/public-space", _site_form(**{"routes-0-max_speed_kmh": "fast"}))
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Vehicle approach routes, row 1 › Highest speed a vehicle could reach" in text
    assert "got &#39;fast&#39;, expected a number" in text
    assert 'value="Karl-Liebknecht-Str."' in text  # what was typed is kept
    no_outline = _post(admin, "/toolkit/public-space", _site_form(**{"site-boundary": "not json"}))
    assert no_outline.status_code == 400 and "Outline of the area" in no_outline.get_data(as_text=True)
    rental = signed_in(app, "desk", "rental", ("fleet-a",))
    assert rental.get("/toolkit/public-space").status_code == 403
