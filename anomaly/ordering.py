"""Per-vehicle ordering: drops duplicates and puts late or out-of-order records back in event-time order.

A record is released to the detectors as soon as it is certainly next: its ``seq`` follows the last
released one, or the vehicle's own event time has moved past it by the allowed lateness. So a device that
sends ``seq`` in order is processed without delay, a gap holds the records behind it until the missing
one arrives or the lateness passes, and a record older than one already processed is too late.

A unit that buffered records through a coverage gap may send them newest first (Teltonika's "Sort by: Newest"
records setting): the newest arrives first, then each older one. Every one of those is already past the lateness,
so releasing them as they come would put the second in front of the third, and the third and all after it would be
too late. From the first record that arrives older than the one before (a backfill), nothing is released by the
lateness until the vehicle's newest event time has moved on by the lateness: the unit's live records may come in
between, and nothing tells a real unit's last buffered record from a lost one. Then the whole buffer goes out in
order (sooner where ``seq`` runs on without a gap).
"""

from __future__ import annotations

import enum
import heapq
import zlib
from typing import Final

import msgspec

from anomaly.vehicle_state import OrderingState
from telematics.records import TelemetryRecord

_PRUNE_EVERY: Final = 64
"""Every this many arrivals, a vehicle forgets the duplicate keys older than seq_memory_ms: the memory holds about
one window of keys plus this many (at 1 Hz, 120 + 64), so a day of 570 vehicles keeps some 60,000 keys, not 150,000.
"""


class Admission(enum.Enum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    TOO_LATE = "too_late"


def _duplicate_key(record: TelemetryRecord) -> int | str:
    if record.seq is not None:
        return record.seq
    return f"t{record.ts_ms}:{zlib.crc32(msgspec.json.encode(record)):x}"


def admit(state: OrderingState, record: TelemetryRecord, *, seq_memory_ms: int) -> Admission:
    """Decide whether a newly arrived record is new, a duplicate, or too late; accepted ones are held."""
    admission = arrive(state, record, seq_memory_ms=seq_memory_ms)
    if admission is Admission.ACCEPTED:
        hold(state, record)
    return admission


def arrive(state: OrderingState, record: TelemetryRecord, *, seq_memory_ms: int) -> Admission:
    """``admit`` but for holding the record: the duplicate and lateness checks and the arrival's bookkeeping. An
    accepted record is then held (``hold``), or, when it is next (``is_next``), released at once (``release_next``)."""
    key = _duplicate_key(record)
    if key in state.seen:
        return Admission.DUPLICATE
    if record.ts_ms < state.released_ts_ms:
        return Admission.TOO_LATE
    state.seen[key] = record.ts_ms
    state.arrivals += 1
    if record.ts_ms < state.last_arrival_ts_ms and state.backfill_since_ms < 0:
        state.backfill_since_ms = max(state.max_ts_ms, record.ts_ms)
    state.last_arrival_ts_ms = record.ts_ms
    if record.ts_ms > state.max_ts_ms:
        state.max_ts_ms = record.ts_ms
    if state.arrivals % _PRUNE_EVERY == 0:
        horizon = state.max_ts_ms - seq_memory_ms
        state.seen = {k: ts for k, ts in state.seen.items() if ts >= horizon}
    return Admission.ACCEPTED


def hold(state: OrderingState, record: TelemetryRecord) -> None:
    """Hold an arrived record until ``release_ready`` finds it certainly next."""
    held = (record.ts_ms, -1 if record.seq is None else record.seq, state.arrivals, record)
    if state.pending:
        heapq.heappush(state.pending, held)
    else:
        state.pending.append(held)  # nothing held: a one-item list is a heap


def is_next(state: OrderingState, record: TelemetryRecord) -> bool:
    """Nothing is held and the arrived record's seq follows the last released one: the usual record, which
    ``release_ready`` would release at once, whatever the lateness."""
    seq = record.seq
    return not state.pending and seq is not None and (state.last_seq is None or seq == state.last_seq + 1)


def release_next(state: OrderingState, record: TelemetryRecord, *, lateness_ms: int) -> TelemetryRecord:
    """Release an arrived record that ``is_next`` without holding it: what ``release_ready`` does for it alone."""
    if state.backfill_since_ms >= 0 and state.max_ts_ms - lateness_ms > state.backfill_since_ms:
        state.backfill_since_ms = -1
    return _mark_released(state, record)


def release_ready(state: OrderingState, *, lateness_ms: int, through_ts_ms: int = -1) -> list[TelemetryRecord]:
    """Pop every held record that is certainly next, in event-time order; with through_ts_ms, also every record up
    to that event time (an urgent record does not wait for the lateness: what arrives later and older is too late).
    """
    out: list[TelemetryRecord] = []
    pending = state.pending
    by_lateness = state.max_ts_ms - lateness_ms
    if state.backfill_since_ms >= 0:
        if not pending or by_lateness > state.backfill_since_ms:
            state.backfill_since_ms = -1
        else:
            by_lateness = -1
    watermark = max(by_lateness, through_ts_ms)
    while pending:
        ts_ms, _, _, record = pending[0]
        seq = record.seq
        follows = seq is not None and (state.last_seq is None or seq == state.last_seq + 1)
        if ts_ms > watermark and not follows:
            break
        if len(pending) == 1:
            pending.pop()
        else:
            heapq.heappop(pending)
        out.append(_mark_released(state, record))
    return out


def release_all(state: OrderingState) -> list[TelemetryRecord]:
    """Pop every held record in event-time order (end of input, or the vehicle has gone quiet)."""
    out = []
    while state.pending:
        out.append(_mark_released(state, heapq.heappop(state.pending)[3]))
    return out


def _mark_released(state: OrderingState, record: TelemetryRecord) -> TelemetryRecord:
    if record.ts_ms > state.released_ts_ms:
        state.released_ts_ms = record.ts_ms
    if record.seq is not None:
        state.last_seq = record.seq
    return record
