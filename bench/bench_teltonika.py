"""Benchmark of the Teltonika listener: records/s with N connected units and ACK latency behind Kafka acknowledgement.

    python bench/bench_teltonika.py [--devices 1000] [--records-per-packet 10] [--seconds 30] [--active 1000]

An embedded broker and `devices serve` (its Teltonika listener only, in a child process with its own core as far
as the machine allows) are started; then --devices units connect and complete the IMEI handshake, and --active
of them send Codec 8 packets of --records-per-packet records in a loop, each waiting for its ACK before the next
packet, as a real unit does. Every record reaches truckguard.telemetry.v1 (acks=all) before its ACK. Reported:
records acknowledged per second over the measuring window, and the time from sending a packet to reading its
ACK (p50, p99). The units run in this process with asyncio; prints the figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ingest.broker import EmbeddedBroker, free_port
from ingest.topics import ensure_topics
from telematics.devices.teltonika import CODEC_8, AvlRecord, encode_imei, encode_packet
from telematics.reference import Fleet, ReferenceData, Vehicle
from telematics.schedule import WeeklySchedule


def imei(index: int) -> str:
    return f"35{index:013d}"


def serve(bootstrap: str, devices: int, port: int, ready: Any) -> None:
    from ingest.devices.directory import DeviceDirectory
    from ingest.devices.serve import ServeOptions, run_devices
    from ingest.devices.teltonika_server import TeltonikaOptions

    fleet = Fleet("bench", "Bench", "haulier", ZoneInfo("UTC"), WeeklySchedule(always=True))
    vehicles = {f"B-{i:05d}": Vehicle(f"B-{i:05d}", "bench", "N3", None, frozenset(), frozenset({imei(i)}))
                for i in range(devices)}
    directory = DeviceDirectory(reference=ReferenceData(fleets={"bench": fleet}, vehicles=vehicles))
    stop = threading.Event()
    started = threading.Event()
    threading.Thread(target=lambda: (started.wait(), ready.set()), daemon=True).start()
    options = ServeOptions(bootstrap=bootstrap, teltonika=TeltonikaOptions(port=port), summary_every_s=10)
    run_devices(options, directory, stop, started)


async def unit(index: int, port: int, per_packet: int, active: bool, start: asyncio.Event, end_at: list[float],
               latencies: list[float], acked: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(encode_imei(imei(index)))
    await writer.drain()
    if await reader.readexactly(1) != b"\x01":
        raise RuntimeError(f"unit {index} refused")
    await start.wait()
    ts = 1_764_000_000_000 + index
    lon, lat = 134_000_000 + index * 100, 525_000_000
    while active and time.monotonic() < end_at[0]:
        records = []
        for _ in range(per_packet):
            ts += 1000
            records.append(AvlRecord(ts, 0, lon, lat, 40, 90, 11, 50, 0, {239: 1, 240: 1, 66: 27_000, 182: 9},
                                     io_widths={239: 1, 240: 1, 66: 2, 182: 2}))
        packet = encode_packet(records, CODEC_8)
        sent = time.monotonic()
        writer.write(packet)
        await writer.drain()
        count = int.from_bytes(await reader.readexactly(4), "big")
        latencies.append(time.monotonic() - sent)
        acked.append(count)
    writer.close()


async def drive(port: int, devices: int, active: int, per_packet: int, seconds: float) -> dict[str, float]:
    start = asyncio.Event()
    end_at = [0.0]
    latencies: list[float] = []
    acked: list[int] = []
    tasks = []
    for i in range(devices):
        tasks.append(asyncio.create_task(unit(i, port, per_packet, i < active, start, end_at, latencies, acked)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # units connect over a moment, not all in one instant
    await asyncio.sleep(1.0)
    warmup = 3.0
    began = time.monotonic()
    end_at[0] = began + warmup + seconds
    start.set()
    await asyncio.sleep(warmup)
    first, first_n = sum(acked), len(latencies)
    await asyncio.sleep(seconds)
    measured = sum(acked) - first
    window = latencies[first_n:]
    await asyncio.gather(*tasks, return_exceptions=True)
    window.sort()
    return {
        "records_per_s": measured / seconds,
        "packets": len(window),
        "ack_p50_ms": statistics.median(window) * 1000 if window else float("nan"),
        "ack_p99_ms": window[int(len(window) * 0.99)] * 1000 if window else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--active", type=int, help="units sending (default: all)")
    parser.add_argument("--records-per-packet", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, EmbeddedBroker(free_port(), log_path=Path(scratch) / "b.log") as b:
        ensure_topics(b.bootstrap, 4)
        port = free_port()
        ready = multiprocessing.Event()
        server = multiprocessing.Process(target=serve, args=(b.bootstrap, args.devices, port, ready), daemon=True)
        server.start()
        if not ready.wait(30):
            raise SystemExit("devices serve did not start")
        try:
            figures = asyncio.run(drive(port, args.devices, args.active or args.devices, args.records_per_packet,
                                        args.seconds))
        finally:
            server.terminate()
            server.join(10)
    print(json.dumps({"devices": args.devices, "active": args.active or args.devices,
                      "records_per_packet": args.records_per_packet, **figures}, indent=2))


if __name__ == "__main__":
    main()
