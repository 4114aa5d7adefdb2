"""Replays a scenario bundle's fleet live: incident vehicles as J1939 trucks that obey stop commands, on Kafka.

The clock starts at the bundle's first event time and runs at ``speed`` times real time, so every record
carries the scenario's timestamps; while a stop request for one of its trucks is open, it runs in real time,
so the officers deciding it get the scenario's real lead time. A simulated J1939 truck costs about 120
frames per simulated second (~0.1 ms of CPU each, ECUs and gateway together), i.e. ~6 % of a core per truck
at 5x: by default only the vehicles with an incident in labels.json run on a full J1939 bus (ECUs, gateway,
command link; they stop when an authorised command comes), and the others publish their scenario records as
recorded (arrival order, late and duplicate deliveries included), as ``truckguard feed`` does. Without
labels.json every vehicle runs on a bus. A stop command for a vehicle that publishes directly is not acted
on (logged at start). With ``zone_guard`` (and the platform's key), every bus truck's gateway also carries the
zone guard (or only the bus trucks it names, when it is a collection of vehicle ids): it governs by the zone set
`truckguard dispatch` signs for it (a hijacked truck slows at the zone's boundary on its own, before the officers
act) and reports ``speed_governor``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from can_sim.live.clock import ScaledClock
from can_sim.live.scenario_timeline import ScenarioTimeline
from can_sim.live.truck import LiveTruck
from can_sim.truck.command_receiver import KafkaCommandLink, equip_zone_guard
from can_sim.truck.gateway import GatewayConfig
from can_sim.truck.zone_guard import ZoneGuard
from ingest import topics
from ingest.kafka_clients import make_producer
from telematics.bundle import TELEMETRY_FILE, iter_lines
from telematics.commands import load_public_keys
from telematics.parse import parse_telemetry
from telematics.validation import InvalidRecord

log = logging.getLogger(__name__)

LABELS_FILE = "labels.json"
TICK_S = 0.1
"""Real seconds between steps of the fleet: each step runs every bus up to the clock's event time."""
COMMAND_POLL_MS = 500
"""Longest wait of a command link for new commands (its thread's poll)."""
SEQ_EPOCH_S = 1_767_225_600
"""2026-01-01T00:00:00Z: sequence numbers count from here (see ``seq_base``)."""
SEQ_PER_S = 4
"""Sequence numbers set aside per second of event time: more than any scenario device reports (1 Hz moving)."""


def seq_base(origin_s: float) -> int:
    """The first sequence number of a run starting at event time ``origin_s``.

    A device's ``seq`` only ever grows; a scenario numbers each vehicle's records from 0, so a second run of
    the same vehicles (the demo's next twenty minutes) would repeat them and the detector would drop its
    records as duplicates. Offsetting by the run's start keeps every later run above every earlier one.
    """
    return max(0, int(origin_s - SEQ_EPOCH_S)) * SEQ_PER_S


@dataclass
class LiveFleetStats:
    """What a live fleet run did, and what it cost."""

    bus_vehicles: list[str] = field(default_factory=list)
    direct_vehicles: list[str] = field(default_factory=list)
    bus_records: int = 0
    """Records decoded from the buses by the gateways and published."""
    direct_records: int = 0
    """Scenario lines published as recorded."""
    frames: int = 0
    can_batches: int = 0
    commands: int = 0
    statuses: int = 0
    event_start: float = 0.0
    event_reached: float = 0.0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    max_lag_s: float = 0.0
    """Worst event-time lag of the buses behind the clock, in real seconds (above a tick: overloaded)."""
    send_errors: int = 0

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_share(self) -> float:
        """CPU seconds per real second (1.0 = one core busy), of the whole process."""
        return self.cpu_s / self.wall_s if self.wall_s else 0.0

    def render(self) -> str:
        return (
            f"live fleet: {len(self.bus_vehicles)} on J1939 ({', '.join(self.bus_vehicles) or '-'}), "
            f"{len(self.direct_vehicles)} direct; {self.event_reached - self.event_start:.0f} s of event time in "
            f"{self.wall_s:.1f} s; {self.frames} frames ({self.frames_per_s:.0f}/s), {self.bus_records} bus records, "
            f"{self.direct_records} direct records, {self.can_batches} CAN batches, {self.commands} commands, "
            f"{self.statuses} status changes; CPU {self.cpu_share:.0%} of a core, worst lag {self.max_lag_s:.2f} s"
        )


