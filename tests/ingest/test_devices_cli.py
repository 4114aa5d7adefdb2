"""`truckguard devices serve` as a user runs it, fed by the demo's simulated Teltonika unit, up to alerts."""

from __future__ import annotations

import signal
import subprocess
import threading
from pathlib import Path

import orjson
import pytest

from can_sim.teltonika_device import (
    DEMO_IMEI,
    DeviceRefused,
    SimulatedTeltonikaDevice,
    register_demo_device,
    start_demo_device,
)
from ingest.broker import EmbeddedBroker, free_port, port_open
from ingest.replay import replay_bundle
from ingest.topics import TELEMETRY, ensure_topics
from tests.bundles import night_theft_into_market, write_bundle
from tests.conftest import truckguard_process, wait_for
from tests.ingest.kafka_helpers import read_all

pytestmark = pytest.mark.slow


def test_serve_a_simulated_unit_into_an_alert(broker: EmbeddedBroker, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "bundle", night_theft_into_market())
    twin, track_of = register_demo_device(bundle)
    assert (twin, track_of) == ("NF-101-FMB", "NF-101")
    ensure_topics(broker.bootstrap, 2)
    port = free_port()
    log = tmp_path / "devices.log"
    process = truckguard_process(  # the port from the environment, as a service unit sets it
        ["devices", "serve", "--reference", str(bundle), "--bootstrap", broker.bootstrap],
        {"TRUCKGUARD_LOG_LEVEL": "INFO", "TRUCKGUARD_TELTONIKA_PORT": str(port)}, log)
    try:
        wait_for(lambda: port_open("127.0.0.1", port) or process.poll() is not None, 30, "the Teltonika listener")
        assert process.poll() is None, log.read_text()
        with pytest.raises(DeviceRefused):
            SimulatedTeltonikaDevice("490154203237518", "127.0.0.1", port).connect()
        stop = threading.Event()
        start_demo_device(bundle, "127.0.0.1", port, track_of=track_of, speed=0, stop=stop,
                          not_ahead_of_clock=False).join(60)

        def received() -> list[dict]:
            values = [orjson.loads(v) for v in read_all(broker.bootstrap, TELEMETRY)]
            return [v for v in values if v["vehicle_id"] == twin]

        records = wait_for(lambda: len(received()) == 75 and received(), 30, "75 records of the twin")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
    assert process.returncode == 0, log.read_text()
    assert "teltonika 75" in log.read_text()  # the counters' last summary line
    assert {r["source"] for r in records} == {"teltonika"}
    assert DEMO_IMEI not in {r["vehicle_id"] for r in records}

    # The records the unit delivered drive the detector like the original track: into the market, at night.
    replayed = write_bundle(tmp_path / "replayed", records, fleet=orjson.loads((bundle / "fleet.json").read_bytes()))
    replay_bundle(replayed, tmp_path / "alerts.jsonl", tmp_path / "stops.jsonl", progress=False)
    kinds = {orjson.loads(line)["kind"] for line in (tmp_path / "alerts.jsonl").read_bytes().splitlines()}
    assert {"protected_zone_intrusion", "ramming_risk"} & kinds, kinds
