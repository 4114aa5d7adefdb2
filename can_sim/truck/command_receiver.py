"""The vehicle gateway's command inbox: verify each signed command, refuse and log bad ones, report status."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from can_sim.truck.clock import Clock, SimulatedClock
from can_sim.truck.ecus import EcuSpec
from can_sim.truck.gateway import GatewayConfig, TelematicsGateway
from can_sim.truck.remote_stop import BodyActuators, EngineGovernor, GovernedTimeline, RemoteStopController
from can_sim.truck.replay_memory import ReplayMemory
from can_sim.truck.runner import TruckRunner, open_virtual_bus
from can_sim.truck.state import VehicleState
from can_sim.truck.timeline import Timeline, as_timeline
from can_sim.truck.zone_guard import ZoneGuard
from telematics.canlog import Frame
from telematics.commands import (
    DEFAULT_SKEW_S,
    RELEASE,
    Command,
    CommandEnvelope,
    CommandError,
    TrustedKey,
    TrustedKeys,
    VerifiedCommand,
    epoch_to_datetime,
    parse_command,
    verify_command,
)
from telematics.timeutil import format_ms
from telematics.trust_lists import SignedTrustList, TrustList, is_trust_message, verify_trust_list
from telematics.zone_sets import SignedZoneSet, ZoneSet, is_zone_set_message, verify_zone_set

log = logging.getLogger(__name__)

StatusReport = Callable[[dict[str, Any]], None]
"""Receives each status change as a full contract stop request (to publish on truckguard.stop-requests.v1)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A command the vehicle did not carry out, and why (``reason``: forged, expired, replayed, ...)."""

    t: float
    reason: str
    detail: str
    command_id: str | None = None
    request_id: str | None = None


Received = VerifiedCommand | ZoneSet | TrustList | Refusal
"""What one message of the vehicle-commands topic came to: a command, zone set or trust list accepted, or refused."""


def _claimed(raw: CommandEnvelope | None) -> tuple[str | None, str | None]:
    """The ids a refused command claims, for the log only (they may be forged)."""
    if raw is None:
        return None, None
    with contextlib.suppress(CommandError):
        command = parse_command(raw.signed.payload)
        return command.command_id, command.request_id
    return None, None


class CommandReceiver:
    """Verifies commands for one vehicle, starts the accepted ones on the controller, reports their status.

    Refusals (forged, expired, replayed, wrong vehicle, malformed) are logged on the vehicle with their
    reason and kept in ``refusals``; they are never published as a status of the stop request: the
    request's ``refused`` status belongs to law enforcement, and a forged command's request id cannot be
    trusted to name a real request. The platform sees a refused command as a ``sent`` request that is
    never ``acknowledged``. Accepted commands are reported as ``acknowledged`` (started) and ``completed``
    (limited, stopped with parking brake set, or immobilised) changes of the full stop request.
    """

    def __init__(
        self,
        vehicle_id: str,
        public_keys: TrustedKeys,
        controller: RemoteStopController,
        *,
        report: StatusReport | None = None,
        skew_s: float = DEFAULT_SKEW_S,
        zone_guard: ZoneGuard | None = None,
        memory: ReplayMemory | None = None,
    ) -> None:
        self.vehicle_id = vehicle_id
        self.zone_guard = zone_guard
        """Where verified zone sets go; without one, zone sets are refused as not supported."""
        self.public_keys: dict[str, Ed25519PublicKey | TrustedKey] = dict(public_keys)
        self.controller = controller
        self.report = report
        self.skew_s = skew_s
        self.reporter = f"vehicle:{vehicle_id}"
        self.accepted: list[VerifiedCommand] = []
        self.refusals: list[Refusal] = []
        self.memory = memory if memory is not None else ReplayMemory()
        if self.memory.trusted is not None:
            self.public_keys = dict(self.memory.trusted)  # a trust list accepted before the restart
        """Nonces and command ids accepted, and the newest issue time: on disk when given a path, so a restarted
        gateway refuses a replay of what it carried out before."""
        self._requests: dict[str, dict[str, Any]] = {}

    def receive(self, raw: bytes | str | CommandEnvelope, now: float) -> Received:
        """Take one message of the vehicle-commands topic at bus time ``now``; never raises for bad input."""
        if not isinstance(raw, CommandEnvelope) and is_zone_set_message(raw):
            return self.receive_zone_set(raw, now)
        if not isinstance(raw, CommandEnvelope) and is_trust_message(raw):
            return self.receive_trust_list(raw, now)
        envelope: CommandEnvelope | None = raw if isinstance(raw, CommandEnvelope) else None
        try:
            if envelope is None:
                envelope = CommandEnvelope.decode(raw)  # type: ignore[arg-type]
            verified = verify_command(envelope.signed, self.public_keys, now=epoch_to_datetime(now),
                                      vehicle_id=self.vehicle_id, seen_nonces=self.memory, skew_s=self.skew_s,
                                      not_before_ms=self.memory.last_issued_ms)
        except CommandError as exc:
            command_id, request_id = _claimed(envelope)
            refusal = Refusal(now, exc.reason, str(exc), command_id, request_id)
            self.refusals.append(refusal)
            log.warning("vehicle %s refused command %s (request %s): %s: %s", self.vehicle_id, command_id,
                        request_id, exc.reason, exc)
            return refusal
        self._remember(verified, now)
        command = verified.command
        if command.mode == RELEASE:
            self.accepted.append(verified)
            lifted = self.controller.release(command, now)
            log.info("vehicle %s accepted release %s of request %s: lifted %d command(s)", self.vehicle_id,
                     command.command_id, command.request_id, len(lifted))
            return verified
        request = envelope.request
        if request.get("request_id") == command.request_id and request.get("vehicle_id") == self.vehicle_id:
            self._requests[command.request_id] = dict(request)
        else:
            log.warning("vehicle %s: command %s carries request %r, expected %s; status will not be reported",
                        self.vehicle_id, command.command_id, request.get("request_id"), command.request_id)
        self.accepted.append(verified)
        self.controller.start(command, now)
        log.info("vehicle %s accepted command %s: %s", self.vehicle_id, command.command_id, command.mode)
        self._report(command, "acknowledged", now, f"command {command.command_id} accepted: {_started(command)}")
        return verified

    def receive_zone_set(self, raw: bytes | str, now: float) -> ZoneSet | Refusal:
        """Verify a zone set exactly as a command (forged, expired, replayed, other vehicle: refused and logged
        with the reason) and hand it to the zone guard, which keeps the last valid one."""
        guard = self.zone_guard
        if guard is None:
            # a gateway without a guard is not under attack when the platform sends it zones: it just has no use
            log.info("vehicle %s has no zone guard: zone set ignored", self.vehicle_id)
            return Refusal(now, "unsupported", "this gateway has no zone guard")
        held = guard.zone_set
        try:
            zone_set = verify_zone_set(SignedZoneSet.decode(raw), self.public_keys, now=epoch_to_datetime(now),
                                       vehicle_id=self.vehicle_id, seen_nonces=self.memory,
                                       held_issued_at_ms=held.issued_at_ms if held is not None else None,
                                       skew_s=self.skew_s)
        except CommandError as exc:
            refusal = Refusal(now, exc.reason, str(exc))
            self.refusals.append(refusal)
            log.warning("vehicle %s refused zone set: %s: %s", self.vehicle_id, exc.reason, exc)
            return refusal
        # zone-set nonces are kept for the set's validity, as command nonces are; a set does not move the commands'
        # issue-time mark (sets have their own: each must be newer than the one held)
        self.memory.remember((zone_set.nonce,), zone_set.expires_at_ms, None, round(now * 1000),
                             round(self.skew_s * 1000))
        guard.install(zone_set)
        log.info("vehicle %s accepted zone set %s (%d zones, signed %s)", self.vehicle_id, zone_set.zone_set_id,
                 len(zone_set.zones), format_ms(zone_set.issued_at_ms))
        return zone_set

    def receive_trust_list(self, raw: bytes | str, now: float) -> TrustList | Refusal:
        """Verify a trust list exactly as a command and, accepted, trust exactly its keys from now on."""
        try:
            trust = verify_trust_list(SignedTrustList.decode(raw), self.public_keys, now=epoch_to_datetime(now),
                                      vehicle_id=self.vehicle_id, seen_nonces=self.memory,
                                      held_issued_at_ms=self.memory.trust_issued_ms, skew_s=self.skew_s)
        except CommandError as exc:
            refusal = Refusal(now, exc.reason, str(exc))
            self.refusals.append(refusal)
            log.warning("vehicle %s refused trust list: %s: %s", self.vehicle_id, exc.reason, exc)
            return refusal
        self.memory.remember((trust.nonce,), trust.expires_at_ms, None, round(now * 1000), round(self.skew_s * 1000))
        self.memory.trust(trust.keys, trust.issued_at_ms)
        self.public_keys = dict(trust.keys)
        log.info("vehicle %s accepted trust list %s: trusting %s", self.vehicle_id, trust.list_id,
                 "; ".join(f"{key_id} {key.describe()}" for key_id, key in sorted(trust.keys.items())))
        return trust

    def tick(self, now: float) -> None:
        """Let the controller act at ``now`` and report every command it completed."""
        for change in self.controller.tick(now):
            log.info("vehicle %s: command %s %s: %s", self.vehicle_id, change.command.command_id, change.status,
                     change.note)
            self._report(change.command, change.status, change.t, change.note)

    def _remember(self, verified: VerifiedCommand, now: float) -> None:
        command = verified.command
        self.memory.remember((command.nonce, command.command_id), verified.expires_at_ms, verified.issued_at_ms,
                             round(now * 1000), round(self.skew_s * 1000))

    def _report(self, command: Command, status: str, t: float, note: str) -> None:
        request = self._requests.get(command.request_id)
        if request is None:
            return
        entry = {"status": status, "at": format_ms(round(t * 1000)), "by": self.reporter, "note": note}
        history = request.get("history") if isinstance(request.get("history"), list) else []
        request = {**request, "status": status, "history": [*history, entry]}
        self._requests[command.request_id] = request
        if self.report is not None:
            self.report(request)


def equip_zone_guard(receiver: CommandReceiver, gateway: TelematicsGateway,
                     guard: ZoneGuard) -> Callable[[], dict[str, Any] | None]:
    """Give a built gateway a zone guard: the receiver takes zone sets for it, the controller governs by it, and
    the gateway reports ``speed_governor`` (changes at once). Returns what reads the governor's status."""
    controller = receiver.controller
    view = gateway.view

    def fix_time() -> float | None:
        seen = view.latest.get("VP")
        return seen.t if seen is not None else None

    receiver.zone_guard = guard
    controller.attach_zone_guard(guard, fix_time)

    def status() -> dict[str, Any] | None:
        return controller.governor_status

    gateway.governor_status = status
    return status


