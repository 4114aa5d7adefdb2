"""The Queclink listener over real TCP: against a producer whose acknowledgements the test holds, and end to end
through the embedded broker."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingest.devices.counters import DeviceCounters
from ingest.devices.queclink_server import QueclinkOptions, QueclinkServer
from ingest.topics import DEADLETTER, TELEMETRY
from telematics.devices.queclink import format_message
from telematics.timeutil import parse_rfc3339_ms
from telematics.validation import validate_record
from tests.ingest.device_helpers import HeldProducer, device_service, held_listener, reference, wait_until
from tests.ingest.kafka_helpers import read_all
from tests.telematics.test_devices_queclink import (
    BLOCK,
    GL300_FRI_TWO_POSITIONS,
    GMT100_HEARTBEAT,
    GMT100_HEARTBEAT_SACK,
    GMT100_SOS,
    IMEI,
    REAL_GV58LAU_IGN,
    REAL_GV58LAU_JDS,
    REAL_GV58LAU_VER,
)

DOC_UNIT = {IMEI: "QL-1"}
"""The documents' examples all carry the IMEI 135790246811220: a vehicle lists it."""


def _connect(port: int, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def _reply(sock: socket.socket) -> bytes:
    """One answer of the server, up to its '$'."""
    data = b""
    while not data.endswith(b"$"):
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    return data


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(5)
    try:
        return sock.recv(64) == b""
    except ConnectionResetError:
        return True


def _report(name: str, count: int, second: int, imei: str = IMEI, **overrides: str) -> bytes:
    """A GV300 report in the documented layout, one position with a fix."""
    block = [*BLOCK]
    block[6] = f"202511240915{second:02d}"
    params = {"GTFRI": ["", "10", "1", *block, "0.0"], "GTIGF": ["30", *block, ""]}[name]
    for index, value in overrides.items():
        params[int(index[1:])] = value
    return format_message("+RESP", name, "060100", imei, params, f"202511240915{second:02d}", count)


def _listener(**options: Any) -> AbstractContextManager[tuple[HeldProducer, int, DeviceCounters]]:
    """A Queclink listener on its own loop in a thread, publishing to a HeldProducer."""
    return held_listener(QueclinkServer, QueclinkOptions(port=0, **options), reference(DOC_UNIT))


@pytest.fixture
def held() -> Iterator[tuple[HeldProducer, int, DeviceCounters]]:
    with _listener(read_timeout_s=2.0) as running:
        yield running


def _sent(producer: HeldProducer, topic: str) -> list[dict]:
    with producer.lock:
        return [orjson.loads(value) for t, _, value, _ in producer.sent if t == topic]


def test_no_sack_until_kafka_acknowledged(held: tuple[HeldProducer, int, DeviceCounters]) -> None:
    producer, port, counters = held
    sock = _connect(port)
    sock.sendall(GL300_FRI_TWO_POSITIONS)
    wait_until(lambda: len(_sent(producer, TELEMETRY)) == 2)
    sock.settimeout(0.5)
    with pytest.raises(TimeoutError):
        sock.recv(16)  # two records sent to Kafka, neither acknowledged yet: the unit hears nothing
    assert producer.settle() == 2
    sock.settimeout(5)
    assert _reply(sock) == b"+SACK:11F0$"
    assert counters.accepted["queclink"] == 2
    assert {r["vehicle_id"] for r in _sent(producer, TELEMETRY)} == {"QL-1"}
    sock.close()


def test_heartbeat_is_answered_and_publishes_nothing(held: tuple[HeldProducer, int, DeviceCounters]) -> None:
    producer, port, _ = held
    sock = _connect(port)
    sock.sendall(GMT100_HEARTBEAT + b"\r\n")  # a line end between messages is no message
    assert _reply(sock) == GMT100_HEARTBEAT_SACK
    sock.sendall(GMT100_SOS)
    wait_until(lambda: producer.sent)
    producer.settle()
    assert _reply(sock) == b"+SACK:11F0$"
    assert [r["event"] for r in _sent(producer, TELEMETRY)] == ["GTSOS"]
    sock.close()


def test_a_unit_with_a_ten_character_protocol_version_is_served() -> None:
    # A GV58LAU's real reports (see tests/telematics/test_devices_queclink.py), after a heartbeat made here.
    gv58lau = "866775051514578"
    with held_listener(QueclinkServer, QueclinkOptions(port=0), reference({gv58lau: "QL-58"})) as running:
        producer, port, counters = running
        sock = _connect(port)
        heartbeat = format_message("+ACK", "GTHBD", "8020040100", gv58lau, [], "20220907183600", 0x28E)
        sock.sendall(heartbeat)
        assert _reply(sock) == b"+SACK:GTHBD,8020040100,028E$"
        for raw, answer, records in (
            (REAL_GV58LAU_IGN, b"+SACK:02C0$", 1),
            (REAL_GV58LAU_JDS, b"+SACK:143B$", 2),
            (REAL_GV58LAU_VER, b"+SACK:028F$", 2),  # nothing to publish, acknowledged all the same
        ):
            sock.sendall(raw)
            wait_until(lambda n=records: len(producer.sent) == n)
            producer.settle()
            assert _reply(sock) == answer
        sent = _sent(producer, TELEMETRY)
        assert [(r["vehicle_id"], r["event"]) for r in sent] == [("QL-58", "GTIGN"), ("QL-58", "GTJDS")]
        assert sent[0]["ignition"] is True and sent[1]["gnss_jamming"] is False
        assert counters.accepted["queclink"] == 2 and not counters.rejected
        sock.close()


def test_a_unit_on_local_time_has_its_records_without_a_fix_set_back_to_utc(
    held: tuple[HeldProducer, int, DeviceCounters],
) -> None:
    # A unit set to UTC-4 (as a real GV300 is): a report with a fix at 13:15:00 UTC sent at 09:15:05 by its clock,
    # then an ignition report without a fix sent at 09:20:00 by its clock, which is 13:20:00 UTC.
    producer, port, _ = held
    fixed = [*BLOCK[:6], "20251124131500", *BLOCK[7:]]
    no_fix = ["0", *BLOCK[1:]]
    sock = _connect(port)
    sock.sendall(format_message("+RESP", "GTFRI", "060100", IMEI, ["", "10", "1", *fixed, "0.0"], "20251124091505", 1))
    sock.sendall(format_message("+RESP", "GTIGF", "060100", IMEI, ["30", *no_fix, ""], "20251124092000", 2))
    for published in (1, 2):  # each message is acknowledged before the next is read
        wait_until(lambda n=published: len(_sent(producer, TELEMETRY)) == n)
        producer.settle()
    times = [validate_record(r).ts_ms for r in _sent(producer, TELEMETRY)]
    assert times == [parse_rfc3339_ms("2025-11-24T13:15:00Z"), parse_rfc3339_ms("2025-11-24T13:20:00Z")]
    sock.close()


def test_a_failed_send_closes_the_connection_without_sack(held: tuple[HeldProducer, int, DeviceCounters]) -> None:
    producer, port, counters = held
    sock = _connect(port)
    sock.sendall(GMT100_SOS)
    wait_until(lambda: producer.sent)
    producer.settle(RuntimeError("broker down"))
    assert _closed_by_server(sock)  # no +SACK: the unit keeps the report
    assert counters.rejected[("queclink", "not_acknowledged")] == 1


def test_a_broken_message_is_dead_lettered_without_sack(held: tuple[HeldProducer, int, DeviceCounters]) -> None:
    producer, port, counters = held
    sock = _connect(port)
    sock.sendall(GMT100_SOS.replace(b",10,1,1,", b",10,2,1,"))  # <Number> announces a second position
    wait_until(lambda: _sent(producer, DEADLETTER))
    sock.settimeout(0.5)
    with pytest.raises(TimeoutError):
        sock.recv(16)
    assert "announces 2 position" in _sent(producer, DEADLETTER)[0]["error"]
    sock.sendall(GMT100_SOS)  # the link is fine: the next message is served
    wait_until(lambda: _sent(producer, TELEMETRY))
    producer.settle()
    sock.settimeout(5)
    assert _reply(sock) == b"+SACK:11F0$"
    assert counters.rejected[("queclink", "malformed")] == 1


def test_a_record_that_breaks_the_contract_is_stored_and_acknowledged(
    held: tuple[HeldProducer, int, DeviceCounters],
) -> None:
    producer, port, counters = held
    sock = _connect(port)
    sock.sendall(_report("GTFRI", 0x31, 0, b8="95.000000"))  # latitude 95
    wait_until(lambda: _sent(producer, DEADLETTER))
    sock.settimeout(5)
    assert _reply(sock) == b"+SACK:0031$"  # a unit told to resend it would resend it forever
    assert _sent(producer, TELEMETRY) == []
    assert counters.rejected[("queclink", "invalid_record")] == 1


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (b"GET / HTTP/1.1\r\n$", "bad_head"),  # garbage that happens to contain the tail character
        (GMT100_SOS.replace(b",10,1,1,", b",10,2,1,"), "malformed"),  # framed reports whose fields do not fit
    ],
)
def test_a_stream_of_bad_messages_closes_the_connection(
    held: tuple[HeldProducer, int, DeviceCounters], bad: bytes, reason: str
) -> None:
    _, port, counters = held
    sock = _connect(port)
    sock.sendall(bad * 3)
    assert _closed_by_server(sock)
    wait_until(lambda: counters.rejected[("queclink", "too_many_bad_messages")])
    assert counters.rejected[("queclink", reason)] == 3


