"""Remote stop on the simulated truck's bus: the gateway's gradual TSC1 ramp, and the ECUs that honour it."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import can

from can_sim.truck.motion import advance
from can_sim.truck.state import IDLE_RPM, MAX_MODEL_RPM, RPM_PER_KMH, VehicleState
from can_sim.truck.timeline import Timeline
from can_sim.truck.zone_guard import GuardLimit, ZoneGuard, fix_from_fields
from telematics.commands import Command
from telematics.errors import BadInput
from telematics.j1939 import decode_frame, encode_frame, parse_can_id

log = logging.getLogger(__name__)

GATEWAY_SA = 0x33
"""Source address of the telematics gateway: our choice, beside the power, coupling and panic nodes (0x30-0x32)."""
ENGINE_SA = 0x00
TSC1_PGN = 0
TSC1_MODE_SPEED_TORQUE_LIMIT = 3
TSC1_PURPOSE_ROAD_SPEED_GOVERNOR = 3
"""J1939 TSC1 control purpose P4 (raw 3), 'road speed governor': the closest standard purpose to a derate."""
TSC1_PERIOD_S = 0.01
TSC1_TIMEOUT_S = 0.3
"""The engine drops an override it has not heard for this long (J1939 engines time TSC1 out similarly)."""
RAMP_KMH_PER_S = 5.0
"""5 km/h per second is 1.39 m/s²: well under the 2.5 m/s² passengers still find comfortable."""
START_HEADROOM_KMH = 2.0
UNKNOWN_SPEED_START_KMH = (MAX_MODEL_RPM - IDLE_RPM) / RPM_PER_KMH
STANDSTILL_KMH = 0.5
GNSS_STANDSTILL_KMH = 2.0
"""Ground speed from the gateway's GNSS receiver at or below which a switched-off vehicle stands: a standing
receiver's Doppler speed reads 0-1 km/h of noise, and nothing rolls slower under its own power."""
STANDSTILL_CONFIRM_S = 1.0
LIMIT_REACHED_MARGIN_KMH = 1.0


class RemoteStopError(BadInput):
    """A command cannot be carried out by this controller (unknown mode, missing target)."""


def kmh_to_rpm(kmh: float) -> float:
    """Engine speed for a road speed in the simulated drivetrain (one fixed ratio stands in for the gearbox)."""
    return min(IDLE_RPM + RPM_PER_KMH * max(kmh, 0.0), MAX_MODEL_RPM)


def rpm_to_kmh(rpm: float) -> float:
    return max((rpm - IDLE_RPM) / RPM_PER_KMH, 0.0)


def tsc1_checksum(can_id: int, data: bytes, counter: int) -> int:
    """J1939-71 TSC1/XBR checksum: bytes 1-7, the counter and the four id bytes, folded to four bits."""
    total = sum(data[:7]) + (counter & 0x0F) + sum(can_id.to_bytes(4, "little"))
    return ((total >> 4) + total) & 0x0F


def tsc1_speed_limit(limit_kmh: float | None, counter: int, sa: int = GATEWAY_SA) -> tuple[int, bytes]:
    """One TSC1 frame to the engine asking it to keep engine speed (hence road speed) under ``limit_kmh``;
    None: override disabled (the engine drops the gateway's limit at once)."""
    signals: dict[str, float | int | None] = {
        "EngineOverrideControlMode": TSC1_MODE_SPEED_TORQUE_LIMIT if limit_kmh is not None else 0,
        "EngineRequestedSpeedControlConditions": 0,
        "OverrideControlModePriority": 0,
        "EngineRequestedSpeedSpeedLimit": kmh_to_rpm(limit_kmh) if limit_kmh is not None else None,
        "EngineRequestedTorqueTorqueLimit": None,
        "Tsc1TransmissionRate": 7,
        "Tsc1ControlPurpose": TSC1_PURPOSE_ROAD_SPEED_GOVERNOR,
        "MessageCounter": counter & 0x0F,
        "MessageChecksum": 0,
    }
    can_id, data = encode_frame("TSC1", signals, sa=sa, da=ENGINE_SA)
    checksum = tsc1_checksum(can_id, data, counter)
    return can_id, data[:7] + bytes([(data[7] & 0x0F) | (checksum << 4)])


