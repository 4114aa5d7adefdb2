"""Movement that its driver did not make: the vehicle moves while its ignition is off (towed or lifted away)."""

from __future__ import annotations

from typing import ClassVar, Final

from anomaly.detectors.states import TowingState
from anomaly.findings import Detector, Finding, kmh, track, under_way
from anomaly.observation import Observation
from telematics.geo import haversine_m


class Towing(Detector):
    """Speed over ground, or a displacement from where it was parked, while the ignition is off."""

    name = "towing"
    state_type = TowingState
    hold_ms = 15_000
    clear_ms = 5 * 60_000
    min_speed_kmh: ClassVar[float] = 8.0
    min_displacement_m: ClassVar[float] = 200.0
    """Farther than a parked vehicle's fixes drift (tens of metres, in a garage or between tall buildings)."""
    agreeing_fixes: ClassVar[int] = 2
    """A GNSS spike puts one fix hundreds of metres off; a vehicle really moved stays away."""
    track_moving_fixes: ClassVar[int] = 3
    """Fixes in a row whose speed along the track says moving, for a unit that reports no speed of its own."""
    drift_kmh: ClassVar[float] = 3.0
    """A standing receiver's Doppler speed stays below this, however far its position wanders."""

    @classmethod
    def moved(cls, speed_kmh: float | None, displacement_m: float | None, away_fixes: int = 2) -> bool:
        """Moving, or moved away from where it was parked (on more than one fix), with the ignition off."""
        return (speed_kmh is not None and speed_kmh >= cls.min_speed_kmh) or (
            displacement_m is not None and displacement_m >= cls.min_displacement_m
            and away_fixes >= cls.agreeing_fixes
        )

    def quiet(self, obs: Observation, state: TowingState) -> bool:
        # Every record with the ignition off is looked at (heartbeats of parked vehicles: few); with it on, the
        # parked-vehicle bookkeeping is reset here.
        if under_way(state.incident) or obs.record.ignition is False:
            return False
        if obs.record.ignition is True:
            _unpark(state)
        return True

    def observe(self, obs: Observation, state: TowingState) -> list[Finding]:
        record = obs.record
        if record.ignition is not False:
            if record.ignition is True:
                _unpark(state)
            condition = False
            displacement = None
        else:
            displacement = follow_parked(state, obs)
            if displacement is not None and displacement < self.min_displacement_m:
                state.away_fixes = 0
            elif displacement is not None and (
                obs.reported_speed_kmh is None or obs.reported_speed_kmh >= self.drift_kmh
            ):
                state.away_fixes += 1
            # Far from the anchor while the receiver's own speed says standing: a bad fix (now or at the anchor).
            # Towing is judged on the device's own speed; a speed along the track (a unit that reports none)
            # only on several fixes in a row: a GNSS spike gives two (out and back), a tow keeps going.
            track_speed = obs.speed_kmh if obs.reported_speed_kmh is None else None
            if track_speed is not None and track_speed >= self.min_speed_kmh:
                state.track_moving_fixes += 1
            elif record.has_position:
                state.track_moving_fixes = 0
            condition = self.moved(obs.reported_speed_kmh, displacement, state.away_fixes) or (
                state.track_moving_fixes >= self.track_moving_fixes
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


ANCHOR_AGREES_M: Final = 50.0
"""Two fixes of a standing vehicle this close agree (drift is tens of metres)."""


def _unpark(state: TowingState) -> None:
    """The ignition is on: the vehicle is no longer parked where it was."""
    state.anchor_lat = state.anchor_lon = None
    state.anchor_fixes = state.away_fixes = state.track_moving_fixes = 0


def follow_parked(state: TowingState, obs: Observation) -> float | None:
    """With the ignition off: anchor where the vehicle stands, and say how far it is from there (None: unknown).

    The anchor counts once a second fix agrees with it (the previous fix, where the vehicle parked, or the next
    one): a first fix that was a spike would make every later fix look hundreds of metres away, so until then a
    fix that disagrees becomes the anchor instead.
    """
    record = obs.record
    if not record.has_position:
        return None
    lat, lon = record.lat, record.lon
    if state.anchor_lat is None or state.anchor_lon is None:
        before = obs.motion_state
        agrees = before.fix_lat is not None and before.fix_lon is not None and haversine_m(
            before.fix_lat, before.fix_lon, lat, lon  # type: ignore[arg-type]
        ) <= ANCHOR_AGREES_M
        state.anchor_lat, state.anchor_lon, state.anchor_fixes = lat, lon, 2 if agrees else 1
        return None
    distance = haversine_m(state.anchor_lat, state.anchor_lon, lat, lon)  # type: ignore[arg-type]
    if state.anchor_fixes < 2:
        if distance <= ANCHOR_AGREES_M:
            state.anchor_fixes += 1
        else:
            state.anchor_lat, state.anchor_lon, state.anchor_fixes = lat, lon, 1
        return None
    return distance

