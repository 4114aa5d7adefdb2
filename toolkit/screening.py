"""Screens a rental hire from the counter's answers: fired indicators, outcome and a report for law enforcement."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from toolkit.errors import AnswerError
from toolkit.loader import default_content
from toolkit.model import Content, Indicator, Screening

REPORT_KIND = "truckguard.suspicious_hire"
REPORT_FORMAT = 1


@dataclass(frozen=True, slots=True)
class ScreeningOutcome:
    outcome: str
    """``proceed``, ``extra_checks`` or ``refuse_and_report``."""
    score: int
    indicators: tuple[Indicator, ...]
    """Every indicator that fired, in content order."""
    hard_stops: tuple[Indicator, ...]
    reasons: tuple[str, ...]
    """Why, in the user's language: the outcome explanation, then each fired indicator."""
    content_version: str

    @property
    def indicator_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.indicators)


def fired_indicators(answers: Mapping[str, Any], screening: Screening) -> tuple[Indicator, ...]:
    """Indicators fired by valid answers; unknown questions, invalid values or missing required answers raise."""
    if not isinstance(answers, Mapping):
        raise AnswerError("answers", answers, "an object of question id -> answer")
    questions = {q.id: q for q in screening.questions}
    for qid in answers:
        if qid not in questions:
            raise AnswerError(f"answers.{qid}", answers[qid], f"an answer to one of {', '.join(questions)}")
    fired: set[str] = set()
    for question in screening.questions:
        value = answers.get(question.id)
        if value is None:
            if question.required:
                raise AnswerError(f"answers.{question.id}", None, f"one of {', '.join(question.values)} (required)")
            continue
        if isinstance(value, bool) and question.kind == "yes_no":
            value = "yes" if value else "no"
        if value not in question.values:
            raise AnswerError(f"answers.{question.id}", value, f"one of {', '.join(question.values)}")
        fired.update(question.indicators.get(value, ()))
    return tuple(i for i in screening.indicators if i.id in fired)


def decide(indicators: tuple[Indicator, ...], screening: Screening) -> tuple[str, int]:
    """Outcome and score: any hard stop refuses; otherwise the summed weights against the two thresholds."""
    score = sum(i.weight for i in indicators)
    if any(i.hard_stop for i in indicators) or score >= screening.refuse_at:
        return "refuse_and_report", score
    if score >= screening.extra_checks_at:
        return "extra_checks", score
    return "proceed", score


def screen_hire(answers: Mapping[str, Any], content: Content | None = None) -> ScreeningOutcome:
    """Screen one hire from the guided form's answers (question id -> option value, or yes/no)."""
    content = content or default_content()
    screening = content.screening
    strings = content.strings
    indicators = fired_indicators(answers, screening)
    outcome, score = decide(indicators, screening)
    hard_stops = tuple(i for i in indicators if i.hard_stop)
    if hard_stops:
        summary = strings.text("screening.explain.hard_stop", indicator=hard_stops[0].title)
    else:
        threshold = {"extra_checks": screening.extra_checks_at, "refuse_and_report": screening.refuse_at}.get(outcome)
        summary = strings.text(f"screening.explain.{outcome}", score=score, threshold=threshold)
    reasons = (summary, *(strings.text("screening.indicator_reason", title=i.title, weight=i.weight)
                          for i in indicators))
    return ScreeningOutcome(outcome, score, indicators, hard_stops, reasons, screening.version)


def _text(value: Any, field: str, *, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise AnswerError(field, value, "non-empty text")
    return value.strip()


def to_report(
    outcome: ScreeningOutcome,
    *,
    hirer_reference: str,
    vehicle: Mapping[str, Any],
    reported_at: datetime,
    branch: str | None = None,
    notes: str | None = None,
) -> dict[str, Any]:
    """A report of the screening for law enforcement; the time is passed in, never read from the clock.

    ``hirer_reference`` is the rental company's own reference to the hirer's record (not the personal data
    itself, which is shared lawfully through the security contact); ``vehicle`` needs ``plate`` and may
    carry ``vehicle_id`` and ``category``.
    """
    if not isinstance(reported_at, datetime) or reported_at.tzinfo is None:
        raise AnswerError("reported_at", reported_at, "a timezone-aware datetime")
    if not isinstance(vehicle, Mapping):
        raise AnswerError("vehicle", vehicle, "an object with plate, and optionally vehicle_id and category")
    vehicle_out = {"plate": _text(vehicle.get("plate"), "vehicle.plate")}
    for key in ("vehicle_id", "category"):
        if vehicle.get(key) is not None:
            vehicle_out[key] = _text(vehicle.get(key), f"vehicle.{key}")
    report: dict[str, Any] = {
        "report_kind": REPORT_KIND,
        "format": REPORT_FORMAT,
        "reported_at": reported_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "hirer_reference": _text(hirer_reference, "hirer_reference"),
        "vehicle": vehicle_out,
        "outcome": outcome.outcome,
        "score": outcome.score,
        "hard_stop": bool(outcome.hard_stops),
        "indicators": [
            {"id": i.id, "title": i.title, "weight": i.weight, "hard_stop": i.hard_stop} for i in outcome.indicators
        ],
        "content_version": outcome.content_version,
    }
    if branch is not None:
        report["branch"] = _text(branch, "branch")
    if notes is not None:
        report["notes"] = _text(notes, "notes")
    return report
