"""A simulated Teltonika FMB unit: speaks Codec 8 over TCP (handshake, packets, waiting for the ACK) like a real one."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from can_sim.scenarios.labels import LABELS_FILE
from telematics.bundle import FLEET_FILE, TELEMETRY_FILE, iter_lines
from telematics.devices.teltonika import (
    ACCEPT,
    CODEC_8,
    PRIORITY_HIGH,
    PRIORITY_LOW,
    PRIORITY_PANIC,
    AvlRecord,
    encode_imei,
    encode_packet,
)
from telematics.devices.teltonika_telemetry import (
    IO_EXTERNAL_VOLTAGE,
    IO_GNSS_HDOP,
    IO_IGNITION,
    IO_JAMMING,
    IO_MOVEMENT,
    IO_TOTAL_ODOMETER,
)
from telematics.errors import OperationFailed
from telematics.validation import parse_timestamp

log = logging.getLogger(__name__)

DEMO_IMEI = "356307042441013"
"""A made-up IMEI (15 digits) for the demo's simulated unit."""

_IO_WIDTHS = {IO_IGNITION: 1, IO_MOVEMENT: 1, IO_JAMMING: 1, IO_GNSS_HDOP: 2, IO_EXTERNAL_VOLTAGE: 2,
              IO_TOTAL_ODOMETER: 4}
"""Bytes of each IO element in Teltonika's AVL ID list, so the unit encodes them as a real FMB does."""


class DeviceRefused(OperationFailed, ConnectionError):
    """The server answered the IMEI handshake with 00."""


class NoAck(OperationFailed, ConnectionError):
    """The server did not acknowledge a packet (closed, timed out or acknowledged another count)."""


def avl_from_telemetry(record: dict[str, Any]) -> AvlRecord:
    """A contract record as an FMB unit would have recorded it: GPS element and permanent IO elements."""
    ts_ms = parse_timestamp(record["ts"])
    fix = record.get("lat") is not None and record.get("lon") is not None and record.get("gnss_fix", True)
    speed = record.get("gnss_speed_kmh") or 0.0
    io: dict[int, int | bytes] = {}
    if record.get("ignition") is not None:
        io[IO_IGNITION] = int(bool(record["ignition"]))
    io[IO_MOVEMENT] = int(speed > 0)
    if record.get("gnss_jamming") is not None:
        io[IO_JAMMING] = int(bool(record["gnss_jamming"]))
    if record.get("ext_power_v") is not None:
        io[IO_EXTERNAL_VOLTAGE] = round(record["ext_power_v"] * 1000)
    if record.get("odometer_km") is not None:
        io[IO_TOTAL_ODOMETER] = round(record["odometer_km"] * 1000)
    if fix:
        io[IO_GNSS_HDOP] = round((record.get("hdop") or 0.9) * 10)
    priority = PRIORITY_PANIC if record.get("panic") else PRIORITY_HIGH if record.get("gnss_jamming") else PRIORITY_LOW
    return AvlRecord(
        ts_ms=ts_ms,
        priority=priority,
        lon_e7=round(record["lon"] * 1e7) if fix else 0,
        lat_e7=round(record["lat"] * 1e7) if fix else 0,
        altitude_m=round(record.get("altitude_m") or 40),
        angle_deg=round(record.get("heading_deg") or 0) % 360,
        satellites=record.get("satellites") or (9 if fix else 0),
        speed_kmh=round(speed) if fix else 0,
        io=io,
        io_widths={k: _IO_WIDTHS[k] for k in io if k in _IO_WIDTHS},
    )


class SimulatedTeltonikaDevice:
    """One unit's TCP session: IMEI handshake, then AVL packets each waiting for the server's record count."""

    def __init__(self, imei: str, host: str, port: int, *, codec: int = CODEC_8, ack_timeout_s: float = 10.0) -> None:
        self.imei = imei
        self.host = host
        self.port = port
        self.codec = codec
        self.ack_timeout_s = ack_timeout_s
        self.sock: socket.socket | None = None

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=self.ack_timeout_s)
        sock.sendall(encode_imei(self.imei))
        answer = _read_exactly(sock, 1)
        if answer != ACCEPT:
            sock.close()
            raise DeviceRefused(f"server refused IMEI {self.imei} (answered {answer.hex() or 'nothing'})")
        self.sock = sock

    def send_raw(self, data: bytes) -> None:
        if self.sock is None:
            self.connect()
        assert self.sock is not None
        self.sock.sendall(data)

    def read_ack(self) -> int:
        assert self.sock is not None
        return int.from_bytes(_read_exactly(self.sock, 4), "big")

    def send(self, records: Sequence[AvlRecord]) -> None:
        """Sends one packet and waits for its ACK; NoAck when the count does not come back (then resend it)."""
        self.send_raw(encode_packet(records, self.codec))
        try:
            count = self.read_ack()
        except (OSError, ConnectionError) as exc:
            self.close()
            raise NoAck(f"no ACK for {len(records)} records ({exc})") from exc
        if count != len(records):
            raise NoAck(f"server acknowledged {count} of {len(records)} records")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self) -> SimulatedTeltonikaDevice:
        self.connect()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    out = b""
    while len(out) < size:
        chunk = sock.recv(size - len(out))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(out)} of {size} bytes")
        out += chunk
    return out


