"""The gateway's zone guard: from its own fix and wheel speed, the speed limit that brings the truck to a protected
zone's boundary no faster than the zone allows, with no backend.

Inside an active zone the limit is the zone's ``max_speed_kmh`` where the vehicle may be there, else a crawl. In
front of a zone, the course is cast as a ray: when it meets the outline within the distance the truck needs to
come down to that limit (plus a few seconds' look-ahead), the limit follows the speed from which a steady,
gentle deceleration arrives at the boundary at the zone's limit. A road alongside or past a zone never points
at it, so a truck there is never slowed; turning away or leaving releases the limit at once. With no valid fix
within 500 m of an active zone, a city limit holds until a fix returns. Lowering is ramped (never above
2.5 m/s²), and a limit is never raised while it governs. Zones are found through a grid of cells, so per-fix
work does not grow with the number of zones loaded.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import shapely
from shapely import LineString

from telematics.geo import destination
from telematics.reference import Zone
from telematics.zone_sets import ZoneSet

log = logging.getLogger(__name__)

CRAWL_KMH = 10.0
"""Where the vehicle has no right to be: walking pace, as a permitted delivery drives among pedestrians."""
CITY_LIMIT_KMH = 30.0
"""Held while GNSS is lost near an active zone: the limit in many European city centres (Paris and Brussels since
2021)."""
GNSS_HOLD_RADIUS_M = 500.0
PLAN_DECEL_MPS2 = 2.0
"""The profile towards the boundary: a firm but ordinary stop for a loaded truck (drivers brake at 1-2 m/s²)."""
MAX_DECEL_MPS2 = 2.4
"""The ramp never lowers the limit faster than this: under the 2.5 m/s² ceiling, with room for rounding."""
LOOKAHEAD_S = 4.0
"""An approach is looked at this many seconds before the deceleration would have to begin."""
BOUNDARY_MARGIN_M = 8.0
"""The limit is reached this far before the outline: GNSS error and the engine's response time."""
START_HEADROOM_KMH = 2.0
CELL_DEG = 0.01
"""Grid cells of about 1.1 km north-south: a fix looks at the zones registered in its own cell only."""
MAX_REACH_M = 600.0
"""The farthest a zone can matter from: the GNSS hold radius, or the run-up from 90 km/h plus the look-ahead."""
MOVING_MPS = 0.5
"""Below this the receiver's heading is noise: a standing truck points nowhere."""
_METRES_PER_DEG_LAT = 111_195.0


@dataclass(frozen=True, slots=True)
class GuardFix:
    """What the gateway knows of its own motion at one moment; ``lat``/``lon`` None without a valid fix."""

    t: float
    lat: float | None
    lon: float | None
    heading_deg: float | None
    speed_kmh: float


@dataclass(frozen=True, slots=True)
class GuardLimit:
    """The guard's limit at one moment and why (``zone_id``; ``reason`` one of inside, approach, gnss_lost)."""

    limit_kmh: float
    zone_id: str | None
    reason: str


@dataclass(slots=True)
class _Rules:
    zone: Zone
    bounds: tuple[float, float, float, float]
    """The outline's box in the zone's own frame (read once: shapely's property builds it on every call)."""
    minute: int = -1
    active: bool = False
    limit_kmh: float | None = None


