"""The demo preset: six Berlin vehicles, twenty minutes, a truck driven into the Christmas market within minutes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from can_sim.scenarios import demo_bundle
from telematics.bundle import load_reference
from telematics.parse import parse_telemetry
from telematics.timeutil import parse_rfc3339_ms


@pytest.mark.parametrize(("start", "kind"), [
    (datetime(2026, 12, 4, 13, 7, tzinfo=UTC), "hijack_ramming"),  # Friday afternoon: trucks at work
    (datetime(2026, 12, 4, 2, 7, tzinfo=UTC), "night_theft"),  # the small hours: stolen from the depot
    # Monday 20:00 in Berlin: inside the haulier's hours (to 21:00), but every truck is back at the depot
    (datetime(2026, 12, 7, 19, 0, tzinfo=UTC), "night_theft"),
])
def test_demo_rams_the_christmas_market_within_minutes(tmp_path: Path, start: datetime, kind: str) -> None:
    summary = demo_bundle(tmp_path, start)
    ref = load_reference(tmp_path)
    assert len(ref.vehicles) == 6 and sorted(f.kind for f in ref.fleets.values()) == ["haulier", "rental"]
    records = [parse_telemetry(line) for line in (tmp_path / "telemetry.jsonl").read_bytes().splitlines()]
    assert summary.lines == len(records)
    assert min(r.ts_ms for r in records) >= start.timestamp() * 1000
    assert max(r.ts_ms for r in records) < start.timestamp() * 1000 + 20 * 60_000
    labels = json.loads((tmp_path / "labels.json").read_text())
    # The haulier's truck at the market, and a hired van for the rental desk (its own alert).
    assert sorted(i["type"] for i in labels["incidents"]) == sorted([kind, "rental_ramming"])
    incident = next(i for i in labels["incidents"] if i["type"] == kind)
    assert incident["zone_id"] == "ber-market-1"
    rental = next(i for i in labels["incidents"] if i["type"] == "rental_ramming")
    rental_fleets = {f.fleet_id for f in ref.fleets.values() if f.kind == "rental"}
    assert ref.vehicles[rental["vehicle_id"]].fleet_id in rental_fleets
    entry_s = (parse_rfc3339_ms(incident["zone_entry_ts"]) - start.timestamp() * 1000) / 1000
    assert 180 < entry_s < 15 * 60
    market = next(z for z in ref.zones if z.zone_id == "ber-market-1")
    assert market.kind == "market" and market.active.always


def test_demo_is_deterministic(tmp_path: Path) -> None:
    start = datetime(2026, 12, 4, 13, 7, tzinfo=UTC)
    demo_bundle(tmp_path / "a", start)
    demo_bundle(tmp_path / "b", start)
    for name in ("telemetry.jsonl", "labels.json", "fleet.json", "trips.geojson", "zones.geojson"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
