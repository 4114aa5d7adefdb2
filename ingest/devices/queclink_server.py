"""The Queclink @Track TCP listener: one asyncio task per connected unit, messages acknowledged once Kafka has them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from ingest.devices.publisher import NotAcknowledged
from ingest.devices.tcp_listener import TcpDeviceListener
from telematics.devices.queclink import (
    MAX_MESSAGE_BYTES,
    TAIL,
    QueclinkError,
    QueclinkMessage,
    QueclinkReport,
    decode_report,
    parse_message,
    sack,
)
from telematics.devices.queclink_telemetry import NO_INPUTS, DigitalInputs, block_to_telemetry, clock_offset_ms
from telematics.validation import InvalidRecord

log = logging.getLogger(__name__)

LISTENER = "queclink"
MAX_BAD_MESSAGES_IN_A_ROW = 3
"""A unit sends well-formed messages; three broken ones in a row is the wrong protocol, a broken link or a flood."""
_BETWEEN_MESSAGES = frozenset(b"\r\n\t \x00")
"""Bytes some firmwares put between messages (line ends, a NUL after the ``$``): skipped, not messages."""


@dataclass(frozen=True)
class QueclinkOptions:
    host: str = "127.0.0.1"
    port: int = 5004
    """Traccar serves Queclink's @Track protocol (its "gl200" decoder) on 5004."""
    idle_timeout_s: float = 600.0
    """A unit in TCP long-connection mode sends its heartbeat (AT+GTSRI <Heartbeat Interval>, minutes) or a report
    at least that often; a connection silent this long is dead and is closed."""
    read_timeout_s: float = 30.0
    """Once a message has begun, its ``$`` must follow within this: a unit that stalls mid-message is cut."""
    max_connections: int = 5000
    """Device connections served at once, counted together with the Teltonika listener's (see Settings)."""
    inputs: DigitalInputs = NO_INPUTS