@dataclass
class ZoneGuard:
    """Keeps the last valid zone set and works out the speed limit for each fix (see the module docstring)."""

    category: str | None = None
    crawl_kmh: float = CRAWL_KMH
    city_limit_kmh: float = CITY_LIMIT_KMH
    gnss_hold_radius_m: float = GNSS_HOLD_RADIUS_M
    zone_set: ZoneSet | None = None
    current: GuardLimit | None = None
    changes: list[tuple[float, GuardLimit | None]] = field(default_factory=list)
    """Every change of the guard's decision (bus time, new decision), as logged."""
    _cells: dict[tuple[int, int], list[_Rules]] = field(default_factory=dict)
    _limit_t: float | None = None
    _want: GuardLimit | None = None
    _near_active: bool = False

    def install(self, zone_set: ZoneSet) -> None:
        """Guard with a newly verified set (it replaces the one held)."""
        self.zone_set = zone_set
        if zone_set.category is not None:
            self.category = zone_set.category
        cells: dict[tuple[int, int], list[_Rules]] = {}
        margin_lat = MAX_REACH_M / _METRES_PER_DEG_LAT
        for zone in zone_set.zones:
            rules = _Rules(zone, tuple(zone.polygon_xy.bounds))  # type: ignore[arg-type]
            min_lat, min_lon, max_lat, max_lon = zone.bbox
            margin_lon = margin_lat / max(math.cos(math.radians((min_lat + max_lat) / 2)), 0.1)
            for i in range(_cell(min_lat - margin_lat), _cell(max_lat + margin_lat) + 1):
                for j in range(_cell(min_lon - margin_lon), _cell(max_lon + margin_lon) + 1):
                    cells.setdefault((i, j), []).append(rules)
        self._cells = cells
        log.info("zone guard: %d zones of set %s installed", len(zone_set.zones), zone_set.zone_set_id)

    def decide(self, fix: GuardFix) -> GuardLimit | None:
        """The limit the vehicle must keep at this fix, before ramping (None: not governed)."""
        if fix.lat is None or fix.lon is None:
            if self._near_active:
                return GuardLimit(self.city_limit_kmh, None, "gnss_lost")
            return None
        candidates = self._cells.get((_cell(fix.lat), _cell(fix.lon)))
        self._near_active = False
        if not candidates:
            return None
        ts_ms = round(fix.t * 1000)
        v = max(fix.speed_kmh, 0.0) / 3.6
        best: GuardLimit | None = None
        for rules in candidates:
            limit = self._rules_at(rules, ts_ms)
            if not rules.active:
                continue
            zone = rules.zone
            polygon = zone.polygon_xy
            x, y = zone.frame.to_xy(fix.lat, fix.lon)
            box_m = _box_distance(rules.bounds, x, y)
            # outside its box the point is outside the outline: the exact test only for points within the box
            inside = box_m == 0.0 and bool(shapely.contains_xy(polygon, x, y))
            if box_m <= self.gnss_hold_radius_m:
                self._near_active = True
            if limit is None:
                continue
            if inside:
                want = GuardLimit(limit, zone.zone_id, "inside")
            else:
                limit_mps = limit / 3.6
                if fix.heading_deg is None or v < MOVING_MPS:
                    continue
                # A truck already down to the zone's limit keeps it while it points at the zone, or it would
                # pick up speed again in the last metres.
                reach = (max(v * v - limit_mps * limit_mps, 0.0) / (2 * PLAN_DECEL_MPS2)
                         + max(v, limit_mps) * LOOKAHEAD_S + BOUNDARY_MARGIN_M)
                if box_m > reach:
                    continue
                hit = _ray_hit(polygon, x, y, fix.heading_deg, reach)
                if hit is None:
                    continue
                run_up = max(hit - BOUNDARY_MARGIN_M, 0.0)
                allowed = math.sqrt(limit_mps * limit_mps + 2 * PLAN_DECEL_MPS2 * run_up) * 3.6
                want = GuardLimit(allowed, zone.zone_id, "approach")
            if best is None or want.limit_kmh < best.limit_kmh:
                best = want
        return best

    def limit_at(self, fix: GuardFix) -> GuardLimit | None:
        """Look at a new fix: the ramped limit to send now (lowered at most MAX_DECEL_MPS2, never raised while it
        governs, released at once when nothing calls for it), and what the ramp heads for until the next fix."""
        want = self.decide(fix)
        previous = self.current
        self._want = want
        ramped = None if want is None else self._ramp(want, fix.t, fix.speed_kmh)
        if ramped is None:
            self.current, self._limit_t = None, None
        if _changed(previous, ramped):
            self.changes.append((fix.t, ramped))
            if ramped is None:
                log.info("zone guard: limit released at %.1f km/h", fix.speed_kmh)
            else:
                log.info("zone guard: %s %s, at most %.0f km/h (now %.1f km/h)", ramped.reason,
                         ramped.zone_id or "(no fix)", want.limit_kmh if want else ramped.limit_kmh, fix.speed_kmh)
        return ramped

    def ramped_at(self, t: float) -> GuardLimit | None:
        """The limit at bus time ``t`` between two fixes: the ramp goes on smoothly towards what the last fix asked
        for (the engine gets a new limit every 10 ms, not a step at every fix)."""
        want = self._want
        if want is None or self.current is None:
            return None
        return self._ramp(want, t, None)

    def _ramp(self, want: GuardLimit, t: float, speed_kmh: float | None) -> GuardLimit:
        current, since = self.current, self._limit_t
        if current is None or since is None:
            value = max((speed_kmh or 0.0) + START_HEADROOM_KMH, want.limit_kmh)
        elif want.limit_kmh >= current.limit_kmh:
            # never raised while governed: a truck held at the city limit without a fix does not speed up towards
            # the zone when the fix returns; turning away or leaving releases the limit altogether
            value = current.limit_kmh
        else:
            value = max(want.limit_kmh, current.limit_kmh - MAX_DECEL_MPS2 * 3.6 * max(t - since, 0.0))
        self.current, self._limit_t = GuardLimit(value, want.zone_id, want.reason), t
        return self.current

    def _rules_at(self, rules: _Rules, ts_ms: int) -> float | None:
        """The zone's limit for this vehicle now (None: it may drive there at its own pace), worked out once a
        minute, as windows are in minutes."""
        minute = ts_ms // 60_000
        if rules.minute != minute:
            zone = rules.zone
            rules.minute = minute
            rules.active = zone.active_at(ts_ms)
            if zone.permits(self.category, ts_ms):
                rules.limit_kmh = zone.access.max_speed_kmh
            else:
                rules.limit_kmh = self.crawl_kmh
        return rules.limit_kmh


