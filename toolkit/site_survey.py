"""A public-space survey (site, approach routes, barriers, crowd times, deliveries) parsed from the guided form."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shapely.geometry import Polygon

from telematics.reference import VEHICLE_CATEGORIES
from telematics.schedule import DAY_NAMES, ScheduleError, parse_days, parse_hhmm, zone_info
from toolkit.errors import AnswerError
from toolkit.loader import default_content
from toolkit.model import Content

SECTION_KEYS = frozenset({"site", "routes", "crowd_times", "deliveries"})
SITE_KEYS = frozenset({"site_id", "name", "kind", "timezone", "boundary"})
ROUTE_KEYS = frozenset({"name", "max_speed_kmh", "approach_angle_deg", "vehicle_mass_kg", "standoff_m", "barrier"})
BARRIER_KEYS = frozenset({"standard", "rated_mass_kg", "rated_speed_kmh", "penetration_m", "temporary"})
CROWD_KEYS = frozenset({"days", "from", "to", "peak_people"})
DELIVERY_KEYS = frozenset({"categories", "windows", "max_speed_kmh"})
WINDOW_KEYS = frozenset({"from", "to"})
MAX_SPEED_KMH = 300.0
SITE_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Barrier:
    standard: str
    """Test standard and rating as on the certificate, e.g. ``IWA 14-1 V/7200[N3C]/48/90:1.5``."""
    rated_mass_kg: float
    rated_speed_kmh: float
    penetration_m: float | None = None
    temporary: bool = False


@dataclass(frozen=True, slots=True)
class ApproachRoute:
    name: str
    max_speed_kmh: float
    """The highest speed a vehicle could have on reaching the crowd along this route."""
    approach_angle_deg: float
    """Angle between the approach and the edge of the crowd: 90 is head-on, small angles are glancing."""
    vehicle_mass_kg: float | None = None
    standoff_m: float | None = None
    """Distance from the barrier line to where people stand."""
    barrier: Barrier | None = None


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Local-time window on some days; a window whose end is before its start runs past midnight."""

    days: tuple[str, ...]
    start: str
    end: str


@dataclass(frozen=True, slots=True)
class CrowdTime:
    window: TimeWindow
    peak_people: int


@dataclass(frozen=True, slots=True)
class Deliveries:
    categories: tuple[str, ...] = ()
    windows: tuple[TimeWindow, ...] = ()
    """Every day, as in the contract's delivery windows."""
    max_speed_kmh: float | None = None


@dataclass(frozen=True, slots=True)
class SiteSurvey:
    site_id: str
    name: str
    kind: str
    timezone: str
    boundary: tuple[tuple[float, float], ...]
    """Outer ring as distinct (lon, lat) points, not closed."""
    routes: tuple[ApproachRoute, ...]
    crowd_times: tuple[CrowdTime, ...]
    deliveries: Deliveries = Deliveries()


