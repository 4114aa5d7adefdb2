"""The vehicle's own alarms and its telematics unit's health: panic button, external power, GNSS jamming flag."""

from __future__ import annotations

from typing import Final

from anomaly.detectors.states import JammingState, OfflineState, PanicState, PowerState
from anomaly.findings import Detector, Finding, kmh, track, under_way
from anomaly.incidents import Change
from anomaly.observation import Observation
from anomaly.vehicle_state import MotionState
from telematics.timeutil import format_ms


class Panic(Detector):
    """The driver pressed the panic button: always critical, at once."""

    name = "panic"
    state_type = PanicState
    clear_ms = 10 * 60_000

    def quiet(self, obs: Observation, state: PanicState) -> bool:
        return obs.record.panic is not True and not under_way(state.incident)

    def observe(self, obs: Observation, state: PanicState) -> list[Finding]:
        finding = track(
            self.name,
            state.incident,
            obs.record.panic is True,
            obs.ts_ms,
            hold_ms=0,
            clear_ms=self.clear_ms,
            severity=lambda: "critical",
            score=lambda: 1.0,
            evidence=lambda: {"speed_kmh": kmh(obs.speed_kmh), "summary": "panic button pressed"},
        )
        return [finding] if finding else []


class PowerCut(Detector):
    """External supply drops to near 0 V after the unit was powered: cut, or the unit torn out."""

    name = "power_cut"
    state_type = PowerState
    cut_below_v: Final = 2.0
    supplied_from_v: Final = 6.0
    clear_ms = 2 * 60_000

    def quiet(self, obs: Observation, state: PowerState) -> bool:
        volts = obs.record.ext_power_v
        if volts is None:
            return True
        if volts < self.cut_below_v or under_way(state.incident):
            return False
        if volts >= self.supplied_from_v:
            state.last_supplied_v = volts
        return True

    def observe(self, obs: Observation, state: PowerState) -> list[Finding]:
        volts = obs.record.ext_power_v
        if volts is None:
            return []
        was_supplied = state.last_supplied_v
        cut = volts < self.cut_below_v and (was_supplied is not None or state.incident.is_open)
        if volts >= self.supplied_from_v:
            state.last_supplied_v = volts
        # Disconnecting the battery in the yard with the engine off is maintenance, not a cut to hide a theft.
        maintenance = obs.record.ignition is False and not obs.moving and obs.site is not None
        finding = track(
            self.name,
            state.incident,
            cut,
            obs.ts_ms,
            hold_ms=0,
            clear_ms=self.clear_ms,
            severity=lambda: "warning" if maintenance else "critical",
            score=lambda: 0.5 if maintenance else 0.85,
            evidence=lambda: {
                "ext_power_v": volts,
                "previous_v": was_supplied,
                "speed_kmh": kmh(obs.speed_kmh),
                "summary": f"external power fell to {volts:g} V, running on the backup battery",
            },
        )
        return [finding] if finding else []


