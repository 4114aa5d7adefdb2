"""The Teltonika listener over real TCP: against a controllable producer, and end to end through the embedded broker."""

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
from kafka.partitioner.default import murmur2

from can_sim.teltonika_device import SimulatedTeltonikaDevice, drive
from ingest.devices.counters import DeviceCounters
from ingest.devices.teltonika_server import TeltonikaOptions, TeltonikaServer
from ingest.kafka_clients import read_to_end
from ingest.topics import DEADLETTER, TELEMETRY
from telematics.devices.teltonika import AvlRecord, encode_imei, encode_packet
from telematics.timeutil import format_ms
from telematics.validation import validate_record
from tests.ingest.device_helpers import TRUCK_IMEI, HeldProducer, device_service, held_listener, reference, wait_until
from tests.ingest.kafka_helpers import read_all
from tests.telematics.test_devices_teltonika import DOC_REAL_COORDINATES, WIKI_CODEC8


def _connect(port: int, imei: str = TRUCK_IMEI, timeout: float = 5.0) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(encode_imei(imei))
    return sock, sock.recv(1)


def _ack(sock: socket.socket) -> int:
    data = b""
    while len(data) < 4:
        chunk = sock.recv(4 - len(data))
        if not chunk:
            raise ConnectionError("closed before the ACK")
        data += chunk
    return int.from_bytes(data, "big")


def _closed_by_server(sock: socket.socket) -> bool:
    """The server closed: an orderly end, or a reset when it closed with our bytes still unread."""
    sock.settimeout(5)
    try:
        return sock.recv(4) == b""
    except ConnectionResetError:
        return True


def _avl(ts_ms: int, **io: int) -> AvlRecord:
    return AvlRecord(ts_ms, 0, 134_000_000, 525_200_000, 40, 90, 10, 42, 0, {int(k[2:]): v for k, v in io.items()})


# --- ACK only after the broker acknowledged: a producer whose acknowledgements the test hands out -----------


def _listener(**options: Any) -> AbstractContextManager[tuple[HeldProducer, int, DeviceCounters]]:
    """A Teltonika listener on its own loop in a thread, publishing to a HeldProducer."""
    return held_listener(TeltonikaServer, TeltonikaOptions(port=0, **options), reference())


@pytest.fixture
def held() -> Iterator[tuple[HeldProducer, int, DeviceCounters]]:
    with _listener(read_timeout_s=2.0) as running:
        yield running


def test_no_ack_until_kafka_acknowledged(held: tuple[HeldProducer, int, DeviceCounters]) -> None:
    producer, port, counters = held
    sock, answer = _connect(port)
    assert answer == b"\x01"
    sock.sendall(DOC_REAL_COORDINATES)
    sock.settimeout(0.5)
    with pytest.raises(TimeoutError):
        sock.recv(4)  # four records sent to Kafka, none acknowledged yet: the device hears nothing
    assert producer.settle() == 4
    sock.settimeout(5)
    assert _ack(sock) == 4
    assert counters.accepted["teltonika"] == 4
    sock.close()


def test_a_failed_send_closes_the_connection_without_ack(held: tuple[HeldProducer, int, DeviceCounters]) -> None:
    producer, port, counters = held
    sock, _ = _connect(port)
    sock.sendall(WIKI_CODEC8)
    deadline = time.monotonic() + 5
    while not producer.sent and time.monotonic() < deadline:
        time.sleep(0.01)
    producer.settle(RuntimeError("broker down"))
    sock.settimeout(5)
    assert sock.recv(4) == b""  # closed, no count: the unit keeps the record and resends it
    assert counters.rejected[("teltonika", "not_acknowledged")] == 1


def test_bad_crc_gets_no_ack_and_the_resend_does(held: tuple[HeldProducer, int, DeviceCounters]) -> None:
    producer, port, counters = held
    sock, _ = _connect(port)
    damaged = bytearray(WIKI_CODEC8)
    damaged[20] ^= 0xFF
    sock.sendall(bytes(damaged))
    sock.settimeout(0.5)
    with pytest.raises(TimeoutError):
        sock.recv(4)
    assert counters.rejected[("teltonika", "bad_crc")] == 1
    assert [topic for topic, *_ in producer.sent] == [DEADLETTER]
    sock.sendall(WIKI_CODEC8)
    deadline = time.monotonic() + 5
    while not any(topic == TELEMETRY for topic, *_ in producer.sent) and time.monotonic() < deadline:
        time.sleep(0.01)
    producer.settle()
    sock.settimeout(5)
    assert _ack(sock) == 1
    sock.close()


# --- end to end through the embedded broker ---------------------------------------------------------------


def _telemetry(bootstrap: str) -> list[dict]:
    return [orjson.loads(v) for v in read_all(bootstrap, TELEMETRY)]


def _dead_letters(bootstrap: str) -> list[dict]:
    return [orjson.loads(v) for v in read_all(bootstrap, DEADLETTER)]


