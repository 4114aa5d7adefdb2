from __future__ import annotations

from web.display import evidence_summary, kind_label, last_change, plain, when


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