class Actuators(Protocol):
    """Outputs of the truck that have no standard J1939 command; a real gateway drives them through the
    body controller, the simulated truck through ``BodyActuators``."""

    def set_hazard_lights(self, on: bool) -> None: ...

    def apply_parking_brake(self) -> None: ...

    def arm_restart_inhibit(self) -> None: ...

    def release(self) -> None:
        """Hazard lights off, restart inhibit disarmed, the parking brake left to the driver again."""


Observe = Callable[[float], Mapping[str, Any]]
"""Contract telemetry fields the gateway knows at a moment (``TelematicsGateway.view.record_fields``)."""


@dataclass(slots=True)
class _SpeedJob:
    command: Command
    started_t: float
    start_kmh: float
    target_kmh: float
    completed: bool = False
    standstill_since: float | None = None
    parking_brake_requested: bool = False
    last_speed_kmh: float | None = None
    """The wheel speed last reported while the job ran (the ECUs that send it fall silent at ignition-off)."""


@dataclass(slots=True)
class _RestartJob:
    command: Command
    completed: bool = False


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A command reached a new status at bus time ``t``; ``note`` says how, for the request's history."""

    command: Command
    status: str
    t: float
    note: str


GUARD_PERIOD_S = 0.1
"""The zone guard looks at the vehicle's motion ten times a second (at 50 km/h, every 1.4 m)."""


