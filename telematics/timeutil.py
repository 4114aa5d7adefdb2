"""Event-time conversions: contract timestamps to UTC epoch milliseconds and back."""

from __future__ import annotations

from datetime import UTC, datetime


class TimestampError(ValueError):
    """A timestamp is neither RFC 3339 with an offset nor non-negative integer epoch milliseconds."""


def parse_rfc3339_ms(text: str) -> int:
    """RFC 3339 text with a UTC offset (``Z`` or ``±HH:MM``) to epoch milliseconds."""
    if len(text) < 19 or text[10] not in "Tt":
        raise TimestampError(f"{text!r} is not RFC 3339 (expected e.g. 2026-11-24T09:15:00Z)")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise TimestampError(f"{text!r} is not RFC 3339 (expected e.g. 2026-11-24T09:15:00Z)") from exc
    if moment.tzinfo is None:
        raise TimestampError(f"{text!r} has no UTC offset (expected a trailing Z or ±HH:MM)")
    return int(moment.timestamp() * 1000 + (0.5 if moment.microsecond % 1000 >= 500 else 0))


def format_ms(ms: int) -> str:
    """Epoch milliseconds to RFC 3339 UTC text, with milliseconds only when they are not zero."""
    seconds, millis = divmod(ms, 1000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{millis:03d}Z" if millis else f"{stamp}Z"


def to_datetime(ms: int) -> datetime:
    """Epoch milliseconds to an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC)
