"""The one detect path shared by replay and the live consumer: raw message → validated record → engine → outputs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from anomaly.engine import DetectionEngine, Output
from anomaly.ordering import Admission
from telematics.outputs import Alert
from telematics.parse import parse_telemetry
from telematics.reference import ReferenceData
from telematics.validation import InvalidRecord


class FeedResult:
    """What one raw message came to: its outputs, or why it was rejected (dead-letter it with this reason)."""

    __slots__ = ("duplicate", "event_ms", "outputs", "rejection", "vehicle_id")

    def __init__(
        self, outputs: list[Output], rejection: str | None = None, vehicle_id: str | None = None,
        duplicate: bool = False, event_ms: int | None = None,
    ) -> None:
        self.outputs = outputs
        self.rejection = rejection
        self.vehicle_id = vehicle_id
        self.duplicate = duplicate
        self.event_ms = event_ms
        """The event time (ms) the message carried, when it was accepted."""


@dataclass
class PipelineCounts:
    records: int = 0
    rejected: int = 0
    duplicates: int = 0
    too_late: int = 0
    alerts: Counter[str] = field(default_factory=Counter)
    stop_requests: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "records": self.records,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "too_late": self.too_late,
            "alerts_by_kind": dict(sorted(self.alerts.items())),
            "alerts": sum(self.alerts.values()),
            "stop_requests": self.stop_requests,
        }


class DetectPipeline:
    """Feeds raw telemetry messages to the engine, counting what happens to each."""

    state_key_prefix = ""
    """Telemetry state checkpoints are keyed by the bare vehicle id."""

    def __init__(self, engine: DetectionEngine) -> None:
        self.engine = engine
        self.counts = PipelineCounts()
        self.max_event_ms: int | None = None
        """The latest event time of any record accepted so far."""

    def feed(self, raw: bytes) -> FeedResult:
        self.counts.records += 1
        try:
            record = parse_telemetry(raw)
        except InvalidRecord as exc:
            self.counts.rejected += 1
            return FeedResult([], rejection=str(exc))
        step = self.engine.process(record)
        if step.admission is Admission.DUPLICATE:
            self.counts.duplicates += 1
            return FeedResult([], vehicle_id=record.vehicle_id, duplicate=True)
        if step.admission is Admission.TOO_LATE:
            self.counts.too_late += 1
            self.counts.rejected += 1
            return FeedResult([], rejection=step.reason, vehicle_id=record.vehicle_id)
        if self.max_event_ms is None or record.ts_ms > self.max_event_ms:
            self.max_event_ms = record.ts_ms
        self.count_outputs(step.outputs)
        return FeedResult(step.outputs, vehicle_id=record.vehicle_id, event_ms=record.ts_ms)

    def flush_vehicle(self, vehicle_id: str) -> list[Output]:
        return self.count_outputs(self.engine.flush_vehicle(vehicle_id))

    def flush_all(self) -> list[Output]:
        return self.count_outputs(self.engine.flush_all())

    def advance(self, lateness_ms: int, latest_ms: int | None = None) -> list[Output]:
        """Let event time pass: the watermark is the latest event time seen (or latest_ms, if earlier) less the
        allowed lateness. The live loop passes the latest event time of its slowest partition: one partition read
        ahead of the others (a backlog after an outage) must not make the vehicles of the others look silent."""
        if self.max_event_ms is None:
            return []
        latest = self.max_event_ms if latest_ms is None else min(self.max_event_ms, latest_ms)
        return self.count_outputs(self.engine.advance(latest - lateness_ms))

    def finish(self, lateness_ms: int) -> list[Output]:
        """End of input: release everything held, then let event time pass as far as the live path would.

        The watermark stops at the latest event time less the lateness, as it does live (where more records
        may always come), so replay and live raise the same alerts for the same records.
        """
        return self.flush_all() + self.advance(lateness_ms)

    def count_outputs(self, outputs: list[Output]) -> list[Output]:
        for output in outputs:
            if isinstance(output, Alert):
                self.counts.alerts[output.kind] += 1
            else:
                self.counts.stop_requests += 1
        return outputs

    # -- the engine's state, for the live loop's checkpoints and reloads ---------------------------------------
    @property
    def reference(self) -> ReferenceData:
        return self.engine.reference

    @reference.setter
    def reference(self, reference: ReferenceData) -> None:
        self.engine.reference = reference

    def held_vehicles(self) -> list[str]:
        return self.engine.held_vehicles()

    def snapshot(self, vehicle_id: str) -> bytes | None:
        return self.engine.snapshot(vehicle_id)

    def restore(self, vehicle_id: str, snapshot: bytes) -> None:
        self.engine.restore(vehicle_id, snapshot)

    def forget(self, vehicle_id: str) -> None:
        self.engine.forget(vehicle_id)
