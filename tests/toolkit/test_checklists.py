"""Checklists per audience and the progress model that the web store will persist."""

from __future__ import annotations

import json

import pytest

from toolkit.checklists import ChecklistProgress, checklist_items, checklists_for, get_checklist
from toolkit.errors import AnswerError
from toolkit.model import Content


def test_each_audience_gets_its_own_checklists(content: Content) -> None:
    driver = checklists_for("driver")
    assert [c.id for c in driver] == ["driver-journey", "driver-every-stop", "driver-before-departure"]
    for checklist in driver:
        assert {i.audience for i in checklist_items(checklist)} == {"driver"}
    with pytest.raises(AnswerError, match="audience: got 'pilot'"):
        checklists_for("pilot")


def test_derived_checklists_take_the_audience_items_of_their_phases(content: Content) -> None:
    before = get_checklist("driver-before-departure")
    assert {content.items[i].phase for i in before.item_ids} == {"preparation", "pick_up"}
    everything = get_checklist("driver-journey")
    assert len(everything.item_ids) == sum(i.audience == "driver" for i in content.items.values())


def test_explicit_checklists_keep_their_order() -> None:
    assert get_checklist("driver-every-stop").item_ids[:2] == ("drv-park-01", "drv-park-04")


def test_progress_marks_counts_and_round_trips_through_json() -> None:
    checklist = get_checklist("driver-every-stop")
    progress = ChecklistProgress(checklist.id)
    progress = progress.mark(checklist, "drv-park-04").mark(checklist, "drv-park-01").mark(checklist, "drv-park-03")
    progress = progress.mark(checklist, "drv-park-03", done=False)
    status = progress.status(checklist)
    assert (status.done_count, status.total, status.percent, status.complete) == (2, 4, 50, False)
    assert status.done == ("drv-park-01", "drv-park-04")
    saved = json.loads(json.dumps(progress.to_dict()))
    assert saved == {"format": 1, "checklist_id": "driver-every-stop", "done": ["drv-park-01", "drv-park-04"]}
    assert ChecklistProgress.from_dict(saved) == progress


def test_completing_every_item_is_complete() -> None:
    checklist = get_checklist("driver-every-stop")
    progress = ChecklistProgress(checklist.id)
    for item_id in checklist.item_ids:
        progress = progress.mark(checklist, item_id)
    assert progress.status(checklist).complete
    assert progress.status(checklist).percent == 100


def test_ids_no_longer_in_the_checklist_are_ignored_in_status() -> None:
    checklist = get_checklist("driver-every-stop")
    progress = ChecklistProgress.from_dict({"checklist_id": checklist.id, "done": ["drv-park-01", "retired-01"]})
    assert progress.status(checklist).done_count == 1


def test_marking_an_item_of_another_checklist_is_refused() -> None:
    checklist = get_checklist("driver-every-stop")
    with pytest.raises(AnswerError, match="item_id: got 'rc-book-01'"):
        ChecklistProgress(checklist.id).mark(checklist, "rc-book-01")
    with pytest.raises(AnswerError, match="checklist: got 'driver-journey'"):
        ChecklistProgress(checklist.id).status(get_checklist("driver-journey"))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "progress"),
        ({"done": []}, "progress.checklist_id"),
        ({"checklist_id": "driver-every-stop", "done": "drv-park-01"}, "progress.done"),
        ({"checklist_id": "driver-every-stop", "done": [1]}, "progress.done"),
        ({"format": 2, "checklist_id": "driver-every-stop", "done": []}, "progress.format"),
    ],
)
def test_malformed_saved_progress_is_refused(data: object, field: str) -> None:
    with pytest.raises(AnswerError) as caught:
        ChecklistProgress.from_dict(data)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_unknown_checklist_is_refused() -> None:
    with pytest.raises(AnswerError, match="checklist_id: got 'nope'"):
        get_checklist("nope")
