"""Weekly local-time windows (operating hours, zone activity, delivery windows), evaluated in a zone's time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telematics.errors import BadInput

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALL_DAYS = frozenset(range(7))
_DAY_NUMBERS = {name: i for names in (DAY_NAMES, FULL_DAY_NAMES) for i, name in enumerate(names)}
_HHMM = re.compile(r"([01]\d|2[0-4]):([0-5]\d)", re.ASCII)


class ScheduleError(BadInput):
    """A day name, HH:MM time or time zone in reference data is malformed."""


def parse_hhmm(text: object, where: str) -> int:
    """'HH:MM' (00:00-24:00) to minutes after midnight."""
    match = _HHMM.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ScheduleError(f"{where}: got {text!r}, expected HH:MM")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours == 24 and minutes:
        raise ScheduleError(f"{where}: got {text!r}, expected a time from 00:00 to 24:00")
    return hours * 60 + minutes


def parse_days(names: object, where: str) -> frozenset[int]:
    """Day names ("mon" ... "sun", any case; full names too) to weekday numbers, 0 = Monday; None = every day."""
    if names is None:
        return ALL_DAYS
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ScheduleError(f"{where}: got {names!r}, expected a list of day names like ['mon', 'tue']")
    unknown = [n for n in names if n.lower() not in _DAY_NUMBERS]
    if unknown:
        raise ScheduleError(f"{where}: unknown day {unknown[0]!r}, expected one of {', '.join(DAY_NAMES)}")
    return frozenset(_DAY_NUMBERS[n.lower()] for n in names)


def zone_info(name: str) -> ZoneInfo:
    """The IANA time zone of that name, or ScheduleError."""
    if not isinstance(name, str):
        raise ScheduleError(f"got {name!r}, expected an IANA time zone name like Europe/Berlin")
    return _zone_info(name)


@lru_cache(maxsize=256)
def _zone_info(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # a folder such as "Europe" is an OSError
        raise ScheduleError(f"time zone {name!r} is not an IANA zone name (expected e.g. Europe/Berlin)") from exc


@dataclass(frozen=True, slots=True)
class DailyWindow:
    """From start to end minute on each of the given days; an end before the start runs past midnight."""

    days: frozenset[int]
    start_min: int
    end_min: int

    def contains(self, weekday: int, minute: int) -> bool:
        if self.start_min < self.end_min:
            return weekday in self.days and self.start_min <= minute < self.end_min
        if self.start_min == self.end_min:
            return False
        return (weekday in self.days and minute >= self.start_min) or (
            (weekday - 1) % 7 in self.days and minute < self.end_min
        )


@dataclass(frozen=True, slots=True)
class WeeklySchedule:
    """A set of daily windows; ``always`` when the data gave no restriction at all."""

    windows: tuple[DailyWindow, ...] = ()
    always: bool = False

    def contains_local(self, weekday: int, minute: int) -> bool:
        """Whether the local weekday (0 = Monday) and minute of the day fall in a window."""
        return self.always or any(w.contains(weekday, minute) for w in self.windows)


def local_weekday_minute(ts_ms: int, tz: ZoneInfo) -> tuple[int, int]:
    """The local weekday (0 = Monday) and minute of the day of an event time in a time zone."""
    moment = datetime.fromtimestamp(ts_ms // 1000, tz)  # whole seconds: exact, and the minute only needs those
    return moment.weekday(), moment.hour * 60 + moment.minute


def parse_windows(entries: object, where: str) -> WeeklySchedule:
    """Zone-style windows: a list of {"days"?, "from", "to"}; None means always."""
    if entries is None:
        return WeeklySchedule(always=True)
    if not isinstance(entries, list):
        raise ScheduleError(f"{where}: got {entries!r}, expected a list of {{days, from, to}}")
    windows = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ScheduleError(f"{where}[{i}]: got {entry!r}, expected an object with from and to")
        windows.append(
            DailyWindow(
                days=parse_days(entry.get("days"), f"{where}[{i}].days"),
                start_min=parse_hhmm(entry.get("from"), f"{where}[{i}].from"),
                end_min=parse_hhmm(entry.get("to"), f"{where}[{i}].to"),
            )
        )
    return WeeklySchedule(windows=tuple(windows))


def parse_operating_hours(hours: object, where: str) -> WeeklySchedule:
    """Fleet-style hours: {"mon": ["05:00", "21:00"], "sun": null}; a missing or null day has no operation."""
    if hours is None:
        return WeeklySchedule(always=True)
    if not isinstance(hours, dict):
        raise ScheduleError(f"{where}: got {hours!r}, expected an object of day -> [from, to]")
    windows = []
    for day, span in hours.items():
        days = parse_days([day], f"{where}.{day}")
        if span is None:
            continue
        if not isinstance(span, list) or len(span) != 2:
            raise ScheduleError(f"{where}.{day}: got {span!r}, expected [\"HH:MM\", \"HH:MM\"] or null")
        windows.append(
            DailyWindow(days, parse_hhmm(span[0], f"{where}.{day}[0]"), parse_hhmm(span[1], f"{where}.{day}[1]"))
        )
    return WeeklySchedule(windows=tuple(windows))
