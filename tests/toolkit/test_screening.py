"""Rental hire screening: indicators, weights, hard stops and the report for law enforcement."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from toolkit.errors import AnswerError
from toolkit.model import Content
from toolkit.screening import screen_hire, to_report

CLEAN = {
    "vehicle_category": "N1",
    "payment": "card_own_name",
    "identity": "licence_and_second_id",
    "documents": "consistent",
    "purpose": "specific_plausible",
}


def test_a_clean_hire_proceeds() -> None:
    outcome = screen_hire({**CLEAN, "vehicle_questions": "no", "crowd_questions": False})
    assert (outcome.outcome, outcome.score, outcome.indicators, outcome.hard_stops) == ("proceed", 0, (), ())
    assert len(outcome.reasons) == 1


def test_a_heavy_vehicle_alone_still_proceeds_but_is_listed() -> None:
    outcome = screen_hire({**CLEAN, "vehicle_category": "N3"})
    assert (outcome.outcome, outcome.indicator_ids) == ("proceed", ("heavy-vehicle",))


def test_cash_insistence_calls_for_extra_checks(content: Content) -> None:
    outcome = screen_hire({**CLEAN, "payment": "cash_insisted"})
    assert (outcome.outcome, outcome.score) == ("extra_checks", content.screening.extra_checks_at)
    assert outcome.indicator_ids == ("cash-insistence",)
    assert "Insists on paying cash (+3)" in outcome.reasons


def test_indicators_add_up_to_a_refusal() -> None:
    outcome = screen_hire({**CLEAN, "vehicle_category": "N3", "purpose": "vague", "vehicle_questions": "yes",
                           "largest_vehicle": True})
    assert outcome.indicator_ids == ("no-plausible-purpose", "vehicle-capability-interest", "largest-vehicle",
                                     "heavy-vehicle")
    assert (outcome.outcome, outcome.score, outcome.hard_stops) == ("refuse_and_report", 8, ())


def test_one_below_the_refusal_threshold_stays_extra_checks(content: Content) -> None:
    outcome = screen_hire({**CLEAN, "purpose": "none_or_changing", "short_notice": "yes", "event_period": "yes"})
    assert outcome.score == content.screening.refuse_at - 1
    assert outcome.outcome == "extra_checks"
    assert outcome.indicator_ids.count("evasive-answers") == 1


@pytest.mark.parametrize(
    ("answers", "indicator"),
    [({"documents": "appears_forged"}, "document-forged"), ({"hostile_statement": "yes"}, "hostile-intent")],
)
def test_hard_stops_refuse_whatever_the_score(content: Content, answers: dict, indicator: str) -> None:
    outcome = screen_hire({**CLEAN, **answers})
    assert outcome.score < content.screening.refuse_at
    assert outcome.outcome == "refuse_and_report"
    assert [i.id for i in outcome.hard_stops] == [indicator]
    assert outcome.reasons[0].startswith("Hard stop:")


def test_the_same_answers_always_give_the_same_outcome() -> None:
    answers = {**CLEAN, "payment": "card_other_name", "crowd_questions": "yes"}
    assert screen_hire(answers) == screen_hire(dict(reversed(list(answers.items()))))


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({**CLEAN, "favourite_colour": "blue"}, "answers.favourite_colour"),
        ({**CLEAN, "payment": "bitcoin"}, "answers.payment"),
        ({k: v for k, v in CLEAN.items() if k != "identity"}, "answers.identity"),
        ({**CLEAN, "crowd_questions": "perhaps"}, "answers.crowd_questions"),
    ],
)
def test_invalid_answers_are_refused(answers: dict, field: str) -> None:
    with pytest.raises(AnswerError) as caught:
        screen_hire(answers)
    assert caught.value.field == field


def test_report_for_law_enforcement_carries_the_facts_and_the_given_time() -> None:
    outcome = screen_hire({**CLEAN, "documents": "appears_forged", "payment": "cash_insisted"})
    reported_at = datetime(2026, 6, 1, 14, 5, tzinfo=timezone(timedelta(hours=2)))
    report = to_report(outcome, hirer_reference="HIRE-2026-000417", reported_at=reported_at, branch="Leeds city",
                       vehicle={"plate": "YX26 ABC", "category": "N1", "vehicle_id": "RV-17"})
    assert report["reported_at"] == "2026-06-01T12:05:00Z"
    assert report["hirer_reference"] == "HIRE-2026-000417"
    assert report["vehicle"] == {"plate": "YX26 ABC", "vehicle_id": "RV-17", "category": "N1"}
    assert (report["outcome"], report["hard_stop"], report["branch"]) == ("refuse_and_report", True, "Leeds city")
    assert [i["id"] for i in report["indicators"]] == ["cash-insistence", "document-forged"]
    assert report["indicators"][1]["hard_stop"] is True
    assert "notes" not in report
    assert json.loads(json.dumps(report)) == report


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"reported_at": datetime(2026, 6, 1, 14, 5)}, "reported_at"),
        ({"vehicle": {"category": "N1"}}, "vehicle.plate"),
        ({"hirer_reference": "  "}, "hirer_reference"),
        ({"vehicle": "YX26 ABC"}, "vehicle"),
    ],
)
def test_report_arguments_are_checked(kwargs: dict, field: str) -> None:
    args = {"hirer_reference": "H-1", "vehicle": {"plate": "YX26 ABC"},
            "reported_at": datetime(2026, 6, 1, tzinfo=UTC)}
    with pytest.raises(AnswerError) as caught:
        to_report(screen_hire(CLEAN), **{**args, **kwargs})
    assert caught.value.field == field
