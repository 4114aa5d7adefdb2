"""CAN intrusion detection: every attack type found on a small capture, clean traffic quiet, model and state I/O."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import msgspec
import pytest

from anomaly.can_intrusion import (
    ATTACKS,
    CanIntrusionDetector,
    CanModel,
    CanModelError,
    can_alerts,
    score_frames,
    score_log,
    window_f1,
)
from can_sim.can_attacks import Attack, inject_attacks
from telematics.canlog import frames_to_batch, write_frames
from telematics.contract import schema
from telematics.outputs import encode
from tests.anomaly.test_can_intrusion_captures import held_out_frames, model

ATTACK_CASES = {
    "dos": [Attack("dos", 12, 14)],
    "fuzzing_ids": [Attack("fuzzing", 12, 14, mode="ids")],
    "fuzzing_payload": [Attack("fuzzing", 12, 14, mode="payload")],
    "spoofing_same_id": [Attack("spoofing", 12, 14)],
    "spoofing_wrong_sa": [Attack("spoofing", 12, 14, mode="wrong_sa", target="EEC1")],
    "spoofing_masquerade": [Attack("spoofing", 12, 15, mode="masquerade")],
    "spoofing_doors": [Attack("spoofing", 12, 14, target="DC2")],
    "injection_tsc1": [Attack("injection", 12, 14)],
    "injection_xbr_masquerade": [Attack("injection", 12, 14, mode="xbr", sa=0x2A)],
    "address_claim_hijack": [Attack("address_claim", 12, 14)],
    "address_claim_storm": [Attack("address_claim", 12, 13, mode="storm")],
    "transport_bam_size": [Attack("transport_protocol", 12, 14, mode="bam_size")],
    "transport_too_many_packets": [Attack("transport_protocol", 12, 14, mode="too_many_packets")],
    "transport_rts_flood": [Attack("transport_protocol", 12, 14, mode="rts_flood")],
}


def _predicted(frames, detector=None) -> dict[int, list[str]]:  # type: ignore[no-untyped-def]
    return {w.index: w.labels for w in score_frames(frames, model(), vehicle_id="HELD-7", detector=detector)}


def test_clean_held_out_traffic_raises_nothing() -> None:
    detector = CanIntrusionDetector(model())
    state = detector.new_state("HELD-7")
    findings = detector.observe_batch(state, held_out_frames()) + detector.flush(state)
    assert findings == []


@pytest.mark.parametrize("case", sorted(ATTACK_CASES))
def test_each_attack_is_found_in_exactly_its_windows(case: str) -> None:
    capture = inject_attacks(held_out_frames(), ATTACK_CASES[case], seed=11)
    predicted = _predicted(capture.frames)
    flagged = {index: set(labels) for index, labels in predicted.items() if labels}
    assert flagged == capture.labels


def test_alerts_one_per_incident_escalated_in_place() -> None:
    capture = inject_attacks(held_out_frames(), [Attack("dos", 12, 17), Attack("injection", 25, 27)], seed=3)
    detector = CanIntrusionDetector(model())
    state = detector.new_state("HELD-7")
    findings = detector.observe_batch(state, capture.frames) + detector.flush(state)
    alerts = can_alerts(findings, fleet_id="nordfracht")
    dos = [a for a in alerts if a.evidence["attack"] == "dos"]
    assert [(a.severity, a.revision) for a in dos] == [("warning", 0), ("critical", 1)]
    assert dos[0].alert_id == dos[1].alert_id and dos[0].onset_ts == dos[1].onset_ts
    injection = [a for a in alerts if a.evidence["attack"] == "injection"]
    assert len(injection) == 1 and injection[0].severity == "critical"
    assert injection[0].evidence["sas"] == [0xF9] and injection[0].evidence["pgns"] == [0]
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    for alert in alerts:
        assert alert.kind == "can_intrusion" and alert.evidence["attack"] in ATTACKS
        assert alert.lat is not None  # the last position the bus itself reported (VP)
        jsonschema.validate(msgspec.json.decode(encode(alert)), schema("alert"), format_checker=checker)


def test_model_save_load_round_trip(tmp_path: Path) -> None:
    path = model().save(tmp_path / "can-model.json")
    loaded = CanModel.load(path)
    assert loaded == model()
    capture = inject_attacks(held_out_frames(), ATTACK_CASES["spoofing_same_id"], seed=1)
    assert _predicted(capture.frames, CanIntrusionDetector(loaded)) == _predicted(capture.frames)
    path.write_text(path.read_text().replace("can-model-1", "can-model-0"))
    with pytest.raises(CanModelError, match="version"):
        CanModel.load(path)


def test_snapshot_and_restore_give_the_same_findings() -> None:
    attacks = [
        Attack("fuzzing", 12, 14), Attack("spoofing", 20, 23, mode="masquerade"), Attack("address_claim", 30, 32)
    ]
    frames = inject_attacks(held_out_frames(), attacks, seed=5).frames
    batch = frames_to_batch("HELD-7", frames)["frames"]  # the contract rows, as Kafka delivers them
    detector = CanIntrusionDetector(model())
    whole = detector.new_state("HELD-7")
    expected = detector.observe_batch(whole, batch) + detector.flush(whole)
    state = detector.new_state("HELD-7")
    got = []
    for start in range(0, len(batch), 997):
        got += detector.observe_batch(state, batch[start : start + 997])
        state = detector.restore(detector.snapshot(state))
    got += detector.flush(state)
    assert msgspec.json.encode(got) == msgspec.json.encode(expected)
    assert {f.attack for f in got} == {"fuzzing", "spoofing", "address_claim"}


def test_the_same_input_gives_the_same_alerts() -> None:
    attacks = [Attack("dos", 12, 14), Attack("transport_protocol", 20, 22)]
    runs = []
    for _ in range(2):
        detector = CanIntrusionDetector(model())
        state = detector.new_state("HELD-7")
        frames = inject_attacks(held_out_frames(), attacks, seed=9).frames
        alerts = can_alerts(detector.observe_batch(state, frames) + detector.flush(state))
        runs.append(b"\n".join(encode(a) for a in alerts))
    assert runs[0] == runs[1] and runs[0]


def test_f1_on_a_held_out_capture_meets_the_targets() -> None:
    attacks = [
        Attack("dos", 10, 13), Attack("fuzzing", 14, 16, mode="ids"), Attack("fuzzing", 17, 19, mode="payload"),
        Attack("spoofing", 20, 23), Attack("spoofing", 24, 26, mode="wrong_sa", target="TCO1"),
        Attack("spoofing", 27, 31, mode="masquerade"), Attack("injection", 32, 34),
        Attack("injection", 35, 37, mode="xbr"), Attack("address_claim", 38, 40),
        Attack("transport_protocol", 41, 44), Attack("spoofing", 45, 48, target="EEC1"),
    ]
    capture = inject_attacks(held_out_frames(), attacks, seed=2024)
    table = window_f1(_predicted(capture.frames), capture.labels, capture.windows())
    targets = {"dos": 0.99, "fuzzing": 0.99, "spoofing": 0.95, "injection": 0.95}
    assert {a: table[a]["f1"] >= target for a, target in targets.items()} == dict.fromkeys(targets, True), table


def test_score_log_reads_log_files_and_bundle_batches(tmp_path: Path) -> None:
    capture = inject_attacks(held_out_frames(), [Attack("injection", 12, 13)], seed=4)
    log = tmp_path / "attack.log"
    write_frames(log, capture.frames)
    windows = score_log(log, model())
    assert [w.index for w in windows if w.labels] == sorted(capture.labels)
    assert sum(w.frames for w in windows) == len(capture.frames)
    bundle = tmp_path / "can.jsonl"
    rows = frames_to_batch("HELD-7", capture.frames)["frames"]
    bundle.write_bytes(b"".join(msgspec.json.encode({"vehicle_id": "HELD-7", "frames": rows[i : i + 500]}) + b"\n"
                                for i in range(0, len(rows), 500)))
    assert [(w.index, w.labels) for w in score_log(bundle, model())] == [(w.index, w.labels) for w in windows]


def test_warm_up_learns_the_vehicle_s_own_extra_ecu() -> None:
    from telematics.canlog import Frame

    extra = [Frame(held_out_frames()[0].timestamp + 0.5 * k, 0x18FF9977, True, bytes(8)) for k in range(120)]
    frames = sorted([*held_out_frames(), *extra], key=lambda f: f.timestamp)
    assert not any(_predicted(frames).values())
    late = [Frame(f.timestamp + 45.0, 0x18FF9988, True, bytes(8)) for f in extra[:3]]
    late += [Frame(f.timestamp + 45.2, 0x18FF9989 + i, True, bytes(8)) for i, f in enumerate(extra[:3])]
    frames = sorted([*held_out_frames(), *late], key=lambda f: f.timestamp)
    assert "fuzzing" in {label for labels in _predicted(frames).values() for label in labels}
