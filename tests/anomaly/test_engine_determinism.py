"""The engine contract: same order, same bytes; snapshot and restore mid-stream; late and duplicate records."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from anomaly.engine import DetectionEngine
from anomaly.vehicle_state import STATE_VERSION
from ingest.replay import replay_bundle
from telematics.validation import validate_record
from tests.anomaly.helpers import Track, alerts, as_bytes, reference, run
from tests.bundles import night_theft_into_market, write_bundle


def story() -> list[dict]:
    other = Track("NF-102", "02:00:00", (52.47, 13.40), driver_card_id=None).drive(0, 200, 50, every_s=2).records
    return night_theft_into_market() + other


def test_same_bundle_twice_gives_identical_bytes(tmp_path: Path):
    bundle = write_bundle(tmp_path / "b", story())
    outputs = []
    for name in ("one", "two"):
        replay_bundle(bundle, tmp_path / f"{name}.alerts", tmp_path / f"{name}.stops", progress=False)
        outputs.append(((tmp_path / f"{name}.alerts").read_bytes(), (tmp_path / f"{name}.stops").read_bytes()))
    assert outputs[0] == outputs[1] and outputs[0][0] and outputs[0][1]


def restarted_at(cut: int, raw: list[dict], saved: Callable[[bytes], bytes] = lambda snapshot: snapshot) -> list:
    """Outputs of one engine up to the cut, then of a new one restored from its snapshots (passed through saved)."""
    ref = reference()
    records = [validate_record(r) for r in raw]
    first = DetectionEngine(ref)
    out = []
    for record in records[:cut]:
        out.extend(first.process(record).outputs)
    second = DetectionEngine(ref)
    for vehicle_id in first.vehicle_ids():
        snapshot = first.snapshot(vehicle_id)
        assert snapshot is not None
        second.restore(vehicle_id, saved(snapshot))
    for record in records[cut:]:
        out.extend(second.process(record).outputs)
    out.extend(second.flush_all())
    return out


def test_snapshot_and_restore_mid_stream_gives_the_same_outputs():
    uninterrupted = run(reference(), story())
    for cut in (10, 40, 120):
        assert as_bytes(restarted_at(cut, story())) == as_bytes(uninterrupted), f"cut at {cut}"


def night_drive_without_card() -> list[dict]:
    """A truck driven at night by someone without a card: alerts, none of them urgent. (Once an urgent incident is
    open, records are processed as they arrive and an older one is too late: tests/anomaly/test_urgent_records.py.)
    """
    return Track("NF-102", "02:00:00", (52.47, 13.40), driver_card_id=None).drive(0, 200, 50, every_s=2).records


def test_late_and_duplicate_records_give_the_same_outputs_as_in_order():
    in_order = night_drive_without_card()
    shuffled = list(in_order)
    rng = random.Random(7)
    # Mobile networks: records a few seconds late, some sent twice.
    # (From the sixth record on: a vehicle's very first record is released at once, as nothing precedes it.)
    for i in range(5, len(shuffled) - 4, 5):
        j = i + rng.randrange(1, 4)
        shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
    shuffled += [dict(r) for r in in_order[20:25]]
    shuffled.insert(30, dict(in_order[29]))
    ref = reference()
    expected = run(ref, in_order)
    assert {a.kind for a in alerts(expected)} == {"unauthorized_driver", "off_hours_use"}
    assert as_bytes(run(ref, shuffled)) == as_bytes(expected)


@pytest.mark.parametrize("with_seq", [True, False])
def test_a_buffer_sent_newest_first_between_live_records_is_put_back_in_order(with_seq: bool):
    """Store-and-forward (Teltonika's "Sort by: Newest"): after a coverage gap the unit sends its buffer newest
    first while its live records go on; a real unit's seq does not run on from one record to the next."""
    in_order = [r if with_seq else {k: v for k, v in r.items() if k != "seq"} for r in night_drive_without_card()]
    assert len(in_order) >= 90
    buffered = in_order[20:80]
    arrival = [*in_order[:20], buffered[-1], *in_order[80:82], *buffered[-2::-1], *in_order[82:]]
    assert sorted(r["ts"] for r in arrival) == [r["ts"] for r in in_order]
    ref = reference()
    expected = run(ref, in_order)
    assert {a.kind for a in alerts(expected)} == {"unauthorized_driver", "off_hours_use"}
    engine = DetectionEngine(ref)
    results = [engine.process(validate_record(r)) for r in arrival]
    assert [r.admission.name for r in results if r.admission.name != "ACCEPTED"] == []
    outputs = [o for r in results for o in r.outputs] + engine.flush_all()
    assert as_bytes(outputs) == as_bytes(expected)


def test_a_vehicles_outputs_do_not_depend_on_other_vehicles():
    ref = reference()
    alone = run(ref, night_theft_into_market())
    mixed = [r for r in story()]
    mixed.sort(key=lambda r: (r["ts"], r["vehicle_id"]))
    together = [a for a in alerts(run(ref, mixed)) if a.vehicle_id == "NF-101"]
    assert as_bytes(together) == as_bytes(alerts(alone))


def shuffled_story() -> list[dict]:
    """The night drive with records a few seconds out of order, so the engine holds some back to reorder them."""
    records = night_drive_without_card()
    rng = random.Random(11)
    for i in range(5, len(records) - 4, 3):
        j = i + rng.randrange(1, 4)
        records[i], records[j] = records[j], records[i]
    return records


def _without_defaults(record: dict) -> dict:
    # How held records were saved before records became dataclasses: msgspec left out fields at their defaults.
    flags = ("gnss_fix", "driver_card_reported")
    return {k: v for k, v in record.items() if v is not None and not (k in flags and v is False)}


@pytest.mark.parametrize("older_format", [False, True])
def test_records_held_for_reordering_are_saved_and_restored(older_format: bool):
    raw = shuffled_story()
    uninterrupted = run(reference(), raw)
    held_at_cuts = 0

    def saved(snapshot: bytes) -> bytes:
        nonlocal held_at_cuts
        state = orjson.loads(snapshot)
        held = state["ordering"]["pending"]
        held_at_cuts += bool(held)
        if older_format:
            state["ordering"]["pending"] = [[*item[:3], _without_defaults(item[3])] for item in held]
        return orjson.dumps(state)

    for cut in range(20, len(raw), 17):
        assert as_bytes(restarted_at(cut, raw, saved)) == as_bytes(uninterrupted), f"cut at {cut}"
    assert held_at_cuts > 0  # the cuts did fall while records were held


def test_a_version_1_checkpoint_restores_and_continues_as_if_never_interrupted():
    # Version 1 had five motion fields nothing read, no version, and "s<seq>" duplicate keys: it still restores.
    raw = shuffled_story()
    uninterrupted = run(reference(), raw)

    def as_version_1(snapshot: bytes) -> bytes:
        state = orjson.loads(snapshot)
        assert state.pop("version") == STATE_VERSION
        state["motion"] |= {"last_ignition": True, "last_cargo_door_open": False, "last_trailer_connected": None,
                            "last_card": "DE0000012345", "card_known": True}
        state["ordering"]["seen"] = {f"s{key}": ts for key, ts in state["ordering"]["seen"].items()}
        return orjson.dumps(state)

    for cut in range(20, len(raw), 23):
        assert as_bytes(restarted_at(cut, raw, as_version_1)) == as_bytes(uninterrupted), f"cut at {cut}"
