"""Labelled CAN attacks injected into clean simulated captures, deterministic by seed, for training and evaluation.

Each attack runs from ``start_s`` to ``end_s`` seconds after the start of the capture's first window; every
window that holds an injected (or, for a masquerade, a suppressed) frame is labelled with the attack. Attacks
aligned to whole windows give clean window labels.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from can_sim.truck.ecus import EcuSpec, PeriodicMessage
from can_sim.truck.state import VehicleState
from telematics.canlog import Frame
from telematics.errors import BadInput
from telematics.j1939 import decode_frame, default_database, encode_frame, make_can_id, parse_can_id
from telematics.j1939.codec import SignalValue
from telematics.j1939.transport import TP_CM_PGN, TP_DT_PGN

REQUEST_PGN = 59904
ADDRESS_CLAIM_PGN = 60928
NULL_SA = 0xFE
"""J1939-81's null address: the source of a Cannot Claim Address."""

ATTACK_LABELS = ("dos", "fuzzing", "spoofing", "injection", "address_claim", "transport_protocol", "request_overload")
ATTACKER_SA = 0xF9
"""Off-board diagnostic tool address: what a laptop plugged into the diagnostic port would use."""
ADAS_SA = 0x2A
FLOOD_ID = 0x00000000
"""The highest-priority 29-bit id, which wins every arbitration."""
SPOOF_VALUES: dict[str, dict[str, SignalValue]] = {
    "CCVS1": {"WheelBasedVehicleSpeed": 0.0, "ParkingBrakeSwitch": 1},
    "EEC1": {"EngineSpeed": 0.0},
    "TCO1": {"TachographVehicleSpeed": 0.0, "VehicleMotion": 0},
    "DC2": {"OpenStatusOfDoor3": 0, "OpenStatusOfDoor1": 0},
    "EBC1": {"BrakePedalPosition": 0.0},
}
"""What a spoofer makes each message say: a parked, closed, quiet truck while it is driven away."""


class AttackError(BadInput):
    """An attack is asked for what the capture cannot give (no such message in it, unknown attack or mode)."""


@dataclass(frozen=True, slots=True)
class Attack:
    """One attack: its label, when it runs, and its variant."""

    attack: str
    start_s: float
    end_s: float
    mode: str = ""
    rate_hz: float | None = None
    target: str | None = None
    """Message name for spoofing (default CCVS1)."""
    sa: int | None = None


@dataclass(slots=True)
class LabelledCapture:
    """Frames in bus order and, per window index (start time // window_s), the attacks injected in it."""

    frames: list[Frame]
    labels: dict[int, set[str]]
    window_s: float
    attacks: list[Attack] = field(default_factory=list)

    def windows(self) -> list[int]:
        return sorted({math.floor(f.timestamp / self.window_s) for f in self.frames})


def adas_ecu(period_s: float = 0.1) -> EcuSpec:
    """An ADAS controller at 0x2A sending XBR with no brake demand: a legitimate XBR sender for training."""

    def idle(_: VehicleState) -> dict[str, SignalValue]:
        return {"ExternalAccelerationDemand": 0.0, "XbrEbiMode": 0, "XbrPriority": 3, "XbrControlMode": 0,
                "XbrUrgency": 0.0, "XbrMessageCounter": 0, "XbrMessageChecksum": 0}

    return EcuSpec("adas", ADAS_SA, "ignition", (PeriodicMessage("XBR", idle, period_s),))


def _frame(t: float, can_id: int, data: bytes) -> Frame:
    return Frame(round(t, 6), can_id, True, data, "can0")


def _times(start: float, end: float, rate_hz: float, rng: random.Random) -> list[float]:
    period = 1.0 / rate_hz
    t = start + rng.uniform(0, period)
    times = []
    while t < end:
        times.append(t)
        t += period * rng.uniform(0.9, 1.1)
    return times


def _target_id(frames: Sequence[Frame], message: str) -> int:
    pgn = default_database().message(message).pgn
    for frame in frames:
        if parse_can_id(frame.arbitration_id).pgn == pgn:
            return frame.arbitration_id
    raise AttackError(f"target: got {message!r}, expected a message present in the capture")