class GnssJamming(Detector):
    """The unit's own jamming flag, or GNSS lost while the wheels turn for longer and further than a tunnel explains."""

    name = "gnss_jamming"
    state_type = JammingState
    clear_ms = 5 * 60_000
    critical_after_ms = 60_000
    tunnel_ms = 150_000
    """GNSS lost this long while driving ..."""
    tunnel_m = 2_000.0
    """... and this far by the wheels: longer than the tunnels vehicles normally drive through."""
    critical_loss_ms = 12 * 60_000
    """Lost beyond a tunnel for this long: critical. However long a loss lasts, it is no sign on its own while the
    wheels have covered less than a tunnel's length: a jam in a tunnel or an underground road crawls for many
    minutes without a fix (a 2 km tunnel at walking pace takes 25 minutes)."""
    wheel_kmh: Final = 5.0
    odometer_gap_ms: Final = 5 * 60_000
    """Two odometer readings this close tell how far the wheels went between them, for a unit that reports no wheel
    speed (a tracker's event records carry the vehicle's odometer). An odometer that counts from GNSS does not move
    without a fix, so it never raises this; one that does move while the fix is gone is the vehicle's own."""
    odometer_max_kmh: Final = 160.0
    """Faster than a truck or van drives: a reset or a jump of the reading, not distance."""
    stood_fixes: Final = 3
    """A vehicle that stood this many records with a fix was in the open: a receiver does not lose its fix there."""
    ignition_without_fix_ms: Final = 10 * 60_000
    """Lost standing in the open, then this long with the ignition on and still no fix: a jammer (a cigarette-lighter
    GPS blocker defeats a tracker within metres) or a cut antenna, when no wheel speed tells whether it drives. A
    receiver's cold start takes under a minute (a warm one seconds); ten minutes is a warm-up and more."""
    parked_ignition_without_fix_ms: Final = 5 * 60_000
    """When the fix was lost while the vehicle stayed parked, a hall or an underground bay cannot explain it (the
    vehicle did not move into one): five minutes, five cold starts, with the ignition on and no fix is enough."""
    parked_loss_gap_ms: Final = 5 * 60_000
    """A unit reports an ignition change as it happens (an event record), so a vehicle parked at its last fix and
    parked again at a record this soon after has not driven anywhere between them."""

    def quiet(self, obs: Observation, state: JammingState) -> bool:
        record = obs.record
        if record.gnss_jamming is True or under_way(state.incident):
            return False
        if not record.has_position:
            wheel = self._wheels_kmh(obs, state)
            if (wheel is not None and wheel >= self.wheel_kmh) or (
                state.lost_since_ms is not None and record.ignition is not False
            ):
                return False
            if state.stood_fixes >= self.stood_fixes or state.lost_standing_since_ms is not None:
                return False  # a loss in the open begins or goes on
        _note_open_sky(obs, state)
        _note_odometer(obs, state)
        state.flag_since_ms = state.lost_since_ms = state.lost_last_ms = state.lost_last_wheel_kmh = None
        state.lost_wheel_m = 0.0
        return True

    def _wheels_kmh(self, obs: Observation, state: JammingState) -> float | None:
        """The wheel speed the record reports, else the odometer's progress since the last reading, as a mean."""
        record = obs.record
        if record.wheel_speed_kmh is not None:
            return record.wheel_speed_kmh
        reading, last, last_ms = record.odometer_km, state.odometer_km, state.odometer_ms
        if reading is None or last is None or last_ms is None:
            return None
        gap_ms = obs.ts_ms - last_ms
        if gap_ms <= 0 or gap_ms > self.odometer_gap_ms or reading < last:
            return None
        mean_kmh = (reading - last) / (gap_ms / 3_600_000)
        return mean_kmh if mean_kmh <= self.odometer_max_kmh else None

    def observe(self, obs: Observation, state: JammingState) -> list[Finding]:
        record = obs.record
        incident = state.incident
        _note_open_sky(obs, state)
        flagged = record.gnss_jamming is True
        wheel = self._wheels_kmh(obs, state)
        from_odometer = record.wheel_speed_kmh is None and wheel is not None
        previous_odometer_ms = state.odometer_ms
        _note_odometer(obs, state)
        lost_driving = not record.has_position and wheel is not None and wheel >= self.wheel_kmh
        since_ignition = state.ignition_without_fix_ms
        needed_ms = self.parked_ignition_without_fix_ms if state.lost_parked else self.ignition_without_fix_ms
        lost_standing = since_ignition is not None and obs.ts_ms - since_ignition >= needed_ms
        # A stop at a red light without a fix does not end the loss (a sparse unit may report only that
        # stop): only a fix, or a parked vehicle (ignition off), does.
        loss_goes_on = state.lost_since_ms is not None and not record.has_position and record.ignition is not False
        if (
            not flagged and not lost_driving and not loss_goes_on and not lost_standing
            and incident.onset_ms is None and not incident.is_open
        ):
            state.flag_since_ms = state.lost_since_ms = state.lost_last_ms = None
            state.lost_wheel_m = 0.0
            state.lost_last_wheel_kmh = None
            return []
        ts = obs.ts_ms
        state.flag_since_ms = (state.flag_since_ms if state.flag_since_ms is not None else ts) if flagged else None
        if not record.has_position and (lost_driving or loss_goes_on):
            if state.lost_since_ms is None:
                state.lost_since_ms, state.lost_wheel_m = ts, 0.0
            elif from_odometer and wheel is not None and previous_odometer_ms is not None:
                # The odometer's progress is the distance itself, however long the gap.
                state.lost_wheel_m += wheel / 3.6 * (ts - previous_odometer_ms) / 1000
            elif state.lost_last_ms is not None and wheel is not None:
                # The mean of the two samples: a sparse unit's sample at a light says little about the minute before.
                previous = state.lost_last_wheel_kmh if state.lost_last_wheel_kmh is not None else wheel
                state.lost_wheel_m += (wheel + previous) / 2 / 3.6 * min(ts - state.lost_last_ms, 60_000) / 1000
            state.lost_last_ms = ts
            if wheel is not None:
                state.lost_last_wheel_kmh = wheel
        elif record.has_position or record.ignition is False:
            state.lost_since_ms = state.lost_last_ms = None
            state.lost_wheel_m = 0.0
            state.lost_last_wheel_kmh = None
        lost_ms = ts - state.lost_since_ms if state.lost_since_ms is not None else 0
        lost_m = state.lost_wheel_m
        beyond_tunnel = lost_driving and lost_ms >= self.tunnel_ms and lost_m >= self.tunnel_m
        flag_ms = ts - state.flag_since_ms if state.flag_since_ms is not None else 0
        lasted = max(flag_ms, lost_ms)
        source = "device_flag" if flagged else "gnss_lost_while_moving" if beyond_tunnel else "gnss_lost_standing"
        if lost_standing and not flagged and not beyond_tunnel:
            lasted = obs.ts_ms - (state.lost_standing_since_ms or obs.ts_ms)
        finding = track(
            self.name,
            incident,
            flagged or beyond_tunnel or lost_standing,
            ts,
            hold_ms=0,
            clear_ms=self.clear_ms,
            severity=lambda: "critical"
            if (flagged and obs.moving and flag_ms >= self.critical_after_ms) or lost_ms >= self.critical_loss_ms
            or (flagged and beyond_tunnel) else "warning",
            score=lambda: 0.9 if obs.moving else 0.6,
            evidence=lambda: {
                "source": source,
                "gnss_fix": record.gnss_fix,
                "lasted_s": round(lasted / 1000),
                "driven_without_fix_m": round(lost_m),
                "speed_kmh": kmh(obs.speed_kmh),
                "summary": "the unit reports GNSS jamming" if flagged
                else f"no GNSS fix for {round(lost_ms / 1000)} s while the wheels covered {lost_m / 1000:.1f} km"
                if beyond_tunnel
                else f"GNSS fix lost while standing in the open, then no fix for {round(lasted / 60_000)} min "
                "with the ignition on",
            },
        )
        # A loss opens at the moment the fix was lost, not when it had lasted long enough to say so.
        began = None if flagged else state.lost_since_ms if beyond_tunnel else state.lost_standing_since_ms
        if finding is not None and finding.change.name == "OPENED" and began is not None:
            finding = Finding(finding.kind, finding.change, finding.severity, began, finding.score,
                              None, finding.evidence, finding.revision)
            incident.onset_ms = began
        return [finding] if finding else []


