"""Weekly local-time windows: operating hours, zone and delivery windows, in the zone's time zone, across DST."""

from __future__ import annotations

import calendar
from zoneinfo import ZoneInfo

import pytest

from telematics.schedule import (
    ALL_DAYS,
    DailyWindow,
    ScheduleError,
    WeeklySchedule,
    local_weekday_minute,
    parse_days,
    parse_hhmm,
    parse_operating_hours,
    parse_windows,
    zone_info,
)

BERLIN = ZoneInfo("Europe/Berlin")
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def utc_ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return calendar.timegm((year, month, day, hour, minute, second)) * 1000


def minutes_inside(schedule: WeeklySchedule, tz: ZoneInfo, start_ms: int, hours: int) -> int:
    """Real minutes, from start_ms on, during which the schedule holds in that time zone."""
    return sum(schedule.contains_local(*local_weekday_minute(start_ms + m * 60_000, tz)) for m in range(hours * 60))


@pytest.mark.parametrize(("text", "minutes"), [("00:00", 0), ("05:30", 330), ("23:59", 1439), ("24:00", 1440)])
def test_parse_hhmm(text: str, minutes: int) -> None:
    assert parse_hhmm(text, "here") == minutes


@pytest.mark.parametrize("text", ["24:01", "25:00", "5:00", "05:60", "05:00 ", "0500", "05-00", "", "0²:00",
                                  "٠٥:٠٠", "+5:00", 500, None, ["05:00"]])
def test_parse_hhmm_refuses_what_is_not_hh_mm(text: object) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_hhmm(text, "fleet.json: fleets[0].operating_hours.mon[0]")
    assert str(info.value).startswith(f"fleet.json: fleets[0].operating_hours.mon[0]: got {text!r}, expected")


def test_parse_days() -> None:
    assert parse_days(["mon", "Tue", "SUNDAY", "wednesday"], "x") == {MON, TUE, WED, SUN}
    assert parse_days(None, "x") == ALL_DAYS
    assert parse_days([], "x") == frozenset()


