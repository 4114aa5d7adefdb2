"""Learns a CanModel from reference captures of normal traffic: pure, frames in, model out."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from anomaly.can_intrusion.frames import as_triples
from anomaly.can_intrusion.model import (
    ADDRESS_CLAIM_PGN,
    CONTROL_PGNS,
    KIND_CLAIM,
    KIND_CONTROL,
    KIND_EVENT,
    KIND_PERIODIC,
    KIND_TRANSPORT,
    TP_CM_PGN,
    TP_DT_PGN,
    CanModel,
    CanModelError,
    IdProfile,
    TransportProfile,
    split_id,
)
from telematics.canlog import read_frames
from telematics.j1939 import J1939Database, default_database

FULL_WORD = (1 << 64) - 1
PERIODIC_SPREAD = 0.25
"""An id is periodic when its gaps stay within this fraction of their median (else it is event-driven)."""
IDENTITY_BITS = 21

Capture = Path | str | Sequence[Any]


class _IdStats:
    __slots__ = ("and_word", "counts", "dlc", "frames", "gaps", "last_t", "or_word")

    def __init__(self) -> None:
        self.frames = 0
        self.gaps: list[float] = []
        self.counts: Counter[int] = Counter()
        self.dlc: set[int] = set()
        self.and_word = FULL_WORD
        self.or_word = 0
        self.last_t: float | None = None


def _checkable_bits(pgn: int, dlc: int, database: J1939Database, and_word: int, or_word: int) -> int:
    """Bits of a payload it is safe to hold to their training value, whatever the vehicle does next.

    Measurements and multi-bit states can take values a capture never showed (another place, odometer,
    door), so they are left out; padding, protocol fields, signals always 'not available', and the high bit
    of two-bit states seen only as off/on are kept.
    """
    constant = ~(and_word ^ or_word) & ((1 << (8 * dlc)) - 1)
    spec = database.by_pgn.get(pgn)
    if spec is None:
        return 0
    allowed = ((1 << (8 * dlc)) - 1) & ~((1 << (8 * spec.length)) - 1)  # bytes beyond the message
    used = 0
    for signal in spec.signals:
        bits = signal.mask << signal.start
        used |= bits
        if signal.raw:
            allowed |= bits
            continue
        value_and = (and_word >> signal.start) & signal.mask
        value_or = (or_word >> signal.start) & signal.mask
        if value_and == signal.mask:  # always all ones: not available, a sensor this model does not have
            allowed |= bits
        elif signal.length == 2 and value_or <= 1:
            allowed |= 1 << (signal.start + 1)
    allowed |= ((1 << (8 * spec.length)) - 1) & ~used
    return constant & allowed


def _kind(pgn: int, gaps: list[float]) -> str:
    if pgn in (TP_CM_PGN, TP_DT_PGN):
        return KIND_TRANSPORT
    if pgn == ADDRESS_CLAIM_PGN:
        return KIND_CLAIM
    if pgn in CONTROL_PGNS:
        return KIND_CONTROL
    if len(gaps) < 2:
        return KIND_EVENT
    median = statistics.median(gaps)
    inside = sum(1 for gap in gaps if abs(gap - median) <= PERIODIC_SPREAD * median)
    return KIND_PERIODIC if inside >= 0.9 * len(gaps) else KIND_EVENT


def _load(capture: Capture) -> Sequence[tuple[float, int, bytes]]:
    if isinstance(capture, Path | str):
        return as_triples(list(read_frames(capture)))
    return as_triples(capture)


class _Tally:
    """What training has counted so far over its captures: per identifier, per sender and per window."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.ids: dict[int, _IdStats] = defaultdict(_IdStats)
        self.claim_names: dict[int, set[int]] = defaultdict(set)
        self.tp_senders: dict[int, set[int]] = defaultdict(set)
        self.window_totals: list[int] = []
        self.max_claims = self.max_rts_cts = self.max_sessions = 0
        self.frames = self.captures = 0

    def add_capture(self, frames: Sequence[tuple[float, int, bytes]]) -> None:
        """Count one capture on its own (gaps never span two captures)."""
        self.captures += 1
        self.frames += len(frames)
        per_window: Counter[int] = Counter()
        claims: Counter[int] = Counter()
        rts_cts: Counter[int] = Counter()
        sessions: Counter[int] = Counter()
        seen_in_capture: set[int] = set()
        for t, can_id, data in frames:
            window = int(t // self.window_s)
            per_window[window] += 1
            stats = self.ids[can_id]
            if can_id not in seen_in_capture:
                seen_in_capture.add(can_id)
                stats.last_t = None
            word = _note_frame(stats, t, window, data)
            pgn, sa = split_id(can_id)
            if pgn == ADDRESS_CLAIM_PGN and len(data) == 8:
                claims[window] += 1
                self.claim_names[sa].add(word >> IDENTITY_BITS)
            elif pgn == TP_CM_PGN and len(data) == 8:
                control = data[0]
                if control in (16, 32):
                    self.tp_senders[sa].add(data[5] | (data[6] << 8) | (data[7] << 16))
                    sessions[window] += 1
                if control in (16, 17):
                    rts_cts[window] += 1
        windows = sorted(per_window)
        # the first and last windows are cut short by the capture's ends; they say nothing about rates
        self.window_totals.extend(per_window[w] for w in windows[1:-1])
        self.max_claims = max(self.max_claims, *claims.values(), 0)
        self.max_rts_cts = max(self.max_rts_cts, *rts_cts.values(), 0)
        self.max_sessions = max(self.max_sessions, *sessions.values(), 0)


def _note_frame(stats: _IdStats, t: float, window: int, data: bytes) -> int:
    """Fold one frame into its identifier's statistics; returns its payload as a little-endian word."""
    stats.frames += 1
    stats.counts[window] += 1
    stats.dlc.add(len(data))
    word = int.from_bytes(data, "little")
    stats.and_word &= word
    stats.or_word |= word
    if stats.last_t is not None:
        stats.gaps.append(t - stats.last_t)
    stats.last_t = t
    return word


def _profiles(
    ids: dict[int, _IdStats], database: J1939Database
) -> tuple[dict[int, IdProfile], dict[int, set[int]], dict[int, set[int]]]:
    """Each identifier's learned profile, the senders seen per PGN, and the senders of the control PGNs."""
    profiles: dict[int, IdProfile] = {}
    pgn_sources: dict[int, set[int]] = defaultdict(set)
    senders: dict[int, set[int]] = {pgn: set() for pgn in CONTROL_PGNS}
    for can_id, stats in sorted(ids.items()):
        pgn, sa = split_id(can_id)
        pgn_sources[pgn].add(sa)
        if pgn in senders:
            senders[pgn].add(sa)
        kind = _kind(pgn, stats.gaps)
        dlc = sorted(stats.dlc)
        mask = 0
        if kind in (KIND_PERIODIC, KIND_EVENT, KIND_CONTROL) and len(dlc) == 1:
            mask = _checkable_bits(pgn, dlc[0], database, stats.and_word, stats.or_word)
        profiles[can_id] = IdProfile(
            can_id=can_id,
            pgn=pgn,
            sa=sa,
            kind=kind,
            frames=stats.frames,
            period_s=round(statistics.median(stats.gaps), 6) if len(stats.gaps) >= 2 else None,
            min_gap_s=round(min(stats.gaps), 6) if stats.gaps else None,
            max_per_window=max(stats.counts.values()),
            dlc=dlc,
            check_mask=mask,
            check_value=stats.and_word & mask,
        )
    return profiles, pgn_sources, senders


def train_can_model(
    captures: Iterable[Capture],
    *,
    window_s: float = 1.0,
    control_senders: Mapping[int, Iterable[int]] | None = None,
    database: J1939Database | None = None,
    notes: Mapping[str, str] | None = None,
) -> CanModel:
    """Learn normal traffic from captures of one vehicle model (log file paths or frame sequences).

    Each capture is read on its own (gaps never span two captures). Captures should cover the vehicle's
    normal life: parked with the key off, ignition on, driving, doors, a driver card; ``control_senders``
    adds the SAs allowed to send TSC1 (0) / XBR (1024) beyond those seen sending them.
    """
    if window_s <= 0:
        raise CanModelError(f"window_s: got {window_s!r}, expected seconds > 0")
    tally = _Tally(window_s)
    for capture in captures:
        frames = _load(capture)
        if frames:
            tally.add_capture(frames)
    if not tally.ids:
        raise CanModelError("captures: got no frames, expected at least one capture of normal traffic")
    profiles, pgn_sources, senders = _profiles(tally.ids, database or default_database())
    for pgn, extra in (control_senders or {}).items():
        senders.setdefault(pgn, set()).update(extra)
    totals = tally.window_totals
    return CanModel(
        window_s=window_s,
        ids=profiles,
        pgn_sources={pgn: sorted(sas) for pgn, sas in sorted(pgn_sources.items())},
        control_senders={pgn: sorted(sas) for pgn, sas in sorted(senders.items())},
        claim_names={sa: sorted(names) for sa, names in sorted(tally.claim_names.items())},
        max_claims_per_window=tally.max_claims,
        max_frames_per_window=max(totals, default=0),
        mean_frames_per_window=round(statistics.fmean(totals), 3) if totals else 0.0,
        transport=TransportProfile(
            senders={sa: sorted(pgns) for sa, pgns in sorted(tally.tp_senders.items())},
            max_rts_cts_per_window=tally.max_rts_cts,
            max_sessions_per_window=tally.max_sessions,
        ),
        captures=tally.captures,
        frames=tally.frames,
        windows=len(totals),
        notes=dict(notes or {}),
    )
