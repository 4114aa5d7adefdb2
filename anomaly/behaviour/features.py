"""Trip-segment features over fixed event-time windows: online per vehicle, and in batch with polars for training.

Both paths compute the same numbers from the same records (up to float summation order): windows are
aligned to multiples of WINDOW_MS of epoch time, and every per-record quantity is defined once here.
"""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec

WINDOW_MS = 5 * 60_000
MIN_RECORDS = 10
"""A window with fewer records says too little to be scored."""
MAX_STEP_MS = 60_000
"""Distance is integrated over gaps up to this long only."""
FEATURES = (
    "mean_speed_kmh", "std_speed_kmh", "max_speed_kmh", "stop_ratio", "heading_change_deg_per_min",
    "km_driven", "route_excess_m", "on_trip_ratio", "hour_sin", "hour_cos", "max_gap_s", "no_fix_ratio",
)


class WindowAccumulator(msgspec.Struct, kw_only=True):
    """One vehicle's current window; plain data, saved with the vehicle's state."""

    start_ms: int | None = None
    n: int = 0
    n_speed: int = 0
    sum_v: float = 0.0
    sum_v2: float = 0.0
    max_v: float = 0.0
    n_stopped: int = 0
    heading_change: float = 0.0
    metres: float = 0.0
    route_excess_max: float = 0.0
    n_on_trip: int = 0
    max_gap_ms: int = 0
    n_no_fix: int = 0
    last_heading: float | None = None
    last_moving: bool = False
    last_ts_ms: int | None = None

    def add(self, ts_ms: int, speed: float | None, moving: bool, heading: float | None, route_excess: float,
            on_trip: bool, has_fix: bool) -> None:
        gap = 0 if self.last_ts_ms is None else ts_ms - self.last_ts_ms
        self.n += 1
        if speed is not None:
            self.n_speed += 1
            self.sum_v += speed
            self.sum_v2 += speed * speed
            if speed > self.max_v:
                self.max_v = speed
            self.metres += speed / 3.6 * min(gap, MAX_STEP_MS) / 1000
        if not moving:
            self.n_stopped += 1
        if moving and self.last_moving and heading is not None and self.last_heading is not None:
            self.heading_change += heading_change(self.last_heading, heading)
        if route_excess > self.route_excess_max:
            self.route_excess_max = route_excess
        if on_trip:
            self.n_on_trip += 1
        if gap > self.max_gap_ms:
            self.max_gap_ms = gap
        if not has_fix:
            self.n_no_fix += 1
        self.last_heading, self.last_moving, self.last_ts_ms = heading, moving, ts_ms

    def reset(self, start_ms: int) -> None:
        """Start a new window; the previous record stays known, so gaps and turns span the boundary."""
        self.start_ms = start_ms
        self.n = self.n_speed = self.n_stopped = self.n_on_trip = self.n_no_fix = self.max_gap_ms = 0
        self.sum_v = self.sum_v2 = self.max_v = self.heading_change = self.metres = self.route_excess_max = 0.0

    def features(self, tz: ZoneInfo) -> list[float]:
        assert self.start_ms is not None
        mean = self.sum_v / self.n_speed if self.n_speed else 0.0
        std = math.sqrt(max(0.0, self.sum_v2 / self.n_speed - mean * mean)) if self.n_speed else 0.0
        hour_sin, hour_cos = hour_of_day(self.start_ms, tz)
        return [
            mean, std, self.max_v, self.n_stopped / self.n, self.heading_change / (WINDOW_MS / 60_000),
            self.metres / 1000, self.route_excess_max, self.n_on_trip / self.n, hour_sin, hour_cos,
            self.max_gap_ms / 1000, self.n_no_fix / self.n,
        ]


def window_of(ts_ms: int) -> int:
    return ts_ms // WINDOW_MS * WINDOW_MS


def heading_change(a: float, b: float) -> float:
    d = abs(b - a) % 360.0
    return 360.0 - d if d > 180.0 else d


def hour_of_day(ts_ms: int, tz: ZoneInfo) -> tuple[float, float]:
    """Local time of day on the unit circle, so 23:59 and 00:00 are neighbours."""
    moment = datetime.fromtimestamp(ts_ms / 1000, tz)
    angle = 2 * math.pi * (moment.hour * 60 + moment.minute) / 1440
    return math.sin(angle), math.cos(angle)