def _spoofed(message: str, legit: bytes | None, sa: int, da: int | None) -> tuple[int, bytes]:
    signals: dict[str, SignalValue] = {}
    if legit is not None:
        spec = default_database().message(message)
        decoded = decode_frame(make_can_id(spec.pgn, sa, da), legit)
        if decoded is not None:
            signals = dict(decoded.signals)
    signals.update(SPOOF_VALUES.get(message, {}))
    return encode_frame(message, signals, sa=sa, da=da)


def _dos(frames: list[Frame], attack: Attack, t0: float, t1: float, rng: random.Random) -> list[Frame]:
    data = bytes(8)
    return [_frame(t, FLOOD_ID, data) for t in _times(t0, t1, attack.rate_hz or 1500.0, rng)]


def _fuzzing(frames: list[Frame], attack: Attack, t0: float, t1: float, rng: random.Random) -> list[Frame]:
    known = sorted({f.arbitration_id for f in frames})
    out = []
    for t in _times(t0, t1, attack.rate_hz or 200.0, rng):
        mode = attack.mode or rng.choice(("ids", "payload"))
        if mode == "ids":
            can_id = rng.getrandbits(29)
            data = rng.randbytes(rng.randint(0, 8))
        elif mode == "payload":
            can_id, data = rng.choice(known), rng.randbytes(8)
        else:
            raise AttackError(f"mode: got {mode!r} for fuzzing, expected 'ids' or 'payload'")
        out.append(_frame(t, can_id, data))
    return out


def _spoofing(frames: list[Frame], attack: Attack, t0: float, t1: float, rng: random.Random,
              drop: set[int]) -> list[Frame]:
    message = attack.target or "CCVS1"
    spec = default_database().message(message)
    legit_id = _target_id(frames, message)
    fields = parse_can_id(legit_id)
    mode = attack.mode or "same_id"
    if mode not in ("same_id", "wrong_sa", "masquerade"):
        raise AttackError(f"mode: got {mode!r} for spoofing, expected 'same_id', 'wrong_sa' or 'masquerade'")
    sa = fields.sa if mode != "wrong_sa" else (attack.sa if attack.sa is not None else ATTACKER_SA)
    da = fields.da if spec.default_da is not None else None
    period = 1.0 / attack.rate_hz if attack.rate_hz else (spec.cycle_time_ms or 100) / 1000.0
    if mode == "masquerade":
        drop.update(i for i, f in enumerate(frames) if f.arbitration_id == legit_id and t0 <= f.timestamp < t1)
    legit = [f for f in frames if f.arbitration_id == legit_id]
    out, index, last = [], 0, None
    t = t0 + rng.uniform(0.2, 0.8) * period
    while t < t1:
        while index < len(legit) and legit[index].timestamp <= t:
            last = legit[index].data
            index += 1
        can_id, data = _spoofed(message, last, sa, da)
        out.append(_frame(t, can_id, data))
        t += period
    return out


def _injection(frames: list[Frame], attack: Attack, t0: float, t1: float, rng: random.Random) -> list[Frame]:
    mode = attack.mode or "tsc1"
    sa = attack.sa if attack.sa is not None else ATTACKER_SA
    if mode == "tsc1":  # the 2016 truck-hacking attack: the engine told to hold 2000 rpm
        can_id, data = encode_frame("TSC1", {"EngineOverrideControlMode": 1, "EngineRequestedSpeedSpeedLimit": 2000.0,
                                             "EngineRequestedTorqueTorqueLimit": 100, "OverrideControlModePriority": 0},
                                    sa=sa, da=0x00)
        rate = attack.rate_hz or 100.0
    elif mode == "xbr":  # full braking demanded of the brake controller
        can_id, data = encode_frame("XBR", {"ExternalAccelerationDemand": -6.0, "XbrControlMode": 2,
                                            "XbrPriority": 0, "XbrUrgency": 100.0}, sa=sa, da=0x0B)
        rate = attack.rate_hz or 50.0
    else:
        raise AttackError(f"mode: got {mode!r} for injection, expected 'tsc1' or 'xbr'")
    return [_frame(t, can_id, data) for t in _times(t0, t1, rate, rng)]


