"""behaviour_anomaly: a fleet's learned model scores the vehicle's last window of driving far outside its normal."""

from __future__ import annotations

from dataclasses import dataclass, field

from anomaly.behaviour.features import FEATURES, MIN_RECORDS, WindowAccumulator, window_of
from anomaly.findings import Detector, Finding, track
from anomaly.incidents import Incident
from anomaly.observation import Observation
from telematics.timeutil import format_ms


@dataclass(slots=True)
class BehaviourState:
    window: WindowAccumulator = field(default_factory=WindowAccumulator)
    incident: Incident = field(default_factory=Incident)
    anomalous: bool = False
    strong_windows: int = 0
    last_score: float | None = None
    last_features: list[float] = field(default_factory=list)
    last_window_ms: int | None = None


class BehaviourAnomaly(Detector):
    """Scores each completed window; one anomalous window opens an info alert, strong ones in a row a warning."""

    name = "behaviour_anomaly"
    state_type = BehaviourState
    clear_ms = 12 * 60_000

    def quiet(self, obs: Observation, state: BehaviourState) -> bool:
        return obs.models is None

    def observe(self, obs: Observation, state: BehaviourState) -> list[Finding]:
        models = obs.models
        model = models.for_fleet(obs.fleet_id) if models is not None else None
        if model is None or obs.fleet is None:
            return []
        record = obs.record
        ts = obs.ts_ms
        acc = state.window
        window = window_of(ts)
        if acc.start_ms != window:
            if acc.start_ms is not None and acc.n >= MIN_RECORDS:
                row = acc.features(obs.fleet.timezone)
                score = model.score(row)
                state.last_score, state.last_features, state.last_window_ms = score, row, acc.start_ms
                state.anomalous = score < model.threshold
                state.strong_windows = state.strong_windows + 1 if score < model.strong_threshold else 0
            elif acc.start_ms is not None:
                state.anomalous = False
            acc.reset(window)
        acc.add(ts, obs.speed_kmh, obs.moving, record.heading_deg, obs.route_excess_m,
                obs.trip is not None, record.has_position)
        if state.last_score is not None:
            obs.extras["behaviour_score"] = state.last_score
        incident = state.incident
        if not state.anomalous and incident.onset_ms is None and not incident.is_open:
            return []
        score, strong = state.last_score or 0.0, state.strong_windows
        finding = track(
            self.name,
            incident,
            state.anomalous,
            ts,
            hold_ms=0,
            clear_ms=self.clear_ms,
            severity=lambda: "warning" if strong >= 2 else "info",
            score=lambda: min(1.0, max(0.0, -score)),
            evidence=lambda: {
                "model_score": round(score, 4),
                "anomalous_below": round(model.threshold, 4),
                "window_start": None if state.last_window_ms is None else format_ms(state.last_window_ms),
                "features": {n: round(v, 3) for n, v in zip(FEATURES, state.last_features, strict=True)},
                "summary": "driving unlike this fleet's normal trips (learned model)",
            },
        )
        return [finding] if finding else []
