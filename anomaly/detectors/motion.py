"""Movement that its driver did not make: the vehicle moves while its ignition is off (towed or lifted away)."""

from __future__ import annotations

import msgspec

from anomaly.findings import Finding, kmh, track
from anomaly.incidents import Incident
from anomaly.observation import Observation
from telematics.geo import haversine_m


class TowingState(msgspec.Struct, kw_only=True):
    incident: Incident = msgspec.field(default_factory=Incident)
    anchor_lat: float | None = None
    anchor_lon: float | None = None
    """Where the vehicle was when its ignition went off."""


class Towing:
    """Speed over ground, or a displacement from where it was parked, while the ignition is off."""

    name = "towing"
    state_type = TowingState
    hold_ms = 15_000
    clear_ms = 5 * 60_000
    min_speed_kmh = 8.0
    min_displacement_m = 200.0

    def observe(self, obs: Observation, state: TowingState) -> list[Finding]:
        record = obs.record
        if record.ignition is not False:
            if record.ignition is True:
                state.anchor_lat = state.anchor_lon = None
            condition = False
            displacement = None
        else:
            if state.anchor_lat is None and record.has_position:
                state.anchor_lat, state.anchor_lon = record.lat, record.lon
            displacement = (
                haversine_m(state.anchor_lat, state.anchor_lon, record.lat, record.lon)  # type: ignore[arg-type]
                if state.anchor_lat is not None and record.has_position
                else None
            )
            speed = obs.speed_kmh
            condition = (speed is not None and speed >= self.min_speed_kmh) or (
                displacement is not None and displacement >= self.min_displacement_m
            )
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
