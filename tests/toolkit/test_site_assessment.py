"""Public-space survey parsing and risk rating: every point of the score has a stated reason."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from toolkit.errors import AnswerError
from toolkit.model import Content
from toolkit.site_assessment import SiteRiskResult, assess_site, impact_energy_kj, windows_overlap
from toolkit.site_survey import (
    BARRIER_KEYS,
    CROWD_KEYS,
    DELIVERY_KEYS,
    ROUTE_KEYS,
    SECTION_KEYS,
    SITE_KEYS,
    TimeWindow,
    survey_from_answers,
)

BARRIER = {"standard": "IWA 14-1 V/7500/48/90", "rated_mass_kg": 7500, "rated_speed_kmh": 48}


def survey(**changes: Any) -> dict[str, Any]:
    """A small square: one protected approach, a modest weekend crowd, morning deliveries."""
    answers: dict[str, Any] = {
        "site": {"site_id": "old-market-square", "name": "Old Market Square", "kind": "public_square",
                 "timezone": "Europe/Berlin",
                 "boundary": [[13.40, 52.52], [13.401, 52.52], [13.401, 52.521], [13.40, 52.521]]},
        "routes": [{"name": "Mill Street", "max_speed_kmh": 40, "approach_angle_deg": 30, "barrier": dict(BARRIER)}],
        "crowd_times": [{"days": ["sat", "sun"], "from": "10:00", "to": "18:00", "peak_people": 80}],
        "deliveries": {"categories": ["N1"], "windows": [{"from": "06:00", "to": "09:30"}], "max_speed_kmh": 10},
    }
    for key, value in changes.items():
        answers[key] = value
    return answers


def rate(answers: dict[str, Any]) -> SiteRiskResult:
    return assess_site(survey_from_answers(answers))


def test_a_protected_quiet_square_is_low_risk() -> None:
    result = rate(survey())
    assert (result.rating, result.score) == ("low", 1)
    assert result.reason_codes == ("all_routes_protected", "site_kind")
    assert [m.id for m in result.mitigations] == ["mit-publish-zone"]
    assert result.routes[0].protected


def test_the_score_is_the_sum_of_the_reasons(content: Content) -> None:
    for answers in (survey(), survey(routes=[{"name": "Ring", "max_speed_kmh": 64, "approach_angle_deg": 90}])):
        result = rate(answers)
        assert result.score == sum(r.points for r in result.reasons)
        assert all(r.text for r in result.reasons)


def test_an_open_fast_head_on_approach_to_a_busy_market_is_very_high() -> None:
    site = dict(survey()["site"], kind="market")
    routes = [
        {"name": "Ring Road", "max_speed_kmh": 64, "approach_angle_deg": 85},
        {"name": "Church Lane", "max_speed_kmh": 20, "approach_angle_deg": 20},
        {"name": "Mill Street", "max_speed_kmh": 40, "approach_angle_deg": 30, "barrier": dict(BARRIER)},
    ]
    crowd = [{"days": ["mon", "tue", "wed", "thu", "fri", "sat"], "from": "08:00", "to": "20:00", "peak_people": 6000}]
    result = rate(survey(site=site, routes=routes, crowd_times=crowd))
    # 4 (open, over 50 km/h) + 1 (head-on) + 1 (second open route) + 3 (6,000 people) + 2 (market) + 2 (deliveries)
    assert (result.rating, result.score) == ("very_high", 13)
    points = {r.code: r.points for r in result.reasons if r.params.get("route") in (None, "Ring Road")}
    assert points["unprotected_route"] == 4 and points["direct_approach"] == 1
    assert {"high_speed_approach", "several_unprotected_routes", "deliveries_during_crowds",
            "large_crowd"} <= set(result.reason_codes)
    assert {m.id for m in result.mitigations} >= {"mit-tested-barriers", "mit-reduce-approach-speed",
                                                  "mit-delivery-windows", "mit-traffic-management",
                                                  "mit-specialist-assessment", "mit-publish-zone"}
    assert [f.protected for f in result.routes] == [False, False, True]
    assert result.routes[0].points == 5


@pytest.mark.parametrize(
    ("barrier", "mass"),
    [({**BARRIER, "rated_speed_kmh": 32}, None), ({**BARRIER, "rated_mass_kg": 3500}, None), (BARRIER, 18000)],
)
def test_a_barrier_rated_below_the_route_counts_as_open(barrier: dict, mass: int | None) -> None:
    route = {"name": "Mill Street", "max_speed_kmh": 40, "approach_angle_deg": 30, "barrier": barrier}
    if mass:
        route["vehicle_mass_kg"] = mass
    result = rate(survey(routes=[route]))
    assert "underrated_barrier" in result.reason_codes
    assert not result.routes[0].protected
    assert "mit-tested-barriers" in [m.id for m in result.mitigations]
    assert result.rating == "medium"


def test_penetration_beyond_the_standoff_and_temporary_barriers_are_flagged() -> None:
    route = {"name": "Mill Street", "max_speed_kmh": 40, "approach_angle_deg": 30, "standoff_m": 2.0,
             "barrier": {**BARRIER, "penetration_m": 6.5, "temporary": True}}
    result = rate(survey(routes=[route]))
    reason = next(r for r in result.reasons if r.code == "penetration_exceeds_standoff")
    assert reason.points == 1 and "6.5 m" in reason.text and "2 m" in reason.text
    assert "temporary_barrier" in result.reason_codes
    assert {"mit-standoff", "mit-temporary-barriers"} <= {m.id for m in result.mitigations}


def test_a_route_no_vehicle_can_drive_adds_nothing() -> None:
    route = {"name": "Steps", "max_speed_kmh": 0, "approach_angle_deg": 90}
    result = rate(survey(routes=[route]))
    assert result.reason_codes == ("all_routes_protected", "site_kind")


def test_deliveries_overlapping_crowds_past_midnight_are_found() -> None:
    night = TimeWindow(("sat",), "22:00", "02:00")
    assert windows_overlap(TimeWindow(tuple(["sun"]), "01:00", "03:00"), night)
    assert not windows_overlap(TimeWindow(("sun",), "02:00", "03:00"), night)
    assert windows_overlap(TimeWindow(("mon",), "00:00", "00:30"), TimeWindow(("sun",), "23:00", "01:00"))
    result = rate(survey(crowd_times=[{"days": ["sat"], "from": "22:00", "to": "02:00", "peak_people": 50}],
                         deliveries={"categories": ["N1"], "windows": [{"from": "01:00", "to": "05:00"}]}))
    assert "deliveries_during_crowds" in result.reason_codes


def test_impact_energy_is_half_m_v_squared() -> None:
    assert impact_energy_kj(7500, 48) == pytest.approx(0.5 * 7500 * (48 / 3.6) ** 2 / 1000, abs=0.05)


def test_the_result_serialises_to_plain_data() -> None:
    data = rate(survey()).to_dict()
    assert data["rating"] == "low" and data["mitigations"][0]["guidance"] == ["psa-drive-01"]


def _broken(path: str, value: Any) -> dict[str, Any]:
    answers = copy.deepcopy(survey())
    *parents, last = path.split(".")
    node: Any = answers
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return answers


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("site.kind", "car_park", "site.kind"),
        ("site.timezone", "Mars/Olympus", "site.timezone"),
        ("site.site_id", "old market", "site.site_id"),
        ("site.boundary", [[13.4, 52.5], [13.5, 52.5]], "site.boundary"),
        ("site.boundary", [[13.4, 52.5], [200, 52.5], [13.5, 52.6]], "site.boundary[1]"),
        ("site.boundary", [[0, 0], [1, 1], [1, 0], [0, 1]], "site.boundary"),
        ("routes", [], "routes"),
        ("routes.0.max_speed_kmh", -5, "routes[0].max_speed_kmh"),
        ("routes.0.approach_angle_deg", 120, "routes[0].approach_angle_deg"),
        ("routes.0.barrier.rated_speed_kmh", "fast", "routes[0].barrier.rated_speed_kmh"),
        ("routes.0.colour", "red", "routes[0].colour"),
        ("crowd_times.0.from", "9am", "crowd_times[0].from"),
        ("crowd_times.0.to", "10:00", "crowd_times[0].to"),
        ("crowd_times.0.days", ["someday"], "crowd_times[0].days"),
        ("crowd_times.0.days", KeyError, "crowd_times[0].days"),
        ("crowd_times.0.peak_people", 12.5, "crowd_times[0].peak_people"),
        ("deliveries.categories", ["M1"], "deliveries.categories"),
        ("deliveries.windows", [], "deliveries.windows"),
    ],
)
def test_bad_survey_answers_name_the_field(path: str, value: Any, field: str) -> None:
    with pytest.raises(AnswerError) as caught:
        survey_from_answers(_broken(path, value))
    assert caught.value.field == field


def test_route_names_must_differ() -> None:
    route = {"name": "Mill Street", "max_speed_kmh": 10, "approach_angle_deg": 10}
    with pytest.raises(AnswerError, match=r"routes\.name: got 'Mill Street'"):
        survey_from_answers(survey(routes=[route, dict(route)]))


def test_the_form_definition_matches_what_the_parser_reads(content: Content) -> None:
    form = {section.id: section for section in content.public_space.form}
    assert set(form) == SECTION_KEYS
    assert {f.id for f in form["site"].fields} == SITE_KEYS
    assert {f.id for f in form["routes"].fields} == ROUTE_KEYS
    barrier = next(f for f in form["routes"].fields if f.id == "barrier")
    assert {f.id for f in barrier.fields} == BARRIER_KEYS
    assert {f.id for f in form["crowd_times"].fields} == CROWD_KEYS
    assert {f.id for f in form["deliveries"].fields} == DELIVERY_KEYS
    assert form["routes"].repeat and form["crowd_times"].repeat and not form["site"].repeat
