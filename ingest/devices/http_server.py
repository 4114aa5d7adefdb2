"""The HTTP listeners: the OsmAnd protocol of phone apps and simple trackers, and a Traccar server's forwarding."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ingest.devices.counters import DeviceCounters
from ingest.devices.directory import DeviceDirectory
from ingest.devices.publisher import DevicePublisher, NotAcknowledged
from telematics.devices.osmand import osmand_reports
from telematics.devices.telemetry import DeviceMessageError, DeviceReport
from telematics.devices.traccar import MAX_JSON_BYTES, decode_forward
from telematics.validation import InvalidRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HttpOptions:
    host: str = "127.0.0.1"
    osmand_port: int | None = None
    """Traccar serves the OsmAnd protocol on 5055; phone apps are configured with that port by default."""
    traccar_port: int | None = None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class DeviceHttp:
    """aiohttp applications for both protocols; each answers 200 only after Kafka acknowledged the records."""

    def __init__(self, directory: DeviceDirectory, publisher: DevicePublisher, counters: DeviceCounters,
                 clock: Callable[[], int] = _now_ms) -> None:
        self.directory = directory
        self.publisher = publisher
        self.counters = counters
        self.clock = clock
        self.runners: list[web.AppRunner] = []

    def _reject(self, listener: str, status: int, reason: str, detail: str, raw: bytes | None,
                key: str | None, peer: str) -> web.Response:
        self.counters.reject(listener, reason)
        log.warning("%s %s from %s (%s): %s", listener, reason, peer, key or "no device id", detail)
        self.publisher.dead_letter(listener, f"{reason}: {detail} (peer {peer})", raw, key)
        return web.Response(status=status, text=f"{reason}: {detail}\n")

    async def _publish(self, listener: str, reports: list[DeviceReport], raw: bytes, peer: str) -> web.Response:
        by_vehicle: dict[str, list[dict[str, Any]]] = {}
        for report in reports:
            vehicle_id = self.directory.vehicle_for(report.device_id)
            if vehicle_id is None:
                detail = f"device {report.device_id!r} is in no vehicle's device_ids"
                return self._reject(listener, 403, "unknown_device", detail, raw, report.device_id, peer)
            try:
                by_vehicle.setdefault(vehicle_id, []).append(report.to_record(vehicle_id))
            except InvalidRecord as exc:
                return self._reject(listener, 400, "invalid_record", str(exc), raw, report.device_id, peer)
        try:
            for vehicle_id, records in by_vehicle.items():
                await self.publisher.publish(vehicle_id, records)
        except NotAcknowledged as exc:
            log.error("%s: %s; answering 503 so the sender retries", listener, exc)
            self.counters.reject(listener, "not_acknowledged")
            return web.Response(status=503, text="not stored, retry\n")
        self.counters.accept(listener, sum(len(r) for r in by_vehicle.values()))
        return web.Response(status=200, text="OK\n")

    async def _body(self, listener: str, request: web.Request) -> bytes | web.Response:
        try:
            return await request.read()
        except web.HTTPRequestEntityTooLarge:
            detail = f"body over {MAX_JSON_BYTES} bytes"
            return self._reject(listener, 413, "oversized", detail, None, None, request.remote or "?")

    async def osmand(self, request: web.Request) -> web.Response:
        body = await self._body("osmand", request)
        if isinstance(body, web.Response):
            return body
        peer = request.remote or "?"
        query = {k: v for k, v in request.query.items()}
        raw = request.path_qs.encode() + (b" " + body if body else b"")
        try:
            reports = osmand_reports(query, body, request.content_type, self.clock())
        except DeviceMessageError as exc:
            return self._reject("osmand", 400, exc.reason, exc.detail, raw, query.get("id"), peer)
        return await self._publish("osmand", reports, raw, peer)

    async def traccar(self, request: web.Request) -> web.Response:
        body = await self._body("traccar", request)
        if isinstance(body, web.Response):
            return body
        peer = request.remote or "?"
        try:
            report = decode_forward(body)
        except DeviceMessageError as exc:
            return self._reject("traccar", 400, exc.reason, exc.detail, body, None, peer)
        if report is None:  # an event with no vehicle fact in it (device online, geofence, ...): nothing to do
            self.counters.reject("traccar", "event_without_record")
            return web.Response(status=200, text="ignored\n")
        return await self._publish("traccar", [report], body, peer)

    async def metrics(self, _request: web.Request) -> web.Response:
        return web.Response(text=self.counters.prometheus(), content_type="text/plain")

    def app(self, handler: Callable[[web.Request], object]) -> web.Application:
        app = web.Application(client_max_size=MAX_JSON_BYTES)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_route("*", "/{tail:.*}", handler)  # type: ignore[arg-type]
        return app

    async def start(self, options: HttpOptions) -> dict[str, int]:
        """Starts the listeners that have a port; returns the ports bound (useful with port 0)."""
        ports: dict[str, int] = {}
        for name, port, handler in (("osmand", options.osmand_port, self.osmand),
                                    ("traccar", options.traccar_port, self.traccar)):
            if port is None:
                continue
            runner = web.AppRunner(self.app(handler), access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, options.host, port)
            await site.start()
            self.runners.append(runner)
            bound = runner.addresses[0][1]
            ports[name] = bound
            log.info("%s listener on http://%s:%d/", name, options.host, bound)
        return ports

    async def close(self) -> None:
        for runner in self.runners:
            await runner.cleanup()
        self.runners.clear()
