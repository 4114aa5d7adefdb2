"""Builds a plausible synthetic city: street grid, arterials, motorway ring, tunnels, depots, customers, zones."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from typing import Any

from shapely.geometry import LineString, Polygon

from can_sim.scenarios.cities import City
from can_sim.scenarios.network import Projection, RoadNetwork
from telematics.errors import OperationFailed
from telematics.schedule import local_weekday_minute, parse_windows, zone_info

GRID_HALF = 12
"""Street lines run from -GRID_HALF to +GRID_HALF in both directions."""
BLOCK_M = 350.0
RING_INDEX = GRID_HALF + 2
ZONE_AREA = 5
"""Zones lie in blocks within this many lines of the centre."""
NEAR_ZONE_M = 120.0
"""Passages closer than this to a zone are labelled (alongside_zone): the hard case for ramming prediction."""
ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class LayoutError(OperationFailed):
    """A city layout could not place something it needs (a zone, a depot); names what and where."""


@dataclass(frozen=True)
class ZoneSite:
    """A protected zone: its polygon in local metres, its contract properties and how an attacker would reach it."""

    zone_id: str
    name: str
    kind: str
    shape: str
    """"plaza" (beside a road, entered across the kerb) or "street" (a pedestrianised street)."""
    ring_xy: tuple[tuple[float, float], ...]
    properties: dict[str, Any]
    approach: tuple[int, ...]
    """Grid nodes of the straight run-up an attacker drives, ending where the run-in starts."""
    run_in: tuple[tuple[float, float], ...]
    """Off-network points from the last approach node into the zone, ending where a vehicle would be stopped."""
    entrances: tuple[int, ...] = ()
    stop_node: int | None = None
    """For a street zone: the node inside where deliveries stop."""

    @property
    def always_active(self) -> bool:
        return self.properties.get("active") is None

    def active_at(self, t: int) -> bool:
        """Whether the zone is active at epoch second t, by its local-time windows."""
        schedule = parse_windows(self.properties.get("active"), f"{self.zone_id}.active")
        return schedule.contains_local(*local_weekday_minute(t * 1000, zone_info(self.properties["timezone"])))

    def contains(self, x: float, y: float) -> bool:
        return point_in_polygon(x, y, self.ring_xy)


@dataclass(frozen=True)
class Place:
    """A node where vehicles stop: a depot, a rental station or a customer's yard."""

    node: int
    kind: str
    name: str


@dataclass
class CityMap:
    """Everything generated for one city: the network, zones, customers, free depot slots and tunnels."""

    city: City
    network: RoadNetwork
    zones: list[ZoneSite]
    customers: list[Place]
    depot_slots: list[int]
    station_slots: list[int]
    tunnels: list[int]

    def zone(self, zone_id: str) -> ZoneSite:
        for zone in self.zones:
            if zone.zone_id == zone_id:
                return zone
        raise LayoutError(f"zone_id: {zone_id!r} is not a zone of {self.city.key}")

    def zone_at(self, x: float, y: float) -> ZoneSite | None:
        return next((z for z in self.zones if z.contains(x, y)), None)


def point_in_polygon(x: float, y: float, ring: tuple[tuple[float, float], ...]) -> bool:
    """Even-odd rule on a closed ring (first point repeated last)."""
    inside = False
    for (x1, y1), (x2, y2) in itertools.pairwise(ring):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def distance_to_ring(x: float, y: float, ring: tuple[tuple[float, float], ...]) -> float:
    """Metres from a point to the nearest edge of a closed ring."""
    best = math.inf
    for (x1, y1), (x2, y2) in itertools.pairwise(ring):
        dx, dy = x2 - x1, y2 - y1
        length2 = dx * dx + dy * dy
        f = 0.0 if length2 == 0 else max(0.0, min(1.0, ((x - x1) * dx + (y - y1) * dy) / length2))
        best = min(best, math.hypot(x - x1 - f * dx, y - y1 - f * dy))
    return best


def build_city(city: City, rng: random.Random, fleets: int, always_active: tuple[str, ...] = ()) -> CityMap:
    """A whole synthetic city; the same city and random state always give the same map.

    Zones of the kinds in `always_active` get no activity windows (a demo that must work at any hour).
    """
    net = RoadNetwork(Projection.around(city.lat, city.lon))
    _grid(net, rng)
    ring_slots = _ring(net)
    tunnels = _tunnels(net, rng)
    used_blocks: set[tuple[int, int]] = set()
    zones = _zones(net, city, rng, used_blocks, always_active)
    blocked_edges = _edges_around(net, used_blocks)
    customers = _customers(net, rng, blocked_edges, city, count=60)
    station_slots = _station_slots(net, rng, blocked_edges, count=max(2, fleets))
    depot_slots = _depot_slots(net, rng, ring_slots)
    _mark_near_zones(net, zones)
    return CityMap(city, net, zones, customers, depot_slots, station_slots, tunnels)


