"""Scores the operator self-assessment: achieved level (3 basic to 1 highest), section scores, gaps and next steps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from toolkit.errors import AnswerError
from toolkit.loader import default_content
from toolkit.model import LEVELS, AssessmentQuestion, Content, GuidanceItem

ANSWER_WORDS = {"yes": True, "no": False}


@dataclass(frozen=True, slots=True)
class SectionScore:
    section_id: str
    title: str
    met: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.met / self.total) if self.total else 100


@dataclass(frozen=True, slots=True)
class Gap:
    """A question that is not met, with the guidance that closes it."""

    question: AssessmentQuestion
    answered: bool
    guidance: tuple[GuidanceItem, ...]


@dataclass(frozen=True, slots=True)
class AssessmentResult:
    achieved_level: int | None
    """3, 2 or 1; None when not every basic required question is met."""
    target_level: int | None
    """The next level to aim for; None when the highest level is achieved."""
    section_scores: tuple[SectionScore, ...]
    gaps: tuple[Gap, ...]
    next_steps: tuple[Gap, ...]
    """What to do now: the gaps that stand between the achieved level and the target, required ones first."""
    answered: int
    total: int
    content_version: str

    def to_dict(self) -> dict[str, Any]:
        def gap(g: Gap) -> dict[str, Any]:
            q = g.question
            return {"question_id": q.id, "level": q.level, "required": q.required, "section": q.section,
                    "text": q.text, "action": q.action, "answered": g.answered,
                    "guidance": [{"id": i.id, "title": i.title} for i in g.guidance]}

        return {
            "achieved_level": self.achieved_level,
            "target_level": self.target_level,
            "sections": [{"section_id": s.section_id, "title": s.title, "met": s.met, "total": s.total,
                          "percent": s.percent} for s in self.section_scores],
            "gaps": [gap(g) for g in self.gaps],
            "next_steps": [gap(g) for g in self.next_steps],
            "answered": self.answered,
            "total": self.total,
            "content_version": self.content_version,
        }


def normalise_answers(answers: Mapping[str, Any], questions: Mapping[str, AssessmentQuestion]) -> dict[str, bool]:
    """Answers as question id -> met; accepts booleans or "yes"/"no", rejects unknown questions."""
    if not isinstance(answers, Mapping):
        raise AnswerError("answers", answers, "an object of question id -> yes/no")
    out = {}
    for qid, value in answers.items():
        if qid not in questions:
            raise AnswerError(f"answers.{qid}", value, "an answer to a known question id (e.g. q-gov-lead)")
        if isinstance(value, str) and value.lower() in ANSWER_WORDS:
            value = ANSWER_WORDS[value.lower()]
        if not isinstance(value, bool):
            raise AnswerError(f"answers.{qid}", value, "true/false or 'yes'/'no'")
        out[qid] = value
    return out


def achieved_level(questions: tuple[AssessmentQuestion, ...], met: Mapping[str, bool]) -> int | None:
    """The highest level whose required questions, and those of every more basic level, are all met."""
    achieved = None
    for level in LEVELS:
        if all(met.get(q.id, False) for q in questions if q.required and q.level >= level):
            achieved = level
        else:
            break
    return achieved


def _next_level(level: int | None) -> int | None:
    if level is None:
        return LEVELS[0]
    position = LEVELS.index(level)
    return LEVELS[position + 1] if position + 1 < len(LEVELS) else None


def score_assessment(answers: Mapping[str, Any], content: Content | None = None) -> AssessmentResult:
    """Score answers (question id -> yes/no); an unanswered question counts as not met."""
    content = content or default_content()
    assessment = content.assessment
    questions = {q.id: q for q in assessment.questions}
    met = normalise_answers(answers, questions)
    achieved = achieved_level(assessment.questions, met)
    target = _next_level(achieved)

    sections = tuple(
        SectionScore(s.id, s.title, sum(met.get(q.id, False) for q in assessment.questions if q.section == s.id),
                     sum(q.section == s.id for q in assessment.questions))
        for s in assessment.sections
    )
    order = {q.id: n for n, q in enumerate(assessment.questions)}
    unmet = sorted((q for q in assessment.questions if not met.get(q.id, False)),
                   key=lambda q: (LEVELS.index(q.level), not q.required, order[q.id]))
    gaps = tuple(Gap(q, q.id in met, tuple(content.items[i] for i in q.guidance)) for q in unmet)
    if target is None:
        steps = tuple(g for g in gaps if not g.question.required)
    else:
        needed = [g for g in gaps if g.question.level >= target]
        steps = tuple(sorted(needed, key=lambda g: (not g.question.required, LEVELS.index(g.question.level),
                                                    order[g.question.id])))
    return AssessmentResult(achieved, target, sections, gaps, steps, len(met), len(questions),
                            assessment.version)
