"""Protected zones in contract form (section 6), checked with the platform's own zones.geojson parser."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from shapely.geometry import Polygon

from telematics.bundle import ReferenceDataError, parse_zones_document
from toolkit.errors import AnswerError
from toolkit.site_survey import survey_from_answers
from toolkit.zones import zone_feature, zones_feature_collection

CLOCKWISE = [[2.1700, 41.3800], [2.1710, 41.3800], [2.1710, 41.3790], [2.1700, 41.3790]]


def answers(**site: Any) -> dict[str, Any]:
    return {
        "site": {"site_id": "la-rambla", "name": "La Rambla", "kind": "pedestrian_precinct",
                 "timezone": "Europe/Madrid", "boundary": CLOCKWISE, **site},
        "routes": [{"name": "Plaça de Catalunya", "max_speed_kmh": 50, "approach_angle_deg": 80}],
        "crowd_times": [
            {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "23:00", "peak_people": 4000},
            {"days": ["fri", "sat"], "from": "23:00", "to": "02:00", "peak_people": 1500},
        ],
        "deliveries": {"categories": ["N2", "N1", "N1"], "windows": [{"from": "06:00", "to": "09:30"}]},
    }


def feature(**site: Any) -> dict[str, Any]:
    return zone_feature(survey_from_answers(answers(**site)))


def test_feature_has_exactly_the_contract_shape() -> None:
    f = feature()
    assert f["type"] == "Feature" and f["geometry"]["type"] == "Polygon"
    props = f["properties"]
    assert set(props) == {"zone_id", "name", "kind", "timezone", "active", "access"}
    assert (props["zone_id"], props["name"], props["kind"], props["timezone"]) == (
        "la-rambla", "La Rambla", "pedestrian_precinct", "Europe/Madrid")
    assert props["active"] == [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "23:00"},
        {"days": ["fri", "sat"], "from": "23:00", "to": "02:00"},
    ]
    assert props["access"] == {"categories_allowed": ["N1", "N2"],
                               "delivery_windows": [{"from": "06:00", "to": "09:30"}], "max_speed_kmh": 10}
    assert json.loads(json.dumps(f)) == f


def test_ring_is_closed_lon_lat_and_counter_clockwise() -> None:
    ring = feature()["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 5
    assert all(-180 <= lon <= 180 and -90 <= lat <= 90 for lon, lat in ring)
    assert all(2 < lon < 3 and 41 < lat < 42 for lon, lat in ring)  # [lon, lat], not [lat, lon]
    assert Polygon(ring).exterior.is_ccw
    assert sorted(map(tuple, ring[:-1])) == sorted(map(tuple, CLOCKWISE))


def test_an_already_closed_outline_is_accepted() -> None:
    ring = feature(boundary=[*CLOCKWISE, CLOCKWISE[0]])["geometry"]["coordinates"][0]
    assert len(ring) == 5


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_the_platform_parser_reads_the_zone_as_intended() -> None:
    zones = parse_zones_document(zones_feature_collection([feature()]))
    assert len(zones) == 1
    zone = zones[0]
    assert zone.zone_id == "la-rambla" and zone.kind == "pedestrian_precinct"
    assert zone.contains(41.3795, 2.1705)
    assert not zone.contains(41.3805, 2.1705)
    assert zone.access.categories_allowed == frozenset({"N1", "N2"})
    assert zone.access.max_speed_kmh == 10.0
    # Local times in Madrid (UTC+2 in summer): crowd windows, including the one past midnight.
    assert zone.active_at(_ms("2026-05-27T12:00:00+02:00"))  # Wednesday noon
    assert zone.active_at(_ms("2026-05-29T23:30:00+02:00"))  # Friday night
    assert zone.active_at(_ms("2026-05-31T01:30:00+02:00"))  # Saturday's window running into Sunday
    assert not zone.active_at(_ms("2026-05-31T12:00:00+02:00"))  # Sunday noon
    # A van may be inside during an active time only within a delivery window.
    assert zone.permits("N1", _ms("2026-05-27T09:15:00+02:00"))
    assert not zone.permits("N1", _ms("2026-05-27T12:00:00+02:00"))
    assert not zone.permits("N3", _ms("2026-05-27T09:15:00+02:00"))


def test_zone_id_and_speed_can_be_set() -> None:
    survey = survey_from_answers({**answers(), "deliveries": {"categories": [], "max_speed_kmh": 15}})
    f = zone_feature(survey, zone_id="bcn.rambla-01")
    assert f["properties"]["zone_id"] == "bcn.rambla-01"
    assert f["properties"]["access"] == {"categories_allowed": [], "delivery_windows": [], "max_speed_kmh": 15}
    assert parse_zones_document(zones_feature_collection([f]))[0].access.max_speed_kmh == 15.0
    with pytest.raises(AnswerError, match="zone_id"):
        zone_feature(survey, zone_id="no spaces")


def test_collection_of_several_zones_is_a_valid_zones_document() -> None:
    other = feature(site_id="rambla-north", boundary=[[2.17, 41.385], [2.171, 41.385], [2.171, 41.386]])
    document = zones_feature_collection([feature(), other])
    assert document["type"] == "FeatureCollection"
    assert [z.zone_id for z in parse_zones_document(document)] == ["la-rambla", "rambla-north"]


def test_collection_refuses_duplicates_and_non_zones() -> None:
    with pytest.raises(AnswerError, match=r"features\[1\].properties.zone_id"):
        zones_feature_collection([feature(), feature()])
    with pytest.raises(AnswerError, match=r"features\[0\]"):
        zones_feature_collection([{"type": "Feature", "geometry": {"type": "Point"}, "properties": {}}])


def test_the_platform_parser_rejects_what_we_must_not_produce() -> None:
    broken = feature()
    broken["geometry"]["coordinates"][0][1] = [41.38, 200.0]  # [lat, lon] swapped out of range
    with pytest.raises(ReferenceDataError):
        parse_zones_document(zones_feature_collection([broken]))