def _grid(net: RoadNetwork, rng: random.Random) -> None:
    for i in range(-GRID_HALF, GRID_HALF + 1):
        for j in range(-GRID_HALF, GRID_HALF + 1):
            arterial = (i % 4 == 0) + (j % 4 == 0)
            light = arterial == 2 or (arterial == 1 and rng.random() < 0.5) or (arterial == 0 and rng.random() < 0.1)
            node = net.add_node(i * BLOCK_M + rng.uniform(-15, 15), j * BLOCK_M + rng.uniform(-15, 15), light)
            net.set_grid(node, i, j)
    for i in range(-GRID_HALF, GRID_HALF + 1):
        for j in range(-GRID_HALF, GRID_HALF + 1):
            here = net.grid[(i, j)]
            if i < GRID_HALF:
                _street(net, rng, here, net.grid[(i + 1, j)], line=j, mid=(i + 0.5, j))
            if j < GRID_HALF:
                _street(net, rng, here, net.grid[(i, j + 1)], line=i, mid=(i, j + 0.5))


def _street(net: RoadNetwork, rng: random.Random, u: int, v: int, line: int, mid: tuple[float, float]) -> None:
    if line % 4 == 0:
        net.add_edge(u, v, "arterial", 70.0 if abs(line) >= GRID_HALF else 60.0)
        return
    central = abs(mid[0]) <= 6 and abs(mid[1]) <= 6
    net.add_edge(u, v, "urban", 30.0 if central and rng.random() < 0.5 else 50.0)


def _ring(net: RoadNetwork) -> list[int]:
    """The motorway ring around the grid, joined to every arterial; returns the junction nodes (depot slots)."""
    r = RING_INDEX
    positions = [-r, *range(-GRID_HALF, GRID_HALF + 1, 4), r]
    corners = [(a, -r) for a in positions] + [(r, b) for b in positions[1:]]
    corners += [(a, r) for a in reversed(positions[:-1])] + [(-r, b) for b in reversed(positions[1:-1])]
    ring_nodes = []
    for i, j in corners:
        node = net.add_node(i * BLOCK_M, j * BLOCK_M)
        net.set_grid(node, i, j)
        ring_nodes.append(node)
    for a, b in zip(ring_nodes, [*ring_nodes[1:], ring_nodes[0]], strict=True):
        net.add_edge(a, b, "motorway", 80.0)
    junctions = []
    for node in ring_nodes:
        i, j = net.grid_of[node]
        inner = (max(-GRID_HALF, min(GRID_HALF, i)), max(-GRID_HALF, min(GRID_HALF, j)))
        if abs(i) == r and abs(j) == r:
            continue
        net.add_edge(net.grid[inner], node, "link", 60.0)
        net.lights[net.grid[inner]] = True
        junctions.append(node)
    return junctions


def _tunnels(net: RoadNetwork, rng: random.Random) -> list[int]:
    """Two underpasses on outer arterials (two blocks each) and one ring section in a tunnel."""
    out = []
    for vertical in (True, False):
        line = rng.choice((-8, 8))
        start = rng.randrange(-8, 7)
        a = net.grid[(line, start) if vertical else (start, line)]
        c = net.grid[(line, start + 2) if vertical else (start + 2, line)]
        out.append(net.add_edge(a, c, "arterial", 70.0, tunnel=True))
    ring_edges = [eid for eid, e in enumerate(net.edges) if e.road == "motorway" and e.length_m > 1000]
    eid = rng.choice(ring_edges)
    net.edges[eid].tunnel = True
    out.append(eid)
    return out