@pytest.mark.parametrize(("names", "message"), [
    (["monkey"], "x[0]: unknown day 'monkey', expected one of mon, tue"),
    (["mo"], "unknown day 'mo'"),
    (["montag"], "unknown day 'montag'"),
    ("mon", "got 'mon', expected a list of day names"),
    ([1], "got [1], expected a list of day names"),
])
def test_parse_days_refuses_unknown_days(names: object, message: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_days(names, "x[0]" if names == ["monkey"] else "x")
    assert message in str(info.value)


def test_daily_windows() -> None:
    day = DailyWindow(frozenset({MON}), 300, 1260)
    assert not day.contains(MON, 299) and day.contains(MON, 300) and day.contains(MON, 1259)
    assert not day.contains(MON, 1260) and not day.contains(TUE, 600)
    night = DailyWindow(frozenset({FRI}), 1320, 360)  # Friday 22:00 to Saturday 06:00
    assert night.contains(FRI, 1320) and night.contains(FRI, 1439) and night.contains(SAT, 0)
    assert night.contains(SAT, 359) and not night.contains(SAT, 360) and not night.contains(FRI, 300)
    assert not night.contains(SAT, 1380) and not night.contains(THU, 1380)
    sunday_night = DailyWindow(frozenset({SUN}), 1320, 360)  # the week wraps: Sunday night into Monday
    assert sunday_night.contains(MON, 60) and not sunday_night.contains(SUN, 60)
    assert not DailyWindow(ALL_DAYS, 600, 600).contains(MON, 600)  # empty
    whole = DailyWindow(frozenset({WED}), 0, 1440)
    assert whole.contains(WED, 0) and whole.contains(WED, 1439) and not whole.contains(THU, 0)


def test_operating_hours_of_the_contract_example() -> None:
    hours = parse_operating_hours({"mon": ["05:00", "21:00"], "sat": ["06:00", "14:00"], "sun": None}, "x")
    assert not hours.always
    assert not hours.contains_local(MON, 299) and hours.contains_local(MON, 300)
    assert hours.contains_local(MON, 1259) and not hours.contains_local(MON, 1260)
    assert hours.contains_local(SAT, 360) and not hours.contains_local(SAT, 840)
    for day in (TUE, WED, THU, FRI):  # missing: no operation
        assert not any(hours.contains_local(day, m) for m in range(0, 1440, 15))
    assert not any(hours.contains_local(SUN, m) for m in range(0, 1440, 15))  # null: no operation


def test_operating_hours_absent_empty_and_overnight() -> None:
    assert parse_operating_hours(None, "x").always  # no hours given: no restriction (e.g. rental fleets)
    never = parse_operating_hours({}, "x")
    assert not never.always and not never.contains_local(MON, 600)
    night = parse_operating_hours({"sat": ["22:00", "06:00"], "sun": None}, "x")
    assert night.contains_local(SAT, 23 * 60)
    # A shift that starts on Saturday runs into Sunday although Sunday itself has no operation.
    assert night.contains_local(SUN, 5 * 60) and not night.contains_local(SUN, 6 * 60)
    assert not night.contains_local(SAT, 5 * 60)


@pytest.mark.parametrize(("hours", "message"), [
    ({"funday": ["05:00", "21:00"]}, "x.funday: unknown day 'funday'"),
    ({"mon": ["05:00"]}, "x.mon: got ['05:00'], expected [\"HH:MM\", \"HH:MM\"] or null"),
    ({"mon": "05:00-21:00"}, "x.mon: got '05:00-21:00', expected"),
    ({"mon": ["05:00", "25:00"]}, "x.mon[1]: got '25:00', expected HH:MM"),
    ({"mon": [5, "21:00"]}, "x.mon[0]: got 5, expected HH:MM"),
    (["mon"], "x: got ['mon'], expected an object of day -> [from, to]"),
])
def test_operating_hours_errors_name_the_day(hours: object, message: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_operating_hours(hours, "x")
    assert str(info.value).startswith(message)


def test_zone_windows() -> None:
    assert parse_windows(None, "x").always  # absent: always
    never = parse_windows([], "x")
    assert not never.always and not never.contains_local(MON, 600)
    windows = parse_windows([{"days": ["sat", "sun"], "from": "10:00", "to": "20:00"},
                             {"from": "06:00", "to": "10:00"}], "x")
    assert windows.contains_local(SAT, 600) and windows.contains_local(SUN, 1199)
    assert not windows.contains_local(FRI, 600) and windows.contains_local(FRI, 360)  # the second: every day
    assert not windows.contains_local(SAT, 1200)


@pytest.mark.parametrize(("entries", "message"), [
    ({"from": "06:00", "to": "10:00"}, "w: got {'from': '06:00', 'to': '10:00'}, expected a list of {days, from, to}"),
    (["06:00-10:00"], "w[0]: got '06:00-10:00', expected an object with from and to"),
    ([{"from": "06:00"}], "w[0].to: got None, expected HH:MM"),
    ([{"from": "6", "to": "10:00"}], "w[0].from: got '6', expected HH:MM"),
    ([{"days": ["xyz"], "from": "06:00", "to": "10:00"}], "w[0].days: unknown day 'xyz'"),
    ([{"days": "mon", "from": "06:00", "to": "10:00"}], "w[0].days: got 'mon', expected a list"),
])
def test_window_errors_name_the_entry(entries: object, message: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_windows(entries, "w")
    assert str(info.value).startswith(message)


def test_local_weekday_and_minute_in_berlin_winter_and_summer() -> None:
    assert local_weekday_minute(utc_ms(2026, 11, 24, 9, 15), BERLIN) == (TUE, 10 * 60 + 15)  # CET, UTC+1
    assert local_weekday_minute(utc_ms(2026, 7, 14, 9, 15), BERLIN) == (TUE, 11 * 60 + 15)  # CEST, UTC+2
    assert local_weekday_minute(utc_ms(2026, 11, 24, 23, 30), BERLIN) == (WED, 30)  # the next local day
    # Exactly: one millisecond before a minute is still the minute before.
    assert local_weekday_minute(utc_ms(2026, 11, 24, 9, 15) - 1, BERLIN) == (TUE, 10 * 60 + 14)


def test_dst_changes_in_berlin() -> None:
    # 2026-03-29 (a Sunday): 02:00 CET becomes 03:00 CEST at 01:00 UTC.
    assert local_weekday_minute(utc_ms(2026, 3, 29, 0, 59), BERLIN) == (SUN, 1 * 60 + 59)
    assert local_weekday_minute(utc_ms(2026, 3, 29, 1, 0), BERLIN) == (SUN, 3 * 60)
    # 2026-10-25 (a Sunday): 03:00 CEST becomes 02:00 CET at 01:00 UTC; 02:30 happens twice.
    assert local_weekday_minute(utc_ms(2026, 10, 25, 0, 30), BERLIN) == (SUN, 2 * 60 + 30)
    assert local_weekday_minute(utc_ms(2026, 10, 25, 1, 30), BERLIN) == (SUN, 2 * 60 + 30)


def test_a_local_window_lasts_what_the_wall_clock_says_on_dst_days() -> None:
    early = parse_windows([{"days": ["sun"], "from": "01:00", "to": "05:00"}], "x")
    day_before = utc_ms(2026, 3, 28, 22)  # a whole local day around each change, from the evening before
    assert minutes_inside(early, BERLIN, utc_ms(2026, 3, 21, 22), 30) == 4 * 60  # an ordinary Sunday
    assert minutes_inside(early, BERLIN, day_before, 30) == 3 * 60  # 02:00-03:00 does not exist
    assert minutes_inside(early, BERLIN, utc_ms(2026, 10, 24, 21), 30) == 5 * 60  # 02:00-03:00 twice
    # Outside the change, a window keeps its local times: 06:00 local is 05:00 UTC in winter, 04:00 in summer.
    delivery = parse_windows([{"from": "06:00", "to": "10:00"}], "x")
    assert not delivery.contains_local(*local_weekday_minute(utc_ms(2026, 3, 28, 4, 30), BERLIN))
    assert delivery.contains_local(*local_weekday_minute(utc_ms(2026, 3, 28, 5, 30), BERLIN))
    assert delivery.contains_local(*local_weekday_minute(utc_ms(2026, 3, 30, 4, 30), BERLIN))
    assert not delivery.contains_local(*local_weekday_minute(utc_ms(2026, 3, 30, 8, 0), BERLIN))


def test_zone_info() -> None:
    assert zone_info("Europe/Berlin") is zone_info("Europe/Berlin")
    for bad in ("Europe/Atlantis", "", "Europe", "../etc/passwd", "europe/berlin"):
        with pytest.raises(ScheduleError, match="is not an IANA zone name"):
            zone_info(bad)
    with pytest.raises(ScheduleError, match="got 5, expected an IANA time zone name"):
        zone_info(5)  # type: ignore[arg-type]
