"""CAN intrusion detection by the J1939 protocol rules alone (no model), on simulated and real captures, and a model
trained on a short capture that must not turn a rare legitimate sender into an attack."""

from __future__ import annotations

import jsonschema
import msgspec
import pytest

from anomaly.can_intrusion import (
    ATTACKS,
    CanIntrusionDetector,
    CanModel,
    can_alerts,
    score_frames,
    train_can_model,
)
from can_sim.can_attacks import Attack, inject_attacks
from telematics.canlog import Frame
from telematics.contract import schema
from telematics.j1939 import make_can_id
from telematics.outputs import encode
from tests.anomaly.test_can_intrusion_captures import held_out_frames, training_frames

NO_MODEL = CanModel()

PROTOCOL_CASES = {
    "dos": [Attack("dos", 12, 14)],
    "fuzzing_ids": [Attack("fuzzing", 12, 14, mode="ids")],
    "fuzzing_payload": [Attack("fuzzing", 32, 34, mode="payload")],
    "request_overload_engine": [Attack("request_overload", 12, 14)],
    "request_overload_global": [Attack("request_overload", 12, 14, mode="global", rate_hz=60)],
    "address_claim_hijack": [Attack("address_claim", 12, 14)],
    "address_claim_storm": [Attack("address_claim", 12, 13, mode="storm")],
    "address_claim_takeover": [Attack("address_claim", 12, 14, mode="takeover")],
    "transport_bam_size": [Attack("transport_protocol", 12, 14, mode="bam_size")],
    "transport_too_many_packets": [Attack("transport_protocol", 12, 14, mode="too_many_packets")],
    "transport_rts_flood": [Attack("transport_protocol", 12, 14, mode="rts_flood")],
}


def _flagged(frames, model: CanModel) -> dict[int, set[str]]:  # type: ignore[no-untyped-def]
    return {w.index: set(w.labels) for w in score_frames(list(frames), model, vehicle_id="V") if w.labels}


def test_clean_simulated_traffic_raises_nothing_without_a_model() -> None:
    for frames in (held_out_frames(), training_frames()):
        detector = CanIntrusionDetector(NO_MODEL)
        state = detector.new_state("V")
        assert detector.observe_batch(state, frames) + detector.flush(state) == []


@pytest.mark.parametrize("case", sorted(PROTOCOL_CASES))
def test_each_protocol_attack_is_found_in_exactly_its_windows_without_a_model(case: str) -> None:
    capture = inject_attacks(held_out_frames(), PROTOCOL_CASES[case], seed=11)
    assert _flagged(capture.frames, NO_MODEL) == capture.labels


