"""What every TCP device listener shares: listening, one task per connection within the process's connection
limit, closing, and refusals counted and dead-lettered with their reason. A protocol's listener says how it
converses with one unit (``_converse``); everything around a conversation is here, once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import ClassVar, Protocol

from ingest.devices.counters import DeviceCounters
from ingest.devices.directory import DeviceDirectory
from ingest.devices.publisher import DevicePublisher

log = logging.getLogger(__name__)

TURNED_AWAY_LOG_S = 10.0
"""A flood of connections over the limit must not become a flood of log lines: one line this often at most."""


class ListenerOptions(Protocol):
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def max_connections(self) -> int: ...


class TcpDeviceListener:
    """Listens on options.host:port and serves each unit in its own task; subclasses converse."""

    listener: ClassVar[str]
    """The listener's name in counters, dead letters and log lines ("teltonika", "queclink")."""
    serves: ClassVar[str]
    """What the start-up log line says it serves."""
    stream_limit: ClassVar[int] = 2 * 1024 * 1024
    """What a read may buffer (a protocol framed by a terminator bounds its message with this)."""

    def __init__(self, options: ListenerOptions, directory: DeviceDirectory, publisher: DevicePublisher,
                 counters: DeviceCounters) -> None:
        self.options = options
        self.directory = directory
        self.publisher = publisher
        self.counters = counters
        self.server: asyncio.Server | None = None
        self.connections: set[asyncio.Task[None]] = set()
        self._turned_away_logged = 0.0

    async def start(self) -> int:
        """Listens; returns the port (useful when options.port is 0)."""
        self.server = await asyncio.start_server(self._serve, self.options.host, self.options.port,
                                                 limit=self.stream_limit)
        port: int = self.server.sockets[0].getsockname()[1]
        log.info("%s on %s:%d", self.serves, self.options.host, port)
        return port

    async def close(self) -> None:
        """Stops listening and closes every connection (a unit resends what was not acknowledged)."""
        if self.server is not None:
            self.server.close()
        for task in list(self.connections):
            task.cancel()
        if self.connections:
            await asyncio.wait(self.connections, timeout=5)
        if self.server is not None:
            await self.server.wait_closed()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> None:
        raise NotImplementedError

    def _reject(self, reason: str, detail: str, raw: bytes | None, key: str | None, peer: str) -> None:
        """Counts a refusal and dead-letters what was refused, with its reason."""
        self.counters.reject(self.listener, reason)
        log.warning("%s %s from %s (%s): %s", self.listener, reason, peer, key or "no IMEI yet", detail)
        self.publisher.dead_letter(self.listener, f"{reason}: {detail} (peer {peer})", raw, key)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = writer.get_extra_info("peername")
        peer = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
        # One limit for every TCP unit of the process, as the open-file budget is one (serve.py sets both).
        if self.counters.connected >= self.options.max_connections:
            self._turn_away(writer, peer)
            return
        task = asyncio.current_task()
        if task is not None:
            self.connections.add(task)
        self.counters.connected += 1
        try:
            await self._converse(reader, writer, peer)
        except Exception:  # one unit's failure must never stop the others
            log.exception("%s connection from %s failed", self.listener, peer)
        finally:
            self.counters.connected -= 1
            if task is not None:
                self.connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    def _turn_away(self, writer: asyncio.StreamWriter, peer: str) -> None:
        """Closes a connection over the limit at once; counted, and logged at most every TURNED_AWAY_LOG_S. There
        is no input to dead-letter."""
        writer.transport.abort()
        self.counters.reject(self.listener, "too_many_connections")
        now = time.monotonic()
        if now - self._turned_away_logged >= TURNED_AWAY_LOG_S:
            self._turned_away_logged = now
            total = self.counters.rejected[(self.listener, "too_many_connections")]
            log.warning("%s connection from %s closed: %d connected, the limit (%d turned away so far)",
                        self.listener, peer, self.counters.connected, total)