class RemoteStopController:
    """The gateway's side: turns accepted commands into a gradual TSC1 ramp and body outputs, and tells when
    each command is done (limited, stopped with parking brake, or immobilised). With a zone guard, the engine
    gets the lower of the command's limit and the guard's, and ``governor_status`` says which governs.

    Never an abrupt stop: TSC1 speed limits go to the engine (SA of the gateway, DA 0x00) every 10 ms,
    ramping down from the measured speed at ``ramp_kmh_per_s`` (5 km/h per second, 1.4 m/s²) to the
    target; a controlled stop switches the hazard lights on first and sets the parking brake only after
    a confirmed standstill; a restart inhibit is armed at once and bites at the next ignition-off.
    """

    def __init__(
        self,
        bus: can.BusABC,
        observe: Observe,
        actuators: Actuators,
        *,
        sa: int = GATEWAY_SA,
        ramp_kmh_per_s: float = RAMP_KMH_PER_S,
        period_s: float = TSC1_PERIOD_S,
        zone_guard: ZoneGuard | None = None,
        fix_time: Callable[[], float | None] | None = None,
    ) -> None:
        if not 0 < ramp_kmh_per_s <= 9.0:
            raise RemoteStopError(f"ramp_kmh_per_s: got {ramp_kmh_per_s!r}, expected more than 0 and at most 9 "
                                  f"(2.5 m/s²), never an abrupt stop")
        self.bus = bus
        self.observe = observe
        self.actuators = actuators
        self.sa = sa
        self.ramp_kmh_per_s = ramp_kmh_per_s
        self.period_s = period_s
        self.speed_job: _SpeedJob | None = None
        self.restart_job: _RestartJob | None = None
        self.limits_sent: list[tuple[float, float]] = []
        """(bus time, limit km/h) of every TSC1 frame sent, for logs and tests."""
        self._counter = 0
        self._last_sent_t: float | None = None
        self.zone_guard = zone_guard
        self.fix_time = fix_time
        """Bus time of the last GNSS fix, so the guard can carry it forward to now."""
        self._guard_t: float | None = None
        self._governing = False
        self.governor_status: dict[str, Any] | None = (
            {"active": False, "limit_kmh": None, "zone_id": None, "source": "none"} if zone_guard else None)
        """The contract ``speed_governor`` telemetry field (None without a zone guard: not reported)."""

    def attach_zone_guard(self, guard: ZoneGuard, fix_time: Callable[[], float | None] | None = None) -> None:
        """Govern also by ``guard`` from now on (a gateway whose controller was built without one)."""
        self.zone_guard, self.fix_time = guard, fix_time
        if self.governor_status is None:
            self.governor_status = {"active": False, "limit_kmh": None, "zone_id": None, "source": "none"}

    def limit_at(self, now: float) -> float | None:
        job = self.speed_job
        if job is None:
            return None
        return max(job.target_kmh, job.start_kmh - self.ramp_kmh_per_s * max(now - job.started_t, 0.0))

    def release(self, command: Command, now: float) -> list[Command]:
        """Lift every measure of earlier commands (speed limit, restart inhibit, held parking brake, hazard lights);
        returns the commands whose measures were lifted. The zone guard is not a command: it keeps governing."""
        lifted = [job.command for job in (self.speed_job, self.restart_job) if job is not None]
        self.speed_job = None
        self.restart_job = None
        self.actuators.release()
        log.info("command %s at %.3f: released %s", command.command_id, now,
                 ", ".join(c.command_id for c in lifted) or "nothing (no measure in force)")
        return lifted

    def start(self, command: Command, now: float) -> None:
        """Begin carrying out ``command``; a newer speed command takes over the ramp from where it stands."""
        if command.mode == "release":
            raise RemoteStopError("mode: got 'release' for start, expected it given to release()")
        if command.mode == "prevent_restart":
            self.restart_job = _RestartJob(command)
            self.actuators.arm_restart_inhibit()
            return
        if command.mode == "controlled_stop":
            target = 0.0
            self.actuators.set_hazard_lights(True)
        elif command.mode == "speed_limit":
            if command.target_speed_kmh is None:
                raise RemoteStopError("target_speed_kmh: got None for speed_limit, expected a speed in km/h")
            target = command.target_speed_kmh
        else:
            raise RemoteStopError(f"mode: got {command.mode!r}, expected prevent_restart, speed_limit or "
                                  f"controlled_stop")
        observed = self.observe(now).get("wheel_speed_kmh")
        start = observed + START_HEADROOM_KMH if observed is not None else UNKNOWN_SPEED_START_KMH
        current = self.limit_at(now)
        if current is not None:
            start = min(start, current)  # a newer command never loosens a limit already in force
            if self.speed_job is not None and self.speed_job.command.mode == "controlled_stop":
                target = 0.0
        self.speed_job = _SpeedJob(command, now, max(start, target), target)

    def tick(self, now: float) -> list[StatusChange]:
        """Send the TSC1 frame that is due and return the commands completed at ``now``."""
        changes: list[StatusChange] = []
        fields = self.observe(now)
        job = self.speed_job
        guard = self._guard(fields, now)
        command_limit = self.limit_at(now) if job is not None else None
        limit, source, zone_id = command_limit, "command", None
        if guard is not None and (limit is None or guard.limit_kmh < limit):
            limit, source, zone_id = guard.limit_kmh, "zone", guard.zone_id
        if limit is not None:
            if self._last_sent_t is None or now - self._last_sent_t >= self.period_s - 1e-9:
                self._send_limit(limit, now)
            self._governing = True
        elif self._governing:
            self._send_limit(None, now)  # released: the engine drops the limit now, not after the TSC1 timeout
            self._governing = False
        if self.governor_status is not None:
            self.governor_status = {"active": limit is not None,
                                    "limit_kmh": None if limit is None else round(limit, 1),
                                    "zone_id": zone_id, "source": source if limit is not None else "none"}
        if job is not None and command_limit is not None and not job.completed:
            changes.extend(self._progress(job, command_limit, fields, now))
        restart = self.restart_job
        if restart is not None and not restart.completed and fields.get("ignition") is False:
            restart.completed = True
            changes.append(StatusChange(restart.command, "completed", now,
                                        "ignition off: the engine will not start again"))
        return changes

    def _progress(self, job: _SpeedJob, limit: float, fields: Mapping[str, Any], now: float) -> list[StatusChange]:
        speed = fields.get("wheel_speed_kmh")
        if job.command.mode == "speed_limit":
            if speed is not None and limit <= job.target_kmh and speed <= job.target_kmh + LIMIT_REACHED_MARGIN_KMH:
                job.completed = True
                return [StatusChange(job.command, "completed", now,
                                     f"speed limited to {job.target_kmh:g} km/h (measured {speed:.1f} km/h)")]
            return []
        # A controlled stop is done once the vehicle stands with its parking brake set, whether the ramp brought it
        # there or it already stood when the command came (stopped by its driver, or by an obstacle); switched off
        # at a standstill it is done too, as the ECUs that would report the brake then fall silent.
        if speed is not None:
            job.last_speed_kmh = speed
        if job.last_speed_kmh is not None:
            standing = job.last_speed_kmh <= STANDSTILL_KMH
        else:
            # Switched off before the command came: the wheel speed fell silent with the engine's ECUs, but the
            # gateway's own receiver still measures the ground speed.
            gnss_speed = fields.get("gnss_speed_kmh")
            standing = gnss_speed is not None and gnss_speed <= GNSS_STANDSTILL_KMH
        if fields.get("ignition") is False and standing:
            job.completed = True
            return [StatusChange(job.command, "completed", now, "stopped: standstill, ignition off, hazard lights on")]
        if speed is None:
            return []
        if speed > STANDSTILL_KMH:
            job.standstill_since = None
            return []
        if job.standstill_since is None:
            job.standstill_since = now
        if now - job.standstill_since >= STANDSTILL_CONFIRM_S and not job.parking_brake_requested:
            job.parking_brake_requested = True
            self.actuators.apply_parking_brake()
        if job.parking_brake_requested and fields.get("parking_brake") is True:
            job.completed = True
            return [StatusChange(job.command, "completed", now,
                                 "stopped: standstill, parking brake set, hazard lights on")]
        return []

    def _guard(self, fields: Mapping[str, Any], now: float) -> GuardLimit | None:
        guard = self.zone_guard
        if guard is None:
            return None
        if self._guard_t is None or now - self._guard_t >= GUARD_PERIOD_S - 1e-9:
            self._guard_t = now
            fix_t = self.fix_time() if self.fix_time is not None else None
            return guard.limit_at(fix_from_fields(dict(fields), now, fix_t))
        return guard.ramped_at(now)

    def _send_limit(self, limit: float | None, now: float) -> None:
        can_id, data = tsc1_speed_limit(limit, self._counter, self.sa)
        self._counter = (self._counter + 1) & 0x0F
        self.bus.send(can.Message(timestamp=now, arbitration_id=can_id, is_extended_id=True, data=data))
        self._last_sent_t = now
        if limit is not None:
            self.limits_sent.append((now, limit))


