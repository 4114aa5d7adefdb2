"""CAN intrusion detection at the edges: replay over a bundle's can.jsonl and the live detector on truckguard.can.v1."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from can_sim.can_attacks import Attack, inject_attacks
from ingest.broker import EmbeddedBroker
from ingest.replay import replay_bundle
from ingest.topics import ALERTS, CAN, DEADLETTER, ensure_topics
from telematics.canlog.batch import frames_to_batch
from tests.anomaly.test_can_intrusion_captures import held_out_frames, model
from tests.bundles import fleet_with, write_bundle
from tests.conftest import truckguard_process, wait_for
from tests.ingest.kafka_helpers import produce, read_all

VEHICLE = "HELD-7"


def can_batches() -> list[dict]:
    """The held-out truck's traffic with a flood 12-14 s in, as one contract batch per second of bus time."""
    capture = inject_attacks(held_out_frames(), [Attack("dos", 12, 14)], seed=3)
    by_second: dict[int, list] = {}
    for frame in capture.frames:
        by_second.setdefault(int(frame.timestamp), []).append(frame)
    return [frames_to_batch(VEHICLE, frames) for _, frames in sorted(by_second.items())]


def can_bundle(directory: Path) -> tuple[Path, Path]:
    bundle = write_bundle(directory / "bundle", [], fleet=fleet_with([VEHICLE]))
    lines = [json.dumps(b) for b in can_batches()]
    lines.insert(3, '{"vehicle_id": "HELD-7", "frames": [[1.0, 256, "zz"]]}')
    (bundle / "can.jsonl").write_text("\n".join(lines) + "\n")
    model_path = directory / "can-model.json"
    model().save(model_path)
    return bundle, model_path


def can_alerts_of(lines: list[bytes]) -> list[dict]:
    return [a for a in map(json.loads, lines) if a["kind"] == "can_intrusion"]


def test_replay_scores_can_jsonl_and_rejects_a_bad_batch(tmp_path: Path) -> None:
    from anomaly.can_intrusion import CanModel

    bundle, model_path = can_bundle(tmp_path)
    summary = replay_bundle(
        bundle,
        tmp_path / "a.jsonl",
        tmp_path / "s.jsonl",
        tmp_path / "r.jsonl",
        can_model=CanModel.load(model_path),
        progress=False,
    )
    alerts = can_alerts_of((tmp_path / "a.jsonl").read_bytes().splitlines())
    assert {a["evidence"]["attack"] for a in alerts} == {"dos"}
    assert all(a["fleet_id"] == "nordfracht" and a["vehicle_id"] == VEHICLE for a in alerts)
    (reject,) = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert reject["file"] == "can.jsonl" and reject["line"] == 4
    assert reject["error"].startswith("frames[0][2]: got 'zz'")
    assert summary.counts["can"]["rejected"] == 1


def test_replay_without_a_model_scores_can_jsonl_by_the_protocol_rules(tmp_path: Path) -> None:
    bundle, _ = can_bundle(tmp_path)
    summary = replay_bundle(bundle, tmp_path / "a.jsonl", tmp_path / "s.jsonl", tmp_path / "r.jsonl", progress=False)
    alerts = can_alerts_of((tmp_path / "a.jsonl").read_bytes().splitlines())
    assert [(a["evidence"]["attack"], a["severity"]) for a in alerts] == [("dos", "warning")]
    assert alerts[0]["evidence"]["flood_ids"] == ["0x00000000"] and alerts[0]["fleet_id"] == "nordfracht"
    assert summary.counts["can"]["records"] == len(can_batches()) + 1 and summary.counts["can"]["rejected"] == 1


@pytest.mark.slow
def test_live_detector_watches_the_can_topic_and_matches_replay(broker: EmbeddedBroker, tmp_path: Path) -> None:
    from anomaly.can_intrusion import CanModel

    bundle, model_path = can_bundle(tmp_path)
    replay_bundle(
        bundle, tmp_path / "a.jsonl", tmp_path / "s.jsonl", can_model=CanModel.load(model_path), progress=False
    )
    expected = sorted(line for line in (tmp_path / "a.jsonl").read_bytes().splitlines() if b"can_intrusion" in line)
    ensure_topics(broker.bootstrap, 4)
    env = {"TRUCKGUARD_DATA_DIR": str(tmp_path), "TRUCKGUARD_LOG_LEVEL": "INFO", "TRUCKGUARD_IDLE_FLUSH_S": "1"}
    detector = truckguard_process(
        ["detect", "--bootstrap", broker.bootstrap, "--reference", str(bundle), "--can-model", str(model_path)],
        env,
        tmp_path / "detect.log",
    )
    try:
        produce(broker.bootstrap, CAN, (bundle / "can.jsonl").read_text().splitlines())
        wait_for(lambda: len(read_all(broker.bootstrap, ALERTS)) >= len(expected), 60, "the CAN alerts")
        wait_for(lambda: read_all(broker.bootstrap, DEADLETTER), 30, "the bad batch's dead letter")
    finally:
        detector.send_signal(signal.SIGTERM)
        detector.wait(30)
    assert sorted(read_all(broker.bootstrap, ALERTS)) == expected
    (letter,) = [json.loads(v) for v in read_all(broker.bootstrap, DEADLETTER)]
    assert letter["topic"] == CAN and letter["error"].startswith("frames[0][2]")
    assert detector.returncode == 0
