"""Renders a scored self-assessment as a printable PDF report."""

from __future__ import annotations

from datetime import datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from toolkit.assessment import AssessmentResult, Gap
from toolkit.errors import AnswerError
from toolkit.loader import default_content
from toolkit.model import Content, Strings

FONT = "Helvetica"
MARGIN_MM = 18
_PLAIN = str.maketrans({"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-",
                        "…": "...", "\u2009": " ", "\u202f": " ", "\u2011": "-", "≥": ">=", "≤": "<=",
                        "œ": "oe", "Œ": "OE", "€": "EUR"})
"""Characters of the toolkit's five languages that the core fonts lack (they cover Latin-1, which has every letter of
German, Spanish and Swedish and all of French but the ligature œ), each with its plain spelling."""


def latin1(text: str) -> str:
    """Text the PDF core fonts can show: typographic punctuation made plain, anything else outside Latin-1 as '?'."""
    return text.translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")


def unprintable(text: str) -> set[str]:
    """The characters of a text that the report's fonts cannot show even after ``latin1`` plain spellings."""
    return {c for c in text.translate(_PLAIN) if ord(c) > 0xFF}


def level_label(level: int | None, strings: Strings) -> str:
    return strings.text("level.none") if level is None else strings.text(f"level.level_{level}")


class ReportDocument(FPDF):
    """An A4 report with a page-numbered footer and helpers for wrapped lines and headings."""

    def __init__(self, footer_text: str) -> None:
        super().__init__(format="A4")
        self.footer_text = footer_text
        self.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
        self.set_auto_page_break(True, margin=MARGIN_MM + 4)

    def footer(self) -> None:
        self.set_y(-MARGIN_MM)
        self.set_font(FONT, size=7)
        self.set_text_color(110)
        self.cell(0, 4, latin1(f"{self.footer_text}   {self.page_no()}/{{nb}}"), align="C")

    def line_of(self, text: str, size: float = 10, style: str = "", height: float = 5.2) -> None:
        self.set_font(FONT, style=style, size=size)
        self.multi_cell(0, height, latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def heading(self, text: str) -> None:
        self.ln(3)
        self.line_of(text, size=12, style="B", height=7)
        self.set_draw_color(180)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(1.5)


def _gap_lines(pdf: ReportDocument, gap: Gap, strings: Strings, number: str = "") -> None:
    q = gap.question
    kind = strings.text("assessment.gap_required" if q.required else "assessment.gap_recommended")
    pdf.line_of(f"{number}{level_label(q.level, strings)}, {kind}: {q.text}", size=9.5, style="B")
    pdf.set_x(pdf.l_margin + 4)
    pdf.line_of(q.action, size=9.5)
    titles = "; ".join(f"{i.title} ({i.id})" for i in gap.guidance)
    pdf.set_text_color(80)
    pdf.line_of(strings.text("assessment.guidance_ref", titles=titles), size=8.5, height=4.6)
    pdf.set_text_color(0)
    pdf.ln(1.2)


def render_assessment_pdf(
    result: AssessmentResult,
    *,
    generated_at: datetime,
    organisation: str | None = None,
    content: Content | None = None,
) -> bytes:
    """The report as PDF bytes; the same result, time and organisation always give the same bytes."""
    if generated_at.tzinfo is None:
        raise AnswerError("generated_at", generated_at, "a timezone-aware datetime")
    content = content or default_content()
    strings = content.strings
    footer = f"{strings.text('assessment.version', version=result.content_version)}"
    pdf = ReportDocument(footer)
    pdf.set_creation_date(generated_at)
    pdf.set_title(latin1(strings.text("assessment.report_title")))
    pdf.set_lang(content.language)
    pdf.set_producer("truckguard toolkit")
    pdf.add_page()

    pdf.line_of(strings.text("assessment.report_title"), size=17, style="B", height=9)
    if organisation:
        pdf.line_of(strings.text("assessment.organisation", name=organisation))
    pdf.line_of(strings.text("assessment.generated", when=generated_at.strftime("%Y-%m-%d %H:%M %Z").strip()))
    pdf.ln(3)
    pdf.line_of(strings.text("assessment.achieved", level=level_label(result.achieved_level, strings)),
                size=13, style="B", height=7)
    if result.target_level is None:
        pdf.line_of(strings.text("assessment.at_top"))
    else:
        pdf.line_of(strings.text("assessment.target", level=level_label(result.target_level, strings)))

    pdf.heading(strings.text("assessment.sections"))
    for score in result.section_scores:
        pdf.line_of(strings.text("assessment.section_row", title=score.title, met=score.met, total=score.total,
                                 percent=score.percent))

    pdf.heading(strings.text("assessment.next_steps"))
    if not result.next_steps:
        pdf.line_of(strings.text("assessment.no_gaps"))
    for n, step in enumerate(result.next_steps, start=1):
        _gap_lines(pdf, step, strings, f"{n}. ")

    pdf.heading(strings.text("assessment.gaps"))
    if not result.gaps:
        pdf.line_of(strings.text("assessment.no_gaps"))
    for gap in result.gaps:
        _gap_lines(pdf, gap, strings)

    pdf.ln(4)
    pdf.set_text_color(90)
    pdf.line_of(strings.text("assessment.disclaimer"), size=8, height=4.2)
    return bytes(pdf.output())
