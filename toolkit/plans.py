"""Fills a plan template from a user's checklist progress and self-assessment answers, and writes it as Markdown."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from toolkit.errors import AnswerError
from toolkit.loader import default_content
from toolkit.model import AssessmentQuestion, Content, GuidanceItem, Plan, PlanSection

ITEM_STATUSES = ("in_place", "to_do", "not_assessed")
QUESTION_STATUSES = ("met", "not_met", "unanswered")
ITEM_MARKS = {"in_place": "[x]", "to_do": "[ ]", "not_assessed": "[?]"}
ITEM_PAGE = "/toolkit/items/{id}"
BLANK = "________________"


@dataclass(frozen=True, slots=True)
class FilledItem:
    item: GuidanceItem
    status: str
    """One of ``ITEM_STATUSES``: done in the user's checklist, not done, or no progress to go by."""


@dataclass(frozen=True, slots=True)
class FilledQuestion:
    question: AssessmentQuestion
    status: str
    """One of ``QUESTION_STATUSES``, from the user's latest self-assessment."""


@dataclass(frozen=True, slots=True)
class FilledSection:
    section: PlanSection
    items: tuple[FilledItem, ...]
    questions: tuple[FilledQuestion, ...]

    def with_status(self, status: str) -> tuple[FilledItem, ...]:
        return tuple(i for i in self.items if i.status == status)


@dataclass(frozen=True, slots=True)
class FilledPlan:
    plan: Plan
    sections: tuple[FilledSection, ...]
    context: tuple[tuple[str, str], ...]
    """Facts the caller knows about the organisation or site: (label, value), printed at the top."""
    assessed: bool
    """Whether checklist progress was given (otherwise every item is ``not_assessed``)."""
    content_version: str

    def count(self, status: str) -> int:
        return sum(len(s.with_status(status)) for s in self.sections)


def fill_plan(plan_id: str, *, done: Collection[str] | None = None, answers: Mapping[str, bool] | None = None,
              context: tuple[tuple[str, str], ...] = (), content: Content | None = None) -> FilledPlan:
    """The plan with each item in place or to do (from ``done``) and each question met or not (from ``answers``)."""
    content = content or default_content()
    plan = content.plans.get(plan_id)
    if plan is None:
        raise AnswerError("plan_id", plan_id, f"one of {', '.join(content.plans)}")
    questions = {q.id: q for q in content.assessment.questions}
    done_ids = set(done) if done is not None else None

    def item_status(item_id: str) -> str:
        if done_ids is None:
            return "not_assessed"
        return "in_place" if item_id in done_ids else "to_do"

    def question_status(question_id: str) -> str:
        if answers is None or question_id not in answers:
            return "unanswered"
        return "met" if answers[question_id] else "not_met"

    sections = tuple(
        FilledSection(section,
                      tuple(FilledItem(content.items[i], item_status(i)) for i in section.items),
                      tuple(FilledQuestion(questions[q], question_status(q)) for q in section.questions))
        for section in plan.sections
    )
    return FilledPlan(plan, sections, context, done_ids is not None, content.version)


def citation_line(item: GuidanceItem, content: Content) -> str:
    """The item's sources as 'publisher year, section' joined by '; '."""
    return "; ".join(f"{content.sources[c.source].publisher} {content.sources[c.source].year}, {c.section}"
                     for c in item.citations)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def plan_markdown(filled: FilledPlan, content: Content | None = None) -> str:
    """The filled plan as a Markdown document; every measure links back to its guidance item."""
    content = content or default_content()
    strings = content.strings
    plan = filled.plan
    lines = [f"# {plan.title}", "", plan.intro, ""]
    lines.append(strings.text("plan.version", version=filled.content_version))
    lines.append("")
    lines.append(f"| {strings.text('plan.field')} | {strings.text('plan.value')} |")
    lines.append("|---|---|")
    for label, value in (*filled.context, (strings.text("plan.organisation"), BLANK),
                         (strings.text("plan.approved_by"), BLANK), (strings.text("plan.next_review"), BLANK)):
        lines.append(f"| {_md_escape(label)} | {_md_escape(value)} |")
    lines.append("")
    if filled.assessed:
        lines.append(strings.text("plan.summary", in_place=filled.count("in_place"), to_do=filled.count("to_do")))
    else:
        lines.append(strings.text("plan.not_assessed"))
    lines.append("")
    for n, section in enumerate(filled.sections, start=1):
        lines += [f"## {n}. {section.section.title}", "", section.section.prompt, "",
                  f"- {strings.text('plan.owner')}: {BLANK}", f"- {strings.text('plan.due')}: {BLANK}",
                  f"- {strings.text('plan.notes')}: {BLANK}", ""]
        lines.append(f"### {strings.text('plan.measures')}")
        lines.append("")
        for entry in section.items:
            item = entry.item
            lines.append(f"- {ITEM_MARKS[entry.status]} **{item.title}** "
                         f"([{item.id}]({ITEM_PAGE.format(id=item.id)})): {item.text}")
            lines.append(f"  - {strings.text('plan.sources')}: {citation_line(item, content)}")
        lines.append("")
        if section.questions:
            lines.append(f"### {strings.text('plan.assessment')}")
            lines.append("")
            for answer in section.questions:
                label = strings.text(f"plan.question_{answer.status}")
                lines.append(f"- {label}: {answer.question.text}")
            lines.append("")
    sources = ", ".join(f"{content.sources[s].title} ({content.sources[s].publisher}, {content.sources[s].url})"
                        for s in plan.sources)
    lines += [f"{strings.text('plan.based_on')}: {sources}.", ""]
    return "\n".join(lines)
