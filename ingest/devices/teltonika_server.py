"""The Teltonika TCP listener: one asyncio task per connected device, records acknowledged only once Kafka has them."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from ingest.devices.publisher import NotAcknowledged
from ingest.devices.tcp_listener import TcpDeviceListener
from telematics.devices.teltonika import (
    ACCEPT,
    CRC_BYTES,
    HEADER_BYTES,
    REFUSE,
    TeltonikaError,
    check_crc,
    data_length,
    decode_data,
    decode_imei,
    encode_ack,
    imei_length,
)
from telematics.devices.teltonika_telemetry import NO_INPUTS, InputAssignments, avl_to_telemetry
from telematics.validation import InvalidRecord

log = logging.getLogger(__name__)

LISTENER = "teltonika"
MAX_BAD_PACKETS_IN_A_ROW = 3
"""A unit resends a packet whose CRC failed; three failures in a row is a broken link or a flood, not noise."""


@dataclass(frozen=True)
class TeltonikaOptions:
    host: str = "127.0.0.1"
    port: int = 5027
    """Teltonika's own servers and Traccar use 5027 for Teltonika units."""
    idle_timeout_s: float = 600.0
    """An FMB unit keeps its link open between records (its "Open link timeout", 300 s by default) and sends at
    least every few minutes while parked; a connection silent for twice that is dead and is closed."""
    read_timeout_s: float = 30.0
    """Once a packet's header has arrived, the rest must follow within this: a unit that stalls mid-packet is cut."""
    max_connections: int = 5000
    """Connections served at once; one more is closed as soon as it is accepted (see Settings)."""
    inputs: InputAssignments = NO_INPUTS


class TeltonikaServer(TcpDeviceListener):
    """Accepts Teltonika units, maps their AVL records to contract records and publishes them."""

    listener = LISTENER
    serves = "Teltonika listener (Codec 8, 8 Extended, 16)"
    options: TeltonikaOptions

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> None:
        options = self.options
        imei: str | None = None
        buffered = b""
        try:
            async with asyncio.timeout(options.read_timeout_s):
                prefix = await reader.readexactly(2)
                buffered = prefix
                payload = await reader.readexactly(imei_length(prefix))
                buffered += payload
            imei = decode_imei(payload)
            vehicle_id = self.directory.vehicle_for(imei)
            if vehicle_id is None:
                writer.write(REFUSE)
                await writer.drain()
                self._reject("unknown_device", f"IMEI {imei} is in no vehicle's device_ids", buffered, imei, peer)
                return
            writer.write(ACCEPT)
            await writer.drain()
            log.info("teltonika unit %s (vehicle %s) connected from %s", imei, vehicle_id, peer)
            bad_in_a_row = 0
            loop = asyncio.get_running_loop()
            while True:
                buffered = b""
                # One timer per packet (asyncio.wait_for would start a task per read): the idle timeout until the
                # header, then the read timeout for the rest.
                async with asyncio.timeout(options.idle_timeout_s) as deadline:
                    header = await reader.readexactly(HEADER_BYTES)
                    buffered = header
                    length = data_length(header)
                    deadline.reschedule(loop.time() + options.read_timeout_s)
                    body = await reader.readexactly(length + CRC_BYTES)
                    buffered += body
                outcome = await self._packet(vehicle_id, imei, body[:length], body[length:], buffered, writer, peer)
                if outcome is None:
                    return
                bad_in_a_row = 0 if outcome else bad_in_a_row + 1
                if bad_in_a_row >= MAX_BAD_PACKETS_IN_A_ROW:
                    self._reject("too_many_bad_packets", f"{bad_in_a_row} bad packets in a row, connection closed",
                                 None, imei, peer)
                    return
        except TeltonikaError as exc:
            # Framing is lost (bad preamble, impossible length, not an IMEI): nothing after it can be trusted.
            if imei is None:
                writer.write(REFUSE)  # what a unit is told when the server will not take it
            self._reject(exc.reason, exc.detail, buffered[:4096] or None, imei, peer)
        except asyncio.IncompleteReadError as exc:
            if buffered or exc.partial:
                got = len(buffered) + len(exc.partial)
                self._reject("truncated", f"connection closed mid-packet after {got} bytes", buffered + exc.partial,
                             imei, peer)
        except TimeoutError:
            if buffered:
                self._reject("timeout", f"stalled mid-packet after {len(buffered)} bytes", buffered, imei, peer)
            else:
                log.info("teltonika unit %s at %s idle, connection closed", imei or "(no IMEI)", peer)
        except ConnectionError as exc:
            log.info("teltonika unit %s at %s: connection lost (%s)", imei or "(no IMEI)", peer, exc)

    async def _packet(self, vehicle_id: str, imei: str, data: bytes, crc: bytes, raw: bytes,
                      writer: asyncio.StreamWriter, peer: str) -> bool | None:
        """One framed packet: True when acknowledged, False when refused, None when the connection must close."""
        try:
            check_crc(data, crc)
        except TeltonikaError as exc:
            # Framing held (the length was plausible): no ACK, the unit resends the packet, as the protocol intends.
            self._reject(exc.reason, exc.detail, raw, imei, peer)
            return False
        try:
            packet = decode_data(data)
        except TeltonikaError as exc:
            self._reject(exc.reason, exc.detail, raw, imei, peer)
            return None
        records = []
        for index, avl in enumerate(packet.records):
            try:
                records.append(avl_to_telemetry(avl, vehicle_id, self.options.inputs))
            except InvalidRecord as exc:
                # Stored with its reason in the dead-letter topic, so acknowledged: a unit told to resend a record
                # that can never pass would resend it forever and hold back everything recorded after it.
                self._reject("invalid_record", f"record {index}: {exc}", raw, imei, peer)
        try:
            await self.publisher.publish(vehicle_id, records)
        except NotAcknowledged as exc:
            log.error("teltonika unit %s: %s; no ACK, the unit will resend", imei, exc)
            self.counters.reject(LISTENER, "not_acknowledged", len(records))
            return None
        self.counters.accept(LISTENER, len(records))
        writer.write(encode_ack(len(packet.records)))
        await writer.drain()
        return True