def _engine_bam(t: float, pgn: int, payload: bytes) -> list[Frame]:
    """A well-formed J1939-21 BAM from the engine (SA 0): announcement, then packets 50 ms apart."""
    packets = -(-len(payload) // 7)
    announce = bytes([32, len(payload) & 0xFF, len(payload) >> 8, packets, 0xFF, pgn & 0xFF, (pgn >> 8) & 0xFF, 0])
    frames = [Frame(t, make_can_id(60416, 0x00, 0xFF, 7), True, announce)]
    for k in range(packets):
        chunk = payload[7 * k : 7 * k + 7].ljust(7, b"\xff")
        frames.append(Frame(t + 0.05 * (k + 1), make_can_id(60160, 0x00, 0xFF, 7), True, bytes([k + 1]) + chunk))
    return frames


def test_a_model_of_a_short_capture_keeps_a_rare_legitimate_sender_quiet() -> None:
    """The engine sends TP/BAM seldom (a DM1 with two faults, its component id on request): a model trained on
    the first 20 s of a drive never saw it, and must not call it an attack."""
    first = training_frames()[0].timestamp
    short = train_can_model([[f for f in training_frames() if f.timestamp < first + 20]])
    assert 0x00 not in short.transport.senders
    t0 = held_out_frames()[0].timestamp
    rare = [
        *_engine_bam(t0 + 40.3, 65226, bytes.fromhex("0000aabbcc0101ddeeff0101")),  # DM1, two active faults
        Frame(t0 + 45.2, make_can_id(59904, 0xEE, 0x00), True, bytes([0xEB, 0xFE, 0x00])),  # request: component id
        *_engine_bam(t0 + 45.3, 65259, b"TRUCKCO*ENG-9*SN12345*UNIT1*"),
        Frame(t0 + 50.1, make_can_id(65226, 0x0B, None), True, bytes.fromhex("00ff0102030401ff")),  # brakes' DM1
        Frame(t0 + 50.2, make_can_id(65226, 0x17, None), True, bytes.fromhex("00ff0506070801ff")),  # cluster's DM1
        Frame(t0 + 50.3, make_can_id(65226, 0x00, None), True, bytes.fromhex("00ff0102030401ff")),
    ]
    frames = sorted([*held_out_frames(), *rare], key=lambda f: f.timestamp)
    assert _flagged(frames, short) == {}
    # the same transfer with a size its packets cannot carry is still malformed transport protocol
    bad = [*_engine_bam(t0 + 40.3, 65226, bytes(12))]
    bad[0] = Frame(bad[0].timestamp, bad[0].arbitration_id, True, bytes([32, 200, 0, 2, 0xFF, 0xCA, 0xFE, 0]))
    frames = sorted([*held_out_frames(), *bad], key=lambda f: f.timestamp)
    assert set().union(*_flagged(frames, short).values()) == {"transport_protocol"}


def test_protocol_alerts_keep_the_contract_shape() -> None:
    capture = inject_attacks(held_out_frames(), [Attack("request_overload", 12, 16)], seed=2)
    detector = CanIntrusionDetector(NO_MODEL)
    state = detector.new_state("V")
    alerts = can_alerts(detector.observe_batch(state, capture.frames) + detector.flush(state), fleet_id="f")
    assert [(a.evidence["attack"], a.severity, a.revision) for a in alerts] == [
        ("request_overload", "warning", 0),
        ("request_overload", "critical", 1),
    ]
    assert alerts[0].evidence["pairs"][0]["sa"] == 0xF9 and alerts[0].evidence["pairs"][0]["da"] == 0x00
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    for alert in alerts:
        assert alert.kind == "can_intrusion" and alert.evidence["attack"] in ATTACKS
        jsonschema.validate(msgspec.json.decode(encode(alert)), schema("alert"), format_checker=checker)


def test_a_model_less_state_survives_snapshot_and_restore() -> None:
    attacks = [Attack("fuzzing", 32, 34, mode="payload"), Attack("address_claim", 40, 42), Attack("dos", 50, 51)]
    capture = inject_attacks(held_out_frames(), attacks, seed=5)
    frames = [(f.timestamp, f.arbitration_id, f.data) for f in capture.frames]
    detector = CanIntrusionDetector(NO_MODEL)
    whole = detector.new_state("V")
    expected = detector.observe_batch(whole, frames) + detector.flush(whole)
    state = detector.new_state("V")
    got = []
    for start in range(0, len(frames), 997):
        got += detector.observe_batch(state, frames[start : start + 997])
        state = detector.restore(detector.snapshot(state))
    got += detector.flush(state)
    assert msgspec.json.encode(got) == msgspec.json.encode(expected)
    assert {f.attack for f in got} == {"fuzzing", "address_claim", "dos"}


def test_the_warm_up_learns_a_second_sender_of_the_vehicle_s_own_but_never_a_stranger() -> None:
    """In its first 30 s the detector learns that this truck's cluster (SA 0x17, which claimed its address at
    power-up) also sends CCVS1; later, a new sender of that settled, periodic PGN is a spoofer."""
    model = train_can_model([list(training_frames())])
    frames = held_out_frames()
    ccvs1 = [f for f in frames if f.arbitration_id == 0x18FEF10B]
    relay = [Frame(f.timestamp + 0.004, (f.arbitration_id & ~0xFF) | 0x17, True, f.data) for f in ccvs1]
    quiet = sorted([*frames, *relay], key=lambda f: f.timestamp)
    assert _flagged(quiet, model) == {}
    t0 = frames[0].timestamp
    late = [Frame(f.timestamp + 0.004, (f.arbitration_id & ~0xFF) | 0x21, True, f.data) for f in ccvs1]
    late = [f for f in late if t0 + 40 <= f.timestamp < t0 + 42]
    spoofed = sorted([*frames, *late], key=lambda f: f.timestamp)
    assert _flagged(spoofed, model) == {int(t0) + 40: {"spoofing"}, int(t0) + 41: {"spoofing"}}
