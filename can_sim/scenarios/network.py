"""A road graph in local metres with speed limits, lights and tunnels, and fastest-route search over it."""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass, field

from telematics.errors import OperationFailed
from telematics.geo import EARTH_RADIUS_M

ROAD_CLASSES = ("urban", "arterial", "motorway", "link", "access", "pedestrian")
TURN_PENALTY_S = 8.0
UTURN_PENALTY_S = 60.0
LIGHT_PENALTY_S = 12.0
HEURISTIC_SPEED_MPS = 10.0
"""Below the fastest planned road speed, so A* leans on its estimate: routes within a few per cent of the
fastest, found several times quicker; plausible is what a synthetic city needs, not optimal."""
TURN_RAD = math.radians(30)
UTURN_RAD = math.radians(150)


class NoRouteError(OperationFailed):
    """Two nodes of a road network are not connected by any road a vehicle may use."""


@dataclass(slots=True)
class Edge:
    """A two-way road between two nodes; ``zone_id`` marks a road inside a protected zone (no through traffic)."""

    u: int
    v: int
    length_m: float
    road: str
    limit_kmh: float
    tunnel: bool = False
    zone_id: str | None = None
    near_zones: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Projection:
    """Local metres (x east, y north) around a city centre to WGS 84 degrees, and back."""

    lat0: float
    lon0: float
    m_per_deg_lat: float
    m_per_deg_lon: float

    @classmethod
    def around(cls, lat: float, lon: float) -> Projection:
        m_lat = math.radians(1) * EARTH_RADIUS_M
        return cls(lat, lon, m_lat, m_lat * math.cos(math.radians(lat)))

    def latlon(self, x: float, y: float) -> tuple[float, float]:
        return self.lat0 + y / self.m_per_deg_lat, self.lon0 + x / self.m_per_deg_lon

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.m_per_deg_lon, (lat - self.lat0) * self.m_per_deg_lat


