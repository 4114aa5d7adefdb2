"""Fixtures shared by every test package: a real embedded broker and helpers to run truckguard commands."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.broker import EmbeddedBroker, free_port

pytest_plugins = ["tests.ingest.webhook_receiver"]
"""Fixtures shared across folders: the local webhook receiver of the notifier tests."""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A fresh memory-only Tansu broker on a free loopback port, stopped after the test."""
    with EmbeddedBroker(free_port(), log_path=tmp_path / "broker.log") as running:
        yield running


def truckguard_process(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start `truckguard ARGS` as a child process writing to log_path."""
    log = open(log_path, "ab")  # noqa: SIM115 - closed by the child's exit
    return subprocess.Popen(
        [sys.executable, "-m", "truckguard", *args], env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
    )


def wait_for(predicate, timeout_s: float, what: str, interval_s: float = 0.2):
    """Poll predicate() until it returns something truthy; fail the test with `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
