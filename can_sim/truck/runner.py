"""Runs a truck's ECUs on a CAN bus: each message at its period, driven by a clock and a scenario timeline."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import can

from can_sim.truck.clock import Clock
from can_sim.truck.ecus import SLEEP_PERIOD_S, EcuSpec, MultiPacketMessage, PeriodicMessage, standard_ecus
from can_sim.truck.state import VehicleState
from can_sim.truck.timeline import Timeline
from telematics.canlog import Frame
from telematics.j1939 import bam_frames, encode_frame, make_can_id
from telematics.j1939.transport import BAM_PACKET_GAP_S

US = 1_000_000
DRAIN_EVERY = 64
"""Steps between emptyings of the ECUs' own receive queue (they ignore what they receive)."""


def _us(seconds: float) -> int:
    return round(seconds * US)


def open_virtual_bus(channel: str) -> can.BusABC:
    """A python-can virtual bus that keeps the timestamps senders put on their frames (simulated time)."""
    return can.Bus(interface="virtual", channel=channel, preserve_timestamps=True, receive_own_messages=False)


@dataclass(slots=True)
class _Periodic:
    ecu: EcuSpec
    message: PeriodicMessage
    period_us: int


@dataclass(slots=True)
class _MultiPacket:
    ecu: EcuSpec
    message: MultiPacketMessage
    last_payload: bytes | None = None
    last_sent_us: int | None = None


@dataclass(slots=True)
class _Packet:
    can_id: int
    data: bytes


class TruckRunner:
    """Sends every ECU's frames on ``bus`` at simulated or real time; one bus instance serves all ECUs."""

    def __init__(
        self,
        timeline: Timeline,
        bus: can.BusABC,
        clock: Clock,
        vehicle_id: str,
        ecus: Iterable[EcuSpec] | None = None,
        on_frame: Callable[[Frame], None] | None = None,
        on_step: Callable[[float], None] | None = None,
        frame_channel: str = "can0",
    ) -> None:
        self.timeline = timeline
        self.bus = bus
        self.clock = clock
        self.vehicle_id = vehicle_id
        self.ecus = tuple(standard_ecus() if ecus is None else ecus)
        self.on_frame = on_frame
        self.on_step = on_step
        self.frame_channel = frame_channel
        self.start = clock.now()
        self.frames_sent = 0
        self._elapsed_us = 0
        self._order = itertools.count()
        self._steps = itertools.count(1)
        self._heap: list[tuple[int, int, object]] = []
        self._powered: dict[str, bool] = {}
        self._encoded: dict[tuple[str, int], tuple[tuple[object, ...], int, bytes]] = {}
        self._schedule_all()

    def _push(self, due_us: int, job: object) -> None:
        heapq.heappush(self._heap, (due_us, next(self._order), job))

    def _schedule_all(self) -> None:
        for ecu_index, ecu in enumerate(self.ecus):
            for message_index, message in enumerate(ecu.messages):
                period_us = _us(message.period)
                # spread first transmissions over a few ms so ECUs do not all fire in the same instant
                phase_us = ((ecu_index * 5 + message_index * 2) * 1000) % period_us
                self._push(phase_us, _Periodic(ecu, message, period_us))
            for message in ecu.multi_packet:
                self._push(_us(0.5) + ecu_index * 1000, _MultiPacket(ecu, message))

    def run(self, duration_s: float) -> int:
        """Advance the truck by ``duration_s`` seconds; returns the frames sent in this call."""
        sent_before = self.frames_sent
        end_us = self._elapsed_us + _us(duration_s)
        while self._heap and self._heap[0][0] <= end_us:
            due_us, _, job = heapq.heappop(self._heap)
            self.clock.sleep_until(self.start + due_us / US)
            state = self.timeline.state_at(due_us / US)
            if isinstance(job, _Periodic):
                self._fire_periodic(job, due_us, state)
            elif isinstance(job, _MultiPacket):
                self._fire_multi_packet(job, due_us, state)
            elif isinstance(job, _Packet):
                self._send(job.can_id, job.data)
            if next(self._steps) % DRAIN_EVERY == 0:
                self._drain()
            if self.on_step is not None:
                self.on_step(self.clock.now())
        self._elapsed_us = end_us
        self.clock.sleep_until(self.start + end_us / US)
        if self.on_step is not None:
            self.on_step(self.clock.now())
        return self.frames_sent - sent_before

    def _ensure_claimed(self, ecu: EcuSpec, state: VehicleState) -> bool:
        """Track power; an ECU that has just woken claims its address first. False when it is off."""
        powered = ecu.powered(state)
        if powered and not self._powered.get(ecu.name, False):
            self._send(*encode_frame("AddressClaimed", ecu.name_fields(self.vehicle_id), sa=ecu.sa))
        self._powered[ecu.name] = powered
        return powered

    def _fire_periodic(self, job: _Periodic, due_us: int, state: VehicleState) -> None:
        sleeping_us = _us(SLEEP_PERIOD_S)
        if not self._ensure_claimed(job.ecu, state):
            self._push(due_us + max(job.period_us, sleeping_us), job)
            return
        self._send(*self._encode(job.message, job.ecu.sa, state))
        period_us = job.period_us if state.ignition else max(job.period_us, sleeping_us)
        self._push(due_us + period_us, job)

    def _fire_multi_packet(self, job: _MultiPacket, due_us: int, state: VehicleState) -> None:
        message = job.message
        self._push(due_us + _us(message.poll_s), job)
        if not self._ensure_claimed(job.ecu, state):
            job.last_payload = None
            return
        payload = message.build(state)
        stale = job.last_sent_us is None or due_us - job.last_sent_us >= _us(message.resend_s)
        if payload == job.last_payload and not stale:
            return
        job.last_payload, job.last_sent_us = payload, due_us
        if len(payload) <= 8:
            can_id = make_can_id(message.pgn, job.ecu.sa, priority=message.priority)
            self._send(can_id, payload.ljust(8, b"\xff"))
            return
        frames = bam_frames(message.pgn, payload, job.ecu.sa)
        self._send(*frames[0])
        for index, (can_id, data) in enumerate(frames[1:], start=1):
            self._push(due_us + index * _us(BAM_PACKET_GAP_S), _Packet(can_id, data))

    def _encode(self, message: PeriodicMessage, sa: int, state: VehicleState) -> tuple[int, bytes]:
        values = message.build(state)
        key = tuple(values.items())
        cached = self._encoded.get((message.message, sa))
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        can_id, data = encode_frame(message.message, values, sa=sa)
        self._encoded[(message.message, sa)] = (key, can_id, data)
        return can_id, data

    def _send(self, can_id: int, data: bytes) -> None:
        t = self.clock.now()
        self.bus.send(can.Message(timestamp=t, arbitration_id=can_id, is_extended_id=True, data=data))
        self.frames_sent += 1
        if self.on_frame is not None:
            self.on_frame(Frame(t, can_id, True, data, self.frame_channel))

    def _drain(self) -> None:
        # the ECUs do not act on received frames; empty the queue so injected traffic cannot pile up
        while self.bus.recv(timeout=0) is not None:
            pass
