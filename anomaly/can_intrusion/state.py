"""Per-vehicle state of the CAN intrusion detector: plain msgspec Structs, saved and restored as JSON."""

from __future__ import annotations

import msgspec


class BamSession(msgspec.Struct, array_like=True):
    """One open multi-packet transfer of a sender: announced packets, next expected sequence, last time."""

    pgn: int
    packets: int
    received: int
    last_t: float


class WindowTally(msgspec.Struct, kw_only=True):
    """What the current window has seen so far; reset when the window closes."""

    frames: int = 0
    counts: dict[int, int] = msgspec.field(default_factory=dict)
    short_gaps: dict[int, int] = msgspec.field(default_factory=dict)
    short_across: dict[int, int] = msgspec.field(default_factory=dict)
    """Too-short gaps whose earlier frame lies in the previous window."""
    bad_payload: dict[int, int] = msgspec.field(default_factory=dict)
    unknown: dict[int, int] = msgspec.field(default_factory=dict)
    wrong_sa: dict[int, int] = msgspec.field(default_factory=dict)
    control: dict[int, int] = msgspec.field(default_factory=dict)
    """Control frames (TSC1/XBR) from SAs that must not send them, by CAN id."""
    claims: int = 0
    claim_ids: dict[int, int] = msgspec.field(default_factory=dict)
    claim_conflicts: list[list[int]] = msgspec.field(default_factory=list)
    """[sa, held NAME (-1: none yet, but the model's NAME differs), claimed NAME, can_id] of claims for an
    address another NAME holds."""
    tp_violations: list[tuple[str, int]] = msgspec.field(default_factory=list)
    """(violation, can_id) of transport-protocol frames that break J1939-21 or the model."""
    tp_ids: dict[int, int] = msgspec.field(default_factory=dict)
    tp_sources: list[int] = msgspec.field(default_factory=list)
    rts_cts: int = 0
    sessions: int = 0
    payload_bytes: int = 0
    invalid: int = 0
    """Frames no J1939 node may send (EDP bit set, SA 255)."""
    bad_dlc: int = 0
    """Frames of a baseline id (model-less) with another data length than it always had."""
    requests: dict[int, int] = msgspec.field(default_factory=dict)
    """(SA << 8 | DA) -> requests (PGN 59904) in this window."""
    cannot_claim: int = 0
    """Cannot Claim Address frames (an address claim from the null address 254): a node lost its address."""
    speed_mismatch: int = 0
    speed_detail: list[float] = msgspec.field(default_factory=list)
    """[wheel km/h, GNSS km/h] of the first mismatch."""
    first_t: float | None = None
    last_t: float | None = None


class CanIncident(msgspec.Struct, kw_only=True):
    """One open incident of one attack type: from its onset window until quiet for the clear time."""

    onset_t: float
    last_t: float
    windows: int = 1
    severity: str = "warning"
    revision: int = 0


class CanVehicleState(msgspec.Struct, kw_only=True):
    """Everything the detector remembers about one vehicle's bus."""

    vehicle_id: str
    window_start: float | None = None
    window_end: float | None = None
    quiet_since: float = 0.0
    """End of the last window that held a flood or a fuzzer: gaps reaching back before it prove nothing."""
    first_t: float | None = None
    frames: int = 0
    last_seen: dict[int, float] = msgspec.field(default_factory=dict)
    tally: WindowTally = msgspec.field(default_factory=WindowTally)
    extra_ids: dict[int, int] = msgspec.field(default_factory=dict)
    """Ids unknown to the model that this vehicle's own ECUs sent (in the warm-up, or seldom-seen PGNs later)."""
    names: dict[int, int] = msgspec.field(default_factory=dict)
    """SA -> the NAME that claimed it on this vehicle (learned in warm-up and after)."""
    bam: dict[int, BamSession] = msgspec.field(default_factory=dict)
    rts: dict[int, float] = msgspec.field(default_factory=dict)
    """(SA << 8 | DA) -> time of an RTS not yet finished: open connection-mode sessions."""
    wheel_kmh: float | None = None
    wheel_t: float | None = None
    pending_kmh: float | None = None
    """A GNSS or tachograph speed that disagreed with the last wheel speed, awaiting the next wheel frame."""
    pending_t: float | None = None
    lat: float | None = None
    lon: float | None = None
    incidents: dict[str, CanIncident] = msgspec.field(default_factory=dict)
    baseline: dict[int, int] = msgspec.field(default_factory=dict)
    """Without a model: id -> its busiest window so far (learned in the baseline, then from calm windows)."""
    dlc: dict[int, int] = msgspec.field(default_factory=dict)
    """Without a model: id -> the data length it had in the baseline."""
    active_sas: list[int] = msgspec.field(default_factory=list)
    """Source addresses that sent anything but address claims in the previous window."""
    claim_request_t: float | None = None
    """Bus time of the last Request for Address Claim."""
    requested: dict[int, float] = msgspec.field(default_factory=dict)
    """PGN -> bus time of the last request for it (at most 64 PGNs)."""
    unsolicited: dict[int, list[float]] = msgspec.field(default_factory=dict)
    """SA -> bus times of its recent claims that answered no request."""


def encode_state(state: CanVehicleState) -> bytes:
    return msgspec.json.encode(state)


def decode_state(raw: bytes | str) -> CanVehicleState:
    return msgspec.json.decode(raw, type=CanVehicleState)