def _note_odometer(obs: Observation, state: JammingState) -> None:
    reading = obs.record.odometer_km
    if reading is not None:
        state.odometer_km, state.odometer_ms = reading, obs.ts_ms


def _note_open_sky(obs: Observation, state: JammingState) -> None:
    """Track a fix lost while the vehicle stood in the open, and the ignition on without a fix since (both quiet and
    observe keep this, so the fast path and the full one agree)."""
    record = obs.record
    if record.has_position:
        # Ignition off, the vehicle stands, whatever the track between two scattered fixes says (a unit that reports
        # no speed of its own gets one from fixes that wander tens of metres in seconds).
        parked = record.ignition is False
        still = parked or not obs.moving
        state.stood_fixes = min(state.stood_fixes + 1, GnssJamming.stood_fixes) if still else 0
        state.stood_parked = parked
        state.lost_standing_since_ms = state.ignition_without_fix_ms = None
        state.lost_parked = False
        return
    if state.lost_standing_since_ms is None and state.stood_fixes >= GnssJamming.stood_fixes:
        motion = obs.motion_state
        # At a stop or a site the vehicle may have driven into a hall or an underground bay since its last fix: no
        # conclusion there, unless it stayed parked (ignition off at its last fix and now, a moment later): then
        # the sky above it has not changed, and neither would its fix.
        parked_through = (
            state.stood_parked and record.ignition is False and motion.fix_ts_ms is not None
            and record.ts_ms - motion.fix_ts_ms <= GnssJamming.parked_loss_gap_ms
        )
        if (
            motion.fix_lat is None or motion.fix_lon is None or parked_through
            or not obs.known_place_at(motion.fix_lat, motion.fix_lon)
        ):
            state.lost_standing_since_ms = record.ts_ms
            state.lost_parked = parked_through
    state.stood_fixes = 0
    if state.lost_standing_since_ms is None or record.ignition is False:
        state.ignition_without_fix_ms = None
    elif record.ignition is True and state.ignition_without_fix_ms is None:
        state.ignition_without_fix_ms = record.ts_ms


MIN_SILENCE_MS: Final = 5 * 60_000
"""No silence shorter than this is reported, however often the vehicle usually reports: mobile-network dead spots,
tunnels and underground loading bays silence a moving vehicle's unit for minutes on ordinary days."""


