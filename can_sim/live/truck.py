"""One scenario vehicle as a J1939 truck on a virtual bus, whose gateway decodes it and obeys signed stop commands."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import can
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from can_sim.live.scenario_timeline import ScenarioTimeline
from can_sim.truck.clock import SimulatedClock
from can_sim.truck.command_receiver import CommandReceiver, StatusReport
from can_sim.truck.ecus import standard_ecus
from can_sim.truck.gateway import BatchCallback, GatewayConfig, RecordCallback, TelematicsGateway
from can_sim.truck.remote_stop import (
    Actuators,
    BodyActuators,
    EngineGovernor,
    GovernedTimeline,
    Observe,
    RemoteStopController,
    StatusChange,
)
from can_sim.truck.runner import TruckRunner, open_virtual_bus
from can_sim.truck.state import VehicleState
from telematics.commands import Command

log = logging.getLogger(__name__)

POSITION_PERIOD_S = 1.0
"""A telematics unit with its own receiver: a fresh position in every moving record (VP's J1939 default is 5 s)."""
_channels = itertools.count()


class WallTimedController(RemoteStopController):
    """The gateway's remote-stop controller when the bus runs in scenario time but commands come in real time.

    The platform signs commands with real issue and expiry times, and a gateway checks them against its own
    GNSS-synchronised clock; the replayed bus, though, runs at the bundle's event times, ``speed`` times
    faster. So the command receiver is given real time (validity, nonces, the times in the status history)
    and this controller turns it into bus time for the TSC1 ramp, which must follow the bus it acts on.
    """

    def __init__(self, bus: can.BusABC, observe: Observe, actuators: Actuators, *, bus_now: Callable[[], float],
                 wall_now: Callable[[], float] = time.time) -> None:
        super().__init__(bus, observe, actuators)
        self._bus_now = bus_now
        self._wall_now = wall_now

    def start(self, command: Command, now: float) -> None:
        super().start(command, self._bus_now())

    def tick(self, now: float) -> list[StatusChange]:
        changes = super().tick(self._bus_now())
        return [dataclasses.replace(change, t=self._wall_now()) for change in changes]


class _Drivetrain:
    """The governed truck, with engine speed from the drivetrain model whenever the engine's governor holds it
    below the driver's demand (the scenario's engine speed belongs to the scenario's road speed)."""

    def __init__(self, governed: GovernedTimeline, scenario: ScenarioTimeline) -> None:
        self.governed = governed
        self.scenario = scenario

    def state_at(self, t_s: float) -> VehicleState:
        state = self.governed.state_at(t_s)
        if state.engine_rpm is not None and state.speed_kmh < self.scenario.state_at(t_s).speed_kmh - 0.05:
            return dataclasses.replace(state, engine_rpm=None)
        return state


class LiveTruck:
    """A scenario vehicle on its own virtual J1939 bus: ECUs driven by the scenario (as governed by the engine),
    the telematics gateway that decodes the bus into contract records, and, given trusted keys, the command
    receiver that verifies stop commands and ramps the truck down over TSC1.

    ``advance_to`` runs the bus up to an event time on a simulated clock, so frames and records carry the
    bundle's timestamps however fast the caller paces it.
    """

    def __init__(
        self,
        vehicle_id: str,
        scenario: ScenarioTimeline,
        *,
        on_record: RecordCallback,
        public_keys: Mapping[str, Ed25519PublicKey] | None = None,
        on_status: StatusReport | None = None,
        on_frames: BatchCallback | None = None,
        forward_raw: bool = False,
        config: GatewayConfig | None = None,
        wall_now: Callable[[], float] = time.time,
    ) -> None:
        self.vehicle_id = vehicle_id
        self.scenario = scenario
        self.clock = SimulatedClock(start=scenario.origin)
        self._on_record = on_record
        self._wall_now = wall_now
        self._bus_t = scenario.origin
        self._inbox: list[bytes] = []
        channel = f"truckguard-live-{vehicle_id}-{next(_channels)}"
        self._buses = [open_virtual_bus(channel) for _ in range(3)]
        ecu_bus, self._gateway_bus, engine_bus = self._buses
        self.body = BodyActuators()
        self.engine = EngineGovernor(engine_bus)
        self.governed = GovernedTimeline(scenario, self.engine, self.body, scenario.origin)
        self.gateway = TelematicsGateway(vehicle_id, on_record=self._record, on_frames=on_frames,
                                         forward_raw=forward_raw, config=config)
        self.receiver: CommandReceiver | None = None
        if public_keys:
            controller = WallTimedController(self._gateway_bus, self.gateway.view.record_fields, self.body,
                                             bus_now=lambda: self._bus_t, wall_now=wall_now)
            self.receiver = CommandReceiver(vehicle_id, public_keys, controller, report=on_status)
        self.runner = TruckRunner(_Drivetrain(self.governed, scenario), ecu_bus, self.clock, vehicle_id,
                                  ecus=standard_ecus(position_period_s=POSITION_PERIOD_S), on_step=self._step)
        self._reported = scenario.reported | {"vehicle_id", "ts", "seq"}

    @property
    def now(self) -> float:
        """Bus time reached (epoch seconds)."""
        return self.clock.now()

    def deliver(self, raw: bytes) -> None:
        """Hand one message of the vehicle-commands topic to the gateway; it is taken at the next bus step."""
        self._inbox.append(raw)

    def advance_to(self, t: float) -> int:
        """Run the bus until event time ``t``; returns the frames the ECUs sent."""
        return self.runner.run(t - self.clock.now()) if t > self.clock.now() else 0

    def _step(self, now: float) -> None:
        self._bus_t = now
        self.gateway.poll(self._gateway_bus, now)
        if self.receiver is None:
            self._inbox.clear()
            return
        while self._inbox:
            self.receiver.receive(self._inbox.pop(0), self._wall_now())
        self.receiver.tick(self._wall_now())

    def _record(self, record: dict[str, Any]) -> None:
        # the scenario's device reports only some fields (a van: no tachograph card, no trailer); so does its
        # gateway, or a van's bus would announce a missing driver card
        for name in [n for n in record if n not in self._reported]:
            del record[name]
        if "gnss_jamming" in self._reported:
            # the device's own RF detector, not a CAN signal: it comes from the scenario beside the bus
            jamming = self.scenario.jamming_at(self._bus_t - self.scenario.origin)
            if jamming is not None:
                record["gnss_jamming"] = jamming
        self._on_record(record)

    def flush(self) -> None:
        self.gateway.flush_raw()

    def close(self) -> None:
        for bus in self._buses:
            bus.shutdown()
