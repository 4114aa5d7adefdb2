"""A clock that starts at a chosen event time and runs at ``speed`` times real time."""

from __future__ import annotations

import time
from collections.abc import Callable


class ScaledClock:
    """Epoch seconds of event time: ``start`` when created, then advancing ``speed`` seconds per real second.

    It satisfies ``can_sim.truck.Clock``, so a bundle recorded at any date replays with its own timestamps.
    """

    def __init__(self, start: float, speed: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        if not speed > 0:
            raise ValueError(f"speed: got {speed!r}, expected a speed-up over real time above 0")
        self.start = start
        self.speed = speed
        self._monotonic = monotonic
        self._wall_start = monotonic()

    def now(self) -> float:
        return self.start + (self._monotonic() - self._wall_start) * self.speed

    def set_speed(self, speed: float) -> None:
        """From now on advance ``speed`` seconds per real second; event time reached so far is kept."""
        if not speed > 0:
            raise ValueError(f"speed: got {speed!r}, expected a speed-up over real time above 0")
        wall = self._monotonic()
        self.start += (wall - self._wall_start) * self.speed
        self._wall_start = wall
        self.speed = speed

    def wall_delay(self, t: float) -> float:
        """Real seconds until event time ``t`` (0 when it has passed)."""
        return max((t - self.now()) / self.speed, 0.0)

    def sleep_until(self, t: float) -> None:
        delay = self.wall_delay(t)
        if delay > 0:
            time.sleep(delay)