@dataclass
class _Bundle:
    lines: list[tuple[str | None, bytes, int | None]]
    """(vehicle_id, raw line, event ms) in arrival order."""
    records: dict[str, list[dict[str, Any]]]
    incident_vehicles: set[str]
    devices: dict[str, dict[str, Any]]
    has_labels: bool


def _read_bundle(bundle_dir: Path) -> _Bundle:
    lines: list[tuple[str | None, bytes, int | None]] = []
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _, line in iter_lines(bundle_dir / TELEMETRY_FILE):
        try:
            parsed = parse_telemetry(line)
        except InvalidRecord:
            lines.append((None, line, None))  # sent as it is: the platform dead-letters it, as with a gateway
            continue
        lines.append((parsed.vehicle_id, line, parsed.ts_ms))
        records[parsed.vehicle_id].append(orjson.loads(line))
    if lines:
        valid = [ms for _, _, ms in lines if ms is not None]
        base = seq_base(min(valid) / 1000.0) if valid else 0
        lines = [(vid, _renumber(line, base) if vid is not None else line, ms) for vid, line, ms in lines]
    labels_path = bundle_dir / LABELS_FILE
    incidents: set[str] = set()
    devices: dict[str, dict[str, Any]] = {}
    if labels_path.exists():
        labels = orjson.loads(labels_path.read_bytes())
        incidents = {i["vehicle_id"] for i in labels.get("incidents", [])}
        devices = {v["vehicle_id"]: v.get("device") or {} for v in labels.get("vehicles", [])}
    return _Bundle(lines, dict(records), incidents, devices, labels_path.exists())


def _renumber(line: bytes, base: int) -> bytes:
    """The record with ``seq`` moved up by ``base`` (records without one are left as they are)."""
    record = orjson.loads(line)
    if not isinstance(record.get("seq"), int) or base == 0:
        return line
    record["seq"] += base
    return orjson.dumps(record)


def _gateway_config(device: dict[str, Any]) -> GatewayConfig:
    """The scenario device's reporting rates (labels.json ``vehicles[].device``) for the vehicle's gateway."""
    config = GatewayConfig()
    if device.get("period_moving_s"):
        config.moving_interval_s = float(device["period_moving_s"])
    if device.get("heartbeat_s"):
        config.parked_interval_s = float(device["heartbeat_s"])
    return config


class _CommandLink(threading.Thread):
    """One bus vehicle's end of the command topics, on a thread of its own that owns its KafkaCommandLink.

    kafka-python completes a consumer group join only inside a single poll of a few hundred milliseconds,
    which the bus loop cannot spare; so commands come in through ``inbox``, status changes go out through
    ``outbox``, and the commands read are committed once the bus loop has handed them all to the truck and
    the statuses published so far are flushed (at least once; a second delivery is refused as replayed).
    """

    def __init__(self, bootstrap: str, vehicle_id: str) -> None:
        super().__init__(name=f"truckguard-commands-{vehicle_id}", daemon=True)
        self.link = KafkaCommandLink(bootstrap, vehicle_id)
        self.inbox: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self.outbox: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self.received = 0
        self.handled = 0
        """Commands the bus loop has given to the truck (written by the bus loop only)."""
        self.stopping = threading.Event()

    def run(self) -> None:
        unread = False
        try:
            while not self.stopping.is_set():
                for raw in self.link.poll(timeout_ms=COMMAND_POLL_MS):
                    self.received += 1
                    unread = True
                    self.inbox.put(raw)
                published = self._publish()
                if (unread or published) and self.handled >= self.received:
                    self.link.commit()  # statuses flushed first, then the commands marked as read
                    unread = False
            self._publish()
            if self.handled >= self.received:
                self.link.commit()
        except Exception:
            # a lost link must not take the fleet down: the truck drives on, as one out of coverage would
            log.exception("vehicle %s: command link failed; stop commands will not reach it", self.link.vehicle_id)
        finally:
            self.link.close()

    def _publish(self) -> bool:
        published = False
        while True:
            try:
                self.link.publish(self.outbox.get_nowait())
            except queue.Empty:
                return published
            published = True


