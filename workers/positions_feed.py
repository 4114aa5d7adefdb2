"""The positions feed: each vehicle's latest position and thinned track in the site's store, from
truckguard.telemetry.v1."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from kafka import KafkaConsumer
from kafka.errors import KafkaError
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ingest.topics import TELEMETRY
from telematics.parse import parse_telemetry
from telematics.settings import Settings
from telematics.validation import InvalidRecord
from web.db import writer
from web.positions import Fix, PositionBuffer, fix_from_record, prune_track
from workers.pacing import POLL_TIMEOUT_MS, wait_before_retry

POSITIONS_GROUP_ID = "truckguard-web-positions"
POSITIONS_FLUSH_S = 1.0
"""Telemetry can arrive every second from thousands of vehicles: positions are written at most this often."""

log = logging.getLogger(__name__)


def read_fixes(records: Any) -> list[Fix]:
    """Fixes of the valid telemetry records among ``records``; invalid ones are the detector's to dead-letter."""
    fixes = []
    for record in records:
        try:
            fix = fix_from_record(parse_telemetry(record.value))
        except (InvalidRecord, TypeError, ValueError):
            continue
        if fix is not None:
            fixes.append(fix)
    return fixes


def run_positions(settings: Settings, engine: Engine, stop: threading.Event) -> None:
    """Keeps each vehicle's latest position from truckguard.telemetry.v1, writing at most once a second.

    Its own consumer group starts at the newest telemetry: old positions are of no use to a live map.
    """
    consumer: KafkaConsumer | None = None
    attempt = 0
    while consumer is None and not stop.is_set():
        try:
            consumer = KafkaConsumer(
                bootstrap_servers=settings.bootstrap, group_id=POSITIONS_GROUP_ID, client_id="truckguard-web-positions",
                enable_auto_commit=True, auto_offset_reset="latest", session_timeout_ms=6000,
                heartbeat_interval_ms=1000,
            )
            consumer.subscribe([TELEMETRY])
        except KafkaError as exc:
            log.warning("positions: Kafka not reachable (%s); retrying", exc)
            wait_before_retry(stop, attempt)
            attempt += 1
    if consumer is None:
        return
    buffer = PositionBuffer()
    last_flush = time.monotonic()
    last_prune = 0.0
    try:
        while not stop.is_set():
            try:
                polled = consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
                for fix in read_fixes(r for records in polled.values() for r in records):
                    buffer.add(fix)
                if buffer and time.monotonic() - last_flush >= POSITIONS_FLUSH_S:
                    with Session(writer(engine)) as session, session.begin():
                        buffer.flush(session)
                        if time.monotonic() - last_prune > 600:
                            prune_track(session)
                            last_prune = time.monotonic()
                    last_flush = time.monotonic()
            except Exception:
                log.exception("positions: batch failed; carrying on")
                wait_before_retry(stop, 0)
    finally:
        consumer.close()