@dataclass
class RoadNetwork:
    """Nodes (x, y in metres), two-way edges and per-node traffic lights; built once, then only read."""

    projection: Projection
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)
    lights: list[bool] = field(default_factory=list)
    grid: dict[tuple[int, int], int] = field(default_factory=dict)
    """Grid position (column, row) to node, for the nodes of the street grid and the ring."""
    grid_of: dict[int, tuple[int, int]] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    zone_nodes: set[int] = field(default_factory=set)
    """Nodes inside protected zones: a route may use a zone road only to reach or leave one of them."""
    adjacency: list[list[tuple[int, int]]] = field(default_factory=list)
    _routes: dict[tuple[int, int, frozenset[int]], tuple[int, ...]] = field(default_factory=dict, repr=False)

    def add_node(self, x: float, y: float, light: bool = False) -> int:
        self.xs.append(x)
        self.ys.append(y)
        self.lights.append(light)
        self.adjacency.append([])
        return len(self.xs) - 1

    def add_edge(self, u: int, v: int, road: str, limit_kmh: float, **flags: object) -> int:
        length = math.hypot(self.xs[v] - self.xs[u], self.ys[v] - self.ys[u])
        self.edges.append(Edge(u, v, length, road, limit_kmh, **flags))  # type: ignore[arg-type]
        eid = len(self.edges) - 1
        self.adjacency[u].append((v, eid))
        self.adjacency[v].append((u, eid))
        return eid

    def remove_edge(self, eid: int) -> None:
        edge = self.edges[eid]
        self.adjacency[edge.u] = [(n, e) for n, e in self.adjacency[edge.u] if e != eid]
        self.adjacency[edge.v] = [(n, e) for n, e in self.adjacency[edge.v] if e != eid]

    def split_edge(self, eid: int, fraction: float, light: bool = False) -> int:
        """Put a new node on an edge at a fraction of its length; the two halves keep the edge's attributes."""
        edge = self.edges[eid]
        x = self.xs[edge.u] + (self.xs[edge.v] - self.xs[edge.u]) * fraction
        y = self.ys[edge.u] + (self.ys[edge.v] - self.ys[edge.u]) * fraction
        node = self.add_node(x, y, light)
        self.remove_edge(eid)
        flags = {"tunnel": edge.tunnel, "zone_id": edge.zone_id}
        self.add_edge(edge.u, node, edge.road, edge.limit_kmh, **flags)
        self.add_edge(node, edge.v, edge.road, edge.limit_kmh, **flags)
        return node

    def edge_between(self, u: int, v: int) -> Edge:
        for n, eid in self.adjacency[u]:
            if n == v:
                return self.edges[eid]
        raise NoRouteError(f"nodes {u} and {v}: no road joins them")

    def set_grid(self, node: int, i: int, j: int) -> None:
        self.grid[(i, j)] = node
        self.grid_of[node] = (i, j)

    def distance_m(self, a: int, b: int) -> float:
        return math.hypot(self.xs[b] - self.xs[a], self.ys[b] - self.ys[a])

    def path_length_m(self, path: tuple[int, ...] | list[int]) -> float:
        return sum(self.distance_m(a, b) for a, b in itertools.pairwise(path))

    def route(self, source: int, target: int, avoid: frozenset[int] = frozenset()) -> tuple[int, ...]:
        """The fastest path (with turn and light penalties), never through zone roads nor the avoided nodes."""
        if source == target:
            return (source,)
        key = (source, target, avoid)
        cached = self._routes.get(key)
        if cached is None:
            cached = self._search(source, target, avoid)
            self._routes[key] = cached
        return cached

    def _search(self, source: int, target: int, avoid: frozenset[int]) -> tuple[int, ...]:
        xs, ys, edges, lights, zone_nodes = self.xs, self.ys, self.edges, self.lights, self.zone_nodes
        tx, ty = xs[target], ys[target]
        best: dict[tuple[int, int], float] = {(source, -1): 0.0}
        parent: dict[tuple[int, int], tuple[int, int]] = {}
        # Heap entries: (estimate, cost, node, previous node, heading into node in radians).
        heap: list[tuple[float, float, int, int, float]] = [(0.0, 0.0, source, -1, 0.0)]
        hypot, atan2, pi = math.hypot, math.atan2, math.pi
        while heap:
            _, cost, node, prev, heading_in = heapq.heappop(heap)
            if node == target:
                path = [node]
                state = (node, prev)
                while state in parent:
                    state = parent[state]
                    path.append(state[0])
                return tuple(reversed(path))
            if cost > best.get((node, prev), math.inf):
                continue
            nx0, ny0 = xs[node], ys[node]
            for nxt, eid in self.adjacency[node]:
                if nxt == prev or (nxt in avoid and nxt != target):
                    continue
                edge = edges[eid]
                if edge.zone_id is not None and not (
                    (nxt == target and target in zone_nodes) or (node == source and source in zone_nodes)
                ):
                    continue
                step = edge.length_m / (edge.limit_kmh * (0.85 / 3.6))
                if lights[nxt]:
                    step += LIGHT_PENALTY_S
                heading_out = atan2(xs[nxt] - nx0, ys[nxt] - ny0)
                if prev >= 0:
                    turn = abs(heading_out - heading_in)
                    if turn > pi:
                        turn = 2 * pi - turn
                    if turn > UTURN_RAD:
                        step += UTURN_PENALTY_S
                    elif turn > TURN_RAD:
                        step += TURN_PENALTY_S
                new_cost = cost + step
                state = (nxt, node)
                if new_cost < best.get(state, math.inf):
                    best[state] = new_cost
                    parent[state] = (node, prev)
                    h = hypot(tx - xs[nxt], ty - ys[nxt]) / HEURISTIC_SPEED_MPS
                    heapq.heappush(heap, (new_cost + h, new_cost, nxt, node, heading_out))
        raise NoRouteError(f"no road from node {source} to node {target} (avoiding {len(avoid)} nodes)")


def turn_angle_deg(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> float:
    """How far a path a→b→c turns at b, 0 (straight on) to 180 (U-turn)."""
    h1 = math.atan2(bx - ax, by - ay)
    h2 = math.atan2(cx - bx, cy - by)
    diff = abs(math.degrees(h2 - h1)) % 360.0
    return 360.0 - diff if diff > 180.0 else diff
