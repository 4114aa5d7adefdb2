"""Event-time conversions: contract timestamps to UTC epoch milliseconds and back."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from telematics.errors import BadInput

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)

# RFC 3339 section 5.6 date-time, as the JSON Schema "date-time" format checks it: T/t and Z/z, any number of
# fraction digits, offsets up to ±23:59, no leap second. Ranges of day, hour, minute and second are left to
# datetime.fromisoformat, which rejects what the calendar does not have.
_RFC3339 = re.compile(
    r"\d{4}-(?:0[1-9]|1[0-2])-\d\d[Tt](?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:[Zz]|[+-](?:[01]\d|2[0-3]):[0-5]\d)",
    re.ASCII,
)
_WITHOUT_OFFSET = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?", re.ASCII)
_EXAMPLE = "expected e.g. 2026-11-24T09:15:00Z or 2026-11-24T10:15:00.250+01:00"


class TimestampError(BadInput):
    """A timestamp is neither RFC 3339 with an offset nor non-negative integer epoch milliseconds."""


def _describe(text: str) -> str:
    return repr(text) if len(text) <= 60 else repr(text[:57]) + "..."


def parse_rfc3339_ms(text: str) -> int:
    """RFC 3339 text with a UTC offset (``Z`` or ``±HH:MM``) to epoch milliseconds, sub-milliseconds cut off."""
    if not isinstance(text, str):
        raise TimestampError(f"got {text!r}, expected RFC 3339 text like 2026-11-24T09:15:00Z")
    if _RFC3339.fullmatch(text) is None:
        if _WITHOUT_OFFSET.fullmatch(text):
            raise TimestampError(f"{_describe(text)} has no UTC offset (expected a trailing Z or ±HH:MM)")
        raise TimestampError(f"{_describe(text)} is not RFC 3339 ({_EXAMPLE})")
    try:
        # fromisoformat wants upper case; only the T and the Z can be lower case once the pattern matched.
        moment = datetime.fromisoformat(text if text[10] == "T" and text[-1] != "z" else text.upper())
    except ValueError as exc:
        raise TimestampError(f"{_describe(text)} is not a date and time that exists ({exc})") from None
    # fromisoformat keeps whole microseconds and floor division keeps whole milliseconds: both cut off, exactly.
    return (moment - EPOCH) // _MILLISECOND


def format_ms(ms: int) -> str:
    """Epoch milliseconds to RFC 3339 UTC text, with milliseconds only when they are not zero."""
    m = EPOCH + timedelta(milliseconds=ms)
    stamp = f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
    millis = ms % 1000
    return f"{stamp}.{millis:03d}Z" if millis else f"{stamp}Z"


def to_datetime(ms: int) -> datetime:
    """Epoch milliseconds to an aware UTC datetime, exactly."""
    return EPOCH + timedelta(milliseconds=ms)
