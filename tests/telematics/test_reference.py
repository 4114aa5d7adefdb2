"""Reference data behaviour: operating hours, zone geometry, windows and permits, trip routes, look-ups."""

from __future__ import annotations

import calendar
from zoneinfo import ZoneInfo

import pytest

from telematics.geo import LocalFrame, bearing_deg, destination, haversine_m
from telematics.reference import Fleet, ReferenceData, Site, Trip, TripStop, Vehicle, Zone, ZoneAccess
from telematics.schedule import WeeklySchedule, parse_operating_hours, parse_windows
from tests.bundles import DEPOT, MARKET_CENTRE, square

BERLIN = ZoneInfo("Europe/Berlin")


def utc_ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return calendar.timegm((year, month, day, hour, minute, 0)) * 1000


def market(active: list[dict[str, object]] | None = None, windows: list[dict[str, object]] | None = None,
           categories: tuple[str, ...] = ("N1", "N2"), half_m: float = 120) -> Zone:
    return Zone(
        zone_id="market", name="Christmas market", kind="market", timezone=BERLIN,
        active=parse_windows(active, "active"),
        access=ZoneAccess(frozenset(categories), parse_windows(windows, "delivery_windows"), 10.0),
        ring=tuple((lon, lat) for lon, lat in square(MARKET_CENTRE, half_m)),
    )


def trip(route: list[tuple[float, float]], **fields: object) -> Trip:
    values: dict[str, object] = {
        "trip_id": "t1", "vehicle_id": "NF-101", "driver_card_id": "DE0000012345",
        "planned_start_ms": utc_ms(2026, 11, 24, 6), "planned_end_ms": utc_ms(2026, 11, 24, 14),
        "corridor_m": 500.0, "route": tuple(route), "stops": (),
    } | fields
    return Trip(**values)  # type: ignore[arg-type]


def offset(point: tuple[float, float], course_deg: float, metres: float) -> tuple[float, float]:
    return destination(point[0], point[1], course_deg, metres)


# --- fleets ------------------------------------------------------------------------------------------------------


def test_fleet_operating_hours_in_the_fleets_time_zone_across_dst() -> None:
    fleet = Fleet("nordfracht", "Nordfracht GmbH", "haulier", BERLIN,
                  parse_operating_hours({d: ["05:00", "21:00"] for d in ("mon", "sat", "sun")}, "hours"))
    # Sunday 2026-03-22 (CET, UTC+1) and Sunday 2026-03-29 (the change to CEST, UTC+2).
    assert not fleet.operating_at(utc_ms(2026, 3, 22, 3, 30))  # 04:30 local
    assert fleet.operating_at(utc_ms(2026, 3, 22, 4, 0))  # 05:00 local
    assert fleet.operating_at(utc_ms(2026, 3, 29, 3, 30))  # 05:30 local
    assert not fleet.operating_at(utc_ms(2026, 3, 29, 2, 59))  # 04:59 local
    assert fleet.operating_at(utc_ms(2026, 3, 29, 18, 59)) and not fleet.operating_at(utc_ms(2026, 3, 29, 19, 0))
    assert not fleet.operating_at(utc_ms(2026, 3, 24, 10))  # Tuesday: missing, no operation
    always = Fleet("stadtvan", "Stadtvan", "rental", BERLIN, WeeklySchedule(always=True))
    assert always.operating_at(utc_ms(2026, 3, 24, 2))


# --- zones -------------------------------------------------------------------------------------------------------