def _cell(degrees: float) -> int:
    return math.floor(degrees / CELL_DEG)


def _box_distance(bounds: tuple[float, float, float, float], x: float, y: float) -> float:
    min_x, min_y, max_x, max_y = bounds
    dx = max(min_x - x, 0.0, x - max_x)
    dy = max(min_y - y, 0.0, y - max_y)
    return math.hypot(dx, dy)


def _ray_hit(polygon: shapely.Polygon, x: float, y: float, course_deg: float, reach: float) -> float | None:
    """Metres along the course to the outline, when it is met within reach."""
    rad = math.radians(course_deg)
    ray = LineString([(x, y), (x + reach * math.sin(rad), y + reach * math.cos(rad))])
    if not polygon.intersects(ray):
        return None
    crossing = shapely.intersection(ray, polygon.exterior)
    points = shapely.get_coordinates(crossing)
    if len(points) == 0:
        return None
    return float(min(math.hypot(px - x, py - y) for px, py in points))


def _changed(before: GuardLimit | None, after: GuardLimit | None) -> bool:
    if (before is None) != (after is None):
        return True
    if before is None or after is None:
        return False
    return before.zone_id != after.zone_id or before.reason != after.reason


def fix_from_fields(fields: dict[str, object], now: float, fix_t: float | None) -> GuardFix:
    """The guard's input from the gateway's decoded fields: the last fix carried forward along the heading at the
    wheel speed to ``now`` (a receiver reports once a second; at 50 km/h that is 14 m)."""
    speed = fields.get("wheel_speed_kmh", fields.get("gnss_speed_kmh", 0.0))
    speed_kmh = float(speed) if isinstance(speed, int | float) else 0.0
    heading = fields.get("heading_deg")
    heading_deg = float(heading) if isinstance(heading, int | float) else None
    lat, lon = fields.get("lat"), fields.get("lon")
    if fields.get("gnss_fix") is not True or not isinstance(lat, float) or not isinstance(lon, float):
        return GuardFix(now, None, None, heading_deg, speed_kmh)
    if fix_t is not None and heading_deg is not None and now > fix_t and speed_kmh > 0:
        lat, lon = destination(lat, lon, heading_deg, speed_kmh / 3.6 * (now - fix_t))
    return GuardFix(now, lat, lon, heading_deg, speed_kmh)