def _name(rng: random.Random, function: int) -> dict[str, SignalValue]:
    return {"IdentityNumber": rng.getrandbits(21), "ManufacturerCode": 0, "EcuInstance": 0, "FunctionInstance": 0,
            "Function": function, "NameReserved": 0, "VehicleSystem": 0, "VehicleSystemInstance": 0,
            "IndustryGroup": 1, "ArbitraryAddressCapable": 0}


def _victim_name(frames: Sequence[Frame], sa: int, rng: random.Random) -> bytes:
    for frame in frames:
        if frame.arbitration_id & 0xFF == sa and parse_can_id(frame.arbitration_id).pgn == ADDRESS_CLAIM_PGN:
            return frame.data
    return rng.randbytes(8)


def _address_claim(frames: list[Frame], attack: Attack, t0: float, t1: float, rng: random.Random,
                   drop: set[int]) -> list[Frame]:
    mode = attack.mode or "hijack"
    out = []
    if mode == "takeover":
        # one claim with the all-zero NAME, which wins every contention; the victim, as J1939-81 has it, answers
        # with Cannot Claim Address from the null address and falls silent (as on a real truck's bench capture)
        sa = attack.sa if attack.sa is not None else 0x00
        t = t0 + rng.uniform(0.1, 0.5)
        out.append(_frame(t, make_can_id(ADDRESS_CLAIM_PGN, sa, 0xFF), bytes(8)))
        out.append(_frame(t + 0.015, make_can_id(ADDRESS_CLAIM_PGN, NULL_SA, 0xFF), _victim_name(frames, sa, rng)))
        drop.update(i for i, f in enumerate(frames) if f.arbitration_id & 0xFF == sa and t <= f.timestamp < t1)
    elif mode == "hijack":  # claim the engine's address with a NAME that wins arbitration, again and again
        sa = attack.sa if attack.sa is not None else 0x00
        name = _name(rng, sa)
        name["IdentityNumber"] = 0
        for t in _times(t0, t1, attack.rate_hz or 2.0, rng):
            out.append(_frame(t, *encode_frame("AddressClaimed", name, sa=sa)))
    elif mode == "storm":
        for t in _times(t0, t1, attack.rate_hz or 100.0, rng):
            sa = rng.randint(0x80, 0xFD)
            out.append(_frame(t, *encode_frame("AddressClaimed", _name(rng, rng.randint(128, 250)), sa=sa)))
    else:
        raise AttackError(f"mode: got {mode!r} for address_claim, expected 'hijack', 'storm' or 'takeover'")
    return out


def _cm(sa: int, da: int, control: int, size: int, packets: int, pgn: int, prio: int = 7) -> tuple[int, bytes]:
    limit = 0xFF if control == 32 else packets
    data = bytes([control, size & 0xFF, size >> 8, packets & 0xFF, limit, pgn & 0xFF, (pgn >> 8) & 0xFF, pgn >> 16])
    return make_can_id(TP_CM_PGN, sa, da, prio), data


def _transport(frames: list[Frame], attack: Attack, t0: float, t1: float, rng: random.Random) -> list[Frame]:
    mode = attack.mode or "mixed"
    sa = attack.sa if attack.sa is not None else ATTACKER_SA
    out = []
    modes = ("bam_size", "too_many_packets", "rts_flood")
    for t in _times(t0, t1, attack.rate_hz or 5.0, rng):
        kind = rng.choice(modes) if mode == "mixed" else mode
        if kind == "bam_size":  # announces 255 packets for a 20-byte message: receivers reserve buffers
            out.append(_frame(t, *_cm(sa, 0xFF, 32, 20, 255, 65131)))
        elif kind == "too_many_packets":
            out.append(_frame(t, *_cm(sa, 0xFF, 32, 14, 2, 65131)))
            dt_id = make_can_id(TP_DT_PGN, sa, 0xFF, 7)
            for seq in range(1, 9):
                out.append(_frame(t + 0.002 * seq, dt_id, bytes([seq]) + rng.randbytes(7)))
        elif kind == "rts_flood":  # opens connections to every node until none has a buffer left
            for k, da in enumerate(rng.sample(range(0x00, 0xF0), 8)):
                out.append(_frame(t + 0.001 * k, *_cm(sa, da, 16, 1785, 255, 65259)))
        else:
            raise AttackError(f"mode: got {kind!r} for transport_protocol, expected one of {', '.join(modes)}")
    return [f for f in out if f.timestamp < t1]


