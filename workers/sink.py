"""`truckguard sink`: runs the store sink until stopped, with the positions feed, the stop lane's relay and
housekeeping beside it, retrying a failing store or broker with back-off."""

from __future__ import annotations

import logging
import threading
import time

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError
from sqlalchemy.exc import OperationalError

from ingest.kafka_clients import make_consumer, make_producer
from ingest.topics import DEADLETTER, REFERENCE, TELEMETRY, ensure_topics
from telematics.settings import Settings
from web.db import make_engine
from web.migrate import upgrade_store
from web.stop_flow import DEFAULT_EXPIRY_S
from workers.housekeeping import HOUSEKEEPING_S, housekeeping
from workers.outbox_relay import relay, run_stop_relay
from workers.pacing import wait_before_retry
from workers.positions_feed import run_positions
from workers.store_sink import GROUP_ID, TOPICS, OutputSink

log = logging.getLogger(__name__)


def _connect(settings: Settings, stop: threading.Event) -> tuple[KafkaConsumer, KafkaProducer] | None:
    """Topics, consumer and producer, retrying while the broker is unreachable; None when stopped first."""
    attempt = 0
    while not stop.is_set():
        try:
            ensure_topics(settings.bootstrap, settings.partitions, (*TOPICS, DEADLETTER, TELEMETRY, REFERENCE))
            consumer = make_consumer(settings.bootstrap, GROUP_ID, "truckguard-web-sink")
            try:
                producer = make_producer(settings.bootstrap, "truckguard-web-sink")
            except Exception:
                consumer.close(autocommit=False)
                raise
            consumer.subscribe(list(TOPICS))
            return consumer, producer
        except KafkaError as exc:
            log.warning("Kafka at %s not reachable (%s); retrying", settings.bootstrap, exc)
            wait_before_retry(stop, attempt)
            attempt += 1
    return None


def run_sink(settings: Settings, stop: threading.Event) -> None:
    """Runs the sink until ``stop`` is set: upgrades the store, creates missing topics, then consumes.

    A bad message goes to the dead-letter topic; a failing store or broker is retried with back-off.
    Nothing but ``stop`` ends the loop. A second thread keeps vehicle positions from telemetry; a third sends
    stop-request decisions from the outbox the moment they commit, whatever the loop is busy with.
    """
    upgrade_store(settings.store_url)
    engine = make_engine(settings.store_url)
    try:
        clients = _connect(settings, stop)
        if clients is None:
            return
        consumer, producer = clients
        sink = OutputSink(engine, consumer, producer)
        positions = threading.Thread(target=run_positions, args=(settings, engine, stop), name="positions",
                                     daemon=True)
        positions.start()
        stop_relay = threading.Thread(target=run_stop_relay, args=(engine, producer, stop), name="stop-relay",
                                      daemon=True)
        stop_relay.start()
        log.info("output sink consuming %s from %s into the store", ", ".join(TOPICS), settings.bootstrap)
        expiry_s = float(getattr(settings, "stop_request_expiry_s", DEFAULT_EXPIRY_S))
        failures = 0
        last_housekeeping = 0.0
        try:
            while not stop.is_set():
                try:
                    sink.step()
                    # The outbox is relayed on every step so a status change reaches the topic within a poll.
                    if time.monotonic() - last_housekeeping >= HOUSEKEEPING_S:
                        housekeeping(engine, producer, expiry_s)
                        last_housekeeping = time.monotonic()
                    else:
                        relay(engine, producer)
                    failures = 0
                except (OperationalError, KafkaError) as exc:
                    log.warning("sink batch failed (%s); retrying", exc)
                    wait_before_retry(stop, failures)
                    failures += 1
                except Exception:
                    # Never stop: a bug or an unforeseen error is logged and the batch retried.
                    log.exception("sink batch failed unexpectedly; retrying")
                    wait_before_retry(stop, failures)
                    failures += 1
        finally:
            stop_relay.join(timeout=5)  # before its producer closes
            consumer.close(autocommit=False)
            producer.close(timeout=5)
            positions.join(timeout=5)
    finally:
        engine.dispose()
