"""Streams a bundle's telemetry into Kafka as gateways would: keyed by vehicle, paced in accelerated event time."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import orjson
from kafka.producer.future import FutureRecordMetadata

from ingest import topics
from ingest.kafka_clients import make_producer, raise_unacknowledged
from telematics.bundle import TELEMETRY_FILE, iter_lines
from telematics.validation import parse_timestamp

log = logging.getLogger(__name__)

REPORTS_CHECKED_EVERY = 10_000
"""Delivery reports are checked in rounds, so a long feed keeps only the unfinished sends' futures."""


def vehicle_key(line: bytes) -> bytes | None:
    """The Kafka key of a telemetry line: its vehicle_id, or None when the line has none readable."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    vehicle_id = value.get("vehicle_id") if isinstance(value, dict) else None
    return vehicle_id.encode() if isinstance(vehicle_id, str) else None


def event_ms(line: bytes) -> int | None:
    try:
        value = orjson.loads(line)
        return parse_timestamp(value["ts"]) if isinstance(value, dict) and "ts" in value else None
    except (orjson.JSONDecodeError, ValueError):
        return None


def stream_bundle(
    bundle: Path,
    bootstrap: str,
    *,
    speed: float = 10.0,
    stop: threading.Event | None = None,
    topic: str = topics.TELEMETRY,
) -> int:
    """Produce every telemetry line in arrival order; speed 0 means as fast as possible. Returns lines sent.

    Every send's delivery report is checked: a line the broker did not store raises UnacknowledgedSends
    instead of being counted as sent.
    """
    producer = make_producer(bootstrap, "truckguard-feed")
    sent = 0
    futures = []
    first_event: int | None = None
    started = time.monotonic()
    try:
        for _, line in iter_lines(Path(bundle) / TELEMETRY_FILE):
            if stop is not None and stop.is_set():
                break
            if speed > 0:
                ts = event_ms(line)
                if ts is not None:
                    first_event = ts if first_event is None else first_event
                    due = started + (ts - first_event) / 1000 / speed
                    pause = due - time.monotonic()
                    if pause > 0:
                        if stop is None:
                            time.sleep(pause)
                        elif stop.wait(pause):
                            break
            futures.append(producer.send(topic, key=vehicle_key(line), value=line))
            sent += 1
            if len(futures) >= REPORTS_CHECKED_EVERY:
                futures = _check_finished(futures)
        producer.flush()
        raise_unacknowledged(futures, "those lines are not on the topic")
    finally:
        producer.close()
    log.info("streamed %d telemetry records from %s", sent, bundle)
    return sent


def _check_finished(futures: list[FutureRecordMetadata]) -> list[FutureRecordMetadata]:
    """Raise if a finished send failed; the unfinished ones, to check later."""
    raise_unacknowledged([f for f in futures if f.is_done], "those lines are not on the topic")
    return [f for f in futures if not f.is_done]
