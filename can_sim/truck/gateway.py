"""The truck's telematics gateway: listens to the bus, decodes J1939, emits contract-v1 records and raw batches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import can

from can_sim.truck.vehicle_view import VehicleView
from telematics.canlog import Frame, frames_to_batch
from telematics.j1939 import (
    DRIVER_IDENTIFICATION_PGN,
    BamReassembler,
    J1939Database,
    J1939Error,
    decode_driver_identification,
    decode_frame,
    default_database,
    pgn_of,
)
from telematics.j1939.transport import TP_CM_PGN, TP_DT_PGN
from telematics.timeutil import format_ms
from telematics.validation import InvalidRecord, validate_record

RecordCallback = Callable[[dict[str, Any]], None]
BatchCallback = Callable[[dict[str, Any]], None]

MOVING_KMH = 1.0
TRANSPORT_PGNS = (TP_CM_PGN, TP_DT_PGN)
EVENT_FIELDS = (
    "ignition",
    "parking_brake",
    "cab_door_open",
    "cargo_door_open",
    "trailer_connected",
    "driver_card_id",
    "panic",
    "gnss_fix",
)
"""A change of any of these between two known values sends a record at once, whatever the interval."""


@dataclass(slots=True)
class GatewayStats:
    """Counters a gateway keeps about what it heard and sent."""

    frames: int = 0
    decoded: int = 0
    unknown: int = 0
    malformed: int = 0
    records: int = 0
    dropped_fields: int = 0
    batches: int = 0


@dataclass(slots=True)
class GatewayConfig:
    """Reporting behaviour; the defaults follow common fleet telematics practice."""

    moving_interval_s: float = 1.0
    parked_interval_s: float = 60.0
    warmup_s: float = 1.0
    """Wait this long after the first frame before the first record, so every ECU has been heard once."""
    raw_batch_interval_s: float = 1.0
    raw_batch_max_frames: int = 500
    event_check_s: float = 0.1
    """Event fields are looked at this often (a door opening is reported within this much time)."""


class TelematicsGateway(can.Listener):
    """Turns bus traffic into telemetry records (``on_record``) and, when enabled, raw frame batches (``on_frames``).

    Feed it with ``poll(bus, now)`` from the simulator loop, or register it on a ``can.Notifier``: then every
    arriving frame also ticks it (battery-powered ECUs send every second, so parked heartbeats still go out).
    It is not thread-safe: call ``tick`` only from the thread that feeds it.
    """

    def __init__(
        self,
        vehicle_id: str,
        on_record: RecordCallback,
        on_frames: BatchCallback | None = None,
        forward_raw: bool = False,
        config: GatewayConfig | None = None,
        database: J1939Database | None = None,
        start_seq: int = 0,
        governor_status: Callable[[], dict[str, Any] | None] | None = None,
    ) -> None:
        validate_record({"vehicle_id": vehicle_id, "ts": 0})  # a bad vehicle id fails here, not at the first record
        self.vehicle_id = vehicle_id
        self.on_record = on_record
        self.on_frames = on_frames
        self.forward_raw = forward_raw and on_frames is not None
        self.config = config or GatewayConfig()
        self.database = database or default_database()
        self.seq = start_seq
        self.governor_status = governor_status
        """The gateway's own speed governance (zone guard, remote stop), reported as ``speed_governor``."""
        self.stats = GatewayStats()
        self.view = VehicleView(
            cycle_s={
                name: spec.cycle_time_ms / 1000.0 for name, spec in self.database.by_name.items() if spec.cycle_time_ms
            }
        )
        self._transport = BamReassembler()
        self._first_frame_t: float | None = None
        self._last_record_t: float | None = None
        self._last_check_t: float | None = None
        self._last_events: dict[str, Any] = {}
        self._raw: list[Frame] = []
        self._raw_started_t: float | None = None

    # --- input -------------------------------------------------------------------------------------------

    def on_message_received(self, msg: can.Message) -> None:
        """can.Listener entry point: one frame from a Notifier."""
        if msg.is_error_frame or msg.is_remote_frame:
            return
        self.handle(msg.arbitration_id, bytes(msg.data), msg.timestamp, msg.is_extended_id, msg.channel)
        self.tick(msg.timestamp)

    def poll(self, bus: can.BusABC, now: float) -> None:
        """Read every frame waiting on ``bus``, then emit whatever is due at ``now``."""
        while (msg := bus.recv(timeout=0)) is not None:
            if not (msg.is_error_frame or msg.is_remote_frame):
                self.handle(msg.arbitration_id, bytes(msg.data), msg.timestamp, msg.is_extended_id, msg.channel)
        self.tick(now)

    def handle(self, can_id: int, data: bytes, t: float, is_extended: bool = True, channel: Any = None) -> None:
        """Take in one frame seen at bus time ``t``."""
        self.stats.frames += 1
        if self._first_frame_t is None:
            self._first_frame_t = t
        if self.forward_raw:
            self._forward(Frame(t, can_id, is_extended, data, channel))
        if not is_extended:
            self.stats.unknown += 1
            return
        try:
            self._decode(can_id, data, t)
        except J1939Error:
            self.stats.malformed += 1

    def _decode(self, can_id: int, data: bytes, t: float) -> None:
        pgn = pgn_of(can_id)
        if pgn in TRANSPORT_PGNS:
            message = self._transport.feed(can_id, data, t)
            if message is not None and message.pgn == DRIVER_IDENTIFICATION_PGN:
                self.view.apply_driver_identification(decode_driver_identification(message.payload))
            return
        if pgn == DRIVER_IDENTIFICATION_PGN:  # short enough to fit a single frame
            self.view.apply_driver_identification(decode_driver_identification(data))
            return
        decoded = decode_frame(can_id, data, self.database)
        if decoded is None:
            self.stats.unknown += 1
            return
        self.stats.decoded += 1
        self.view.apply(decoded, t)

    # --- output ------------------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Emit a record when the reporting interval has passed or an event field changed; flush raw batches."""
        self._maybe_flush_raw(now)
        if self._first_frame_t is None or now - self._first_frame_t < self.config.warmup_s:
            return
        if self._last_check_t is not None and now - self._last_check_t < self.config.event_check_s - 1e-6:
            return
        self._last_check_t = now
        fields = self.view.record_fields(now)
        governor = self.governor_status() if self.governor_status is not None else None
        if governor is not None:
            fields["speed_governor"] = governor
        events = {name: fields[name] for name in EVENT_FIELDS if name in fields}
        if "safety_systems" in fields:
            events["safety_systems"] = fields["safety_systems"]  # a system switched off is news at once
        # the governor's changes go out with the next record (a second apart while moving): a command's own status
        # changes are reported on the stop-requests topic, and a guard's ramp begins seconds before the zone
        changed = any(name in self._last_events and self._last_events[name] != value for name, value in events.items())
        moving = max(fields.get("wheel_speed_kmh", 0.0), fields.get("gnss_speed_kmh", 0.0)) > MOVING_KMH
        interval = self.config.moving_interval_s if moving else self.config.parked_interval_s
        due = self._last_record_t is None or now - self._last_record_t >= interval - 1e-6
        if not (due or changed):
            return
        self._last_events.update(events)
        self._last_record_t = now
        self._emit(fields, now)

    def _emit(self, fields: dict[str, Any], now: float) -> None:
        ts = format_ms(round(now * 1000))
        record: dict[str, Any] = {"vehicle_id": self.vehicle_id, "ts": ts, "seq": self.seq}
        record.update(fields)
        record = self._conform(record)
        self.seq += 1
        self.stats.records += 1
        self.on_record(record)

    def _conform(self, record: dict[str, Any]) -> dict[str, Any]:
        """Drop any field the contract would reject (e.g. a spoofed 3000 V supply), so the record always passes."""
        for _ in range(len(record)):
            try:
                validate_record(record)
                return record
            except InvalidRecord as error:
                if error.field not in record or error.field in ("vehicle_id", "ts", "seq"):
                    raise
                del record[error.field]
                self.stats.dropped_fields += 1
        validate_record(record)
        return record

    def _forward(self, frame: Frame) -> None:
        if self._raw_started_t is None:
            self._raw_started_t = frame.timestamp
        self._raw.append(frame)
        if len(self._raw) >= self.config.raw_batch_max_frames:
            self.flush_raw()

    def _maybe_flush_raw(self, now: float) -> None:
        started = self._raw_started_t
        if self._raw and started is not None and now - started >= self.config.raw_batch_interval_s:
            self.flush_raw()

    def flush_raw(self) -> None:
        """Send the pending raw frames as one contract section-5 batch."""
        if not self._raw or self.on_frames is None:
            return
        batch = frames_to_batch(self.vehicle_id, self._raw)
        self._raw, self._raw_started_t = [], None
        self.stats.batches += 1
        self.on_frames(batch)