def test_an_unknown_unit_and_a_second_imei_are_refused(held: tuple[HeldProducer, int, DeviceCounters]) -> None:
    producer, port, counters = held
    stranger = _connect(port)
    stranger.sendall(_report("GTFRI", 1, 0, imei="999999999999999"))
    assert _closed_by_server(stranger)
    swapper = _connect(port)
    swapper.sendall(GMT100_HEARTBEAT)
    assert _reply(swapper) == GMT100_HEARTBEAT_SACK
    swapper.sendall(_report("GTFRI", 2, 0, imei="999999999999999"))
    assert _closed_by_server(swapper)
    wait_until(lambda: len(_sent(producer, DEADLETTER)) == 2)
    assert counters.rejected[("queclink", "unknown_device")] == 1
    assert counters.rejected[("queclink", "imei_changed")] == 1
    assert _sent(producer, TELEMETRY) == []


def test_an_oversized_message_is_refused_before_it_is_read(held: tuple[HeldProducer, int, DeviceCounters]) -> None:
    producer, port, counters = held
    sock = _connect(port)
    sock.sendall(b"+RESP:GTFRI," + b"1" * 10_000)
    assert _closed_by_server(sock)
    wait_until(lambda: _sent(producer, DEADLETTER))
    assert counters.rejected[("queclink", "oversized")] == 1
    assert "no '$' within 4096 bytes" in _sent(producer, DEADLETTER)[0]["error"]