# --- the simulated truck that obeys -----------------------------------------------------------------------


@dataclass(slots=True)
class EngineGovernor:
    """The engine ECU's handling of TSC1: a speed limit from the gateway's address only, with a valid
    checksum, held while it keeps coming and dropped after ``timeout_s`` of silence."""

    bus: can.BusABC
    accept_sa: int = GATEWAY_SA
    timeout_s: float = TSC1_TIMEOUT_S
    limit_kmh: float | None = None
    last_t: float | None = None
    ignored: int = 0

    def poll(self) -> None:
        while (msg := self.bus.recv(timeout=0)) is not None:
            if msg.is_extended_id and not msg.is_error_frame:
                self._handle(msg.arbitration_id, bytes(msg.data), msg.timestamp)

    def _handle(self, can_id: int, data: bytes, t: float) -> None:
        fields = parse_can_id(can_id)
        if fields.pgn != TSC1_PGN or fields.da != ENGINE_SA:
            return
        decoded = decode_frame(can_id, data)
        if decoded is None or fields.sa != self.accept_sa or len(data) < 8:
            self.ignored += 1
            return
        counter = decoded.signals.get("MessageCounter")
        if not isinstance(counter, int) or tsc1_checksum(can_id, data, counter) != data[7] >> 4:
            self.ignored += 1
            return
        mode, rpm = decoded.signals.get("EngineOverrideControlMode"), decoded.signals.get(
            "EngineRequestedSpeedSpeedLimit")
        if mode in (1, 3) and rpm is not None:
            self.limit_kmh, self.last_t = rpm_to_kmh(float(rpm)), t
        elif mode == 0:
            self.limit_kmh, self.last_t = None, t

    def limit_at(self, t: float) -> float | None:
        if self.limit_kmh is None or self.last_t is None or t - self.last_t > self.timeout_s:
            return None
        return self.limit_kmh


