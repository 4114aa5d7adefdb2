"""One scenario vehicle's physical truth as a truck Timeline, rebuilt from its telemetry records in event time."""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from can_sim.truck.state import VehicleState
from telematics.errors import BadInput
from telematics.validation import parse_timestamp

INTERPOLATE_MAX_S = 120.0
"""Between records further apart than this the state is held, not interpolated: such a gap is a parked
heartbeat or an outage, and a straight line across it would invent a route."""
_HELD = ("ignition", "parking_brake", "cab_door_open", "cargo_door_open", "trailer_connected", "panic",
         "ext_power_v", "fuel_level_pct", "odometer_km", "heading_deg")


class ScenarioTimelineError(BadInput):
    """The records cannot make a timeline (none at all, or one without a readable ts)."""


@dataclass(frozen=True, slots=True)
class _Point:
    t: float
    state: VehicleState
    """What the record says, with every field it leaves out carried over from earlier records."""
    located: bool
    """The record itself has a position (so a position may be interpolated from it)."""
    jamming: bool | None


def _angle_between(a: float, b: float, f: float) -> float:
    return (a + ((b - a + 180.0) % 360.0 - 180.0) * f) % 360.0


def _lerp(a: float | None, b: float | None, f: float) -> float | None:
    return a if a is None or b is None else a + (b - a) * f


class ScenarioTimeline:
    """The truck's state ``t_s`` seconds after ``origin`` (epoch seconds), as the scenario's records describe it.

    Records are taken in event order (ts, then seq; a repeated seq counts once). Switches (ignition, doors,
    card, trailer, panic, brake) and supply voltage hold from the record that reports them; position, speed,
    heading, engine speed, odometer and fuel move linearly between neighbouring records up to
    ``INTERPOLATE_MAX_S`` apart. A field a record leaves out keeps its earlier value (absent is not false).
    The device's own GNSS jamming flag is not a CAN signal, so it is kept aside (``jamming_at``).
    """

    def __init__(self, records: Iterable[Mapping[str, Any]], origin: float) -> None:
        ordered: dict[tuple[int, Any], Mapping[str, Any]] = {}
        seen_seq: set[Any] = set()
        for index, record in enumerate(records):
            try:
                ts_ms = parse_timestamp(record.get("ts"))
            except ValueError as exc:
                raise ScenarioTimelineError(f"records[{index}].ts: {exc}") from None
            seq = record.get("seq")
            if seq is not None:
                if seq in seen_seq:
                    continue  # a duplicate delivery: the vehicle sent it once
                seen_seq.add(seq)
            ordered[(ts_ms, index if seq is None else seq)] = record
        if not ordered:
            raise ScenarioTimelineError("records: got none, expected at least one telemetry record")
        self.origin = origin
        self.reported: frozenset[str] = frozenset(k for r in ordered.values() for k in r)
        """Every field this vehicle's device reports at least once."""
        self._points: list[_Point] = []
        state, jamming = VehicleState(), None
        for (ts_ms, _), record in sorted(ordered.items(), key=lambda item: item[0]):
            state, located = _apply(state, record)
            jamming = record.get("gnss_jamming", jamming)
            self._points.append(_Point(ts_ms / 1000.0 - origin, state, located, jamming))
        self._times = [p.t for p in self._points]
        self.first_t, self.last_t = self._times[0], self._times[-1]
        self._cached: tuple[float, VehicleState] | None = None

    def _index(self, t_s: float) -> int:
        return max(bisect.bisect_right(self._times, t_s) - 1, 0)

    def state_at(self, t_s: float) -> VehicleState:
        if self._cached is not None and self._cached[0] == t_s:
            return self._cached[1]
        index = self._index(t_s)
        here = self._points[index]
        state = here.state
        if index + 1 < len(self._points) and here.t <= t_s:
            there = self._points[index + 1]
            span = there.t - here.t
            if 0 < span <= INTERPOLATE_MAX_S:
                state = _between(here, there, (t_s - here.t) / span)
        self._cached = (t_s, state)
        return state

    def jamming_at(self, t_s: float) -> bool | None:
        """The device's jamming detector at ``t_s`` (None when this device has none)."""
        return self._points[self._index(t_s)].jamming


def _apply(state: VehicleState, record: Mapping[str, Any]) -> tuple[VehicleState, bool]:
    """The state after one record; True when the record has a position."""
    change: dict[str, Any] = {name: record[name] for name in _HELD if record.get(name) is not None}
    lat, lon = record.get("lat"), record.get("lon")
    located = lat is not None and lon is not None
    if located:
        change.update(lat=lat, lon=lon)
    change["gnss_fix"] = bool(record.get("gnss_fix", True)) and located
    speed = record.get("wheel_speed_kmh", record.get("gnss_speed_kmh"))
    if speed is not None:
        change["speed_kmh"] = speed
    change["engine_rpm"] = record.get("engine_rpm")  # absent: the drivetrain model (0 with the engine off)
    if "driver_card_id" in record:
        change["driver_card_id"] = record["driver_card_id"]
    return dataclasses.replace(state, **change), located


def _between(here: _Point, there: _Point, f: float) -> VehicleState:
    a, b = here.state, there.state
    change: dict[str, Any] = {
        "speed_kmh": a.speed_kmh + (b.speed_kmh - a.speed_kmh) * f,
        "heading_deg": _angle_between(a.heading_deg, b.heading_deg, f),
        "odometer_km": a.odometer_km + (b.odometer_km - a.odometer_km) * f,
        "fuel_level_pct": a.fuel_level_pct + (b.fuel_level_pct - a.fuel_level_pct) * f,
        "engine_rpm": _lerp(a.engine_rpm, b.engine_rpm, f),
    }
    if here.located and there.located:
        change.update(lat=_lerp(a.lat, b.lat, f), lon=_lerp(a.lon, b.lon, f))
    return dataclasses.replace(a, **change)