class TelematicsOffline(Detector):
    """A moving vehicle silent for longer than its own usual reporting gap explains.

    Raised either by the engine's watermark (``silence`` with the watermark) or by the vehicle's next record
    (``silence`` with that record's time) — whichever comes first — from the vehicle's own last record, so the
    alert is the same bytes either way. It opens as info: on real fleets a silence is nearly always a dead spot, a
    store-and-forward gap that fills later, an event-driven or heartbeat unit, or a bus whose AVL feed drops it out
    of service. It becomes a warning only for a steady unit (one that reports at least every ``steady_gap_ms``
    while moving) silent for ``long_silence_ms`` after a record at cruising speed: such a vehicle does not park
    between two of its records. A unit seen falling silent while its vehicle stands is only asked about when its
    last record was at cruising speed.
    """

    name = "telematics_offline"
    state_type = OfflineState
    min_silence_ms = MIN_SILENCE_MS
    silence_floor_ms = MIN_SILENCE_MS
    """The engine need not ask about a shorter silence (see ``DetectionEngine._silence``)."""
    gap_factor = 6.0
    default_gap_ms = 30_000.0
    """Assumed reporting gap while the vehicle's own is still unknown."""
    long_silence_ms = 20 * 60_000
    """Silent this long, a steady unit is no longer in a dead spot or a tunnel: a warning."""
    steady_gap_ms = 30_000.0
    """A unit that reports at least this often while moving (Teltonika's 10 s default, fleet units of 1-30 s) gives a
    record before any stop; sparser units (trackers, event-driven, AVL feeds) fall silent for ordinary reasons."""
    moving_kmh = 10.0
    """Slower than this at its last record, the vehicle may have been stopping: silence at a standstill is normal."""
    cruising_kmh = 30.0

    def threshold_ms(self, motion: MotionState) -> int:
        usual = motion.usual_gap_ms
        if motion.moving_gaps < 3 or usual is None:
            usual = self.default_gap_ms
        return max(self.min_silence_ms, round(self.gap_factor * usual / 1000) * 1000)

    def silence(self, motion: MotionState, state: OfflineState, until_ms: int) -> list[Finding]:
        last = motion.last_ts_ms
        if last is None or not motion.last_moving:
            return []
        speed = motion.last_speed_kmh or 0.0
        if speed < (self.cruising_kmh if motion.silent_standstills else self.moving_kmh):
            return []
        threshold = self.threshold_ms(motion)
        long_ms = max(self.long_silence_ms, 2 * threshold)
        usual = motion.usual_gap_ms
        # A phone app that records trips stops between two fixes at speed when its user ends the trip: only a
        # fleet unit's own speed says the vehicle was cruising.
        steady = (
            motion.moving_gaps >= 10 and usual is not None and usual <= self.steady_gap_ms
            and speed >= self.cruising_kmh and motion.last_speed_reported
        )
        findings: list[Finding] = []
        incident = state.incident
        if state.reported_for_ms != last:
            if until_ms - last <= threshold:
                return []
            state.reported_for_ms = last
            incident.is_open, incident.onset_ms, incident.last_true_ms = True, last, last
            incident.severity, incident.revision = "info", 0
            findings.append(self._finding(motion, Change.OPENED, "info", 0.5, last, threshold))
        if steady and state.escalated_for_ms != last and incident.is_open and until_ms - last > long_ms:
            state.escalated_for_ms = last
            incident.severity, incident.revision = "warning", 1
            findings.append(self._finding(motion, Change.ESCALATED, "warning", 0.7, last, long_ms))
        return findings

    def _finding(
        self, motion: MotionState, change: Change, severity: str, score: float, last: int, silent_ms: int
    ) -> Finding:
        usual = motion.usual_gap_ms
        rate = "its reporting rate not yet learned" if usual is None else f"usually reports every {usual / 1000:.1f} s"
        return Finding(
            self.name, change, severity, last, score, None,
            {
                "last_record_ts": format_ms(last),
                "silent_for_s": silent_ms // 1000,
                "usual_gap_s": None if usual is None else round(usual / 1000, 1),
                "speed_kmh": kmh(motion.last_speed_kmh),
                "summary": f"moving at {kmh(motion.last_speed_kmh)} km/h, then silent for more than "
                f"{silent_ms // 1000} s ({rate})",
            },
            0 if change is Change.OPENED else 1,
            at_ms=last + silent_ms,
        )

    def quiet(self, obs: Observation, state: OfflineState) -> bool:
        return not state.incident.is_open

    def observe(self, obs: Observation, state: OfflineState) -> list[Finding]:
        incident = state.incident
        if not incident.is_open:
            return []
        # The vehicle is heard again: the incident closes (fusion remembers it for a while).
        onset = incident.onset_ms
        assert onset is not None
        incident.is_open, incident.onset_ms, incident.last_true_ms = False, None, None
        incident.severity, incident.revision = "info", -1
        return [Finding(self.name, Change.CLOSED, "info", onset, 0.0, None, {}, -1)]
