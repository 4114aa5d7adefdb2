"""The Kafka topics of contract v1 (section 1) and creating them when they are missing."""

from __future__ import annotations

import contextlib
import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

TELEMETRY = "truckguard.telemetry.v1"
CAN = "truckguard.can.v1"
ALERTS = "truckguard.alerts.v1"
STOP_REQUESTS = "truckguard.stop-requests.v1"
DEADLETTER = "truckguard.deadletter.v1"
REFERENCE = "truckguard.reference.v1"
"""Internal: the web site's reference data, one message per fleet (with its vehicles and sites), per vehicle's planned
trips and per zone (bundle shapes), keyed ``fleet:<id>``, ``trips:<vehicle_id>``, ``zone:<id>``, plus a ``manifest``."""
DETECTOR_STATE = "truckguard.detector-state.v1"
"""Internal: per-vehicle detector state checkpoints, keyed by vehicle_id, partitioned like the telemetry."""

CONTRACT_TOPICS = (TELEMETRY, CAN, ALERTS, STOP_REQUESTS, DEADLETTER)
VEHICLE_COMMANDS = "truckguard.vehicle-commands.v1"
"""Internal: signed remote-stop commands for the vehicle gateways, keyed by vehicle_id."""
INTERNAL_TOPICS = (REFERENCE, DETECTOR_STATE, VEHICLE_COMMANDS)
SINGLE_PARTITION = {REFERENCE: 1}
"""Topics whose order matters across all keys: one partition."""
_DAY_MS = 24 * 3600 * 1000
TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    # A detector restoring a partition needs only each vehicle's latest snapshot: compaction keeps exactly that,
    # and rolling a segment every hour lets the cleaner reach it (Kafka compacts closed segments only). A real
    # cluster applies these (docs/scaling.md); the durable embedded broker's store applies retention.ms,
    # retention.bytes and cleanup.policy (ingest/broker_retention.py); in memory nothing is kept past a restart.
    DETECTOR_STATE: {"cleanup.policy": "compact", "segment.ms": "3600000", "min.cleanable.dirty.ratio": "0.1"},
    # The detectors rebuild the reference data from the newest message of each key (ingest/reference_source.py).
    REFERENCE: {"cleanup.policy": "compact", "segment.ms": "3600000", "min.cleanable.dirty.ratio": "0.1"},
    # Time retention, as docs/scaling.md sets it for a cluster: a week of telemetry (a day can be replayed, a
    # detector group down for a weekend resumes without loss), two days of bulky raw CAN frames scored at once,
    # a day of commands valid for minutes, two weeks of dead letters for an operator to look at, and a month of
    # alerts and stop requests (the web store keeps the record of each incident).
    TELEMETRY: {"retention.ms": str(7 * _DAY_MS)},
    CAN: {"retention.ms": str(2 * _DAY_MS)},
    VEHICLE_COMMANDS: {"retention.ms": str(1 * _DAY_MS)},
    DEADLETTER: {"retention.ms": str(14 * _DAY_MS)},
    ALERTS: {"retention.ms": str(30 * _DAY_MS)},
    STOP_REQUESTS: {"retention.ms": str(30 * _DAY_MS)},
}
ALL_TOPICS = (*CONTRACT_TOPICS, *INTERNAL_TOPICS)

log = logging.getLogger(__name__)


def ensure_topics(bootstrap: str, partitions: int, topics: tuple[str, ...] = ALL_TOPICS) -> list[str]:
    """Create the topics that do not exist yet, with `partitions` partitions each; returns the ones created."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="truckguard-admin", request_timeout_ms=10_000)
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process created them first
                admin.create_topics(
                    [
                        NewTopic(t, SINGLE_PARTITION.get(t, partitions), 1, topic_configs=TOPIC_CONFIGS.get(t))
                        for t in missing
                    ]
                )
            log.info("created topics %s with %d partitions", ", ".join(missing), partitions)
        return missing
    finally:
        admin.close()
