"""Records that cannot wait: a panic, or any record of a vehicle with a ramming or hijack open, is processed on
arrival even behind a gap in seq; what then arrives older is too late."""

from __future__ import annotations

from anomaly.engine import DetectionEngine
from anomaly.ordering import Admission
from telematics.validation import validate_record
from tests.anomaly.helpers import Track, alerts, reference

START = (52.47, 13.40)  # open road, away from sites and zones


def _records(panic_at_end: bool) -> list[dict]:
    track = Track("NF-101", "09:00:00", START).drive(0, 20, 30)
    if panic_at_end:
        track.drive(0, 2, 30, panic=True)
    else:
        track.drive(0, 2, 30)
    return track.records


def _feed_with_gap(records: list[dict]) -> tuple[DetectionEngine, list, dict]:
    """Every record but one from the middle (a seq gap), in order; returns the engine, each step, the missing one."""
    engine = DetectionEngine(reference())
    missing = records[10]
    steps = [engine.process(validate_record(r)) for r in records if r is not missing]
    return engine, steps, missing


def test_a_panic_behind_a_seq_gap_is_raised_on_arrival() -> None:
    engine, steps, missing = _feed_with_gap(_records(panic_at_end=True))
    assert [a.severity for a in alerts(steps[-2].outputs, "panic")] == ["critical"]
    assert engine.held_vehicles() == []
    late = engine.process(validate_record(missing))
    assert late.admission is Admission.TOO_LATE


def test_without_an_urgent_record_the_gap_holds_the_records_behind_it() -> None:
    engine, steps, missing = _feed_with_gap(_records(panic_at_end=False))
    assert all(not step.outputs for step in steps[10:])
    assert engine.held_vehicles() == ["NF-101"]
    assert engine.process(validate_record(missing)).admission is Admission.ACCEPTED
