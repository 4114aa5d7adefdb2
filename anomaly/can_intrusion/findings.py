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
    """Thresholds; the defaults hold no false alarm on ten minutes of clean simulated traffic."""

    gap_factor: float = 0.6
    """A frame closer to the previous one of its id than this fraction of the learned shortest gap is extra."""
    dos_min_rate_hz: float = 200.0
    """A single id must send at least this often to be a flood..."""
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
    max_extra_ids: int = 8
    clear_s: float = 10.0
    """An incident closes after this long without a window showing its attack; a later one is a new alert."""
    escalate_windows: int = 3
    """Windows of a sustained attack after which a warning becomes critical."""
