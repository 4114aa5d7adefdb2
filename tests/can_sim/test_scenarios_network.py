"""The synthetic city and the motion model: roads, zones, routing rules, speed limits, corners and stops."""

from __future__ import annotations

import itertools
import random

import pytest

from can_sim.scenarios.cities import CITIES, resolve_cities
from can_sim.scenarios.kinematics import DriveStyle, build_course, drive
from can_sim.scenarios.layout import CityMap, build_city, point_in_polygon
from can_sim.scenarios.network import Projection, RoadNetwork


@pytest.fixture(scope="module")
def city() -> CityMap:
    return build_city(CITIES["stockholm"], random.Random("test"), fleets=1)


def test_the_same_seed_builds_the_same_city() -> None:
    a = build_city(CITIES["nice"], random.Random(9), fleets=1)
    b = build_city(CITIES["nice"], random.Random(9), fleets=1)
    assert (a.network.xs, a.network.ys) == (b.network.xs, b.network.ys)
    assert [z.ring_xy for z in a.zones] == [z.ring_xy for z in b.zones]


def test_city_has_the_pieces_a_scenario_needs(city: CityMap) -> None:
    net = city.network
    roads = {e.road for e in net.edges}
    assert {"urban", "arterial", "motorway", "link", "access", "pedestrian"} <= roads
    limits = {e.road: e.limit_kmh for e in net.edges}
    assert 60 <= limits["arterial"] <= 70 and limits["motorway"] == 80 and limits["pedestrian"] <= 10
    assert len(city.tunnels) == 3 and all(net.edges[t].tunnel for t in city.tunnels)
    assert {z.kind for z in city.zones} == {"market", "pedestrian_precinct", "public_square", "transport_hub", "event"}
    lat, lon = net.projection.latlon(0.0, 0.0)
    assert (lat, lon) == (59.33, 18.06)


def test_customers_and_depots_are_outside_every_zone(city: CityMap) -> None:
    net = city.network
    for node in [c.node for c in city.customers] + city.depot_slots + city.station_slots:
        assert city.zone_at(net.xs[node], net.ys[node]) is None


def test_routes_never_cross_a_pedestrian_street_but_deliveries_may_enter_one(city: CityMap) -> None:
    net = city.network
    street = next(z for z in city.zones if z.shape == "street")
    x, y = street.entrances
    route = net.route(x, y)
    assert street.stop_node not in route and len(route) > 2  # around the block, not through the precinct
    delivery = net.route(city.customers[0].node, street.stop_node)  # type: ignore[arg-type]
    assert delivery[-1] == street.stop_node and delivery[-2] in street.entrances
    w2, w, _x = street.approach
    detour = net.route(city.customers[1].node, w2, frozenset({w}))
    assert w not in detour


def test_projection_round_trips() -> None:
    projection = Projection.around(51.51, -0.12)
    lat, lon = projection.latlon(1234.5, -678.9)
    x, y = projection.xy(lat, lon)
    assert abs(x - 1234.5) < 1e-6 and abs(y + 678.9) < 1e-6


def test_point_in_polygon() -> None:
    square = ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0), (0.0, 0.0))
    assert point_in_polygon(5, 5, square) and not point_in_polygon(11, 5, square)


def _straight_road(limit_kmh: float, light_at_middle: bool = False) -> tuple[RoadNetwork, list[int]]:
    net = RoadNetwork(Projection.around(52.5, 13.4))
    nodes = [net.add_node(0, 0), net.add_node(0, 500, light=light_at_middle), net.add_node(0, 1000),
             net.add_node(500, 1000)]
    for a, b in itertools.pairwise(nodes):
        net.add_edge(a, b, "urban", limit_kmh)
    return net, nodes


def test_a_vehicle_keeps_the_limit_slows_for_corners_and_stops_at_the_end() -> None:
    net, path = _straight_road(50)
    style = DriveStyle(speed_factor=1.0, accel_mps2=1.2, decel_mps2=1.5, red_light_p=0.0, jam_p=0.0)
    ticks = list(drive(build_course(net, path, style, random.Random(1)), 0.0, style))
    speeds = [v for _x, _y, v, _seg in ticks]
    assert max(speeds) <= 50 / 3.6 + 1e-9 and speeds[-1] == 0.0
    assert all(b - a <= 1.2 + 1e-9 for a, b in itertools.pairwise(speeds))
    assert all(b - a >= -3.0 for a, b in itertools.pairwise(speeds))
    corner = min(range(len(ticks)), key=lambda k: abs(ticks[k][0]) + abs(ticks[k][1] - 1000))
    assert speeds[corner] < 25 / 3.6  # a right-angle turn is taken slowly
    assert abs(ticks[-1][0] - 500) < 0.5 and abs(ticks[-1][1] - 1000) < 0.5


def test_a_red_light_stops_the_vehicle_for_a_while() -> None:
    net, path = _straight_road(50, light_at_middle=True)
    style = DriveStyle(speed_factor=1.0, red_light_p=1.0, jam_p=0.0)
    ticks = list(drive(build_course(net, path, style, random.Random(1)), 0.0, style))
    at_light = [t for t in ticks if abs(t[1] - 500) < 0.5 and t[2] == 0.0]
    assert 10 <= len(at_light) - 1 <= 60


def test_resolve_cities() -> None:
    assert [c.key for c in resolve_cities(None)] == ["berlin", "nice", "stockholm", "london", "barcelona"]
    assert [c.key for c in resolve_cities(["London", "berlin"])] == ["london", "berlin"]
