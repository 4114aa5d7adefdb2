"""Self-assessment scoring: a level needs its own and every more basic level's required questions met."""

from __future__ import annotations

import pytest

from toolkit.assessment import score_assessment
from toolkit.errors import AnswerError
from toolkit.model import Content


def _required(content: Content, *levels: int) -> dict[str, bool]:
    return {q.id: True for q in content.assessment.questions if q.required and q.level in levels}


def _everything(content: Content) -> dict[str, bool]:
    return {q.id: True for q in content.assessment.questions}


def test_no_answers_reach_no_level_and_point_at_level_3(content: Content) -> None:
    result = score_assessment({})
    assert (result.achieved_level, result.target_level) == (None, 3)
    assert len(result.gaps) == len(content.assessment.questions)
    assert not any(g.answered for g in result.gaps)
    level3 = [q for q in content.assessment.questions if q.level == 3]
    expected = [q.id for q in level3 if q.required] + [q.id for q in level3 if not q.required]
    assert [g.question.id for g in result.next_steps] == expected
    assert all(s.met == 0 for s in result.section_scores)


def test_level_3_needs_all_basic_required_questions(content: Content) -> None:
    answers = _required(content, 3)
    assert score_assessment(answers).achieved_level == 3
    missing_one = {**answers, "q-resp-stolen": False}
    result = score_assessment(missing_one)
    assert result.achieved_level is None
    assert result.next_steps[0].question.id == "q-resp-stolen"
    assert result.next_steps[0].answered
    assert [i.id for i in result.next_steps[0].guidance] == ["fm-inc-01", "drv-inc-02"]


def test_level_2_with_its_gaps_to_level_1(content: Content) -> None:
    result = score_assessment(_required(content, 3, 2))
    assert (result.achieved_level, result.target_level) == (2, 1)
    required_level1 = {q.id for q in content.assessment.questions if q.level == 1 and q.required}
    steps = [g.question for g in result.next_steps]
    assert [q.id for q in steps[: len(required_level1)]] == [q.id for q in content.assessment.questions
                                                            if q.id in required_level1]
    recommended = steps[len(required_level1):]
    assert recommended and not any(q.required for q in recommended)
    assert [q.level for q in recommended] == sorted((q.level for q in recommended), reverse=True)
    assert {g.question.level for g in result.gaps} == {3, 2, 1}


def test_level_1_requires_the_lower_levels_too(content: Content) -> None:
    only_top = _required(content, 1, 2)
    assert score_assessment(only_top).achieved_level is None
    assert score_assessment({**only_top, **_required(content, 3)}).achieved_level == 1


def test_recommended_questions_change_scores_not_levels(content: Content) -> None:
    base = score_assessment(_required(content, 3))
    optional = {q.id: True for q in content.assessment.questions if not q.required and q.level == 3}
    more = score_assessment({**_required(content, 3), **optional})
    assert base.achieved_level == more.achieved_level == 3
    assert sum(s.met for s in more.section_scores) == sum(s.met for s in base.section_scores) + len(optional)


def test_everything_met_leaves_no_gaps(content: Content) -> None:
    result = score_assessment(_everything(content))
    assert (result.achieved_level, result.target_level, result.gaps, result.next_steps) == (1, None, (), ())
    assert all(s.percent == 100 for s in result.section_scores)
    assert result.answered == result.total == len(content.assessment.questions)


def test_at_the_top_the_next_steps_are_the_remaining_recommendations(content: Content) -> None:
    answers = {**_required(content, 3, 2, 1), "q-ops-customers": False}
    result = score_assessment(answers)
    assert result.achieved_level == 1
    assert [g.question.id for g in result.next_steps][-1] == "q-ops-customers"
    assert all(not g.question.required for g in result.next_steps)


def test_section_scores_count_met_questions_per_section(content: Content) -> None:
    result = score_assessment({"q-gov-lead": "yes", "q-gov-plan": True, "q-gov-review": "no"})
    governance = next(s for s in result.section_scores if s.section_id == "governance")
    assert (governance.met, governance.total, governance.percent) == (2, 3, 67)


def test_result_serialises_to_plain_data(content: Content) -> None:
    data = score_assessment(_required(content, 3)).to_dict()
    assert data["achieved_level"] == 3 and data["target_level"] == 2
    assert data["next_steps"][0]["guidance"][0].keys() == {"id", "title"}


@pytest.mark.parametrize(
    ("answers", "field"),
    [({"q-unknown": True}, "answers.q-unknown"), ({"q-gov-lead": "maybe"}, "answers.q-gov-lead"),
     ({"q-gov-lead": 1}, "answers.q-gov-lead")],
)
def test_bad_answers_are_refused(answers: dict, field: str) -> None:
    with pytest.raises(AnswerError) as caught:
        score_assessment(answers)
    assert caught.value.field == field