OPEN_REQUEST_STATUSES = frozenset({"requested", "authorized", "sent", "acknowledged"})
"""A stop request in one of these is still being decided or carried out."""


class _RequestWatch(threading.Thread):
    """Follows truckguard.stop-requests.v1 and keeps which requests for the given vehicles are open."""

    def __init__(self, bootstrap: str, vehicles: Collection[str]) -> None:
        super().__init__(name="truckguard-fleet-requests", daemon=True)
        from kafka import KafkaConsumer

        self.vehicles = frozenset(vehicles)
        self.consumer = KafkaConsumer(topics.STOP_REQUESTS, bootstrap_servers=bootstrap,
                                      client_id="truckguard-live-fleet-requests", auto_offset_reset="latest",
                                      enable_auto_commit=False)
        self.open: dict[str, str] = {}
        """request_id → vehicle_id of the open requests (read by the bus loop; replaced whole, never mutated)."""
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                for messages in self.consumer.poll(timeout_ms=COMMAND_POLL_MS).values():
                    for message in messages:
                        self._note(message.value)
        except Exception:
            log.exception("stop-request watch failed; the fleet keeps its speed")
        finally:
            self.consumer.close(autocommit=False)

    def _note(self, raw: bytes | None) -> None:
        try:
            request = orjson.loads(raw or b"")
            request_id, vehicle_id, status = request["request_id"], request["vehicle_id"], request["status"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        if vehicle_id not in self.vehicles:
            return
        current = dict(self.open)
        if status in OPEN_REQUEST_STATUSES:
            current[request_id] = vehicle_id
        else:
            current.pop(request_id, None)
        self.open = current


Send = Callable[[str, bytes | None, bytes], None]
"""Publishes one message (topic, key, value) on the fleet's producer."""
Bus = tuple[LiveTruck, _CommandLink | None]
"""A truck on its J1939 bus, and its end of the command topics (None: it trusts no key)."""


def run_live_fleet(
    bundle_dir: Path,
    bootstrap: str,
    *,
    speed: float,
    public_key_path: Path | None,
    stop: threading.Event,
    forward_can: bool = False,
    bus_vehicles: Collection[str] | None = None,
    real_time_while_requested: bool = True,
    zone_guard: bool | Collection[str] = False,
    skip_vehicles: Collection[str] = (),
) -> LiveFleetStats:
    """Run the bundle's fleet live until its last event time (or ``stop``); see the module docstring.

    ``bus_vehicles`` overrides which vehicles run on J1939 buses (default: those with incidents). Without
    ``public_key_path`` the trucks trust no key, so they never act on a command. With
    ``real_time_while_requested`` (and a speed above 1) the whole fleet runs at 1x while a stop request for
    one of its trucks is open: at 5x the officers had about 6 s of real time between request and zone. A
    bundle that starts in the past never runs ahead of the wall clock: once it has caught up, it runs at 1x.
    ``skip_vehicles`` are left out: their records reach the platform another way (the demo's Teltonika unit).
    """
    bundle_dir = Path(bundle_dir)
    bundle = _without(_read_bundle(bundle_dir), skip_vehicles)
    chosen, why = _choose_bus_vehicles(bundle, bus_vehicles)
    stats = LiveFleetStats(bus_vehicles=sorted(v for v in chosen if v in bundle.records),
                           direct_vehicles=sorted(v for v in bundle.records if v not in chosen))
    event_times = [ms for _, _, ms in bundle.lines if ms is not None]
    if not event_times:
        log.warning("live fleet: %s has no valid telemetry; nothing to run", bundle_dir)
        return stats
    origin, end = min(event_times) / 1000.0, max(event_times) / 1000.0
    stats.event_start = stats.event_reached = origin
    public_keys = load_public_keys(public_key_path) if public_key_path is not None else None
    log.info("live fleet: %s on full J1939 buses (%s)%s; %s publish their scenario records directly "
             "(a stop command for them is not acted on); %gx real time from %s",
             ", ".join(stats.bus_vehicles) or "no vehicle", why,
             "" if public_keys else ", trusting no command key", ", ".join(stats.direct_vehicles) or "no vehicle",
             speed, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(origin)))

    producer = make_producer(bootstrap, "truckguard-live-fleet")

    def failed(_: Exception) -> None:
        stats.send_errors += 1

    def send(topic: str, key: bytes | None, value: bytes) -> None:
        producer.send(topic, key=key, value=value).add_errback(failed)

    buses: list[Bus] = []
    governors: dict[str, Callable[[], dict[str, Any] | None]] = {}
    watch: _RequestWatch | None = None
    wall_start, cpu_start = time.monotonic(), time.process_time()
    try:
        if real_time_while_requested and speed > 1 and stats.bus_vehicles:
            watch = _RequestWatch(bootstrap, stats.bus_vehicles)
            watch.start()
        for vehicle_id in stats.bus_vehicles:
            guarded = zone_guard is True or (not isinstance(zone_guard, bool) and vehicle_id in zone_guard)
            bus = _bus_truck(vehicle_id, bundle, origin, bootstrap, public_keys, guarded and bool(public_keys),
                             forward_can, send, stats, governors)
            buses.append(bus)
            if bus[1] is not None:
                bus[1].start()
        direct = [(vid, line, ms) for vid, line, ms in bundle.lines if vid not in chosen]
        _drive(buses, direct, origin, end, speed, watch, send, stats, stop)
        for truck, _ in buses:
            truck.flush()
        producer.flush()
    finally:
        _shut_down(watch, buses)
        producer.close()
        stats.wall_s = time.monotonic() - wall_start
        stats.cpu_s = time.process_time() - cpu_start
    log.info("%s", stats.render())
    return stats


