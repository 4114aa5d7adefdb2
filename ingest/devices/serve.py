"""`truckguard devices serve`: runs the device listeners in one asyncio loop until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import resource
import threading
from dataclasses import dataclass, field

from ingest.devices.counters import DeviceCounters
from ingest.devices.directory import DeviceDirectory
from ingest.devices.http_server import DeviceHttp, HttpOptions
from ingest.devices.publisher import DevicePublisher, make_device_producer
from ingest.devices.queclink_server import QueclinkOptions, QueclinkServer
from ingest.devices.teltonika_server import TeltonikaOptions, TeltonikaServer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    bootstrap: str
    teltonika: TeltonikaOptions | None = None
    queclink: QueclinkOptions | None = None
    http: HttpOptions = field(default_factory=HttpOptions)
    summary_every_s: float = 60.0
    reference_check_s: float = 5.0


@dataclass
class RunningDevices:
    """What a started device service listens on (ports actually bound) and counts."""

    ports: dict[str, int]
    counters: DeviceCounters


DESCRIPTORS_BESIDE_DEVICES = 256
"""File descriptors the process needs besides its device connections: Kafka, the HTTP listeners, logs, the loop."""


def raise_descriptor_limit(connections: int) -> int:
    """Raises the process's soft limit on open files so that ``connections`` sockets fit, as far as the hard limit
    allows; returns the connections that fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = connections + DESCRIPTORS_BESIDE_DEVICES
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return connections
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    fit = target - DESCRIPTORS_BESIDE_DEVICES
    if fit < connections:
        log.warning("the open-file limit (hard %d) holds only %d device connections, not %d: raise it (ulimit -Hn)",
                    hard, fit, connections)
    return max(1, fit)


async def serve_devices(options: ServeOptions, directory: DeviceDirectory, stop: asyncio.Event,
                        started: asyncio.Future[RunningDevices] | None = None) -> DeviceCounters:
    """Listens until ``stop`` is set; then closes the listeners and flushes what is still in flight."""
    tcp = [o for o in (options.teltonika, options.queclink) if o is not None]
    if not tcp and options.http.osmand_port is None and options.http.traccar_port is None:
        raise ValueError("no listener asked for: give --teltonika, --queclink, --osmand and/or --traccar a port")
    loop = asyncio.get_running_loop()
    publisher = DevicePublisher(make_device_producer(options.bootstrap, "truckguard-devices"))
    counters = DeviceCounters()
    teltonika: TeltonikaServer | None = None
    queclink: QueclinkServer | None = None
    http = DeviceHttp(directory, publisher, counters)
    try:
        ports: dict[str, int] = {}
        # The TCP listeners share one count of connected units (DeviceCounters.connected) and one open-file budget.
        fit = raise_descriptor_limit(max(o.max_connections for o in tcp)) if tcp else 0
        if options.teltonika is not None:
            teltonika_options = dataclasses.replace(options.teltonika,
                                                    max_connections=min(fit, options.teltonika.max_connections))
            teltonika = TeltonikaServer(teltonika_options, directory, publisher, counters)
            ports["teltonika"] = await teltonika.start()
        if options.queclink is not None:
            queclink_options = dataclasses.replace(options.queclink,
                                                   max_connections=min(fit, options.queclink.max_connections))
            queclink = QueclinkServer(queclink_options, directory, publisher, counters)
            ports["queclink"] = await queclink.start()
        ports.update(await http.start(options.http))
        if started is not None:
            started.set_result(RunningDevices(ports, counters))
        next_summary = loop.time() + options.summary_every_s
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), options.reference_check_s)
            if await loop.run_in_executor(None, directory.refresh):
                log.info("reference data changed: device registrations reloaded")
            if loop.time() >= next_summary:
                counters.log_summary()
                next_summary = loop.time() + options.summary_every_s
    finally:
        if teltonika is not None:
            await teltonika.close()
        if queclink is not None:
            await queclink.close()
        await http.close()
        unacknowledged = await publisher.close()
        if unacknowledged:
            log.warning("%d records not acknowledged at shutdown: their devices were not answered and resend them",
                        unacknowledged)
        counters.log_summary()
    return counters


def run_devices(options: ServeOptions, directory: DeviceDirectory, stop: threading.Event,
                ready: threading.Event | None = None, running: list[RunningDevices] | None = None) -> DeviceCounters:
    """Blocking entry point: serves until the threading event ``stop`` is set (the CLI's signal handler sets it)."""

    async def main() -> DeviceCounters:
        loop = asyncio.get_running_loop()
        async_stop = asyncio.Event()
        started: asyncio.Future[RunningDevices] = loop.create_future()

        def watch() -> None:
            stop.wait()
            loop.call_soon_threadsafe(async_stop.set)

        threading.Thread(target=watch, name="devices-stop", daemon=True).start()

        def announce(future: asyncio.Future[RunningDevices]) -> None:
            if not future.cancelled() and future.exception() is None:
                if running is not None:
                    running.append(future.result())
                if ready is not None:
                    ready.set()

        started.add_done_callback(announce)
        return await serve_devices(options, directory, async_stop, started)

    return asyncio.run(main())