def _object(value: Any, field: str, keys: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise AnswerError(field, value, f"an object with {', '.join(sorted(keys))}")
    unknown = sorted(set(value) - keys)
    if unknown:
        raise AnswerError(f"{field}.{unknown[0]}", value[unknown[0]], f"one of the fields {', '.join(sorted(keys))}")
    return value


def _list(value: Any, field: str, minimum: int) -> list[Any]:
    if not isinstance(value, list) or len(value) < minimum:
        raise AnswerError(field, value, f"a list of at least {minimum} entr{'y' if minimum == 1 else 'ies'}")
    return value


def _text(obj: Mapping[str, Any], key: str, field: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise AnswerError(f"{field}.{key}", value, "non-empty text")
    return value.strip()


def _number(obj: Mapping[str, Any], key: str, field: str, low: float, high: float, *,
            required: bool = True, low_open: bool = False) -> float | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AnswerError(f"{field}.{key}", value, f"a number from {low:g} to {high:g}")
    if value > high or value < low or (low_open and value == low):
        bound = f"above {low:g}" if low_open else f"from {low:g}"
        raise AnswerError(f"{field}.{key}", value, f"a number {bound} up to {high:g}")
    return float(value)


def _time(obj: Mapping[str, Any], key: str, field: str) -> str:
    try:
        parse_hhmm(obj.get(key), f"{field}.{key}")
    except ScheduleError:
        raise AnswerError(f"{field}.{key}", obj.get(key), "a local time HH:MM from 00:00 to 24:00") from None
    return obj[key]


def _window(obj: Mapping[str, Any], field: str, days: Any) -> TimeWindow:
    start, end = _time(obj, "from", field), _time(obj, "to", field)
    if start == end:
        raise AnswerError(f"{field}.to", end, f"a time different from 'from' ({start})")
    try:
        day_numbers = parse_days(days, f"{field}.days")
    except ScheduleError:
        raise AnswerError(f"{field}.days", days, f"a non-empty list of days from {', '.join(DAY_NAMES)}") from None
    if not day_numbers:
        raise AnswerError(f"{field}.days", days, f"a non-empty list of days from {', '.join(DAY_NAMES)}")
    return TimeWindow(tuple(DAY_NAMES[d] for d in sorted(day_numbers)), start, end)


def _boundary(value: Any, field: str) -> tuple[tuple[float, float], ...]:
    points = _list(value, field, 3)
    ring = []
    for n, point in enumerate(points):
        if (
            not isinstance(point, list | tuple) or len(point) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in point)
            or not (-180 <= point[0] <= 180 and -90 <= point[1] <= 90)
        ):
            raise AnswerError(f"{field}[{n}]", point, "[longitude, latitude] in WGS 84 degrees")
        ring.append((float(point[0]), float(point[1])))
    if ring[0] == ring[-1]:
        ring.pop()
    if len(set(ring)) < 3 or len(set(ring)) != len(ring):
        raise AnswerError(field, value, "at least three distinct [longitude, latitude] points, none repeated")
    polygon = Polygon(ring)
    if not polygon.is_valid or polygon.area == 0:
        raise AnswerError(field, value, "a simple outline whose edges do not cross")
    return tuple(ring)


def _barrier(value: Any, field: str) -> Barrier | None:
    if value is None:
        return None
    raw = _object(value, field, BARRIER_KEYS)
    temporary = raw.get("temporary", False)
    if not isinstance(temporary, bool):
        raise AnswerError(f"{field}.temporary", temporary, "true or false")
    return Barrier(
        standard=_text(raw, "standard", field),
        rated_mass_kg=_number(raw, "rated_mass_kg", field, 0, 100_000, low_open=True),  # type: ignore[arg-type]
        rated_speed_kmh=_number(raw, "rated_speed_kmh", field, 0, MAX_SPEED_KMH, low_open=True),  # type: ignore[arg-type]
        penetration_m=_number(raw, "penetration_m", field, 0, 1000, required=False),
        temporary=temporary,
    )


def _route(value: Any, field: str) -> ApproachRoute:
    raw = _object(value, field, ROUTE_KEYS)
    return ApproachRoute(
        name=_text(raw, "name", field),
        max_speed_kmh=_number(raw, "max_speed_kmh", field, 0, MAX_SPEED_KMH),  # type: ignore[arg-type]
        approach_angle_deg=_number(raw, "approach_angle_deg", field, 0, 90),  # type: ignore[arg-type]
        vehicle_mass_kg=_number(raw, "vehicle_mass_kg", field, 0, 100_000, required=False, low_open=True),
        standoff_m=_number(raw, "standoff_m", field, 0, 10_000, required=False),
        barrier=_barrier(raw.get("barrier"), f"{field}.barrier"),
    )


def _crowd_time(value: Any, field: str) -> CrowdTime:
    raw = _object(value, field, CROWD_KEYS)
    if raw.get("days") is None:
        raise AnswerError(f"{field}.days", None, f"a non-empty list of days from {', '.join(DAY_NAMES)}")
    people = raw.get("peak_people")
    if isinstance(people, bool) or not isinstance(people, int) or people < 0:
        raise AnswerError(f"{field}.peak_people", people, "a whole number of people, 0 or more")
    return CrowdTime(_window(raw, field, raw.get("days")), people)


def _deliveries(value: Any, field: str) -> Deliveries:
    if value is None:
        return Deliveries()
    raw = _object(value, field, DELIVERY_KEYS)
    categories = raw.get("categories") or []
    if not isinstance(categories, list) or any(c not in VEHICLE_CATEGORIES for c in categories):
        raise AnswerError(f"{field}.categories", categories,
                          f"a list of categories from {', '.join(VEHICLE_CATEGORIES)}")
    windows = tuple(
        _window(_object(w, f"{field}.windows[{n}]", WINDOW_KEYS), f"{field}.windows[{n}]", None)
        for n, w in enumerate(_list(raw.get("windows") or [], f"{field}.windows", 0))
    )
    if categories and not windows:
        raise AnswerError(f"{field}.windows", raw.get("windows"), "at least one delivery window for the categories")
    return Deliveries(
        categories=tuple(sorted(set(categories), key=VEHICLE_CATEGORIES.index)),
        windows=windows,
        max_speed_kmh=_number(raw, "max_speed_kmh", field, 0, MAX_SPEED_KMH, required=False, low_open=True),
    )


def survey_from_answers(answers: Mapping[str, Any], content: Content | None = None) -> SiteSurvey:
    """The survey from the guided form's answers, one key per form section.

    ``{"site": {...}, "routes": [{...}, ...], "crowd_times": [{...}, ...], "deliveries": {...}}``
    """
    content = content or default_content()
    raw = _object(answers, "answers", SECTION_KEYS)
    site = _object(raw.get("site"), "site", SITE_KEYS)
    site_id = _text(site, "site_id", "site")
    if not SITE_ID_PATTERN.match(site_id):
        raise AnswerError("site.site_id", site_id, "1-64 characters of A-Z a-z 0-9 . _ -")
    kind = _text(site, "kind", "site")
    if kind not in content.public_space.site_kinds:
        raise AnswerError("site.kind", kind, f"one of {', '.join(content.public_space.site_kinds)}")
    timezone = _text(site, "timezone", "site")
    try:
        zone_info(timezone)
    except ScheduleError:
        raise AnswerError("site.timezone", timezone, "an IANA time zone name such as Europe/Berlin") from None
    routes = tuple(_route(r, f"routes[{n}]") for n, r in enumerate(_list(raw.get("routes"), "routes", 1)))
    names = [r.name for r in routes]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise AnswerError("routes.name", duplicate, "a different name for each approach route")
    return SiteSurvey(
        site_id=site_id,
        name=_text(site, "name", "site"),
        kind=kind,
        timezone=timezone,
        boundary=_boundary(site.get("boundary"), "site.boundary"),
        routes=routes,
        crowd_times=tuple(_crowd_time(c, f"crowd_times[{n}]")
                          for n, c in enumerate(_list(raw.get("crowd_times"), "crowd_times", 1))),
        deliveries=_deliveries(raw.get("deliveries"), "deliveries"),
    )