@pytest.mark.slow
def test_devices_through_the_broker(kafka: str, tmp_path: Path) -> None:
    """One service, many situations in sequence: the broker is shared, so each step checks what it added."""
    fleet = reference({f"35000000000{i:04d}": f"FLEET-{i:03d}" for i in range(60)})
    with device_service(kafka, fleet) as service:
        port = service.ports["teltonika"]

        # A real packet with real coordinates, acknowledged with its record count, on the topic keyed by vehicle.
        sock, answer = _connect(port)
        assert answer == b"\x01"
        sock.sendall(DOC_REAL_COORDINATES)
        assert _ack(sock) == 4
        records = [r for r in _telemetry(kafka) if r["vehicle_id"] == "NF-101"]
        assert len(records) == 4
        assert {round(r["lat"], 4) for r in records} == {54.7146, 54.7145, 54.7148, 54.7147}
        for record in records:
            validate_record(record)

        # Garbage after the handshake: dead-lettered, connection closed; the first device carries on.
        garbage, _ = _connect(port, "350000000000001")
        garbage.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _closed_by_server(garbage)
        sock.sendall(encode_packet([_avl(1_764_000_000_000, io239=1)]))
        assert _ack(sock) == 1

        # An unknown IMEI: 00, then the server closes.
        stranger, answer = _connect(port, "999999999999999")
        assert answer == b"\x00"
        stranger.settimeout(5)
        assert stranger.recv(1) == b""

        # A unit that disconnects mid-packet: dead-lettered as truncated, nothing published, nothing ACKed.
        cut, _ = _connect(port, "350000000000002")
        packet = encode_packet([_avl(1_764_000_001_000)])
        cut.sendall(packet[: len(packet) // 2])
        cut.close()

        # Sixty units at once, each sending ten packets in turn and waiting for every ACK.
        errors: list[BaseException] = []

        def unit(index: int) -> None:
            try:
                conn, reply = _connect(port, f"35000000000{index:04d}", timeout=20)
                assert reply == b"\x01"
                for n in range(10):
                    conn.sendall(encode_packet([_avl(1_764_000_000_000 + n * 1000 + index, io66=24_000 + n)]))
                    assert _ack(conn) == 1
                conn.close()
            except BaseException as exc:  # reported below, with the others
                errors.append(exc)

        threads = [threading.Thread(target=unit, args=(i,)) for i in range(60)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []
        sock.close()
        deadline = time.monotonic() + 10
        while service.running.counters.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        counters = service.running.counters

    telemetry = _telemetry(kafka)
    fleet_records = [r for r in telemetry if r["vehicle_id"].startswith("FLEET-")]
    assert len(fleet_records) == 600
    # Each vehicle on the partition where kafka-python (every other truckguard producer) puts its key.
    placed = {(m.key, m.partition) for m in read_to_end(kafka, TELEMETRY)}
    assert placed == {(key, (murmur2(key) & 0x7FFFFFFF) % 2) for key, _ in placed}
    assert len(placed) == 61
    assert len({(r["vehicle_id"], r["seq"]) for r in fleet_records}) == 600
    assert counters.accepted["teltonika"] == 4 + 1 + 600
    reasons = {d["error"].split(":")[0] for d in _dead_letters(kafka) if d["topic"] == "teltonika"}
    assert {"bad_preamble", "unknown_device", "truncated"} <= reasons
    assert counters.rejected[("teltonika", "truncated")] == 1


def test_simulated_unit_resends_what_was_not_acknowledged(held: tuple[HeldProducer, int, DeviceCounters]) -> None:
    producer, port, _ = held
    track = [{"vehicle_id": "NF-101", "ts": f"2025-11-24T16:00:{s:02d}Z", "lat": 52.52, "lon": 13.40 + s / 1e4,
              "gnss_speed_kmh": 36.0, "heading_deg": 90.0, "ignition": True, "ext_power_v": 27.6} for s in range(3)]
    device = SimulatedTeltonikaDevice(TRUCK_IMEI, "127.0.0.1", port, ack_timeout_s=5)
    outcome: list[int] = []
    thread = threading.Thread(target=lambda: outcome.append(drive(device, track, retry_s=0.1)))
    thread.start()

    def wait_for_sends(count: int) -> None:
        deadline = time.monotonic() + 10
        while sum(topic == TELEMETRY for topic, *_ in producer.sent) < count and time.monotonic() < deadline:
            time.sleep(0.01)

    wait_for_sends(1)
    producer.settle(RuntimeError("broker down"))  # the first record is lost in Kafka: no ACK
    wait_for_sends(2)  # ... so the unit reconnects and sends it again
    for expected in (2, 3, 4):
        wait_for_sends(expected)
        producer.settle()
    thread.join(10)
    assert outcome == [3]
    published = [orjson.loads(value) for topic, _, value, future in producer.sent
                 if topic == TELEMETRY and future.succeeded()]
    assert [r["ts"] for r in published] == ["2025-11-24T16:00:00Z", "2025-11-24T16:00:01Z", "2025-11-24T16:00:02Z"]
    failed = next(orjson.loads(v) for t, _, v, f in producer.sent if t == TELEMETRY and f.failed())
    assert failed["seq"] == published[0]["seq"]  # the resend is recognisably the same record
    assert published[0]["ignition"] is True and published[0]["ext_power_v"] == pytest.approx(27.6)


def test_a_stream_of_bad_packets_closes_the_connection(held: tuple[HeldProducer, int, DeviceCounters]) -> None:
    _, port, counters = held
    sock, _ = _connect(port)
    damaged = bytearray(WIKI_CODEC8)
    damaged[20] ^= 0xFF
    sock.sendall(bytes(damaged) * 3)
    sock.settimeout(5)
    assert sock.recv(4) == b""
    deadline = time.monotonic() + 5
    while not counters.rejected[("teltonika", "too_many_bad_packets")] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert counters.rejected[("teltonika", "bad_crc")] == 3
    assert counters.rejected[("teltonika", "too_many_bad_packets")] == 1


def test_connections_over_the_limit_are_closed_at_once() -> None:
    with _listener(max_connections=2) as (_, port, counters):
        first, answer = _connect(port)
        second = socket.create_connection(("127.0.0.1", port), timeout=5)
        assert answer == b"\x01"
        wait_until(lambda: counters.connected == 2)
        third = socket.create_connection(("127.0.0.1", port), timeout=5)
        assert _closed_by_server(third)  # before any byte of it is read
        assert counters.rejected[("teltonika", "too_many_connections")] == 1
        first.close()
        second.close()
        wait_until(lambda: counters.connected == 0)
        again, answer = _connect(port)  # room again once the others left
        assert answer == b"\x01"
        again.close()


def test_a_unit_stalled_mid_packet_is_cut_and_an_idle_one_closed() -> None:
    with _listener(read_timeout_s=0.3, idle_timeout_s=1.5) as (producer, port, counters):
        began = time.monotonic()
        stalled, _ = _connect(port)
        stalled.sendall(WIKI_CODEC8[:20])  # the header and a little of the data field, then nothing
        idle, _ = _connect(port)
        assert _closed_by_server(stalled)
        assert time.monotonic() - began < 1.2  # the read timeout, not the idle one
        assert _closed_by_server(idle)
        assert time.monotonic() - began >= 1.5
        wait_until(lambda: producer.sent)
        assert counters.rejected == {("teltonika", "timeout"): 1}  # an idle unit is no error
        error = orjson.loads(producer.sent[0][2])["error"]
        assert error.startswith("timeout: stalled mid-packet")


def test_a_handshake_that_is_no_imei_is_refused(held: tuple[HeldProducer, int, DeviceCounters]) -> None:
    producer, port, counters = held
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"GE")  # the start of an HTTP request (all of it: bytes left unread would reset the connection)
    assert sock.recv(2) == b"\x00"
    deadline = time.monotonic() + 5
    while not producer.sent and time.monotonic() < deadline:  # the dead letter follows the answer
        time.sleep(0.01)
    assert counters.rejected[("teltonika", "bad_handshake")] == 1
    error = orjson.loads(producer.sent[-1][2])["error"]
    assert error.startswith("bad_handshake: IMEI length 18245")


class _RecordingUnit:
    imei = TRUCK_IMEI

    def __init__(self) -> None:
        self.sent_at: list[float] = []

    def send(self, records: list[AvlRecord]) -> None:
        self.sent_at.append(time.time())

    def close(self) -> None:
        pass


def test_demo_unit_never_runs_ahead_of_the_clock() -> None:
    now_ms = int(time.time() * 1000)
    track = [{"vehicle_id": "NF-101", "ts": format_ms(now_ms + offset), "lat": 52.52, "lon": 13.4}
             for offset in (-60_000, -30_000, 600)]  # two records from the past, one 0.6 s ahead
    unit = _RecordingUnit()
    began = time.time()
    assert drive(unit, track, speed=1000, not_ahead_of_clock=True) == 3  # type: ignore[arg-type]
    assert unit.sent_at[1] - began < 0.3  # the past is caught up at once
    assert unit.sent_at[2] >= (now_ms + 600) / 1000


def test_an_oversized_packet_is_refused_before_it_is_read(held: tuple[HeldProducer, int, DeviceCounters]) -> None:
    producer, port, counters = held
    sock, _ = _connect(port)
    sock.sendall(b"\x00\x00\x00\x00" + (50_000_000).to_bytes(4, "big") + b"\x08" * 1000)
    assert _closed_by_server(sock)
    deadline = time.monotonic() + 5
    while not producer.sent and time.monotonic() < deadline:
        time.sleep(0.01)
    assert counters.rejected[("teltonika", "oversized")] == 1
    assert "data field length 50000000" in orjson.loads(producer.sent[-1][2])["error"]
