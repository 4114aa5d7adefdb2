"""The CAN detect path shared by replay and the live consumer: raw CAN batch → validated frames → intrusion detector."""

from __future__ import annotations

import orjson

from anomaly.can_intrusion import CanIntrusionDetector, CanModel, CanVehicleState, can_alerts
from anomaly.can_intrusion.findings import CanFinding
from anomaly.engine import Output
from ingest.pipeline import FeedResult, PipelineCounts
from telematics.canlog.batch import batch_to_frames
from telematics.canlog.errors import InvalidFrame
from telematics.canlog.frame import Frame
from telematics.reference import ReferenceData
from telematics.wire import VEHICLE_ID_PATTERN

MAX_BATCH_BYTES = 1024 * 1024
STATE_KEY_PREFIX = "can:"
"""CAN state checkpoints share the detector-state topic; vehicle ids never contain ':'."""


class CanPipeline:
    """Feeds contract section-5 batches to the CAN intrusion detector, one state per vehicle."""

    state_key_prefix = STATE_KEY_PREFIX

    def __init__(self, model: CanModel, reference: ReferenceData) -> None:
        self.detector = CanIntrusionDetector(model)
        self.reference = reference
        self.counts = PipelineCounts()
        self.states: dict[str, CanVehicleState] = {}
        self.max_bus_t: float | None = None

    def feed(self, raw: bytes) -> FeedResult:
        self.counts.records += 1
        try:
            vehicle_id, frames = self._parse(raw)
        except InvalidFrame as exc:
            self.counts.rejected += 1
            return FeedResult([], rejection=str(exc))
        state = self.states.get(vehicle_id)
        if state is None:
            state = self.states[vehicle_id] = self.detector.new_state(vehicle_id)
        latest = None
        if frames:
            latest = max(f.timestamp for f in frames)
            self.max_bus_t = latest if self.max_bus_t is None else max(self.max_bus_t, latest)
        outputs = self._alerts(vehicle_id, self.detector.observe_batch(state, frames))
        return FeedResult(outputs, vehicle_id=vehicle_id, event_ms=None if latest is None else int(latest * 1000))

    def _parse(self, raw: bytes) -> tuple[str, list[Frame]]:
        if len(raw) > MAX_BATCH_BYTES:
            raise InvalidFrame(f"message: {len(raw)} bytes, expected at most {MAX_BATCH_BYTES} (1 MiB)")
        try:
            batch = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidFrame(f"message: not valid JSON ({exc})") from None
        vehicle_id = batch.get("vehicle_id") if isinstance(batch, dict) else None
        if not isinstance(vehicle_id, str) or not VEHICLE_ID_PATTERN.fullmatch(vehicle_id):
            raise InvalidFrame(f"vehicle_id: got {vehicle_id!r:.60}, expected 1-64 characters of A-Z a-z 0-9 . _ -")
        return vehicle_id, batch_to_frames(batch)

    def _alerts(self, vehicle_id: str, findings: list[CanFinding]) -> list[Output]:
        vehicle = self.reference.vehicles.get(vehicle_id)
        alerts: list[Output] = list(can_alerts(findings, vehicle.fleet_id if vehicle else None))
        return self.count_outputs(alerts)

    def count_outputs(self, outputs: list[Output]) -> list[Output]:
        for output in outputs:
            self.counts.alerts[output.kind] += 1  # type: ignore[union-attr]
        return outputs

    # -- time passing and end of input ---------------------------------------------------------------------
    def advance(self, lateness_ms: int, latest_ms: int | None = None) -> list[Output]:
        """Close the windows of vehicles whose bus has gone quiet, up to the latest bus time (or latest_ms, if
        earlier: the slowest partition's) less the lateness."""
        if self.max_bus_t is None:
            return []
        latest = self.max_bus_t if latest_ms is None else min(self.max_bus_t, latest_ms / 1000)
        until = latest - lateness_ms / 1000
        outputs: list[Output] = []
        for vehicle_id in sorted(self.states):
            outputs += self._alerts(vehicle_id, self.detector.advance(self.states[vehicle_id], until))
        return outputs

    def flush_vehicle(self, vehicle_id: str) -> list[Output]:
        return []  # windows close on a later frame or when time passes (advance), never on a wall-clock pause

    def finish(self) -> list[Output]:
        outputs: list[Output] = []
        for vehicle_id in sorted(self.states):
            outputs += self._alerts(vehicle_id, self.detector.flush(self.states[vehicle_id]))
        return outputs

    # -- state in and out, for the live loop's checkpoints ---------------------------------------------------
    def held_vehicles(self) -> list[str]:
        return []

    def snapshot(self, vehicle_id: str) -> bytes | None:
        state = self.states.get(vehicle_id)
        return None if state is None else self.detector.snapshot(state)

    def restore(self, vehicle_id: str, snapshot: bytes) -> None:
        self.states[vehicle_id] = self.detector.restore(snapshot)

    def forget(self, vehicle_id: str) -> None:
        self.states.pop(vehicle_id, None)