class QueclinkServer(TcpDeviceListener):
    """Accepts Queclink units, maps their reports to contract records and publishes them."""

    listener = LISTENER
    serves = "Queclink @Track listener (ASCII reports)"
    stream_limit = MAX_MESSAGE_BYTES
    """The stream limit bounds what readuntil buffers while looking for a message's '$'."""
    options: QueclinkOptions

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> None:
        options = self.options
        loop = asyncio.get_running_loop()
        imei: str | None = None
        vehicle_id = ""
        bad_in_a_row = 0
        clock = _UnitClock()
        buffered = b""
        try:
            while True:
                buffered = b""
                # One timer per message: the idle timeout until its first byte, then the read timeout for the rest.
                async with asyncio.timeout(options.idle_timeout_s) as deadline:
                    first = await reader.readexactly(1)
                    if first[0] in _BETWEEN_MESSAGES:
                        continue
                    buffered = first
                    deadline.reschedule(loop.time() + options.read_timeout_s)
                    buffered += await reader.readuntil(TAIL)
                try:
                    message = parse_message(buffered)
                except QueclinkError as exc:
                    bad_in_a_row += 1
                    if self._refused(exc, buffered, imei, peer, bad_in_a_row):
                        return
                    continue
                if imei is None:
                    found = self.directory.vehicle_for(message.imei)
                    if found is None:
                        detail = f"IMEI {message.imei} is in no vehicle's device_ids"
                        self._reject("unknown_device", detail, buffered, message.imei, peer)
                        return
                    imei, vehicle_id = message.imei, found
                    log.info("queclink unit %s (vehicle %s) connected from %s", imei, vehicle_id, peer)
                elif message.imei != imei:
                    detail = f"IMEI {message.imei} on the connection of {imei}, connection closed"
                    self._reject("imei_changed", detail, buffered, imei, peer)
                    return
                try:
                    report = decode_report(message)
                except QueclinkError as exc:
                    # The frame was sound but the report's fields are not: refused, not acknowledged.
                    bad_in_a_row += 1
                    if self._refused(exc, buffered, imei, peer, bad_in_a_row):
                        return
                    continue
                bad_in_a_row = 0
                if report is not None:
                    clock.learn(report, imei)
                if not await self._message(message, report, vehicle_id, buffered, writer, peer, clock.offset_ms):
                    return
        except asyncio.LimitOverrunError:
            self._reject(
                "oversized",
                f"no '$' within {MAX_MESSAGE_BYTES} bytes, connection closed",
                buffered + await _pending(reader),
                imei,
                peer,
            )
        except asyncio.IncompleteReadError as exc:
            partial = buffered + exc.partial
            if partial.strip(bytes(_BETWEEN_MESSAGES)):
                self._reject(
                    "truncated", f"connection closed mid-message after {len(partial)} bytes", partial, imei, peer
                )
        except TimeoutError:
            if buffered:
                buffered += await _pending(reader)  # what readuntil had taken in before the time ran out
                self._reject("timeout", f"stalled mid-message after {len(buffered)} bytes", buffered, imei, peer)
            else:
                log.info("queclink unit %s at %s idle, connection closed", imei or "(no IMEI)", peer)
        except ConnectionError as exc:
            log.info("queclink unit %s at %s: connection lost (%s)", imei or "(no IMEI)", peer, exc)

    def _refused(self, exc: QueclinkError, raw: bytes, imei: str | None, peer: str, bad_in_a_row: int) -> bool:
        """Dead-letters a message that breaks the format (no acknowledgement); True when the connection must close."""
        self._reject(exc.reason, exc.detail, raw, imei, peer)
        if bad_in_a_row < MAX_BAD_MESSAGES_IN_A_ROW:
            return False
        self._reject(
            "too_many_bad_messages", f"{bad_in_a_row} bad messages in a row, connection closed", None, imei, peer
        )
        return True

    async def _message(
        self,
        message: QueclinkMessage,
        report: QueclinkReport | None,
        vehicle_id: str,
        raw: bytes,
        writer: asyncio.StreamWriter,
        peer: str,
        unit_clock_offset_ms: int,
    ) -> bool:
        """One well-formed message: published, then acknowledged; False when the connection must close."""
        records: list[dict[str, Any]] = []
        if report is not None:
            for index in range(len(report.blocks)):
                try:
                    records.append(
                        block_to_telemetry(report, index, vehicle_id, self.options.inputs, unit_clock_offset_ms)
                    )
                except InvalidRecord as exc:
                    # Stored with its reason in the dead-letter topic, so acknowledged: a unit told to resend a
                    # report that can never pass would resend it forever.
                    self._reject("invalid_record", f"{message.name} position {index}: {exc}", raw, message.imei, peer)
        try:
            await self.publisher.publish(vehicle_id, records)
        except NotAcknowledged as exc:
            log.error("queclink unit %s: %s; no acknowledgement, connection closed", message.imei, exc)
            self.counters.reject(LISTENER, "not_acknowledged", len(records))
            return False
        self.counters.accept(LISTENER, len(records))
        writer.write(sack(message))
        await writer.drain()
        return True


class _UnitClock:
    """How far one connected unit's clock is from UTC, as its messages with a fix show (clock_offset_ms): a record
    without a fix is timed by the send time, so a unit set to local time would put it hours off."""

    __slots__ = ("offset_ms",)

    def __init__(self) -> None:
        self.offset_ms = 0

    def learn(self, report: QueclinkReport, imei: str) -> None:
        learned = clock_offset_ms(report)
        if learned is None or learned == self.offset_ms:
            return
        if learned:
            log.warning(
                "queclink unit %s sends its clock %+.2f h from UTC (AT+GTTMZ): records without a fix are set back "
                "to UTC; set the unit to +0000",
                imei,
                learned / 3_600_000,
            )
        self.offset_ms = learned


async def _pending(reader: asyncio.StreamReader) -> bytes:
    """What the stream holds already, up to the limit: the rest of a message that is refused for its size or for
    stalling, for its dead letter."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(0.1):
            return await reader.read(MAX_MESSAGE_BYTES)
    return b""
