"""Benchmark of `devices serve`'s Teltonika listener: records/s, server CPU per record, ACK latency behind Kafka.

    python bench/bench_devices.py [--devices 1000] [--records-per-packet 10] [--seconds 20] [--rate 20000]
                                  [--profile FILE]

An embedded broker and `devices serve` (the Teltonika listener, in a child process) are started; --devices
simulated units connect over loopback and complete the IMEI handshake. Each unit then sends Codec 8 packets of
--records-per-packet records and waits for the packet's ACK before the next, as a real unit does; every record
reaches truckguard.telemetry.v1 (acks=all) before its ACK. Two phases:

- saturation: every unit sends its next packet as soon as the last is acknowledged. Reported: records
  acknowledged per second, and the listener process's CPU per record, all its threads counted (and by thread:
  the event loop, the delivery-report thread, librdkafka's); 1 / that CPU time is what one core would sustain,
  the figure the machine's other load bends least. ACK latency here is only the queue (units / packets per
  second), so it is not the latency figure.
- paced (--rate records/s in all, 0 to skip): each unit sends one packet every devices x records-per-packet /
  rate seconds, each unit starting at its own offset. Reported: ACK latency p50 and p99 from the packet written
  to its ACK read, how many ACKs took over 100 ms and in how many distinct seconds (a few seconds: the machine
  stalled; all of them: the listener cannot keep up), and the rate achieved.

Both phases report the CPU share of the listener, this driver and the broker, to tell which one was short of CPU.

The units run in this process with asyncio; each packet is its unit's template with new timestamps and CRC,
so the driver spends little of the machine the listener needs. Prints JSON, asserts nothing. --profile FILE
writes a cProfile of the listener's event loop thread (slows it down about twofold).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import statistics
import struct
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ingest.broker import EmbeddedBroker, free_port
from ingest.topics import ensure_topics
from telematics.devices.teltonika import CODEC_8, AvlRecord, crc16_ibm_fast, encode_imei, encode_packet
from telematics.reference import Fleet, ReferenceData, Vehicle
from telematics.schedule import WeeklySchedule

FIRST_TS_MS = 1_764_000_000_000
SLOW_ACK_S = 0.1
"""The issue's bound on ACK latency (p99 under 100 ms): packets slower than this are counted, and the seconds they
came in, to tell a few stalls of the whole machine from a listener that is slow throughout."""


def imei(index: int) -> str:
    return f"35{index:013d}"


def machine() -> dict[str, Any]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "load_average_1m": round(os.getloadavg()[0], 2)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU time of a process's threads by name (of one name summed; the main thread is "event loop"), from /proc."""
    totals: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = "event loop" if task.name == str(pid) else (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        totals[name] = totals.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return totals


def serve(bootstrap: str, devices: int, port: int, ready: Any, profile: str | None) -> None:
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
    options = ServeOptions(bootstrap=bootstrap, teltonika=TeltonikaOptions(port=port), summary_every_s=3600)
    if profile is None:
        run_devices(options, directory, stop, started)
        return
    import cProfile
    import signal

    profiler = cProfile.Profile()

    def finish(*_: object) -> None:
        profiler.disable()
        profiler.dump_stats(profile)
        os._exit(0)

    signal.signal(signal.SIGTERM, finish)
    profiler.enable()
    run_devices(options, directory, stop, started)


class Unit:
    """One simulated unit: its packet template, whose timestamps and CRC are rewritten for each packet."""

    def __init__(self, index: int, per_packet: int) -> None:
        self.index = index
        self.ts = FIRST_TS_MS + index
        lon, lat = 134_000_000 + index * 100, 525_000_000
        records = [AvlRecord(self.ts + i * 1000, 0, lon, lat, 40, 90, 11, 50, 0,
                             {239: 1, 240: 1, 66: 27_000, 182: 9}, io_widths={239: 1, 240: 1, 66: 2, 182: 2})
                   for i in range(per_packet)]
        self.packet = bytearray(encode_packet(records, CODEC_8))
        data_length = len(self.packet) - 12
        record_bytes = (data_length - 3) // per_packet
        self.ts_offsets = [10 + i * record_bytes for i in range(per_packet)]

    def next_packet(self) -> bytes:
        packet = self.packet
        for offset in self.ts_offsets:
            self.ts += 1000
            struct.pack_into(">Q", packet, offset, self.ts)
        struct.pack_into(">I", packet, len(packet) - 4, crc16_ibm_fast(memoryview(packet)[8:-4]))
        return bytes(packet)


class Driver:
    def __init__(self, port: int, devices: int, per_packet: int) -> None:
        self.port = port
        self.units = [Unit(i, per_packet) for i in range(devices)]
        self.per_packet = per_packet
        self.acked = 0
        self.latencies: list[float] = []
        self.slow_at: list[int] = []
        self.phase = "connect"
        self.interval_s = 0.0
        self.go = asyncio.Event()
        self.failures = 0

    async def run_unit(self, unit: Unit) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(encode_imei(imei(unit.index)))
            if await reader.readexactly(1) != b"\x01":
                raise RuntimeError(f"unit {unit.index} refused")
            await self.go.wait()
            while self.phase == "saturate":
                writer.write(unit.next_packet())
                count = int.from_bytes(await reader.readexactly(4), "big")  # awaited before the sum is read
                self.acked += count
            if self.phase != "paced":
                return
            loop = asyncio.get_running_loop()
            due = loop.time() + self.interval_s * (unit.index / len(self.units))
            while self.phase == "paced":
                await asyncio.sleep(max(0.0, due - loop.time()))
                packet = unit.next_packet()
                writer.write(packet)
                sent = time.monotonic()
                count = int.from_bytes(await reader.readexactly(4), "big")
                now = time.monotonic()
                self.latencies.append(now - sent)
                if now - sent > SLOW_ACK_S:
                    self.slow_at.append(int(now))
                self.acked += count
                due += self.interval_s
        except (ConnectionError, asyncio.IncompleteReadError):
            self.failures += 1
        finally:
            writer.close()

    async def connect(self) -> list[asyncio.Task[None]]:
        tasks = []
        for i, unit in enumerate(self.units):
            tasks.append(asyncio.create_task(self.run_unit(unit)))
            if i % 100 == 99:
                await asyncio.sleep(0.05)  # units connect over a moment, not all in one instant
        await asyncio.sleep(1.0)
        return tasks


async def measure(driver: Driver, server_pid: int, broker_pid: int, seconds: float, rate: float) -> dict[str, Any]:
    tasks = await driver.connect()
    figures: dict[str, Any] = {}
    driver.phase = "saturate"
    driver.go.set()
    await asyncio.sleep(3.0)  # warm-up
    acked, cpu, began = driver.acked, cpu_seconds(server_pid), time.monotonic()
    broker_cpu = cpu_seconds(broker_pid)
    threads = thread_cpu_seconds(server_pid)
    own = time.process_time()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - began
    records, used = driver.acked - acked, cpu_seconds(server_pid) - cpu
    figures["saturation"] = {
        "records_per_s": round(records / elapsed),
        "listener_cpu_us_per_record": round(used / records * 1e6, 1) if records else None,
        "one_core_records_per_s": round(records / used) if used else None,
        "listener_cpu_share": round(used / elapsed, 2),
        "driver_cpu_share": round((time.process_time() - own) / elapsed, 2),
        "broker_cpu_share": round((cpu_seconds(broker_pid) - broker_cpu) / elapsed, 2),
        "listener_cpu_us_per_record_by_thread": {
            name: round((used_by_thread - threads.get(name, 0.0)) / records * 1e6, 1)
            for name, used_by_thread in sorted(thread_cpu_seconds(server_pid).items())
            if records and used_by_thread - threads.get(name, 0.0) > 0
        },
    }
    if rate > 0:
        driver.interval_s = len(driver.units) * driver.per_packet / rate
        driver.phase = "paced"  # units finish the packet in hand, then start pacing
        await asyncio.sleep(driver.interval_s + 2.0)
        driver.latencies.clear()
        driver.slow_at.clear()
        acked, began, cpu = driver.acked, time.monotonic(), cpu_seconds(server_pid)
        own, broker_cpu = time.process_time(), cpu_seconds(broker_pid)
        await asyncio.sleep(seconds)
        elapsed = time.monotonic() - began
        window = sorted(driver.latencies)
        figures["paced"] = {
            "offered_records_per_s": rate,
            "records_per_s": round((driver.acked - acked) / elapsed),
            "listener_cpu_share": round((cpu_seconds(server_pid) - cpu) / elapsed, 2),
            "driver_cpu_share": round((time.process_time() - own) / elapsed, 2),
            "broker_cpu_share": round((cpu_seconds(broker_pid) - broker_cpu) / elapsed, 2),
            "packets": len(window),
            "ack_p50_ms": round(statistics.median(window) * 1000, 1) if window else None,
            "ack_p99_ms": round(window[int(len(window) * 0.99)] * 1000, 1) if window else None,
            "acks_over_100_ms": len(driver.slow_at),
            "seconds_with_acks_over_100_ms": len(set(driver.slow_at)),
        }
    driver.phase = "stop"
    await asyncio.gather(*tasks, return_exceptions=True)
    figures["connection_failures"] = driver.failures
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--records-per-packet", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase (default 20)")
    parser.add_argument("--rate", type=float, default=20_000, help="paced phase's records/s in all (0: skip it)")
    parser.add_argument("--profile", help="write a cProfile of the listener's event loop thread to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, EmbeddedBroker(free_port(), log_path=Path(scratch) / "b.log") as b:
        ensure_topics(b.bootstrap, 4)
        port = free_port()
        ready = multiprocessing.Event()
        server = multiprocessing.Process(target=serve, args=(b.bootstrap, args.devices, port, ready, args.profile),
                                         daemon=True)
        server.start()
        if not ready.wait(30) or server.pid is None:
            raise SystemExit("devices serve did not start")
        try:
            driver = Driver(port, args.devices, args.records_per_packet)
            assert b.process is not None
            figures = asyncio.run(measure(driver, server.pid, b.process.pid, args.seconds, args.rate))
        finally:
            server.terminate()
            server.join(10)
    print(json.dumps({"machine": machine(), "devices": args.devices, "records_per_packet": args.records_per_packet,
                      **figures}, indent=2))


if __name__ == "__main__":
    main()
