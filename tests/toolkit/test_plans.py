"""Plan templates: filled from checklist progress and self-assessment answers, written as Markdown and PDF."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.toolkit.pdf_text import pdf_text
from toolkit.errors import AnswerError
from toolkit.model import Content
from toolkit.plan_pdf import render_plan_pdf
from toolkit.plans import ITEM_MARKS, fill_plan, plan_markdown

WHEN = datetime(2026, 5, 4, 8, 30, tzinfo=UTC)


def _pdf_literal(text: str) -> str:
    """Text as a PDF string literal writes it: parentheses escaped."""
    return text.replace("(", "\\(").replace(")", "\\)")


def test_a_blank_template_marks_nothing_as_assessed(content: Content) -> None:
    filled = fill_plan("rental-security-delivery-plan")
    assert not filled.assessed
    assert {i.status for s in filled.sections for i in s.items} == {"not_assessed"}
    assert filled.count("in_place") == filled.count("to_do") == 0


def test_checklist_progress_and_answers_fill_the_plan(content: Content) -> None:
    filled = fill_plan("fleet-security-plan", done={"fm-prep-01", "fm-prep-13", "not-an-item-01"},
                       answers={"q-gov-lead": True, "q-ppl-training": False})
    statuses = {i.item.id: i.status for s in filled.sections for i in s.items}
    assert statuses["fm-prep-01"] == statuses["fm-prep-13"] == "in_place"
    assert statuses["fm-inc-01"] == "to_do"
    assert filled.count("in_place") == 2
    assert filled.count("to_do") == sum(i.audience == "fleet_manager" for i in content.items.values()) - 2
    questions = {q.question.id: q.status for s in filled.sections for q in s.questions}
    assert (questions["q-gov-lead"], questions["q-ppl-training"], questions["q-resp-stolen"]) == (
        "met", "not_met", "unanswered")


def test_markdown_has_every_section_and_points_back_to_every_item(content: Content) -> None:
    filled = fill_plan("public-space-operational-requirement", done={"psa-prep-07"},
                       context=(("Site", "Place Masséna (nice-massena)"),))
    text = plan_markdown(filled)
    plan = filled.plan
    assert text.startswith(f"# {plan.title}\n")
    assert "| Site | Place Masséna (nice-massena) |" in text
    for n, section in enumerate(plan.sections, start=1):
        assert f"## {n}. {section.title}" in text
        for item_id in section.items:
            assert f"[{item_id}](/toolkit/items/{item_id})" in text
    assert f"- {ITEM_MARKS['in_place']} **{content.items['psa-prep-07'].title}**" in text
    assert f"- {ITEM_MARKS['to_do']} **{content.items['psa-prep-03'].title}**" in text
    first_citation = content.items["psa-prep-03"].citations[0]
    assert first_citation.section in text


def test_pdf_parses_and_carries_the_sections(content: Content) -> None:
    filled = fill_plan("fleet-security-plan", done={"fm-prep-01"}, answers={"q-gov-lead": True})
    pdf = render_plan_pdf(filled, generated_at=WHEN)
    assert pdf.startswith(b"%PDF") and pdf.rstrip().endswith(b"%%EOF")
    text = pdf_text(pdf)
    assert filled.plan.title in text
    for n, section in enumerate(filled.plan.sections, start=1):
        assert _pdf_literal(f"{n}. {section.title}") in text
    assert "[x] Name a security lead and write the security plan \\(fm-prep-01\\)" in text
    assert "2026-05-04 08:30 UTC" in text


def test_pdf_is_deterministic_and_needs_an_aware_time() -> None:
    filled = fill_plan("rental-security-delivery-plan")
    assert render_plan_pdf(filled, generated_at=WHEN) == render_plan_pdf(filled, generated_at=WHEN)
    assert render_plan_pdf(filled, generated_at=WHEN) != render_plan_pdf(filled, generated_at=WHEN + timedelta(1))
    with pytest.raises(AnswerError, match="generated_at"):
        render_plan_pdf(filled, generated_at=datetime(2026, 5, 4))


def test_an_unknown_plan_is_refused() -> None:
    with pytest.raises(AnswerError, match="plan_id: got 'budget'"):
        fill_plan("budget")
