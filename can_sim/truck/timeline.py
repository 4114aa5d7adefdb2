"""Scenario timelines: the VehicleState at any moment of a drive, as steps or as driven keyframes."""

from __future__ import annotations

import bisect
import dataclasses
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from can_sim.truck.motion import advance
from can_sim.truck.state import VehicleState
from telematics.errors import BadInput

_FIELDS = {field.name for field in dataclasses.fields(VehicleState)}


class TimelineError(BadInput):
    """A timeline's keyframes are out of order or change a field VehicleState does not have."""


class Timeline(Protocol):
    """The truck's state ``t_s`` seconds after the start of the run."""

    def state_at(self, t_s: float) -> VehicleState: ...


def _check_times(times: Sequence[float], what: str) -> None:
    for index, (earlier, later) in enumerate(itertools.pairwise(times), start=1):
        if later < earlier:
            raise TimelineError(f"{what}[{index}]: time {later} comes before {earlier}, expected ascending times")


class StepTimeline:
    """A state that holds from its start time until the next one (nothing moves by itself)."""

    def __init__(self, steps: Sequence[tuple[float, VehicleState]]) -> None:
        if not steps:
            raise TimelineError("steps: got none, expected at least one (t_s, VehicleState)")
        self._times = [t for t, _ in steps]
        _check_times(self._times, "steps")
        self._states = [state for _, state in steps]

    def state_at(self, t_s: float) -> VehicleState:
        index = max(bisect.bisect_right(self._times, t_s) - 1, 0)
        return self._states[index]


class DrivenTimeline:
    """An initial state plus timed changes; between changes the truck drives on (position, odometer, fuel).

    Queries must come in ascending time, as the simulator makes them; an earlier query replays from the start.
    """

    def __init__(self, initial: VehicleState, changes: Sequence[tuple[float, Mapping[str, Any]]] = ()) -> None:
        self._initial = initial
        self._times = [t for t, _ in changes]
        _check_times(self._times, "changes")
        for index, (_, change) in enumerate(changes):
            unknown = sorted(set(change) - _FIELDS)
            if unknown:
                raise TimelineError(f"changes[{index}].{unknown[0]}: no such VehicleState field")
        self._changes = [dict(change) for _, change in changes]
        self._reset()

    def _reset(self) -> None:
        self._t = 0.0
        self._state = dataclasses.replace(self._initial)
        self._next = 0

    def state_at(self, t_s: float) -> VehicleState:
        if t_s < self._t:
            self._reset()
        while self._next < len(self._times) and self._times[self._next] <= t_s:
            change_t = self._times[self._next]
            self._state = dataclasses.replace(advance(self._state, change_t - self._t), **self._changes[self._next])
            self._t = change_t
            self._next += 1
        self._state = advance(self._state, t_s - self._t)
        self._t = t_s
        return self._state


class FunctionTimeline:
    """Wraps a plain function of time."""

    def __init__(self, function: Callable[[float], VehicleState]) -> None:
        self._function = function

    def state_at(self, t_s: float) -> VehicleState:
        return self._function(t_s)


def as_timeline(source: Timeline | Callable[[float], VehicleState] | Sequence[tuple[float, VehicleState]]) -> Timeline:
    """Accept a Timeline, a function of time, or a list of (t_s, VehicleState) steps."""
    if hasattr(source, "state_at"):
        return source  # type: ignore[return-value]
    if callable(source):
        return FunctionTimeline(source)
    return StepTimeline(source)