def test_zone_containment_and_distances() -> None:
    zone = market()
    assert zone.contains(*MARKET_CENTRE)
    for course in (0, 45, 90, 180, 270):
        assert zone.contains(*offset(MARKET_CENTRE, course, 100))
    assert not zone.contains(*offset(MARKET_CENTRE, 90, 130))
    assert zone.contains(*offset(MARKET_CENTRE, 45, 165)) and not zone.contains(*offset(MARKET_CENTRE, 45, 175))
    assert zone.distance_m(*MARKET_CENTRE) == 0.0
    assert zone.distance_m(*offset(MARKET_CENTRE, 90, 100)) == 0.0
    assert zone.distance_m(*offset(MARKET_CENTRE, 90, 620)) == pytest.approx(500, rel=0.005)
    assert zone.distance_m(*offset(MARKET_CENTRE, 0, 1120)) == pytest.approx(1000, rel=0.005)
    assert zone.distance_to_boundary_m(*MARKET_CENTRE) == pytest.approx(120, rel=0.005)
    assert zone.distance_to_boundary_m(*offset(MARKET_CENTRE, 180, 100)) == pytest.approx(20, abs=0.5)
    assert zone.distance_to_boundary_m(*offset(MARKET_CENTRE, 180, 150)) == pytest.approx(30, abs=0.5)
    assert zone.near(*offset(MARKET_CENTRE, 90, 500), margin_deg=0.01)
    assert not zone.near(*offset(MARKET_CENTRE, 90, 500))
    assert not zone.contains(-MARKET_CENTRE[0], MARKET_CENTRE[1])  # far away on the other hemisphere


def test_zone_contains_a_concave_outline_correctly() -> None:
    # An L: the notch (north-east quarter) is outside although it is inside the bounding box.
    lat, lon = MARKET_CENTRE
    d = 0.002
    ring = ((lon, lat), (lon + 2 * d, lat), (lon + 2 * d, lat + d), (lon + d, lat + d), (lon + d, lat + 2 * d),
            (lon, lat + 2 * d), (lon, lat))
    zone = Zone("l", "L", "public_square", BERLIN, WeeklySchedule(always=True),
                ZoneAccess(frozenset(), WeeklySchedule(always=True), None), ring)
    assert zone.contains(lat + 0.5 * d, lon + 1.5 * d)
    assert zone.contains(lat + 1.5 * d, lon + 0.5 * d)
    assert not zone.contains(lat + 1.5 * d, lon + 1.5 * d)
    assert zone.distance_m(lat + 1.5 * d, lon + 1.5 * d) == pytest.approx(0.5 * d * 111_195 * 0.609, rel=0.01)


def test_zone_active_windows_in_the_zones_time_zone() -> None:
    always = market()
    assert always.active_at(utc_ms(2026, 11, 24, 3))
    weekend = market(active=[{"days": ["sat", "sun"], "from": "10:00", "to": "20:00"}])
    assert weekend.active_at(utc_ms(2026, 3, 22, 9, 0))  # Sunday 10:00 CET
    assert not weekend.active_at(utc_ms(2026, 3, 22, 8, 59))
    assert weekend.active_at(utc_ms(2026, 3, 29, 8, 0))  # Sunday 10:00 CEST, the day clocks go forward
    assert not weekend.active_at(utc_ms(2026, 3, 29, 7, 59))
    assert weekend.active_at(utc_ms(2026, 3, 29, 17, 59)) and not weekend.active_at(utc_ms(2026, 3, 29, 18, 0))
    assert not weekend.active_at(utc_ms(2026, 3, 30, 9, 0))  # Monday
    evening = market(active=[{"days": ["fri"], "from": "18:00", "to": "02:00"}])
    assert evening.active_at(utc_ms(2026, 11, 27, 17, 0))  # Friday 18:00 CET
    assert evening.active_at(utc_ms(2026, 11, 28, 0, 59))  # Saturday 01:59 CET
    assert not evening.active_at(utc_ms(2026, 11, 28, 1, 0))