def test_a_unit_stalled_mid_message_is_cut_and_an_idle_one_closed() -> None:
    with _listener(read_timeout_s=0.3, idle_timeout_s=1.5) as (producer, port, counters):
        began = time.monotonic()
        stalled = _connect(port)
        stalled.sendall(GMT100_SOS[:40])
        idle = _connect(port)
        assert _closed_by_server(stalled)
        assert time.monotonic() - began < 1.2  # the read timeout, not the idle one
        assert _closed_by_server(idle)
        assert time.monotonic() - began >= 1.5
        wait_until(lambda: producer.sent)
        assert counters.rejected == {("queclink", "timeout"): 1}  # an idle unit is no error
        assert _sent(producer, DEADLETTER)[0]["error"].startswith("timeout: stalled mid-message after 40 bytes")


def test_connections_over_the_limit_are_closed_at_once() -> None:
    with _listener(max_connections=2) as (_, port, counters):
        first, second = _connect(port), _connect(port)
        wait_until(lambda: counters.connected == 2)
        third = _connect(port)
        assert _closed_by_server(third)
        assert counters.rejected[("queclink", "too_many_connections")] == 1
        first.close()
        second.close()
        wait_until(lambda: counters.connected == 0)
        again = _connect(port)
        again.sendall(GMT100_HEARTBEAT)
        assert _reply(again) == GMT100_HEARTBEAT_SACK
        again.close()


