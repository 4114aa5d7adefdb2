"""Plan templates on the site: reachable from the toolkit pages, blank for visitors, filled for a signed-in user
from their own checklist progress and self-assessment, and downloadable as Markdown and PDF."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from tests.web.people import csrf_token, signed_in
from toolkit.loader import default_content
from web.db import get_engine
from web.toolkit_store import save_site_assessment


def _post(client: FlaskClient, path: str, data: list[tuple[str, str]] | dict[str, str]) -> Any:
    pairs = list(data.items()) if isinstance(data, dict) else list(data)
    return client.post(path, data=MultiDict([*pairs, ("csrf_token", csrf_token(client, "/toolkit"))]))


def test_plans_are_linked_from_the_toolkit_and_download_blank_for_visitors(client: FlaskClient) -> None:
    content = default_content()
    assert 'href="/toolkit/plans"' in client.get("/toolkit").get_data(as_text=True)
    listing = client.get("/toolkit/plans").get_data(as_text=True)
    for plan in content.plans.values():
        assert f'href="/toolkit/plans/{plan.id}"' in listing
        assert f'href="/toolkit/plans/{plan.id}.pdf"' in listing and f'href="/toolkit/plans/{plan.id}.md"' in listing
        audience_page = client.get(f"/toolkit/audiences/{plan.audience}").get_data(as_text=True)
        assert f'href="/toolkit/plans/{plan.id}"' in audience_page
        page = client.get(f"/toolkit/plans/{plan.id}").get_data(as_text=True)
        for section in plan.sections:
            assert section.title.replace("'", "&#39;") in page
            for item_id in section.items:
                assert f'href="/toolkit/items/{item_id}"' in page

        markdown = client.get(f"/toolkit/plans/{plan.id}.md")
        assert markdown.status_code == 200 and markdown.mimetype == "text/markdown"
        assert markdown.headers["Content-Disposition"] == f'attachment; filename="{plan.id}.md"'
        text = markdown.get_data(as_text=True)
        assert "[?]" in text and "[x]" not in text
        pdf = client.get(f"/toolkit/plans/{plan.id}.pdf")
        assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert client.get("/toolkit/plans/budget").status_code == 404
    assert client.get("/toolkit/plans/fleet-security-plan.docx").status_code == 404


def test_a_fleet_operator_gets_the_plan_filled_from_their_own_progress_and_assessment(app: Flask) -> None:
    content = default_content()
    plan = content.plans["fleet-security-plan"]
    operator = signed_in(app, "op", "fleet_operator", ("fleet-a",))
    assert _post(operator, f"/toolkit/checklists/{plan.checklist}",
                 [("done", "fm-prep-01"), ("done", "fm-prep-13")]).status_code == 303
    answers = {q.id: "yes" if q.level == 3 else "no" for q in content.assessment.questions}
    assert _post(operator, "/toolkit/assessment", {**answers, "organisation": "Nordfracht GmbH"}).status_code == 303

    text = operator.get(f"/toolkit/plans/{plan.id}.md").get_data(as_text=True)
    assert f"- [x] **{content.items['fm-prep-01'].title}**" in text
    assert f"- [ ] **{content.items['fm-inc-01'].title}**" in text
    total = sum(i.audience == "fleet_manager" for i in content.items.values())
    assert f"Measures in place: 2; to do: {total - 2}" in text
    assert "| Organisation | Nordfracht GmbH |" in text
    assert re.search(r"\| Latest self-assessment \| \d{4}-\d\d-\d\d, Level 3 \(basic\) \|", text)
    lead = next(q for q in content.assessment.questions if q.id == "q-gov-lead")
    training = next(q for q in content.assessment.questions if q.id == "q-ppl-training")
    assert f"- Met: {lead.text}" in text and f"- Not met: {training.text}" in text

    page = operator.get(f"/toolkit/plans/{plan.id}").get_data(as_text=True)
    assert "Measures in place: 2" in page and "Nordfracht GmbH" in page

    other = signed_in(app, "op2", "fleet_operator", ("fleet-b",))
    theirs = other.get(f"/toolkit/plans/{plan.id}.md").get_data(as_text=True)
    assert "Nordfracht GmbH" not in theirs and f"Measures in place: 0; to do: {total}" in theirs


def test_a_rental_desk_fills_the_delivery_plan_from_its_checklist(app: Flask) -> None:
    plan = default_content().plans["rental-security-delivery-plan"]
    desk = signed_in(app, "desk", "rental", ("fleet-a",))
    assert _post(desk, f"/toolkit/checklists/{plan.checklist}", [("done", "rc-book-16")]).status_code == 303
    pdf = desk.get(f"/toolkit/plans/{plan.id}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    text = desk.get(f"/toolkit/plans/{plan.id}.md").get_data(as_text=True)
    assert "- [x] **Appoint a recognised security contact and a deputy**" in text
    assert "From your self-assessment" not in text


def test_an_officer_fills_the_operational_requirement_from_a_site_assessment(app: Flask) -> None:
    with app.app_context(), Session(get_engine()) as session, session.begin():
        row = save_site_assessment(session, actor="test", site_id="nice-massena", name="Place Masséna", answers={},
                                   result={"rating": "very_high", "score": 14}, zone={})
        site = row.site_assessment_id
    plan = default_content().plans["public-space-operational-requirement"]
    officer = signed_in(app, "officer1", "law_enforcement")
    page = officer.get(f"/toolkit/plans/{plan.id}").get_data(as_text=True)
    assert f'<option value="{site}">Place Masséna (nice-massena)</option>' in page
    text = officer.get(f"/toolkit/plans/{plan.id}.md?site={site}").get_data(as_text=True)
    assert "| Site | Place Masséna (nice-massena) |" in text and "| Site rating | very_high |" in text
    assert f'href="/toolkit/plans/{plan.id}.pdf?site={site}"' in officer.get(
        f"/toolkit/plans/{plan.id}?site={site}").get_data(as_text=True)
    visitor = app.test_client().get(f"/toolkit/plans/{plan.id}.md?site={site}").get_data(as_text=True)
    assert "Place Masséna" not in visitor
