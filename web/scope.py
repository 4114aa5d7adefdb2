"""Which fleets a signed-in user may see, and the query condition that keeps everything else out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, true

ROLES = ("fleet_operator", "rental", "law_enforcement", "admin")
FLEET_ROLES = ("fleet_operator", "rental")
"""Roles that see only their own fleets; the others see every fleet."""


@dataclass(frozen=True)
class Scope:
    """``fleet_ids`` None means every fleet (and vehicles of no fleet); otherwise only those fleets."""

    fleet_ids: frozenset[str] | None

    @classmethod
    def for_role(cls, role: str, fleet_ids: Iterable[str]) -> Scope:
        return cls(frozenset(fleet_ids) if role in FLEET_ROLES else None)

    @property
    def everything(self) -> bool:
        return self.fleet_ids is None

    def allows(self, fleet_id: str | None) -> bool:
        return self.fleet_ids is None or (fleet_id is not None and fleet_id in self.fleet_ids)

    def where(self, column: Any) -> ColumnElement[bool]:
        """A condition on a ``fleet_id`` column: true for every row the scope may see."""
        if self.fleet_ids is None:
            return true()
        if not self.fleet_ids:
            return false()
        return column.in_(sorted(self.fleet_ids))


EVERYTHING = Scope(None)
