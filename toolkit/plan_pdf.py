"""Renders a filled plan template (security plan, delivery plan, operational requirement) as a printable PDF."""

from __future__ import annotations

from datetime import datetime

from toolkit.assessment_pdf import ReportDocument, latin1
from toolkit.errors import AnswerError
from toolkit.loader import default_content
from toolkit.model import Content
from toolkit.plans import BLANK, ITEM_MARKS, FilledPlan, citation_line


def render_plan_pdf(filled: FilledPlan, *, generated_at: datetime, content: Content | None = None) -> bytes:
    """The plan as PDF bytes; the same plan, fill and time always give the same bytes."""
    if generated_at.tzinfo is None:
        raise AnswerError("generated_at", generated_at, "a timezone-aware datetime")
    content = content or default_content()
    strings = content.strings
    plan = filled.plan
    pdf = ReportDocument(f"{plan.title} - {strings.text('plan.version', version=filled.content_version)}")
    pdf.set_creation_date(generated_at)
    pdf.set_title(latin1(plan.title))
    pdf.set_lang(content.language)
    pdf.set_producer("truckguard toolkit")
    pdf.add_page()

    pdf.line_of(plan.title, size=17, style="B", height=9)
    pdf.line_of(strings.text("plan.generated", when=generated_at.strftime("%Y-%m-%d %H:%M %Z").strip()), size=9)
    pdf.ln(2)
    pdf.line_of(plan.intro, size=10)
    pdf.ln(2)
    for label, value in (*filled.context, (strings.text("plan.organisation"), BLANK),
                         (strings.text("plan.approved_by"), BLANK), (strings.text("plan.next_review"), BLANK)):
        pdf.line_of(f"{label}: {value}", size=10)
    pdf.ln(1)
    if filled.assessed:
        pdf.line_of(strings.text("plan.summary", in_place=filled.count("in_place"), to_do=filled.count("to_do")),
                    size=10, style="B")
    else:
        pdf.line_of(strings.text("plan.not_assessed"), size=9.5)

    for n, section in enumerate(filled.sections, start=1):
        pdf.heading(f"{n}. {section.section.title}")
        pdf.line_of(section.section.prompt, size=9.5)
        for label in ("plan.owner", "plan.due", "plan.notes"):
            pdf.line_of(f"{strings.text(label)}: {BLANK}", size=9.5)
        pdf.ln(1)
        pdf.line_of(strings.text("plan.measures"), size=10, style="B")
        for entry in section.items:
            item = entry.item
            pdf.line_of(f"{ITEM_MARKS[entry.status]} {item.title} ({item.id})", size=9.5, style="B")
            pdf.set_x(pdf.l_margin + 4)
            pdf.line_of(item.text, size=9)
            pdf.set_text_color(80)
            pdf.set_x(pdf.l_margin + 4)
            pdf.line_of(f"{strings.text('plan.sources')}: {citation_line(item, content)}", size=8, height=4.4)
            pdf.set_text_color(0)
            pdf.ln(0.8)
        if section.questions:
            pdf.line_of(strings.text("plan.assessment"), size=10, style="B")
            for answer in section.questions:
                pdf.line_of(f"{strings.text(f'plan.question_{answer.status}')}: {answer.question.text}", size=9)
    pdf.ln(3)
    pdf.set_text_color(90)
    based_on = ", ".join(f"{content.sources[s].title} ({content.sources[s].publisher})" for s in plan.sources)
    pdf.line_of(f"{strings.text('plan.based_on')}: {based_on}.", size=8, height=4.2)
    return bytes(pdf.output())
