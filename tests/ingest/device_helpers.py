"""Starting `devices serve` in-process against a broker, with a fleet whose vehicles list device ids."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from ingest.devices.directory import DeviceDirectory
from ingest.devices.http_server import HttpOptions
from ingest.devices.queclink_server import QueclinkOptions
from ingest.devices.serve import RunningDevices, ServeOptions, run_devices
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
