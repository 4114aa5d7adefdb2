"""`truckguard broker`: the embedded Tansu broker starts on loopback, answers Kafka clients, and stops."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.broker import BrokerError, EmbeddedBroker, free_port, port_open
from ingest.topics import ALL_TOPICS, REFERENCE, ensure_topics

pytestmark = pytest.mark.slow


def test_broker_command_returns_once_it_answers_and_stop_ends_it(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "TRUCKGUARD_DATA_DIR": str(tmp_path), "TRUCKGUARD_BROKER_PORT": str(port)}
    started = subprocess.run(
        [sys.executable, "-m", "truckguard", "broker"], env=env, capture_output=True, text=True, timeout=60
    )
    try:
        assert started.returncode == 0, started.stderr
        assert f"broker answers at 127.0.0.1:{port}" in started.stdout
        assert port_open("127.0.0.1", port)  # still running after the command returned
        created = ensure_topics(f"127.0.0.1:{port}", 3)
        assert set(created) == set(ALL_TOPICS)
    finally:
        stopped = subprocess.run(
            [sys.executable, "-m", "truckguard", "broker", "--stop"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert stopped.returncode == 0, stopped.stderr
    deadline = time.monotonic() + 10
    while port_open("127.0.0.1", port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not port_open("127.0.0.1", port)


def test_topics_get_the_configured_partitions_and_the_reference_topic_one() -> None:
    from kafka import KafkaConsumer

    with EmbeddedBroker(free_port()) as broker:
        ensure_topics(broker.bootstrap, 3)
        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap)
        try:
            counts = {t: len(consumer.partitions_for_topic(t) or ()) for t in ALL_TOPICS}
        finally:
            consumer.close()
    assert counts[REFERENCE] == 1
    assert {t: n for t, n in counts.items() if t != REFERENCE} == {t: 3 for t in ALL_TOPICS if t != REFERENCE}


def test_a_busy_port_is_refused_with_a_clear_error() -> None:
    with EmbeddedBroker(free_port()) as first, pytest.raises(BrokerError, match="already in use"):
        EmbeddedBroker(first.port).start()
