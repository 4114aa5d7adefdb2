"""Retention bench: the durable broker's disk per record before and after a sweep, and what a sweep costs.

    python bench/bench_broker_retention.py [--vehicles 200] [--reports 50] [--checkpoints 10] [--trickle 200]

On the durable embedded broker (its own object store in a scratch folder): --vehicles vehicles each send --reports
telemetry records (contract-shaped JSON, truckguard's producer settings), a round of reports at a time, stamped 8
days ago so that they are past the telemetry topic's 7-day retention; the detector's state topic gets --checkpoints
rounds of one lz4 snapshot per vehicle, as the live detector writes them; and --trickle records go one at a time
(each its own batch, as a small fleet's reports arrive) to a topic of their own (the default 7-day retention).

A consumer group that has committed offset 0 on the three topics holds every batch while the figures "before" are
taken (retention never deletes what a group has not read). Then the broker is stopped and two sweeps are timed in
this process over the same folder (nothing to delete, the group holds it all; the first reads the compacted
topic's batches, the second remembers their keys), the broker started again, the group commits the end of every
partition, and the figures "after" are taken once the store's sweeps (every second here) have deleted what they may.

Bytes are the files' sizes and the space the file system allocates for them (at least a block per file: a small
batch costs far more disk than its bytes). Prints JSON lines; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from ingest.broker import DURABLE_BUCKET_URL, BrokerStorage, EmbeddedBroker, free_port, port_open
from ingest.broker_retention import RetentionLimits, RetentionSweeper
from ingest.broker_storage import FileObjectStore
from ingest.kafka_clients import make_producer
from ingest.topics import DETECTOR_STATE, TELEMETRY, ensure_topics
from telematics.settings import load_settings

PARTITIONS = 4
GROUP = "bench-retention"
TRICKLE = "bench.trickle"
TOPICS = (TELEMETRY, DETECTOR_STATE, TRICKLE)
DAY_MS = 24 * 3600 * 1000


def disk(folder: Path, topic: str) -> dict[str, int]:
    """Batch files of a topic in the store's folder: how many, their bytes, the bytes allocated for them."""
    files = []
    for path in (folder / "objects/clusters").glob(f"*/topics/{topic}/partitions/*/records/*.batch"):
        try:
            files.append(path.stat())
        except FileNotFoundError:  # deleted by a sweep meanwhile
            continue
    return {
        "batches": len(files),
        "bytes": sum(stat.st_size for stat in files),
        "allocated": sum(stat.st_blocks * 512 for stat in files),
    }


