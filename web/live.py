"""What changed in the store since a moment, within a scope, and how many consoles may ask: the feed of the /events
stream."""

from __future__ import annotations

import math
import threading
import time
import weakref
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from web.models import AlertRow, StopRequestRow, VehiclePositionRow, VehicleRow
from web.positions import position_to_dict
from web.scope import Scope
from web.store import alert_to_dict, stop_request_to_dict

OVERLAP = timedelta(seconds=2)
"""Rows are stamped before their transaction commits: look back a little, and drop what was sent already."""


STAMP_REFRESH_S = 0.5
"""The newest change in the store is looked up at most this often per process, for every console at once."""


class _NewestChange:
    """When anything last changed (alerts, stop requests, positions), per store: a console whose cursor is past it
    needs no queries of its own, which keeps hundreds of open consoles cheap while nothing happens."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: weakref.WeakKeyDictionary[Any, tuple[float, datetime | None]] = weakref.WeakKeyDictionary()

    def get(self, session: Session) -> datetime | None:
        engine = session.get_bind()
        with self._lock:
            looked_at, newest = self._known.get(engine, (float("-inf"), None))
            if time.monotonic() - looked_at >= STAMP_REFRESH_S:
                stamps = [session.execute(select(func.max(column))).scalar_one()
                          for column in (AlertRow.updated_at, StopRequestRow.updated_at,
                                         VehiclePositionRow.updated_at)]
                known = [s.replace(tzinfo=UTC) if s.tzinfo is None else s for s in stamps if s is not None]
                newest = max(known) if known else None
                self._known[engine] = (time.monotonic(), newest)
            return newest

    def forget(self) -> None:
        with self._lock:
            self._known.clear()


NEWEST_CHANGE = _NewestChange()


class ConsoleCap:
    """The live consoles one site process serves, whoever they belong to: a token bucket holding one request of
    every console (all of them reconnecting at once after a restart) and refilled at one request per console
    per retry interval. Beyond it a console is turned away with 503 and Retry-After before its changes are
    looked up, so the threads stay free for sign-in, the health check and officers' decisions; more consoles need
    more site processes (docs/security.md)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: float | None = None
        self._last = 0.0

    def take(self, consoles: int, retry_s: float, now: float | None = None) -> float:
        """0 when a console's request may go ahead, else the seconds until one may."""
        now = time.monotonic() if now is None else now
        rate = consoles / retry_s
        with self._lock:
            tokens = float(consoles) if self._tokens is None else self._tokens
            tokens = min(float(consoles), tokens + (now - self._last) * rate)
            self._last = now
            if tokens < 1:
                self._tokens = tokens
                return (1 - tokens) / rate
            self._tokens = tokens - 1
            return 0.0

    @staticmethod
    def retry_after(wait_s: float) -> str:
        """The Retry-After header for a wait: whole seconds, at least one."""
        return str(max(1, math.ceil(wait_s)))

    def forget(self) -> None:
        with self._lock:
            self._tokens = None


CONSOLE_CAP = ConsoleCap()


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
        newest_anywhere = NEWEST_CHANGE.get(session)
        if newest_anywhere is None or newest_anywhere <= since:
            return []
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