def _without(bundle: _Bundle, skipped: Collection[str]) -> _Bundle:
    """The bundle less the records of ``skipped`` vehicles (their records reach the platform another way)."""
    if not skipped:
        return bundle
    gone = set(skipped)
    return _Bundle([entry for entry in bundle.lines if entry[0] not in gone],
                   {v: r for v, r in bundle.records.items() if v not in gone},
                   bundle.incident_vehicles - gone, bundle.devices, bundle.has_labels)


def _choose_bus_vehicles(bundle: _Bundle, bus_vehicles: Collection[str] | None) -> tuple[set[str], str]:
    """The vehicles to run on J1939 buses, and why those."""
    if bus_vehicles is not None:
        return set(bus_vehicles), "chosen by the caller"
    if bundle.has_labels:
        return set(bundle.incident_vehicles), "incidents in labels.json"
    return set(bundle.records), "no labels.json: every vehicle"


def _bus_truck(
    vehicle_id: str, bundle: _Bundle, origin: float, bootstrap: str, public_keys: dict[str, Any] | None,
    zone_guard: bool, forward_can: bool, send: Send, stats: LiveFleetStats,
    governors: dict[str, Callable[[], dict[str, Any] | None]],
) -> Bus:
    """One vehicle as a J1939 truck publishing what its gateway decodes; with a key, the end of the command topics
    it obeys (not started yet), and with ``zone_guard`` the zone guard on its gateway."""
    key = vehicle_id.encode()
    link = _CommandLink(bootstrap, vehicle_id) if public_keys else None
    guard = ZoneGuard() if zone_guard else None

    def on_record(record: dict[str, Any]) -> None:
        if guard is not None and guard.zone_set is not None:
            # the gateway's own governance, which the scenario's device never reported (so the truck's
            # record filter left it out): on the map the truck is seen slowing at the zone on its own
            record["speed_governor"] = governors[record["vehicle_id"]]()
        send(topics.TELEMETRY, key, orjson.dumps(record))
        stats.bus_records += 1

    def on_frames(batch: dict[str, Any]) -> None:
        send(topics.CAN, key, orjson.dumps(batch))
        stats.can_batches += 1

    def on_status(request: dict[str, Any]) -> None:
        stats.statuses += 1
        log.info("vehicle %s: stop request %s %s", request.get("vehicle_id"), request.get("request_id"),
                 request.get("status"))
        if link is not None:
            link.outbox.put(request)

    truck = LiveTruck(vehicle_id, ScenarioTimeline(bundle.records[vehicle_id], origin),
                      on_record=on_record, public_keys=public_keys, on_status=on_status,
                      on_frames=on_frames if forward_can else None, forward_raw=forward_can,
                      config=_gateway_config(bundle.devices.get(vehicle_id, {})))
    truck.gateway.seq = seq_base(origin)  # the gateway numbers its own records, from this run's base
    if guard is not None and truck.receiver is not None:
        governors[vehicle_id] = equip_zone_guard(truck.receiver, truck.gateway, guard)
    return truck, link