def _started(command: Command) -> str:
    if command.mode == "speed_limit":
        return f"derating gradually to {command.target_speed_kmh:g} km/h"
    if command.mode == "controlled_stop":
        return "gradual slow-down to a standstill, hazard lights on"
    return "the engine will not start again after the next ignition-off"


# --- a simulated truck with its command receiver ----------------------------------------------------------

_channels = itertools.count()


@dataclass(slots=True)
class _Delivery:
    at: float
    raw: bytes | str | CommandEnvelope


@dataclass
class RemoteStopTruck:
    """The standard simulated truck, its telematics gateway and command receiver on one virtual bus.

    ``deliver`` hands a command to the gateway at a bus time; ``run`` advances the truck. Everything the
    truck did is kept: telemetry ``records``, ECU ``frames``, reported ``statuses``.
    """

    scenario: Timeline | Callable[[float], VehicleState] | Sequence[tuple[float, VehicleState]]
    public_keys: Mapping[str, Ed25519PublicKey]
    vehicle_id: str = "SIM-001"
    clock: Clock = field(default_factory=SimulatedClock)
    config: GatewayConfig | None = None
    on_status: StatusReport | None = None
    zone_guard: ZoneGuard | None = None
    """The gateway's zone guard (it governs from the zone sets the receiver accepts)."""
    ecus: tuple[EcuSpec, ...] | None = None
    memory: ReplayMemory | None = None
    """The gateway's replay memory (on disk when opened with a path); default: in memory only."""
    records: list[dict[str, Any]] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    _inbox: list[_Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        channel = f"truckguard-remote-stop-{self.vehicle_id}-{next(_channels)}"
        self._buses = [open_virtual_bus(channel) for _ in range(3)]
        ecu_bus, gateway_bus, engine_bus = self._buses
        self.body = BodyActuators()
        self.engine = EngineGovernor(engine_bus)
        self.timeline = GovernedTimeline(as_timeline(self.scenario), self.engine, self.body, self.clock.now())
        self.gateway = TelematicsGateway(self.vehicle_id, on_record=self.records.append, config=self.config,
                                         governor_status=lambda: self.controller.governor_status)
        view = self.gateway.view
        self.controller = RemoteStopController(
            gateway_bus, view.record_fields, self.body, zone_guard=self.zone_guard,
            fix_time=lambda: seen.t if (seen := view.latest.get("VP")) is not None else None)
        self.receiver = CommandReceiver(self.vehicle_id, self.public_keys, self.controller, report=self._status,
                                        zone_guard=self.zone_guard, memory=self.memory)
        self.runner = TruckRunner(self.timeline, ecu_bus, self.clock, self.vehicle_id, ecus=self.ecus,
                                  on_frame=self.frames.append, on_step=self._step)
        self._gateway_bus = gateway_bus

    def deliver(self, raw: bytes | str | CommandEnvelope, at: float | None = None) -> None:
        """Hand a command to the gateway at bus time ``at`` (epoch seconds; default: the next step)."""
        self._inbox.append(_Delivery(self.clock.now() if at is None else at, raw))
        self._inbox.sort(key=lambda d: d.at)

    def run(self, duration_s: float) -> None:
        self.runner.run(duration_s)

    def _step(self, now: float) -> None:
        self.gateway.poll(self._gateway_bus, now)
        while self._inbox and self._inbox[0].at <= now:
            self.receiver.receive(self._inbox.pop(0).raw, now)
        self.receiver.tick(now)

    def _status(self, request: dict[str, Any]) -> None:
        self.statuses.append(request)
        if self.on_status is not None:
            self.on_status(request)

    def close(self) -> None:
        for bus in self._buses:
            bus.shutdown()

    def __enter__(self) -> RemoteStopTruck:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- live use: the vehicle's end of the Kafka topics ------------------------------------------------------


class KafkaCommandLink:
    """This vehicle's commands from truckguard.vehicle-commands.v1, and its status changes (``publish``) to
    truckguard.stop-requests.v1. One consumer group per vehicle, so every vehicle sees its own commands."""

    def __init__(self, bootstrap: str, vehicle_id: str) -> None:
        from ingest.kafka_clients import make_consumer, make_producer
        from ingest.topics import VEHICLE_COMMANDS

        self.vehicle_id = vehicle_id
        client_id = f"truckguard-vehicle-{vehicle_id}"
        self.consumer = make_consumer(bootstrap, client_id, client_id, max_poll_records=50)
        self.consumer.subscribe([VEHICLE_COMMANDS])
        self.producer = make_producer(bootstrap, client_id)
        self._pending: list[Any] = []

    def poll(self, timeout_ms: int = 0) -> list[bytes]:
        """Commands for this vehicle that arrived since the last poll (others' are skipped)."""
        key = self.vehicle_id.encode()
        return [m.value for messages in self.consumer.poll(timeout_ms=timeout_ms).values() for m in messages
                if m.key == key and m.value is not None]

    def publish(self, request: dict[str, Any]) -> None:
        """Use as the receiver's ``report``: one status change of a stop request."""
        from ingest.topics import STOP_REQUESTS

        value = json.dumps(request, separators=(",", ":"), ensure_ascii=False).encode()
        self._pending.append(self.producer.send(STOP_REQUESTS, key=self.vehicle_id.encode(), value=value))

    def commit(self) -> None:
        """Flush the status changes, then commit the commands read: a command is handled at least once, and a
        second delivery is refused as replayed by the receiver."""
        self.producer.flush()
        failed = [f.exception for f in self._pending if f.failed()]
        self._pending.clear()
        if failed:
            raise ConnectionError(f"{len(failed)} status changes were not acknowledged (first: {failed[0]})")
        self.consumer.commit()

    def close(self) -> None:
        self.consumer.close(autocommit=False)
        self.producer.close()
