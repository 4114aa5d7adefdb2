"""Clocks for the truck simulator: simulated (deterministic, as fast as possible) or real time (demo)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

DEFAULT_START = 1795507200.0
"""2026-11-24T08:00:00Z, the default start of a simulated drive."""


class Clock(Protocol):
    """Epoch seconds now, and a way to wait until a later moment."""

    def now(self) -> float: ...

    def sleep_until(self, t: float) -> None: ...


@dataclass(slots=True)
class SimulatedClock:
    """Time that moves only when the simulator says so: sleeping jumps straight to the wake-up time."""

    start: float = DEFAULT_START
    _now: float | None = None

    def now(self) -> float:
        return self.start if self._now is None else self._now

    def sleep_until(self, t: float) -> None:
        if t > self.now():
            self._now = t


class RealClock:
    """Wall-clock time, for the live demo."""

    def now(self) -> float:
        return time.time()

    def sleep_until(self, t: float) -> None:
        delay = t - time.time()
        if delay > 0:
            time.sleep(delay)
