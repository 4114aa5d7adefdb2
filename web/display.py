"""Turns stored values into the short texts the pages show (static/live.js mirrors each one for live rows)."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask

from telematics.timeutil import TimestampError, format_ms, parse_rfc3339_ms

SUMMARY_CHARS = 140
NONE = "—"


_ACRONYMS = {"gnss": "GNSS", "can": "CAN"}


def kind_label(kind: str) -> str:
    """``route_deviation`` → ``Route deviation``, ``gnss_jamming`` → ``GNSS jamming``."""
    text = " ".join(_ACRONYMS.get(word, word) for word in kind.split("_"))
    return text[:1].upper() + text[1:]


def when(rfc3339: str | None) -> str:
    """Contract time text, whatever its offset, to ``2026-11-24 09:15:00`` in UTC (as the headings say)."""
    if not rfc3339:
        return NONE
    try:
        return format_ms(parse_rfc3339_ms(rfc3339))[:19].replace("T", " ")
    except TimestampError:
        return rfc3339


def score(value: float | None) -> str:
    return NONE if value is None else f"{value:.2f}"


def plain(value: Any) -> str:
    """One JSON value as short text: numbers as written, yes/no, lists joined, objects as compact JSON."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float | str):
        return str(value)
    if isinstance(value, list):
        return ", ".join(plain(item) for item in value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def evidence_summary(evidence: dict[str, Any] | None, limit: int = SUMMARY_CHARS) -> str:
    """The detector's own ``summary`` when it wrote one, else ``key: value`` pairs; cut to ``limit``."""
    if not evidence:
        return NONE
    summary = evidence.get("summary")
    if isinstance(summary, str) and summary:
        text = summary
    else:
        text = "; ".join(f"{key.replace('_', ' ')}: {plain(value)}" for key, value in evidence.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


CLOCKS_AGREE_MS = 1000
"""Event and record times closer than this are shown once: the contract's times have millisecond resolution,
but a second is what the pages show."""


def step_label(entry: dict[str, Any]) -> str:
    """The words for one history entry: ``requested``, ``approved 1 of 2``, ``authorized``, ``sent``,
    ``acknowledged``, ``completed``, ``refused``, ``expired``. A first approval leaves the status
    ``requested`` (the contract has no status for it); its ``approval`` says what it was."""
    return "approved 1 of 2" if entry.get("approval") == 1 else str(entry.get("status", "?"))


def recorded_time(entry: dict[str, Any]) -> str | None:
    """The time the platform recorded an entry (the one clock the history is ordered by), else its own ``at``."""
    return entry.get("recorded_at") or entry.get("at")


def event_time(entry: dict[str, Any]) -> str | None:
    """The entry's own ``at`` when it differs from the time it was recorded (a detector's event time, a truck's
    bus time), else None."""
    at, recorded = entry.get("at"), entry.get("recorded_at")
    if not at or not recorded:
        return None
    try:
        return at if abs(parse_rfc3339_ms(at) - parse_rfc3339_ms(recorded)) >= CLOCKS_AGREE_MS else None
    except TimestampError:
        return at


def last_change(history: list[dict[str, Any]] | None) -> str:
    """The newest history entry as ``approved 1 of 2 by police-berlin at 2026-11-24 09:20:00``."""
    if not history:
        return NONE
    entry = history[-1]
    text = f"{step_label(entry)} by {entry.get('by', '?')} at {when(recorded_time(entry))}"
    return f"{text}: {entry['note']}" if entry.get("note") else text


def speed(value: float | None) -> str:
    """``42 km/h``, to the nearest whole km/h: a GNSS speed is good to about 1 km/h."""
    return NONE if value is None else f"{value:.0f} km/h"


def distance(metres: float | None) -> str:
    """``850 m`` under a kilometre, ``2.4 km`` above."""
    if metres is None:
        return NONE
    return f"{metres:.0f} m" if metres < 1000 else f"{metres / 1000:.1f} km"


def duration(seconds: float | None) -> str:
    """``45 s``, ``3 min 20 s``, ``1 h 05 min``."""
    if seconds is None:
        return NONE
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min {total % 60:02d} s"
    return f"{total // 3600} h {total % 3600 // 60:02d} min"


def register_filters(app: Flask) -> None:
    for name, function in (("kind_label", kind_label), ("when", when), ("score", score),
                           ("evidence_summary", evidence_summary), ("last_change", last_change),
                           ("plain", plain), ("step_label", step_label), ("recorded_time", recorded_time),
                           ("event_time", event_time), ("speed", speed), ("distance", distance),
                           ("duration", duration)):
        app.add_template_filter(function, name)
