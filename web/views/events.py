"""The live feed: server-sent events for new and changed alerts, stop requests and vehicle positions, answered
at once and closed, so an open console costs a short request every few seconds instead of a server thread."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, jsonify, request

from web.auth import ALL_ROLES, allow, current_scope, current_user
from web.db import get_session
from web.live import CONSOLE_CAP, ChangeFeed

bp = Blueprint("events", __name__)

RETRY_S = 2.0
"""How soon a console's EventSource asks again after each answer (the spec's ``retry`` field does the waiting in
the browser, not on the server). An authorised stop request reaches the officers' screens within about this."""
CONSOLES_PER_USER = 20
"""A control room may show one account on a wall of screens; more than this many from one account is a fault or
an attack, and is refused so that one stolen token cannot take the site's time from everybody else."""
_BURST = 2.0
"""Requests a user's consoles may make at once after a pause (reconnecting after the network came back)."""


class _Allowance:
    """A token bucket per user, in this process: CONSOLES_PER_USER consoles' worth of requests every RETRY_S."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[int, tuple[float, float]] = {}

    def take(self, user_id: int, consoles: int, retry_s: float, now: float | None = None) -> float:
        """0 when the request may go ahead, else the seconds until it may."""
        now = time.monotonic() if now is None else now
        rate = consoles / retry_s
        capacity = consoles * _BURST
        with self._lock:
            tokens, last = self._buckets.get(user_id, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            if tokens < 1:
                self._buckets[user_id] = (tokens, now)
                return (1 - tokens) / rate
            self._buckets[user_id] = (tokens - 1, now)
            if len(self._buckets) > 10_000:  # forget idle users; their buckets are full again anyway
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
            return 0.0

    def forget(self) -> None:
        with self._lock:
            self._buckets.clear()


ALLOWANCE = _Allowance()


def _since() -> datetime:
    """Where the console left off (its EventSource's Last-Event-ID, or ``since``), else now."""
    raw = request.headers.get("Last-Event-ID") or request.args.get("since", "")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return min(moment, datetime.now(UTC))


@bp.get("/events")
@allow(*ALL_ROLES)
def stream() -> Any:
    """``text/event-stream`` with what changed since the console's last event id, then the new id; the stream then
    ends and the browser asks again after ``retry``. Too many requests for one user: 429 with Retry-After; more
    consoles than this process serves (TRUCKGUARD_LIVE_CONSOLES_MAX): 503 with Retry-After.

    The order is deliberate. A request without a valid session never gets here: ``auth._guard`` answers it 401
    first (without a cookie or with a forged one, without touching the store), so it cannot use up a user's
    allowance or the process's, and an outsider cannot fill the cap that officers' consoles need. The user's cap
    comes before the process's, so one account over its own cap takes nothing from everybody else's room."""
    retry_s = float(current_app.config.get("EVENTS_RETRY_S", RETRY_S))
    consoles = int(current_app.config.get("EVENTS_CONSOLES_PER_USER", CONSOLES_PER_USER))
    wait = ALLOWANCE.take(current_user().user_id, consoles, retry_s)
    if wait > 0:
        response = jsonify(error="Too Many Requests",
                           message=f"more than {consoles} live consoles for this account; close some")
        response.status_code = 429
        response.headers["Retry-After"] = str(max(1, round(wait)))
        return response
    wait = CONSOLE_CAP.take(current_app.extensions["truckguard.settings"].live_consoles_max, retry_s)
    if wait > 0:
        response = jsonify(error="Service Unavailable",
                           message="this site process already serves as many live consoles as it can; "
                                   "try again shortly")
        response.status_code = 503
        response.headers["Retry-After"] = CONSOLE_CAP.retry_after(wait)
        return response
    feed = ChangeFeed(current_scope(), _since())
    events = feed.poll(get_session())
    stamp = feed.cursor.isoformat()
    parts = [f"retry: {round(retry_s * 1000)}\n\n"]
    parts += [f"id: {stamp}\nevent: {event}\ndata: {orjson.dumps(payload).decode()}\n\n" for event, payload in events]
    parts.append(f"id: {stamp}\n\n")  # moves the console's Last-Event-ID on even when nothing changed
    return Response("".join(parts), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