def _zones(net: RoadNetwork, city: City, rng: random.Random, used: set[tuple[int, int]],
           always_active: tuple[str, ...]) -> list[ZoneSite]:
    tz = city.timezone
    code = city.code.lower()
    always_open = {"categories_allowed": [], "max_speed_kmh": 10}
    plans = [
        ("market", city.market, "plaza",
         [{"days": ALL_DAYS, "from": "11:00", "to": "22:00"}],
         {"categories_allowed": ["N1"], "delivery_windows": [{"from": "07:00", "to": "10:30"}], "max_speed_kmh": 10}),
        ("pedestrian_precinct", city.precincts[0], "street", None,
         {"categories_allowed": ["N1", "N2"], "delivery_windows": [{"from": "05:00", "to": "11:00"}],
          "max_speed_kmh": 10}),
        ("pedestrian_precinct", city.precincts[1], "street", None,
         {"categories_allowed": ["N1", "N2"], "delivery_windows": [{"from": "06:00", "to": "10:00"}],
          "max_speed_kmh": 10}),
        ("public_square", city.square, "plaza", None, always_open),
        ("transport_hub", city.hub, "plaza", None, always_open),
        ("event", city.event, "plaza",
         [{"days": ["fri", "sat"], "from": "16:00", "to": "24:00"}, {"days": ["sun"], "from": "12:00", "to": "20:00"}],
         always_open),
    ]
    zones = []
    for n, (kind, name, shape, active, access) in enumerate(plans, start=1):
        props: dict[str, Any] = {"zone_id": f"{code}-{kind.replace('_', '-')}-{n}", "name": name, "kind": kind,
                                 "timezone": tz, "access": access}
        if active is not None and kind not in always_active:
            props["active"] = active
        for _attempt in range(200):
            zone = (_plaza if shape == "plaza" else _street_zone)(net, rng, used, props)
            if zone is not None:
                zones.append(zone)
                break
        else:
            raise LayoutError(f"{city.key}: no free block for zone {props['zone_id']!r}")
    return zones


def _unit(net: RoadNetwork, a: int, b: int) -> tuple[float, float, float]:
    dx, dy = net.xs[b] - net.xs[a], net.ys[b] - net.ys[a]
    length = math.hypot(dx, dy)
    return dx / length, dy / length, length


def _plaza(net: RoadNetwork, rng: random.Random, used: set[tuple[int, int]], props: dict[str, Any]) -> ZoneSite | None:
    bi, bj = rng.randrange(-ZONE_AREA, ZONE_AREA), rng.randrange(-ZONE_AREA, ZONE_AREA)
    if any((bi + di, bj + dj) in used for di in (-1, 0, 1) for dj in (-1, 0, 1)):
        return None
    sides = [((bi, bj), (bi + 1, bj), bj), ((bi + 1, bj + 1), (bi, bj + 1), bj + 1),
             ((bi, bj + 1), (bi, bj), bi), ((bi + 1, bj), (bi + 1, bj + 1), bi + 1)]
    arterial = [s for s in sides if s[2] % 4 == 0]
    ga, gb, _line = rng.choice(arterial or sides)
    if rng.random() < 0.5:
        ga, gb = gb, ga
    a, b = net.grid[ga], net.grid[gb]
    step = (ga[0] - gb[0], ga[1] - gb[1])
    w = net.grid.get((ga[0] + step[0], ga[1] + step[1]))
    w2 = net.grid.get((ga[0] + 2 * step[0], ga[1] + 2 * step[1]))
    if w is None or w2 is None:
        return None
    ux, uy, length = _unit(net, a, b)
    centre = ((bi + 0.5) * BLOCK_M, (bj + 0.5) * BLOCK_M)
    nx, ny = -uy, ux
    if (centre[0] - net.xs[a]) * nx + (centre[1] - net.ys[a]) * ny < 0:
        nx, ny = -nx, -ny
    gap, depth = rng.uniform(18, 25), rng.uniform(60, 120)
    lo, hi = rng.uniform(0.2, 0.3) * length, rng.uniform(0.7, 0.8) * length

    def at(along: float, across: float) -> tuple[float, float]:
        return net.xs[a] + ux * along + nx * across, net.ys[a] + uy * along + ny * across

    ring = (at(lo, gap), at(hi, gap), at(hi, gap + depth), at(lo, gap + depth), at(lo, gap))
    middle = (lo + hi) / 2
    run_in = (at(0.05 * length, 0.0), at(middle, gap + depth / 2), at(middle + 35.0, gap + depth * 0.6))
    used.add((bi, bj))
    return ZoneSite(props["zone_id"], props["name"], props["kind"], "plaza", ring, props, (w2, w, a), run_in)


