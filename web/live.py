"""What changed in the store since a moment, within a scope: the feed of the /events stream."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from web.models import AlertRow, StopRequestRow, VehiclePositionRow, VehicleRow
from web.positions import position_to_dict
from web.scope import Scope
from web.store import alert_to_dict, stop_request_to_dict

OVERLAP = timedelta(seconds=2)
"""Rows are stamped before their transaction commits: look back a little, and drop what was sent already."""


class ChangeFeed:
    """Remembers what it has sent; ``poll`` returns ``(event, payload)`` pairs for what is new."""

    def __init__(self, scope: Scope, since: datetime) -> None:
        self.scope = scope
        self.cursor = since
        self.sent: dict[tuple[str, str], datetime] = {}

    def _fresh(self, kind: str, key: str, updated_at: datetime) -> bool:
        if self.sent.get((kind, key)) == updated_at:
            return False
        self.sent[(kind, key)] = updated_at
        return True

    def poll(self, session: Session) -> list[tuple[str, Any]]:
        since = self.cursor - OVERLAP
        scope = self.scope
        events: list[tuple[str, Any]] = []
        newest = self.cursor
        alerts = session.execute(select(AlertRow).where(AlertRow.updated_at > since, scope.where(AlertRow.fleet_id))
                                 .order_by(AlertRow.updated_at)).scalars()
        for row in alerts:
            newest = max(newest, row.updated_at)
            if self._fresh("alert", row.alert_id, row.updated_at):
                events.append(("alert", alert_to_dict(row)))
        requests = session.execute(select(StopRequestRow).where(StopRequestRow.updated_at > since,
                                                                scope.where(StopRequestRow.fleet_id))
                                   .order_by(StopRequestRow.updated_at)).scalars()
        for row in requests:
            newest = max(newest, row.updated_at)
            if self._fresh("stop_request", row.request_id, row.updated_at):
                events.append(("stop_request", stop_request_to_dict(row)))
        query = select(VehiclePositionRow).where(VehiclePositionRow.updated_at > since)
        if not scope.everything:
            query = query.join(VehicleRow, VehicleRow.vehicle_id == VehiclePositionRow.vehicle_id).where(
                scope.where(VehicleRow.fleet_id))
        moved = []
        for row in session.execute(query).scalars():
            newest = max(newest, row.updated_at)
            if self._fresh("position", row.vehicle_id, row.updated_at):
                moved.append(position_to_dict(row))
        if moved:
            events.append(("positions", moved))
        self.cursor = newest
        # Forget what fell out of the look-back window.
        self.sent = {k: v for k, v in self.sent.items() if v > self.cursor - 2 * OVERLAP}
        return events
