"""The device publisher: a packet's records are acknowledged together, a full backlog waits, a failure refuses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from ingest.devices.publisher import DevicePublisher, NotAcknowledged
from ingest.topics import DEADLETTER, TELEMETRY


class ScriptedProducer:
    """librdkafka's calling pattern without a broker: every report is served at the next ``poll``; the first ``full``
    sends are refused with BufferError (a full backlog), and the record whose value holds ``fail_on`` fails."""

    def __init__(self, *, full: int = 0, fail_on: bytes | None = None) -> None:
        self.full = full
        self.fail_on = fail_on
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self.pending: list[tuple[Callable[[Any, Any], None], Any]] = []
        self.closed = False

    def produce(self, topic: str, value: bytes | None = None, key: bytes | None = None, *,
                on_delivery: Callable[[Any, Any], None] | None = None) -> None:
        if self.full:
            self.full -= 1
            raise BufferError("Local: Queue full")
        self.sent.append((topic, key, value or b""))
        if on_delivery is not None:
            failed = self.fail_on is not None and self.fail_on in (value or b"")
            self.pending.append((on_delivery, "broker down" if failed else None))

    def poll(self, timeout: float) -> int:
        served, self.pending = self.pending, []
        for report, error in served:
            report(error, None)
        return len(served)

    def purge(self) -> None:
        self.pending.clear()

    def close(self) -> bool:
        self.closed = True
        return True


def _records(n: int) -> list[dict[str, Any]]:
    return [{"vehicle_id": "NF-101", "ts": f"2026-01-05T10:00:{i:02d}Z", "seq": i} for i in range(n)]


async def _publish_then_close(publisher: DevicePublisher, records: list[dict[str, Any]]) -> int:
    try:
        await asyncio.wait_for(publisher.publish("NF-101", records), 5)
    finally:
        unacknowledged = await publisher.close(timeout_s=1)
    return unacknowledged


def test_a_packet_is_acknowledged_once_every_record_is() -> None:
    producer = ScriptedProducer(full=3)  # the backlog is full at first: the send waits, then goes through
    publisher = DevicePublisher(producer)
    assert asyncio.run(_publish_then_close(publisher, _records(5))) == 0
    assert [(t, k) for t, k, _ in producer.sent] == [(TELEMETRY, b"NF-101")] * 5
    assert [orjson.loads(v)["seq"] for *_, v in producer.sent] == [0, 1, 2, 3, 4]
    assert producer.closed


def test_one_failed_record_fails_the_packet() -> None:
    publisher = DevicePublisher(ScriptedProducer(fail_on=b'"seq":3'))
    with pytest.raises(NotAcknowledged, match="broker down"):
        asyncio.run(_publish_then_close(publisher, _records(5)))
    assert publisher.in_flight == 0  # the other reports were served all the same


def test_dead_letters_name_the_listener_and_keep_the_input() -> None:
    producer = ScriptedProducer()
    publisher = DevicePublisher(producer)

    async def reject() -> int:
        publisher.dead_letter("teltonika", "bad_crc: CRC field 0000abcd", b"\x00\x00\x00\x00", "356307042441013")
        return await publisher.close(timeout_s=1)

    assert asyncio.run(reject()) == 0
    topic, key, value = producer.sent[0]
    letter = orjson.loads(value)
    assert (topic, key, letter["topic"], letter["partition"], letter["error"]) == (
        DEADLETTER, b"356307042441013", "teltonika", -1, "bad_crc: CRC field 0000abcd")
    assert letter["raw"] == "\x00\x00\x00\x00"