def _street_zone(net: RoadNetwork, rng: random.Random, used: set[tuple[int, int]],
                 props: dict[str, Any]) -> ZoneSite | None:
    i, j = rng.randrange(-ZONE_AREA, ZONE_AREA), rng.randrange(-ZONE_AREA, ZONE_AREA + 1)
    horizontal = rng.random() < 0.5
    if j % 4 == 0:
        return None
    gx, gy = ((i, j), (i + 1, j)) if horizontal else ((j, i), (j, i + 1))
    blocks = [(gx[0], gx[1]), (gx[0], gx[1] - 1)] if horizontal else [(gx[0], gx[1]), (gx[0] - 1, gx[1])]
    if any((b[0] + di, b[1] + dj) in used for b in blocks for di in (-1, 0, 1) for dj in (-1, 0, 1)):
        return None
    if rng.random() < 0.5:
        gx, gy = gy, gx
    step = (gx[0] - gy[0], gx[1] - gy[1])
    w = net.grid.get((gx[0] + step[0], gx[1] + step[1]))
    w2 = net.grid.get((gx[0] + 2 * step[0], gx[1] + 2 * step[1]))
    if w is None or w2 is None:
        return None
    x, y = net.grid[gx], net.grid[gy]
    edge_id = next(eid for n, eid in net.adjacency[x] if n == y)
    edge = net.edges[edge_id]
    edge.road, edge.limit_kmh, edge.zone_id = "pedestrian", 8.0, props["zone_id"]
    net.lights[x] = net.lights[y] = False
    middle = net.split_edge(edge_id, 0.5)
    net.zone_nodes.add(middle)
    ux, uy, length = _unit(net, x, y)
    nx, ny = -uy, ux
    half = rng.uniform(12, 16)

    def at(along: float, across: float) -> tuple[float, float]:
        return net.xs[x] + ux * along + nx * across, net.ys[x] + uy * along + ny * across

    ring = (at(15, -half), at(length - 15, -half), at(length - 15, half), at(15, half), at(15, -half))
    run_in = (at(rng.uniform(0.45, 0.75) * length, 0.0),)
    used.update(blocks)
    return ZoneSite(props["zone_id"], props["name"], props["kind"], "street", ring, props, (w2, w, x), run_in,
                    entrances=(x, y), stop_node=middle)


def _mark_near_zones(net: RoadNetwork, zones: list[ZoneSite]) -> None:
    polygons = [(z.zone_id, Polygon(z.ring_xy)) for z in zones]
    for edge in net.edges:
        line = LineString([(net.xs[edge.u], net.ys[edge.u]), (net.xs[edge.v], net.ys[edge.v])])
        near = tuple(zid for zid, poly in polygons if zid != edge.zone_id and line.distance(poly) < NEAR_ZONE_M)
        edge.near_zones = near


def _edges_around(net: RoadNetwork, blocks: set[tuple[int, int]]) -> set[int]:
    nodes = {net.grid[(bi + di, bj + dj)] for bi, bj in blocks for di in (0, 1) for dj in (0, 1)}
    return {eid for eid, e in enumerate(net.edges) if e.u in nodes or e.v in nodes}


def _inner_streets(net: RoadNetwork, blocked: set[int]) -> list[int]:
    out = []
    for eid, edge in enumerate(net.edges):
        if eid in blocked or edge.tunnel or edge.zone_id or edge.road not in ("urban", "arterial"):
            continue
        if any(e == eid for _, e in net.adjacency[edge.u]):
            out.append(eid)
    return out


def _spur(net: RoadNetwork, rng: random.Random, eid: int) -> int:
    edge = net.edges[eid]
    ux, uy, _ = _unit(net, edge.u, edge.v)
    junction = net.split_edge(eid, rng.uniform(0.3, 0.7))
    side = rng.choice((-1.0, 1.0))
    length = rng.uniform(45, 80)
    yard = net.add_node(net.xs[junction] - uy * side * length, net.ys[junction] + ux * side * length)
    net.add_edge(junction, yard, "access", 20.0)
    return yard


def _customers(net: RoadNetwork, rng: random.Random, blocked: set[int], city: City, count: int) -> list[Place]:
    candidates = _inner_streets(net, blocked)
    chosen = rng.sample(candidates, count)
    out = []
    for n, eid in enumerate(chosen, start=1):
        edge = net.edges[eid]
        gi, gj = net.grid_of.get(edge.u, (0, 0))
        kind = "industrial" if max(abs(gi), abs(gj)) >= 7 else "retail"
        out.append(Place(_spur(net, rng, eid), kind, f"{city.code} customer {n:02d}"))
    return out


def _station_slots(net: RoadNetwork, rng: random.Random, blocked: set[int], count: int) -> list[int]:
    candidates = [eid for eid in _inner_streets(net, blocked)
                  if 4 <= max(abs(c) for c in net.grid_of.get(net.edges[eid].u, (0, 0))) <= 9]
    return [_spur(net, rng, eid) for eid in rng.sample(candidates, count)]


def _depot_slots(net: RoadNetwork, rng: random.Random, junctions: list[int]) -> list[int]:
    """Depots outside the ring, each on its own link road from a ring junction."""
    slots = []
    for node in rng.sample(junctions, len(junctions)):
        x, y = net.xs[node], net.ys[node]
        scale = (math.hypot(x, y) + 600.0) / math.hypot(x, y)
        depot = net.add_node(x * scale, y * scale)
        net.add_edge(node, depot, "link", 50.0)
        slots.append(depot)
    return slots