# --- end to end through the embedded broker ---------------------------------------------------------------


@pytest.mark.slow
def test_queclink_units_through_the_broker(kafka: str, tmp_path: Path) -> None:
    fleet = reference({**DOC_UNIT, **{f"86000000000{i:04d}": f"QFLEET-{i:02d}" for i in range(30)}})
    with device_service(kafka, fleet, queclink=QueclinkOptions(port=0)) as service:
        port = service.ports["queclink"]

        # The documents' heartbeat and a report of two positions, then the same report again from the unit's buffer
        # (a unit that missed the acknowledgement): each answered as the documents say.
        sock = _connect(port)
        late_copy = GL300_FRI_TWO_POSITIONS.replace(b"+RESP", b"+BUFF", 1)
        for raw, answer in (
            (GMT100_HEARTBEAT, GMT100_HEARTBEAT_SACK),
            (GL300_FRI_TWO_POSITIONS, b"+SACK:11F0$"),
            (late_copy, b"+SACK:11F0$"),
        ):
            sock.sendall(raw)
            assert _reply(sock) == answer

        # A unit that disconnects mid-message: dead-lettered as truncated, nothing published.
        cut = _connect(port)
        cut.sendall(GMT100_HEARTBEAT)
        assert _reply(cut) == GMT100_HEARTBEAT_SACK
        cut.sendall(GMT100_SOS[: len(GMT100_SOS) // 2])
        cut.close()

        # Thirty units at once, each sending five reports in turn and waiting for every acknowledgement.
        errors: list[BaseException] = []

        def unit(index: int) -> None:
            try:
                conn = _connect(port, timeout=20)
                imei = f"86000000000{index:04d}"
                for n in range(5):
                    conn.sendall(_report("GTFRI" if n % 2 == 0 else "GTIGF", n, n, imei=imei))
                    assert _reply(conn) == f"+SACK:{n:04X}$".encode()
                conn.close()
            except BaseException as exc:  # reported below, with the others
                errors.append(exc)

        threads = [threading.Thread(target=unit, args=(i,)) for i in range(30)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        sock.close()
        wait_until(lambda: service.running.counters.connected == 0, 10)
        counters = service.running.counters

    telemetry = [orjson.loads(v) for v in read_all(kafka, TELEMETRY)]
    doc = [r for r in telemetry if r["vehicle_id"] == "QL-1"]
    assert len(doc) == 4  # two positions, and their copies from the buffer
    assert sum(r.get("buffered", False) for r in doc) == 2
    assert len({r["seq"] for r in doc}) == 2  # the copies repeat the seqs: the detector processes each once
    assert {round(r["lat"], 6) for r in doc if r["gnss_fix"]} == {31.222073}
    fleet_records = [r for r in telemetry if r["vehicle_id"].startswith("QFLEET-")]
    assert len(fleet_records) == 150
    assert len({(r["vehicle_id"], r["seq"]) for r in fleet_records}) == 150
    assert sum(r.get("ignition") is False for r in fleet_records) == 60
    for record in telemetry:
        validate_record(record)
    assert counters.accepted["queclink"] == 4 + 150
    dead = [orjson.loads(v) for v in read_all(kafka, DEADLETTER)]
    assert any(d["topic"] == "queclink" and d["error"].startswith("truncated") for d in dead)
    assert counters.rejected[("queclink", "truncated")] == 1
