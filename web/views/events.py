"""The live stream: server-sent events for new and changed alerts, stop requests and vehicle positions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
from flask import Blueprint, Response, current_app, request
from sqlalchemy.orm import Session

from web.auth import ALL_ROLES, allow, current_scope
from web.db import get_engine
from web.live import ChangeFeed

bp = Blueprint("events", __name__)
KEEPALIVE_S = 15.0


def _since() -> datetime:
    """Where a reconnecting browser left off (its Last-Event-ID), else now."""
    raw = request.headers.get("Last-Event-ID") or request.args.get("since", "")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except ValueError:
        return datetime.now(UTC)


@bp.get("/events")
@allow(*ALL_ROLES)
def stream() -> Response:
    """``text/event-stream``; each stream ends after SSE_MAX_S so a waitress thread is never held for ever:
    the browser's EventSource reconnects by itself and resumes from its last event id."""
    feed = ChangeFeed(current_scope(), _since())
    engine = get_engine()
    interval = float(current_app.config["SSE_POLL_S"])
    lifetime = float(current_app.config["SSE_MAX_S"])

    def generate() -> Iterator[str]:
        yield "retry: 2000\n\n"
        deadline = time.monotonic() + lifetime
        quiet_since = time.monotonic()
        while True:
            with Session(engine) as session:
                events = feed.poll(session)
            stamp = feed.cursor.isoformat()
            for event, payload in events:
                yield f"id: {stamp}\nevent: {event}\ndata: {orjson.dumps(payload).decode()}\n\n"
            if events:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= KEEPALIVE_S:
                yield ": keep-alive\n\n"
                quiet_since = time.monotonic()
            if time.monotonic() >= deadline:
                return
            time.sleep(interval)

    return Response(generate(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
