"""Movement that its driver did not make: the vehicle moves while its ignition is off (towed or lifted away)."""

from __future__ import annotations

from typing import ClassVar

from anomaly.detectors.states import TowingState
from anomaly.findings import Detector, Finding, kmh, track, under_way
from anomaly.observation import Observation
from telematics.geo import haversine_m
from telematics.records import TelemetryRecord


class Towing(Detector):
    """Speed over ground, or a displacement from where it was parked, while the ignition is off."""

    name = "towing"
    state_type = TowingState
    hold_ms = 15_000
    clear_ms = 5 * 60_000
    min_speed_kmh: ClassVar[float] = 8.0
    min_displacement_m: ClassVar[float] = 200.0

    @classmethod
    def moved(cls, speed_kmh: float | None, displacement_m: float | None) -> bool:
        """Moving, or moved away from where it was parked, with the ignition off."""
        return (speed_kmh is not None and speed_kmh >= cls.min_speed_kmh) or (
            displacement_m is not None and displacement_m >= cls.min_displacement_m
        )

    def quiet(self, obs: Observation, state: TowingState) -> bool:
        if under_way(state.incident):
            return False
        ignition = obs.record.ignition
        if ignition is True:
            state.anchor_lat = state.anchor_lon = None
            return True
        return ignition is not False or not self.moved(obs.speed_kmh, follow_parked(state, obs.record))

    def observe(self, obs: Observation, state: TowingState) -> list[Finding]:
        record = obs.record
        if record.ignition is not False:
            if record.ignition is True:
                state.anchor_lat = state.anchor_lon = None
            condition = False
            displacement = None
        else:
            displacement = follow_parked(state, record)
            condition = self.moved(obs.speed_kmh, displacement)
        finding = track(
            self.name,
            state.incident,
            condition,
            obs.ts_ms,
            hold_ms=self.hold_ms,
            clear_ms=self.clear_ms,
            severity=lambda: "critical",
            score=lambda: 0.9,
            evidence=lambda: {
                "ignition": False,
                "speed_kmh": kmh(obs.speed_kmh),
                "moved_m": None if displacement is None else round(displacement),
                "summary": "moving with the ignition off",
            },
        )
        return [finding] if finding else []


def follow_parked(state: TowingState, record: TelemetryRecord) -> float | None:
    """With the ignition off: anchor where the vehicle stands, and say how far it is from there (None: unknown)."""
    if state.anchor_lat is None and record.has_position:
        state.anchor_lat, state.anchor_lon = record.lat, record.lon
    if state.anchor_lat is None or not record.has_position:
        return None
    return haversine_m(state.anchor_lat, state.anchor_lon, record.lat, record.lon)  # type: ignore[arg-type]
