"""`truckguard demo`: one command runs the whole platform, shows alerts, and leaves nothing behind when stopped."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

from ingest.broker import free_port, port_open
from ingest.topics import TELEMETRY
from tests.ingest.kafka_helpers import read_all

pytestmark = pytest.mark.slow


def processes_with_data_dir(data_dir: Path) -> list[int]:
    """PIDs of processes whose environment names this data directory (the demo's children carry it)."""
    found = []
    marker = f"TRUCKGUARD_DATA_DIR={data_dir}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_demo_shows_alerts_and_stop_requests_and_sigterm_stops_everything(tmp_path: Path) -> None:
    web_port, broker_port = free_port(), free_port()
    env = {**os.environ, "TRUCKGUARD_DATA_DIR": str(tmp_path), "TRUCKGUARD_LOG_LEVEL": "WARNING"}
    out = tmp_path / "demo.out"
    with open(out, "wb") as handle:
        demo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "truckguard",
                "demo",
                "--speed",
                "20",
                "--port",
                str(web_port),
                "--broker-port",
                str(broker_port),
            ],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 360  # the fleet catches up with the clock, then runs in real time
        while "STOP REQUEST" not in out.read_text() and time.monotonic() < deadline:
            assert demo.poll() is None, out.read_text()
            time.sleep(1)
        text = out.read_text()
        assert f"open http://127.0.0.1:{web_port}/" in text
        assert "officer1" in text and "officer2" in text and "law_enforcement" in text
        assert "  alert  " in text and "STOP REQUEST" in text, text
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/healthz", timeout=5) as response:
            assert response.status == 200
        assert processes_with_data_dir(tmp_path)  # the parts really run as processes of their own
        # one truck's records reach the platform only through its Teltonika unit and `devices serve`
        fitted = re.search(r"  (\S+) carries a simulated Teltonika unit", text)
        assert fitted, text
        sources = {orjson.loads(value).get("source") for value in read_all(f"127.0.0.1:{broker_port}", TELEMETRY)
                   if orjson.loads(value)["vehicle_id"] == fitted.group(1)}
        assert sources == {"teltonika"}, sources
    finally:
        demo.send_signal(signal.SIGTERM)
        code = demo.wait(60)
    assert code == 0, out.read_text()[-3000:]
    assert "nothing left running" in out.read_text()
    assert not port_open("127.0.0.1", web_port) and not port_open("127.0.0.1", broker_port)
    assert processes_with_data_dir(tmp_path) == []


@pytest.mark.parametrize(("speed", "lead_s"), [(1.0, 0), (0.5, 0), (1.25, 240), (5.0, 480), (20.0, 480)])
def test_the_fleet_starts_in_the_past_by_at_most_what_it_can_catch_up(speed: float, lead_s: int) -> None:
    from datetime import UTC, datetime, timedelta

    from truckguard.demo import SEGMENT_S, segment_start
    from web.mapdata import STALE_AFTER

    now = datetime(2026, 12, 7, 1, 15, 12, 345678, tzinfo=UTC)
    start = segment_start(now, speed)
    assert start == (now - timedelta(seconds=lead_s)).replace(microsecond=0)
    assert lead_s <= SEGMENT_S * max(0.0, 1 - 1 / speed) + 1e-6  # no more than the speed-up gains over a segment
    assert now - start < STALE_AFTER  # no vehicle shows as out of touch while the fleet catches up