@dataclass(slots=True)
class BodyActuators:
    """Hazard lights, parking brake and restart inhibit of the simulated truck (set by the gateway).

    The parking brake is set only at a standstill, whoever asks: never an abrupt stop at speed.
    """

    hazard_lights: bool = False
    parking_brake_requested: bool = False
    restart_inhibit_armed: bool = False
    hazard_changes: list[bool] = field(default_factory=list)

    def set_hazard_lights(self, on: bool) -> None:
        if on != self.hazard_lights:
            self.hazard_changes.append(on)
        self.hazard_lights = on

    def apply_parking_brake(self) -> None:
        self.parking_brake_requested = True

    def arm_restart_inhibit(self) -> None:
        self.restart_inhibit_armed = True

    def release(self) -> None:
        self.set_hazard_lights(False)
        self.restart_inhibit_armed = False
        self.parking_brake_requested = False


class GovernedTimeline:
    """The scenario's truck as it really moves once the engine honours TSC1 and the body obeys the gateway.

    Until something intervenes it is the scenario state, unchanged. After that, speed is the scenario's
    (the driver's demand) capped by the engine's limit, and position, odometer and fuel follow that speed.
    A restart inhibit takes effect at the next ignition-off: from then on the engine does not run.
    """

    def __init__(self, scenario: Timeline, engine: EngineGovernor, body: BodyActuators, origin: float = 0.0) -> None:
        self.scenario = scenario
        self.origin = origin
        """Bus time (epoch seconds) of timeline time 0, so the engine compares frame times with like."""
        self.engine = engine
        self.body = body
        self.parking_brake_latched = False
        self.immobilised = False
        self.start_refused = 0
        self._own: VehicleState | None = None
        self._t: float | None = None
        self._last_ignition: bool | None = None
        self._last_speed = float("inf")

    def state_at(self, t_s: float) -> VehicleState:
        wanted = self.scenario.state_at(t_s)
        self.engine.poll()
        limit = self.engine.limit_at(self.origin + t_s)
        self._update_immobiliser(wanted)
        speed = wanted.speed_kmh
        if limit is not None:
            speed = min(speed, limit)
        if self.immobilised and wanted.ignition:
            speed = 0.0
        if self.body.parking_brake_requested and self._last_speed <= STANDSTILL_KMH:
            self.parking_brake_latched = True
        if self.parking_brake_latched:
            speed = 0.0
        if self._own is None and speed == wanted.speed_kmh and not (self.immobilised or self.parking_brake_latched):
            self._t, self._last_speed = t_s, wanted.speed_kmh
            return wanted
        state = self._diverge(wanted, speed, t_s)
        self._last_speed = state.speed_kmh
        return state

    def _update_immobiliser(self, wanted: VehicleState) -> None:
        if self.immobilised and not self.body.restart_inhibit_armed:
            self.immobilised = False
            log.info("restart inhibit released: the engine starts again")
        if self.parking_brake_latched and not self.body.parking_brake_requested:
            self.parking_brake_latched = False  # released: the driver's own parking brake decides again
        if self.body.restart_inhibit_armed and not self.immobilised and self._last_ignition and not wanted.ignition:
            self.immobilised = True
            log.info("restart inhibit: ignition off, the engine will not start again")
        if self.immobilised and wanted.ignition and not self._last_ignition:
            self.start_refused += 1
        self._last_ignition = wanted.ignition

    def _diverge(self, wanted: VehicleState, speed: float, t_s: float) -> VehicleState:
        own = self._own if self._own is not None else dataclasses.replace(wanted)
        moved = advance(own, t_s - self._t) if self._t is not None else own
        self._t = t_s
        state = dataclasses.replace(
            wanted,
            lat=moved.lat,
            lon=moved.lon,
            odometer_km=moved.odometer_km,
            fuel_level_pct=moved.fuel_level_pct,
            speed_kmh=speed,
            parking_brake=wanted.parking_brake or self.parking_brake_latched,
            engine_running=False if self.immobilised else wanted.engine_running,
            engine_rpm=None if self.immobilised else wanted.engine_rpm,
        )
        self._own = state
        return state
