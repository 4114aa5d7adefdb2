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


def last_change(history: list[dict[str, Any]] | None) -> str:
    """The newest history entry as ``authorized by police-berlin at 2026-11-24 09:20:00``."""
    if not history:
        return NONE
    entry = history[-1]
    text = f"{entry.get('status', '?')} by {entry.get('by', '?')} at {when(entry.get('at'))}"
    return f"{text}: {entry['note']}" if entry.get("note") else text


def register_filters(app: Flask) -> None:
    for name, function in (("kind_label", kind_label), ("when", when), ("score", score),
                           ("evidence_summary", evidence_summary), ("last_change", last_change),
                           ("plain", plain)):
        app.add_template_filter(function, name)
