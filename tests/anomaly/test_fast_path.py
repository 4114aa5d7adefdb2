"""The detectors' fast paths (``quiet``) change nothing: same outputs and same saved state as every detector looking.

Scenario bundles with every incident type and hard case are fed to two engines, one asking each detector
whether a record is quiet for it and one running every detector on every record, in the same arrival order
(late and duplicate records included). The outputs must be the same bytes at every step, and every vehicle's
saved state the same bytes at checkpoints.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from anomaly.behaviour.model import BehaviourModels
from anomaly.behaviour.store import load_models
from anomaly.behaviour.training import train_models
from anomaly.detectors import default_detectors
from anomaly.detectors.states import PanicState
from anomaly.engine import DetectionEngine
from anomaly.findings import Detector, Finding
from anomaly.observation import Observation
from can_sim.scenarios import INCIDENT_TYPES, generate_bundle
from ingest.pipeline import DetectPipeline
from telematics.bundle import TELEMETRY_FILE, iter_lines, load_reference
from telematics.outputs import encode

FIGURES = Path(__file__).resolve().parents[2] / "docs" / "evaluation.json"
CHECKPOINT_EVERY = 5_000


def _regression_suite(bundle: Path, seed: int) -> None:
    suite = json.loads(FIGURES.read_text())["regression"]["suite"]
    generate_bundle(
        bundle, seed=seed, vehicles=suite["vehicles"], days=suite["days"],
        start=datetime.fromisoformat(suite["start"]).astimezone(UTC), cities=list(suite["cities"]),
        incidents=list(suite["incidents"]),
    )


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("fast-path")
    _regression_suite(work / "regression", seed=7)
    generate_bundle(
        work / "mixed", seed=8, vehicles=14, days=0.5, start=datetime(2026, 12, 2, 18, tzinfo=UTC),
        incidents=len(INCIDENT_TYPES),
    )
    return {"regression": work / "regression", "mixed": work / "mixed"}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> BehaviourModels:
    work = tmp_path_factory.mktemp("fast-path-models")
    generate_bundle(
        work / "normal", seed=9, vehicles=12, days=1, start=datetime(2026, 11, 30, tzinfo=UTC), incidents=[],
    )
    train_models([work / "normal"], work / "models", progress=False, n_estimators=30)
    return load_models(work / "models")


def _compare(bundle: Path, models: BehaviourModels | None) -> int:
    reference = load_reference(bundle)
    asking = DetectPipeline(DetectionEngine(reference, models=models))
    reference_run = DetectPipeline(DetectionEngine(reference, models=models, fast_path=False))
    emitted = 0
    for number, line in iter_lines(bundle / TELEMETRY_FILE):
        fast, full = asking.feed(line), reference_run.feed(line)
        assert (fast.rejection, fast.duplicate) == (full.rejection, full.duplicate), f"line {number}"
        assert [encode(o) for o in fast.outputs] == [encode(o) for o in full.outputs], f"line {number}"
        emitted += len(full.outputs)
        if number % 500 == 0:
            assert [encode(o) for o in asking.advance(60_000)] == [encode(o) for o in reference_run.advance(60_000)]
        if number % CHECKPOINT_EVERY == 0:
            _same_state(asking, reference_run, number)
    assert [encode(o) for o in asking.finish(60_000)] == [encode(o) for o in reference_run.finish(60_000)]
    _same_state(asking, reference_run, "end")
    return emitted


def _same_state(asking: DetectPipeline, full: DetectPipeline, where: object) -> None:
    vehicles = full.engine.vehicle_ids()
    assert asking.engine.vehicle_ids() == vehicles
    for vehicle_id in vehicles:
        assert asking.snapshot(vehicle_id) == full.snapshot(vehicle_id), f"{vehicle_id} at {where}"


@pytest.mark.parametrize("name", ["regression", "mixed"])
def test_fast_path_equals_running_every_detector(bundles: dict[str, Path], name: str) -> None:
    emitted = _compare(bundles[name], models=None)
    assert emitted > 20  # the suites raise alerts of many kinds: the comparison is not of two empty streams


def test_fast_path_equals_running_every_detector_with_behaviour_models(
    bundles: dict[str, Path], models: BehaviourModels
) -> None:
    assert models.fleets, "the normal history trained no fleet model"
    assert _compare(bundles["mixed"], models=models) > 20


def test_every_default_detector_defines_its_own_fast_path() -> None:
    # A detector that inherited the base's answer would still be correct (it always looks), but slow; one that
    # forgot observe could not run at all.
    for detector in default_detectors():
        assert isinstance(detector, Detector)
        assert type(detector).quiet is not Detector.quiet, f"{type(detector).__name__} has no quiet() of its own"
        assert type(detector).observe is not Detector.observe, f"{type(detector).__name__} has no observe()"


seen: list[int] = []
"""The event times _EveryRecordPanic was shown."""


class _EveryRecordPanic(Detector):
    """A detector with no fast path of its own: the base class's ``quiet`` says every record concerns it."""

    name = "panic"
    state_type = PanicState

    def observe(self, obs: Observation, state: PanicState) -> list[Finding]:
        seen.append(obs.ts_ms)
        return []


def test_a_detector_without_a_fast_path_looks_at_every_record(bundles: dict[str, Path]) -> None:
    bundle = bundles["regression"]
    engine = DetectionEngine(load_reference(bundle), detectors=[_EveryRecordPanic()])
    pipeline = DetectPipeline(engine)
    seen.clear()
    accepted = 0
    for _, line in list(iter_lines(bundle / TELEMETRY_FILE))[:2_000]:
        result = pipeline.feed(line)
        accepted += result.rejection is None and not result.duplicate
    pipeline.flush_all()
    assert len(seen) == accepted > 1_000