def _request_overload(frames: list[Frame], attack: Attack, t0: float, t1: float, rng: random.Random) -> list[Frame]:
    """Requests (PGN 59904) at a rate no compliant requester reaches, each making the target answer."""
    mode = attack.mode or "engine"
    if mode not in ("engine", "global"):
        raise AttackError(f"mode: got {mode!r} for request_overload, expected 'engine' or 'global'")
    da = 0x00 if mode == "engine" else 0xFF
    can_id = make_can_id(REQUEST_PGN, attack.sa if attack.sa is not None else ATTACKER_SA, da)
    requested = (65259, 65260, 65242, 64965)  # component, vehicle and software identification, ECU identification
    out = []
    for t in _times(t0, t1, attack.rate_hz or 500.0, rng):
        pgn = rng.choice(requested)
        out.append(_frame(t, can_id, bytes([pgn & 0xFF, (pgn >> 8) & 0xFF, pgn >> 16])))
    return out


_INJECTORS = {"dos": _dos, "fuzzing": _fuzzing, "injection": _injection, "transport_protocol": _transport,
              "request_overload": _request_overload}


def inject_attacks(frames: Iterable[Frame], attacks: Sequence[Attack], *, seed: int = 0,
                   window_s: float = 1.0, starve: float = 0.3) -> LabelledCapture:
    """Clean frames plus the attacks, in bus order, with window labels; the same seed gives the same frames.

    During a flood each clean frame is lost with probability ``starve`` (it lost arbitration to the flood).
    """
    clean = sorted(frames, key=lambda f: f.timestamp)
    if not clean:
        raise AttackError("frames: got none, expected a clean capture to inject into")
    rng = random.Random(seed)
    base = math.floor(clean[0].timestamp / window_s) * window_s
    drop: set[int] = set()
    injected: list[tuple[Frame, str]] = []
    suppressed: list[Frame] = []
    for attack in attacks:
        if attack.attack not in ATTACK_LABELS:
            raise AttackError(f"attack: got {attack.attack!r}, expected one of {', '.join(ATTACK_LABELS)}")
        if not attack.end_s > attack.start_s:
            raise AttackError(f"end_s: got {attack.end_s}, expected more than start_s {attack.start_s}")
        t0, t1 = base + attack.start_s, base + attack.end_s
        if attack.attack == "spoofing":
            before = set(drop)
            added = _spoofing(clean, attack, t0, t1, rng, drop)
            injected.extend((f, "spoofing") for f in added)
            suppressed.extend(clean[i] for i in sorted(drop - before))  # a masquerade's silenced frames label too
            continue
        if attack.attack == "address_claim":
            # a victim that lost its address is silent: its missing frames are the attack's effect, not its windows
            injected.extend((f, "address_claim") for f in _address_claim(clean, attack, t0, t1, rng, drop))
            continue
        added = _INJECTORS[attack.attack](clean, attack, t0, t1, rng)
        injected.extend((f, attack.attack) for f in added)
        if attack.attack == "dos" and starve > 0:
            drop.update(i for i, f in enumerate(clean) if t0 <= f.timestamp < t1 and rng.random() < starve)
    labels: dict[int, set[str]] = {}
    for frame, label in injected:
        labels.setdefault(math.floor(frame.timestamp / window_s), set()).add(label)
    for frame in suppressed:
        labels.setdefault(math.floor(frame.timestamp / window_s), set()).add("spoofing")
    kept = [f for i, f in enumerate(clean) if i not in drop]
    # a stable sort: on equal times the clean frame comes first
    merged = sorted(kept + [f for f, _ in injected], key=lambda f: f.timestamp)
    return LabelledCapture(frames=merged, labels=labels, window_s=window_s, attacks=list(attacks))
