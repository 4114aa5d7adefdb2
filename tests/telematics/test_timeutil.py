"""Event-time conversions: RFC 3339 text to epoch milliseconds and back, exactly."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

import pytest

from telematics.timeutil import TimestampError, format_ms, parse_rfc3339_ms, to_datetime

T0 = calendar.timegm((2026, 11, 24, 9, 15, 0)) * 1000


@pytest.mark.parametrize(("text", "ms"), [
    ("2026-11-24T09:15:00Z", T0),
    ("2026-11-24T10:15:00+01:00", T0),
    ("2026-11-24T03:45:00-05:30", T0),
    ("2026-11-24T09:15:00.5Z", T0 + 500),
    ("2026-11-24T09:15:00.0015Z", T0 + 1),
    ("2026-11-24T09:15:00.999999999Z", T0 + 999),
    ("2026-11-24t09:15:00z", T0),
    ("1969-12-31T23:59:59.999Z", -1),  # before 1970 is still a time here; telemetry refuses it, not this
    ("1969-12-31T23:59:59.9999Z", -1),  # cut off towards the past, also before 1970
    ("0001-01-01T00:00:00Z", -62_135_596_800_000),
    ("9999-12-31T23:59:59.999Z", 253_402_300_799_999),
])
def test_parse_rfc3339_ms(text: str, ms: int) -> None:
    assert parse_rfc3339_ms(text) == ms


@pytest.mark.parametrize(("text", "message"), [
    ("2026-11-24T09:15:00", "'2026-11-24T09:15:00' has no UTC offset (expected a trailing Z or ±HH:MM)"),
    ("2026-11-24T09:15", "has no UTC offset"),
    ("2026-11-24 09:15:00.5", "has no UTC offset"),
    ("yesterday", "'yesterday' is not RFC 3339 (expected e.g. 2026-11-24T09:15:00Z"),
    ("2026-11-24T09:15:00+0100", "is not RFC 3339"),
    ("2026-11-24T09:15:00 Z", "is not RFC 3339"),
    ("2026-11-24T09:15:00Z ", "is not RFC 3339"),
    ("2026-02-30T00:00:00Z", "'2026-02-30T00:00:00Z' is not a date and time that exists (day is out of range"),
    ("2026-11-24T09:15:00.Z", "is not RFC 3339"),
    ("x" * 500, "'xxxxxxxx"),
])
def test_what_is_not_rfc3339_says_why(text: str, message: str) -> None:
    with pytest.raises(TimestampError) as info:
        parse_rfc3339_ms(text)
    assert message in str(info.value)
    assert len(str(info.value)) < 200


def test_a_non_text_timestamp_is_a_timestamp_error() -> None:
    with pytest.raises(TimestampError, match="got 5, expected RFC 3339 text"):
        parse_rfc3339_ms(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(("ms", "text"), [
    (T0, "2026-11-24T09:15:00Z"),
    (T0 + 7, "2026-11-24T09:15:00.007Z"),
    (T0 + 250, "2026-11-24T09:15:00.250Z"),
    (0, "1970-01-01T00:00:00Z"),
    (-1, "1969-12-31T23:59:59.999Z"),
    (calendar.timegm((2028, 2, 29, 23, 59, 59)) * 1000, "2028-02-29T23:59:59Z"),
    (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
    (-62_135_596_800_000, "0001-01-01T00:00:00Z"),
])
def test_format_ms(ms: int, text: str) -> None:
    assert format_ms(ms) == text
    assert parse_rfc3339_ms(text) == ms


def test_format_and_parse_round_trip_to_the_millisecond() -> None:
    for ms in range(T0 - 5_000, T0 + 5_000, 37):
        assert parse_rfc3339_ms(format_ms(ms)) == ms


def test_to_datetime_is_exact_and_utc() -> None:
    moment = to_datetime(T0 + 123)
    assert moment == datetime(2026, 11, 24, 9, 15, 0, 123_000, tzinfo=UTC)
    assert moment.tzinfo is UTC
    # 1795511700.123 is not a float that exists; the datetime must not lose the millisecond
    assert all(to_datetime(T0 + ms).microsecond == ms * 1000 for ms in range(1000))
    assert to_datetime(-1) == datetime(1969, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC)