def _drive(
    buses: list[Bus], direct_lines: list[tuple[str | None, bytes, int | None]], origin: float, end: float,
    speed: float, watch: _RequestWatch | None, send: Send, stats: LiveFleetStats, stop: threading.Event,
) -> None:
    """Every TICK_S, brings the buses and the directly published records up to the paced event time, until the
    bundle's last event time is reached and sent (or ``stop``)."""
    direct = iter(direct_lines)
    pending = next(direct, None)
    clock = ScaledClock(origin, speed)
    # A bundle that starts in the past is live data catching up: it may run fast, never into the future.
    # One that starts later than now is a simulation in scenario time, run as it is.
    wall_cap = time.time if origin <= time.time() else (lambda: float("inf"))
    while not stop.is_set():
        _pace(clock, watch, speed)
        paced = min(clock.now(), wall_cap())
        target = min(paced, end)
        _advance_buses(buses, target, stats)
        while pending is not None and (pending[2] is None or pending[2] / 1000.0 <= target):
            vehicle_id, line, _ = pending
            send(topics.TELEMETRY, vehicle_id.encode() if vehicle_id else None, line)
            stats.direct_records += 1
            pending = next(direct, None)
        stats.event_reached = target
        stats.max_lag_s = max(stats.max_lag_s, (paced - target) / clock.speed if target < end else 0.0)
        if target >= end and pending is None:
            break
        stop.wait(TICK_S)


def _pace(clock: ScaledClock, watch: _RequestWatch | None, speed: float) -> None:
    """Real time while a stop request for one of the trucks is open, else ``speed``."""
    wanted = 1.0 if watch is not None and watch.open else speed
    if clock.speed != wanted:
        clock.set_speed(wanted)
        log.info("live fleet: %gx real time (stop requests open for: %s)", wanted,
                 ", ".join(sorted(set(watch.open.values()))) if watch is not None and watch.open else "none")


def _advance_buses(buses: list[Bus], target: float, stats: LiveFleetStats) -> None:
    """Each truck first gets the commands its link has received, then runs its bus up to event time ``target``."""
    for truck, link in buses:
        delivered = 0
        while link is not None and not link.inbox.empty():
            truck.deliver(link.inbox.get_nowait())
            delivered += 1
        stats.frames += truck.advance_to(target)
        if link is not None and delivered:
            stats.commands += delivered
            link.handled += delivered  # taken by the truck (acknowledged or refused) in that run


def _shut_down(watch: _RequestWatch | None, buses: list[Bus]) -> None:
    """Stops the request watch, closes the trucks and their command links (each waits for its last poll)."""
    if watch is not None:
        watch.stopping.set()
        watch.join(COMMAND_POLL_MS / 1000 + 10)
    for truck, link in buses:
        truck.close()
        if link is not None:
            link.stopping.set()
            link.join(COMMAND_POLL_MS / 1000 + 10)