def vehicle_records(bundle: Path, vehicle_id: str) -> list[dict[str, Any]]:
    """One vehicle's telemetry from a bundle, in event-time order."""
    records = []
    for _, line in iter_lines(Path(bundle) / TELEMETRY_FILE):
        value = orjson.loads(line)
        if isinstance(value, dict) and value.get("vehicle_id") == vehicle_id:
            records.append(value)
    return sorted(records, key=lambda r: parse_timestamp(r["ts"]))


def drive(device: SimulatedTeltonikaDevice, records: Iterable[dict[str, Any]], *, speed: float = 0.0,
          stop: threading.Event | None = None, retry_s: float = 2.0, not_ahead_of_clock: bool = False) -> int:
    """Sends records one per packet, paced in event time (speed 0: as fast as acknowledged); returns records acked.

    Like a unit in a coverage gap, it keeps what was not acknowledged and sends it again after reconnecting.
    ``not_ahead_of_clock``: a record is never sent before the wall clock reaches its time (a live demo whose
    event time began in the past catches up, then runs in real time, as can_sim.live_fleet does).
    """
    sent = 0
    first_ts: int | None = None
    started = time.monotonic()
    for record in records:
        avl = avl_from_telemetry(record)
        pause = 0.0
        if speed > 0:
            first_ts = avl.ts_ms if first_ts is None else first_ts
            pause = started + (avl.ts_ms - first_ts) / 1000 / speed - time.monotonic()
        if not_ahead_of_clock:
            pause = max(pause, avl.ts_ms / 1000 - time.time())
        if pause > 0:
            if stop is not None and stop.wait(pause):
                break
            if stop is None:
                time.sleep(pause)
        while True:
            if stop is not None and stop.is_set():
                return sent
            try:
                device.send([avl])
                sent += 1
                break
            except (NoAck, OSError) as exc:
                log.info("simulated unit %s: %s; resending in %g s", device.imei, exc, retry_s)
                device.close()
                if stop is not None and stop.wait(retry_s):
                    return sent
    return sent


def register_demo_device(bundle: Path, imei: str = DEMO_IMEI, like_vehicle: str | None = None) -> tuple[str, str]:
    """Adds to a bundle's fleet.json a vehicle that carries a Teltonika unit, driving another vehicle's track.

    Returns (the new vehicle's id, the vehicle whose recorded track its unit will replay). The new vehicle is a
    twin of ``like_vehicle`` (default: the first vehicle of the first fleet) with ``device_ids`` [imei].
    """
    path = Path(bundle) / FLEET_FILE
    fleet = orjson.loads(path.read_bytes())
    vehicles = fleet["vehicles"]
    model = next(v for v in vehicles if like_vehicle is None or v["vehicle_id"] == like_vehicle)
    twin_id = f"{model['vehicle_id']}-FMB"
    if not any(v["vehicle_id"] == twin_id for v in vehicles):
        twin = {**model, "vehicle_id": twin_id, "device_ids": [imei]}
        twin.pop("plate", None)
        vehicles.append(twin)
        path.write_bytes(orjson.dumps(fleet, option=orjson.OPT_INDENT_2))
    return twin_id, model["vehicle_id"]


def fit_demo_device(bundle: Path, imei: str = DEMO_IMEI) -> str | None:
    """Fits the demo's Teltonika unit to one of a bundle's vehicles: it gets ``device_ids`` [imei] in fleet.json.

    The vehicle chosen is the first in fleet.json that has no incident (labels.json) and whose scenario device
    reports often, so the unit's path is seen working on an ordinary truck without changing what the demo's
    incidents show. Returns its id, or None when no vehicle suits.
    """
    bundle = Path(bundle)
    path = bundle / FLEET_FILE
    fleet = orjson.loads(path.read_bytes())
    labels_path = bundle / LABELS_FILE
    labels = orjson.loads(labels_path.read_bytes()) if labels_path.exists() else {}
    with_incident = {i["vehicle_id"] for i in labels.get("incidents", [])}
    sparse = {v["vehicle_id"] for v in labels.get("vehicles", []) if (v.get("device") or {}).get("sparse")}
    chosen = next((v for v in fleet["vehicles"] if v["vehicle_id"] not in with_incident | sparse), None)
    if chosen is None:
        return None
    chosen["device_ids"] = [*chosen.get("device_ids", []), imei]
    path.write_bytes(orjson.dumps(fleet, option=orjson.OPT_INDENT_2))
    return str(chosen["vehicle_id"])


def start_demo_device(bundle: Path, host: str, port: int, *, imei: str = DEMO_IMEI, track_of: str,
                      speed: float, stop: threading.Event, not_ahead_of_clock: bool = True) -> threading.Thread:
    """Starts a thread in which one simulated unit replays ``track_of``'s records through the Teltonika listener.

    Paced like the simulated fleet: ``speed`` times real time, never ahead of the wall clock (unless told).
    """
    records = vehicle_records(bundle, track_of)

    def run() -> None:
        device = SimulatedTeltonikaDevice(imei, host, port)
        deadline = time.monotonic() + 30
        while not stop.is_set():  # the listener may still be starting
            try:
                device.connect()
                break
            except OSError as exc:
                if time.monotonic() > deadline:
                    log.error("simulated Teltonika unit could not reach %s:%d (%s)", host, port, exc)
                    return
                stop.wait(0.5)
        try:
            sent = drive(device, records, speed=speed, stop=stop, not_ahead_of_clock=not_ahead_of_clock)
            log.info("simulated Teltonika unit %s sent %d records", imei, sent)
        finally:
            device.close()

    thread = threading.Thread(target=run, name="teltonika-demo-device", daemon=True)
    thread.start()
    return thread
