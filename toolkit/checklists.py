"""Checklists per audience and a user's progress through one: which item ids are done, saved as a plain dict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from toolkit.errors import AnswerError
from toolkit.loader import default_content
from toolkit.model import AUDIENCES, Checklist, Content, GuidanceItem

PROGRESS_FORMAT = 1
"""Version of the dict shape written by ChecklistProgress.to_dict."""


def checklists_for(audience: str, content: Content | None = None) -> list[Checklist]:
    """The checklists written for one audience, in content order."""
    if audience not in AUDIENCES:
        raise AnswerError("audience", audience, f"one of {', '.join(AUDIENCES)}")
    content = content or default_content()
    return [c for c in content.checklists.values() if c.audience == audience]


def get_checklist(checklist_id: str, content: Content | None = None) -> Checklist:
    content = content or default_content()
    try:
        return content.checklists[checklist_id]
    except KeyError:
        raise AnswerError("checklist_id", checklist_id, f"one of {', '.join(content.checklists)}") from None


def checklist_items(checklist: Checklist, content: Content | None = None) -> list[GuidanceItem]:
    content = content or default_content()
    return [content.items[i] for i in checklist.item_ids]


@dataclass(frozen=True, slots=True)
class ChecklistProgress:
    """Which items of one checklist a user has done; immutable, so each change returns a new progress."""

    checklist_id: str
    done: frozenset[str] = frozenset()

    def mark(self, checklist: Checklist, item_id: str, done: bool = True) -> ChecklistProgress:
        """This progress with one item marked done (or not done)."""
        self._check_checklist(checklist)
        if item_id not in checklist.item_ids:
            raise AnswerError("item_id", item_id, f"an item of checklist {checklist.id!r}")
        return ChecklistProgress(self.checklist_id, self.done | {item_id} if done else self.done - {item_id})

    def status(self, checklist: Checklist) -> ChecklistStatus:
        """Counts against the checklist as it is now; ids of items no longer in it are ignored."""
        self._check_checklist(checklist)
        done = [i for i in checklist.item_ids if i in self.done]
        open_ = [i for i in checklist.item_ids if i not in self.done]
        return ChecklistStatus(len(done), len(checklist.item_ids), tuple(done), tuple(open_))

    def to_dict(self) -> dict[str, Any]:
        return {"format": PROGRESS_FORMAT, "checklist_id": self.checklist_id, "done": sorted(self.done)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChecklistProgress:
        """The progress saved by to_dict; the shape is checked, item ids are kept even if content changed since."""
        if not isinstance(data, Mapping):
            raise AnswerError("progress", data, "an object with checklist_id and done")
        if data.get("format", PROGRESS_FORMAT) != PROGRESS_FORMAT:
            raise AnswerError("progress.format", data.get("format"), f"{PROGRESS_FORMAT}")
        checklist_id = data.get("checklist_id")
        if not isinstance(checklist_id, str) or not checklist_id:
            raise AnswerError("progress.checklist_id", checklist_id, "a checklist id")
        done = data.get("done", [])
        if not isinstance(done, list) or not all(isinstance(i, str) for i in done):
            raise AnswerError("progress.done", done, "a list of item ids")
        return cls(checklist_id, frozenset(done))

    def _check_checklist(self, checklist: Checklist) -> None:
        if checklist.id != self.checklist_id:
            raise AnswerError("checklist", checklist.id, f"the checklist of this progress, {self.checklist_id!r}")


@dataclass(frozen=True, slots=True)
class ChecklistStatus:
    done_count: int
    total: int
    done: tuple[str, ...]
    open: tuple[str, ...]

    @property
    def percent(self) -> int:
        return round(100 * self.done_count / self.total) if self.total else 100

    @property
    def complete(self) -> bool:
        return self.done_count == self.total
