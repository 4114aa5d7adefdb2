"""Where the live loop's time goes: latency samples per stage, summarised as percentiles for the log and the bench."""

from __future__ import annotations

from collections import deque

STAGES = {
    "fetch_ms": "record produced (its Kafka CreateTime) to the detector's poll returning it: producer linger, "
    "broker append, consumer fetch wait, and any time the loop was busy elsewhere",
    "in_batch_ms": "poll returning the record to the detector handling it: records ahead of it in the same poll",
    "output_ack_ms": "an alert, stop request or dead letter sent to the broker acknowledging it",
    "checkpoint_slice_ms": "one slice of a checkpoint (state snapshots produced) holding up the loop",
    "commit_ms": "committing consumed offsets once everything they cover is acknowledged",
    "checkpoint_lag_ms": "a checkpoint started to its offsets committed (bounds the records redone after a crash)",
    "rebalance_pause_ms": "this member joining, or its partitions being revoked, to processing again with the "
    "partitions assigned to it and their vehicles' state restored",
}

SAMPLES_KEPT = 50_000
"""Per stage: enough for a stable p99 over a bench run at 20,000 records/s, small enough to keep (400 KB)."""


class LoopTimings:
    """The latest samples of each stage, in milliseconds."""

    def __init__(self) -> None:
        self.samples: dict[str, deque[float]] = {stage: deque(maxlen=SAMPLES_KEPT) for stage in STAGES}

    def add(self, stage: str, ms: float) -> None:
        self.samples[stage].append(ms)

    def summary(self) -> dict[str, dict[str, float]]:
        """p50, p99 and max of every stage with samples, rounded to 0.1 ms."""
        out: dict[str, dict[str, float]] = {}
        for stage, values in self.samples.items():
            if values:
                ordered = sorted(values)
                out[stage] = {
                    "n": len(ordered),
                    "p50": round(percentile(ordered, 0.5), 1),
                    "p99": round(percentile(ordered, 0.99), 1),
                    "max": round(ordered[-1], 1),
                }
        return out


def percentile(ordered: list[float], q: float) -> float:
    """The q-quantile of sorted values (nearest rank)."""
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
