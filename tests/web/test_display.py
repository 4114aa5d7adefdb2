from __future__ import annotations

from web.display import (
    distance,
    duration,
    event_time,
    evidence_summary,
    kind_label,
    last_change,
    plain,
    recorded_time,
    speed,
    step_label,
    when,
)
from web.mapdata import _stacks


def test_kind_label() -> None:
    assert kind_label("route_deviation") == "Route deviation"
    assert kind_label("gnss_jamming") == "GNSS jamming"
    assert kind_label("can_intrusion") == "CAN intrusion"


def test_when_shows_utc_whatever_the_offset() -> None:
    assert when("2026-11-24T10:15:00.250+01:00") == "2026-11-24 09:15:00"
    assert when(None) == "—"
    assert when("not a time") == "not a time"


def test_evidence_summary_prefers_the_detectors_summary() -> None:
    assert evidence_summary({"speed_kmh": 40, "summary": "moving with the ignition off"}) == \
        "moving with the ignition off"
    assert evidence_summary({"speed_kmh": 40.0, "ignition": False, "cards": ["a", "b"], "at": None}) == \
        "speed kmh: 40; ignition: no; cards: a, b; at: —"
    long = evidence_summary({"summary": "x" * 500})
    assert len(long) == 140 and long.endswith("…")
    assert evidence_summary({}) == "—"


def test_plain_and_last_change() -> None:
    assert plain(12.5) == "12.5"
    assert plain({"a": 1}) == '{"a":1}'
    assert last_change([{"status": "refused", "at": "2026-11-24T09:18:00Z", "by": "police", "note": "wrong truck"}]) \
        == "refused by police at 2026-11-24 09:18:00: wrong truck"
    assert last_change([]) == "—"


def test_each_history_step_has_its_own_words() -> None:
    first = {"status": "requested", "at": "2026-11-24T09:17:00Z", "by": "officer1", "approval": 1}
    assert step_label(first) == "approved 1 of 2"
    assert step_label({"status": "requested", "at": "2026-11-24T09:16:00Z", "by": "detector"}) == "requested"
    assert step_label({"status": "authorized", "approval": 2}) == "authorized"
    assert last_change([first]) == "approved 1 of 2 by officer1 at 2026-11-24 09:17:00"


def test_event_time_is_shown_beside_the_recorded_time_only_where_they_differ() -> None:
    detector = {"status": "requested", "at": "2026-11-24T09:21:37Z", "by": "detector",
                "recorded_at": "2026-11-24T09:16:00.200Z"}
    assert recorded_time(detector) == "2026-11-24T09:16:00.200Z" and event_time(detector) == "2026-11-24T09:21:37Z"
    officer = {"status": "authorized", "at": "2026-11-24T09:18:00Z", "by": "p", "recorded_at": "2026-11-24T09:18:00Z"}
    assert event_time(officer) is None
    old = {"status": "sent", "at": "2026-11-24T09:19:00Z", "by": "d"}  # stored before entries were stamped
    assert recorded_time(old) == "2026-11-24T09:19:00Z" and event_time(old) is None


def test_units_on_speeds_distances_and_durations() -> None:
    assert speed(0.00390625) == "0 km/h" and speed(61.2) == "61 km/h" and speed(None) == "—"
    assert distance(275.2) == "275 m" and distance(2430) == "2.4 km"
    assert duration(16.2) == "16 s" and duration(200) == "3 min 20 s" and duration(3900) == "1 h 05 min"


def test_vehicles_parked_at_one_place_are_marked_as_a_stack() -> None:
    def at(vehicle_id: str, lon: float, lat: float) -> dict:
        return {"geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": {"vehicle_id": vehicle_id}}

    depot = [at("H1", 13.405, 52.5694), at("H2", 13.40501, 52.56941), at("H3", 13.405, 52.5694)]
    alone = at("R1", 13.447, 52.546)
    _stacks([*depot, alone])
    assert [(f["properties"]["stack_index"], f["properties"]["stack_size"]) for f in depot] == [(0, 3), (1, 3), (2, 3)]
    assert alone["properties"]["stack_size"] == 1
