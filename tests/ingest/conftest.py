"""Fixtures shared by the ingest tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ingest.broker import EmbeddedBroker, free_port
from ingest.topics import ensure_topics


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An embedded broker with the topics made (2 partitions), for one test module."""
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(free_port(), log_path=log) as running:
        ensure_topics(running.bootstrap, 2)
        yield running.bootstrap
