"""The printable self-assessment report: a real PDF, deterministic for the same inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.toolkit.pdf_text import pdf_text
from toolkit.assessment import score_assessment
from toolkit.assessment_pdf import latin1, render_assessment_pdf
from toolkit.errors import AnswerError
from toolkit.model import Content


def _required(content: Content, *levels: int) -> dict[str, bool]:
    return {q.id: True for q in content.assessment.questions if q.required and q.level in levels}


def test_pdf_report_renders_the_result(content: Content) -> None:
    result = score_assessment(_required(content, 3))
    when = datetime(2026, 5, 4, 8, 30, tzinfo=UTC)
    pdf = render_assessment_pdf(result, generated_at=when, organisation="Nordfracht GmbH")
    assert pdf.startswith(b"%PDF")
    assert pdf.rstrip().endswith(b"%%EOF")
    text = pdf_text(pdf)
    assert "Nordfracht GmbH" in text
    assert "Level achieved: Level 3 \\(basic\\)" in text
    assert "2026-05-04 08:30 UTC" in text
    assert result.next_steps[0].question.action[:40] in text


def test_pdf_is_deterministic_for_the_same_inputs(content: Content) -> None:
    result = score_assessment({})
    when = datetime(2026, 5, 4, 10, 30, tzinfo=timezone(timedelta(hours=2)))
    first = render_assessment_pdf(result, generated_at=when)
    assert first == render_assessment_pdf(result, generated_at=when)
    assert first != render_assessment_pdf(result, generated_at=when + timedelta(days=1))


def test_pdf_needs_an_aware_time() -> None:
    with pytest.raises(AnswerError, match="generated_at"):
        render_assessment_pdf(score_assessment({}), generated_at=datetime(2026, 5, 4))


def test_pdf_text_is_made_printable_with_core_fonts() -> None:
    assert latin1("driver’s “card” – ok … Łódź") == "driver's \"card\" - ok ... ?ód?"
