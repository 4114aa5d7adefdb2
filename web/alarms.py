"""The outbox alarm on the consoles: messages (above all stop decisions) that are stuck or were set aside."""

from __future__ import annotations

import threading
import time

from flask import Flask, flash, g, request, session
from sqlalchemy.orm import Session

from web.db import get_engine
from web.outbox import OutboxHealth, outbox_health

ALARM_ROLES = frozenset({"fleet_operator", "law_enforcement", "admin"})
"""Who sees it: those who can act on a stuck stop decision or call someone who can."""
REFRESH_S = 5.0
"""The store is asked at most this often per process; every page view in between reuses the answer."""
QUIET_PATHS = ("/api/", "/events", "/static/", "/health")


class _Cached:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.at = float("-inf")
        self.health: OutboxHealth | None = None


_CACHE = _Cached()


def current_health() -> OutboxHealth:
    with _CACHE.lock:
        if _CACHE.health is None or time.monotonic() - _CACHE.at >= REFRESH_S:
            with Session(get_engine()) as store:
                _CACHE.health = outbox_health(store)
            _CACHE.at = time.monotonic()
        return _CACHE.health


def forget() -> None:
    """Drop the cached answer (tests, and after an administrator dealt with the outbox)."""
    with _CACHE.lock:
        _CACHE.health, _CACHE.at = None, float("-inf")


def _flash_alarm() -> None:
    user = g.get("user")
    if user is None or user.role not in ALARM_ROLES or request.method != "GET" or g.get("via_token"):
        return
    if request.path.startswith(QUIET_PATHS):
        return
    health = current_health()
    if health.alarming:
        text = health.message()
        # Looked up without taking the messages (the page shows them); one already waiting is not added twice.
        if ("error", text) not in [tuple(m) for m in session.get("_flashes", [])]:
            flash(text, "error")


def init_app(app: Flask) -> None:
    app.before_request(_flash_alarm)
