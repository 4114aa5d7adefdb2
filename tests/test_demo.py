"""`truckguard demo`'s pacing. The demo itself, run as a user runs it, is tested in test_demo_journey.py."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(("speed", "lead_s"), [(1.0, 0), (0.5, 0), (1.25, 240), (5.0, 480), (20.0, 480)])
def test_the_fleet_starts_in_the_past_by_at_most_what_it_can_catch_up(speed: float, lead_s: int) -> None:
    from datetime import UTC, datetime, timedelta

    from truckguard.demo import SEGMENT_S, segment_start
    from web.mapdata import STALE_AFTER

    now = datetime(2026, 12, 7, 1, 15, 12, 345678, tzinfo=UTC)
    start = segment_start(now, speed)
    assert start == (now - timedelta(seconds=lead_s)).replace(microsecond=0)
    assert lead_s <= SEGMENT_S * max(0.0, 1 - 1 / speed) + 1e-6  # no more than the speed-up gains over a segment
    assert now - start < STALE_AFTER  # no vehicle shows as out of touch while the fleet catches up


def test_the_hauliers_incident_truck_carries_the_zone_guard_and_the_hired_van_does_not(tmp_path) -> None:
    from datetime import UTC, datetime

    import orjson

    from can_sim.scenarios import demo_bundle
    from truckguard.demo import hauliers_trucks_at_risk

    demo_bundle(tmp_path, start=datetime(2026, 12, 7, 11, 50, tzinfo=UTC))
    incidents = orjson.loads((tmp_path / "labels.json").read_bytes())["incidents"]
    by_type = {i["type"]: i["vehicle_id"] for i in incidents}
    assert hauliers_trucks_at_risk(tmp_path) == [by_type["hijack_ramming"]]
    assert by_type["rental_ramming"] not in hauliers_trucks_at_risk(tmp_path)
