"""Starting `devices serve` in-process against a broker, with a fleet whose vehicles list device ids."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from kafka.future import Future

from ingest.devices.counters import DeviceCounters
from ingest.devices.directory import DeviceDirectory
from ingest.devices.http_server import HttpOptions
from ingest.devices.publisher import DevicePublisher
from ingest.devices.queclink_server import QueclinkOptions
from ingest.devices.serve import RunningDevices, ServeOptions, run_devices
from ingest.devices.tcp_listener import ListenerOptions, TcpDeviceListener
from ingest.devices.teltonika_server import TeltonikaOptions
from telematics.reference import Fleet, ReferenceData, Vehicle
from telematics.schedule import WeeklySchedule

TRUCK_IMEI = "356307042441013"
VAN_PHONE = "phone-42"
TRACCAR_UNIT = "864636060000001"


def reference(devices: dict[str, str] | None = None) -> ReferenceData:
    """One fleet; NF-101 carries a Teltonika unit, SV-7 a phone, NF-12 a unit behind Traccar (plus ``devices``)."""
    fleet = Fleet("nordfracht", "Nordfracht", "haulier", ZoneInfo("Europe/Berlin"), WeeklySchedule(always=True))
    listed = {"NF-101": [TRUCK_IMEI], "SV-7": [VAN_PHONE], "NF-12": [TRACCAR_UNIT]}
    for device_id, vehicle_id in (devices or {}).items():
        listed.setdefault(vehicle_id, []).append(device_id)
    vehicles = {v: Vehicle(v, "nordfracht", "N3", None, frozenset(), frozenset(ids)) for v, ids in listed.items()}
    return ReferenceData(fleets={"nordfracht": fleet}, vehicles=vehicles)


@dataclass
class Service:
    running: RunningDevices
    stop: threading.Event

    @property
    def ports(self) -> dict[str, int]:
        return self.running.ports


@contextmanager
def device_service(bootstrap: str, data: ReferenceData, *, teltonika: TeltonikaOptions | None = None,
                   http: bool = False, queclink: QueclinkOptions | None = None) -> Iterator[Service]:
    """`devices serve` on free loopback ports in a thread; stopped (and flushed) on exit."""
    options = ServeOptions(
        bootstrap=bootstrap,
        teltonika=teltonika or TeltonikaOptions(port=0),
        queclink=queclink,
        http=HttpOptions(osmand_port=0, traccar_port=0) if http else HttpOptions(),
        summary_every_s=3600,
        reference_check_s=0.2,
    )
    stop, ready = threading.Event(), threading.Event()
    running: list[RunningDevices] = []
    thread = threading.Thread(target=run_devices, args=(options, DeviceDirectory(reference=data), stop, ready, running),
                              daemon=True)
    thread.start()
    if not ready.wait(20):
        stop.set()
        raise RuntimeError("devices serve did not start within 20 s")
    try:
        yield Service(running[0], stop)
    finally:
        stop.set()
        thread.join(20)


class HeldProducer:
    """Stands in for confluent_kafka.Producer: a record is acknowledged (or fails) only when the test says so, from
    the test's thread, and the delivery report reaches the publisher at its next ``poll``, as librdkafka hands it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes, Future]] = []
        self.lock = threading.Lock()
        self.reports: queue.SimpleQueue[tuple[Callable[[Any, Any], None], BaseException | None]] = queue.SimpleQueue()

    def produce(self, topic: str, value: bytes | None = None, key: bytes | None = None, *,
                on_delivery: Callable[[Any, Any], None] | None = None) -> None:
        future = Future()
        if on_delivery is not None:
            future.add_callback(lambda _: self.reports.put((on_delivery, None)))
            future.add_errback(lambda error: self.reports.put((on_delivery, error)))
        with self.lock:
            self.sent.append((topic, key, value or b"", future))

    def poll(self, timeout: float) -> int:
        served = 0
        while not self.reports.empty():
            report, error = self.reports.get_nowait()
            report(error, None)
            served += 1
        return served

    def purge(self) -> None:
        self.settle(RuntimeError("purged"))

    def close(self) -> bool:
        return True

    def settle(self, error: Exception | None = None) -> int:
        with self.lock:
            pending = [f for *_, f in self.sent if not f.is_done]
        for future in pending:
            if error is None:
                future.success(None)
            else:
                future.failure(error)
        return len(pending)


@contextmanager
def held_listener(
    listener_type: type[TcpDeviceListener], options: ListenerOptions, data: ReferenceData
) -> Iterator[tuple[HeldProducer, int, DeviceCounters]]:
    """A TCP device listener on its own loop in a thread, publishing to a HeldProducer: (producer, port, counters)."""
    producer = HeldProducer()
    counters = DeviceCounters()
    loop = asyncio.new_event_loop()
    publisher = DevicePublisher(producer)
    server = listener_type(options, DeviceDirectory(reference=data), publisher, counters)
    port = loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield producer, port, counters
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(5)
        producer.settle()  # what a test left unanswered, so that closing does not give it up
        asyncio.run_coroutine_threadsafe(publisher.close(timeout_s=1), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def wait_until(condition: Callable[[], object], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)