def test_permits_needs_an_allowed_category_inside_a_delivery_window() -> None:
    zone = market(windows=[{"from": "06:00", "to": "10:00"}])
    inside = utc_ms(2026, 11, 24, 6, 30)  # 07:30 CET
    outside = utc_ms(2026, 11, 24, 10, 30)  # 11:30 CET
    assert zone.permits("N1", inside) and zone.permits("N2", inside)
    assert not zone.permits("N3", inside)  # category not allowed
    assert not zone.permits(None, inside)  # category unknown: not allowed
    assert not zone.permits("N1", outside)  # outside the delivery windows
    # The windows are local: 06:00 is 05:00 UTC in winter and 04:00 UTC in summer.
    assert not zone.permits("N1", utc_ms(2026, 3, 28, 4, 30)) and zone.permits("N1", utc_ms(2026, 3, 30, 4, 30))
    assert zone.permits("N1", utc_ms(2026, 3, 29, 4, 0))  # 06:00 CEST on the day of the change
    assert not zone.permits("N1", utc_ms(2026, 3, 29, 3, 59))


def test_permits_without_delivery_windows_or_without_access() -> None:
    open_zone = market(windows=None)
    assert open_zone.permits("N1", utc_ms(2026, 11, 24, 3)) and not open_zone.permits("N3", utc_ms(2026, 11, 24, 3))
    closed = market(windows=[])
    assert not closed.permits("N1", utc_ms(2026, 11, 24, 8))
    nobody = market(categories=())
    assert not nobody.permits("N1", utc_ms(2026, 11, 24, 8))


# --- trips, sites, stops -----------------------------------------------------------------------------------------


def test_trip_covers_its_planned_time_with_slack() -> None:
    t = trip([(13.3, 52.5), (13.4, 52.5)])
    assert t.covers(utc_ms(2026, 11, 24, 6)) and t.covers(utc_ms(2026, 11, 24, 14))
    assert not t.covers(utc_ms(2026, 11, 24, 14) + 1)
    assert t.covers(utc_ms(2026, 11, 24, 14) + 60_000, slack_ms=60_000)
    assert not t.covers(utc_ms(2026, 11, 24, 6) - 60_001, slack_ms=60_000)


def test_distance_from_a_short_route() -> None:
    start = DEPOT
    corner = offset(start, 90, 2000)
    end = offset(corner, 0, 2000)
    t = trip([(start[1], start[0]), (corner[1], corner[0]), (end[1], end[0])])
    assert t.distance_from_route_m(*start) == pytest.approx(0, abs=0.01)
    assert t.distance_from_route_m(*offset(start, 90, 1000)) == pytest.approx(0, abs=0.5)
    assert t.distance_from_route_m(*offset(offset(start, 90, 1000), 180, 300)) == pytest.approx(300, rel=0.002)
    assert t.distance_from_route_m(*offset(offset(start, 90, 1000), 0, 300)) == pytest.approx(300, rel=0.002)
    # Beyond the corner, the nearest point of the route is the corner itself.
    beyond = offset(corner, 135, 400)
    assert t.distance_from_route_m(*beyond) == pytest.approx(400, rel=0.005)
    assert t.distance_from_route_m(*offset(start, 270, 250)) == pytest.approx(250, rel=0.002)  # before the start


def test_distance_from_a_two_point_route() -> None:
    t = trip([(13.0, 52.0), (13.0, 52.2)])
    assert t.distance_from_route_m(*offset((52.1, 13.0), 90, 700)) == pytest.approx(700, rel=0.002)


def test_distance_from_a_long_route_stays_accurate() -> None:
    # Berlin to Munich along a meridian, 500 km: one flat frame is some % off at the ends.
    route = [(13.0, 52.5 - i * 0.1) for i in range(45)]
    t = trip(route)
    for lat in (52.45, 51.0, 50.3, 49.0, 48.15):
        for metres in (100, 500, 3000):
            point = offset((lat, 13.0), 90, metres)
            assert t.distance_from_route_m(*point) == pytest.approx(metres, rel=0.005), (lat, metres)
    # The same across the equator, east-west.
    equator = trip([(10 + i * 0.5, 0.0) for i in range(20)])
    assert equator.distance_from_route_m(*offset((0.0, 14.2), 0, 800)) == pytest.approx(800, rel=0.005)