def commit_everywhere(bootstrap: str, ends: dict[TopicPartition, int] | None) -> dict[TopicPartition, int]:
    """Commit the group's offsets on every partition of both topics: 0, or the given ends; returns the ends."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=GROUP, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for topic in TOPICS for p in range(PARTITIONS)]
        consumer.assign(parts)
        offsets = ends or dict.fromkeys(parts, 0)
        consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()})
        return {tp: int(offset) for tp, offset in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


def produce(bootstrap: str, vehicles: int, reports: int, checkpoints: int, trickle: int) -> None:
    telemetry = make_producer(bootstrap, "bench-telemetry")
    state = make_producer(bootstrap, "bench-state", linger_ms=20, batch_size=512 * 1024, compression_type="lz4")
    start_ms = int(time.time() * 1000) - 8 * DAY_MS
    every = max(1, reports // max(1, checkpoints))
    for report in range(reports):
        ts = start_ms + report * 10_000
        for vehicle in range(vehicles):
            record = {
                "vehicle_id": f"S-{vehicle:05d}",
                "ts": ts,
                "seq": report,
                "lat": 52.52 + vehicle * 1e-4,
                "lon": 13.405 + report * 1e-4,
                "gnss_speed_kmh": 42.0,
                "wheel_speed_kmh": 42.0,
                "heading_deg": 90.0,
                "engine_rpm": 1300,
                "ignition": True,
                "driver_card_id": f"C{vehicle:05d}",
                "ext_power_v": 24.1,
                "panic": False,
            }
            telemetry.send(
                TELEMETRY,
                json.dumps(record, separators=(",", ":")).encode(),
                key=record["vehicle_id"].encode(),
                timestamp_ms=ts,
            )
        telemetry.flush()  # one report round at a time, as units trickle in: small batches
        if (report + 1) % every == 0:
            for vehicle in range(vehicles):
                snapshot = json.dumps(
                    {
                        "vehicle_id": f"S-{vehicle:05d}",
                        "round": report,
                        "detectors": {"speeding": {"over_since": None, "samples": list(range(20))}},
                    }
                ).encode()
                state.send(DETECTOR_STATE, snapshot, key=f"S-{vehicle:05d}".encode(), partition=vehicle % PARTITIONS)
            state.flush()
    for n in range(trickle):
        telemetry.send(TRICKLE, b'{"vehicle_id":"S-00001","ts":0}' * 6, key=b"S-00001", timestamp_ms=start_ms + n)
        telemetry.flush()
    telemetry.close()
    state.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vehicles", type=int, default=200)
    parser.add_argument("--reports", type=int, default=50)
    parser.add_argument("--checkpoints", type=int, default=10)
    parser.add_argument("--trickle", type=int, default=200)
    args = parser.parse_args()
    os.environ["TRUCKGUARD_BROKER_RETENTION_SWEEP_S"] = "1"
    print(json.dumps({"machine": platform.machine(), "cpus": os.cpu_count(), "load": os.getloadavg()[0]}))
    with tempfile.TemporaryDirectory(prefix="truckguard-retention-") as scratch:
        folder = Path(scratch) / "broker-storage"
        broker = EmbeddedBroker(
            free_port(), log_path=Path(scratch) / "broker.log", storage=BrokerStorage(DURABLE_BUCKET_URL, folder)
        )
        broker.start()
        try:
            ensure_topics(broker.bootstrap, PARTITIONS, TOPICS)
            commit_everywhere(broker.bootstrap, None)
            started = time.monotonic()
            produce(broker.bootstrap, args.vehicles, args.reports, args.checkpoints, args.trickle)
            produced_s = time.monotonic() - started
            records = {
                TELEMETRY: args.vehicles * args.reports,
                DETECTOR_STATE: args.vehicles * args.checkpoints,
                TRICKLE: args.trickle,
            }
            ends = commit_everywhere(broker.bootstrap, None)
            before = {topic: disk(folder, topic) for topic in records}
            broker.stop()
            while port_open("127.0.0.1", broker.port):
                time.sleep(0.05)

            store = FileObjectStore(folder, sync=False)
            sweeper = RetentionSweeper(store, RetentionLimits.from_settings(load_settings()))
            timings = []
            for _ in range(2):
                timed = time.perf_counter()
                held = sweeper.sweep()
                timings.append(round((time.perf_counter() - timed) * 1000, 1))
            batches = sum(figures["batches"] for figures in before.values())
            print(
                json.dumps(
                    {
                        "sweeps_ms": timings,
                        "batches": batches,
                        "deleted": held.deleted_batches,
                        "produce_s": round(produced_s, 1),
                    }
                )
            )
            del store, sweeper

            broker.start()
            commit_everywhere(broker.bootstrap, ends)
            deadline = time.monotonic() + 30
            while disk(folder, TELEMETRY)["batches"] > PARTITIONS and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(3)  # the last retired files' grace, and compaction's sweep
            after = {topic: disk(folder, topic) for topic in records}
        finally:
            broker.stop()
        for topic, count in records.items():
            b, a = before[topic], after[topic]
            print(
                json.dumps(
                    {
                        "topic": topic,
                        "records": count,
                        "before": {
                            **b,
                            "bytes_per_record": round(b["bytes"] / count, 1),
                            "allocated_per_record": round(b["allocated"] / count, 1),
                        },
                        "after": {**a, "bytes_per_record_produced": round(a["bytes"] / count, 2)},
                    }
                )
            )


if __name__ == "__main__":
    main()
