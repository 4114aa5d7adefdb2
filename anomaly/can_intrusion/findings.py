"""What the CAN intrusion detector reports for one window and attack type, and its tunable thresholds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec


class CanFinding(msgspec.Struct, kw_only=True):
    """One attack type seen in one window of one vehicle's bus; ``report`` marks a new or escalated incident."""

    vehicle_id: str
    attack: str
    window_start: float
    window_end: float
    ts: float
    """Bus time of the window's last frame."""
    onset: float
    """Bus time at which the incident began (the start of its first window)."""
    severity: str
    score: float
    revision: int
    report: bool
    details: dict[str, Any]
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class CanDetectorConfig:
    """Thresholds; the defaults hold no false alarm on clean simulated traffic nor on the real captures of bench_can."""

    gap_factor: float = 0.6
    """A frame closer to the previous one of its id than this fraction of the learned shortest gap is extra."""
    dos_min_rate_hz: float = 200.0
    """A single id must send at least this often to be a flood: twice J1939's fastest broadcast rate (10 ms, e.g.
    EEC1/ETC1 in J1939-71); real trucks never showed more than 101 frames/s of one id. With a model, also..."""
    dos_factor: float = 4.0
    """...and this many times its learned maximum per window."""
    total_factor: float = 3.0
    """Total frames per window above this multiple of the learned maximum is a flood."""
    fuzz_unknown_ids: int = 3
    fuzz_bad_payloads: int = 2
    speed_tolerance_kmh: float = 5.0
    speed_tolerance_frac: float = 0.1
    claim_margin: int = 5
    rts_cts_margin: int = 4
    session_margin: int = 4
    max_open_connections: int = 4
    connection_timeout_s: float = 1.25
    bam_timeout_s: float = 0.75
    warmup_s: float = 30.0
    """Bus time per vehicle during which periodic ids unknown to the model are learned as this vehicle's own."""
    max_extra_ids: int = 64
    clear_s: float = 10.0
    """An incident closes after this long without a window showing its attack; a later one is a new alert."""
    escalate_windows: int = 3
    """Windows of a sustained attack after which a warning becomes critical."""
    bitrate_bps: int = 250_000
    """The bus's bit rate: 250 kbit/s for J1939-11/-15 (most trucks), 500 kbit/s for J1939-14."""
    bus_load_limit: float = 0.9
    """Share of the bit rate above which a window is a flood: a 250 kbit/s bus carries at most about 1,900
    extended 8-byte frames a second (131 bits each before stuffing); real trucks run at 15-40 %."""
    max_nodes: int = 30
    """J1939-11 allows at most 30 ECUs on one segment: more source addresses (or address claims) in one window
    than that is not a vehicle's own network."""
    fuzz_invalid: int = 3
    """Frames that no J1939 node may send (EDP bit set, source address 255) in one window that make a fuzzer."""
    request_pair_max: int = 10
    """Requests (PGN 59904) from one SA to one destination per window: J1939-21 gives a responder 200 ms (Tr) to
    answer, so a requester that waits for its answers asks at most five times a second; twice that is a flood."""
    request_total_max: int = 50
    """Requests on the whole bus per window (real trucks: 0-3 a second)."""
    answer_s: float = 1.25
    """A frame this soon after a request for its PGN answers it (J1939-21: T3, 1.25 s), so an address claim after a
    Request for Address Claim is not unsolicited, and an extra frame of a requested PGN is not a second sender."""
    unsolicited_claims: int = 2
    """J1939-81: a CA claims its address at power-up (before it sends anything else) and when asked or contended.
    This many unasked claims, within ``clear_s``, of an address that is busy sending is a takeover attempt."""
    baseline_s: float = 10.0
    """Without a model: bus time watched before rates and new ids are judged (every broadcast of period 5 s or less
    has shown twice)."""
    fuzz_new_ids: int = 8
    """Without a model, after the baseline: ids never seen before, in one window, that make a fuzzer."""
    fuzz_busy_ids: int = 5
    """Without a model: baseline ids each sending at least ``busy_margin`` frames more than their busiest window so
    far, in one window, that make a payload fuzzer (a spoofer adds to one id, a fuzzer to many)."""
    busy_margin: int = 3
    capture_start_grace_s: float = 2.0
    """Transport packets this soon after the first frame may belong to a transfer announced before the capture
    began (a BAM of ten packets at J1939-21's 200 ms maximum spacing lasts 2 s)."""
    untrained_sessions: int = 20
    """Without a model: transport sessions (BAM + RTS) or RTS/CTS frames per window that make a flood; real trucks
    open 1-3 a second, and J1939-21 allows one open session per sender and destination."""