def test_trip_frame_is_centred_on_the_route() -> None:
    t = trip([(13.0, 52.5), (13.0, 48.1), (11.6, 48.1)])
    assert t.frame == LocalFrame(50.3, 12.3)


def test_stops_and_sites_are_circles() -> None:
    stop = TripStop(52.5, 13.4, 150.0, None, None)
    assert stop.contains(*offset((52.5, 13.4), 33, 149)) and not stop.contains(*offset((52.5, 13.4), 33, 151))
    t = trip([(13.3, 52.5), (13.5, 52.5)], stops=(stop, TripStop(52.5, 13.45, 100.0, None, None)))
    assert t.stop_at(52.5, 13.4) is stop and t.stop_at(52.5, 13.42) is None
    assert t.stop_at(52.5, 13.45) is t.stops[1]
    site = Site("nf-depot", "nordfracht", "depot", *DEPOT, 300.0)
    assert site.contains(*offset(DEPOT, 200, 299)) and not site.contains(*offset(DEPOT, 200, 301))


def test_reference_data_look_ups() -> None:
    fleet = Fleet("nordfracht", "Nordfracht", "haulier", BERLIN, WeeklySchedule(always=True))
    depot = Site("nf-depot", "nordfracht", "depot", *DEPOT, 300.0)
    later = trip([(13.3, 52.5), (13.4, 52.5)], trip_id="b", planned_start_ms=utc_ms(2026, 11, 24, 10),
                 planned_end_ms=utc_ms(2026, 11, 24, 12))
    earlier = trip([(13.3, 52.5), (13.4, 52.5)], trip_id="a", planned_start_ms=utc_ms(2026, 11, 24, 6),
                   planned_end_ms=utc_ms(2026, 11, 24, 11))
    data = ReferenceData(
        fleets={"nordfracht": fleet},
        vehicles={"NF-101": Vehicle("NF-101", "nordfracht", "N3", "B-NF 101", frozenset({"DE0000012345"}))},
        sites=[depot], trips=[later, earlier], zones=[market()],
    )
    assert data.fleet_of("NF-101") is fleet and data.fleet_of("unknown") is None
    assert data.site_at("nordfracht", *DEPOT) is depot and data.site_at("other", *DEPOT) is None
    assert data.trip_at("NF-101", utc_ms(2026, 11, 24, 10, 30)) is earlier  # the earlier start wins an overlap
    assert data.trip_at("NF-101", utc_ms(2026, 11, 24, 11, 30)) is later
    assert data.trip_at("NF-101", utc_ms(2026, 11, 24, 13)) is None
    assert data.trip_at("NF-102", utc_ms(2026, 11, 24, 10, 30)) is None
    assert [z.zone_id for z in data.zones_near(*MARKET_CENTRE, 0.0)] == ["market"]
    assert list(data.zones_near(*DEPOT, 0.01)) == []
    data.trips.append(trip([(13.3, 52.5), (13.4, 52.5)], trip_id="c", vehicle_id="NF-102"))
    data.reindex()
    assert data.trip_at("NF-102", utc_ms(2026, 11, 24, 10, 30)).trip_id == "c"  # type: ignore[union-attr]


def test_geo_helpers() -> None:
    assert haversine_m(52.5, 13.4, 52.5, 13.4) == 0
    assert haversine_m(0, 0, 0, 1) == pytest.approx(111_195, rel=1e-4)
    assert haversine_m(52.5, 13.4, *destination(52.5, 13.4, 77, 1234)) == pytest.approx(1234, rel=1e-3)
    assert bearing_deg(52.5, 13.4, 53.5, 13.4) == pytest.approx(0, abs=1e-9)
    assert bearing_deg(52.5, 13.4, 52.5, 13.5) == pytest.approx(90, abs=0.1)
    assert bearing_deg(52.5, 13.4, 52.4, 13.4) == pytest.approx(180, abs=1e-9)
    frame = LocalFrame(52.5, 13.4)
    assert frame.to_latlon(*frame.to_xy(52.51, 13.42)) == pytest.approx((52.51, 13.42))
