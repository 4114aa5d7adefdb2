"""The detection engine: per-vehicle state, ordering, detectors, stop policy; records in, alerts and stop requests out.

The same engine runs under `truckguard replay` and the live Kafka detector. It reads only the records' own
timestamps, so the same records in the same per-vehicle order always give the same outputs, byte for byte.

Silence is the one thing a record cannot say about itself: ``advance(watermark_ms)`` tells the engine that
event time has passed ``watermark_ms`` for every vehicle it holds, so a moving vehicle that stopped reporting
is reported (``telematics_offline``) without waiting for its next record. The alert is built from the
vehicle's own last record and learned reporting rate only, and the vehicle's next record raises the very same
alert if no watermark did, so both paths give the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final, cast

import msgspec

from anomaly.config import EngineConfig
from anomaly.detectors import default_detectors
from anomaly.detectors.safety_systems import intent_off
from anomaly.findings import Detector, Finding, SilenceDetector
from anomaly.incidents import Change
from anomaly.kinematics import remember
from anomaly.observation import Observation, RouteHint, note_stop_visit
from anomaly.open_alerts import OpenAlert
from anomaly.ordering import Admission, arrive, hold, is_next, release_all, release_next, release_ready
from anomaly.saved_state import load, load_vehicle_state
from anomaly.spatial import MinuteRule, ReferenceIndex
from anomaly.stop_policy import decide
from anomaly.vehicle_state import VehicleState
from telematics.kinds import URGENT_KINDS
from telematics.outputs import Alert, HistoryEntry, StopRequest, deterministic_id
from telematics.records import TelemetryRecord
from telematics.reference import Fleet, ReferenceData, Vehicle
from telematics.timeutil import format_ms

if TYPE_CHECKING:
    from anomaly.behaviour.model import BehaviourModels

Output = Alert | StopRequest

URGENT_GRACE_MS: Final = 5_000
"""While a vehicle has a ramming, hijack or panic open, its records wait at most this long (event time) for the
ones before them: mobile networks deliver a few seconds out of order, and a record lost for good must not hold
the alerts of an attack for the whole lateness (60 s by default)."""


class StepResult:
    """What one record came to: admitted or not (and why not), and the outputs its admission released."""

    __slots__ = ("admission", "outputs", "reason")

    def __init__(self, admission: Admission, outputs: list[Output] | None = None, reason: str | None = None) -> None:
        self.admission = admission
        self.outputs: list[Output] = [] if outputs is None else outputs
        self.reason = reason


class DetectionEngine:
    """Holds every vehicle's state; ``process`` takes one record in arrival order and returns what it released."""

    def __init__(
        self,
        reference: ReferenceData,
        config: EngineConfig | None = None,
        detectors: Iterable[Detector] | None = None,
        models: BehaviourModels | None = None,
        *,
        fast_path: bool = True,
    ) -> None:
        """``fast_path=False`` runs every detector on every record, never asking ``quiet``: the reference the
        detectors' fast paths are tested against."""
        self.config = config or EngineConfig()
        self.reference = reference
        self.models = models
        self.detectors: list[Detector] = list(detectors) if detectors is not None else default_detectors()
        names = [d.name for d in self.detectors]
        if len(set(names)) != len(names):
            raise ValueError(f"detectors must have distinct names, got {names}")
        self._silence_detectors = [cast(SilenceDetector, d) for d in self.detectors if hasattr(d, "silence")]
        self._silence_floor_ms = min((d.silence_floor_ms for d in self._silence_detectors), default=0)
        self._fast_path = fast_path
        self._states: dict[str, VehicleState] = {}
        self._detector_states: dict[str, list[Any]] = {}
        """Each vehicle's detector states in the detectors' order (its VehicleState.detectors' values)."""
        # A pure speed-up (outputs are the same with or without it), so it is not saved with the vehicle's state.
        self._route_hints: dict[str, list[RouteHint]] = {}

    @property
    def config(self) -> EngineConfig:
        return self._config

    @config.setter
    def config(self, config: EngineConfig) -> None:
        self._config = config
        # Read once here: every record needs them.
        self._lateness_ms = config.lateness_ms
        self._seq_memory_ms = config.seq_memory_ms

    @property
    def reference(self) -> ReferenceData:
        return self._reference

    @reference.setter
    def reference(self, reference: ReferenceData) -> None:
        """Swap the reference data (the live path reloads it); the look-up index is rebuilt with it."""
        self._reference = reference
        self.index = ReferenceIndex(reference)
        self._route_hints = {}
        self._vehicles: dict[str, tuple[Vehicle | None, Fleet | None, MinuteRule | None]] = {}

    # -- records in ---------------------------------------------------------------------------------------
    def process(self, record: TelemetryRecord) -> StepResult:
        state = self._state(record.vehicle_id)
        ordering = state.ordering
        admission = arrive(ordering, record, seq_memory_ms=self._seq_memory_ms)
        if admission is Admission.DUPLICATE:
            return StepResult(admission, reason=f"duplicate of an earlier record (seq {record.seq})")
        if admission is Admission.TOO_LATE:
            behind = (ordering.released_ts_ms - record.ts_ms) / 1000
            return StepResult(
                admission,
                reason=(
                    f"ts: {format_ms(record.ts_ms)} arrived {behind:g} s behind records of {record.vehicle_id} "
                    f"already processed; allowed lateness is {self.config.lateness_ms / 1000:g} s"
                ),
            )
        if is_next(ordering, record):
            # The usual record: nothing held and its seq follows the last one's, so it goes on at once.
            released = release_next(ordering, record, lateness_ms=self._lateness_ms)
            return StepResult(admission, self._detect(state, released))
        hold(ordering, record)
        outputs: list[Output] = []
        # Held records wait for the lateness to pass, unless this one cannot wait (see _urgent_through).
        through = self._urgent_through(state, record) if ordering.pending else -1
        for released in release_ready(ordering, lateness_ms=self._lateness_ms, through_ts_ms=through):
            outputs.extend(self._detect(state, released))
        return StepResult(admission, outputs)

    def _urgent_through(self, state: VehicleState, record: TelemetryRecord) -> int:
        """How far (event time) held records are released now, whatever the lateness: a panic, or emergency
        braking or stability control switched off, is processed on arrival with everything held before it; while
        the vehicle has an urgent incident open (URGENT_KINDS: ramming, hijack and their follow-ups) its records
        wait URGENT_GRACE_MS at most, enough to put a few seconds' disorder back in order. A record that then
        arrives older is too late. The rule reads only the records as they arrived and the vehicle's own state,
        so replay and the live path decide alike. -1: nothing urgent."""
        if record.panic is True or intent_off(record.safety_systems):
            return record.ts_ms
        if any(alert.kind in URGENT_KINDS for alert in state.open_alerts.values()):
            return record.ts_ms - URGENT_GRACE_MS
        return -1

    def flush_vehicle(self, vehicle_id: str) -> list[Output]:
        """Release and process every record still held for a vehicle (it has gone quiet, or input ended)."""
        state = self._states.get(vehicle_id)
        if state is None:
            return []
        outputs: list[Output] = []
        for released in release_all(state.ordering):
            outputs.extend(self._detect(state, released))
        return outputs

    def flush_all(self) -> list[Output]:
        outputs: list[Output] = []
        for vehicle_id in sorted(self._states):
            outputs.extend(self.flush_vehicle(vehicle_id))
        return outputs

    def advance(self, watermark_ms: int) -> list[Output]:
        """Event time has reached watermark_ms for every vehicle here: report moving vehicles gone silent.

        The edges call this with a low watermark (no record older than it is still to come, e.g. the largest
        event time seen minus the allowed lateness). Vehicles with records still held for ordering are skipped:
        they are not silent, and releasing those records comes first.
        """
        outputs: list[Output] = []
        if not self._silence_detectors:
            return outputs
        for vehicle_id in sorted(self._states):
            state = self._states[vehicle_id]
            if state.ordering.pending:
                continue
            outputs.extend(self._silence(vehicle_id, state, watermark_ms))
        return outputs

    def held_vehicles(self) -> list[str]:
        """Vehicles with records waiting to be put in order."""
        return sorted(v for v, s in self._states.items() if s.ordering.pending)

    # -- state in and out ----------------------------------------------------------------------------------
    def snapshot(self, vehicle_id: str) -> bytes | None:
        state = self._states.get(vehicle_id)
        return None if state is None else msgspec.json.encode(state)

    def restore(self, vehicle_id: str, snapshot: bytes) -> None:
        state = load_vehicle_state(msgspec.json.decode(snapshot))
        saved = state.detectors
        # Every detector has its state from the start, in the detectors' order, as a new vehicle does (one saved
        # by an older version may lack some).
        state.detectors = {
            d.name: load(d.state_type, saved[d.name]) if d.name in saved else d.state_type() for d in self.detectors
        }
        self._states[vehicle_id] = state
        self._detector_states.pop(vehicle_id, None)

    def forget(self, vehicle_id: str) -> None:
        self._states.pop(vehicle_id, None)
        self._detector_states.pop(vehicle_id, None)
        self._route_hints.pop(vehicle_id, None)

    def vehicle_ids(self) -> list[str]:
        return sorted(self._states)

    # -- detection -----------------------------------------------------------------------------------------
    def _state(self, vehicle_id: str) -> VehicleState:
        state = self._states.get(vehicle_id)
        if state is None:
            state = self._states[vehicle_id] = VehicleState(
                detectors={detector.name: detector.state_type() for detector in self.detectors}
            )
        return state

    def _fleet_id(self, vehicle_id: str) -> str | None:
        vehicle = self._reference.vehicles.get(vehicle_id)
        return vehicle.fleet_id if vehicle else None

    def _vehicle(self, vehicle_id: str) -> tuple[Vehicle | None, Fleet | None, MinuteRule | None]:
        """The vehicle's reference entry, its fleet's and the fleet's operating hours (None when unknown), looked up
        once per reference data."""
        known = self._vehicles.get(vehicle_id)
        if known is None:
            reference = self._reference
            vehicle = reference.vehicles.get(vehicle_id)
            fleet = reference.fleets.get(vehicle.fleet_id) if vehicle is not None else None
            hours = self.index.fleet_hours(fleet) if fleet is not None else None
            known = self._vehicles[vehicle_id] = (vehicle, fleet, hours)
        return known

    def _silence(self, vehicle_id: str, state: VehicleState, until_ms: int) -> list[Output]:
        motion = state.motion
        last = motion.last_ts_ms
        # Silence detectors speak only of a moving vehicle silent for longer than their floor.
        if last is None or not motion.last_moving or until_ms - last <= self._silence_floor_ms:
            return []
        outputs: list[Output] = []
        fleet_id = self._fleet_id(vehicle_id)
        for detector in self._silence_detectors:
            detector_state = state.detectors[detector.name]
            for finding in detector.silence(motion, detector_state, until_ms):
                alert = self._apply(state, vehicle_id, fleet_id, until_ms, finding)
                if alert is not None:
                    outputs.append(alert)
        return outputs

    def _detect(self, state: VehicleState, record: TelemetryRecord) -> list[Output]:
        vehicle_id = record.vehicle_id
        # A silence this record ends is reported first, from the state before it, as advance() would have.
        outputs: list[Output] = self._silence(vehicle_id, state, record.ts_ms) if self._silence_detectors else []
        if record.has_position:
            state.last_lat, state.last_lon = record.lat, record.lon
        vehicle, fleet, fleet_hours = self._vehicle(vehicle_id)
        obs = Observation(
            record=record,
            reference=self._reference,
            config=self._config,
            vehicle=vehicle,
            fleet=fleet,
            last_lat=state.last_lat,
            last_lon=state.last_lon,
            open_alerts=state.open_alerts,
            index=self.index,
            motion_state=state.motion,
            models=self.models,
            route_hints=self._route_hints,
            fleet_hours=fleet_hours,
        )
        fleet_id = obs.fleet_id
        detector_states = self._detector_states.get(vehicle_id)
        if detector_states is None:
            # VehicleState.detectors is always built in the detectors' order (_state, restore).
            detector_states = self._detector_states[vehicle_id] = list(state.detectors.values())
        detectors = self.detectors
        count = len(detectors)
        # Every detector first says whether the record is quiet for it (doing a quiet record's bookkeeping), all
        # before any looks; once one reports something, every detector after it looks: fusion reads the incidents
        # opened on the same record.
        everyone = not self._fast_path
        looking: list[int] = []
        if not everyone:
            for position in range(count):
                if not detectors[position].quiet(obs, detector_states[position]):
                    looking.append(position)
        # Usually every detector was quiet: then none looks. (looking is in ascending order.)
        next_looking = 0
        for position in range(0 if everyone else looking[0] if looking else count, count):
            if not everyone:
                if next_looking < len(looking) and looking[next_looking] == position:
                    next_looking += 1
                else:
                    continue
            findings = detectors[position].observe(obs, detector_states[position])
            if findings:
                for finding in findings:
                    alert = self._apply(state, vehicle_id, fleet_id, record.ts_ms, finding)
                    if alert is not None:
                        outputs.append(alert)
                everyone = True
        note_stop_visit(obs)
        remember(state.motion, record, obs.motion, obs.speed_kmh, obs.moving)
        if state.open_alerts:
            request = self._stop_request(state, obs)
            if request is not None:
                outputs.append(request)
        return outputs

    def _apply(
        self, state: VehicleState, vehicle_id: str, fleet_id: str | None, ts_ms: int, finding: Finding
    ) -> Alert | None:
        key = f"{finding.kind}|{finding.zone_id or ''}"
        alert_id = deterministic_id("al", vehicle_id, finding.kind, finding.onset_ms, finding.zone_id)
        if finding.change is Change.CLOSED:
            state.open_alerts.pop(key, None)
            if alert_id in state.stop_triggers:
                state.stop_triggers.remove(alert_id)
            return None
        state.open_alerts[key] = OpenAlert(
            kind=finding.kind, alert_id=alert_id, severity=finding.severity,
            onset_ms=finding.onset_ms, zone_id=finding.zone_id,
        )
        return Alert(
            alert_id=alert_id,
            vehicle_id=vehicle_id,
            fleet_id=fleet_id,
            kind=finding.kind,
            severity=finding.severity,
            ts=format_ms(ts_ms if finding.at_ms is None else finding.at_ms),
            onset_ts=format_ms(finding.onset_ms),
            lat=state.last_lat,
            lon=state.last_lon,
            score=finding.score,
            zone_id=finding.zone_id,
            evidence=finding.evidence,
            revision=finding.revision,
        )

    def _stop_request(self, state: VehicleState, obs: Observation) -> StopRequest | None:
        decision = decide(obs, state.open_alerts, state.stop_triggers)
        if decision is None:
            return None
        state.stop_triggers.append(decision.trigger.alert_id)
        ts = format_ms(obs.ts_ms)
        return StopRequest(
            request_id=deterministic_id("sr", obs.record.vehicle_id, decision.trigger.alert_id),
            vehicle_id=obs.record.vehicle_id,
            fleet_id=obs.fleet_id,
            ts=ts,
            mode=decision.mode,
            target_speed_kmh=decision.target_speed_kmh,
            status="requested",
            alert_ids=decision.alert_ids,
            reason=decision.reason,
            zone_id=decision.zone_id,
            lat=state.last_lat,
            lon=state.last_lon,
            history=[HistoryEntry(status="requested", at=ts, by="detector")],
        )
