"""Attack injectors: deterministic by seed, labelled by window, and each shaped like the attack it names."""

from __future__ import annotations

import pytest

from can_sim.can_attacks import ATTACKER_SA, FLOOD_ID, Attack, AttackError, inject_attacks
from telematics.j1939 import decode_frame, parse_can_id
from tests.anomaly.test_can_intrusion_captures import base, held_out_frames


def test_the_same_seed_gives_the_same_capture_and_another_seed_another() -> None:
    attacks = [Attack("fuzzing", 12, 14), Attack("dos", 20, 21)]
    first = inject_attacks(held_out_frames(), attacks, seed=1)
    assert first.frames == inject_attacks(held_out_frames(), attacks, seed=1).frames
    assert first.frames != inject_attacks(held_out_frames(), attacks, seed=2).frames
    assert first.labels == {int(base()) + s: {"fuzzing"} for s in (12, 13)} | {int(base()) + 20: {"dos"}}


def test_frames_stay_in_bus_order_and_clean_windows_stay_unlabelled() -> None:
    capture = inject_attacks(held_out_frames(), [Attack("address_claim", 12, 13, mode="storm")], seed=3)
    times = [f.timestamp for f in capture.frames]
    assert times == sorted(times)
    assert set(capture.labels) == {int(base()) + 12}
    assert len(capture.frames) > len(held_out_frames())


def test_a_flood_uses_the_top_priority_id_and_starves_the_bus() -> None:
    capture = inject_attacks(held_out_frames(), [Attack("dos", 12, 13, rate_hz=1000)], seed=4)
    window = [f for f in capture.frames if base() + 12 <= f.timestamp < base() + 13]
    flood = [f for f in window if f.arbitration_id == FLOOD_ID]
    clean = [f for f in held_out_frames() if base() + 12 <= f.timestamp < base() + 13]
    assert 900 <= len(flood) <= 1100
    assert len(window) - len(flood) < len(clean)  # frames lost arbitration


def test_a_masquerade_replaces_the_brakes_wheel_speed() -> None:
    capture = inject_attacks(held_out_frames(), [Attack("spoofing", 12, 14, mode="masquerade")], seed=5)
    during = [f for f in capture.frames if base() + 12 <= f.timestamp < base() + 14]
    ccvs1 = [f for f in during if parse_can_id(f.arbitration_id).pgn == 65265]
    assert 19 <= len(ccvs1) <= 21
    speeds = {decode_frame(f.arbitration_id, f.data).signals["WheelBasedVehicleSpeed"] for f in ccvs1}
    assert speeds == {0.0}


def test_injected_torque_control_comes_from_the_diagnostic_address() -> None:
    capture = inject_attacks(held_out_frames(), [Attack("injection", 12, 13)], seed=6)
    tsc1 = [f for f in capture.frames if parse_can_id(f.arbitration_id).pgn == 0]
    assert tsc1 and {parse_can_id(f.arbitration_id).sa for f in tsc1} == {ATTACKER_SA}
    decoded = decode_frame(tsc1[0].arbitration_id, tsc1[0].data)
    assert decoded.signals["EngineOverrideControlMode"] == 1
    assert decoded.signals["EngineRequestedSpeedSpeedLimit"] == 2000


@pytest.mark.parametrize(
    ("attack", "message"),
    [(Attack("hacking", 1, 2), "attack"), (Attack("dos", 3, 2), "end_s"),
     (Attack("fuzzing", 1, 2, mode="bits"), "mode"), (Attack("spoofing", 1, 2, target="TSC1"), "target")],
)
def test_bad_attacks_are_refused_naming_the_field(attack: Attack, message: str) -> None:
    with pytest.raises(AttackError, match=message):
        inject_attacks(held_out_frames(), [attack], seed=0)


def test_a_request_overload_asks_the_engine_far_faster_than_any_requester() -> None:
    capture = inject_attacks(held_out_frames(), [Attack("request_overload", 12, 13)], seed=7)
    requests = [f for f in capture.frames if parse_can_id(f.arbitration_id).pgn == 59904]
    assert 450 <= len(requests) <= 550  # 500 a second by default
    assert {(parse_can_id(f.arbitration_id).sa, parse_can_id(f.arbitration_id).da) for f in requests} == {
        (ATTACKER_SA, 0x00)
    }
    assert {len(f.data) for f in requests} == {3}  # J1939-21: a request carries the 3-byte PGN asked for
    assert capture.labels == {int(base()) + 12: {"request_overload"}}


def test_an_address_takeover_wins_the_claim_and_silences_the_victim() -> None:
    capture = inject_attacks(held_out_frames(), [Attack("address_claim", 12, 20, mode="takeover")], seed=8)
    claims = [f for f in capture.frames if parse_can_id(f.arbitration_id).pgn == 60928 and f.timestamp > base() + 5]
    assert (parse_can_id(claims[0].arbitration_id).sa, claims[0].data) == (0x00, bytes(8))
    engine_name = next(f.data for f in held_out_frames() if f.arbitration_id == 0x18EEFF00)
    assert (parse_can_id(claims[1].arbitration_id).sa, claims[1].data) == (0xFE, engine_name)  # Cannot Claim
    engine_after = [
        f
        for f in capture.frames
        if f.arbitration_id & 0xFF == 0x00 and claims[1].timestamp < f.timestamp < base() + 20 and f not in claims
    ]
    assert engine_after == []
    assert capture.labels == {int(base()) + 12: {"address_claim"}}
