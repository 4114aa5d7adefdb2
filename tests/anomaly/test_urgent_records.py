"""Records that cannot wait: a panic is processed on arrival even behind a gap in seq, and the records of a vehicle
with a ramming or hijack open wait seconds, not the lateness; what then arrives older is too late."""

from __future__ import annotations

from anomaly.engine import DetectionEngine
from anomaly.ordering import Admission
from telematics.kinds import URGENT_KINDS
from telematics.validation import validate_record
from tests.anomaly.helpers import Track, alerts, as_bytes, reference, run
from tests.bundles import night_theft_into_market

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


def test_with_a_ramming_open_a_few_seconds_of_disorder_are_still_put_back_in_order() -> None:
    in_order = night_theft_into_market()
    first_urgent = min(a.ts for a in alerts(run(reference(), in_order)) if a.kind in URGENT_KINDS)
    shuffled = list(in_order)
    # After the ramming risk opens, pairs of records two seconds apart arrive swapped.
    for i in range(next(n for n, r in enumerate(in_order) if r["ts"] > first_urgent) + 2, len(shuffled) - 3, 6):
        shuffled[i], shuffled[i + 2] = shuffled[i + 2], shuffled[i]
    assert shuffled != in_order
    assert as_bytes(run(reference(), shuffled)) == as_bytes(run(reference(), in_order))
